"""IMN-Net's training and evaluation mechanics (tfrec_pkg/models/imn.py) on a tiny planted
resource-limited stream: which memory rows a step writes, time order across t-batches, the
per-epoch reset, one optimiser step per window, the resource state moving on purchases only,
every variant training with finite losses, the time-ordered full-ranking evaluation, the blocked
ranking across block boundaries, and truncated back-propagation (through the t-batches of a
window, detached between windows)."""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg.data.synthetic.resource_limited import resource_limited
from tfrec_pkg.data.tbatch_windows import WindowedStream
from tfrec_pkg.models import imn
from tfrec_pkg.models.imn import VARIANTS, IMNConfig, IMNNet, evaluate_stream

TINY = dict(hidden_dim=6, user_dim=5, item_dim=4, num_samples=6)


@pytest.fixture(scope="module")
def stream():
    return WindowedStream.from_stream(resource_limited(num_users=15, num_items=30, num_events=800, seed=1),
                                      parts=40)


def build(stream, seed=0, **changes):
    tf.keras.utils.set_random_seed(seed)
    model = IMNNet(IMNConfig(**(TINY | changes)), stream.vocab, num_features=stream.num_features)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    return model


def randomise_states(model, rng):
    for table in (model.user_state, model.limited_state, model.item_state):
        table.assign(rng.uniform(0.0, 1.0, table.shape).astype(np.float32))


def windows(stream, order="tbatch", splits=("train",)):
    return [{k: tf.constant(v) for k, v in w.items()} for w in stream.dataset(splits, order=order).as_numpy_iterator()]


def steps_of(window):
    splits = window["row_splits"].numpy()
    return [{k: v[lo:hi] for k, v in window.items() if k != "row_splits"} for lo, hi in zip(splits[:-1], splits[1:])]


def changed_rows(before, after):
    return set(np.flatnonzero(np.any(np.asarray(before) != np.asarray(after), axis=-1)).tolist())


def test_a_step_writes_only_its_users_and_items(stream):
    model = build(stream)
    randomise_states(model, np.random.default_rng(0))
    tables = model._tables()
    window = next(w for w in windows(stream) if len(w["row_splits"]) > 2)
    step = steps_of(window)[0]
    new, _, _, _ = model.process_step(tables, step)
    users, items = set(step["user"].numpy().tolist()), set(step["item"].numpy().tolist())
    assert changed_rows(tables[0], new[0]) == users                  # h^g
    assert changed_rows(tables[2], new[2]) == items                  # h_i
    assert changed_rows(tables[3][:, None], new[3][:, None]) <= users  # last item
    np.testing.assert_array_equal(new[3].numpy()[step["user"].numpy()], step["item"].numpy())


def test_a_training_window_writes_only_its_rows_and_takes_one_optimiser_step(stream):
    model = build(stream)
    randomise_states(model, np.random.default_rng(1))
    before = [t.numpy() for t in model._tables()]
    weights = [w.numpy() for w in model.trainable_variables]
    window = windows(stream)[3]
    model.train_step(window)
    assert int(model.optimizer.iterations) == 1
    assert changed_rows(before[0], model.user_state) <= set(window["user"].numpy().tolist())
    assert changed_rows(before[2], model.item_state) == set(window["item"].numpy().tolist())
    assert any(np.any(w != v.numpy()) for w, v in zip(weights, model.trainable_variables))


def test_states_are_carried_in_time_order_across_t_batches(stream):
    """A window equals its t-batches run one after the other on the tables the previous one
    wrote, and a later t-batch sees the earlier update (running it on the window's starting
    tables gives another state)."""
    model = build(stream)
    randomise_states(model, np.random.default_rng(2))
    window = next(w for w in windows(stream) if len(w["row_splits"]) > 3)
    start = model._tables()
    tables = start
    for step in steps_of(window):
        tables = model.process_step(tables, step)[0]
    model.run_window(window, learn=False, rank=False)
    for got, want in zip(model._tables(), tables):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)
    steps = steps_of(window)
    first_users = set(steps[0]["user"].numpy().tolist())
    later = next(s for s in steps[1:] if first_users & set(s["user"].numpy().tolist()))
    after_first = model.process_step(start, steps[0])[0]
    fresh = model.process_step(start, later)[0][0].numpy()
    carried = model.process_step(after_first, later)[0][0].numpy()
    user = sorted(first_users & set(later["user"].numpy().tolist()))[0]
    assert np.abs(fresh[user] - carried[user]).max() > 1e-4


def test_logged_loss_is_the_epochs_mean_window_loss(stream):
    model = build(stream)
    history = model.fit(stream.dataset("train"), epochs=1, verbose=0).history
    windows = sum(1 for _ in stream.dataset("train"))
    tracker = model._sum_trackers[0]
    assert windows > 1 and int(tracker.count.numpy()) == windows   # every window, not the last one
    assert history["loss"][0] == pytest.approx(float(tracker.result()))


