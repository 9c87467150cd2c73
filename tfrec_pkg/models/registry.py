"""Model registry: name -> model class, config class, synthetic data builder, protocol.

Each model module registers itself at import time; ``tfrec_pkg.models`` imports them all.
"""
from __future__ import annotations

import dataclasses
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    model_class: type
    config_class: type
    # (config, quick: bool, seed: int) -> SyntheticData for this model's planted task
    data: Callable
    protocol: str = "pointwise"
    description: str = ""
    # optional (model, quick) -> dict of extra benchmark numbers for `tfrec bench NAME`
    bench: Callable | None = None
    # config changes for the planted data (e.g. a learning rate for a 100x smaller data set
    # than the paper's); the config class keeps the paper's defaults
    planted: dict = dataclasses.field(default_factory=dict)
    # run by `tfrec demo` (baselines that only serve claim checks stay out of it)
    in_demo: bool = True

    def planted_config(self):
        """The config used on this model's planted data (demo, claims, bench, export)."""
        return self.config_class().replace(**self.planted)


_REGISTRY: dict[str, Entry] = {}


def register(name: str, model_class: type, config_class: type, data: Callable,
             protocol: str = "pointwise", description: str = "", bench: Callable | None = None,
             planted: dict | None = None, in_demo: bool = True) -> None:
    if name in _REGISTRY and _REGISTRY[name].model_class is not model_class:
        raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name].model_class}")
    _REGISTRY[name] = Entry(name, model_class, config_class, data, protocol, description, bench, planted or {},
                             in_demo)


def entry(name: str) -> Entry:
    _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered models: {names()}")
    return _REGISTRY[name]


def get(name: str) -> type:
    return entry(name).model_class


def names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def name_of(model_class: type) -> str:
    _load_all()
    for e in _REGISTRY.values():
        if e.model_class is model_class:
            return e.name
    raise KeyError(f"{model_class.__name__} is not registered")


def _load_all():
    import tfrec_pkg.models  # noqa: F401  (imports every model module, which registers it)
