"""The optimizer a model trains with, from its config: ``make_optimizer(model)``.

``config.embedding_optimizer`` (a field of every model's config, :class:`tfrec_pkg.config.Config`):

* ``"adam"`` (default): one ``tf.keras.optimizers.Adam`` over every variable, as before the
  option existed. Adam's update is dense: even when an embedding table's gradient arrives as
  ``tf.IndexedSlices`` (a ``tf.gather`` lookup), each step decays the moments of every row and
  moves every row whose moment is non-zero, so a step costs O(table) -- at 1M-10M items the
  largest part of a sampled-softmax step.
* ``"lazy_adam"``: :class:`LazyAdam` for the embedding tables -- Adam whose moments and
  variable are updated on the batch's rows only (the tf.contrib / TF Addons LazyAdam) -- and
  Adam for the rest, through ``tfrs.experimental.optimizers.CompositeOptimizer``.
* ``"adagrad"``: the same with ``tf.keras.optimizers.legacy.Adagrad`` for the tables (its sparse
  update, ``ResourceSparseApplyAdagradV2``, touches the batch's rows only). Adagrad usually wants
  a larger step than Adam: ``config.embedding_learning_rate`` sets the tables' learning rate
  (None: the model's).

``config.optimizer`` (a field of the configs whose paper trains otherwise; Adam where absent):
``"adam"`` or ``"rmsprop"`` (``tf.keras.optimizers.RMSprop`` over every variable: IPRec, Sec. 5.2).
RMSProp cannot be combined with a split-off ``embedding_optimizer``.

The embedding tables are the variables of the model's ``tf.keras.layers.Embedding`` layers
(item, provider, user tables; also the small position tables, whose rows a batch mostly
touches anyway). Their gradient is sparse only where the table is read through a lookup: a full
softmax (u . E^T over the whole table) makes it dense, and then the sparse optimizers update
every row too (``lazy_adam`` is then plain Adam). The option is for sampled softmax and lookups.

``CompositeOptimizer`` is a legacy Keras optimizer (``tf.keras.optimizers.legacy``), so both
halves are legacy optimizers; Adam there computes what the default Adam computes.
"""
from __future__ import annotations

import tensorflow as tf
from tensorflow_recommenders.experimental.optimizers import CompositeOptimizer

__all__ = ["EMBEDDING_OPTIMIZERS", "OPTIMIZERS", "LazyAdam", "make_optimizer", "embedding_variables"]

EMBEDDING_OPTIMIZERS = ("adam", "lazy_adam", "adagrad")
OPTIMIZERS = {"adam": tf.keras.optimizers.Adam, "rmsprop": tf.keras.optimizers.RMSprop}


