"""Planted package-click data for IPRec (tfrec_pkg/data/synthetic/packages.py).

What is checked, against independent plain-Python / numpy renderings:
* the input contract (specs.package_click) and that the pipeline turns it into padded tensors;
* the reference's selection (>= 3 clicks, >= 1 non-click, negatives <= 5 x clicks) and the
  temporal 7:1:2 split (validation and test later than training, per user);
* every derived column (user object sets, clicked packages, neighbours) against a plain-Python
  builder written from the rules in the docstring: training data only, the target left out of
  its own sets, same-media neighbours most recent first, friend neighbours by overlap, caps;
* no future leak: a row's features do not change when later impressions are removed;
* the click formula recomputed from the latent world, the (user, article)-only Bayes score
  against a Monte Carlo estimate from the generator's own distributions, and the AUC gap
  between the full Bayes score and the (user, article)-only one (IPRec's motivation, Sec. 1:
  the package's friends change the click);
* each user's main reason is recoverable from the clicks (Sec. 5.4's reasons).
"""
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401

from tfrec_pkg import specs
from tfrec_pkg.data.pipelines import frame_to_arrays
from tfrec_pkg.data.synthetic import packages
from tfrec_pkg.data.synthetic.packages import (REASON_WEIGHTS, REASONS, TERMS, build_package_rows,
                                               friend_count_pmf, select_impressions)
from tfrec_pkg.evaluation import metrics
from tfrec_pkg.features import FeatureSpec

SMALL = dict(num_users=300, num_articles=400, num_media=20)
SIZES = dict(max_friends=10, max_history=20, max_neighbours=10, max_objects=30)  # the generator's defaults
DERIVED = ["user_article_ids", "user_media_ids", "user_friend_ids", "hist_article_ids", "hist_media_ids",
           "hist_friend_ids", "nb_article_ids", "nb_media_ids", "nb_friend_ids"]
RAW = ["user_id", "timestamp", "article_id", "media_id", "friend_ids", "label", "subscribe_label"]


@pytest.fixture(scope="module")
def small():
    return packages(seed=1, **SMALL)


@pytest.fixture(scope="module")
def default_data():
    return packages(seed=0)


def impressions(data):
    """The raw impressions of a generated data set (what a raw log would hold)."""
    return data.frame[RAW].copy()


# ----------------------------------------------------------------------------- plain-Python reference


def distinct_last(seq):
    seen, out = set(), []
    for x in reversed(seq):
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out[::-1]


def reference_rows(imp: pd.DataFrame, split_of, max_friends, max_history, max_neighbours, max_objects):
    """build_package_rows written from its docstring with Python lists and sets, row by row."""
    user, ts, art, med = (imp[c].tolist() for c in ("user_id", "timestamp", "article_id", "media_id"))
    fr = [list(f) for f in imp["friend_ids"]]
    lab, sub = imp["label"].tolist(), imp["subscribe_label"].tolist()
    by_user = defaultdict(list)
    for i, u in enumerate(user):
        by_user[u].append(i)
    out = [None] * len(imp)
    for idx in by_user.values():
        idx.sort(key=lambda i: (ts[i], i))  # time order, ties by input order
        train = [i for i in idx if split_of[i] == "train"]
        for r in idx:
            others = [i for i in train if i != r]
            clicked = [i for i in others if lab[i] == 1]
            hist = clicked[-max_history:]
            cands = [i for i in others if art[i] != art[r]]
            recent_first = lambda i: (-ts[i], -i)  # noqa: E731
            same = sorted([i for i in cands if med[i] == med[r]], key=recent_first)[:max_neighbours]
            overlap = {i: len(set(fr[i]) & set(fr[r])) for i in cands}
            shared = [i for i in cands if overlap[i] >= 1 and i not in same]
            shared = sorted(shared, key=lambda i: (-overlap[i],) + recent_first(i))[:max_neighbours]
            nb = same + shared

            def block(i):
                return fr[i] + [-1] * (max_friends - len(fr[i]))

            out[r] = {
                "hist_article_ids": [art[i] for i in hist],
                "hist_media_ids": [med[i] for i in hist],
                "hist_friend_ids": [f for i in hist for f in block(i)],
                "user_article_ids": distinct_last([art[i] for i in clicked])[-max_objects:],
                "user_friend_ids": distinct_last([f for i in clicked for f in fr[i]])[-max_objects:],
                "user_media_ids": distinct_last([med[i] for i in others if sub[i] == 1])[-max_objects:],
                "nb_article_ids": [art[i] for i in nb],
                "nb_media_ids": [med[i] for i in nb],
                "nb_friend_ids": [f for i in nb for f in block(i)],
            }
    return out


