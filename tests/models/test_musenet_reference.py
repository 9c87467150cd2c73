"""MuSENet (tfrec_pkg/models/musenet.py) against an independent float64 numpy forward pass of
the whole model that reads the model's weights: embeddings, the target-free and target-aware
behaviour encodings, the context, the repeat indicator, the scenario learner (soft; hard at
inference), the repeat-aware heads, the logit, every loss term, and the prototype update of a
training step (<= 1e-5).

Mutations tried (each fails a test here):
 1. p_r fed the target-aware B_u instead of the mean -> forward[*]
 2. the repeat indicator without the padding mask (padding == padding) -> forward[*]
 3. an OOV target counted as a repeat of an OOV behaviour -> forward[*]
 4. x for the scenario learner without the context -> forward[soft], forward[hard]
 5. the logit as the mean instead of the a-weighted sum of z -> forward[*]
 6. L_A without beta -> losses[soft]
 7. the KL term computed on Q_s instead of a (hard) -> losses[hard] (training assignment)
 8. prototypes updated with the raw x instead of f_omega(x) -> training_step_updates_prototypes
 9. no prototype update in train_step -> training_step_updates_prototypes
10. the predefined one-hot offset by one -> predefined
11. hard: softmax(+d) or uniform probabilities fed to the Gumbel step -> hard_training_step
12. hard: train_step's Eq. (14) with Q_s instead of the sample -> hard_training_step
13. hard: train_step's Eq. (14) on a second forward pass (a fresh sample) -> hard_training_step
14. hard: L_C (Eq. 8) on Q_s instead of the sample -> hard_training_step
15. hard: the KL term on Q_s instead of the sample -> hard_training_step
16. hard, straight-through: the relaxed sample forward instead of its one-hot arg-max, or the
    arg-max of Q_s instead of the sample's -> hard_training_step[True]
"""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg import specs
from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.models.musenet import MuSENet, MuSENetConfig
from reference_weights import randomize

L, K = 4, 3
VOCAB = {"user": Vocabulary([11, 12, 13], "int64"), "gender": Vocabulary([0, 1], "int64"),
         "age": Vocabulary([0, 1, 2], "int64"), "level": Vocabulary([0, 1, 2], "int64"),
         "item": Vocabulary([101, 205, 307, 412, 550], "int64"), "category": Vocabulary([7, 8, 9], "int64"),
         "slot": Vocabulary([0, 1], "int64"), "scenario": Vocabulary([0, 1, 2], "int64")}
RAW = {
    "user_id": [11, 12, 13, 99, 12, 11],
    "profile_gender": [0, 1, 1, 0, 5, 1], "profile_age": [0, 1, 2, 2, 1, 0], "profile_level": [0, 1, 2, 0, 1, 2],
    "hist_item_ids": [[101, 205, 307, 412], [205, 205, -1, -1], [-1, -1, -1, -1], [999, 101, -1, -1],
                      [550, 101, 307, -1], [412, 101, 412, 101]],
    "hist_category_ids": [[7, 8, 8, 9], [8, 8, -1, -1], [-1, -1, -1, -1], [4, 7, -1, -1], [9, 7, 8, -1],
                          [9, 7, 9, 7]],
    "item_id": [307, 205, 101, 777, 412, 101],     # repeats in rows 0, 1, 5; row 3 an OOV target
    "category_id": [8, 8, 7, 9, 9, 7],
    "context_slot": [0, 1, 1, 0, 3, 1],
    "context_price": [0.5, -1.0, 2.0, 0.0, 1.5, -0.3], "context_distance": [1.0, 0.2, -0.5, 0.3, 0.0, 2.0],
    "context_lead_time": [-0.2, 0.4, 1.1, -1.0, 0.6, 0.0],
    "predefined_scenario": [0, 1, 2, 7, 1, 0],     # 7 is unknown
    "repeat_label": [0.5, 0.25, 0.0, 0.1, 0.0, 1.0],
}
LABEL = np.array([1, 0, 0, 1, 1, 0], np.float32)
B = len(LABEL)


