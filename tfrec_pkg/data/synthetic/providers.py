"""Planted item-provider sequences for IPSRec (Chen et al., "Item-Provider Co-learning for
Sequential Recommendation", SIGIR 2022).

The layout mirrors the paper's setup (IPSRec Sec. 2 problem definition and Sec. 3.3): a user's
history is an item sequence with the aligned provider sequence (the seller, streamer or author of
each item), the task is the next item, and the split is leave-one-out by time per user (last
event test, penultimate validation, the rest training). Ranking is over the full catalogue
(``items`` = every item with its provider).

Generative story (raw ids look like log ids: users 1_000_000 + u, items 500_000 + i, providers
9_000 + p; everything is int64):

* items: a topic each (balanced over ``num_topics``) and a provider each (balanced over
  ``num_providers``, independent of the topic, so a provider sells in several topics), and a
  global popularity ``pop(i)`` (Zipf-like: a random rank r gets weight r^-0.8, normalised).
* users: loyal to 2-3 distinct providers (uniform count) with weights w_u ~ Dirichlet(1).
* topics drift by a Markov chain per user: z_0 uniform, then z_t = z_{t-1} with probability 0.7,
  else a uniformly random *other* topic.
* event t (``seq_len`` events per user): z_t from the chain, then the item from the known
  distribution ``P(i | u, z_t)``, a 50/50 mixture of

  - provider loyalty: a provider p ~ w_u, then one of p's items in topic z_t by popularity
    (``pop(i) / pop(p, z_t)``), or any of p's items by popularity (``pop(i) / pop(p)``) when p
    has no item in z_t;
  - topic continuity: an item of topic z_t by popularity (``pop(i) / pop(z_t)``).

* rows (next-item prediction): one per event t >= 1, with the user's previous events as the
  history (the last ``max_history`` items and their providers, oldest first) and the event itself
  as the target (``item_id``, ``provider_id``). Every user has ``seq_len`` events, so
  ``seq_len - 1`` rows.
* true probabilities: a row's target was drawn from ``P(i | u, z_t)`` with z_t unknown given
  the previous state z_{t-1}, so the truth is ``P(i | u, z_{t-1}) = sum_z T(z_{t-1}, z) P(i | u, z)``
  (T the topic chain). It is computed for *all* items of every row (vectorised, in chunks of
  rows), and stored as ``true_prob`` (the target's probability) and ``true_rank`` (the target's
  1-based rank among all items by true probability, ties counted against it, as in
  :func:`tfrec_pkg.evaluation.metrics.rank_of_target`), with ``true_rank_hr10 = true_rank <= 10``.
  The mean of ``true_rank_hr10`` over the test split is the best HR@10 any model can reach in
  expectation: a model sees loyalty and topic only through the history.

Protocol: :func:`tfrec_pkg.data.sequences.leave_one_out_split` on the rows by time
(``timestamp`` = the target's position in the user's stream): the last event is the test row,
the penultimate the validation row, and every earlier prefix (targets at positions
1 .. seq_len - 3) a training row, so training holds exactly ``num_users * (seq_len - 3)`` rows.
Validation and test histories include the earlier (training) events, as in SASRec.

Columns: the five features of :func:`tfrec_pkg.specs.next_item`, ``timestamp``, ``label`` (always 1: every
row is a positive next item, as the ranking protocols expect), ``true_prob``, ``true_rank``,
``true_rank_hr10`` and, for recovery checks, ``current_topic`` (z_{t-1}, 0-based),
``loyal_providers`` (raw provider ids, heaviest first) and ``loyalty_weights`` (w_u, same order).
The rows of one user share their history arrays (read-only views into one array per user).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec_pkg.data.sequences import leave_one_out_split
from tfrec_pkg.data.synthetic.base import TRUE_PROB, SyntheticData
from tfrec_pkg import specs

USER_OFFSET, ITEM_OFFSET, PROVIDER_OFFSET = 1_000_000, 500_000, 9_000
ZIPF_EXPONENT = 0.8  # popularity of the item with popularity rank r is r^-0.8
STAY = 0.7  # probability that the topic chain stays on its topic
LOYALTY = 0.5  # share of next items chosen through a loyal provider (the rest: by topic)
MIN_LOYAL, MAX_LOYAL = 2, 3
TOP_K = 10  # true_rank_hr10
_CHUNK = 2048  # rows per block of the [rows, items] true-probability matrix


def providers(num_users: int = 2000, num_items: int = 1000, num_providers: int = 100,
              num_topics: int = 10, seq_len: int = 30, max_history: int = 20,
              seed: int = 0) -> SyntheticData:
    """Generate the data set described in the module docstring."""
    for name, value in (("num_users", num_users), ("max_history", max_history)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, found {value!r}")
    if seq_len < 4:
        raise ValueError(f"seq_len must be >= 4 (a training, a validation and a test target after "
                         f"the first event), found {seq_len}")
    if num_topics < 2:
        raise ValueError(f"num_topics must be >= 2 (the topic chain moves to another topic), "
                         f"found {num_topics}")
    if num_providers < MAX_LOYAL:
        raise ValueError(f"num_providers must be >= {MAX_LOYAL} (users are loyal to up to "
                         f"{MAX_LOYAL} providers), found {num_providers}")
    if num_items < max(num_topics, num_providers):
        raise ValueError(f"num_items ({num_items}) must be >= num_topics ({num_topics}) and >= "
                         f"num_providers ({num_providers}) so that each has an item")
    U, I, P, T, S = int(num_users), int(num_items), int(num_providers), int(num_topics), int(seq_len)
    rng = np.random.default_rng(seed)

    # Items: balanced topics and providers (independent), Zipf-like popularity.
    item_topic = rng.permutation(np.arange(I) % T)
    item_prov = rng.permutation(np.arange(I) % P)
    pop = (1.0 + rng.permutation(I)) ** -ZIPF_EXPONENT
    pop /= pop.sum()
    pop_t = np.bincount(item_topic, weights=pop, minlength=T)  # pop(z)
    pop_p = np.bincount(item_prov, weights=pop, minlength=P)  # pop(p)
    pop_pt = np.bincount(item_prov * T + item_topic, weights=pop, minlength=P * T).reshape(P, T)

    # Users: 2-3 loyal providers (padded with -1 / weight 0), heaviest first.
    n_loyal = rng.integers(MIN_LOYAL, MAX_LOYAL + 1, size=U)
    loyal = np.full((U, MAX_LOYAL), -1, dtype=np.int64)
    weight = np.zeros((U, MAX_LOYAL))
    for u in range(U):
        k = n_loyal[u]
        w = rng.dirichlet(np.ones(k))
        by_weight = np.argsort(-w, kind="stable")
        loyal[u, :k] = rng.choice(P, size=k, replace=False)[by_weight]
        weight[u, :k] = w[by_weight]

    # Topic chains, all users at once.
    z = np.empty((U, S), dtype=np.int64)
    z[:, 0] = rng.integers(T, size=U)
    for t in range(1, S):
        move = rng.random(U) >= STAY
        other = (z[:, t - 1] + rng.integers(1, T, size=U)) % T
        z[:, t] = np.where(move, other, z[:, t - 1])

    # Items of every event: route, provider (inverse cdf over w_u), then the item.
    by_provider = rng.random((U, S)) < LOYALTY
    pick = (rng.random((U, S))[..., None] > np.cumsum(weight, axis=1)[:, None, :]).sum(-1)
    pick = np.minimum(pick, n_loyal[:, None] - 1)
    prov = np.take_along_axis(loyal, pick, axis=1)  # [U, S]
    u_in_topic, u_any, u_topic = rng.random((3, U, S))
    in_topic = _GroupSampler(item_prov * T + item_topic, pop, P * T).sample(prov * T + z, u_in_topic)
    any_of_p = _GroupSampler(item_prov, pop, P).sample(prov, u_any)
    of_topic = _GroupSampler(item_topic, pop, T).sample(z, u_topic)
    events = np.where(by_provider, np.where(pop_pt[prov, z] > 0, in_topic, any_of_p), of_topic)

    # Rows: target positions 1 .. S-1 per user, history = the previous max_history events.
    users = np.repeat(np.arange(U), S - 1)
    pos = np.tile(np.arange(1, S), U)
    target = events[users, pos]
    raw_items = events + ITEM_OFFSET
    raw_provs = item_prov[events] + PROVIDER_OFFSET
    hist_items, hist_provs = _histories(raw_items, raw_provs, users, pos, int(max_history))

    prob, rank = _true_probabilities(users, z[users, pos - 1], target, loyal, weight, item_topic,
                                     item_prov, pop, pop_t, pop_p, pop_pt)
    loyal_raw = [loyal[u, :n_loyal[u]] + PROVIDER_OFFSET for u in range(U)]
    loyal_w = [weight[u, :n_loyal[u]] for u in range(U)]
    frame = pd.DataFrame({
        "user_id": users.astype(np.int64) + USER_OFFSET,
        "hist_item_ids": hist_items,
        "hist_provider_ids": hist_provs,
        "item_id": target.astype(np.int64) + ITEM_OFFSET,
        "provider_id": item_prov[target].astype(np.int64) + PROVIDER_OFFSET,
        "timestamp": pos.astype(np.int64),
        "label": np.ones(len(users), dtype=np.int64),
        TRUE_PROB: prob,
        "true_rank": rank,
        "true_rank_hr10": (rank <= TOP_K).astype(np.int64),
        "current_topic": z[users, pos - 1],
        "loyal_providers": [loyal_raw[u] for u in users],
        "loyalty_weights": [loyal_w[u] for u in users],
    })
    items = pd.DataFrame({"item_id": np.arange(I, dtype=np.int64) + ITEM_OFFSET,
                          "provider_id": item_prov.astype(np.int64) + PROVIDER_OFFSET})
    return SyntheticData(frame, split_labels(frame), specs.next_item(int(max_history)), group="user_id",
                         items=items)


def split_labels(frame: pd.DataFrame) -> np.ndarray:
    """"train" | "val" | "test" per row: leave-one-out by time per user (last row test,
    penultimate validation; users with fewer than 3 rows keep them all in train)."""
    train, val, test = leave_one_out_split(frame, "user_id", "timestamp")
    split_of = np.empty(len(frame), dtype="<U5")
    pos = frame.index
    split_of[pos.get_indexer(train.index)] = "train"
    split_of[pos.get_indexer(val.index)] = "val"
    split_of[pos.get_indexer(test.index)] = "test"
    return split_of


# ----------------------------------------------------------------------------- helpers


def _histories(items: np.ndarray, provs: np.ndarray, users: np.ndarray, pos: np.ndarray,
               max_history: int) -> tuple[list, list]:
    """Per row, views of the user's events ``[max(0, pos - max_history), pos)``: items, providers."""
    starts = np.maximum(pos - max_history, 0)
    return ([items[u, s:e] for u, s, e in zip(users, starts, pos)],
            [provs[u, s:e] for u, s, e in zip(users, starts, pos)])


