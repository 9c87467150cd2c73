"""User histories as fixed-length padded sequences, and leakage-safe train/val/test splits.

Sequence convention (shared by the sequential models, SASRec/RecBole style):

* Histories are chronological, **oldest first**.
* Rows are **left-aligned, padded at the end**: the ``n`` real items sit at positions
  ``[0, n)`` and the padding value (``-1``, the int64 padding of :mod:`tfrec_pkg.features`,
  which the models map to their padding index) fills ``[n, L)``.
* Truncation keeps the **most recent** ``L`` items.
* Every padded array comes with ``lengths`` = number of real items per row (``<= L``).
* Item id ``-1`` is reserved for padding, so item ids fed to these functions must differ from it.

Chronological order within a user is a *stable* sort on the time column: events with the
same timestamp keep their order in the input frame, and "before" means "earlier in that
order". Input row order is therefore meaningful for ties.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain

import numpy as np
import pandas as pd

from tfrec_pkg.data.schema import Column, validate
from tfrec_pkg.features import DEFAULT_PADDING

# The padding of int64 id sequences: histories built here feed the models as they are.
PAD = DEFAULT_PADDING["int64"]
# Rows gathered per chunk: bounds the temporary index arrays to ~chunk * max_len elements.
_CHUNK = 65_536


# ----------------------------------------------------------------------------- padding


def _gather_windows(
    flat: np.ndarray, ends: np.ndarray, kept: np.ndarray, max_len: int, pad_value, dtype
) -> np.ndarray:
    """Row i = flat[ends[i] - kept[i] : ends[i]], left-aligned and padded to max_len."""
    out = np.full((len(ends), max_len), pad_value, dtype=dtype)
    pos = np.arange(max_len)
    for lo in range(0, len(ends), _CHUNK):
        hi = min(lo + _CHUNK, len(ends))
        mask = pos < kept[lo:hi, None]
        src = (ends[lo:hi] - kept[lo:hi])[:, None] + pos
        out[lo:hi][mask] = flat[src[mask]]
    return out


def pad_sequences(
    seqs: Iterable[Sequence], max_len: int, pad_value=PAD, dtype=np.int64
) -> tuple[np.ndarray, np.ndarray]:
    """Pad/truncate variable-length sequences to ``[n, max_len]`` (module convention).

    Keeps the last ``max_len`` items of each sequence, left-aligned, ``pad_value`` after them.
    Returns ``(padded [n, max_len] of dtype, lengths [n] int64)`` where ``lengths`` counts the
    real items kept (``min(len(seq), max_len)``). Accepts lists of lists or of numpy arrays.
    Note: values equal to ``pad_value`` inside a sequence are not checked for.
    """
    seqs = list(seqs)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    if seqs and all(isinstance(s, np.ndarray) for s in seqs):
        flat = np.concatenate([s.ravel() for s in seqs]).astype(dtype, copy=False)
    else:
        flat = np.fromiter(chain.from_iterable(seqs), dtype=dtype, count=int(lengths.sum()))
    return pad_flat_sequences(flat, lengths, max_len, pad_value, dtype)


def pad_flat_sequences(
    flat: np.ndarray, lengths: np.ndarray, max_len: int, pad_value=PAD, dtype=np.int64
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pad_sequences` for sequences given as one array of all their values in order
    (``flat``) and each sequence's length (``lengths``, summing to ``len(flat)``)."""
    if int(max_len) != max_len or max_len < 1:
        raise ValueError(f"max_len must be a positive integer, found {max_len!r}")
    max_len = int(max_len)
    lengths = np.asarray(lengths, dtype=np.int64)
    kept = np.minimum(lengths, max_len)
    flat = np.asarray(flat, dtype=dtype)
    padded = _gather_windows(flat, np.cumsum(lengths), kept, max_len, pad_value, dtype)
    return padded, kept


# ----------------------------------------------------------------------------- ordering


def _codes(series: pd.Series, what: str) -> np.ndarray:
    """Integer codes that sort like the values (any sortable dtype, tz-aware included)."""
    codes, _ = pd.factorize(series, sort=True)
    if (codes < 0).any():
        raise ValueError(
            f"{what} column {series.name!r}: found {int((codes < 0).sum())} missing value(s); "
            "expected none"
        )
    return codes.astype(np.int64)