def assert_rows_equal(frame: pd.DataFrame, expected: list, rows=None):
    rows = range(len(frame)) if rows is None else rows
    for r in rows:
        for col in DERIVED:
            got = list(frame[col].iloc[r])
            assert got == expected[r][col], f"row {r}, {col}: {got} != {expected[r][col]}"


# ----------------------------------------------------------------------------- contract and pipeline


def test_spec_contract():
    spec = specs.package_click(max_friends=20, max_history=50, max_neighbours=20, max_objects=50)
    shapes = {s.name: s.shape for s in spec}
    assert shapes == {
        "user_id": (), "article_id": (), "media_id": (), "friend_ids": (20,),
        "user_article_ids": (50,), "user_media_ids": (50,), "user_friend_ids": (50,),
        "hist_article_ids": (50,), "hist_media_ids": (50,), "hist_friend_ids": (50 * 20,),
        "nb_article_ids": (40,), "nb_media_ids": (40,), "nb_friend_ids": (40 * 20,),
    }
    assert all(s.dtype == "int64" and s.padding == -1 for s in spec)
    vocab = {s.name: s.vocabulary for s in spec}
    # Friends are users: one embedding space (Eq. (1) embeds friend u_i as a user).
    assert {n for n, v in vocab.items() if v == "user"} == {
        "user_id", "friend_ids", "user_friend_ids", "hist_friend_ids", "nb_friend_ids"}
    assert set(vocab.values()) == {"user", "article", "media"}
    strings = {s.name: s.dtype for s in specs.package_click(article_dtype="string")}
    assert {n for n, d in strings.items() if d == "string"} == {
        "article_id", "user_article_ids", "hist_article_ids", "nb_article_ids"}
    # Why [L, F] features are flattened: FeatureSpec takes scalars and 1-D sequences only.
    with pytest.raises(ValueError, match="more than one dimension"):
        FeatureSpec("hist_friend_ids", "int64", (50, 20), vocabulary="user")
    with pytest.raises(ValueError, match="max_neighbours"):
        specs.package_click(max_neighbours=0)
    with pytest.raises(ValueError, match="article_dtype"):
        specs.package_click(article_dtype="float32")


def test_generator_specs_and_datasets(small):
    assert small.specs == specs.package_click(**SIZES)
    train, val, test = small.splits()
    assert set(train.vocab) == {"user", "article", "media"}
    # Friends go through the user vocabulary: the friends of training packages are known users.
    friends = np.concatenate(list(train.frame["friend_ids"]))
    assert (train.vocab["user"].lookup(friends) >= 2).all()
    for split in (train, val, test):
        batch = next(iter(split.dataset(8)))
        for s in small.specs:
            assert batch[s.name].shape == (8,) + s.shape and batch[s.name].dtype.name == "int64"
        assert batch["label"].shape == (8,) and batch["label"].dtype.name == "float32"


