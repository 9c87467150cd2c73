"""Models: one paper per module, each registered by name.

    tfrec_pkg.models.get("base_model")   -> model class
    tfrec_pkg.models.names()             -> registered names
"""
from tfrec_pkg.models import registry
from tfrec_pkg.models.base import RecModel
from tfrec_pkg.models.baselines.base_model import BaseModel, BaseModelConfig
from tfrec_pkg.models.registry import entry, get, names


def _base_model_data(config, quick=False, seed=0):
    from tfrec_pkg.data.synthetic import ctr_with_history

    size = dict(num_users=600, impressions_per_user=40) if quick else dict(num_users=3000, impressions_per_user=60)
    return ctr_with_history(max_history=config.max_history, seed=seed, **size)


registry.register("base_model", BaseModel, BaseModelConfig, _base_model_data, protocol="pointwise",
                  description="MuSENet's BaseModel: embedding & MLP with DIN attention over the history")

__all__ = ["RecModel", "BaseModel", "BaseModelConfig", "get", "names", "entry", "registry"]
