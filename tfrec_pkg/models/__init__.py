"""Models: one paper per module, each registered by name.

    tfrec_pkg.models.get("base_model")   -> model class
    tfrec_pkg.models.names()             -> registered names
    from tfrec_pkg.models import SUM, SUMConfig

Importing this package imports every module in it (``models/*.py``, ``models/baselines/*.py``)
and the modules that installed distributions name under the entry-point group
``tfrec_pkg.models``; each model module calls ``registry.register(...)`` and lists its public
names in ``__all__``, which are re-exported here. Adding a model edits nothing in this file.

Where a new model goes, and what may import what: see ``tfrec_pkg/README.md``.
"""
import importlib
import importlib.metadata
import pkgutil

from tfrec_pkg.models import registry
from tfrec_pkg.models.persistence import load_trained, save_trained
from tfrec_pkg.models.recmodel import RecModel
from tfrec_pkg.models.registry import entry, get, names

__all__ = ["RecModel", "get", "names", "entry", "registry", "save_trained", "load_trained"]


def _export(module) -> None:
    for name in getattr(module, "__all__", ()):
        globals()[name] = getattr(module, name)
        __all__.append(name)


def _import_all() -> None:
    for info in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        _export(importlib.import_module(info.name))
    for point in importlib.metadata.entry_points(group=registry.ENTRY_POINT_GROUP):
        _export(importlib.import_module(point.module))


_import_all()
