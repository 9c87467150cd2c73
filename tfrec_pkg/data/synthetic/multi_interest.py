"""Planted multi-interest purchase data for SUM (Lian et al., "Multi-Interest-Aware User
Modeling for Large-Scale Sequential Recommendations").

The layout mirrors the paper's Taobao setup (SUM Sec. 5.1 and Appendix A.1): page views build
the history, a purchase is the target, negatives are sampled by item popularity at 1:4, and
users are split 70/15/15.

Generative story (raw ids look like log ids: users 1_000_000 + u, items 500_000 + i,
categories 100 + t; everything is int64):

* items: a topic each (balanced over ``num_topics``; the topic *is* the item's category, so
  ``category_id`` reveals it) and a global popularity ``pop(i)`` (Zipf-like, a random rank r
  gets weight r^-0.8, normalised). Inside a topic, ``P(i | t) = pop(i) / pop(t)`` with
  ``pop(t)`` the topic's total popularity mass.
* users: 2-4 interest topics (uniform count, distinct topics) with weights pi_u ~ Dirichlet(1).
* page views: ``round(U(0.6, 1.0) * seq_len)`` events made of bursts (SUM Sec. 4.2, local
  proximity): a topic t ~ pi_u, then a burst of Geometric(mean 5) items i ~ P(i | t). Each
  event is replaced, with probability 0.1, by noise: an item from a uniformly random topic.
* interest drift (``stale_interest=True``, the default): one of the user's interests ends at
  60 % of the page-view stream -- later bursts of it are redrawn from the other interests --
  and is never purchased. It still fills older history positions, so a model must know
  *when* a behaviour happened: the order-free AttMerge cannot tell it from a live interest,
  a single-vector GRU keeps mostly the last bursts, a multi-channel sequential state can hold
  every live interest (the paper's motivation, Sec. 1 and Fig. 6's evolving user A).
* purchase (one per user, after all page views): with probability ``recency`` (default 0.3)
  the topic of the most recent burst t_last (unless that burst is of the ended interest,
  possible in short streams) ("the most recent event usually plays the most
  important role for the next item prediction", SUM Sec. 4.3, the highway channel's reason),
  otherwise a topic t ~ pi_buy drawn afresh (pi_u without the stale interest, renormalised),
  then i ~ P(i | t) (no noise). So the purchase comes from one of the user's live interests,
  not necessarily the most recent one. ``negatives`` negative items follow
  by global popularity ``pop`` (never the positive; with replacement), as in the paper's 1:4
  setup, except that ``stale_negatives`` (default 1) of them are impressions from the user's
  ended interest that were not bought (i ~ P(i | stale topic)), like the Display Ads set's
  non-click impression negatives (SUM Appendix A.1). The user's 1 + ``negatives`` rows share one history: the last ``max_history`` page
  views before the purchase.
* the true probability of each row is the posterior that the candidate is the purchase,
  given the user's true interests and last burst. With
  ``q_u(i) = recency P(i | t_last) + (1 - recency) sum_t pi_buy(t) P(i | t)`` and the prior
  ``1 / (1 + negatives)`` of a row being the positive:

      true_prob = q_u(i) / (q_u(i) + (negatives - s) * pop(i) + s * P(i | stale topic))

  with ``s = stale_negatives`` negatives per user drawn from the ended interest (see below).

  Labels are exact (1 positive, ``negatives`` zeros per user), so the per-user AUC of
  ``true_prob`` is the Bayes-optimal gAUC. A model sees the interests only through the
  history, so it can approach that value but not beat it (in expectation).

Columns: the five features of :func:`tfrec_pkg.specs.click_history`, ``timestamp`` (the purchase's position in
the user's event stream = its number of page views), ``label``, ``true_prob``, and for
recovery checks ``user_interests`` (the user's interest topics as category ids, heaviest
first) with ``user_interest_weights`` (pi_u in the same order) and ``stale_interest`` (the
interest that ended, as a category id; -1 without drift). The true topic of a history
event is its category, so ``hist_category_ids`` already carries it.

Splits are by user, 70/15/15 (SUM Appendix A.1), with
:func:`tfrec_pkg.data.sequences.split_by_user` and the generator's seed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm  # plain text bars, also in notebooks (tqdm.auto's widget bar needs ipywidgets)

from tfrec_pkg.data.negatives import PopularitySampler
from tfrec_pkg.data.sequences import split_by_user
from tfrec_pkg.data.synthetic.base import TRUE_PROB, SyntheticData
from tfrec_pkg import specs

USER_OFFSET, ITEM_OFFSET, CATEGORY_OFFSET = 1_000_000, 500_000, 100
ZIPF_EXPONENT = 0.8  # popularity of the item with popularity rank r is r^-0.8
BURST_MEAN = 5.0  # mean length of a same-topic burst of page views
NOISE = 0.1  # share of page views from a uniformly random topic
MIN_INTERESTS, MAX_INTERESTS = 2, 4


def multi_interest(num_users: int = 3000, num_items: int = 2000, num_topics: int = 20,
                   seq_len: int = 100, max_history: int = 50, negatives: int = 4, seed: int = 0,
                   stale_interest: bool = True, stale_negatives: int = 1, recency: float = 0.3,
                   progress: bool | None = None) -> SyntheticData:
    """Generate the data set described in the module docstring.

    ``progress=None`` shows a progress bar when the data set is large (>= 1M page views).
    """
    if num_topics < MAX_INTERESTS:
        raise ValueError(f"num_topics must be >= {MAX_INTERESTS} (users have up to "
                         f"{MAX_INTERESTS} interests), found {num_topics}")
    if num_items < num_topics:
        raise ValueError(f"num_items ({num_items}) must be >= num_topics ({num_topics}) so "
                         "that every topic has an item")
    if seq_len < 1 or max_history < 1 or negatives < 1:
        raise ValueError("seq_len, max_history and negatives must be positive integers, found "
                         f"{seq_len}, {max_history}, {negatives}")
    if not 0.0 <= recency <= 1.0:
        raise ValueError(f"recency must be a probability in [0, 1], found {recency}")
    if progress is None:
        progress = num_users * seq_len >= 1_000_000
    rng = np.random.default_rng(seed)

    # Items: balanced topics, Zipf-like global popularity, P(i | t) within the topic.
    item_topic = rng.permutation(np.arange(num_items) % num_topics)
    pop = (1.0 + rng.permutation(num_items)) ** -ZIPF_EXPONENT
    pop /= pop.sum()
    p_in_topic = pop / np.bincount(item_topic, weights=pop, minlength=num_topics)[item_topic]
    topic_items = [np.flatnonzero(item_topic == t) for t in range(num_topics)]

    # Users: interests, then a bursty page-view topic stream and one purchase topic each.
    pi = np.zeros((num_users, num_topics))  # dense pi_u (0 outside the interests)
    pi_buy = np.zeros((num_users, num_topics))  # the purchase topic distribution (recency mixed in)
    last_topic = np.empty(num_users, dtype=np.int64)  # topic of the most recent burst
    interests, streams, buy_topic = [], [], np.empty(num_users, dtype=np.int64)
    stale_topic = np.full(num_users, -1, dtype=np.int64)
    for u in tqdm(range(num_users), desc="multi_interest", disable=not progress):
        k = rng.integers(MIN_INTERESTS, MAX_INTERESTS + 1)
        topics = rng.choice(num_topics, size=k, replace=False)
        weights = rng.dirichlet(np.ones(k))
        by_weight = np.argsort(-weights, kind="stable")
        topics, weights = topics[by_weight], weights[by_weight]
        pi[u, topics] = weights
        interests.append(topics)
        n = max(1, int(round(rng.uniform(0.6, 1.0) * seq_len)))
        buy_weights = weights
        if stale_interest:  # interest drift: one interest ends at 60 % of the stream
            stale = rng.integers(k)
            stale_topic[u] = topics[stale]
            buy_weights = np.where(np.arange(k) == stale, 0.0, weights)
            buy_weights = buy_weights / buy_weights.sum()
        # n bursts of length >= 1 always cover n events; keep the first n. Bursts that start
        # after 60 % of the stream draw their topic from the live interests only.
        lengths = rng.geometric(1.0 / BURST_MEAN, size=n)
        late = (np.cumsum(lengths) - lengths) >= int(0.6 * n)
        burst_topics = np.where(late, rng.choice(topics, size=n, p=buy_weights),
                                rng.choice(topics, size=n, p=weights))
        stream = np.repeat(burst_topics, lengths)[:n]
        last_topic[u] = stream[-1]  # before noise: the burst's topic, not a noise event's
        # a short stream may end in a burst of the ended interest: no recency pull then
        pull = recency if buy_weights[topics == last_topic[u]].sum() > 0 else 0.0
        noise = rng.random(n) < NOISE
        stream[noise] = rng.integers(num_topics, size=int(noise.sum()))
        streams.append(stream)
        pi_buy[u, topics] = (1.0 - pull) * buy_weights
        pi_buy[u, last_topic[u]] += pull
        buy_topic[u] = rng.choice(num_topics, p=pi_buy[u])

    # Items for every page view and purchase: one draw per topic, P(i | t).
    sizes = np.array([len(s) for s in streams])
    all_topics = np.concatenate(streams + [buy_topic])
    all_items = np.empty_like(all_topics)
    for t in range(num_topics):
        at = np.flatnonzero(all_topics == t)
        all_items[at] = rng.choice(topic_items[t], size=len(at), p=p_in_topic[topic_items[t]])
    views, positives = all_items[:-num_users], all_items[-num_users:]
    ends = np.cumsum(sizes)
    hist_items = [views[max(e - n, e - max_history):e] for e, n in zip(ends, sizes)]

    # Negatives by global popularity (sampler ids are item + 1: id 0 is its padding).
    sampler = PopularitySampler(np.concatenate([[0.0], pop]), seed=int(rng.integers(2**31)))
    negs = sampler.sample(positives + 1, negatives) - 1
    # Impressions from the ended interest that were not bought (hard negatives, like the
    # Display Ads set's non-click impressions): the first ``stale_negatives`` slots.
    s_neg = min(stale_negatives, negatives) if stale_interest else 0
    for t in range(num_topics):
        rows = np.flatnonzero(stale_topic == t)
        if s_neg and len(rows):
            negs[rows, :s_neg] = rng.choice(topic_items[t], size=(len(rows), s_neg),
                                            p=p_in_topic[topic_items[t]])

    # 1 + negatives rows per user: the positive first, then its negatives.
    per = 1 + negatives
    users = np.repeat(np.arange(num_users), per)
    items = np.concatenate([positives[:, None], negs], axis=1).ravel()
    labels = np.tile(np.r_[1, np.zeros(negatives, dtype=np.int64)], num_users)
    q = pi_buy[users, item_topic[items]] * p_in_topic[items]
    # each negative slot's density at the item: popularity, or P(i | stale topic) for the
    # stale-impression slots
    stale_density = np.where(item_topic[items] == stale_topic[users], p_in_topic[items], 0.0)
    true_prob = q / (q + (negatives - s_neg) * pop[items] + s_neg * stale_density)
    hist_i = [(h + ITEM_OFFSET).astype(np.int64) for h in hist_items]
    hist_c = [(item_topic[h] + CATEGORY_OFFSET).astype(np.int64) for h in hist_items]
    interest_ids = [(t + CATEGORY_OFFSET).astype(np.int64) for t in interests]
    interest_weights = [pi[u, t] for u, t in enumerate(interests)]
    frame = pd.DataFrame({
        "user_id": users.astype(np.int64) + USER_OFFSET,
        "item_id": items.astype(np.int64) + ITEM_OFFSET,
        "category_id": item_topic[items].astype(np.int64) + CATEGORY_OFFSET,
        # the rows of one user share their history arrays (read-only use)
        "hist_item_ids": [hist_i[u] for u in users],
        "hist_category_ids": [hist_c[u] for u in users],
        "timestamp": sizes[users].astype(np.int64),
        "label": labels.astype(np.int64),
        TRUE_PROB: true_prob,
        "user_interests": [interest_ids[u] for u in users],
        "user_interest_weights": [interest_weights[u] for u in users],
        "stale_interest": np.where(stale_topic[users] >= 0, stale_topic[users] + CATEGORY_OFFSET, -1),
    })

    train, val, test = split_by_user(frame, "user_id", ratios=(0.7, 0.15, 0.15), seed=seed)
    split_of = np.empty(len(frame), dtype="<U5")
    split_of[train.index], split_of[val.index], split_of[test.index] = "train", "val", "test"
    item_frame = pd.DataFrame({"item_id": np.arange(num_items, dtype=np.int64) + ITEM_OFFSET,
                               "category_id": item_topic.astype(np.int64) + CATEGORY_OFFSET})
    return SyntheticData(frame, split_of, specs.click_history(max_history), group="user_id", items=item_frame)
