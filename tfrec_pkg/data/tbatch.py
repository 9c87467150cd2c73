"""t-batches (JODIE, Kumar et al. KDD'19, Sec. 3.3), the mini-batches IMN-Net trains on
("Following the JODIE setting, our model IMN_* uses t-batch", IMN Sec. 5.2).

The rule of JODIE's public code: interactions are taken in time order and interaction j goes
into t-batch ``max(last t-batch of its user, last t-batch of its item) + 1`` (both start at -1).
So a user or an item appears at most once in a t-batch, and an entity's interactions land in
strictly increasing t-batches, i.e. processing the t-batches one after the other keeps every
entity's interactions in time order while the interactions inside one t-batch can be computed
in parallel. :func:`reference_tbatch_ids` is that rule as a plain loop.

:func:`tbatch_ids` computes the same numbers without a loop over interactions. A t-batch id is
the length of the longest chain of earlier interactions that share a user or an item with the
next one (longest-path layering of the DAG whose edges link each interaction to its user's and
its item's previous interaction). The array is cut into blocks of ``block`` interactions; ids
before a block are final when the block is solved, and inside it a fixed-point relaxation runs
until nothing changes. One relaxation step closes every user chain of the block at once (a
segmented running maximum of ``id - position in the chain``), then every item chain, so a step
follows any number of consecutive same-user (or same-item) edges: the number of steps is the
number of times the longest path switches between user and item edges, not its length (a
stream dominated by one user or one item converges in two steps per block).

JODIE builds t-batches per time window (``tbatch_timespan = time span / 500``) and restarts
them when a window closes; :func:`jodie_windows` gives those windows and ``segments`` makes the
ids restart per window. Unlike JODIE's training loop, the last, unclosed window is kept.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

JODIE_WINDOWS = 500  # JODIE: tbatch_timespan = (last timestamp - first timestamp) / 500
_BLOCK = 4096  # interactions solved together; 2k-4k was fastest at 150k interactions


def reference_tbatch_ids(users, items, segments=None) -> np.ndarray:
    """JODIE's rule as a loop over interactions (the specification :func:`tbatch_ids` must equal)."""
    users, items, segments = _check(users, items, segments)
    last_user: dict = {}
    last_item: dict = {}
    out = np.empty(len(users), dtype=np.int64)
    segments = np.zeros(len(users), np.int64) if segments is None else segments
    current = None
    for j, (u, i, s) in enumerate(zip(users.tolist(), items.tolist(), segments.tolist())):
        if s != current:  # a new window: JODIE's reinitialize_tbatches()
            last_user, last_item, current = {}, {}, s
        out[j] = max(last_user.get(u, -1), last_item.get(i, -1)) + 1
        last_user[u] = last_item[i] = out[j]
    return out


def tbatch_ids(users, items, segments=None, block: int = _BLOCK) -> np.ndarray:
    """The t-batch of every interaction (module docstring), vectorised.

    ``users`` and ``items`` are 1-D arrays of ids (any hashable values, no missing ones) in time
    order; ``segments`` (optional, non-decreasing, e.g. :func:`jodie_windows`) restarts the ids
    at 0 in each segment. Returns int64 ids equal to :func:`reference_tbatch_ids`.
    """
    users, items, segments = _check(users, items, segments)
    if int(block) != block or block < 1:
        raise ValueError(f"block must be a positive integer, found {block!r}")
    n, block = len(users), int(block)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    block_of = np.arange(n) // block
    chains = [_Chains(_codes(ids, segments), block_of) for ids in (users, items)]
    by_user, by_item = chains
    # Step from user order to item order and back: gather, then re-shift (one add).
    to_item = by_user.rank[by_item.order]
    to_user = by_item.rank[by_user.order]
    into_item = by_item.shift - by_user.shift[to_item]
    into_user = by_user.shift - by_item.shift[to_user]

    level = np.full(n + 1, -1, dtype=np.int64)  # level[n] = -1 stands for "no predecessor"
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        pu, pi = by_user.prev[lo:hi], by_item.prev[lo:hi]
        # Predecessors before the block are final; those inside count as -1 for now (a lower bound).
        ext = np.maximum(level[np.where(pu >= lo, n, pu)], level[np.where(pi >= lo, n, pi)]) + 1
        u_order, u_shift = by_user.order[lo:hi] - lo, by_user.shift[lo:hi]
        a = ext[u_order] + u_shift  # user order, shifted so a running max stays inside each chain
        p_ui, d_ui = to_item[lo:hi] - lo, into_item[lo:hi]
        p_iu, d_iu = to_user[lo:hi] - lo, into_user[lo:hi]
        total = int(a.sum())
        while True:  # the ids only grow, so an unchanged sum means the fixed point
            np.maximum.accumulate(a, out=a)  # close the user chains
            b = np.maximum.accumulate(a[p_ui] + d_ui)  # close the item chains
            a = b[p_iu] + d_iu
            now = int(a.sum())
            if now == total:
                break
            total = now
        level[lo + u_order] = a - u_shift
    return level[:n]


