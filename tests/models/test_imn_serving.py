"""IMN-Net's serving contract (tfrec_pkg/models/imn.py, serving section): ``update_state`` is
process_step on given states, folding it over a stream in a fresh process reproduces the memory
that run_window writes, ``score_state`` on the folded states equals scoring from the memory,
``top_k`` / ``serving_default`` rank with the export-time snapshot, bad requests fail with a
clear error, and the NRT loop (tfrec_pkg/serving/nrt) keeps user and item states in the
in-memory and the Redis store with the same results. The signatures and the NRT loop take RAW
time deltas (``time_deltas``); the in-process side is fed the z-scores of
``interactions.standardise`` computed here, so the model's saved statistics and its in-graph
standardisation are checked against an independent rendering.

Mutations tried, each caught: update_state with every event read as a click (the resource
branch never moves), with the user and item deltas swapped, top_k with the candidates' states
read as zeros, the NRT loop writing the user states only (later events read stale item states),
the signatures standardising with mean 0 / std 1 (raw deltas read as z-scores)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg import export
from tfrec_pkg.data.interactions import DELTAS, seconds, standardise, time_deltas
from tfrec_pkg.data.synthetic.resource_limited import resource_limited
from tfrec_pkg.data.tbatch_windows import WindowedStream
from tfrec_pkg.features import NUM_RESERVED
from tfrec_pkg.models.imn import IMNConfig, IMNNet
from tfrec_pkg.serving.nrt import EventsNotApplied, InMemoryStateStore, NRTUserStates

TINY = dict(hidden_dim=6, user_dim=5, item_dim=4, num_samples=6)
EVENT_COLUMNS = DELTAS + ("is_purchase", "features")   # update_state's
NRT_COLUMNS = ("timestamp", "is_purchase", "features")  # the NRT loop's: it keeps the times


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A model whose memory has run through the training split, exported (the snapshot)."""
    stream = WindowedStream.from_stream(resource_limited(num_users=15, num_items=30, num_events=800, seed=1),
                                        parts=40)
    tf.keras.utils.set_random_seed(0)
    model = IMNNet(IMNConfig(**TINY), stream.vocab, **stream.splits()[0].model_options)
    spec = stream.dataset("train").element_spec
    run = tf.function(lambda w: model.run_window(w, learn=False, rank=False), input_signature=[spec])
    for window in stream.dataset("train", order="time"):
        run(window)
    path = export.save(model, str(tmp_path_factory.mktemp("imn") / "imn"))
    snapshot = [t.numpy() for t in (*model._tables(), *model._clocks())]   # the 4 tables, then the clocks
    return stream, model, path, snapshot, run


def restore(model, snapshot):
    model._store([tf.constant(t) for t in snapshot[:4]])
    for clock, value in zip(model._clocks(), snapshot[4:]):
        clock.assign(value)


def raw(vocab, indices):
    ids = np.asarray(vocab.ids)
    return ids[np.asarray(indices) - NUM_RESERVED]


def delta_renderings(stream):
    """(raw deltas, their z-scores by interactions.standardise on the training rows, the
    statistics): the serving side's inputs and the in-process side's, computed independently
    of the model."""
    values = time_deltas(stream.source)
    z, stats = standardise(values, stream.split == "train")
    return ({k: values[k].to_numpy(np.float32) for k in DELTAS}, {k: z[k].to_numpy(np.float32) for k in DELTAS},
            stats)


def zscore(stats, name, values):
    mean, std = stats[name]
    return ((np.asarray(values, np.float64) - mean) / std).astype(np.float32)


def val_steps(stream):
    """The validation interactions as t-batch steps of raw events (raw ids, raw deltas), in
    processing order; ``z`` holds the same steps' standardised deltas."""
    raw_deltas, z, _ = delta_renderings(stream)
    out = []
    for rows, splits in stream.window_steps(("val",)):
        for lo, hi in zip(splits[:-1], splits[1:]):
            r = rows[lo:hi]
            step = {"user_id": raw(stream.vocab["user"], stream.columns["user"][r]),
                    "item_id": raw(stream.vocab["item"], stream.columns["item"][r])}
            step |= {k: raw_deltas[k][r] for k in DELTAS}
            step |= {k: stream.columns[k][r] for k in ("is_purchase", "features")}
            step["timestamp"] = seconds(stream.source.frame["timestamp"])[r]
            out.append(step | {"z": {k: z[k][r] for k in DELTAS}})
    return out


