"""Planted package-click data for IPRec (Li et al., "Package Recommendation with Intra- and
Inter-Package Attention Networks", SIGIR 2021; ../shared/papers/iprec_sigir21.txt), and the
package-row builder that the IPRec raw-log reader (:mod:`tfrec_pkg.data.datasets.iprec_raw`)
shares with it.

A package is an article, its publishing media and the user's friends who interacted with the
article (Sec. 3, Def. 1, Fig. 1); a row is one impression of a package, labelled click / no click.
Rows carry the features of :func:`tfrec_pkg.specs.package_click`.

Generative story (raw ids look like log ids: users 1_000_000 + u, articles 500_000 + a, media
9_000 + m; timestamps are unix seconds in a 10-day window from 2020-06-23)
--------------------------------------------------------------------------------------------

* media: each publishes 1-3 topics (uniform count, distinct), with weights ~ Dirichlet(1);
* articles: a media each (balanced over the media) and a topic drawn from the media's weights,
  a quality bias b_a ~ N(0, ``article_bias_sd``);
* users: 2 liked topics (distinct, uniform), an activity bias b_u ~ N(0, ``user_bias_sd``),
  ``subscriptions`` (3) subscribed media -- two among the media that publish a liked topic, the
  rest uniform -- and a latent main reason r_u in REASONS = (article, media, friends,
  article+media, none), drawn with ``reason_probs`` (default 0.2, 0.15, 0.3, 0.2, 0.15; the
  paper's Fig. 4 has about half of the users driven by a single object type and a quarter by
  article+media). "none": no object of the package changes the click probability (the paper's
  Fig. 3(d) user, with uniform attention, is rather a mix of reasons; the per-row mix columns
  below could carry such users, the defaults do not plant them);
* friendship: every user befriends ``friends_per_user`` (8) other users uniformly; the graph is
  made symmetric (degree >= 8, about 16 on average);
* topic-specific influence (Sec. 4.2.1's "tech-expert friend"): a user is an influential friend
  on their own liked topics and on no other, so infl(f, t) = 1 if f likes t else 0. (A friend's
  expertise shows in the friend's own clicks, which is why friends share the "user"
  vocabulary with users.)
* impressions: ``impressions_per_user`` (30) distinct articles per user, each drawn from one
  of three feed sources: a subscribed media (0.3; uniform article of a uniform subscribed
  media), a liked topic (0.3; uniform article of a uniform liked topic) or the whole catalogue
  (0.4). The package's friends are a uniformly random subset of the user's friends, *drawn
  independently of the article*: none with probability ``no_friend_prob`` (0.1), else
  ``n = min(1 + Poisson(friend_rate), degree, max_friends)`` friends (friend_rate 1.0). Which
  friends read an article is therefore not a function of (user, article): that is what makes
  the friends of the package matter beyond user x article.
* click probability, with A = [u likes topic(a)], M = [u subscribes to media(a)],
  Fr = sum over the package's friends f of infl(f, topic(a)) (the number of friends who are
  influential on the article's topic), and the user's reason weights
  w(r_u) = (w_A, w_M, w_F, w_AM), one-hot on the reason (all zero for "none")::

      logit = intercept + b_u + b_a + strength * (w_A A + w_M M + w_F Fr + w_AM A M)
      true_prob = sigmoid(logit),   label ~ Bernoulli(true_prob)

  with ``intercept`` -1.5 and ``strength`` 3.0. article+media users click only when both hold
  (the paper's "endorsement of the media increases the credibility of the article", Sec. 5.4).
* selection as in the public code: users need >= 3 clicks and >= 1 non-click; non-clicked
  impressions are the negatives, at most 5 x the user's clicks (:func:`select_impressions`; the
  reference keeps the first 5 n_pos in file order, we keep a random 5 n_pos so that the cap does
  not depend on time). ``true_prob`` is the click probability of the impression before this
  selection, which conditions on labels; with the defaults it drops about 1.7 % of the users
  (fewer than 3 clicks) and 2.6 % of the negatives (counted in ``data.stats``), so the AUC of
  ``true_prob`` is the Bayes-optimal AUC up to that small selection effect.

Bayes-optimal scores
--------------------
* ``true_prob`` is the full Bayes-optimal score (AUC of ``true_prob`` = best AUC possible).
* ``true_prob_user_article`` is the best score of a model that sees only (user, article), as
  NeuMF does: E[true_prob | u, a], the friend set marginalised out exactly. Given u and a the
  friend count n has the law above and the number of influential friends among n drawn without
  replacement from the user's ``degree`` friends, of whom K are influential on topic(a), is
  hypergeometric, so

      true_prob_user_article = sum_n P(n) sum_k Hypergeom(k; degree, K, n) sigmoid(rest + s w_F k)

  with rest the logit without its friend term. The media is a function of the article, so it
  adds no gap of its own (a user x article model can learn "this user clicks this media's
  articles" through the article ids, with less data sharing); the gap comes from the friends.
  With the defaults (seed 0, all rows) AUC(true_prob) = 0.814 against 0.777 for
  AUC(true_prob_user_article), a gap of 0.038 (0.038-0.043 over seeds 0-3, 0.038 on the test
  split), and the per-user gAUC 0.775 against 0.713, a gap of 0.062 (0.062-0.069);
  tests/data/test_packages.py measures both. On the users whose reason is "friends" the two
  AUCs are 0.836 and 0.632.

Splits: temporal per user, the paper's 7:1:2 ratio on each user's impressions in time order
(:func:`split_impressions`): validation and test impressions are later than every training
impression of the same user.

Derived features (:func:`build_package_rows`; training interactions only, for every split):
user-side object sets (Eqs. 11-14), clicked packages (Eqs. 15-16) and inter-package neighbours
(Eqs. 9-10), with the target row left out of its own sets -- the rules are in that function's
docstring.

Columns: the features of :func:`tfrec_pkg.specs.package_click` (flattened [L, F] blocks, see
there), ``timestamp``, ``label``, ``subscribe_label`` (M, as in the raw logs), ``true_prob``,
``true_prob_user_article``, and for recovery checks the user's ``true_reason`` and the
impression's reason mix: ``true_topic`` (0-based), ``true_liked`` (A), ``true_influence`` (Fr),
``true_logit_base`` (intercept + b_u + b_a) and the four weighted terms ``true_logit_article``,
``true_logit_media``, ``true_logit_friends``, ``true_logit_article_media`` (their sum with the
base is the logit). ``data.world`` holds the latent tables (users with reason, liked topics,
subscriptions and friends; articles with media, topic and bias; media with topics) and
``data.stats`` the selection counts. ``items`` is the article table (article_id, media_id,
topic).

Sizing: the defaults (2000 users, 30 impressions each) give about 58k rows in a few seconds.
For CI-sized checks use e.g. ``packages(num_users=300, num_articles=400, num_media=20)``
(about 9k rows, well under a second); keep ``impressions_per_user`` >= 20 so that users keep
enough training clicks for their histories.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import hypergeom, poisson

from tfrec_pkg import specs
from tfrec_pkg.data.synthetic.base import TRUE_PROB, SyntheticData

USER_OFFSET, ARTICLE_OFFSET, MEDIA_OFFSET = 1_000_000, 500_000, 9_000
T0, WINDOW = 1_592_870_400, 10 * 86_400  # 2020-06-23 00:00 UTC, 10 days (the 10-day data set)
REASONS = ("article", "media", "friends", "article+media", "none")
TERMS = ("article", "media", "friends", "article_media")
REASON_WEIGHTS = {  # (w_A, w_M, w_F, w_AM) of each main reason, in the order of TERMS
    "article": (1.0, 0.0, 0.0, 0.0),
    "media": (0.0, 1.0, 0.0, 0.0),
    "friends": (0.0, 0.0, 1.0, 0.0),
    "article+media": (0.0, 0.0, 0.0, 1.0),
    "none": (0.0, 0.0, 0.0, 0.0),
}
DEFAULT_REASON_PROBS = {"article": 0.2, "media": 0.15, "friends": 0.3, "article+media": 0.2, "none": 0.15}
SOURCES = (0.3, 0.3, 0.4)  # feed sources: a subscribed media, a liked topic, the whole catalogue
LIKED_TOPICS = 2
TOPICAL_SUBSCRIPTIONS = 2  # of the user's subscriptions, this many publish a liked topic
SPLIT_RATIOS = (7, 1, 2)  # IPRec Sec. 5.1: train / validation / test


@dataclasses.dataclass
class PackageWorld:
    """The generator's latent tables (raw ids), for recovery checks and exact recomputation."""

    users: pd.DataFrame  # user_id, true_reason, bias, liked_topics, subscriptions, friends
    articles: pd.DataFrame  # article_id, media_id, topic, bias
    media: pd.DataFrame  # media_id, topics, topic_weights
    params: dict


