"""RecModel: the glue every tfrec_pkg model shares.

A model subclasses :class:`RecModel` and provides
* ``config_class`` (a :class:`tfrec_pkg.config.Config` dataclass with the paper's defaults),
* ``feature_spec`` — the list of :class:`FeatureSpec` it reads (drives tf.data and export),
* ``loss_names`` and ``loss_terms(features, training)`` — every loss term of the paper,
  each a per-example vector ``[B]`` or a batch scalar; the training loss is their sum and
  each is also tracked as a metric so ``fit`` shows it,
* ``call_indexed(features, training)`` — the scoring path on *index* features (vocabulary
  features already mapped to indices, 0 = padding, 1 = OOV).

``call(features)`` is the serving path on raw ids: it maps them inside the graph with the
model's vocabularies and calls ``call_indexed``, so the same code serves training batches,
Python inference and the exported signatures. ``serving_endpoints`` describes the serving
API; :mod:`tfrec_pkg.export` builds the SavedModel signatures and sample requests from it.

Compiled steps (``config.jit_compile``): XLA cannot compile the lookup tables that map raw
ids, so with it the ids are mapped in the input pipeline (``fit`` / ``evaluate`` / ``predict``
map their datasets with ``map_ids``) and the XLA-compiled steps read index features
(``map_ids`` passes them through while a step is traced). Serving is unchanged: the signatures
map raw ids in the graph and are not XLA-compiled.

Mixed precision (``config.precision="mixed_bfloat16"``, models with
``supports_mixed_bfloat16``): the model's layers are constructed under Keras' ``mixed_bfloat16``
policy (bfloat16 compute, float32 variables; losses are summed in float32); their serving
signatures still return float32 (pinned by the models' tests). Other models refuse the setting.

Distribution: each replica divides its loss rows' sum by the number of rows over all replicas
(:func:`global_rows`) and regularisation is scaled with ``tf.nn.scale_regularization_loss``, so
the summed gradients are those of the global batch under any ``tf.distribute.Strategy`` (build
and compile the model inside ``strategy.scope()``; :mod:`tfrec_pkg.distributed`).
"""
from __future__ import annotations

import contextlib
import functools

import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec_pkg.config import Config
from tfrec_pkg.data.pipelines import without_autotune
from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.features import FeatureSpec, signature
from tfrec_pkg.models.endpoint import Endpoint


def click_task() -> tfrs.tasks.Ranking:
    """The pointwise click task the CTR models share: binary cross-entropy on logits, per example
    (RecModel averages it), with the AUC tracked during ``fit``."""
    return tfrs.tasks.Ranking(
        loss=tf.keras.losses.BinaryCrossentropy(from_logits=True, reduction=tf.keras.losses.Reduction.NONE),
        metrics=[tf.keras.metrics.AUC(from_logits=True, name="auc")])


def global_rows(value) -> tf.Tensor:
    """The number of rows of ``value`` [N, ...] over all replicas: the denominator that makes the
    replicas' summed gradients those of the global batch's mean, also when the replicas hold
    different numbers of rows (e.g. the real steps of all-position rows)."""
    rows = tf.cast(tf.shape(value)[0], tf.float32)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        rows = context.all_reduce(tf.distribute.ReduceOp.SUM, rows)
    return tf.maximum(rows, 1.0)


PRECISIONS = ("float32", "mixed_bfloat16")


@contextlib.contextmanager
def precision_policy(precision: str):
    """Keras' global dtype policy set to ``precision`` inside the block (layers take the policy
    that is global when they are constructed), and restored after."""
    before = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(before)