def run_val(stream, model, run):
    for window in stream.dataset("val", order="tbatch"):
        run(window)


def test_update_state_is_process_step_on_given_states(served):
    stream, model, _, snapshot, _ = served
    restore(model, snapshot)
    tables = model._tables()
    purchases = 0
    for step in val_steps(stream):
        u = stream.vocab["user"].lookup(step["user_id"])
        i = stream.vocab["item"].lookup(step["item_id"])
        index_step = ({"user": tf.constant(u), "item": tf.constant(i)}
                      | {k: tf.constant(step["z"][k]) for k in DELTAS}
                      | {k: tf.constant(step[k]) for k in ("is_purchase", "features")})
        new_tables = model.process_step(tables, index_step)[0]
        g, lim, h = model.update_state(step["user_id"], step["item_id"], tf.gather(tables[0], u),
                                       tf.gather(tables[1], u), tf.gather(tables[2], i),
                                       *[step[k] for k in EVENT_COLUMNS])
        np.testing.assert_allclose(g.numpy(), tf.gather(new_tables[0], u).numpy(), atol=1e-6)
        np.testing.assert_allclose(lim.numpy(), tf.gather(new_tables[1], u).numpy(), atol=1e-6)
        np.testing.assert_allclose(h.numpy(), tf.gather(new_tables[2], i).numpy(), atol=1e-6)
        purchases += int(step["is_purchase"].sum())
        tables = new_tables
    assert purchases > 0, "no purchase in the events: the resource branch went untested"


FRESH = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf
    m = tf.saved_model.load(sys.argv[1])
    ev = np.load(sys.argv[2])
    sig = m.signatures
    users, items = ev["all_users"], ev["all_items"]
    start = sig["initial_state"](user_id=tf.constant(users))
    U = {u: {k: start[k].numpy()[n] for k in start} for n, u in enumerate(users)}
    I = {i: s for i, s in zip(items, sig["initial_item_state"](item_id=tf.constant(items))["item_state"].numpy())}
    q = {k: tf.constant(ev["q_" + k]) for k in ("user_id", "user_delta", "user_since_purchase")}
    q_state = {k: tf.constant(np.stack([U[u][k] for u in ev["q_user_id"]])) for k in ("general_state", "limited_state")}
    q_last = np.array([U[u]["last_item_id"] for u in ev["q_user_id"]])
    q_state |= {"last_item_id": tf.constant(q_last), "last_item_state": tf.constant(
        np.stack([I.get(i, np.zeros_like(I[items[0]])) for i in q_last]))}
    top = sig["top_k"](**q, **q_state, k=tf.constant(ev["q_k"]))
    default = sig["serving_default"](**q, **q_state, item_ids=tf.constant(ev["q_items"]))["scores"].numpy()
    bounds = ev["bounds"]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        u, i = ev["user_id"][lo:hi], ev["item_id"][lo:hi]
        out = sig["update_state"](
            user_id=tf.constant(u), item_id=tf.constant(i),
            general_state=tf.constant(np.stack([U[x]["general_state"] for x in u])),
            limited_state=tf.constant(np.stack([U[x]["limited_state"] for x in u])),
            item_state=tf.constant(np.stack([I[x] for x in i])),
            **{k: tf.constant(ev[k][lo:hi]) for k in ("user_delta", "item_delta", "user_since_purchase",
                                                       "is_purchase", "features")})
        for n, (x, y) in enumerate(zip(u, i)):
            U[x] = {k: out[k].numpy()[n] for k in ("general_state", "limited_state", "last_item_id")}
            I[y] = out["item_state"].numpy()[n]
    q_state = {k: tf.constant(np.stack([U[u][k] for u in ev["q_user_id"]])) for k in ("general_state", "limited_state")}
    q_last = np.array([U[u]["last_item_id"] for u in ev["q_user_id"]])
    q_state |= {"last_item_id": tf.constant(q_last), "last_item_state": tf.constant(np.stack([I[i] for i in q_last]))}
    live = sig["score_state"](**q, **q_state, item_ids=tf.constant(ev["q_items"]), item_states=tf.constant(
        np.stack([[I[i] for i in row] for row in ev["q_items"]])))["scores"].numpy()
    assert "tfrec_pkg" not in sys.modules
    np.savez(sys.argv[3], top_ids=top["item_ids"].numpy(), top_scores=top["scores"].numpy(), default=default,
             live=live, general=np.stack([U[u]["general_state"] for u in users]),
             limited=np.stack([U[u]["limited_state"] for u in users]),
             last=np.array([U[u]["last_item_id"] for u in users]), items=np.stack([I[i] for i in items]))