@dataclasses.dataclass
class PackageData(SyntheticData):
    """:class:`SyntheticData` plus the latent world and the selection counts."""

    world: PackageWorld | None = None
    stats: dict = dataclasses.field(default_factory=dict)


def packages(num_users: int = 2000, num_articles: int = 2000, num_media: int = 100,
             num_topics: int = 10, impressions_per_user: int = 30, friends_per_user: int = 8,
             subscriptions: int = 3, reason_probs: dict | None = None, strength: float = 3.0,
             intercept: float = -1.5, user_bias_sd: float = 0.3, article_bias_sd: float = 0.3,
             no_friend_prob: float = 0.1, friend_rate: float = 1.0, max_friends: int = 10,
             max_history: int = 20, max_neighbours: int = 10, max_objects: int = 30,
             min_clicks: int = 3, max_negative_ratio: float | None = 5, seed: int = 0) -> PackageData:
    """Generate the data set described in the module docstring.

    The ``max_*`` sizes are the spec's (:func:`tfrec_pkg.specs.package_click`); the defaults fit
    this generator's users (about 7 training clicks each, packages of 1-4 friends) rather than
    the reference's 20 / 50 / 20 / 50, which would make every row mostly padding.
    """
    _check_sizes(num_users=num_users, num_articles=num_articles, num_media=num_media,
                 num_topics=num_topics, impressions_per_user=impressions_per_user,
                 friends_per_user=friends_per_user, subscriptions=subscriptions,
                 max_friends=max_friends, max_history=max_history, max_neighbours=max_neighbours,
                 max_objects=max_objects)
    if num_topics < LIKED_TOPICS:
        raise ValueError(f"num_topics must be >= {LIKED_TOPICS} (users like {LIKED_TOPICS} topics), "
                         f"found {num_topics}")
    if num_users <= friends_per_user:
        raise ValueError(f"num_users ({num_users}) must exceed friends_per_user ({friends_per_user})")
    if num_articles < num_media or subscriptions > num_media:
        raise ValueError(f"need num_articles >= num_media >= subscriptions, found {num_articles}, "
                         f"{num_media}, {subscriptions}")
    if impressions_per_user > num_articles:
        raise ValueError(f"impressions_per_user ({impressions_per_user}) must not exceed num_articles "
                         f"({num_articles}): a user sees distinct articles")
    if not 0.0 <= no_friend_prob <= 1.0:
        raise ValueError(f"no_friend_prob must be a probability in [0, 1], found {no_friend_prob}")
    if friend_rate < 0:
        raise ValueError(f"friend_rate must be >= 0, found {friend_rate}")
    probs = _reason_probs(reason_probs)
    rng = np.random.default_rng(seed)

    world = _draw_world(rng, num_users, num_articles, num_media, num_topics, friends_per_user,
                        subscriptions, probs, user_bias_sd, article_bias_sd)
    w = world.arrays
    imp_user, imp_article, imp_friends = _draw_impressions(
        rng, w, impressions_per_user, no_friend_prob, friend_rate, max_friends)

    # Click probabilities (module docstring).
    topic = w["article_topic"][imp_article]
    liked = w["liked"][imp_user, topic].astype(np.float64)
    subscribed = w["subscribed"][imp_user, w["article_media"][imp_article]].astype(np.float64)
    influence = np.array([w["liked"][f, t].sum() for f, t in zip(imp_friends, topic)], dtype=np.float64)
    # K(u, t): how many of u's friends are influential on topic t (for the (user, article) marginal)
    influential_friends = np.stack([w["liked"][f].sum(axis=0) for f in w["friends"]])
    weights = strength * np.array([REASON_WEIGHTS[r] for r in REASONS])[w["reason"][imp_user]]
    terms = weights * np.stack([liked, subscribed, influence, liked * subscribed], axis=1)
    base = intercept + w["user_bias"][imp_user] + w["article_bias"][imp_article]
    logit = base + terms.sum(axis=1)
    prob = expit(logit)
    label = (rng.random(len(prob)) < prob).astype(np.int64)
    degree = np.array([len(f) for f in w["friends"]])[imp_user]
    prob_ua = user_article_probability(logit - terms[:, 2], weights[:, 2], degree,
                                       influential_friends[imp_user, topic],
                                       max_friends, no_friend_prob, friend_rate)

    # Timestamps: distinct seconds in the window, in the order the impressions were drawn.
    n_imp = np.bincount(imp_user, minlength=num_users)
    ts = np.concatenate([np.sort(rng.choice(WINDOW, size=k, replace=False)) for k in n_imp]) + T0

    keep, stats = select_impressions(imp_user, label, min_clicks=min_clicks,
                                     max_negative_ratio=max_negative_ratio, rng=rng)
    user_ids = imp_user.astype(np.int64) + USER_OFFSET
    imp = pd.DataFrame({
        "user_id": user_ids,
        "timestamp": ts.astype(np.int64),
        "article_id": imp_article.astype(np.int64) + ARTICLE_OFFSET,
        "media_id": w["article_media"][imp_article].astype(np.int64) + MEDIA_OFFSET,
        "friend_ids": [f.astype(np.int64) + USER_OFFSET for f in imp_friends],
        "label": label,
        "subscribe_label": subscribed.astype(np.int64),
    })[keep].reset_index(drop=True)
    if len(imp) == 0:
        raise ValueError("no user passed the selection (>= min_clicks clicks and >= 1 non-click); "
                         "raise impressions_per_user or intercept")
    split_of = split_impressions(imp["user_id"].to_numpy(), imp["timestamp"].to_numpy())
    rows = build_package_rows(imp, split_of, max_friends=max_friends, max_history=max_history,
                              max_neighbours=max_neighbours, max_objects=max_objects)

    reason_names = np.array(REASONS, dtype=object)
    truth = {
        "timestamp": imp["timestamp"],
        "label": imp["label"],
        "subscribe_label": imp["subscribe_label"],
        TRUE_PROB: prob[keep],
        "true_prob_user_article": prob_ua[keep],
        "true_reason": reason_names[w["reason"][imp_user[keep]]],
        "true_topic": topic[keep].astype(np.int64),
        "true_liked": liked[keep].astype(np.int64),
        "true_influence": influence[keep].astype(np.int64),
        "true_logit_base": base[keep],
    }
    for j, name in enumerate(TERMS):
        truth[f"true_logit_{name}"] = terms[keep, j]
    frame = pd.concat([rows, pd.DataFrame(truth)], axis=1)
    # Rows by user, then time (the builder keeps the input order, which is already that).
    order = np.lexsort((frame["timestamp"].to_numpy(), frame["user_id"].to_numpy()))
    frame, split_of = frame.iloc[order].reset_index(drop=True), split_of[order]

    stats |= {"rows": len(frame), "users": int(frame["user_id"].nunique())}
    spec = specs.package_click(max_friends, max_history, max_neighbours, max_objects)
    params = {"intercept": intercept, "strength": strength, "no_friend_prob": no_friend_prob,
              "friend_rate": friend_rate, "max_friends": max_friends, "reason_weights": dict(REASON_WEIGHTS)}
    return PackageData(frame, split_of, spec, group="user_id",
                       items=world.articles[["article_id", "media_id", "topic"]].copy(),
                       world=PackageWorld(world.users, world.articles, world.media, params), stats=stats)


