"""tfrec_pkg: four recommendation papers (SUM, IPSRec, IPRec, MuSENet) and their baselines as
TensorFlow 2 / Keras (tf_keras + TFRS) models.

The library runs on the Keras 2 API (``tf_keras``) because tensorflow-recommenders 0.7
refuses Keras 3. ``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is first
imported; we set it here, and fail loudly if TensorFlow was already imported with Keras 3.
"""
import os
import sys

__version__ = "0.1.0"

_FIX = (
    "tfrec_pkg needs the Keras 2 API (tf_keras) but TensorFlow was already imported with "
    "Keras 3 as tf.keras. Set the environment variable TF_USE_LEGACY_KERAS=1 before "
    "TensorFlow is first imported (e.g. `import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'` "
    "in the first cell of the notebook, or `import tfrec_pkg` before `import tensorflow`), "
    "then restart the Python process."
)


def _ensure_legacy_keras() -> None:
    if "tensorflow" not in sys.modules:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        return
    # TensorFlow is already imported: tf.keras was fixed at that moment and cannot change.
    import tensorflow as tf

    if not tf.keras.layers.Dense.__module__.startswith("tf_keras"):
        raise ImportError(_FIX)


_ensure_legacy_keras()