def tbatches(users, items, segments=None) -> Iterator[np.ndarray]:
    """Row indices of each t-batch, in processing order (segment, then t-batch id); each
    array is in time order and holds no user or item twice."""
    ids = tbatch_ids(users, items, segments)
    if len(ids) == 0:
        return
    seg = np.zeros(len(ids), np.int64) if segments is None else pd.factorize(np.asarray(segments))[0]
    order = np.lexsort((ids, seg))  # stable: rows of one t-batch stay in time order
    key = seg[order] * (int(ids.max()) + 1) + ids[order]
    bounds = np.r_[0, np.flatnonzero(key[1:] != key[:-1]) + 1, len(order)]
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        yield order[lo:hi]


def jodie_windows(timestamps, parts: int = JODIE_WINDOWS) -> np.ndarray:
    """Window id per interaction, as JODIE's training loop cuts them: a window starts at an
    interaction's time and closes at the first interaction more than ``span / parts`` later
    (which still belongs to it); the next window starts at that interaction's time."""
    t = np.asarray(timestamps, dtype=np.float64)
    if t.ndim != 1 or np.isnan(t).any() or np.any(t[1:] < t[:-1]):
        raise ValueError("timestamps must be a 1-D array of numbers in non-decreasing (time) order")
    if int(parts) != parts or parts < 1:
        raise ValueError(f"parts must be a positive integer, found {parts!r}")
    windows = np.zeros(len(t), dtype=np.int64)
    if len(t) == 0:
        return windows
    span = (t[-1] - t[0]) / parts
    first, start_time, k = 0, t[0], 0
    while first < len(t):  # one pass per window, not per interaction
        close = max(int(np.searchsorted(t, start_time + span, side="right")), first)
        windows[first:close + 1] = k
        if close >= len(t):
            break
        first, start_time, k = close + 1, t[close], k + 1
    return windows


# ----------------------------------------------------------------------------- helpers


class _Chains:
    """One entity type's chains: ``prev`` (the entity's previous interaction, ``n`` if none),
    and, for the blocks, ``order`` (rows sorted by block, then entity, stably), ``rank`` (its
    inverse) and ``shift`` (chain id * big - position in the chain, in that order)."""

    def __init__(self, codes: np.ndarray, block_of: np.ndarray):
        n = len(codes)
        by_code = np.argsort(_radix(codes), kind="stable")
        same = np.r_[False, codes[by_code][1:] == codes[by_code][:-1]]
        self.prev = np.full(n, n, dtype=np.int64)
        self.prev[by_code[same]] = by_code[np.flatnonzero(same) - 1]
        self.order = by_code[np.argsort(_radix(block_of[by_code]), kind="stable")]
        self.rank = np.empty(n, dtype=np.int64)
        self.rank[self.order] = np.arange(n)
        code, blk = codes[self.order], block_of[self.order]
        new = np.r_[True, (code[1:] != code[:-1]) | (blk[1:] != blk[:-1])]
        chain = np.cumsum(new) - 1
        position = np.arange(n) - np.flatnonzero(new)[chain]
        # ids are at most n - 1, so chain * (2n + 1) keeps every chain above all earlier ones
        self.shift = chain * (2 * n + 1) - position


def _codes(ids: np.ndarray, segments: np.ndarray | None) -> np.ndarray:
    """Dense int64 codes per (segment, entity)."""
    codes, uniques = pd.factorize(ids)
    if segments is not None:
        seg = pd.factorize(segments)[0]
        codes = pd.factorize(seg.astype(np.int64) * len(uniques) + codes)[0]
    return codes.astype(np.int64)


def _radix(values: np.ndarray) -> np.ndarray:
    """A copy numpy sorts in linear time when the values fit 16 bits (its radix sort)."""
    return values.astype(np.uint16) if len(values) and values.max() < 1 << 16 else values


def _check(users, items, segments):
    users, items = np.asarray(users), np.asarray(items)
    if users.ndim != 1 or items.shape != users.shape:
        raise ValueError(f"users and items must be 1-D arrays of the same length, found shapes "
                         f"{users.shape} and {items.shape}")
    for name, ids in (("users", users), ("items", items)):
        if len(ids) and pd.isna(ids).any():
            raise ValueError(f"{name}: found missing ids (NaN/None) at row(s) "
                             f"{np.flatnonzero(pd.isna(ids))[:3].tolist()}; expected an id in every row")
    if segments is not None:
        segments = np.asarray(segments)
        if segments.shape != users.shape:
            raise ValueError(f"segments must have one value per interaction, found shape {segments.shape}")
        if len(segments) and np.any(segments[1:] < segments[:-1]):
            raise ValueError("segments must be non-decreasing (windows in time order)")
    return users, items, segments