def training_fraction(data: PackageData, fraction: float, seed: int = 0) -> PackageData:
    """``data`` with a random ``fraction`` of its training impressions (IPRec Table 2's ratio
    rows: "we vary the size of each training set from 40% to 100%"); validation and test rows
    stay. The user-side sets, histories and neighbour lists of every row are rebuilt from the
    kept training impressions only, so no feature carries a dropped impression.

    Reading taken: the paper samples the training set without saying how; we keep a uniform
    random subset of all training impressions (users keep about ``fraction`` of theirs)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], found {fraction!r}")
    is_train = data.split_of == "train"
    keep = ~is_train | (np.random.default_rng(seed).random(len(is_train)) < fraction)
    frame, split_of = data.frame[keep].reset_index(drop=True), data.split_of[keep]
    length = {spec.name: spec.max_len for spec in data.specs if spec.is_sequence}
    rows = build_package_rows(frame, split_of, max_friends=length["friend_ids"],
                              max_history=length["hist_article_ids"], max_neighbours=length["nb_article_ids"] // 2,
                              max_objects=length["user_article_ids"])
    frame[rows.columns] = rows
    stats = data.stats | {"rows": len(frame), "training_fraction": fraction,
                          "training_rows_dropped": int((~keep).sum())}
    return dataclasses.replace(data, frame=frame, split_of=split_of, stats=stats)


# ----------------------------------------------------------------------------- the world


@dataclasses.dataclass
class _World:
    users: pd.DataFrame
    articles: pd.DataFrame
    media: pd.DataFrame
    arrays: dict  # 0-based numpy arrays the generator works on


def _draw_world(rng, num_users, num_articles, num_media, num_topics, friends_per_user,
                subscriptions, reason_probs, user_bias_sd, article_bias_sd) -> _World:
    # Media: 1-3 topics each with Dirichlet(1) weights.
    media_weights = np.zeros((num_media, num_topics))
    for m in range(num_media):
        k = rng.integers(1, 4) if num_topics >= 3 else rng.integers(1, num_topics + 1)
        media_weights[m, rng.choice(num_topics, size=k, replace=False)] = rng.dirichlet(np.ones(k))
    # Articles: balanced over media, topic from the media's weights.
    article_media = rng.permutation(np.arange(num_articles) % num_media)
    cum = np.cumsum(media_weights, axis=1)
    article_topic = np.minimum((rng.random(num_articles)[:, None] > cum[article_media]).sum(axis=1),
                               num_topics - 1)
    article_bias = rng.normal(0.0, article_bias_sd, size=num_articles)
    # Users: reason, liked topics, bias, subscriptions.
    reason = rng.choice(len(REASONS), size=num_users, p=reason_probs)
    liked = np.zeros((num_users, num_topics), dtype=bool)
    liked_topics = np.array([rng.choice(num_topics, size=LIKED_TOPICS, replace=False) for _ in range(num_users)])
    liked[np.arange(num_users)[:, None], liked_topics] = True
    user_bias = rng.normal(0.0, user_bias_sd, size=num_users)
    publishes = media_weights > 0  # [M, T]
    subscribed = np.zeros((num_users, num_media), dtype=bool)
    subs = []
    for u in range(num_users):
        topical = np.flatnonzero(publishes[:, liked[u]].any(axis=1))
        chosen = list(rng.choice(topical, size=min(TOPICAL_SUBSCRIPTIONS, len(topical), subscriptions),
                                 replace=False))
        rest = np.setdiff1d(np.arange(num_media), chosen)
        chosen += list(rng.choice(rest, size=subscriptions - len(chosen), replace=False))
        subs.append(np.array(chosen, dtype=np.int64))
        subscribed[u, chosen] = True
    # Friendship: each user befriends friends_per_user others; symmetric.
    picks = np.array([rng.choice(num_users - 1, size=friends_per_user, replace=False) for _ in range(num_users)])
    src = np.repeat(np.arange(num_users), friends_per_user)
    dst = picks.ravel()
    dst = dst + (dst >= src)  # skip the user themself
    edges = np.unique(np.concatenate([src * num_users + dst, dst * num_users + src]))
    a, b = np.divmod(edges, num_users)
    starts = np.searchsorted(a, np.arange(num_users + 1))
    friends = [b[starts[u]:starts[u + 1]] for u in range(num_users)]

    users = pd.DataFrame({
        "user_id": np.arange(num_users, dtype=np.int64) + USER_OFFSET,
        "true_reason": np.array(REASONS, dtype=object)[reason],
        "bias": user_bias,
        "liked_topics": [np.sort(t).astype(np.int64) for t in liked_topics],
        "subscriptions": [s + MEDIA_OFFSET for s in subs],
        "friends": [f.astype(np.int64) + USER_OFFSET for f in friends],
    })
    articles = pd.DataFrame({
        "article_id": np.arange(num_articles, dtype=np.int64) + ARTICLE_OFFSET,
        "media_id": article_media.astype(np.int64) + MEDIA_OFFSET,
        "topic": article_topic.astype(np.int64),
        "bias": article_bias,
    })
    media = pd.DataFrame({
        "media_id": np.arange(num_media, dtype=np.int64) + MEDIA_OFFSET,
        "topics": [np.flatnonzero(publishes[m]).astype(np.int64) for m in range(num_media)],
        "topic_weights": [media_weights[m][publishes[m]] for m in range(num_media)],
    })
    arrays = {"article_media": article_media, "article_topic": article_topic, "article_bias": article_bias,
              "reason": reason, "liked": liked, "user_bias": user_bias, "subscribed": subscribed,
              "subs": np.array(subs), "friends": friends}
    return _World(users, articles, media, arrays)


def _draw_impressions(rng, w, per_user, no_friend_prob, friend_rate, max_friends):
    """Distinct articles per user from the three feed sources, and each package's friends."""
    num_users, num_topics = w["liked"].shape
    num_articles = len(w["article_media"])
    by_media = _Groups(w["article_media"])
    by_topic = _Groups(w["article_topic"], num_topics)
    users, articles, friends = [], [], []
    draws = 2 * per_user  # enough candidates to keep per_user distinct ones (checked below)
    for u in range(num_users):
        source = rng.choice(3, size=draws, p=SOURCES)
        cand = rng.integers(num_articles, size=draws)  # source 2: the whole catalogue
        sub = source == 0
        cand[sub] = by_media.draw(rng, w["subs"][u][rng.integers(len(w["subs"][u]), size=sub.sum())])
        top = source == 1
        liked_t = np.flatnonzero(w["liked"][u])
        cand[top] = by_topic.draw(rng, liked_t[rng.integers(len(liked_t), size=top.sum())], fallback=num_articles)
        _, first = np.unique(cand, return_index=True)
        chosen = cand[np.sort(first)][:per_user]
        while len(chosen) < per_user:  # rare: many repeats; top up from the catalogue
            extra = np.setdiff1d(rng.integers(num_articles, size=draws), chosen)
            chosen = np.r_[chosen, extra[:per_user - len(chosen)]]
        # Friends: a uniformly random subset of the user's friends, independent of the article.
        pool = w["friends"][u]
        cap = min(len(pool), max_friends)
        n = np.minimum(1 + rng.poisson(friend_rate, size=per_user), cap)
        n[rng.random(per_user) < no_friend_prob] = 0
        order = np.argsort(rng.random((per_user, len(pool))), axis=1)
        users.append(np.full(per_user, u))
        articles.append(chosen)
        friends.extend(pool[order[k, :n[k]]] for k in range(per_user))
    return np.concatenate(users), np.concatenate(articles), friends


