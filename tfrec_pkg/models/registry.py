"""Model registry: name -> model class, config class, planted data, protocol, hooks.

Each model module registers itself at import time with :func:`register`;
``tfrec_pkg.models`` imports every module of the package and every module that an installed
distribution names under the entry-point group ``tfrec_pkg.models``, so ``tfrec demo``,
``tfrec claims``, ``tfrec bench`` and ``tools/export.py`` find a new model with no other edit.

Hooks that live above ``models/`` (claim checks, extra benchmarks) are named, not imported:
``"package.module:function"``, resolved by :meth:`Entry.hook` when they run.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

ENTRY_POINT_GROUP = "tfrec_pkg.models"


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    model_class: type
    config_class: type
    # (config, quick: bool, seed: int) -> SyntheticData for this model's planted task
    data: Callable
    protocol: str = "pointwise"
    description: str = ""
    # config changes for the planted data (e.g. a learning rate for a 100x smaller data set
    # than the paper's); the config class keeps the paper's defaults
    planted: dict = dataclasses.field(default_factory=dict)
    # "module:function" of the paper-claim checks, ``checks(quick, seed) -> list[Claim]``
    claims: str | None = None
    # minutes its full `tfrec claims` run took when last recorded in CLAIMS.md (a 2-core
    # machine): the estimate `tfrec claims` prints before it starts
    claims_minutes: float | None = None
    # "module:function" of extra benchmark numbers, ``(model, quick) -> dict``
    bench: str | None = None
    # run by `tfrec demo` (baselines that only serve claim checks stay out of it)
    in_demo: bool = True
    # seconds of its `tfrec demo` run (demo-size data, early stopping) measured on an idle
    # 2-core machine: the demo's printed time estimate
    demo_seconds: float = 60.0
    # the public raw formats of the model's paper that ``tfrec train --format NAME`` reads:
    # NAME -> (path, config, split: str | None, seed: int) -> (train, val, test) at the config's sizes
    raw_formats: dict = dataclasses.field(default_factory=dict)

    def planted_config(self):
        """The config used on this model's planted data (demo, claims, bench, export)."""
        return self.config_class().replace(**self.planted)

    def hook(self, kind: str) -> Callable | None:
        """The ``claims`` or ``bench`` function, imported now; None when the model has none."""
        target = getattr(self, kind)
        if target is None:
            return None
        module, _, function = target.partition(":")
        return getattr(importlib.import_module(module), function)


_REGISTRY: dict[str, Entry] = {}


def register(name: str, model_class: type, config_class: type, data: Callable, **options) -> Entry:
    """Register a model under ``name``; ``options`` are the other fields of :class:`Entry`."""
    if name in _REGISTRY and _REGISTRY[name].model_class is not model_class:
        raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name].model_class}")
    _REGISTRY[name] = Entry(name, model_class, config_class, data, **options)
    return _REGISTRY[name]


def entry(name: str) -> Entry:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered models: {names()}")
    return _REGISTRY[name]


def get(name: str) -> type:
    return entry(name).model_class


def names() -> list[str]:
    return sorted(_REGISTRY)


def name_of(model_class: type) -> str:
    for e in _REGISTRY.values():
        if e.model_class is model_class:
            return e.name
    raise KeyError(f"{model_class.__name__} is not registered")