class LazyAdam(tf.keras.optimizers.legacy.Adam):
    """Adam that, for a sparse gradient (``tf.IndexedSlices``), updates m, v and the variable
    on the gradient's rows only; other rows keep their moments and values (their moments are
    not decayed, unlike Adam's). On those rows, with t the step count:

        m_r <- beta_1 m_r + (1 - beta_1) g_r        v_r <- beta_2 v_r + (1 - beta_2) g_r^2
        w_r <- w_r - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m_r / (sqrt(v_r) + epsilon)

    Duplicate rows in a batch are summed first (the legacy optimizer's
    ``_resource_apply_sparse_duplicate_indices``). Dense gradients take Adam's update."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="LazyAdam", **kwargs):
        if kwargs.get("amsgrad"):
            raise ValueError("LazyAdam has no amsgrad variant")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         name=name, **kwargs)

    def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
        device, dtype = var.device, var.dtype.base_dtype
        c = (apply_state or {}).get((device, dtype)) or self._fallback_apply_state(device, dtype)
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        m_rows = c["beta_1_t"] * tf.gather(m, indices) + c["one_minus_beta_1_t"] * grad
        v_rows = c["beta_2_t"] * tf.gather(v, indices) + c["one_minus_beta_2_t"] * tf.square(grad)
        step = c["lr"] * m_rows / (tf.sqrt(v_rows) + c["epsilon"])  # lr: Adam's bias-corrected rate
        # The scatter ops themselves, not OptimizerV2's _resource_scatter_*: those return the
        # variable's value, and a variable read after sparse access is copied whole -- three
        # table copies per step, O(table) again.
        return tf.group(tf.raw_ops.ResourceScatterUpdate(resource=m.handle, indices=indices, updates=m_rows),
                        tf.raw_ops.ResourceScatterUpdate(resource=v.handle, indices=indices, updates=v_rows),
                        tf.raw_ops.ResourceScatterSub(resource=var.handle, indices=indices, updates=step))


class EmbeddingCompositeOptimizer(CompositeOptimizer):
    """``CompositeOptimizer`` of (sparse optimizer, the embedding tables) and (Adam, the rest),
    which also keeps its parts at hand for :func:`build_slots` and :func:`set_learning_rate`."""

    def __init__(self, sparse, dense, tables, rest, name: str = "CompositeOptimizer"):
        super().__init__([(sparse, tables), (dense, rest)], name=name)
        self.sparse, self.dense = sparse, dense
        self.parts = ((sparse, tables), (dense, rest))


def embedding_variables(model) -> list:
    """The trainable variables of every ``tf.keras.layers.Embedding`` layer in ``model``
    (each once, in the model's variable order)."""
    tables = set()
    for layer in model.submodules:
        if isinstance(layer, tf.keras.layers.Embedding):
            tables.update(v.ref() for v in layer.trainable_variables)
    return [v for v in model.trainable_variables if v.ref() in tables]


def make_optimizer(model, learning_rate: float | None = None):
    """The optimizer ``model`` trains with: see the module docstring. ``learning_rate``
    defaults to the config's (1e-3 where it has none)."""
    config = model.config
    choice = getattr(config, "embedding_optimizer", "adam")
    if choice not in EMBEDDING_OPTIMIZERS:
        raise ValueError(f"embedding_optimizer must be one of {EMBEDDING_OPTIMIZERS}, got {choice!r}")
    learning_rate = learning_rate or getattr(config, "learning_rate", 1e-3)
    name = getattr(config, "optimizer", "adam")   # a config with the field validates it
    if choice == "adam":
        return OPTIMIZERS[name](learning_rate)
    if name != "adam":
        raise ValueError(f"embedding_optimizer={choice!r} pairs its tables' optimizer with Adam for the other "
                         f"variables; optimizer={name!r} cannot be combined with it (set embedding_optimizer='adam')")
    table_rate = getattr(config, "embedding_learning_rate", None) or learning_rate
    sparse = (LazyAdam(table_rate) if choice == "lazy_adam"
              else tf.keras.optimizers.legacy.Adagrad(table_rate, name="EmbeddingAdagrad"))

    def rest():
        tables = {v.ref() for v in embedding_variables(model)}
        return [v for v in model.trainable_variables if v.ref() not in tables]

    return EmbeddingCompositeOptimizer(sparse, tf.keras.optimizers.legacy.Adam(learning_rate),
                                       lambda: embedding_variables(model), rest)


def build_slots(optimizer, variables) -> None:
    """Create the optimizer's state (slots, step count) for ``variables`` now rather than on
    the first step, so that a checkpoint restores into it at once."""
    if isinstance(optimizer, EmbeddingCompositeOptimizer):
        for part, chosen in optimizer.parts:
            part._create_all_weights(chosen())
    elif isinstance(optimizer, tf.keras.optimizers.legacy.Optimizer):
        optimizer._create_all_weights(variables)
    else:
        optimizer.build(variables)


def set_learning_rate(model, learning_rate: float) -> None:
    """Set the learning rate of ``model``'s optimizer (a composite's Adam half; its tables' half
    to ``embedding_learning_rate`` when the config sets one, else the same)."""
    optimizer = model.optimizer
    if isinstance(optimizer, EmbeddingCompositeOptimizer):
        optimizer.dense.learning_rate = learning_rate
        optimizer.sparse.learning_rate = getattr(model.config, "embedding_learning_rate", None) or learning_rate
    else:
        optimizer.learning_rate = learning_rate