class _Groups:
    """Uniform draws of a member of a group (members sorted by group), vectorised."""

    def __init__(self, group: np.ndarray, num_groups: int | None = None):
        num_groups = int(group.max()) + 1 if num_groups is None else num_groups
        self.members = np.argsort(group, kind="stable")
        self.starts = np.searchsorted(group[self.members], np.arange(num_groups + 1))

    def draw(self, rng, groups: np.ndarray, fallback: int | None = None) -> np.ndarray:
        lo, hi = self.starts[groups], self.starts[groups + 1]
        size = hi - lo
        pick = lo + np.floor(rng.random(len(groups)) * np.maximum(size, 1)).astype(np.int64)
        out = self.members[np.minimum(pick, len(self.members) - 1)]
        if fallback is not None and (size == 0).any():  # a topic without articles: any article
            out[size == 0] = rng.integers(fallback, size=int((size == 0).sum()))
        return out


def _reason_probs(reason_probs: dict | None) -> np.ndarray:
    probs = DEFAULT_REASON_PROBS if reason_probs is None else reason_probs
    unknown = set(probs) - set(REASONS)
    if unknown:
        raise ValueError(f"reason_probs has unknown reason(s) {sorted(unknown)}; reasons are {REASONS}")
    p = np.array([float(probs.get(r, 0.0)) for r in REASONS])
    if (p < 0).any() or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"reason_probs must be non-negative and sum to 1, found {probs}")
    return p / p.sum()


