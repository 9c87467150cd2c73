"""Reader for the public Taobao UserBehavior.csv, prepared as in SUM Appendix A.1.

File format (no header, one behaviour per line, about 100M lines in the public release)::

    user_id,item_id,category_id,behavior_type,timestamp
    1,2268318,2520377,pv,1511544070

with integer ids, ``behavior_type`` in {pv, buy, cart, fav} and ``timestamp`` in unix seconds.

Preparation (SUM Appendix A.1):

* purchases (``buy``) are the targets, page views (``pv``) build the history; ``cart`` and
  ``fav`` rows are valid but unused;
* only users with more than 20 page views are kept (``min_page_views=21``);
* the history of a purchase is the user's last ``max_history`` (100) page views strictly
  before it: ordered by timestamp, ties by file order (a page view with the purchase's
  timestamp counts as "before" only when it comes earlier in the file). A purchase before
  the user's first page view gets an empty history;
* each positive gets ``negatives`` (4) negative items sampled by popularity = page-view counts
  over the whole file (with replacement, never the positive). A negative carries its own
  category from the item -> category map (the first category seen for the item in the file);
* users are split 70/15/15 into train/val/test (:func:`~tfrec_pkg.data.sequences.split_by_user`).

The result is a :class:`~tfrec_pkg.data.synthetic.base.SyntheticData` without ``true_prob``
(real data has no known probabilities), so ``.splits()`` gives train/val/test
:class:`~tfrec_pkg.data.synthetic.base.Split` objects with vocabularies fitted on train, and the
features of :func:`tfrec_pkg.specs.click_history`. Frame columns: the five
features, ``timestamp`` (the purchase's) and ``label``. The rows of one purchase (positive
first, then its negatives) share their history arrays, which are read-only views into one array.

Streaming: the file is read ``chunk_rows`` lines at a time (pandas ``chunksize``), each line as
one string, checked against the format with one vectorised regular expression and split with
pyarrow; only ``pv`` and ``buy`` events are kept, as compact numpy arrays (int32 where the values
fit, int8 behaviour codes). Memory is bounded by the kept events, not by the raw text.

Malformed lines (wrong field count, non-integer or negative id, unknown ``behavior_type``,
non-integer timestamp) are skipped and counted; one warning summarises the counts per reason
with examples. If more than half of the lines are malformed the file is not UserBehavior.csv
and ``ValueError`` says what was expected. Blank lines are ignored, and so are lines containing
the control character ``\\x1f`` (used internally as the "no split" separator).
"""
from __future__ import annotations

import csv
import os
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm  # plain text bars, also in notebooks (tqdm.auto's widget bar needs ipywidgets)

from tfrec_pkg.data.negatives import PopularitySampler
from tfrec_pkg.data.sequences import split_by_user
from tfrec_pkg.data.synthetic.base import SyntheticData
from tfrec_pkg import specs

BEHAVIORS = ("pv", "buy", "cart", "fav")  # behaviour code = position in this tuple (int8)
PV, BUY = 0, 1
EXPECTED = ("comma-separated lines without header: user_id,item_id,category_id,behavior_type,"
            "timestamp with non-negative integer ids, behavior_type in {pv, buy, cart, fav} and an "
            "integer unix timestamp, e.g. '1,2268318,2520377,pv,1511544070'")
_ID, _TS = r"\d{1,18}", r"-?\d{1,18}"  # at most 18 digits: always fits int64
_LINE = rf"^{_ID},{_ID},{_ID},(?:{'|'.join(BEHAVIORS)}),{_TS}$"
REASONS = ("wrong field count", "non-integer id", "unknown behavior_type", "bad timestamp")
_EXAMPLES = 3  # offending lines quoted per reason in the warning