def test_reset_states_restores_the_initial_memory(stream):
    model = build(stream)
    model.fit(stream.dataset("train"), epochs=1, verbose=0)
    assert np.abs(model.user_state.numpy()).sum() > 0
    model.reset_states()
    for table in (model.user_state, model.limited_state, model.item_state, model.last_item):
        assert not np.any(table.numpy())


def test_fit_takes_one_optimiser_step_per_window_and_resets_every_epoch(stream):
    model = build(stream)
    resets = []
    original = model.reset_states
    model.reset_states = lambda: (resets.append(1), original())[1]
    data = stream.dataset("train")
    model.fit(data, epochs=2, verbose=0)
    assert int(model.optimizer.iterations) == 2 * len(stream.window_steps(("train",)))
    assert len(resets) == 2


def test_the_resource_state_moves_on_purchases_only(stream):
    model = build(stream)
    randomise_states(model, np.random.default_rng(3))
    tables = model._tables()
    for window in windows(stream)[:10]:
        for step in steps_of(window):
            new = model.process_step(tables, step)[0]
            bought = step["user"].numpy()[step["is_purchase"].numpy() > 0]
            assert changed_rows(tables[1], new[1]) == set(bought.tolist())
            tables = new
    assert stream.columns["is_purchase"][stream.split == "train"].sum() > 0


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_trains_a_tiny_epoch_with_finite_losses(stream, variant):
    model = build(stream, variant=variant)
    history = model.fit(stream.dataset("train"), validation_data=stream.dataset("val", order="time"), epochs=1,
                        verbose=0).history
    for name, values in history.items():
        assert np.all(np.isfinite(values)), (name, values)
    use_resource, use_nce, use_embedding = VARIANTS[variant]
    assert (model.resource is not None) == use_resource and (model.mi_score is not None) == use_nce
    assert (history["nce"][0] > 0) == use_nce and (history["prediction"][0] > 0) == use_embedding
    assert 0.0 <= history["val_mrr"][0] <= 1.0


@pytest.mark.parametrize("online", [False, True])
def test_evaluation_ranks_every_test_interaction_and_trains_only_online(stream, online):
    model = build(stream, online_eval=online)
    model.fit(stream.dataset("train"), epochs=1, verbose=0)
    steps = int(model.optimizer.iterations)
    result = evaluate_stream(model, stream, "test")
    for name in ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "mrr"):
        assert 0.0 <= result[name] <= 1.0
    assert result["recall@10"] <= result["recall@20"] and result["ndcg@10"] <= result["ndcg@20"]
    assert result["n"] == int(np.sum(stream.split == "test")) and result["online_eval"] is online
    assert model.rank_metrics[-1].count.numpy() == result["n"]
    test_windows = len(stream.window_steps(("test",), order="time"))
    assert int(model.optimizer.iterations) == steps + (test_windows if online else 0)


def test_target_ranks_match_a_full_score_matrix(stream):
    """The blocked, self-tie-safe ranks equal the pessimistic rank in one [B, items] matrix."""
    model = build(stream)
    randomise_states(model, np.random.default_rng(4))
    tables = model._tables()
    step = steps_of(windows(stream, "time", ("test",))[0])[0]
    present = model.present(tables, step["user"], step["user_delta"], step["user_since_purchase"])
    items = tf.range(2, model.num_items, dtype=tf.int64)
    scores = model.candidate_scores(present, tables[2], items).numpy()
    target = scores[np.arange(len(scores)), step["item"].numpy() - 2]
    want = (scores >= target[:, None]).sum(-1)
    np.testing.assert_array_equal(model.target_ranks(present, tables[2], step["item"]).numpy(), want)


