"""The two training forms of the next-item models (tfrec_pkg/models/next_item.py) compute the
same thing: for every model, the output at step t of a whole-sequence row equals the user vector
of the prefix row that ends at t (causality), and the all-position loss is the mean of the
prefix rows' losses. Also: whole-catalogue scoring, one rule for unknown items (-inf in every
scoring call, Python and export), the fast full-ranking path against the generic one, and
training from DataFrames with callbacks.

Mutations these tests catch: a non-causal mask (step t sees t + 1), reading the wrong step in
the all-position form, dropping the padding mask of the targets (loss on padded steps),
the InfoNCE term left out of the all-position form, scoring an OOV candidate with its row,
dividing a training batch by its own step count instead of the mean steps per sequence so far."""
import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data.synthetic.base import Split
from tfrec_pkg.data.vocab import fit_vocabularies
from tfrec_pkg import specs
from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.evaluation import protocols
from tfrec_pkg.features import NUM_RESERVED
from tfrec_pkg.models.baselines.gru4rec import GRU4Rec, GRU4RecConfig
from tfrec_pkg.models.ipsrec import IPSRec, IPSRecConfig
from tfrec_pkg.training import train

L = 6
PAD = -1


def _sequences(num_users=12, seed=0):
    """Users with 3..L+1 items: one all-position row each, and the prefix rows it stands for."""
    rng = np.random.default_rng(seed)
    rows, prefixes = [], []
    for user in range(num_users):
        n = int(rng.integers(3, L + 2))
        items = rng.integers(100, 130, n)
        provs = items % 7 + 50
        rows.append({"user_id": user, "hist_item_ids": items[:-1], "hist_provider_ids": provs[:-1],
                     "target_item_ids": items[1:], "target_provider_ids": provs[1:]})
        for t in range(1, n):
            prefixes.append({"user_id": user, "hist_item_ids": items[:t], "hist_provider_ids": provs[:t],
                             "item_id": items[t], "provider_id": provs[t]})
    return pd.DataFrame(rows), pd.DataFrame(prefixes)


def _models(**changes):
    base = dict(max_history=L, item_dim=8, dropout=0.0, top_k_max=5, epochs=1, batch_size=64, **changes)
    return {"sasrec": lambda v: IPSRec(IPSRecConfig(**base, ffn_dim=16, use_provider=False), v),
            "ipsrec_s": lambda v: IPSRec(IPSRecConfig(**base, ffn_dim=16), v),
            "ipsrec_c": lambda v: IPSRec(IPSRecConfig(**base, ffn_dim=16, stream="cross"), v),
            "gru4rec": lambda v: GRU4Rec(GRU4RecConfig(**base, hidden_dim=8), v)}


def _built(name, vocab, **changes):
    """The named model with seeded weights, built."""
    tf.keras.utils.set_random_seed(0)
    model = _models(**changes)[name](vocab)
    model(model.example_batch())
    return model


@pytest.fixture(scope="module")
def data():
    whole, prefixes = _sequences()
    vocab = fit_vocabularies(prefixes, specs.next_item(L))
    return whole, prefixes, vocab


def _batch(model, frame):
    split = Split("train", frame, model.training_spec(list(frame.columns)), model.vocab, label=None)
    return next(iter(split.dataset(len(frame), shuffle=False)))


@pytest.mark.parametrize("name", list(_models()))
def test_each_step_of_a_sequence_row_is_its_prefix_row(data, name):
    whole, prefixes, vocab = data
    model = _built(name, vocab)
    h, g = model.sequence_outputs(model.map_ids(_batch(model, whole)))
    u, v = model.user_vectors(model.map_ids(_batch(model, prefixes)))
    at = [(r, t) for r, row in whole.iterrows() for t in range(len(row["hist_item_ids"]))]  # prefix order
    np.testing.assert_allclose(np.stack([h[r, t] for r, t in at]), u.numpy(), atol=2e-5)
    if v is not None:
        np.testing.assert_allclose(np.stack([g[r, t] for r, t in at]), v.numpy(), atol=2e-5)


@pytest.mark.parametrize("name", ["sasrec", "ipsrec_s", "gru4rec"])
def test_all_position_loss_is_the_mean_of_the_prefix_losses(data, name):
    whole, prefixes, vocab = data
    model = _built(name, vocab)
    whole_terms = model.loss_terms(_batch(model, whole), training=False)
    prefix_terms = model.loss_terms(_batch(model, prefixes), training=False)
    # one value per real step of the sequence rows, in prefix order: the same values as the prefix rows'
    assert whole_terms["ce"].shape[0] == len(prefixes)
    np.testing.assert_allclose(np.sort(whole_terms["ce"].numpy()), np.sort(prefix_terms["ce"].numpy()), rtol=1e-5)
    if name == "ipsrec_s":  # InfoNCE over the same (u, v) pairs: in-batch negatives, so equal as a set
        np.testing.assert_allclose(whole_terms["infonce"].numpy().mean(), prefix_terms["infonce"].numpy().mean(),
                                   rtol=1e-5)
        assert whole_terms["infonce"].numpy().mean() > 0


