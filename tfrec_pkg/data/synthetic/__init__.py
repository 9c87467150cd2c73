"""Planted synthetic data sets with known best possible scores (one generator per paper)."""
from tfrec_pkg.data.synthetic.base import Split, SyntheticData  # noqa: F401
from tfrec_pkg.data.synthetic.ctr import ctr_with_history  # noqa: F401
from tfrec_pkg.data.synthetic.multi_interest import multi_interest  # noqa: F401
from tfrec_pkg.data.synthetic.packages import packages  # noqa: F401
from tfrec_pkg.data.synthetic.providers import providers  # noqa: F401
from tfrec_pkg.data.synthetic.scenarios import scenarios  # noqa: F401
from tfrec_pkg.data.synthetic.resource_limited import resource_limited  # noqa: F401
