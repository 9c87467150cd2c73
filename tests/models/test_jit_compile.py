"""``config.jit_compile`` (tfrec_pkg/models/recmodel.py, "Compiled steps"): the XLA-compiled
steps read ids mapped in the input pipeline and compute what the uncompiled steps compute --
the same training trajectory (dropout off: XLA draws its own random numbers) and the same
evaluation, for an int64 and a string vocabulary -- while serving still takes raw ids.

Mutations tried, each caught: the pipeline not mapping the ids (XLA refuses the lookup), the
steps mapping them a second time (indices read as raw ids: other embedding rows)."""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg import experiment


def _pair(name, changes, rows):
    """(uncompiled model, compiled model with the same initial weights, training rows)."""
    models = []
    for jit in (False, True):
        entry, config = experiment.resolve((name, {**changes, "jit_compile": jit}))
        train, _, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
        model = experiment.build(entry, train.vocab, config, seed=0, compile=True)
        model(model.example_batch())
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    data = train.dataset(rows, shuffle=False).take(3)
    return (*models, data)


@pytest.mark.parametrize("name, changes", [("sasrec", {"dropout": 0.0}), ("base_model", {"dropout": 0.0})])
def test_compiled_steps_train_and_evaluate_like_uncompiled_ones(name, changes):
    plain, compiled, data = _pair(name, changes, rows=64)
    assert compiled.jit_compile and not plain.jit_compile
    logs = [m.fit(data, epochs=2, verbose=0).history["loss"] for m in (plain, compiled)]
    np.testing.assert_allclose(logs[1], logs[0], rtol=1e-4)
    for a, b in zip(plain.trainable_variables, compiled.trainable_variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-4, err_msg=a.name)
    np.testing.assert_allclose(compiled.evaluate(data, verbose=0), plain.evaluate(data, verbose=0), rtol=1e-4)
    batch = next(iter(data))
    request = {s.name: batch[s.name] for s in compiled.feature_spec}
    np.testing.assert_allclose(compiled.predict(request, verbose=0), plain.predict(request, verbose=0), atol=1e-5)
    # the serving path (what the signatures trace): raw ids mapped in the graph, not compiled
    np.testing.assert_allclose(compiled(request).numpy(), plain(request).numpy(), atol=1e-5)


def test_compile_refuses_a_setting_that_disagrees_with_the_config():
    entry, config = experiment.resolve("mf")
    train, _, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
    model = experiment.build(entry, train.vocab, config)
    with pytest.raises(ValueError, match="set it in the config"):
        model.compile(optimizer="adam", jit_compile=True)
    with pytest.raises(ValueError, match="reads a tf.data.Dataset"):
        experiment.build(entry, train.vocab, config.replace(jit_compile=True), compile=True).fit([1, 2], verbose=0)


def test_imn_net_refuses_jit_compile():
    from tfrec_pkg.models.imn import IMNConfig, IMNNet

    with pytest.raises(ValueError, match="IMN-Net does not support jit_compile"):
        IMNNet(IMNConfig(jit_compile=True), {})


def test_sum_grouped_softmax_loss_compiles_and_checks_its_groups_in_the_pipeline():
    """SUM's softmax loss encodes each group's shared history once; XLA cannot compile the
    row-by-row fallback, so the compiled steps rely on the pipeline's check of the groups."""
    entry, config = experiment.resolve(("sum", {"loss": "softmax"}))
    train, _, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
    models = []
    for jit in (False, True):
        model = experiment.build(entry, train.vocab, config.replace(jit_compile=jit), seed=0, compile=True)
        model(model.example_batch())
        models.append(model)
    plain, compiled = models
    compiled.set_weights(plain.get_weights())
    g = plain.example_group_size
    data = train.dataset(10 * g, shuffle=False, group_size=g).take(3)
    logs = [m.fit(data, epochs=2, verbose=0).history["loss"] for m in (plain, compiled)]
    np.testing.assert_allclose(logs[1], logs[0], rtol=1e-4)
    for a, b in zip(plain.trainable_variables, compiled.trainable_variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-4, err_msg=a.name)
    # the losses to 1e-4; Keras' AUC counts scores in fixed threshold buckets, so a ~1e-5 score
    # difference can move one pair across a bucket edge (the logit's bias has no gradient under
    # the group softmax, and Adam turns its round-off gradient into steps of the learning rate)
    got, want = compiled.evaluate(data, verbose=0), plain.evaluate(data, verbose=0)
    np.testing.assert_allclose(got[:-1], want[:-1], rtol=1e-4)
    assert compiled.metrics_names[-1] == "auc" and abs(got[-1] - want[-1]) < 1e-3
    # histories moved by one row: every group now mixes two users' histories
    shuffled = data.map(lambda f: {k: tf.roll(v, 1, 0) if k.startswith("hist_") else v for k, v in f.items()})
    plain.evaluate(shuffled, verbose=0)  # uncompiled: encodes row by row
    with pytest.raises(tf.errors.InvalidArgumentError, match="share one history"):
        compiled.fit(shuffled, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="share one history"):
        compiled.evaluate(shuffled, verbose=0)