def _check_sizes(**sizes) -> None:
    for name, value in sizes.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, found {value!r}")


# ----------------------------------------------------------------------------- Bayes scores


def friend_count_pmf(cap: np.ndarray, max_friends: int, no_friend_prob: float,
                     friend_rate: float) -> np.ndarray:
    """P(n friends in a package) per row, [rows, max_friends + 1]: 0 with probability
    ``no_friend_prob``, else min(1 + Poisson(friend_rate), cap) with cap = min(degree, max_friends)."""
    cap = np.asarray(cap)
    j = np.arange(max_friends + 1)[None, :]
    body = (1.0 - no_friend_prob) * poisson.pmf(j - 1, friend_rate)  # n = j < cap
    tail = (1.0 - no_friend_prob) * poisson.sf(j - 2, friend_rate)  # P(1 + Poisson >= cap), n = cap
    pmf = np.where(j < cap[:, None], body, np.where(j == cap[:, None], tail, 0.0))
    pmf[:, 0] = no_friend_prob + np.where(cap == 0, 1.0 - no_friend_prob, 0.0)
    return pmf


def user_article_probability(rest: np.ndarray, friend_weight: np.ndarray, degree: np.ndarray,
                             influential: np.ndarray, max_friends: int, no_friend_prob: float,
                             friend_rate: float) -> np.ndarray:
    """E[sigmoid(rest + friend_weight * k)] over the package's friends given (user, article):
    n ~ :func:`friend_count_pmf`, k ~ Hypergeom(degree, influential, n) (module docstring).
    Exact; rows with ``friend_weight == 0`` are sigmoid(rest)."""
    rest, friend_weight = np.asarray(rest, np.float64), np.asarray(friend_weight, np.float64)
    out = expit(rest)
    rows = np.flatnonzero(friend_weight != 0)
    if len(rows) == 0:
        return out
    deg, infl = np.asarray(degree)[rows], np.asarray(influential)[rows]
    pmf_n = friend_count_pmf(np.minimum(deg, max_friends), max_friends, no_friend_prob, friend_rate)
    acc = np.zeros(len(rows))
    for n in range(max_friends + 1):
        if not pmf_n[:, n].any():
            continue
        for k in range(n + 1):
            # hypergeom is nan where n > degree, and those rows have P(n) = 0
            pk = np.nan_to_num(hypergeom.pmf(k, deg, infl, n))
            acc += pmf_n[:, n] * pk * expit(rest[rows] + friend_weight[rows] * k)
    out[rows] = acc
    return out