class _GroupSampler:
    """Draws one member of a group per request, by weight, with inverse-cdf sampling on one
    cumulative array (members sorted by group): vectorised over requests. Groups asked for
    must be non-empty; requests for empty groups return an arbitrary (ignored) member."""

    def __init__(self, group: np.ndarray, weight: np.ndarray, num_groups: int):
        self.order = np.argsort(group, kind="stable")
        self.cum = np.cumsum(weight[self.order])
        sorted_group = group[self.order]
        self.lo = np.searchsorted(sorted_group, np.arange(num_groups), side="left")
        self.hi = np.searchsorted(sorted_group, np.arange(num_groups), side="right")
        self.mass = np.bincount(group, weights=weight, minlength=num_groups)

    def sample(self, groups: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        lo, hi = self.lo[groups], self.hi[groups]
        base = np.where(lo > 0, self.cum[np.maximum(lo - 1, 0)], 0.0)
        idx = np.searchsorted(self.cum, base + uniforms * self.mass[groups], side="right")
        idx = np.clip(idx, lo, np.maximum(hi - 1, lo))
        return self.order[np.minimum(idx, len(self.order) - 1)]


def _true_probabilities(users, prev_topic, target, loyal, weight, item_topic, item_prov, pop,
                        pop_t, pop_p, pop_pt) -> tuple[np.ndarray, np.ndarray]:
    """P(target | u, z_{t-1}) and the target's pessimistic rank among all items, per row.

    For a row with previous topic z0 and transition row ``tz = T(z0, .)``:

    * topic part: ``tz[topic(i)] * pop(i) / pop(topic(i))``;
    * provider part: ``w_u(p(i)) * pop(i) * (tz[topic(i)] / pop(p(i), topic(i))
      + miss(p(i)) / pop(p(i)))`` with ``miss(p) = sum of tz over the topics where p has no
      item`` (the fallback to any of p's items).
    """
    P, T = pop_pt.shape
    empty = (pop_pt == 0).astype(np.float64)  # [P, T]
    by_topic = pop / pop_t[item_topic]
    in_topic = pop / pop_pt[item_prov, item_topic]
    fallback = pop / pop_p[item_prov]
    prob = np.empty(len(users))
    rank = np.empty(len(users), dtype=np.int64)
    for lo in range(0, len(users), _CHUNK):
        hi = min(lo + _CHUNK, len(users))
        n = hi - lo
        tz = np.full((n, T), (1.0 - STAY) / (T - 1))
        tz[np.arange(n), prev_topic[lo:hi]] = STAY
        tz_item = tz[:, item_topic]  # [n, items]
        w = np.zeros((n, P))  # dense loyalty weights of the rows' users
        rows = np.repeat(np.arange(n), loyal.shape[1])
        provs, ws = loyal[users[lo:hi]].ravel(), weight[users[lo:hi]].ravel()
        ok = provs >= 0
        np.add.at(w, (rows[ok], provs[ok]), ws[ok])
        miss = tz @ empty.T  # [n, P]
        p_all = (LOYALTY * w[:, item_prov] * (tz_item * in_topic + miss[:, item_prov] * fallback)
                 + (1.0 - LOYALTY) * tz_item * by_topic)
        assert np.allclose(p_all.sum(axis=1), 1.0), "true next-item probabilities must sum to 1"
        p_target = p_all[np.arange(n), target[lo:hi]]
        prob[lo:hi] = p_target
        rank[lo:hi] = (p_all >= p_target[:, None]).sum(axis=1)  # ties count against the target
    return prob, rank