def features():
    out = {k: tf.constant(np.asarray(v, np.float32 if k.startswith(("context_p", "context_d", "context_l", "repeat"))
                                     else np.int64)) for k, v in RAW.items()}
    out["label"] = tf.constant(LABEL)
    return out


def build(**changes):
    cfg = MuSENetConfig(max_history=L, user_dim=3, item_dim=4, category_dim=3, profile_dim=2, attention_units=(5, 3),
                        head_units=(6, 4), num_scenarios=K, projection_dim=5).replace(**changes)
    model = MuSENet(cfg, VOCAB)
    model(model.example_batch())
    randomize(model, seed=2, positive_bias_scope="/heads/")
    if cfg.learn_scenarios:
        model.scenario.prototypes.assign(np.random.default_rng(3).normal(size=model.scenario.prototypes.shape))
    return model


def f64(v):
    return v.numpy().astype(np.float64)


def sig(x):
    return 1 / (1 + np.exp(-x))


def emb(layer, vocab, ids):
    return f64(layer.embeddings)[VOCAB[vocab].lookup(np.asarray(ids))]


def dense(layer, x):
    return x @ f64(layer.kernel) + f64(layer.bias)


def mlp(layers, x):
    for layer in layers[:-1]:
        x = np.maximum(dense(layer, x), 0.0)
    return dense(layers[-1], x)[:, 0]


def np_inputs(model):
    """The encoded inputs from the model's embeddings: p_u, b_t, the behaviours [B, L, e] with
    their mask and their mean over the real ones, o_u (shared with the baselines' references)."""
    p_u = np.concatenate([emb(model.user_embedding, "user", RAW["user_id"])]
                         + [emb(model.profile_embeddings[n], n, RAW[f"profile_{n}"]) for n in specs.PROFILE_FIELDS], -1)
    b_t = np.concatenate([emb(model.item_embedding, "item", RAW["item_id"]),
                          emb(model.category_embedding, "category", RAW["category_id"])], -1)
    hist = np.concatenate([emb(model.item_embedding, "item", RAW["hist_item_ids"]),
                           emb(model.category_embedding, "category", RAW["hist_category_ids"])], -1)
    mask = np.asarray(RAW["hist_item_ids"]) != -1
    b_mean = np.array([hist[i][mask[i]].mean(0) if mask[i].any() else np.zeros(hist.shape[-1]) for i in range(B)])
    o_u = np.concatenate([emb(model.context_embeddings["slot"], "slot", RAW["context_slot"])]
                         + [np.asarray(RAW[f"context_{n}"], np.float64)[:, None] for n in specs.CONTEXT_NUMERIC], -1)
    return p_u, b_t, hist, mask, b_mean, o_u


def np_din(attention, b_t, hist, mask):
    """DIN's activation unit on [q, k, q - k, q * k] and sum pooling over the real behaviours."""
    q = np.broadcast_to(b_t[:, None, :], hist.shape)
    x = np.concatenate([q, hist, q - hist, q * hist], -1)
    for layer in attention.mlp:
        x = sig(dense(layer, x))
    w = np.where(mask, dense(attention.score, x)[..., 0], 0.0)
    return (w[..., None] * hist).sum(1)


