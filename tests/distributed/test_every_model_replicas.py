"""Every registered model trains under two replicas (``every_model_replicas.py`` in a subprocess:
logical devices must be set before TensorFlow starts). A file of its own, so that the test
scheduler can place it beside the other distributed tests."""
import os
import sys

import numpy as np
import pytest

from tfrec_pkg.bench import child


@pytest.mark.slow
def test_every_registered_model_trains_under_two_replicas():
    """One epoch of each registered model under MirroredStrategy over two logical CPUs (the
    in-process form of multi-worker mirrored training), validation included: finite losses."""
    from tfrec_pkg.models import registry

    script = os.path.join(os.path.dirname(__file__), "every_model_replicas.py")
    results = child.run([sys.executable, script], timeout=900)
    assert sorted(results) == sorted(registry.names())
    failed = {name: r for name, r in results.items()
              if "error" in r or not (np.isfinite(r.get("loss", np.nan)) and np.isfinite(r.get("val_loss", np.nan)))}
    assert not failed, failed
