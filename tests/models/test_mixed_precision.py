"""``config.precision="mixed_bfloat16"`` (tfrec_pkg/models/recmodel.py, "Mixed precision"): the
next-item models compute in bfloat16 with float32 weights, lose no more than bfloat16's rounding
against float32 on the same weights (loss, scores, a short training run's ranking metrics), serve
float32 from their SavedModel signatures, and leave Keras' global policy as it was; the other
models refuse the setting."""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg import experiment, training
from tfrec_pkg.export import serving_request, serving_signatures


def _pair(name, changes=None):
    """(float32 model, mixed_bfloat16 model with the same weights, train, val)."""
    models = []
    for precision in ("float32", "mixed_bfloat16"):
        entry, config = experiment.resolve((name, {**(changes or {}), "precision": precision}))
        train, val, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
        model = experiment.build(entry, train.vocab, config, seed=0, compile=True)
        model(model.example_batch())
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    return (*models, train, val)


@pytest.mark.parametrize("name, changes", [("sasrec", None), ("ipsrec", {"stream": "cross"}), ("gru4rec", None)])
def test_bfloat16_compute_matches_float32_to_its_rounding(name, changes):
    plain, mixed, train, _ = _pair(name, changes)
    assert tf.keras.mixed_precision.global_policy().name == "float32"   # restored after construction
    assert mixed.item_embedding.compute_dtype == "bfloat16" and mixed.item_embedding.dtype == "float32"
    assert plain.item_embedding.compute_dtype == "float32"
    assert type(mixed).from_config(mixed.get_config()).item_embedding.compute_dtype == "bfloat16"
    data = train.dataset(128, shuffle=False).take(2)
    losses = [m.evaluate(data, verbose=0, return_dict=True)["loss"] for m in (plain, mixed)]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-2)
    batch = next(iter(data))
    h = [m.sequence_outputs(m.map_ids(batch))[0] for m in (plain, mixed)]
    assert h[1].dtype == tf.bfloat16   # the encoder did compute in bfloat16
    np.testing.assert_allclose(tf.cast(h[1], tf.float32).numpy(), h[0].numpy(), atol=0.1)
    request = serving_request(plain, {s.name: batch[s.name].numpy() for s in plain.feature_spec})
    served = [serving_signatures(m)["serving_default"](**{k: tf.constant(v) for k, v in request.items()})
              for m in (plain, mixed)]
    assert served[1]["scores"].dtype == tf.float32   # the serving contract stays float32
    np.testing.assert_allclose(served[1]["scores"].numpy(), served[0]["scores"].numpy(), rtol=0.05, atol=0.05)


def test_a_short_bfloat16_run_ranks_like_float32():
    plain, mixed, train, val = _pair("sasrec")
    got = []
    for model in (plain, mixed):
        tf.keras.utils.set_random_seed(0)
        history = training.train(model, train, val, epochs=2, verbose=0)
        got.append(history.history["val_mrr_at_10"][-1])
    assert got[0] > 0.05 and abs(got[1] - got[0]) < 0.1 * got[0], got


def test_other_models_and_unknown_precisions_are_refused():
    entry, config = experiment.resolve("mf")
    train, _, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
    with pytest.raises(ValueError, match="does not support precision='mixed_bfloat16'"):
        experiment.build(entry, train.vocab, config.replace(precision="mixed_bfloat16"))
    with pytest.raises(ValueError, match="precision must be one of"):
        experiment.build(entry, train.vocab, config.replace(precision="float16"))
    assert tf.keras.mixed_precision.global_policy().name == "float32"