def test_batch_feeds_the_iprec_layers(small):
    """The contract fits tfrec_pkg/layers/package.py: target, clicked packages and neighbours
    through IntraPackageAttention (Eqs. 1-8), GatedAggregation (Eqs. 9-10, 15-16) and the
    object sets through UserObjectAggregation (Eqs. 11-14), with masks from the -1 padding."""
    import tensorflow as tf

    from tfrec_pkg.layers.package import GatedAggregation, IntraPackageAttention, UserObjectAggregation

    train = small.splits()[0]
    batch = {k: v.numpy() for k, v in next(iter(train.dataset(64, shuffle=False))).items()}
    F, H, N, d = SIZES["max_friends"], SIZES["max_history"], SIZES["max_neighbours"], 8
    rng = np.random.default_rng(0)
    tables = {name: rng.normal(size=(v.size, d)).astype(np.float32) for name, v in train.vocab.items()}

    def emb(name, vocab, shape=None):
        x = batch[name] if shape is None else batch[name].reshape((-1,) + shape)
        return tf.constant(tables[vocab][train.vocab[vocab].lookup(x)]), tf.constant(x != -1)

    user, _ = emb("user_id", "user")
    article, _ = emb("article_id", "article")
    media, _ = emb("media_id", "media")
    friends, friend_mask = emb("friend_ids", "user")
    intra = IntraPackageAttention(num_spaces=2)
    p, gamma = intra(user, article, media, friends, friend_mask)
    assert p.shape == (64, d) and gamma.shape == (64, 7)
    no_friends = ~friend_mask.numpy().any(axis=1)
    assert no_friends.any() and (gamma.numpy()[no_friends][:, [2, 4, 5, 6]] == 0).all()
    packs = {}
    for kind, length in (("hist", H), ("nb", 2 * N)):
        a, mask = emb(f"{kind}_article_ids", "article")
        m, _ = emb(f"{kind}_media_ids", "media")
        fr, fr_mask = emb(f"{kind}_friend_ids", "user", (length, F))  # [B, L * F] -> [B, L, F]
        packs[kind], _ = intra(user[:, None, :], a, m, fr, fr_mask)
        assert packs[kind].shape == (64, length, d)
        packs[kind + "_mask"] = mask
    p_tilde = GatedAggregation()(p, packs["nb"], packs["nb_mask"])  # Eqs. (9)-(10)
    sets = [emb(name, vocab) for name, vocab in (("user_article_ids", "article"), ("user_media_ids", "media"),
                                                  ("user_friend_ids", "user"))]
    u_hat, eps = UserObjectAggregation()(user, [x for x, _ in sets], [m for _, m in sets])  # Eqs. (11)-(14)
    u_tilde = GatedAggregation()(u_hat, packs["hist"], packs["hist_mask"])  # Eqs. (15)-(16)
    for x in (p_tilde, u_tilde, eps):
        assert np.isfinite(x.numpy()).all()
    assert p_tilde.shape == u_tilde.shape == (64, d)


def test_padding_left_aligned_and_friend_blocks(small):
    f = small.frame
    F, H, N = SIZES["max_friends"], SIZES["max_history"], SIZES["max_neighbours"]
    arrays = frame_to_arrays(f, small.specs)
    key = {(u, a): k for k, (u, a) in enumerate(zip(f["user_id"], f["article_id"]))}  # distinct per user
    for col, length in (("friend_ids", F), ("hist_article_ids", H), ("nb_article_ids", 2 * N),
                        ("user_friend_ids", SIZES["max_objects"])):
        n = f[col].map(len).to_numpy()
        real = arrays[col] != -1
        assert (real == (np.arange(length) < n[:, None])).all(), col  # real values first, -1 after
    # [L, F] blocks: package k's friends in slots [k F, (k + 1) F), -1 inside the block after them.
    hist = arrays["hist_friend_ids"].reshape(len(f), H, F)
    nb = arrays["nb_friend_ids"].reshape(len(f), 2 * N, F)
    for r in range(0, len(f), 7):
        u = f["user_id"].iloc[r]
        for blocks, articles in ((hist[r], f["hist_article_ids"].iloc[r]), (nb[r], f["nb_article_ids"].iloc[r])):
            for k, a in enumerate(articles):
                own = f["friend_ids"].iloc[key[(u, a)]]
                assert list(blocks[k]) == list(own) + [-1] * (F - len(own))
            assert (blocks[len(articles):] == -1).all()


def test_deterministic_by_seed():
    kw = dict(num_users=120, num_articles=200, num_media=10)
    a, b, c = packages(seed=3, **kw), packages(seed=3, **kw), packages(seed=4, **kw)
    lists = ["friend_ids"] + DERIVED
    scalars = [col for col in a.frame.columns if col not in lists]
    pd.testing.assert_frame_equal(a.frame[scalars], b.frame[scalars])
    for col in lists:
        assert all(np.array_equal(x, y) for x, y in zip(a.frame[col], b.frame[col])), col
    np.testing.assert_array_equal(a.split_of, b.split_of)
    pd.testing.assert_frame_equal(a.items, b.items)
    assert a.stats == b.stats
    assert len(a.frame) != len(c.frame) or not a.frame["article_id"].equals(c.frame["article_id"])


# ----------------------------------------------------------------------------- selection and split