def np_forward(model, training=False):
    c = model.config
    p_u, b_t, hist, mask, b_mean, o_u = np_inputs(model)
    b_aware = np_din(model.attention, b_t, hist, mask)
    known_target = VOCAB["item"].lookup(np.asarray(RAW["item_id"])) >= 2
    is_rep = np.array([t in [h for h in row if h != -1] for t, row in zip(RAW["item_id"], RAW["hist_item_ids"])])
    is_rep = (is_rep & known_target).astype(np.float64)[:, None]
    heads = model.heads
    no_t = np.concatenate([p_u, b_mean, o_u], -1)
    with_t = np.concatenate([p_u, b_aware, b_t, o_u], -1)
    p_r = np.stack([sig(mlp(m, no_t)) for m in heads.intention], -1)
    s_r = np.stack([mlp(m, with_t) for m in heads.repeat], -1)
    s_e = np.stack([mlp(m, with_t) for m in heads.explore], -1)
    z = is_rep * p_r * s_r + (1 - is_rep) * (1 - p_r) * s_e
    xs = np.concatenate([p_u, b_aware, b_t, o_u], -1)
    proj = xs @ f64(model.scenario.omega)
    d = ((proj[:, None, :] - f64(model.scenario.prototypes)[None]) ** 2).sum(-1)
    e = np.exp(-d - (-d).max(-1, keepdims=True))
    probs = e / e.sum(-1, keepdims=True)
    a = probs if c.version == "soft" else np.eye(K)[probs.argmax(-1)]
    return {"logit": (a * z).sum(-1), "probs": probs, "a": a, "p_r": p_r, "proj": proj, "z": z, "d": d}


@pytest.mark.parametrize("version", ["soft", "hard"])
def test_forward_matches_numpy(version):
    model = build(version=version)
    want = np_forward(model)
    got = model.encode(model.map_ids(features()), training=False)
    np.testing.assert_allclose(got["logit"].numpy(), want["logit"], atol=1e-5)
    np.testing.assert_allclose(got["scenario_probs"].numpy(), want["probs"], atol=1e-5)
    np.testing.assert_allclose(got["repeat_prob"].numpy(), (want["a"] * want["p_r"]).sum(-1), atol=1e-5)
    served = model.explain(features())
    np.testing.assert_allclose(served["score"].numpy(), sig(want["logit"]), atol=1e-5)