class RecModel(tfrs.Model):
    config_class: type = Config
    loss_names: tuple = ()
    supports_mixed_bfloat16 = False   # checked: trains and serves with accuracy kept (its tests)

    def __init_subclass__(cls, **kwargs):
        """Every model's constructor runs under its config's precision policy (module docstring)."""
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__dict__["__init__"]

        @functools.wraps(init)
        def __init__(self, config=None, *args, **kw):
            with precision_policy(getattr(config, "precision", "float32")):
                init(self, config, *args, **kw)

        cls.__init__ = __init__

    def __init__(self, config: Config, vocab: dict[str, Vocabulary], name: str | None = None):
        super().__init__(name=name or type(self).__name__.lower())
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} expects a {self.config_class.__name__}, "
                            f"got {type(config).__name__}")
        if config.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {config.precision!r}")
        if config.precision == "mixed_bfloat16" and not self.supports_mixed_bfloat16:
            raise ValueError(f"{type(self).__name__} does not support precision='mixed_bfloat16' (its layers mix "
                             "dtypes that the policy does not cast); use precision='float32'")
        self.config = config
        self.vocab = dict(vocab)
        # The logged values are the metrics' results, already aggregated over the replicas
        # (Keras' ``result()`` does so): take them as they are, not summed over the workers.
        self.distribute_reduction_method = "first"
        needed = sorted({s.vocabulary for s in self.feature_spec if s.vocabulary})
        missing = [v for v in needed if v not in self.vocab]
        if missing:
            raise ValueError(f"{type(self).__name__}: missing vocabularies {missing}; "
                             f"got {sorted(self.vocab)}, expected {needed}")
        # One in-graph lookup per vocabulary, shared by the features that use it.
        self.lookups = {v: self.vocab[v].layer(name=f"lookup_{v}") for v in needed}
        for term in self.loss_names:
            setattr(self, f"_tracker_{term}", tf.keras.metrics.Mean(name=term))
        # the summed losses as epoch means too: with a batch's own value, `loss` at the end of
        # an epoch would be the last batch's while every term beside it is the epoch's mean
        self._sum_trackers = [tf.keras.metrics.Mean(name=n) for n in ("loss", "regularization_loss", "total_loss")]

    # --- what a subclass provides -------------------------------------------------
    @property
    def feature_spec(self) -> list[FeatureSpec]:
        raise NotImplementedError(f"{type(self).__name__} must define feature_spec")

    @property
    def training_only_spec(self) -> list[FeatureSpec]:
        """Vocabulary features that training rows may hold beside ``feature_spec`` (mapped by
        ``map_ids`` like the rest, never served), e.g. the next item at every step."""
        return []

    def training_spec(self, columns) -> list[FeatureSpec]:
        """The inputs of a training row with these ``columns``: ``feature_spec`` unless the
        model has another training form (next-item models: one row per sequence)."""
        return list(self.feature_spec)

    def loss_terms(self, features, training: bool = False) -> dict[str, tf.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must define loss_terms")

    def call_indexed(self, features, training: bool = False) -> tf.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define call_indexed")

    def call(self, features, training: bool = False) -> tf.Tensor:
        return self.call_indexed(self.map_ids(features), training=training)

    # --- shared glue -------------------------------------------------------------
    def map_ids(self, features) -> dict[str, tf.Tensor]:
        """Raw features -> index features: every vocabulary feature becomes its int64 index
        (0 padding, 1 OOV); other features (and the label) pass through unchanged. Inside a
        compiled step (``config.jit_compile``) the features are indices already (module
        docstring) and pass through."""
        out = dict(features)
        if self._steps_read_indices:
            return out
        _check_batch_sizes(out)
        for spec in [*self.feature_spec, *self.training_only_spec]:
            if spec.vocabulary is not None and spec.name in features:  # serving may send a subset
                ids = tf.convert_to_tensor(features[spec.name])
                layer = self.lookups[spec.vocabulary]
                # The Keras lookups cast their input, which would silently truncate float ids;
                # any integer width is fine for int64 vocabularies.
                if not (ids.dtype == spec.tf_dtype or (spec.dtype == "int64" and ids.dtype.is_integer)):
                    raise TypeError(f"{layer.name}: feature {spec.name!r} expects {spec.dtype} ids, "
                                    f"got {ids.dtype.name}")
                out[spec.name] = layer(ids)
        return out

    @property
    def index_spec(self) -> list[FeatureSpec]:
        """The feature spec as ``call_indexed`` sees it: vocabulary features as int64 indices."""
        import dataclasses

        return [dataclasses.replace(s, dtype="int64", vocabulary=None, padding=0) if s.vocabulary else s
                for s in self.feature_spec]

    def compute_loss(self, features, training: bool = False) -> tf.Tensor:
        terms = self.loss_terms(features, training=training)
        if set(terms) != set(self.loss_names):
            raise ValueError(f"{type(self).__name__}.loss_terms returned {sorted(terms)}, "
                             f"expected {sorted(self.loss_names)}")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        total = []
        for name, value in terms.items():
            value = tf.cast(value, tf.float32)
            if value.shape.rank == 0:
                total.append(value / replicas)
                getattr(self, f"_tracker_{name}").update_state(value)
            else:
                total.append(tf.reduce_sum(value) / self.loss_denominator(features, value, training))
                getattr(self, f"_tracker_{name}").update_state(tf.reduce_mean(value))
        return tf.add_n(total)

    def loss_denominator(self, features, value, training: bool = False) -> tf.Tensor:
        """What a per-row loss term's sum over the batch is divided by: the global batch's rows
        (``global_rows``), so the term is their mean."""
        return global_rows(value)

    def _regularization(self):
        if not self.losses:
            return tf.constant(0.0)
        return tf.nn.scale_regularization_loss(tf.add_n([tf.reduce_sum(l) for l in self.losses]))

    # tfrs.Model's own steps add ``sum(self.losses)`` unscaled: under N replicas the L2 gradient
    # would be N times too large, so the steps differ from tfrs' in that one term.
    def train_step(self, inputs):
        with self._reading_indices(), tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization = self._regularization()
            total = loss + regularization
        grads = tape.gradient(total, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self._logs(loss, regularization)

    def test_step(self, inputs):
        with self._reading_indices():
            loss = self.compute_loss(inputs, training=False)
        return self._logs(loss, self._regularization())

    def predict_step(self, data):
        with self._reading_indices():
            return super().predict_step(data)

    # --- compiled steps (module docstring) ----------------------------------------
    _steps_read_indices = False

    @contextlib.contextmanager
    def _reading_indices(self):
        """While a compiled step is traced, ``map_ids`` passes its (already mapped) input through."""
        self._steps_read_indices = bool(self.config.jit_compile)
        try:
            yield
        finally:
            self._steps_read_indices = False

    def compile(self, *args, **kwargs):
        kwargs.setdefault("jit_compile", self.config.jit_compile)
        if kwargs["jit_compile"] != self.config.jit_compile:
            raise ValueError(f"compile(jit_compile={kwargs['jit_compile']}) disagrees with the config's "
                             f"jit_compile={self.config.jit_compile}: set it in the config")
        super().compile(*args, **kwargs)

    def compiled_loss_batch_check(self, features):
        """With ``jit_compile``, ``fit`` and ``evaluate`` run this on every raw batch in the input
        pipeline, before the ids are mapped: the place for checks on what the loss assumes that
        XLA cannot branch on (it raises; it returns the features). Default: none."""
        return features

    def _step_input(self, data, loss_batches: bool = False):
        """``data`` as the steps read it: a dataset without tf.data's autotuning (its iterators,
        one per epoch and per validation pass, are destroyed without a wait:
        :func:`~tfrec_pkg.data.pipelines.without_autotune`); with ``jit_compile``, ids mapped
        in the input pipeline (after :meth:`compiled_loss_batch_check` for batches that the loss
        reads)."""
        jit = self.config.jit_compile
        prepare = (lambda f: self.map_ids(self.compiled_loss_batch_check(f))) if loss_batches else self.map_ids
        if isinstance(data, tf.data.Dataset):
            return without_autotune(data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE) if jit else data)
        if isinstance(data, tf.keras.utils.experimental.DatasetCreator):
            make = data.dataset_fn
            return tf.keras.utils.experimental.DatasetCreator(
                lambda context: self._step_input(make(context), loss_batches), data.input_options)
        if not jit or data is None:
            return data
        if isinstance(data, dict):
            return prepare(data)
        raise ValueError(f"with jit_compile, {type(self).__name__} reads a tf.data.Dataset, a DatasetCreator "
                         f"or a dict of features, got {type(data).__name__}")

    def fit(self, x=None, *args, validation_data=None, **kwargs):
        return super().fit(self._step_input(x, True), *args,
                           validation_data=self._step_input(validation_data, True), **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        if not kwargs.get("_use_cached_eval_dataset"):   # fit's validation reads fit's mapped data
            x = self._step_input(x, True)
        return super().evaluate(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        return super().predict(self._step_input(x), *args, **kwargs)

    def _logs(self, loss, regularization):
        # loss and regularization are this replica's shares of the global-batch mean; times the
        # replicas, each is this replica's mean, and the metrics' all-reduce averages those.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for tracker, value in zip(self._sum_trackers, (loss, regularization, loss + regularization)):
            tracker.update_state(value * replicas)
        return {m.name: m.result() for m in self.metrics}

    def score_candidates(self, features, candidates) -> tf.Tensor:
        """Scores [B, C] of C candidate items per example. ``candidates`` maps the target
        item's feature names (e.g. item_id, category_id) to raw values shaped [B, C].
        Generic version for pointwise models: each candidate replaces the target features;
        ranking models override it with a cheaper dot product over the item table."""
        first = next(iter(candidates.values()))
        b, c = tf.shape(first)[0], tf.shape(first)[1]
        tiled = {}
        for spec in self.feature_spec:
            if spec.name in candidates:
                tiled[spec.name] = tf.reshape(candidates[spec.name], [-1])
            else:
                x = tf.convert_to_tensor(features[spec.name])
                x = tf.repeat(x, c, axis=0)  # example-major, candidate-minor
                tiled[spec.name] = x
        return tf.reshape(self(tiled, training=False), [b, c])

    def serving_endpoints(self) -> dict[str, Endpoint]:
        """The serving API (see :mod:`tfrec_pkg.models.endpoint`); ``serving_default`` maps raw
        features -> {"score"}, ``serving_indices`` the same on index features (no hash tables,
        for ONNX). Subclasses replace or add entries (e.g. ``top_k``, ``update_state``)."""
        return {"serving_default": Endpoint(lambda features: {"score": self(features, training=False)},
                                            [signature(self.feature_spec)]),
                "serving_indices": Endpoint(lambda features: {"score": self.call_indexed(features, training=False)},
                                            [signature(self.index_spec)])}

    def example_batch(self, batch_size: int = 2) -> dict[str, tf.Tensor]:
        """A batch of padding/OOV inputs that builds every variable without real data."""
        out = {}
        for s in self.feature_spec:
            out[s.name] = tf.fill((batch_size,) + s.shape, tf.constant(s.padding, s.tf_dtype))
        return out

    def get_config(self):
        return {"config": self.config.to_dict(),
                "vocab": {k: v.to_dict() for k, v in self.vocab.items()}, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(cls.config_class.from_dict(config["config"]),
                   {k: Vocabulary.from_dict(v) for k, v in config["vocab"].items()},
                   name=config.get("name"))

    # --- trained-model directory (read by tools/export.py) -----------------------------
    def save_trained(self, directory: str) -> str:
        """Write this model's trained-model directory (see :mod:`tfrec_pkg.models.persistence`)."""
        from tfrec_pkg.models.persistence import save_trained

        return save_trained(self, directory)

    @staticmethod
    def load_trained(directory: str, *, with_optimizer: bool = False) -> "RecModel":
        from tfrec_pkg.models.persistence import load_trained

        return load_trained(directory, with_optimizer=with_optimizer)


def _check_batch_sizes(features: dict) -> None:
    """Every input of one request has the same number of rows (a user_id batch of 3 beside item
    batches of 2 is an error, not a silent broadcast or a row that is ignored)."""
    tensors = [(name, tf.convert_to_tensor(value)) for name, value in features.items()]
    tensors = [(name, t) for name, t in tensors if t.shape.rank != 0]
    if len(tensors) < 2:
        return
    first_name, first = tensors[0]
    for name, t in tensors[1:]:
        tf.debugging.assert_equal(tf.shape(t)[0], tf.shape(first)[0],
                                  message=f"input {name!r} must have as many rows as {first_name!r}")

