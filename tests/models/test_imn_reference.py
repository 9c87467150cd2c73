"""Whole-model reference for one IMN-Net t-batch step (tfrec_pkg/models/imn.py): the model's
``process_step`` and ranking scores against a numpy rendering composed from the layers'
already-tested numpy equations (tests/layers/test_mrrnn.py: Eqs. 1-2, 6, 7-10, 11;
tests/layers/test_mutual_information.py: Eq. 21), on random weights and random memory, with a
t-batch holding purchases and clicks and users whose previous item is a real item.

Pinned: the projected states (Eqs. 8, 10 with the user's and the purchase clock), j~ (Eq. 11 from
the previous item's state and static embedding), c_t (Eq. 15), the new h^g, h_i (Eqs. 1-2 from
the old states), h^l (Eq. 6 from the new states, purchases only), the last-item table, each loss
term (Eqs. 20, 21 with the model's own negatives, 22 drift terms) and the Eq. (22) total with
distinct lambdas, and the ranking scores over all items (Eq. 23 with log f_1). IMN-Net* (no
resource branch) is pinned too: f = h^g and h^l untouched.

Mutations of imn.py tried by hand, one at a time (each failed the named tests):
* Eq. (11) / (15) fed a fixed item row instead of the user's previous item -> both variants
* the positive of Eq. (16) built from the old item state h_i(t) instead of h_i(t+1) -> both
* the user and item drift terms swapped -> both
* h^l projected with the user's clock (user_delta) instead of the purchase clock -> imn_net
* Eq. (6) fed the old general state h^g(t-1) instead of the updated one -> imn_net
"""
import sys
from pathlib import Path

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data.synthetic.resource_limited import resource_limited
from tfrec_pkg.data.tbatch_windows import WindowedStream
from tfrec_pkg.layers.mutual_information import sample_negative_items
from tfrec_pkg.models.imn import IMNConfig, IMNNet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers"))
from test_mrrnn import D, E, F, np_mrrnn, np_predictor, np_projection, np_resource  # noqa: E402
from test_mutual_information import np_nce  # noqa: E402

ATOL = 2e-4  # float32 model against float64 numpy
LAMBDAS = dict(lambda_m=0.7, lambda_n=1.3, lambda_u=0.4, lambda_i=0.9)


@pytest.fixture(scope="module")
def stream():
    # F = 1 + num_categories feature columns, matching the layer tests' widths
    return WindowedStream.from_stream(resource_limited(num_users=12, num_items=25, num_events=400,
                                                       num_categories=F - 1, buy_prob=0.6, seed=2), parts=10)


def purchase_and_click_step(stream):
    for rows, splits in stream.window_steps(("train",)):
        for lo, hi in zip(splits[:-1], splits[1:]):
            bought = stream.columns["is_purchase"][rows[lo:hi]]
            if hi - lo >= 3 and 0 < bought.sum() < hi - lo:
                return {k: tf.constant(v[rows[lo:hi]]) for k, v in stream.columns.items()}
    raise AssertionError("no t-batch with both purchases and clicks")


def randomised_model(stream, variant):
    tf.keras.utils.set_random_seed(0)
    model = IMNNet(IMNConfig(variant=variant, hidden_dim=D, user_dim=E, item_dim=E, num_samples=6, **LAMBDAS),
                   stream.vocab, num_features=stream.num_features)
    rng = np.random.default_rng(1)
    for w in model.trainable_variables:
        w.assign(rng.normal(0.0, 0.3 if "time_projection" in w.name else 0.7, w.shape))
    for table in (model.user_state, model.limited_state, model.item_state):
        table.assign(rng.uniform(0.0, 1.0, table.shape))
    model.last_item.assign(rng.integers(2, model.num_items, model.num_users))
    return model


def norm(x):
    return np.sqrt((x ** 2).sum(-1))