@pytest.mark.parametrize("version", ["soft", "hard"])
def test_losses_match_numpy(version):
    model = build(version=version, beta=0.7)
    want = np_forward(model)
    terms = model.loss_terms(features(), training=False)
    p = np.clip(sig(want["logit"]), 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(float(tf.reduce_mean(terms["bce"])),
                               -(LABEL * np.log(p) + (1 - LABEL) * np.log(1 - p)).mean(), atol=1e-5)
    a = want["a"]
    kl = (np.where(a > 0, a * (np.log(np.where(a > 0, a, 1)) + np.log(K)), 0)).sum(-1).mean()
    np.testing.assert_allclose(float(terms["kl"]), kl, atol=1e-5)
    r = np.asarray(RAW["repeat_label"])
    np.testing.assert_allclose(terms["repeat"].numpy(), 0.7 * (r - (want["p_r"] * a).sum(-1)) ** 2, atol=1e-5)
    marginal = build(version=version, kl="marginal")
    mean = np_forward(marginal)["a"].mean(0)
    np.testing.assert_allclose(float(marginal.loss_terms(features())["kl"]),
                               (np.where(mean > 0, mean * (np.log(np.where(mean > 0, mean, 1)) + np.log(K)), 0)).sum(),
                               atol=1e-5)
    if version == "hard":   # training uses the Gumbel sample: KL on that sample, not on Q_s
        train_terms = model.loss_terms(features(), training=True)
        assert float(train_terms["kl"]) > 0.5 * np.log(K)


def test_training_step_updates_prototypes_by_eq14():
    model = build(alpha=0.25)
    model.compile(optimizer=tf.keras.optimizers.SGD(0.0))   # Step 2 moves nothing: Step 1 alone
    want = np_forward(model)
    old = f64(model.scenario.prototypes)
    model.fit(tf.data.Dataset.from_tensors(features()), epochs=1, verbose=0)
    mean = (want["a"].T @ want["proj"]) / want["a"].sum(0)[:, None]
    np.testing.assert_allclose(f64(model.scenario.prototypes), 0.75 * old + 0.25 * mean, atol=1e-5)


def test_predefined_scenarios_pick_the_head():
    model = build(learn_scenarios=False)
    got = model.encode(model.map_ids(features()))
    a = got["assignment"].numpy()
    want = np.eye(K)[[0, 1, 2, 0, 1, 0]]
    want[3] = 1.0 / K   # unknown segment: uniform
    np.testing.assert_allclose(a, want, atol=1e-7)
    assert float(model.loss_terms(features())["kl"]) == 0.0


@pytest.mark.parametrize("straight_through", [True, False])
def test_hard_training_step_runs_on_the_gumbel_sample(uniform_draws, straight_through):
    """One training step of the hard version (Sec. 3.2.4) on the Gumbel sample of Eq. (7),
    a = softmax((log Q_s + g) / tau) (straight-through, the default: its one-hot arg-max),
    rendered in numpy from the noise the step drew (every ``tf.random.uniform`` draw recorded,
    g = -log(-log u); the step runs eagerly so the draw can be read): the reported L_C (Eq. 8),
    every loss term (BCE on sum_k a_k z_k, the KL of Eq. (12), beta L_A) and the prototype update
    of Eq. (14) all read that sample, not Q_s."""
    tau = 1.0 if straight_through else 0.1   # straight-through: a relaxed sample far from one-hot,
    # so that feeding it forward instead of its arg-max fails the checks
    model = build(version="hard", alpha=0.25, beta=0.7, straight_through=straight_through, tau=tau)
    # a Q_s away from one-hot (build's is nearly one-hot, where a sample and Q_s coincide):
    # f_omega scaled down, the prototypes drawn around the projected samples
    model.scenario.omega.assign(0.2 * model.scenario.omega)
    proj = np_forward(model)["proj"]
    model.scenario.prototypes.assign(proj.mean(0) + proj.std(0) * np.random.default_rng(4).normal(size=(K, 5)))
    model.compile(optimizer=tf.keras.optimizers.SGD(0.0), run_eagerly=True)   # Step 2 moves nothing
    want = np_forward(model)
    assert want["probs"].max(-1).max() < 0.75
    old = f64(model.scenario.prototypes)
    uniform_draws.clear()
    tf.random.set_seed(7 if straight_through else 5)   # 7: a draw whose arg-max differs from Q_s's
    logs = model.fit(tf.data.Dataset.from_tensors(features()), epochs=1, verbose=0).history
    noise = [u for u in uniform_draws if tuple(u.shape) == (B, K)]
    assert len(noise) == 1   # one Gumbel draw for the step's forward pass
    g = -np.log(-np.log(f64(noise[0])))
    q, d = want["probs"], want["d"]
    a = np.exp((np.log(q) + g) / tau - ((np.log(q) + g) / tau).max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    if straight_through:
        assert np.abs(a - np.eye(K)[a.argmax(-1)]).max() > 0.1
        assert (a.argmax(-1) != q.argmax(-1)).any()   # so the arg-max of Q_s fails the checks
        a = np.eye(K)[a.argmax(-1)]
    assert np.abs(a - q).max() > 0.1   # the sample is not Q_s: the checks below tell them apart
    np.testing.assert_allclose(logs["clustering"][0], (a * d).sum(-1).mean(), rtol=1e-5)           # Eq. (8)
    p = np.clip(sig((a * want["z"]).sum(-1)), 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(logs["bce"][0], -(LABEL * np.log(p) + (1 - LABEL) * np.log(1 - p)).mean(), atol=1e-5)
    kl = np.where(a > 0, a * (np.log(np.where(a > 0, a, 1)) + np.log(K)), 0).sum(-1).mean()
    np.testing.assert_allclose(logs["kl"][0], kl, atol=1e-5)                                            # Eq. (12)
    r = np.asarray(RAW["repeat_label"])
    np.testing.assert_allclose(logs["repeat"][0], (0.7 * (r - (want["p_r"] * a).sum(-1)) ** 2).mean(), atol=1e-5)
    new = f64(model.scenario.prototypes)
    eq14 = lambda w: 0.75 * old + 0.25 * (w.T @ want["proj"]) / w.sum(0)[:, None]  # noqa: E731
    np.testing.assert_allclose(new, eq14(a), atol=1e-5)                                                 # Eq. (14)
    assert np.abs(eq14(q) - eq14(a)).max() > 1e-2
