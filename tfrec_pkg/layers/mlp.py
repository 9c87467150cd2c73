"""The hidden layers of an MLP tower (Dense + optional Dropout), as the rankers use them."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from tfrec_pkg.layers.dropout import Dropout


def dense_stack(units: Sequence[int], activation="relu", dropout: float = 0.0, l2: float = 0.0,
                name: str = "mlp") -> list[tf.keras.layers.Layer]:
    """Hidden layers of an MLP tower (Dense + optional Dropout)."""
    reg = tf.keras.regularizers.l2(l2) if l2 else None
    layers = []
    for i, u in enumerate(units):
        layers.append(tf.keras.layers.Dense(u, activation=activation, kernel_regularizer=reg,
                                            name=f"{name}_{i}"))
        if dropout:
            layers.append(Dropout(dropout, name=f"{name}_dropout_{i}"))
    return layers