def _chronological(frame: pd.DataFrame, user_col: str, time_col: str):
    """Stable order by (user, time), with each sorted row's rank and its user's event count.

    Returns ``(order, rank_sorted, size_sorted)``: positional indices that sort the frame,
    then per sorted row its 0-based position in its user's chronological history and the
    user's number of events.
    """
    users = _codes(frame[user_col], "user")
    times = _codes(frame[time_col], "time")
    # One stable argsort on a combined key == sort by user, then time, ties in input order.
    order = np.argsort(users * (times.max() + 1) + times, kind="stable")
    users_sorted = users[order]
    counts = np.bincount(users_sorted)
    starts = np.cumsum(counts) - counts
    rank_sorted = np.arange(len(order)) - starts[users_sorted]
    return order, rank_sorted, counts[users_sorted]


def _require(frame, columns: list[Column], extra: Sequence[str] = ()) -> None:
    """Schema check of the columns we interpret, plus existence of pass-through columns."""
    validate(frame, columns)
    missing = [c for c in extra if c not in frame.columns]
    if missing:
        raise ValueError(
            f"missing column(s) {missing}: found columns {list(frame.columns)}; "
            f"expected {[c.name for c in columns] + list(extra)}"
        )


def user_histories(
    frame: pd.DataFrame,
    user_col: str,
    item_col: str,
    time_col: str,
    extra_cols: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per user (sorted by user id) with chronological list columns.

    Columns: ``user_col`` (scalar), then ``item_col``, ``time_col`` and each of ``extra_cols``
    as python lists in the user's chronological order (stable: ties keep input order).
    Feed ``result[item_col]`` to :func:`pad_sequences` for a padded array.
    """
    _require(
        frame,
        [Column(user_col, "id"), Column(item_col, "id"), Column(time_col, "timestamp")],
        extra_cols,
    )
    order, _, _ = _chronological(frame, user_col, time_col)
    list_cols = list(dict.fromkeys([item_col, time_col, *extra_cols]))
    # `order` already groups users in sorted order, and groupby keeps row order inside groups.
    return frame.iloc[order].groupby(user_col, sort=False)[list_cols].agg(list).reset_index()


def history_before_each_event(
    frame: pd.DataFrame,
    user_col: str,
    item_col: str,
    time_col: str,
    max_len: int,
    target_mask=None,
    pad_value: int = PAD,
) -> tuple[np.ndarray, np.ndarray]:
    """For each event, the user's items strictly before it: ``(padded [m, max_len], lengths [m])``.

    "Before" = earlier in the user's stable chronological order, so the event itself and
    everything after it (including later rows with the same timestamp) never appear. The
    most recent ``max_len`` earlier items are kept (module convention: left-aligned, padded
    with ``pad_value`` at the end; pass the history feature's ``FeatureSpec.padding`` if it is
    not the default -1). A user's first event gets an all-padding row with length 0.

    Output rows follow the frame's row order; with ``target_mask`` (boolean, one per row)
    only the rows where it is True are returned, i.e. row i matches ``frame[target_mask].iloc[i]``.
    Histories always draw on the whole frame, so e.g. a test event's history includes the
    user's earlier training events. Item ids must be integers other than ``pad_value``.
    """
    if int(max_len) != max_len or max_len < 1:
        raise ValueError(f"max_len must be a positive integer, found {max_len!r}")
    _require(
        frame,
        [Column(user_col, "id"), Column(item_col, "int", padding=pad_value), Column(time_col, "timestamp")],
    )
    items = frame[item_col].to_numpy(dtype=np.int64)
    if target_mask is None:
        targets = np.arange(len(frame))
    else:
        mask = np.asarray(target_mask)
        if mask.dtype != bool or mask.shape != (len(frame),):
            raise ValueError(
                f"target_mask: found dtype {mask.dtype} and shape {mask.shape}; "
                f"expected a boolean array of shape ({len(frame)},)"
            )
        targets = np.flatnonzero(mask)

    order, rank_sorted, _ = _chronological(frame, user_col, time_col)
    where = np.empty_like(order)
    where[order] = np.arange(len(order))  # row -> its position in the sorted frame
    ends = where[targets]  # the history ends just before the event itself
    kept = np.minimum(rank_sorted[ends], int(max_len))
    padded = _gather_windows(items[order], ends, kept, int(max_len), pad_value, np.int64)
    return padded, kept


# ----------------------------------------------------------------------------- splits


def _check_ratios(ratios) -> np.ndarray:
    r = np.asarray(ratios, dtype=np.float64)
    if r.shape != (3,) or not np.all(np.isfinite(r)) or (r < 0).any() or abs(r.sum() - 1.0) > 1e-6:
        raise ValueError(
            f"ratios: found {tuple(ratios)!r}; expected three non-negative numbers "
            "(train, val, test) that sum to 1"
        )
    return r


def _cuts(ratios: np.ndarray, n: int) -> tuple[int, int]:
    """Cumulative cut points for n things (rounded, so sizes are within 1 of the ratios)."""
    c1, c2 = np.round(np.cumsum(ratios)[:2] * n).astype(int)
    return int(c1), int(c2)


def temporal_split(
    frame: pd.DataFrame, time_col: str, ratios=(0.7, 0.1, 0.2)
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Global time split: the oldest events go to train, then val, then test.

    Events are sorted by time and cut at the ``ratios`` quantiles (rounded row counts). A cut
    never separates equal timestamps: the whole tie group goes to the later split, so every
    train timestamp is strictly earlier than every val timestamp, and val than test. Sizes
    can therefore differ from the ratios when timestamps tie heavily. Returns
    ``(train, val, test)`` with the frame's original row order and index.

    Leakage: build val/test model inputs from events strictly before each example, e.g.
    ``history_before_each_event(frame, ..., target_mask=frame.index.isin(test.index))`` on
    the full frame. Their histories then see earlier (training) events, while training
    examples never see anything from val/test.
    """
    r = _check_ratios(ratios)
    validate(frame, [Column(time_col, "timestamp")])
    times = _codes(frame[time_col], "time")
    sorted_times = np.sort(times)
    n = len(times)
    thresholds = [sorted_times[c] if c < n else np.iinfo(np.int64).max for c in _cuts(r, n)]
    train = times < thresholds[0]
    test = times >= thresholds[1]
    val = ~train & ~test
    return frame[train], frame[val], frame[test]


def leave_one_out_split(
    frame: pd.DataFrame, user_col: str, time_col: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per user: last event -> test, second to last -> val, the rest -> train.

    Users with fewer than 3 events keep all their events in train (one held-out event would
    leave them with no training history). Order is the stable chronological order, so with
    tied timestamps the later row in the frame is the "last" event. Returns
    ``(train, val, test)`` with the frame's original row order and index.
    """
    validate(frame, [Column(user_col, "id"), Column(time_col, "timestamp")])
    order, rank_sorted, size_sorted = _chronological(frame, user_col, time_col)
    from_end_sorted = size_sorted - 1 - rank_sorted  # 0 = user's last event
    from_end = np.empty_like(from_end_sorted)
    from_end[order] = from_end_sorted
    size = np.empty_like(size_sorted)
    size[order] = size_sorted
    eligible = size >= 3
    test = eligible & (from_end == 0)
    val = eligible & (from_end == 1)
    return frame[~test & ~val], frame[val], frame[test]


def split_by_user(
    frame: pd.DataFrame, user_col: str, ratios=(0.7, 0.15, 0.15), seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split users (not events) into disjoint train/val/test sets.

    Unique users are sorted, shuffled with ``np.random.default_rng(seed)`` and cut at the
    ``ratios`` (rounded user counts), so the result depends only on the set of users and the
    seed, not on row order. Every event of a user lands in that user's split. Returns
    ``(train, val, test)`` with the frame's original row order and index.
    """
    r = _check_ratios(ratios)
    validate(frame, [Column(user_col, "id")])
    users = _codes(frame[user_col], "user")
    n_users = int(users.max()) + 1
    perm = np.random.default_rng(seed).permutation(n_users)
    c1, c2 = _cuts(r, n_users)
    part = np.empty(n_users, dtype=np.int8)
    part[perm[:c1]], part[perm[c1:c2]], part[perm[c2:]] = 0, 1, 2
    row_part = part[users]
    return frame[row_part == 0], frame[row_part == 1], frame[row_part == 2]


# ----------------------------------------------------------------------------- next-item rows


def user_positions(user_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For events grouped by user (each user's events contiguous, in time order):
    ``(starts, sizes, pos)`` = each user's first index and event count, and each event's
    0-based position in its user's stream."""
    user_sorted = np.asarray(user_sorted)
    starts = np.r_[0, np.flatnonzero(user_sorted[1:] != user_sorted[:-1]) + 1].astype(np.int64)
    sizes = np.diff(np.r_[starts, len(user_sorted)])
    return starts, sizes, np.arange(len(user_sorted)) - np.repeat(starts, sizes)


def next_item_rows(user, item, provider, timestamp, targets, max_history: int) -> pd.DataFrame:
    """Next-item rows (the features of ``specs.next_item``, ``timestamp`` and ``label`` = 1).

    ``user, item, provider, timestamp`` are events grouped by user in time order; ``targets``
    indexes the events to predict, each with at least one earlier event of its user. Row k:
    the user's last ``max_history`` events before ``targets[k]`` (items and providers, oldest
    first, unpadded numpy views) and the target event itself.
    """
    user, item, provider = (np.asarray(a, dtype=np.int64) for a in (user, item, provider))
    timestamp = np.asarray(timestamp)
    targets = np.asarray(targets, dtype=np.int64)
    _, _, pos = user_positions(user)
    if (pos[targets] < 1).any():
        raise ValueError("next_item_rows: a target event has no earlier event of its user")
    lengths = np.minimum(pos[targets], int(max_history))
    return pd.DataFrame({
        "user_id": user[targets],
        "hist_item_ids": [item[r - n:r] for r, n in zip(targets, lengths)],
        "hist_provider_ids": [provider[r - n:r] for r, n in zip(targets, lengths)],
        "item_id": item[targets],
        "provider_id": provider[targets],
        "timestamp": timestamp[targets],
        "label": np.ones(len(targets), dtype=np.int64),
    })


def all_position_rows(user, item, provider, timestamp, max_history: int) -> pd.DataFrame:
    """SASRec's training form (the features of ``specs.next_item_all_positions``, plus
    ``timestamp`` = the last target's and ``label`` = 1): one row per window of a user's events.

    Events are grouped by user in time order. A user with events e_1..e_n has targets
    e_2..e_n, cut from the end into windows of at most ``max_history`` consecutive targets
    (the first window may be shorter); a window with targets e_{a+1}..e_b has the inputs
    e_a..e_{b-1} (``hist_*``), aligned step by step with the targets (``target_*``). Every
    target is in exactly one window; rows are per user, oldest window first; lists unpadded
    (left-aligned once padded). Users with a single event give no row.
    """
    user, item, provider = (np.asarray(a, dtype=np.int64) for a in (user, item, provider))
    timestamp = np.asarray(timestamp)
    L = int(max_history)
    starts, sizes, _ = user_positions(user)
    rows = []  # (input start, target end) per window, target end exclusive
    for s, n in zip(starts.tolist(), sizes.tolist()):
        ends = list(range(s + n, s + 1, -L))[::-1]  # windows cut from the end, oldest first
        rows.extend((max(e - L, s + 1) - 1, e) for e in ends)
    a = np.array([r[0] for r in rows], dtype=np.int64)
    b = np.array([r[1] for r in rows], dtype=np.int64)
    return pd.DataFrame({
        "user_id": user[a],
        "hist_item_ids": [item[i:j - 1] for i, j in zip(a, b)],
        "hist_provider_ids": [provider[i:j - 1] for i, j in zip(a, b)],
        "target_item_ids": [item[i + 1:j] for i, j in zip(a, b)],
        "target_provider_ids": [provider[i + 1:j] for i, j in zip(a, b)],
        "timestamp": timestamp[b - 1] if len(b) else timestamp[:0],
        "label": np.ones(len(a), dtype=np.int64),
    })
