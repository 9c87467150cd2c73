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
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any


@dataclasses.dataclass
class Config:
    """Base for model configs. Subclasses are dataclasses whose defaults are the paper's."""

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


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    return value