""")


def test_fold_of_update_state_in_a_fresh_process_reproduces_the_memory(served, tmp_path):
    """The SavedModel in a fresh process: top_k / serving_default on the snapshot's states equal
    brute-force memory scoring in this process; folding update_state over the validation
    events equals the memory run_window writes; score_state with the folded user and item
    states equals scoring from that memory."""
    stream, model, path, snapshot, run = served
    restore(model, snapshot)
    steps = val_steps(stream)
    events = {k: np.concatenate([s[k] for s in steps]) for k in steps[0] if k != "z"}
    _, _, stats = delta_renderings(stream)
    bounds = np.r_[0, np.cumsum([len(s["user_id"]) for s in steps])]
    rng = np.random.default_rng(0)
    users, items = np.asarray(stream.vocab["user"].ids), np.asarray(stream.vocab["item"].ids)
    q_users = users[:5]
    # raw times since the last interaction / purchase, around the training rows' scale
    query = {"q_user_id": q_users,
             "q_user_delta": rng.uniform(0, 3 * stats["user_delta"][0], size=5).astype(np.float32),
             "q_user_since_purchase": rng.uniform(0, 3 * stats["user_since_purchase"][0], size=5).astype(np.float32),
             "q_k": np.array([1, 3, 5, 30, 2]), "q_items": items[rng.integers(0, len(items), (5, 4))]}
    np.savez(tmp_path / "ev.npz", **events, bounds=bounds, all_users=users, all_items=items, **query)
    subprocess.run([sys.executable, "-c", FRESH, path, str(tmp_path / "ev.npz"), str(tmp_path / "out.npz")],
                   check=True, cwd=str(tmp_path))
    out = np.load(tmp_path / "out.npz")

    # before the events: rank and score from the snapshot, as the memory does
    tables = model._tables()
    u = stream.vocab["user"].lookup(q_users)
    q_z = (zscore(stats, "user_delta", query["q_user_delta"]),
           zscore(stats, "user_since_purchase", query["q_user_since_purchase"]))
    present = model.present(tables, tf.constant(u), *q_z)
    every = model.candidate_scores(present, tables[2], tf.range(NUM_RESERVED, model.num_items, dtype=tf.int64)).numpy()
    order = np.argsort(-every, axis=1, kind="stable")
    for row, k in enumerate(query["q_k"]):
        k_eff = min(k, len(items))
        np.testing.assert_array_equal(out["top_ids"][row, :k_eff], items[order[row, :k_eff]])
        np.testing.assert_allclose(out["top_scores"][row, :k_eff], every[row, order[row, :k_eff]], atol=1e-5)
        assert (out["top_ids"][row, k_eff:] == stream.vocab["item"].padding).all()
    cand = stream.vocab["item"].lookup(query["q_items"])
    np.testing.assert_allclose(out["default"], model.candidate_scores(present, tables[2], tf.constant(cand)).numpy(),
                               atol=1e-5)

    # the fold equals the memory after the same events
    run_val(stream, model, run)
    user_t, limited_t, item_t, last_t = [t.numpy() for t in model._tables()]
    rows = stream.vocab["user"].lookup(users)
    np.testing.assert_allclose(out["general"], user_t[rows], atol=1e-5)
    np.testing.assert_allclose(out["limited"], limited_t[rows], atol=1e-5)
    np.testing.assert_allclose(out["items"], item_t[stream.vocab["item"].lookup(items)], atol=1e-5)
    assert np.abs(out["limited"] - snapshot[1][rows]).max() > 1e-4, "no limited state moved"
    last = last_t[rows]
    np.testing.assert_array_equal(out["last"], np.where(last >= NUM_RESERVED, raw(stream.vocab["item"],
                                                                                  np.maximum(last, 2)), -1))
    present = model.present(model._tables(), tf.constant(u), *q_z)
    np.testing.assert_allclose(out["live"], model.candidate_scores(present, item_t, tf.constant(cand)).numpy(),
                               atol=1e-5)
    restore(model, snapshot)


def signature_inputs(model, stream, n=2, **changes):
    d = model.config.hidden_dim
    base = {"user_id": np.asarray(stream.vocab["user"].ids[:n]), "general_state": np.zeros((n, d), np.float32),
            "limited_state": np.zeros((n, d), np.float32), "last_item_id": np.full(n, -1),
            "last_item_state": np.zeros((n, d), np.float32), "user_delta": np.zeros(n, np.float32),
            "user_since_purchase": np.zeros(n, np.float32), "k": np.full(n, 3)}
    return {k: tf.constant(v) for k, v in (base | changes).items()}


def test_unknown_ids_map_to_oov_and_k_is_per_row(served):
    stream, model, _, snapshot, _ = served
    restore(model, snapshot)
    sigs = export.serving_signatures(model)
    out = sigs["top_k"](**signature_inputs(model, stream, user_id=np.array([99_999_999, 1_000_001]),
                                           last_item_id=np.array([77, -1]), k=np.array([1, 4])))
    ids = out["item_ids"].numpy()
    assert ids.shape == (2, 4) and (ids[0, 1:] == -1).all() and np.isinf(out["scores"].numpy()[0, 1:]).all()
    assert set(ids[1]) <= set(stream.vocab["item"].ids)
    d = model.config.hidden_dim
    new = sigs["update_state"](
        user_id=tf.constant([99_999_999], tf.int64), item_id=tf.constant([123], tf.int64),
        general_state=tf.zeros([1, d]),
        limited_state=tf.zeros([1, d]), item_state=tf.zeros([1, d]),
        **{k: tf.constant([0.5]) for k in DELTAS}, is_purchase=tf.constant([1.0]),
        features=tf.zeros([1, stream.num_features]))
    assert np.isfinite(new["general_state"].numpy()).all() and new["last_item_id"].numpy().tolist() == [123]
    first_and_unknown = tf.constant([stream.vocab["item"].ids[0], 5], tf.int64)
    snap = sigs["initial_item_state"](item_id=first_and_unknown)
    np.testing.assert_array_equal(snap["item_state"].numpy(), snapshot[2][[NUM_RESERVED, 1]])
    assert snap["last_time"].numpy()[1] == stream.time_origin   # unknown: the clock's start
    start = sigs["initial_state"](user_id=tf.constant([99_999_999], tf.int64))
    assert start["last_time"].numpy().tolist() == start["last_purchase_time"].numpy().tolist() == [stream.time_origin]


def test_the_memory_keeps_last_times_for_serving(served):
    """The clocks after the training windows (the export's snapshot) equal the stream's last
    times per user, per user's purchases and per item; a reset puts them back at the origin."""
    stream, model, _, snapshot, _ = served
    restore(model, snapshot)
    user_last, user_bought, item_last = last_times(stream, "train")
    users, items = np.asarray(stream.vocab["user"].ids), np.asarray(stream.vocab["item"].ids)
    u, i = stream.vocab["user"].lookup(users), stream.vocab["item"].lookup(items)
    origin = stream.time_origin
    clocks = [c.numpy().copy() for c in model._clocks()]
    np.testing.assert_array_equal(clocks[0][u], [user_last.get(x, origin) for x in users])
    np.testing.assert_array_equal(clocks[1][u], [user_bought.get(x, origin) for x in users])
    np.testing.assert_array_equal(clocks[2][i], [item_last.get(x, origin) for x in items])
    assert len(user_bought) > 0 and (clocks[1][u] < clocks[0][u]).any()
    model.reset_states()
    assert all((c.numpy() == origin).all() for c in model._clocks())
    restore(model, snapshot)


@pytest.mark.parametrize("bad, message", [
    ({"k": np.array([3, 0])}, "k must be >= 1"),
    ({"user_delta": np.array([0.0, np.nan], np.float32)}, "'user_delta' must be finite"),
    ({"user_since_purchase": np.array([0.0, -0.3], np.float32)}, "'user_since_purchase' must be >= 0: a raw"),
    ({"last_item_id": np.full(3, -1)}, "'last_item_id' must have as many rows as 'user_id'"),
])
def test_bad_requests_fail_with_a_clear_error(served, bad, message):
    stream, model, _, _, _ = served
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        model.top_k(**signature_inputs(model, stream, **bad))


def test_bad_shapes_and_dtypes_are_refused_by_the_signatures(served):
    stream, model, _, _, _ = served
    sigs = export.serving_signatures(model)
    wide = signature_inputs(model, stream, general_state=np.zeros((2, model.config.hidden_dim + 1), np.float32))
    refused = (ValueError, TypeError, tf.errors.InvalidArgumentError)
    with pytest.raises(refused, match="general_state.{0,2} must have hidden_dim"):
        sigs["top_k"](**wide)
    with pytest.raises(TypeError, match="expects int64 ids, got float32"):
        model.initial_state(tf.constant([1.0]))
    with pytest.raises(ValueError, match="pass features"):
        model.update_state(*[tf.zeros([1])] * 2, *[tf.zeros([1, 6])] * 3, *[tf.zeros([1])] * 4)


def last_times(stream, upto: str):
    """Independent rendering of the clocks after the splits up to ``upto``: per raw user its
    last time and last purchase time, per raw item its last time (the time origin before any)."""
    frame = stream.source.frame[np.isin(stream.split, SPLITS[:SPLITS.index(upto) + 1])]
    t = pd.Series(seconds(frame["timestamp"]), index=frame.index)
    bought = frame["action"] == 1
    return (t.groupby(frame["user_id"]).max().to_dict(), t[bought].groupby(frame["user_id"][bought]).max().to_dict(),
            t.groupby(frame["item_id"]).max().to_dict())


SPLITS = ("train", "val", "test")


def _nrt_replay(served, store):
    """The NRT loop over the loaded export, one t-batch per on_events call with the events'
    times: the stored states equal the memory after run_window, the stored times the stream's
    last times, and its scores at a time ``now`` equal memory scoring with the deltas to it."""
    stream, model, path, snapshot, run = served
    restore(model, snapshot)
    nrt = NRTUserStates(tf.saved_model.load(path), store)
    for step in val_steps(stream):
        nrt.on_events(step["user_id"], step["item_id"], **{k: step[k] for k in NRT_COLUMNS})
    run_val(stream, model, run)
    users = np.asarray(stream.vocab["user"].ids[:6])
    items = np.asarray(stream.vocab["item"].ids)
    u, i = stream.vocab["user"].lookup(users), stream.vocab["item"].lookup(items)
    tables = [t.numpy() for t in model._tables()]
    got = nrt.states(users)
    np.testing.assert_allclose(got["general_state"], tables[0][u], atol=1e-5)
    np.testing.assert_allclose(got["limited_state"], tables[1][u], atol=1e-5)
    np.testing.assert_allclose(nrt.item_states(items)["item_state"], tables[2][i], atol=1e-5)
    origin = stream.time_origin
    user_last, user_bought, item_last = last_times(stream, "val")
    np.testing.assert_array_equal(got["last_time"], [user_last.get(x, origin) for x in users])
    np.testing.assert_array_equal(got["last_purchase_time"], [user_bought.get(x, origin) for x in users])
    np.testing.assert_array_equal(nrt.item_states(items)["last_time"], [item_last.get(x, origin) for x in items])
    _, _, stats = delta_renderings(stream)
    now = max(user_last.values()) + np.linspace(0, 2 * stats["user_delta"][0], 6)   # after every event
    du, dp = now - got["last_time"], now - got["last_purchase_time"]
    assert (du > 0).any() and (dp > du).any()
    cands = items[np.arange(18).reshape(6, 3) % len(items)]
    present = model.present(model._tables(), tf.constant(u), zscore(stats, "user_delta", du),
                            zscore(stats, "user_since_purchase", dp))
    want = model.candidate_scores(present, tables[2], tf.constant(stream.vocab["item"].lookup(cands))).numpy()
    np.testing.assert_allclose(nrt.score(users, cands, now=now), want, atol=1e-5)
    ids, scores = nrt.top_k(users, k=4, now=now)
    assert ids.shape == (6, 4) and np.all(np.diff(scores, axis=1) <= 0)
    with pytest.raises(ValueError, match="one event per item"):
        nrt.on_events(users[:2], [items[0], items[0]], timestamp=now[:2], is_purchase=np.zeros(2),
                      features=np.zeros((2, stream.num_features), np.float32))
    with pytest.raises(ValueError, match="missing \\['is_purchase'"):
        nrt.on_events(users[:1], items[:1], timestamp=now[:1], features=np.zeros((1, stream.num_features)))
    with pytest.raises(ValueError, match="missing \\['timestamp'.*unexpected \\['user_delta'"):
        nrt.on_events(users[:1], items[:1], user_delta=[1.0], is_purchase=[0.0],
                      features=np.zeros((1, stream.num_features)))
    with pytest.raises(ValueError, match=f"now is before the last event of users {int(users[0])} \\(last event at"):
        nrt.top_k(users[:1], k=2, now=got["last_time"][:1] - 1.0)
    # an event older than its user's last one is handed back with the reason; the others apply
    before = nrt.states(users[:2])
    late, fine = got["last_time"][0] - 5.0, now[1]
    with pytest.raises(EventsNotApplied) as caught:
        nrt.on_events(users[:2], items[:2], timestamp=[late, fine], is_purchase=[1.0, 0.0],
                      features=np.zeros((2, stream.num_features)))
    assert caught.value.user_ids == [users[0]] and caught.value.columns["timestamp"] == [late]
    assert "before the user's last event" in caught.value.reasons[str(users[0])]
    after = nrt.states(users[:2])
    np.testing.assert_array_equal(after["general_state"][0], before["general_state"][0])
    assert after["last_time"][1] == fine and after["last_purchase_time"][1] == before["last_purchase_time"][1]
    restore(model, snapshot)
    return nrt


def test_nrt_loop_with_in_memory_store(served):
    store = InMemoryStateStore()
    _nrt_replay(served, store)
    stream = served[0]
    seen = np.isin(stream.split, ["val"])
    users, items = set(stream.columns["user"][seen].tolist()), set(stream.columns["item"][seen].tolist())
    # the validation events' users and items, and the item of the late-event check's applied event
    extra = set(stream.vocab["item"].lookup(np.asarray(stream.vocab["item"].ids[1:2])).tolist()) - items
    assert len(store) == len(users) + len(items) + len(extra)


def test_nrt_loop_with_redis(served, redis_server):
    from tfrec_pkg.serving.nrt import RedisStateStore

    client = redis_server.client()
    _nrt_replay(served, RedisStateStore(client, prefix="imn:"))
    assert len(client.keys("imn:item:*")) > 0 and len(client.keys("imn:*")) > len(client.keys("imn:item:*"))


def test_a_group_write_moves_user_and_item_together():
    """One event's user and item states are written both or neither: a lost item key holds
    back its user's write too, and other groups still go through."""
    store = InMemoryStateStore()
    store.compare_and_set(["item:9"], [{"item_state": np.ones(2)}], [0])
    lost = store.compare_and_set(["u1", "u2", "item:9", "item:8"], [{"x": np.zeros(1)}] * 4, [0, 0, 0, 0],
                                 groups=[0, 1, 0, 1])
    assert sorted(lost) == ["item:9", "u1"]
    assert store.read(["u1"])[0].state is None and store.read(["u2"])[0].state is not None


def test_serving_indices_converts_to_onnx(served, tmp_path):
    """The memory-table scorer on index ids (gather + matmul) converts; to_onnx itself checks
    onnxruntime against the SavedModel (<= 1e-4) before the file appears. The raw-id
    signatures carry int64 hash tables, which tf2onnx does not convert (export/onnx.py)."""
    _, _, path, _, _ = served
    out = export.to_onnx(path, str(tmp_path / "imn.onnx"))
    assert os.path.getsize(out) > 0


def test_delta_statistics_and_time_origin_travel_with_the_model(served, tmp_path):
    """The training rows' statistics and the stream's time origin: set from the split
    (model_options, adapt), kept by get_config / from_config and by save_trained / load_trained."""
    stream, model, _, _, _ = served
    _, _, stats = delta_renderings(stream)
    for name in DELTAS:
        np.testing.assert_allclose(model.delta_stats()[name], stats[name], rtol=1e-6)
    origin = seconds(stream.source.frame["timestamp"]).min()
    assert model.time_origin.numpy() == origin
    again = IMNNet.from_config(model.get_config())
    assert again.delta_stats() == model.delta_stats() and again.num_features == model.num_features
    assert again.time_origin.numpy() == origin and (again.user_last_time.numpy() == origin).all()
    loaded = IMNNet.load_trained(model.save_trained(str(tmp_path / "trained")))
    assert loaded.delta_stats() == model.delta_stats() and loaded.time_origin.numpy() == origin
    fresh = IMNNet(IMNConfig(**TINY), stream.vocab, num_features=stream.num_features)
    assert fresh.delta_stats() == {name: (0.0, 1.0) for name in DELTAS} and fresh.time_origin.numpy() == 0.0
    fresh.adapt(stream.splits()[0])
    assert fresh.delta_stats() == model.delta_stats() and fresh.time_origin.numpy() == origin
    assert stream.num_features > 0   # a model built without the stream's features is refused, not fed
    with pytest.raises(ValueError, match=f"reads 0 interaction features and the stream has {stream.num_features}"):
        IMNNet(IMNConfig(**TINY), stream.vocab).adapt(stream.splits()[0])
    with pytest.raises(ValueError, match="missing \\['item_delta'"):
        fresh.set_delta_stats({"user_delta": (0.0, 1.0), "user_since_purchase": (0.0, 1.0)})
