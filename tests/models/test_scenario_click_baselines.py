"""MuSENet's single-scenario baselines on its own rows (tfrec_pkg/models/baselines/scenario_click.py):
each model's whole forward pass against an independent numpy rendering that reads its weights
(<= 1e-5), training through the library's trainer on planted scenario data, and the registry.

Mutations tried (each fails test_forward_matches_numpy): the behaviour mean over padded slots;
the context left out of x; DIN pooled with softmax instead of DIN's sum; the wide part without
the item x slot cross; DCN-V2's cross as x0 * (W x) without the residual + x; the cross layers
fed x0 instead of x_l. PLE (test_ple_matches_numpy): the task gates without the shared experts;
an unknown predefined scenario scored by tower 0 instead of the towers' mean; the shared branch
not carried to the next level."""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data.synthetic import scenarios
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.models import registry
from tfrec_pkg.models.baselines.scenario_click import (ScenarioBaseModel, ScenarioClickConfig, ScenarioDCNV2,
                                                       ScenarioDIN, ScenarioWideDeep)
from tfrec_pkg.training import train

from tests.models.reference_weights import randomize
from tests.models.test_musenet_reference import RAW, VOCAB, emb, features, np_din, np_inputs, sig

MODELS = {"scenario_base_model": ScenarioBaseModel, "scenario_din": ScenarioDIN,
          "scenario_wide_deep": ScenarioWideDeep, "scenario_dcn_v2": ScenarioDCNV2}
CONFIG = ScenarioClickConfig(max_history=4, user_dim=3, item_dim=4, category_dim=3, profile_dim=2, mlp_units=(6, 5),
                             attention_units=(5, 3), num_cross=2)


def dense(layer, x):
    return x @ layer.kernel.numpy().astype(np.float64) + layer.bias.numpy()


def np_logit(name, model):
    p_u, b_t, hist, mask, mean, o_u = np_inputs(model)
    x = np.concatenate([p_u, mean, b_t, o_u], -1)
    if name == "scenario_din":
        x = np.concatenate([p_u, np_din(model.attention, b_t, hist, mask), b_t, o_u], -1)
    if name == "scenario_dcn_v2":
        x0 = x
        for layer in model.cross:
            x = x0 * dense(layer._dense, x) + x
    for layer in model.mlp:
        x = np.maximum(dense(layer, x), 0.0)
    logit = dense(model.logit_layer, x)[:, 0]
    if name == "scenario_wide_deep":
        for feature, layer in model.wide_ids.items():
            vocab = next(s.vocabulary for s in model.feature_spec if s.name == feature)
            logit = logit + emb(layer, vocab, RAW[feature])[:, 0]
        item, slot = VOCAB["item"].lookup(np.asarray(RAW["item_id"])), VOCAB["slot"].lookup(np.asarray(RAW["context_slot"]))
        logit = logit + model.wide_cross.embeddings.numpy()[(item * 1_000_003 + slot) % model.cross_buckets, 0]
    return logit


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_matches_numpy(name):
    model = MODELS[name](CONFIG, VOCAB)
    batch = {k: v for k, v in features().items() if k != "repeat_label"}
    model(batch)
    randomize(model, seed=4, positive_bias_scope="/mlp_")
    want = np_logit(name, model)
    np.testing.assert_allclose(model(batch).numpy(), sig(want), atol=1e-5)
    y = batch["label"].numpy()
    bce = np.maximum(want, 0) - want * y + np.log1p(np.exp(-np.abs(want)))   # from logits, stable
    np.testing.assert_allclose(model.compute_loss(batch).numpy(), bce.mean(), rtol=1e-4)


def test_registered_outside_the_demo():
    from tfrec_pkg.models.baselines.ple import PLE

    for name, cls in {**MODELS, "ple": PLE}.items():
        entry = registry.entry(name)
        assert entry.model_class is cls and not entry.in_demo


@pytest.mark.parametrize("name", ["scenario_dcn_v2", "ple"])   # the claims' strongest baselines
def test_trains_on_planted_scenarios(name):
    from tfrec_pkg.models.baselines.ple import PLE, PLEConfig

    splits = scenarios(num_users=120, num_items=100, num_categories=8, impressions_per_user=20, max_history=4,
                       seed=3).splits()
    tf.keras.utils.set_random_seed(0)
    cls, config = (PLE, PLEConfig(**CONFIG.to_dict())) if name == "ple" else (MODELS[name], CONFIG)
    model = cls(config.replace(epochs=3, learning_rate=1e-2, batch_size=128), splits[0].vocab)
    history = train(model, splits[0], splits[1], verbose=0, patience=2)
    assert history.history["bce"][-1] < history.history["bce"][0]
    assert max(history.history["val_auc"]) > 0.55    # learns the planted signal (tiny data: 2k rows)
    assert np.isfinite(evaluate(model, splits[2], "pointwise").iloc[0]["logloss"])
    assert "repeat_label" not in {s.name for s in model.feature_spec}


def np_mlp(layers, x):
    for layer in layers:
        x = np.maximum(dense(layer, x), 0.0)
    return x


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_ple_matches_numpy():
    from tfrec_pkg.models.baselines.ple import PLE, PLEConfig

    cfg = PLEConfig(**{k: getattr(CONFIG, k) for k in ("max_history", "user_dim", "item_dim", "category_dim",
                                                       "profile_dim")},
                    num_scenarios=3, num_levels=2, shared_experts=2, specific_experts=1, expert_units=(5,),
                    tower_units=(4,))
    model = PLE(cfg, VOCAB)
    batch = {k: v for k, v in features().items() if k != "repeat_label"}
    model(batch)
    randomize(model, seed=6, positive_bias_scope="/l")
    p_u, b_t, _, _, mean, o_u = np_inputs(model)
    x0 = np.concatenate([p_u, mean, b_t, o_u], -1)
    tasks, shared = [x0] * 3, x0
    for level in range(2):
        ex, gt = model.experts[level], model.gates[level]
        s_out = [np_mlp(e, shared) for e in ex["shared"]]
        t_out = [[np_mlp(e, tasks[t]) for e in ex["task"][t]] for t in range(3)]
        new = []
        for t in range(3):
            g = np_softmax(dense(gt["task"][t], tasks[t]))
            new.append(np.einsum("bn,nbd->bd", g, np.stack(t_out[t] + s_out)))
        if "shared" in gt:
            g = np_softmax(dense(gt["shared"], shared))
            shared = np.einsum("bn,nbd->bd", g, np.stack([o for outs in t_out for o in outs] + s_out))
        tasks = new
    logits = np.stack([dense(tower[-1], np_mlp(tower[:-1], tasks[t]))[:, 0] for t, tower in enumerate(model.towers)], -1)
    segment = VOCAB["scenario"].lookup(np.asarray(RAW["predefined_scenario"])) - 2
    want = np.where((segment >= 0) & (segment < 3), logits[np.arange(len(segment)), np.clip(segment, 0, 2)],
                    logits.mean(-1))
    np.testing.assert_allclose(model(batch).numpy(), sig(want), atol=1e-5)
    assert registry.entry("ple").planted_config().num_scenarios == 3
