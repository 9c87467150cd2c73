"""MuSENet layers (tfrec_pkg/layers/scenario.py) against independent float64 numpy renderings
of Eqs. (3), (4), (7), (8), (9), (10), (12), (14), with random weights so that a dropped term
shows up.

Mutations tried on the layer code, one at a time (each made the named tests fail):
 1. Eq. (3): softmax of +d instead of -d -> soft, hard_inference, gumbel_statistics
 2. distance: Euclidean instead of squared -> soft, clustering_loss
 3. projection skipped (x instead of x omega) -> soft
 4. Eq. (7): tau left out -> gumbel_softmax_eq7
 5. Eq. (7): Gumbel noise left out -> gumbel_softmax_eq7, gumbel_statistics
 6. Eq. (8): mean of d without the assignment weights -> clustering_loss
 7. Eq. (9): p_r and 1 - p_r swapped -> repeat_head
 8. Eq. (9): indicator ignored (always explore) -> repeat_head
 9. Eq. (9): intention MLP fed the target item -> repeat_head
10. Eq. (10): sum_k p_r^k a_k replaced by the mean of p_r -> repeat_loss
11. Eq. (12): log K left out -> kl
12. Eq. (14): alpha and 1 - alpha swapped -> prototype_update (all three)
13. Eq. (14): a scenario with no weight moved like the others -> prototype_update_keeps_empty
14. Eq. (14): sums not all-reduced across replicas -> prototype_update_all_reduces_across_replicas
15. hard training call: softmax(+d) fed to the Gumbel step -> hard_training_call_is_the_gumbel_softmax,
    hard_training_call_samples_q_statistics
16. hard training call: uniform probabilities fed to the Gumbel step -> the same two
17. Eq. (8) on Q_s instead of the hard sample -> hard_training_call_is_the_gumbel_softmax
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.layers.scenario import RepeatAwareHead, ScenarioLearner, kl_to_uniform, repeat_loss

TOL = dict(atol=1e-9, rtol=1e-9)
B, D, E, K = 7, 5, 3, 4


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def learner(**kw):
    layer = ScenarioLearner(K, projection_dim=E, dtype="float64", **kw)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(B, D))
    layer(tf.constant(x))
    layer.omega.assign(rng.normal(size=(D, E)))
    layer.prototypes.assign(rng.normal(size=(K, E)))
    return layer, x


def numpy_soft(layer, x):
    z = x @ layer.omega.numpy()
    d = ((z[:, None, :] - layer.prototypes.numpy()[None]) ** 2).sum(-1)
    return z, d, softmax(-d)


def test_soft_assignment_eq3():
    layer, x = learner()
    out = layer(tf.constant(x), training=True)
    z, d, q = numpy_soft(layer, x)
    np.testing.assert_allclose(out["projected"].numpy(), z, **TOL)
    np.testing.assert_allclose(out["distances"].numpy(), d, **TOL)
    np.testing.assert_allclose(out["probs"].numpy(), q, **TOL)
    np.testing.assert_allclose(out["assignment"].numpy(), q, **TOL)   # soft version: a = Q_s


def test_euclidean_distance_option():
    layer, x = learner(distance="euclidean")
    _, d, _ = numpy_soft(layer, x)
    np.testing.assert_allclose(layer(tf.constant(x))["probs"].numpy(), softmax(-np.sqrt(d)), atol=1e-7)


def test_hard_inference_is_the_argmax_eq4():
    layer, x = learner(hard=True)
    out = layer(tf.constant(x), training=False)
    _, _, q = numpy_soft(layer, x)
    np.testing.assert_array_equal(out["assignment"].numpy(), np.eye(K)[q.argmax(-1)])


def test_clustering_loss_eq8():
    layer, x = learner()
    out = layer(tf.constant(x))
    _, d, q = numpy_soft(layer, x)
    np.testing.assert_allclose(float(out["clustering_loss"]), (q * d).sum(-1).mean(), **TOL)
    hard = learner(hard=True)[0]
    _, d, q = numpy_soft(hard, x)
    np.testing.assert_allclose(float(hard(tf.constant(x))["clustering_loss"]), d[np.arange(B), q.argmax(-1)].mean(),
                               **TOL)


def test_gumbel_softmax_eq7():
    layer, x = learner(hard=True)
    _, _, q = numpy_soft(layer, x)
    g = np.random.default_rng(7).gumbel(size=q.shape)
    got = layer.gumbel_softmax(tf.constant(q), gumbel=tf.constant(g)).numpy()
    np.testing.assert_allclose(got, softmax((np.log(q) + g) / 0.1), **TOL)


def test_gumbel_statistics_eq7():
    """The arg-max of the Gumbel sample is a draw from Q_s: its one-hot mean over many draws
    equals Q_s within sampling error (the Gumbel-max trick)."""
    layer, x = learner(hard=True)
    tf.random.set_seed(0)
    probs = tf.constant(np.tile(numpy_soft(layer, x)[2][:1], (20000, 1)))
    sample = layer.gumbel_softmax(probs).numpy()
    freq = np.eye(K)[sample.argmax(-1)].mean(0)
    q = probs.numpy()[0]
    assert np.all(np.abs(freq - q) < 4 * np.sqrt(q * (1 - q) / 20000) + 1e-3), (freq, q)


def test_hard_training_call_is_the_gumbel_softmax_of_log_q_eq7(uniform_draws):
    """``ScenarioLearner(hard=True)(x, training=True)`` end to end: a = softmax((log Q_s + g) / tau)
    with Q_s of Eq. (3) on f_omega(x) and the current prototypes, and the reported L_C (Eq. 8)
    weights the distances by that sample, not by Q_s."""
    for tau in (0.1, 0.7):
        layer, x = learner(hard=True, tau=tau)
        uniform_draws.clear()
        tf.random.set_seed(5)
        out = layer(tf.constant(x), training=True)
        assert len(uniform_draws) == 1 and tuple(uniform_draws[0].shape) == (B, K)   # one draw per call
        g = -np.log(-np.log(uniform_draws[0].numpy()))
        z, d, q = numpy_soft(layer, x)
        a = softmax((np.log(q) + g) / tau)
        np.testing.assert_allclose(out["probs"].numpy(), q, **TOL)
        np.testing.assert_allclose(out["assignment"].numpy(), a, atol=1e-9)
        np.testing.assert_allclose(float(out["clustering_loss"]), (a * d).sum(-1).mean(), atol=1e-9)
        # the check has teeth: the sample is far from Q_s, and L_C on Q_s is another number
        assert np.abs(a - q).max() > 0.1
        assert abs((a * d).sum(-1).mean() - (q * d).sum(-1).mean()) > 1e-3


def test_hard_training_call_samples_q_statistics_eq7():
    """The same path without looking at the noise: over many calls' rows the arg-max of the
    training assignment is a draw from Q_s (Gumbel-max), row by row, within sampling error."""
    layer, x = learner(hard=True)
    q = numpy_soft(layer, x)[2]
    assert np.abs(q - 1 / K).max(-1).min() > 0.3   # every row's Q_s far from uniform (and from softmax(+d))
    n = 4000
    tf.random.set_seed(3)
    a = layer(tf.constant(np.tile(x, (n, 1))), training=True)["assignment"].numpy()   # row i*B + b is x[b]
    freq = np.eye(K)[a.argmax(-1)].reshape(n, B, K).mean(0)
    assert np.all(np.abs(freq - q) < 4.5 * np.sqrt(q * (1 - q) / n) + 2e-3), (freq, q)


def test_gumbel_is_sharp_at_tau_01_and_straight_through_is_one_hot():
    layer, x = learner(hard=True)
    tf.random.set_seed(1)
    sample = layer(tf.constant(x), training=True)["assignment"].numpy()
    np.testing.assert_allclose(sample.sum(-1), 1.0, atol=1e-9)
    assert (sample.max(-1) > 0.5).mean() > 0.7   # tau = 0.1: most draws close to one-hot
    st, _ = learner(hard=True, straight_through=True)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        a = st(xt, training=True)["assignment"]
        loss = tf.reduce_sum(a * np.arange(K))
    assert set(np.unique(a.numpy())) <= {0.0, 1.0} and (a.numpy().sum(-1) == 1).all()
    assert np.abs(tape.gradient(loss, st.omega).numpy()).sum() > 0   # the softmax gradient flows


def test_prototype_update_eq14_on_projected_samples():
    layer, x = learner(alpha=0.3)
    old = layer.prototypes.numpy().copy()
    out = layer(tf.constant(x), training=True)
    a, z = out["assignment"].numpy(), out["projected"].numpy()
    layer.update_prototypes(out["projected"], out["assignment"])
    want = 0.7 * old + 0.3 * (a.T @ z) / a.sum(0)[:, None]
    np.testing.assert_allclose(layer.prototypes.numpy(), want, **TOL)


def test_prototype_update_keeps_a_scenario_without_weight():
    layer, x = learner()
    old = layer.prototypes.numpy().copy()
    a = np.zeros((B, K))
    a[:, 0] = 1.0
    z = x @ layer.omega.numpy()
    layer.update_prototypes(tf.constant(z), tf.constant(a))
    np.testing.assert_allclose(layer.prototypes.numpy()[1:], old[1:], **TOL)
    np.testing.assert_allclose(layer.prototypes.numpy()[0], 0.8 * old[0] + 0.2 * z.mean(0), **TOL)


def test_prototypes_are_not_trained_by_gradients():
    layer, x = learner()
    with tf.GradientTape() as tape:
        loss = layer(tf.constant(x), training=True)["clustering_loss"]
    assert all(v is not layer.prototypes for v in layer.trainable_variables)
    assert tape.gradient(loss, layer.trainable_variables)[0] is not None   # omega is trained


def test_prototype_update_all_reduces_across_replicas(tmp_path):
    """Under MirroredStrategy with two replicas (two logical CPUs, set up in a fresh process
    before TensorFlow initialises) each replica applies the global batch's means."""
    script = textwrap.dedent(f"""
        import numpy as np
        import tfrec_pkg
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tfrec_pkg.layers.scenario import ScenarioLearner
        rng = np.random.default_rng(3)
        x = rng.normal(size=(8, {D}))
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            layer = ScenarioLearner({K}, projection_dim={E}, dtype="float64")
            layer(tf.constant(x[:1]))
        layer.omega.assign(rng.normal(size=({D}, {E})))
        layer.prototypes.assign(rng.normal(size=({K}, {E})))
        old = layer.prototypes.numpy().copy()

        @tf.function
        def step(batch):
            out = layer(batch, training=True)
            layer.update_prototypes(out["projected"], out["assignment"])

        data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(x).batch(8))
        for batch in data:
            strategy.run(step, args=(batch,))
        np.savez({str(tmp_path / "out.npz")!r}, x=x, omega=layer.omega.numpy(), old=old,
                 new=[v.numpy() for v in layer.prototypes.values])
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    out = np.load(tmp_path / "out.npz")
    z = out["x"] @ out["omega"]
    q = softmax(-((z[:, None, :] - out["old"][None]) ** 2).sum(-1))
    want = 0.8 * out["old"] + 0.2 * (q.T @ z) / q.sum(0)[:, None]
    for replica in out["new"]:   # both replicas' copies hold the global update
        np.testing.assert_allclose(replica, want, atol=1e-9)


def test_kl_to_uniform_eq12():
    a = softmax(np.random.default_rng(2).normal(size=(B, K)))
    np.testing.assert_allclose(float(kl_to_uniform(tf.constant(a))), (a * (np.log(a) + np.log(K))).sum(-1).mean(),
                               **TOL)
    one_hot = np.eye(K)[[0, 1, 2, 3, 0, 1, 2]]
    np.testing.assert_allclose(float(kl_to_uniform(tf.constant(one_hot))), np.log(K), **TOL)   # 0 log 0 = 0
    np.testing.assert_allclose(float(kl_to_uniform(tf.constant(np.full((B, K), 1 / K)))), 0.0, atol=1e-12)


def test_marginal_kl_is_the_kl_of_the_mean_assignment():
    a = softmax(np.random.default_rng(8).normal(size=(B, K)))
    mean = a.mean(0)
    np.testing.assert_allclose(float(kl_to_uniform(tf.constant(a), marginal=True)),
                               (mean * (np.log(mean) + np.log(K))).sum(), **TOL)
    balanced = np.eye(K)[[0, 1, 2, 3, 0, 1, 2, 3]]   # sharp samples, every scenario used: 0
    np.testing.assert_allclose(float(kl_to_uniform(tf.constant(balanced), marginal=True)), 0.0, atol=1e-12)


def test_repeat_loss_eq10_is_minimised_at_the_label():
    rng = np.random.default_rng(4)
    p_r, a, r = rng.uniform(size=(B, K)), softmax(rng.normal(size=(B, K))), rng.uniform(size=B)
    np.testing.assert_allclose(repeat_loss(tf.constant(r), tf.constant(p_r), tf.constant(a)).numpy(),
                               (r - (p_r * a).sum(-1)) ** 2, **TOL)


def _mlp(layer, prefix, x):
    for i in range(len(layer.hidden_units)):
        d = getattr_dense(layer, f"{prefix}_{i}")
        x = np.maximum(x @ d.kernel.numpy() + d.bias.numpy(), 0.0)
    d = getattr_dense(layer, f"{prefix}_out")
    return (x @ d.kernel.numpy() + d.bias.numpy())[:, 0]


def getattr_dense(layer, name):
    for mlps in (layer.intention, layer.repeat, layer.explore):
        for mlp in mlps:
            for dense in mlp:
                if dense.name == name:
                    return dense
    raise KeyError(name)


def test_repeat_head_eq9():
    rng = np.random.default_rng(5)
    user, behaviour, target, context = (rng.normal(size=(B, n)) for n in (3, 4, 2, 2))
    is_repeat = np.array([1, 0, 1, 0, 0, 1, 1])
    head = RepeatAwareHead(K, hidden_units=(6, 5), dtype="float64")
    head(*(tf.constant(v) for v in (user, behaviour, target, context)), tf.constant(is_repeat))
    for w in head.trainable_variables:
        w.assign(rng.normal(0, 0.5, size=w.shape))
    out = head(*(tf.constant(v) for v in (user, behaviour, target, context)), tf.constant(is_repeat))
    no_target = np.concatenate([user, behaviour, context], -1)
    full = np.concatenate([user, behaviour, target, context], -1)
    p_r = np.stack([1 / (1 + np.exp(-_mlp(head, f"intention_{k}", no_target))) for k in range(K)], -1)
    s_r = np.stack([_mlp(head, f"repeat_{k}", full) for k in range(K)], -1)
    s_e = np.stack([_mlp(head, f"explore_{k}", full) for k in range(K)], -1)
    i = is_repeat[:, None]
    np.testing.assert_allclose(out["repeat_prob"].numpy(), p_r, **TOL)
    np.testing.assert_allclose(out["z"].numpy(), i * p_r * s_r + (1 - i) * (1 - p_r) * s_e, **TOL)
    assert not np.allclose(s_r, s_e)   # separate repeat and explore networks


def test_repeat_head_target_aware_behaviour_and_without_repeat():
    rng = np.random.default_rng(6)
    user, behaviour, aware, target, context = (tf.constant(rng.normal(size=(B, n))) for n in (3, 4, 4, 2, 2))
    is_repeat = tf.constant([1, 0, 1, 0, 0, 1, 1])
    head = RepeatAwareHead(K, hidden_units=(6,), dtype="float64")
    out = head(user, behaviour, target, context, is_repeat, target_behaviour=aware)
    # p_r reads the target-free encoding; s_r, s_e the target-aware one
    np.testing.assert_allclose(out["repeat_prob"].numpy(),
                               head(user, behaviour, target, context, is_repeat)["repeat_prob"].numpy(), **TOL)
    full = np.concatenate([user.numpy(), aware.numpy(), target.numpy(), context.numpy()], -1)
    np.testing.assert_allclose(out["repeat_score"].numpy()[:, 1], _mlp(head, "repeat_1", full), **TOL)
    plain = RepeatAwareHead(K, hidden_units=(6,), repeat_aware=False, dtype="float64")
    z = plain(user, behaviour, target, context, is_repeat)
    assert set(z) == {"z"} and len(plain.trainable_variables) == K * 4
    full = np.concatenate([user.numpy(), behaviour.numpy(), target.numpy(), context.numpy()], -1)
    np.testing.assert_allclose(z["z"].numpy()[:, 2], _mlp(plain, "explore_2", full), **TOL)


def test_bad_arguments_and_config_round_trip():
    for kw, match in (({"num_scenarios": 0}, "num_scenarios"), ({"distance": "cosine"}, "distance"),
                      ({"tau": 0.0}, "tau"), ({"alpha": 1.5}, "alpha")):
        with pytest.raises(ValueError, match=match):
            ScenarioLearner(**kw)
    layer = ScenarioLearner(3, projection_dim=8, hard=True, tau=0.5, alpha=0.1, straight_through=True)
    assert ScenarioLearner.from_config(layer.get_config()).get_config() == layer.get_config()
    head = RepeatAwareHead(2, hidden_units=(4,), repeat_aware=False)
    assert RepeatAwareHead.from_config(head.get_config()).get_config() == head.get_config()