# the tiny stream's 29 items (indices 2..30) in blocks of: one item each; 7 (four full blocks and
# a last one of a single item); 10 (two full blocks and a partial one of 9); 28 (one full block
# and a single item); 29 (exactly one full block); 4096 (the default: one partial block)
@pytest.mark.parametrize("block", [1, 7, 10, 28, 29, 4096])
def test_blocked_target_ranks_match_a_full_score_matrix(stream, monkeypatch, block):
    """The blocked, self-tie-safe ranks equal the pessimistic rank in one [B, items] matrix,
    whatever the block size: every item is scored exactly once, across block boundaries and in
    a partial last block. Each of three users ranks every item, so their ranks are permutations
    of 1..items (an item skipped or counted twice at a boundary breaks that)."""
    monkeypatch.setattr(imn, "_ITEM_BLOCK", block)
    model = build(stream)
    randomise_states(model, np.random.default_rng(4))
    tables = model._tables()
    items = np.arange(2, model.num_items)
    assert len(items) == 29
    users, targets = np.repeat([2, 5, 9], len(items)), np.tile(items, 3)
    rng = np.random.default_rng(6)
    deltas = [tf.constant(np.repeat(rng.normal(size=3), len(items)).astype(np.float32)) for _ in range(2)]
    present = model.present(tables, tf.constant(users, tf.int64), *deltas)
    scores = model.candidate_scores(present, tables[2], tf.constant(items, tf.int64)).numpy()
    gaps = np.diff(np.sort(scores, -1), axis=-1)
    assert gaps.min() > 1e-4   # no near-ties: the blocked and the full computation order items alike
    target = scores[np.arange(len(scores)), targets - 2]
    want = (scores >= target[:, None]).sum(-1)
    got = model.target_ranks(present, tables[2], tf.constant(targets, tf.int64)).numpy()
    np.testing.assert_array_equal(got, want)
    for user_ranks in got.reshape(3, len(items)):
        np.testing.assert_array_equal(np.sort(user_ranks), np.arange(1, len(items) + 1))


def bptt_gradients(model, tables, steps, rng_state, counted_from=0, detach_each_step=False):
    """Gradients (numpy, one per trainable weight) of the summed Eq. (22) loss of
    ``steps[counted_from:]``, the states chained from ``tables`` (read as constants) through
    every step in order, each step's new states detached when ``detach_each_step``; the
    negatives replayed from ``rng_state``."""
    model.negative_rng.state.assign(rng_state)
    with tf.GradientTape() as tape:
        total = tf.constant(0.0)
        for k, step in enumerate(steps):
            tables, _, loss, _ = model.process_step(tables, step)
            if detach_each_step:
                tables = tuple(tf.stop_gradient(t) for t in tables)
            if k >= counted_from:
                total += loss
    grads = tape.gradient(total, model.trainable_variables)
    return [np.zeros(v.shape, np.float32) if g is None else tf.convert_to_tensor(g).numpy()
            for g, v in zip(grads, model.trainable_variables)]


def test_a_windows_gradient_flows_through_its_own_state_updates_only(stream):
    """Truncated back-propagation, detached per window: one training window's gradient is the
    gradient of its summed t-batch losses with the states chained through every t-batch (a
    later t-batch's loss reaches the cell weights through the earlier t-batches' updates), from
    the window's starting tables as constants (nothing flows into the window before)."""
    model = build(stream)
    model.compile(optimizer=tf.keras.optimizers.SGD(1.0))   # one step moves each weight by -gradient
    randomise_states(model, np.random.default_rng(5))
    ws = windows(stream)
    k = next(k for k in range(1, len(ws)) if min(len(steps_of(ws[k - 1])), len(steps_of(ws[k]))) >= 5)
    first, second = steps_of(ws[k - 1]), steps_of(ws[k])
    memory = {t.ref() for t in (model.user_state, model.limited_state, model.item_state, model.last_item)}
    assert not memory & {v.ref() for v in model.trainable_variables}
    rng_before_first, tables_before_first = model.negative_rng.state.numpy(), model._tables()
    model.run_window(ws[k - 1], learn=False, rank=False)
    rng, tables = model.negative_rng.state.numpy(), model._tables()
    weights = [v.numpy() for v in model.trainable_variables]
    model.train_step(ws[k])
    got = [w - v.numpy() for w, v in zip(weights, model.trainable_variables)]
    for v, w in zip(model.trainable_variables, weights):
        v.assign(w)

    chained = bptt_gradients(model, tables, second, rng)
    names = [v.name for v in model.trainable_variables]
    for name, g, want in zip(names, got, chained):
        np.testing.assert_allclose(g, want, atol=1e-5, rtol=1e-4, err_msg=name)
    per_step = bptt_gradients(model, tables, second, rng, detach_each_step=True)
    across = bptt_gradients(model, tables_before_first, first + second, rng_before_first, counted_from=len(first))
    grads = dict(zip(names, zip(got, per_step, across)))
    for name in ("mrrnn/user_update/kernel:0", "mrrnn/item_update/kernel:0"):
        g, step_by_step, two_windows = grads[name]
        # detaching the states after every t-batch drops most of the cell's gradient ...
        assert np.abs(g - step_by_step).max() > 0.1 * np.abs(g).max(), name
        # ... and chaining them on from the window before would add to it
        assert np.abs(g - two_windows).max() > 0.05 * np.abs(g).max(), name
    # h^l enters a loss only through the t-batches after its update: the resource cell learns
    # through the chained states alone
    g, step_by_step, _ = grads["resource/limited_update/kernel:0"]
    assert not np.any(step_by_step) and np.abs(g).max() > 1e-3