def test_reference_selection_rules(default_data):
    f = default_data.frame
    per_user = f.groupby("user_id")["label"].agg(["sum", "count"])
    clicks, non_clicks = per_user["sum"], per_user["count"] - per_user["sum"]
    assert (clicks >= 3).all() and (non_clicks >= 1).all()
    assert (non_clicks <= 5 * clicks).all()
    s = default_data.stats
    assert s["users"] == len(per_user) == 2000 - s["users_few_clicks"] - s["users_no_non_click"]
    assert s["rows"] + s["negatives_capped"] == 30 * s["users"]  # every kept user keeps every click
    assert len(f) == s["rows"]
    print(f"\nselection: {s}")
    # The cap keeps a random subset, reproducible with the generator.
    user, label = np.repeat([1, 2], [12, 8]), np.r_[[1, 1] + [0] * 10, [1, 1, 1] + [0] * 5]
    keep, stats = select_impressions(user, label, min_clicks=2, max_negative_ratio=2,
                                     rng=np.random.default_rng(0))
    assert keep[label == 1].all() and keep[:12].sum() == 2 + 4 and keep[12:].sum() == 8
    assert stats == {"users_few_clicks": 0, "users_no_non_click": 0, "negatives_capped": 6}
    again, _ = select_impressions(user, label, min_clicks=2, max_negative_ratio=2, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(keep, again)


def test_temporal_split_per_user(default_data):
    f = default_data.frame.assign(split=default_data.split_of)
    for _, g in f.groupby("user_id"):
        n = len(g)
        counts = g["split"].value_counts()
        assert counts.get("train", 0) == n * 7 // 10  # distinct timestamps: no tie moves a cut
        assert counts.get("val", 0) == n * 8 // 10 - n * 7 // 10
        ts = {s: g.loc[g["split"] == s, "timestamp"] for s in ("train", "val", "test")}
        assert ts["train"].max() < ts["val"].min() <= ts["val"].max() < ts["test"].min()


# ----------------------------------------------------------------------------- derived features


def test_derived_columns_match_plain_python_rules(small):
    expected = reference_rows(impressions(small), small.split_of, **SIZES)
    assert_rows_equal(small.frame, expected)


def test_caps_hold_and_bind():
    # Tiny caps so that every kind of truncation happens.
    caps = dict(max_friends=3, max_history=2, max_neighbours=1, max_objects=2)
    data = packages(seed=2, num_users=150, num_articles=200, num_media=6, **caps)
    f = data.frame
    assert data.specs == specs.package_click(**caps)
    assert (f["friend_ids"].map(len) <= 3).all()
    assert f["hist_article_ids"].map(len).max() == 2 and f["user_article_ids"].map(len).max() == 2
    assert f["user_friend_ids"].map(len).max() == 2 and f["nb_article_ids"].map(len).max() == 2
    assert (f["hist_friend_ids"].map(len) == 3 * f["hist_article_ids"].map(len)).all()
    assert (f["nb_friend_ids"].map(len) == 3 * f["nb_article_ids"].map(len)).all()
    expected = reference_rows(impressions(data), data.split_of, **caps)
    assert_rows_equal(f, expected)


def test_target_removed_from_its_own_history(small):
    f = small.frame.assign(split=small.split_of)
    train_clicks = f[(f["split"] == "train") & (f["label"] == 1)].groupby("user_id").size()
    n_clicks = f["user_id"].map(train_clicks).fillna(0).astype(int)
    own = (f["split"] == "train") & (f["label"] == 1)
    in_hist = np.array([a in set(h) for a, h in zip(f["article_id"], f["hist_article_ids"])])
    in_set = np.array([a in set(s) for a, s in zip(f["article_id"], f["user_article_ids"])])
    # Articles are distinct per user, so the target can only be in its history through itself.
    assert not in_hist.any() and not in_set.any()
    hist_len = f["hist_article_ids"].map(len)
    cap = SIZES["max_history"]
    assert (hist_len[own] == np.minimum(n_clicks[own] - 1, cap)).all()
    assert (hist_len[~own] == np.minimum(n_clicks[~own], cap)).all()


def test_sets_histories_and_neighbours_come_from_training_only(small):
    f = small.frame.assign(split=small.split_of)
    train = f[f["split"] == "train"]
    seen = train.groupby("user_id")["article_id"].agg(set)
    clicked = train[train["label"] == 1].groupby("user_id")["article_id"].agg(set)
    for _, row in f.iterrows():
        u = row["user_id"]
        assert set(row["nb_article_ids"]) <= seen.get(u, set())
        assert set(row["hist_article_ids"]) <= clicked.get(u, set())
        assert set(row["user_article_ids"]) <= clicked.get(u, set())
    # Validation and test rows of a user share one profile: it only depends on training.
    later = f[f["split"] != "train"]
    for col in ("hist_article_ids", "user_article_ids", "user_media_ids", "user_friend_ids"):
        assert (later.groupby("user_id")[col].agg(lambda s: len({tuple(x) for x in s})) == 1).all()


def test_no_future_leak_removing_later_impressions_changes_nothing(small):
    imp, split_of = impressions(small), small.split_of
    full = small.frame
    train_only = np.flatnonzero(split_of == "train")
    rebuilt = build_package_rows(imp.iloc[train_only].reset_index(drop=True), split_of[train_only], **SIZES)
    for col in DERIVED:
        assert all(np.array_equal(a, b) for a, b in zip(rebuilt[col], full[col].iloc[train_only])), col
    rng = np.random.default_rng(0)
    for r in rng.choice(np.flatnonzero(split_of != "train"), size=25, replace=False):
        keep = np.r_[train_only, r]  # the training impressions and this one row
        one = build_package_rows(imp.iloc[keep].reset_index(drop=True), split_of[keep], **SIZES)
        for col in DERIVED:
            assert np.array_equal(one[col].iloc[-1], full[col].iloc[r]), (r, col)


def test_neighbour_rules_on_generated_rows(small):
    f = small.frame.assign(split=small.split_of)
    at = {(u, a): k for k, (u, a) in enumerate(zip(f["user_id"], f["article_id"]))}
    n_checked = [0, 0]
    for r in range(len(f)):
        row = f.iloc[r]
        nbs = [f.iloc[at[(row["user_id"], a)]] for a in row["nb_article_ids"]]
        same = [nb["media_id"] == row["media_id"] for nb in nbs]
        k = sum(same)
        assert same == [True] * k + [False] * (len(nbs) - k)  # same-media neighbours come first
        assert all(nb["split"] == "train" and nb["article_id"] != row["article_id"] for nb in nbs)
        times = [nb["timestamp"] for nb in nbs[:k]]
        assert times == sorted(times, reverse=True)  # most recent first
        mine = set(row["friend_ids"])
        ranks = [(len(set(nb["friend_ids"]) & mine), nb["timestamp"]) for nb in nbs[k:]]
        assert all(o >= 1 for o, _ in ranks) and ranks == sorted(ranks, reverse=True)
        n_checked[0] += k
        n_checked[1] += len(nbs) - k
    assert min(n_checked) > 1000  # both kinds occur often


# ----------------------------------------------------------------------------- the planted truth


def test_true_prob_is_the_documented_formula(small):
    f, w = small.frame, small.world
    users = w.users.set_index("user_id")
    arts = w.articles.set_index("article_id")
    liked = {u: set(t) for u, t in zip(w.users["user_id"], w.users["liked_topics"])}
    topic = f["article_id"].map(arts["topic"]).to_numpy()
    A = np.array([t in liked[u] for u, t in zip(f["user_id"], topic)], dtype=float)
    M = np.array([m in set(users.at[u, "subscriptions"]) for u, m in zip(f["user_id"], f["media_id"])], dtype=float)
    Fr = np.array([sum(t in liked[x] for x in fs) for fs, t in zip(f["friend_ids"], topic)], dtype=float)
    W = np.array([REASON_WEIGHTS[r] for r in f["user_id"].map(users["true_reason"])])
    s, b = w.params["strength"], w.params["intercept"]
    logit = (b + f["user_id"].map(users["bias"]).to_numpy() + f["article_id"].map(arts["bias"]).to_numpy()
             + s * (W * np.stack([A, M, Fr, A * M], axis=1)).sum(axis=1))
    np.testing.assert_allclose(f["true_prob"], 1 / (1 + np.exp(-logit)), rtol=1e-12)
    np.testing.assert_array_equal(f["true_liked"], A)
    np.testing.assert_array_equal(f["subscribe_label"], M)
    np.testing.assert_array_equal(f["true_influence"], Fr)
    np.testing.assert_array_equal(f["true_topic"], topic)
    mix = f[["true_logit_base"] + [f"true_logit_{t}" for t in TERMS]].sum(axis=1)
    np.testing.assert_allclose(mix, logit, rtol=1e-12)
    # Each user's reason is a property of the user; only that reason's term is ever non-zero.
    assert (f.groupby("user_id")["true_reason"].nunique() == 1).all()
    for reason, weights in REASON_WEIGHTS.items():
        rows = f[f["true_reason"] == reason]
        for term, wt in zip(TERMS, weights):
            if wt == 0:
                assert (rows[f"true_logit_{term}"] == 0).all()
    # Friends are the user's friends; a package never lists a friend twice.
    friends = {u: set(x) for u, x in zip(w.users["user_id"], w.users["friends"])}
    assert all(set(fs) <= friends[u] and len(set(fs)) == len(fs) for u, fs in zip(f["user_id"], f["friend_ids"]))


def test_friend_count_law_matches_the_marginal(default_data):
    """The (user, article)-only score integrates over this law: check the generator follows it."""
    f, users = default_data.frame, default_data.world.users.set_index("user_id")
    degree = f["user_id"].map(users["friends"].map(len)).to_numpy()
    p = default_data.world.params
    expected = friend_count_pmf(np.minimum(degree, p["max_friends"]), p["max_friends"],
                                p["no_friend_prob"], p["friend_rate"]).mean(axis=0)
    observed = np.bincount(f["friend_ids"].map(len), minlength=len(expected)) / len(f)
    print(f"\nfriends per package, observed {np.round(observed[:6], 4)}, expected {np.round(expected[:6], 4)}")
    np.testing.assert_allclose(observed, expected, atol=0.006)


def test_user_article_score_matches_monte_carlo(small):
    """E[true_prob | user, article] against resampling the package's friends from the world."""
    f, w = small.frame, small.world
    p = w.params
    friends = dict(zip(w.users["user_id"], w.users["friends"]))
    liked = dict(zip(w.users["user_id"], w.users["liked_topics"]))
    not_friend_users = (f["true_reason"] != "friends").to_numpy()
    np.testing.assert_array_equal(f["true_prob_user_article"][not_friend_users], f["true_prob"][not_friend_users])
    rng = np.random.default_rng(0)
    rows = rng.choice(np.flatnonzero(~not_friend_users), size=60, replace=False)
    draws = 4000
    for r in rows:
        u, t = f["user_id"].iloc[r], f["true_topic"].iloc[r]
        pool = friends[u]
        expert = np.array([t in set(liked[x]) for x in pool])
        n = np.minimum(1 + rng.poisson(p["friend_rate"], draws), min(len(pool), p["max_friends"]))
        n[rng.random(draws) < p["no_friend_prob"]] = 0
        perm = np.argsort(rng.random((draws, len(pool))), axis=1)
        k = np.array([expert[perm[d, :n[d]]].sum() for d in range(draws)])
        rest = f["true_logit_base"].iloc[r]  # a friends user has no other term
        mc = 1 / (1 + np.exp(-(rest + p["strength"] * k)))
        se = mc.std() / np.sqrt(draws)
        assert abs(mc.mean() - f["true_prob_user_article"].iloc[r]) < 4.5 * se + 1e-9, r


def test_bayes_auc_gap_user_article_only(default_data):
    """A model of (user, article) alone -- NeuMF -- cannot reach the Bayes-optimal AUC: the best
    such score is E[p | u, a], and it loses to the full true probability."""
    f = default_data.frame
    y, users = f["label"].to_numpy(), f["user_id"].to_numpy()
    full, ua = f["true_prob"].to_numpy(), f["true_prob_user_article"].to_numpy()
    test = default_data.split_of == "test"
    res = {
        "auc": (metrics.auc(y, full), metrics.auc(y, ua)),
        "gauc": (metrics.gauc(y, full, users), metrics.gauc(y, ua, users)),
        "test auc": (metrics.auc(y[test], full[test]), metrics.auc(y[test], ua[test])),
        "test gauc": (metrics.gauc(y[test], full[test], users[test]), metrics.gauc(y[test], ua[test], users[test])),
    }
    print("\n" + "\n".join(f"{k}: Bayes {a:.4f}, (user, article)-only Bayes {b:.4f}, gap {a - b:.4f}"
                           for k, (a, b) in res.items()))
    assert res["auc"][0] - res["auc"][1] > 0.03
    assert res["gauc"][0] - res["gauc"][1] > 0.05
    assert res["test auc"][0] - res["test auc"][1] > 0.02  # ~11.6k rows: s.e. of an AUC ~0.004
    assert res["test gauc"][0] - res["test gauc"][1] > 0.035
    # The gap is the friends: on the other users the two scores coincide.
    friends_users = f["true_reason"].to_numpy() == "friends"
    fu = friends_users
    print(f"friends users: Bayes AUC {metrics.auc(y[fu], full[fu]):.4f}, "
          f"(user, article)-only {metrics.auc(y[fu], ua[fu]):.4f}")
    assert metrics.auc(y[fu], full[fu]) - metrics.auc(y[fu], ua[fu]) > 0.12


def test_main_reason_is_recoverable_from_clicks(default_data):
    """CTR lift of each object (or the article+media pair) over impressions with none of them,
    per main reason. Objects are compared one at a time against the same baseline because
    the feed makes them correlated (a subscribed media's article is less often of a liked
    topic than a liked-topic article is)."""
    f = default_data.frame
    assert set(f["true_reason"]) == set(REASONS)
    A, M, Fr = f["true_liked"] == 1, f["subscribe_label"] == 1, f["true_influence"] >= 1
    cells = {"article": A & ~M & ~Fr, "media": ~A & M & ~Fr, "friends": ~A & ~M & Fr,
             "article+media": A & M & ~Fr}
    base = ~A & ~M & ~Fr
    lift = {}
    for reason in REASONS:
        mine = f["true_reason"] == reason
        ctr0 = f.loc[mine & base, "label"].mean()
        lift[reason] = {k: f.loc[mine & c, "label"].mean() - ctr0 for k, c in cells.items()}
        assert min((mine & c).sum() for c in cells.values()) > 500
    print("\nCTR lift over a package with none of the objects (rows: the users' main reason)\n"
          + pd.DataFrame(lift).T.round(3).to_string())
    expect = {  # which cells the planted formula moves for each reason
        "article": {"article", "article+media"}, "media": {"media", "article+media"},
        "friends": {"friends"}, "article+media": {"article+media"}, "none": set(),
    }
    for reason, moved in expect.items():
        for cell, value in lift[reason].items():
            if cell in moved:
                assert value > 0.3, (reason, cell, value)
            else:
                assert abs(value) < 0.06, (reason, cell, value)  # ~4 s.e.
    # Users with reason "friends" click more when an influential friend is in the package, and
    # more with two than with one (the influence adds up).
    fu = f[f["true_reason"] == "friends"]
    ctr = fu.groupby(np.minimum(fu["true_influence"], 2))["label"].mean()
    assert ctr[0] + 0.3 < ctr[1] < ctr[2]


def test_argument_errors():
    with pytest.raises(ValueError, match="reason_probs"):
        packages(reason_probs={"article": 0.5, "gossip": 0.5})
    with pytest.raises(ValueError, match="sum to 1"):
        packages(reason_probs={"article": 0.5})
    with pytest.raises(ValueError, match="num_users"):
        packages(num_users=0)
    with pytest.raises(ValueError, match="impressions_per_user"):
        packages(num_articles=20, num_media=5, impressions_per_user=30)


def test_training_fraction_keeps_a_share_of_training_and_rebuilds_the_features(small):
    from tfrec_pkg.data.synthetic.packages import training_fraction

    part = training_fraction(small, 0.4, seed=2)
    before, after = pd.Series(small.split_of).value_counts(), pd.Series(part.split_of).value_counts()
    assert after["val"] == before["val"] and after["test"] == before["test"]
    assert 0.3 < after["train"] / before["train"] < 0.5
    # every derived feature is what the plain-Python rules give on the kept impressions only
    assert_rows_equal(part.frame, reference_rows(impressions(part), part.split_of, **SIZES))
    assert not part.frame[DERIVED].equals(small.frame[DERIVED].iloc[:len(part.frame)])
    assert part.stats["training_fraction"] == 0.4 and part.stats["rows"] == len(part.frame)
    whole = training_fraction(small, 1.0)
    pd.testing.assert_frame_equal(whole.frame, small.frame)
    with pytest.raises(ValueError, match="fraction"):
        training_fraction(small, 0.0)
