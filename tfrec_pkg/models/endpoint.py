"""Endpoint: one entry of a model's serving API, as data.

A model says *what* it serves -- ``RecModel.serving_endpoints()`` maps a signature name to the
Python function and its input specs -- and :mod:`tfrec_pkg.export.signatures` turns each into
a concrete ``tf.function`` for the SavedModel. ``defaults`` fill the inputs that are not raw
features (e.g. ``k`` and ``exclude_seen`` of top-k models) in sample and warm-up requests.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class Endpoint:
    # fn(*inputs) -> {output name: tensor}; inputs follow ``input_signature`` one to one
    fn: Callable
    # one entry per argument of ``fn``: a {name: tf.TensorSpec} dict (features) or a tf.TensorSpec
    input_signature: list
    # per-row value of each non-feature TensorSpec input, for sample requests
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
