"""Config dataclasses: paper defaults, JSON round trip, clear errors on unknown keys.

One name per concept, in every model's config:

==================  ==========================================================================
``max_history``     length of the (left-aligned) behaviour history a model reads
``item_dim``        width of the item embeddings (next-item models: also the user vector u)
``category_dim``    width of the category embeddings; ``user_dim`` likewise for users
``hidden_dim``      width of a sequence encoder's state (SUM's memory slots, GRU4Rec's GRU)
``ffn_dim``         width of a Transformer's feed-forward layer
``num_layers``,     encoder depth, attention heads, SUM's channels (incl. the highway)
``num_heads``,
``num_channels``
``dropout``, ``l2`` regularisation
``learning_rate``,  the optimiser and the loop; ``epochs`` is an upper bound where training
``batch_size``,     stops early on the model's validation metric
``epochs``
==================  ==========================================================================

and in every model's config (fields of :class:`Config` itself): ``embedding_optimizer``,
``"adam"`` (one Adam over every variable, the default), ``"lazy_adam"`` or ``"adagrad"`` for
the embedding tables (a step updates only the rows in its batch) beside Adam for the rest
(:mod:`tfrec_pkg.models.optimizers`); ``embedding_learning_rate``, the tables' learning rate
under those two (None: ``learning_rate``); ``jit_compile``, XLA-compiled training, evaluation
and prediction steps, with the ids mapped to indices in the input pipeline; ``precision``,
``"float32"`` or ``"mixed_bfloat16"`` (Keras mixed precision: bfloat16 compute, float32
weights, for the models that support it; :class:`tfrec_pkg.models.recmodel.RecModel`).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any


@dataclasses.dataclass
class Config:
    """Base for model configs. Subclasses are dataclasses whose defaults are the paper's.

    The fields here are every model's and keyword-only (they follow the subclass's own fields
    in ``__init__``, so positional arguments keep their meaning); a saved config without them
    loads with the defaults, which are the behaviour from before they existed."""

    embedding_optimizer: str = dataclasses.field(default="adam", kw_only=True)
    embedding_learning_rate: float | None = dataclasses.field(default=None, kw_only=True)
    jit_compile: bool = dataclasses.field(default=False, kw_only=True)
    precision: str = dataclasses.field(default="float32", kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"{cls.__name__}: unknown config keys {unknown}; expected some of {sorted(known)}")
        kwargs = {}
        for name, value in values.items():
            default = known[name].default
            # JSON has no tuples; restore them where the default is a tuple.
            if isinstance(default, tuple) and isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def updated(self, values: dict[str, Any], source: str = "settings"):
        """This config with ``values`` (e.g. from a YAML file or ``--set key=value`` flags)
        on top, each converted to its field's type: an unknown key or a value of the wrong
        type raises one ``ValueError`` naming ``source``, the key and what was expected."""
        known = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown} for {type(self).__name__}; "
                             f"valid keys: {sorted(known)}")
        return self.replace(**{k: _typed(v, getattr(self, k), k, source) for k, v in values.items()})

    # --- checks for __post_init__ ------------------------------------------------------
    def check_positive_ints(self, *names: str) -> None:
        """ValueError naming the first of ``names`` that is not a positive integer."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def check_units(self, *names: str) -> None:
        """ValueError naming the first of ``names`` that is not a non-empty tuple of positive
        integers (layer widths)."""
        for name in names:
            units = getattr(self, name)
            if not units or any(isinstance(u, bool) or int(u) != u or u < 1 for u in units):
                raise ValueError(f"{name} must be positive integers, got {units!r}")


def _typed(value, current, key: str, source: str):
    """``value`` as the type of the field's current value (ints may become floats, a list a
    tuple); anything else is an error naming the key."""
    expected = type(current)
    if isinstance(current, bool):
        ok = isinstance(value, bool)
    elif isinstance(current, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(current, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(current, tuple):
        ok = isinstance(value, (list, tuple))
    elif current is None:
        return value
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ValueError(f"{source}: {key} = {value!r} is a {type(value).__name__}; expected a {expected.__name__} "
                         f"like the default {current!r}")
    return expected(value)


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    return value