def read_taobao(path, max_history: int = 100, negatives: int = 4, min_page_views: int = 21,
                chunk_rows: int = 1_000_000, seed: int = 0, progress: bool = True) -> SyntheticData:
    """Read UserBehavior.csv into purchase rows with page-view histories (module docstring).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` when more than half of
    the lines are malformed or no purchase is left after filtering.
    """
    for name, value in (("max_history", max_history), ("negatives", negatives),
                        ("chunk_rows", chunk_rows)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, found {value!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Taobao UserBehavior file {str(path)!r} does not exist")

    user, item, cat, behavior, ts = _read_events(path, int(chunk_rows), progress)

    # Item map and popularity over the whole file: first category seen, page-view counts.
    items, first, item_code = np.unique(item, return_index=True, return_inverse=True)
    items, item_cat = items.astype(np.int64), cat[first].astype(np.int64)
    is_pv = behavior == PV
    pv_counts = np.bincount(item_code[is_pv], minlength=len(items)).astype(np.float64)

    # Users with more than 20 page views (SUM Appendix A.1), in (user, time, file) order.
    users, user_code = np.unique(user, return_inverse=True)
    users = users.astype(np.int64)
    keep = np.flatnonzero((np.bincount(user_code[is_pv], minlength=len(users)) >= min_page_views)[user_code])
    by_time = keep[np.argsort(ts[keep], kind="stable")]
    order = by_time[np.argsort(user_code[by_time], kind="stable")]
    user_s, pv_s, ts_s = user_code[order], is_pv[order], ts[order]

    # A purchase's history = the page views before it in that order, within its user.
    pv_before = np.cumsum(pv_s) - pv_s  # page views before each sorted position (all users)
    new_user = np.r_[True, user_s[1:] != user_s[:-1]]
    user_first = np.maximum.accumulate(np.where(new_user, np.arange(len(order)), 0))
    buys = np.flatnonzero(behavior[order] == BUY)
    if len(buys) == 0:
        raise ValueError(f"{path}: no purchase (buy) by a user with at least {min_page_views} "
                         "page views; nothing to predict")
    end = pv_before[buys]
    length = np.minimum(end - pv_before[user_first[buys]], int(max_history))
    pv_items = items[item_code[order][pv_s]]  # int64, one array that the histories view into
    pv_cats = item_cat[item_code[order][pv_s]]
    hist_items = [pv_items[e - n:e] for e, n in zip(end, length)]
    hist_cats = [pv_cats[e - n:e] for e, n in zip(end, length)]

    # Negatives by page-view popularity (sampler ids are item codes + 1: 0 is its padding).
    positives = item_code[order][buys]
    sampler = PopularitySampler(np.r_[0.0, pv_counts], seed=seed)
    negs = sampler.sample(positives + 1, int(negatives)) - 1
    codes = np.concatenate([positives[:, None], negs], axis=1).ravel()
    row_buy = np.repeat(np.arange(len(buys)), 1 + int(negatives))
    frame = pd.DataFrame({
        "user_id": users[user_s[buys]][row_buy],
        "item_id": items[codes],
        "category_id": item_cat[codes],
        "hist_item_ids": [hist_items[b] for b in row_buy],
        "hist_category_ids": [hist_cats[b] for b in row_buy],
        "timestamp": ts_s[buys][row_buy].astype(np.int64),
        "label": np.tile(np.r_[1, np.zeros(int(negatives), dtype=np.int64)], len(buys)),
    })

    train, val, test = split_by_user(frame, "user_id", ratios=(0.7, 0.15, 0.15), seed=seed)
    split_of = np.empty(len(frame), dtype="<U5")
    split_of[train.index], split_of[val.index], split_of[test.index] = "train", "val", "test"
    item_frame = pd.DataFrame({"item_id": items.astype(np.int64), "category_id": item_cat})
    return SyntheticData(frame, split_of, specs.click_history(int(max_history)), group="user_id",
                         items=item_frame)


# ----------------------------------------------------------------------------- streaming


def _read_events(path, chunk_rows: int, progress: bool):
    """Stream the file; return the pv/buy events (user, item, category, behaviour code, time)
    in file order as compact numpy arrays. Warns about / rejects malformed lines."""
    kept: list[tuple] = []
    rows = 0
    bad = {r: 0 for r in REASONS}
    examples: dict[str, list[str]] = {r: [] for r in REASONS}
    bar = tqdm(desc=os.path.basename(str(path)), unit="rows", unit_scale=True, disable=not progress)
    try:
        for chunk in _line_chunks(path, chunk_rows):
            lines = pa.array(chunk["line"].array)
            ok = pc.match_substring_regex(lines, _LINE).to_numpy(zero_copy_only=False)
            rows += len(ok)
            bar.update(len(ok))
            for line in ([] if ok.all() else pc.filter(lines, pa.array(~ok)).to_pylist()):
                reason = _reason(line)
                bad[reason] += 1
                if len(examples[reason]) < _EXAMPLES:
                    examples[reason].append(line[:80])
            if ok.any():
                kept.append(_parse(pc.filter(lines, pa.array(ok))))
    finally:
        bar.close()

    n_bad = sum(bad.values())
    summary = "; ".join(f"{r}: {n} (e.g. {examples[r]})" for r, n in bad.items() if n)
    if rows == 0 or n_bad > rows / 2:
        raise ValueError(f"{path} does not look like Taobao UserBehavior.csv: {n_bad} of {rows} "
                         f"line(s) are malformed ({summary or 'the file is empty'}). "
                         f"Expected {EXPECTED}")
    if n_bad:
        warnings.warn(f"{path}: skipped {n_bad} malformed line(s) of {rows}: {summary}",
                      stacklevel=3)
    if not kept:
        raise ValueError(f"{path}: no pv or buy behaviour in {rows} valid line(s)")
    return tuple(np.concatenate(parts) for parts in zip(*kept))


def _line_chunks(path, chunk_rows: int):
    """Chunks of whole lines as one pyarrow string column ``line`` (no field splitting)."""
    try:
        yield from pd.read_csv(path, header=None, names=["line"], sep="\x1f", engine="c",
                               dtype="string[pyarrow]", na_filter=False, quoting=csv.QUOTE_NONE,
                               skip_blank_lines=True, on_bad_lines="skip", encoding_errors="replace",
                               chunksize=chunk_rows)
    except pd.errors.EmptyDataError:  # empty file: no chunk at all
        return


def _parse(lines: pa.Array) -> tuple:
    """Valid lines -> (user, item, category, behaviour code, timestamp) numpy arrays."""
    fields = pc.split_pattern(lines, ",")
    num = [pc.cast(pc.list_element(fields, j), pa.int64()).to_numpy(zero_copy_only=False)
           for j in (0, 1, 2, 4)]
    code = pc.index_in(pc.list_element(fields, 3), value_set=pa.array(BEHAVIORS))
    code = code.to_numpy(zero_copy_only=False).astype(np.int8)
    use = (code == PV) | (code == BUY)  # cart/fav are valid but unused
    user, item, cat, ts = (_compact(a[use]) for a in num)
    return user, item, cat, code[use], ts


def _compact(a: np.ndarray) -> np.ndarray:
    """int32 when every value fits, else int64 (concatenation promotes to int64)."""
    info = np.iinfo(np.int32)
    if len(a) == 0 or (a.min() >= info.min and a.max() <= info.max):
        return a.astype(np.int32)
    return a


def _reason(line: str) -> str:
    """Why a line failed the format (checks in the order of :data:`REASONS`)."""
    fields = line.split(",")
    if len(fields) != 5:
        return "wrong field count"
    if not all(re.fullmatch(_ID, f) for f in fields[:3]):
        return "non-integer id"
    if fields[3] not in BEHAVIORS:
        return "unknown behavior_type"
    return "bad timestamp"