@pytest.mark.parametrize("variant", ["imn_net", "imn_net_star"])
def test_one_t_batch_step_matches_numpy(stream, variant):
    model = randomised_model(stream, variant)
    step = purchase_and_click_step(stream)
    users_t, limited_t, items_t, last_t = (t.numpy().astype(np.float64) for t in model._tables())
    rng_state = model.negative_rng.state.numpy()
    tables, terms, loss, (general, j_hat, context) = model.process_step(model._tables(), step)
    model.negative_rng.state.assign(rng_state)  # replay the step's draw of negatives
    neg = sample_negative_items(model.negative_rng, len(step["user"]), model.num_items, 5, first_item=2).numpy()

    s = {k: v.numpy().astype(np.float64) if v.dtype != tf.int64 else v.numpy() for k, v in step.items()}
    u, i, prev = s["user"], s["item"], model.last_item.numpy()[s["user"]]
    static_u, static_i = (e.embeddings.numpy().astype(np.float64) for e in (model.user_static, model.item_static))
    hu, hl, hi, hprev = users_t[u], limited_t[u], items_t[i], items_t[prev]
    ubar, ibar, prevbar = static_u[u], static_i[i], static_i[prev]
    wt = model.projection.kernel.numpy()
    g = np_projection(wt, hu, s["user_delta"])                                              # Eq. (8)
    resource = variant == "imn_net"
    l = np_projection(wt, hl, s["user_since_purchase"]) if resource else np.zeros_like(hl)  # Eq. (10)
    j = np_predictor(model.predictor, g, l, ubar, hprev, prevbar, "add" if resource else "general")  # Eq. (11)
    new = np_mrrnn(model.mrrnn, hu, hi, s["user_delta"], s["item_delta"], s["features"])    # Eqs. (1)-(2)
    nu, ni = new[:, :D], new[:, D:]
    if resource:
        nl = np_resource(model.resource, hl, nu, ni, ubar, ibar, s["user_since_purchase"], s["features"])  # Eq. (6)
        nl = np.where(s["is_purchase"][:, None] > 0, nl, hl)
    else:
        nl = hl
    c = np.concatenate([g + l, ubar, hprev, prevbar], -1)                                 # Eq. (15)
    w1 = model.mi_score.kernel.numpy()
    pos = np.concatenate([nu, ni, ibar], -1)[:, None]                                      # Eq. (16)
    negs = np.concatenate([np.repeat(nu[:, None], 5, 1), items_t[neg], static_i[neg]], -1)  # Eq. (17)
    scores = np.einsum("bnx,xc,bc->bn", np.concatenate([pos, negs], 1), w1, c)            # Eq. (19), log f_1
    want = {"prediction": norm(j - ibar), "nce": np_nce(scores), "user_drift": norm(nu - hu),
            "item_drift": norm(ni - hi)}
    total = sum(LAMBDAS[f"lambda_{k}"] * want[t].mean() for k, t in
                (("m", "prediction"), ("n", "nce"), ("u", "user_drift"), ("i", "item_drift")))   # Eq. (22)

    close = lambda got, ref: np.testing.assert_allclose(np.asarray(got), ref, atol=ATOL, rtol=1e-4)  # noqa: E731
    close(general, g)
    close(j_hat, j)
    close(context, c)
    for name in want:
        close(terms[name], want[name])
    close(loss, total)
    close(tables[0].numpy()[u], nu)
    close(tables[1].numpy()[u], nl)
    close(tables[2].numpy()[i], ni)
    np.testing.assert_array_equal(tables[3].numpy()[u], i)

    items = np.arange(2, model.num_items)
    cand = np.concatenate([np.repeat(g[:, None], len(items), 1), np.repeat(items_t[items][None], len(u), 0),
                           np.repeat(static_i[items][None], len(u), 0)], -1)
    ranking = (-0.9 * norm(j[:, None] - static_i[items][None])
               + 0.1 * np.einsum("bnx,xc,bc->bn", cand, w1, c))                            # Eq. (23), log f_1
    close(model.candidate_scores((general, j_hat, context), model.item_state.read_value(), tf.constant(items)),
          ranking)