def test_unknown_items_score_minus_inf_everywhere(data):
    _, prefixes, vocab = data
    model = _models()["sasrec"](vocab)
    model(model.example_batch())
    feats = {k: tf.constant(np.stack(prefixes[k].map(lambda s: np.pad(s, (0, L - len(s)), constant_values=PAD))))
             for k in ("hist_item_ids",)}
    unknown, known = 999_999, int(vocab["item"].ids[0])
    cands = tf.constant([[unknown, known]] * len(prefixes), tf.int64)
    scores = model.score_candidates(feats, {"item_id": cands}).numpy()
    assert np.isneginf(scores[:, 0]).all() and np.isfinite(scores[:, 1]).all()
    ids, catalogue = model.score_catalogue(feats)
    assert unknown not in ids.numpy() and len(ids) == vocab["item"].size - NUM_RESERVED
    u, _ = model.user_vectors(model.map_ids(feats))
    np.testing.assert_allclose(catalogue.numpy(), model.all_item_scores(u).numpy()[:, NUM_RESERVED:], rtol=1e-6)
    col = list(ids.numpy()).index(known)
    np.testing.assert_allclose(catalogue.numpy()[:, col], scores[:, 1], rtol=1e-5)


def test_fast_full_ranking_equals_the_generic_path(data):
    _, prefixes, vocab = data
    model = _models()["ipsrec_s"](vocab)
    model(model.example_batch())
    items = pd.DataFrame({"item_id": np.arange(95, 135)})  # some never seen in training, some unknown targets
    test = prefixes.assign(item_id=np.where(np.arange(len(prefixes)) % 9 == 0, 131, prefixes["item_id"]))
    split = Split("test", test, specs.next_item(L), vocab, label=None, items=items)
    fast = evaluate(model, split, "full_ranking", ks=(1, 5, 10), batch_size=7)

    class Generic:  # the same model without whole-catalogue scoring
        feature_spec, vocab, name = model.feature_spec, model.vocab, "generic"
        score_candidates = staticmethod(model.score_candidates)

    slow = evaluate(Generic(), split, "full_ranking", ks=(1, 5, 10))
    cols = [c for c in fast.columns if "@" in c]
    np.testing.assert_allclose(fast[cols].to_numpy(float), slow[cols].to_numpy(float), rtol=1e-9)
    assert fast["hr@10"].iloc[0] > 0


def test_train_and_evaluate_take_dataframes_and_callbacks(data):
    whole, prefixes, vocab = data
    model = _models()["sasrec"](vocab)
    seen = []
    record = tf.keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs))
    history = train(model, whole, prefixes, epochs=2, callbacks=[record], verbose=0)
    assert len(seen) == 2 and "val_mrr_at_10" in seen[0] and "ce" in history.history
    row = evaluate(model, prefixes, "full_ranking", ks=(10,))
    assert 0 <= row["hr@10"].iloc[0] <= 1 and row["n"].iloc[0] == len(prefixes)
    with pytest.raises(ValueError, match="hist_item_ids"):
        train(model, prefixes.drop(columns=["hist_item_ids"]), epochs=1, verbose=0)


def test_patience_comes_from_the_config():
    assert IPSRecConfig().patience == 10 and GRU4RecConfig().patience == 10
    with pytest.raises(ValueError, match="training_positions"):
        IPSRecConfig(training_positions="every")


@pytest.mark.parametrize("name", ["sasrec", "ipsrec_s", "gru4rec"])
def test_a_training_batch_weighs_each_step_by_the_mean_steps_per_sequence_so_far(data, name):
    """In training, a batch of all-position rows is divided by its sequences times the mean real
    steps per sequence of every batch trained on so far, this one included: the first batch by
    its own steps (a mean), a batch of short sequences after a batch of long ones by more than
    its own steps, so its steps weigh what the long batch's did, as in batches of mixed lengths."""
    whole, _, vocab = data
    assert _built(name, vocab).trained_rows is None  # the prefix form's rows: one target each
    model = _built(name, vocab, training_positions="all")
    steps = whole["hist_item_ids"].map(len)  # real steps of a row: its history's length
    seen = np.zeros(2)
    for frame in (whole[steps > 3], whole[steps <= 3]):
        batch = _batch(model, frame)
        summed = sum(float(t.numpy().sum()) for t in model.loss_terms(batch, training=False).values())
        loss = float(model.compute_loss(batch, training=True))
        seen += [len(frame), steps[frame.index].sum()]
        np.testing.assert_allclose(loss, summed / (len(frame) * seen[1] / seen[0]), rtol=1e-5)
        np.testing.assert_allclose(model.trained_rows.numpy(), seen)
    assert seen[1] / seen[0] > steps[steps <= 3].mean()  # the second batch's own count would differ


@pytest.mark.parametrize("name", ["sasrec", "ipsrec_s", "gru4rec"])
def test_length_buckets_change_the_padding_not_the_losses(data, name):
    """Rows cut to a bucket's width give the losses of the same rows padded to max_history."""
    whole, prefixes, vocab = data
    model = _built(name, vocab)
    for frame in (whole, prefixes):
        split = Split("train", frame, model.training_spec(list(frame.columns)), model.vocab, label=None)
        full = np.concatenate([model.loss_terms(b)["ce"].numpy() for b in split.dataset(8, shuffle=False)])
        widths, cut = set(), []
        for b in split.dataset(8, shuffle=False, length_buckets=(2, 4)):
            widths.add(b["hist_item_ids"].shape[1])
            cut.append(model.loss_terms(b)["ce"].numpy())
        assert widths == {2, 4, L}
        np.testing.assert_allclose(np.sort(np.concatenate(cut)), np.sort(full), rtol=1e-5)