# ----------------------------------------------------------------------------- selection and splits


def select_impressions(user: np.ndarray, label: np.ndarray, *, min_clicks: int = 3,
                       min_non_clicks: int = 1, max_negative_ratio: float | None = 5,
                       rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The public code's selection: keep users with >= ``min_clicks`` clicks and >=
    ``min_non_clicks`` non-clicks; keep every click and at most ``max_negative_ratio`` x clicks
    non-clicks per user (a uniformly random subset drawn with ``rng``; None: no cap).

    Returns (keep mask over the rows, counts: ``users_few_clicks``, ``users_no_non_click``,
    ``negatives_capped``).
    """
    if max_negative_ratio is not None and not max_negative_ratio >= 0:
        raise ValueError(f"max_negative_ratio must be >= 0 or None, found {max_negative_ratio!r}")
    user, label = np.asarray(user), np.asarray(label).astype(np.int64)
    codes, inverse = np.unique(user, return_inverse=True)
    clicks = np.bincount(inverse, weights=label, minlength=len(codes)).astype(np.int64)
    non_clicks = np.bincount(inverse, minlength=len(codes)) - clicks
    few = clicks < min_clicks
    no_neg = ~few & (non_clicks < min_non_clicks)
    keep = ~(few | no_neg)[inverse]
    capped = 0
    if max_negative_ratio is not None:
        # Rank each user's non-clicks in a random order; keep the first ratio * clicks.
        limit = np.floor(max_negative_ratio * clicks).astype(np.int64)
        neg = np.flatnonzero(keep & (label == 0))
        order = neg[np.lexsort((rng.random(len(neg)), inverse[neg]))]
        start = np.searchsorted(inverse[order], inverse[order], side="left")
        rank = np.arange(len(order)) - start
        drop = order[rank >= limit[inverse[order]]]
        keep[drop] = False
        capped = len(drop)
    stats = {"users_few_clicks": int(few.sum()), "users_no_non_click": int(no_neg.sum()),
             "negatives_capped": int(capped)}
    return keep, stats


def split_impressions(user: np.ndarray, timestamp: np.ndarray, how: str = "temporal",
                      ratios: Sequence[int] = SPLIT_RATIOS, rng: np.random.Generator | None = None
                      ) -> np.ndarray:
    """"train" | "val" | "test" per row, per user with the ``ratios`` (7:1:2, IPRec Sec. 5.1).

    A user's n rows are ordered -- by (timestamp, row order) for ``"temporal"``, at random
    (``rng``) for ``"random"`` -- and cut at floor(0.7 n) and floor(0.8 n), as the public code
    does for its random split. Temporal ties are never split: every row takes the split of the
    first row with its (user, timestamp), so validation and test rows are strictly later than
    all training rows of their user (a tie group straddling a cut moves to the earlier split).
    """
    if how not in ("temporal", "random"):
        raise ValueError(f"split must be 'temporal' or 'random', found {how!r}")
    r = [int(x) for x in ratios]
    if len(r) != 3 or min(r) < 0 or sum(r) == 0:
        raise ValueError(f"ratios must be three non-negative integers, found {ratios!r}")
    user, timestamp = np.asarray(user), np.asarray(timestamp, dtype=np.int64)
    n = len(user)
    if how == "temporal":
        order = np.lexsort((np.arange(n), timestamp, user))
    else:
        if rng is None:
            raise ValueError("a random split needs rng")
        order = np.lexsort((rng.random(n), user))
    u = user[order]
    new_user = np.r_[True, u[1:] != u[:-1]] if n else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(new_user, np.arange(n), 0))
    pos = np.arange(n) - start
    size = np.diff(np.r_[np.flatnonzero(new_user), n])[np.cumsum(new_user) - 1]
    total = sum(r)
    part = np.where(pos < size * r[0] // total, 0, np.where(pos < size * (r[0] + r[1]) // total, 1, 2))
    if how == "temporal":  # ties follow the first row of their (user, timestamp) group
        t = timestamp[order]
        new_group = new_user | np.r_[True, t[1:] != t[:-1]] if n else new_user
        first = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
        part = part[first]
    out = np.empty(n, dtype="<U5")
    out[order] = np.array(["train", "val", "test"])[part]
    return out


# ----------------------------------------------------------------------------- package rows


def build_package_rows(impressions: pd.DataFrame, split_of: np.ndarray, *, max_friends: int,
                       max_history: int, max_neighbours: int, max_objects: int) -> pd.DataFrame:
    """The features of :func:`tfrec_pkg.specs.package_click` for every impression, built from
    the *training* impressions only (whatever the row's split), in the input row order.

    ``impressions`` has one row per impression with ``user_id, timestamp, article_id,
    media_id, friend_ids`` (a list/array of at most ``max_friends`` ids), ``label`` (click 0/1)
    and ``subscribe_label`` (0/1). A user's impressions are in time order, ties by input order;
    T_u is the user's training impressions, and every set below leaves the row itself out
    (only a training row can be in T_u):

    * ``hist_*`` (Eqs. 15-16): the clicked packages in T_u, oldest first, the last
      ``max_history``; a training click is removed from its own history (as the public code
      does), so every row's history is "the user's other training clicks".
    * ``user_article_ids`` / ``user_friend_ids`` (Eqs. 11-12, A_u^article, A_u^friend): the
      distinct articles / friends of those clicked packages (the paper's sets; the public code
      keeps duplicates), ordered by their last occurrence (a package's friends in list order),
      the last ``max_objects``.
    * ``user_media_ids`` (A_u^media): the distinct media of the impressions in T_u with
      ``subscribe_label`` 1, clicked or not (the public code's user_bizs), ordered the same way.
      The public code keeps a training row's own subscription in its set; we leave it out like
      everything else, so training rows see what evaluation rows see.
    * ``nb_*`` (Eqs. 9-10, N(p)): candidates are the impressions in T_u other than the row with
      a different article (the public code: the same; it builds them over all splits, which
      leaks the future). First up to ``max_neighbours`` candidates with the same media, most
      recent first; then up to ``max_neighbours`` candidates sharing at least one friend with
      the row's package that are not listed yet, by number of shared distinct friends
      (descending), then most recent first.

    [L, F] features are flattened blocks of ``max_friends`` (see the spec). Rows of one user
    share their arrays where they are equal (read-only use).
    """
    for name, value in (("max_friends", max_friends), ("max_history", max_history),
                        ("max_neighbours", max_neighbours), ("max_objects", max_objects)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, found {value!r}")
    n = len(impressions)
    user = impressions["user_id"].to_numpy(np.int64)
    ts = impressions["timestamp"].to_numpy(np.int64)
    article = impressions["article_id"].to_numpy()
    media = impressions["media_id"].to_numpy(np.int64)
    label = impressions["label"].to_numpy(np.int64)
    sub = impressions["subscribe_label"].to_numpy(np.int64)
    split_of = np.asarray(split_of)
    if len(split_of) != n:
        raise ValueError(f"split_of has {len(split_of)} entries for {n} impressions")
    friend_lists = [np.asarray(f, dtype=np.int64) for f in impressions["friend_ids"]]
    lengths = np.array([len(f) for f in friend_lists], dtype=np.int64)
    if n and lengths.max() > max_friends:
        raise ValueError(f"a package has {lengths.max()} friends, more than max_friends={max_friends}; "
                         "truncate the friend lists first")
    fr = np.full((n, max_friends), -1, dtype=np.int64)  # padded friends, [n, F]
    fr[np.arange(max_friends)[None, :] < lengths[:, None]] = (
        np.concatenate(friend_lists) if n else np.zeros(0, np.int64))

    cols = {c: np.empty(n, dtype=object) for c in (
        "user_article_ids", "user_media_ids", "user_friend_ids", "hist_article_ids", "hist_media_ids",
        "hist_friend_ids", "nb_article_ids", "nb_media_ids", "nb_friend_ids")}
    order = np.lexsort((np.arange(n), ts, user))
    bounds = np.flatnonzero(np.r_[True, user[order][1:] != user[order][:-1], True]) if n else [0]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        rows = order[lo:hi]  # the user's impressions in time order
        is_train = split_of[rows] == "train"
        train = rows[is_train]
        clicked = train[label[train] == 1]
        subscribed = train[sub[train] == 1]

        def clicks_part(excluded):
            c = clicked[clicked != excluded] if excluded is not None else clicked
            h = c[-max_history:]
            friends = fr[c].ravel()
            return (article[h], media[h], fr[h].ravel(), _distinct_last(article[c])[-max_objects:],
                    _distinct_last(friends[friends != -1])[-max_objects:])

        def media_part(excluded):
            s = subscribed[subscribed != excluded] if excluded is not None else subscribed
            return _distinct_last(media[s])[-max_objects:]

        shared_clicks, shared_media = clicks_part(None), media_part(None)
        nb = _neighbours(rows, is_train, article, media, fr, max_neighbours)
        clicked_set, subscribed_set = set(clicked.tolist()), set(subscribed.tolist())
        for i, r in enumerate(rows):
            ha, hm, hf, ua, uf = clicks_part(r) if r in clicked_set else shared_clicks
            cols["hist_article_ids"][r], cols["hist_media_ids"][r], cols["hist_friend_ids"][r] = ha, hm, hf
            cols["user_article_ids"][r], cols["user_friend_ids"][r] = ua, uf
            cols["user_media_ids"][r] = media_part(r) if r in subscribed_set else shared_media
            k = nb[i]
            cols["nb_article_ids"][r], cols["nb_media_ids"][r], cols["nb_friend_ids"][r] = (
                article[k], media[k], fr[k].ravel())
    return pd.DataFrame({
        "user_id": user,
        "article_id": article,
        "media_id": media,
        "friend_ids": friend_lists,
        **cols,
    })[[s.name for s in specs.package_click(max_friends, max_history, max_neighbours, max_objects)]]


def _distinct_last(values: np.ndarray) -> np.ndarray:
    """Distinct values ordered by their last occurrence (oldest first)."""
    if len(values) == 0:
        return values
    rev = values[::-1]
    _, first = np.unique(rev, return_index=True)
    return rev[np.sort(first)][::-1]


def _neighbours(rows: np.ndarray, is_train: np.ndarray, article: np.ndarray, media: np.ndarray,
                fr: np.ndarray, cap: int) -> list[np.ndarray]:
    """Per row of one user (``rows``, time order), the neighbour impressions among the user's
    training impressions ``rows[is_train]``: same media first, then shared friends (rules in
    :func:`build_package_rows`)."""
    train = rows[is_train]
    t = len(train)
    if t == 0:
        return [np.zeros(0, dtype=np.int64)] * len(rows)
    valid = (rows[:, None] != train[None, :]) & (article[rows][:, None] != article[train][None, :])
    # Same media, most recent first (larger position = more recent).
    recency = np.arange(t)
    same = valid & (media[rows][:, None] == media[train][None, :])
    sel_m = np.argsort(np.where(same, -recency, t), axis=1, kind="stable")[:, :cap]
    ok_m = np.take_along_axis(same, sel_m, axis=1)
    listed = np.zeros_like(valid)
    np.put_along_axis(listed, sel_m, ok_m, axis=1)  # only True where selected
    # Shared distinct friends: incidence [rows, friends] -> overlap [rows, train].
    present = fr[rows]
    ids, local = np.unique(present[present >= 0], return_inverse=True)
    incidence = np.zeros((len(rows), len(ids)), dtype=np.int32)
    incidence[np.nonzero(present >= 0)[0], local] = 1  # a friend listed twice still counts once
    overlap = incidence @ incidence[is_train].T
    fri = valid & (overlap >= 1) & ~listed
    key = np.where(fri, -(overlap * (t + 1) + recency), 1)  # overlap desc, then recency desc
    sel_f = np.argsort(key, axis=1, kind="stable")[:, :cap]
    ok_f = np.take_along_axis(fri, sel_f, axis=1)
    return [np.r_[train[sel_m[i][ok_m[i]]], train[sel_f[i][ok_f[i]]]] for i in range(len(rows))]
