"""Reader for IPRec's public raw impression logs (Li et al., SIGIR 2021, Sec. 5.1; the data of
github.com/LeeChenChen/IPRec: 3day.csv, 5day.csv, 10day.csv), prepared as the public code's
``data/data_process.ipynb`` does, except where noted.

File format (no header, one impression of a package per line, tab-separated)::

    user_id  timestamp  article_id  click_label  media_id  subscribe_label  friend_ids
    100006   1592973545 2247510078  1            3276299345 0               575290460,114275

with non-negative integer ids, a unix timestamp, labels 0/1 (click_label: the user clicked the
package; subscribe_label: the user subscribes to the media) and the friends who interacted
with the article as comma-separated user ids (may be empty).

Preparation:

* friend lists keep their first ``max_friends`` (20) ids, as the public code's
  ``split(',')[:f_max_len]`` and the paper's footnote 1 ("we truncate or padding the friend
  list with a max length of 20"); truncated lists are counted in a warning, never an error;
* users need >= ``min_clicks`` (3) clicks and >= 1 non-click; the non-clicked impressions
  are the negatives, at most ``max_negative_ratio`` (5) x the user's clicks. The public code
  keeps the first 5 n_pos negatives in file order; we keep a random 5 n_pos (``seed``), which
  does not tie the cap to time (with the first ones, a temporal split would lose late
  negatives);
* ``split="temporal"`` (default): per user, impressions in (timestamp, line) order, cut 7:1:2
  at floor(0.7 n) and floor(0.8 n); equal timestamps are never split (a tie group takes the
  split of its first row), so validation and test impressions are strictly later than every
  training impression of the user. ``split="random"``: the paper's 7:1:2 random split per user
  (a seeded shuffle, then the same cuts, as the public code);
* the derived features (user object sets, clicked packages, inter-package neighbours; the
  columns of :func:`tfrec_pkg.specs.package_click`) come from the *training* impressions only,
  for every split, by :func:`tfrec_pkg.data.synthetic.packages.build_package_rows` (its
  docstring has the rules). The public code builds neighbours over all splits (a leak of the
  future); it also drops validation/test rows whose article or media never occurs in training
  and friends not seen in training -- we keep them: unknown ids map to the OOV index in the
  model.

Returns ``(train, val, test)`` :class:`~tfrec_pkg.data.synthetic.base.Split` objects with
vocabularies fitted on train. Frame columns: the spec's features, ``timestamp``, ``label``
(click), ``subscribe_label`` and ``line`` (the impression's 1-based line in the file); rows by
user, then time, then line. No ``true_prob``: real data has no known probabilities.

Article ids: the public release writes an article as ``"<media>_<msgid>_<idx>"``
(e.g. ``3293810552_2247539567_1``), which is not an integer: read such files with
``article_dtype="string"`` (string article ids, ``"article"`` vocabulary of strings). The
default ``"int64"`` expects integer ids and says so when it finds the composite form.

Streaming and bad rows: the file is read ``chunk_rows`` lines at a time; each chunk is checked
against the format with one vectorised regular expression and split with pyarrow, keeping
compact numpy arrays. Blank lines are ignored. A malformed line (wrong field count, a missing
field, a non-integer id, a bad timestamp, a label other than 0/1, a malformed friend list) is
skipped and counted per reason; one warning names the file, the counts and the first lines of
each reason with the field and value. ``on_bad_rows="raise"`` raises ``ValueError`` at the
first one instead (file, line number, field, value, expected form). More than half malformed
lines raise ``ValueError`` (not an IPRec log). A missing file raises ``FileNotFoundError``.
"""
from __future__ import annotations

import itertools
import logging
import os
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tfrec_pkg import specs
from tfrec_pkg.data.synthetic.base import Split, SyntheticData
from tfrec_pkg.data.synthetic.packages import build_package_rows, select_impressions, split_impressions

log = logging.getLogger(__name__)

FIELDS = ("user_id", "timestamp", "article_id", "click_label", "media_id", "subscribe_label", "friend_ids")
REASONS = ("wrong field count", "missing field", "non-integer id", "bad timestamp", "label not 0/1",
           "bad friend_ids")
EXPECTED = ("tab-separated lines without header: user_id, timestamp, article_id, click_label, media_id, "
            "subscribe_label, friend_ids -- non-negative integer ids, an integer unix timestamp, labels 0 "
            "or 1 and comma-separated friend ids (may be empty), e.g. "
            "'100006\\t1592973545\\t2247510078\\t1\\t3276299345\\t0\\t575290460,114275'")
_ID, _TS, _LABEL = r"\d{1,18}", r"-?\d{1,18}", r"[01]"  # at most 18 digits: always fits int64
_FRIENDS = rf"(?:{_ID}(?:,{_ID})*)?"
_ARTICLE = {"int64": _ID, "string": r"[^\s]+"}  # string ids: any non-empty text without blanks
_COMPOSITE = re.compile(r"\d+(?:_\d+)+")  # the public release's "<media>_<msgid>_<idx>"
_EXAMPLES = 3  # offending lines quoted per reason in the warning


def read_iprec(path, split: str = "temporal", seed: int = 0, max_friends: int = 20,
               max_history: int = 50, max_neighbours: int = 20, max_objects: int = 50,
               min_clicks: int = 3, max_negative_ratio: float | None = 5, article_dtype: str = "int64",
               on_bad_rows: str = "skip", chunk_rows: int = 1_000_000) -> tuple[Split, Split, Split]:
    """Read an IPRec raw log into (train, val, test) package-click splits (module docstring)."""
    if split not in ("temporal", "random"):
        raise ValueError(f"split must be 'temporal' or 'random', found {split!r}")
    if article_dtype not in _ARTICLE:
        raise ValueError(f"article_dtype must be 'int64' or 'string', found {article_dtype!r}")
    if on_bad_rows not in ("skip", "raise"):
        raise ValueError(f"on_bad_rows must be 'skip' or 'raise', found {on_bad_rows!r}")
    for name, value in (("max_friends", max_friends), ("chunk_rows", chunk_rows), ("min_clicks", min_clicks)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, found {value!r}")
    spec = specs.package_click(max_friends, max_history, max_neighbours, max_objects, article_dtype)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IPRec raw log {str(path)!r} does not exist")

    raw = _read_lines(path, article_dtype, int(chunk_rows), on_bad_rows)
    user, ts, article, click, media, sub, friend_values, friend_counts, line = raw
    # Friend lists keep their first max_friends ids (paper footnote 1, the public code).
    starts = np.r_[0, np.cumsum(friend_counts)[:-1]]
    within = np.arange(len(friend_values)) - np.repeat(starts, friend_counts)
    friend_values = friend_values[within < max_friends]
    truncated = int((friend_counts > max_friends).sum())
    if truncated:
        warnings.warn(f"{path}: truncated the friend lists of {truncated} impression(s) to their first "
                      f"{max_friends} friends (longest: {int(friend_counts.max())})", stacklevel=2)
    friend_counts = np.minimum(friend_counts, max_friends)
    offsets = np.r_[0, np.cumsum(friend_counts)]
    friends = [friend_values[a:b] for a, b in zip(offsets[:-1], offsets[1:])]

    rng = np.random.default_rng(seed)
    keep, stats = select_impressions(user, click, min_clicks=int(min_clicks),
                                     max_negative_ratio=max_negative_ratio, rng=rng)
    if not keep.any():
        raise ValueError(f"{path}: no user has >= {min_clicks} clicks and >= 1 non-click; nothing to "
                         "train on")
    log.info("%s: %d impressions read; dropped %d user(s) with < %d clicks, %d without a non-click "
             "and %d negative(s) over the cap of %s x clicks", path, len(user), stats["users_few_clicks"],
             min_clicks, stats["users_no_non_click"], stats["negatives_capped"], max_negative_ratio)
    kept = np.flatnonzero(keep)
    imp = pd.DataFrame({
        "user_id": user[kept],
        "timestamp": ts[kept],
        "article_id": article[kept],
        "media_id": media[kept],
        "friend_ids": [friends[i] for i in kept],
        "label": click[kept].astype(np.int64),
        "subscribe_label": sub[kept].astype(np.int64),
    })
    split_of = split_impressions(imp["user_id"].to_numpy(), imp["timestamp"].to_numpy(), how=split, rng=rng)
    rows = build_package_rows(imp, split_of, max_friends=max_friends, max_history=max_history,
                              max_neighbours=max_neighbours, max_objects=max_objects)
    frame = rows.assign(timestamp=imp["timestamp"], label=imp["label"],
                        subscribe_label=imp["subscribe_label"], line=line[kept])
    order = np.lexsort((frame["line"].to_numpy(), frame["timestamp"].to_numpy(), frame["user_id"].to_numpy()))
    frame, split_of = frame.iloc[order].reset_index(drop=True), split_of[order]
    # Every article with its media (the first seen in the file).
    first = ~pd.Series(article).duplicated(keep="first").to_numpy()
    items = pd.DataFrame({"article_id": article[first], "media_id": media[first]})
    return SyntheticData(frame, split_of, spec, group="user_id", items=items).splits()


# ----------------------------------------------------------------------------- streaming


def _read_lines(path, article_dtype: str, chunk_rows: int, on_bad_rows: str):
    """Stream the file; return the valid lines' fields as numpy arrays (file order):
    user, timestamp, article, click, media, subscribe, flat friend ids, friend counts, line."""
    pattern = rf"^{_ID}\t{_TS}\t{_ARTICLE[article_dtype]}\t{_LABEL}\t{_ID}\t{_LABEL}\t{_FRIENDS}$"
    parts, rows = [], 0
    bad = {r: 0 for r in REASONS}
    examples: dict[str, list[str]] = {r: [] for r in REASONS}
    composite = 0  # non-integer article ids of the public release's form
    with open(path, encoding="utf-8", errors="replace") as fh:
        number = 0
        while True:
            chunk = list(itertools.islice(fh, chunk_rows))
            if not chunk:
                break
            numbers = np.arange(number + 1, number + 1 + len(chunk), dtype=np.int64)
            number += len(chunk)
            lines = [x.rstrip("\r\n") for x in chunk]
            blank = np.array([not x.strip() for x in lines])
            if blank.any():
                lines = [x for x, b in zip(lines, blank) if not b]
                numbers = numbers[~blank]
            if not lines:
                continue
            rows += len(lines)
            arr = pa.array(lines, pa.string())
            ok = pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False)
            for k in np.flatnonzero(~ok):
                reason, field, value = _problem(lines[k], article_dtype)
                if on_bad_rows == "raise":
                    raise ValueError(f"{path}, line {numbers[k]}: {reason}: field {field} = {value!r}. "
                                     f"Expected {EXPECTED}" + _hint(field, value, article_dtype))
                bad[reason] += 1
                composite += field == "article_id" and bool(_COMPOSITE.fullmatch(value))
                if len(examples[reason]) < _EXAMPLES:
                    examples[reason].append(f"line {numbers[k]}: {field}={value[:40]!r}")
            if ok.any():
                parts.append(_parse(pc.filter(arr, pa.array(ok)), article_dtype) + (numbers[ok],))

    n_bad = sum(bad.values())
    summary = "; ".join(f"{r}: {n} (e.g. {', '.join(examples[r])})" for r, n in bad.items() if n)
    hint = (" Article ids like '3293810552_2247539567_1' (the public release) need "
            "article_dtype='string'." if composite else "")
    if rows == 0 or n_bad > rows / 2:
        raise ValueError(f"{path} does not look like an IPRec raw log: {n_bad} of {rows} line(s) are "
                         f"malformed ({summary or 'the file is empty'}). Expected {EXPECTED}.{hint}")
    if n_bad:
        warnings.warn(f"{path}: skipped {n_bad} malformed line(s) of {rows}: {summary}.{hint}", stacklevel=3)
    return tuple(np.concatenate(p) for p in zip(*parts))


def _parse(lines: pa.Array, article_dtype: str) -> tuple:
    """Valid lines -> (user, timestamp, article, click, media, subscribe, friend ids, counts)."""
    fields = pc.split_pattern(lines, "\t")

    def column(j):
        return pc.list_element(fields, j)

    def ints(j):
        return pc.cast(column(j), pa.int64()).to_numpy(zero_copy_only=False)

    user, ts, media = ints(0), ints(1), ints(4)
    click, sub = ints(3).astype(np.int8), ints(5).astype(np.int8)
    if article_dtype == "int64":
        article = ints(2)
    else:
        article = column(2).to_numpy(zero_copy_only=False).astype(object)
    text = column(6)
    counts = pc.if_else(pc.equal(text, ""), 0, pc.add(pc.count_substring(text, ","), 1))
    counts = counts.to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(pc.split_pattern(text, ","))
    flat = pc.filter(flat, pc.not_equal(flat, ""))  # an empty list splits into one ""
    friends = pc.cast(flat, pa.int64()).to_numpy(zero_copy_only=False)
    return user, ts, article, click, media, sub, friends, counts


def _problem(line: str, article_dtype: str) -> tuple[str, str, str]:
    """(reason, field, value) of the first problem of a malformed line (order of FIELDS)."""
    values = line.split("\t")
    if len(values) != len(FIELDS):
        return "wrong field count", f"({len(values)} fields, expected {len(FIELDS)})", line[:60]
    for name, value in zip(FIELDS, values):
        if value == "" and name != "friend_ids":
            return "missing field", name, value
        if name in ("user_id", "media_id") and not re.fullmatch(_ID, value):
            return "non-integer id", name, value
        if name == "article_id" and not re.fullmatch(_ARTICLE[article_dtype], value):
            return "non-integer id", name, value
        if name == "timestamp" and not re.fullmatch(_TS, value):
            return "bad timestamp", name, value
        if name in ("click_label", "subscribe_label") and value not in ("0", "1"):
            return "label not 0/1", name, value
        if name == "friend_ids" and not re.fullmatch(_FRIENDS, value):
            return "bad friend_ids", name, value
    return "wrong field count", "(line)", line[:60]  # unreachable for lines the pattern rejects


def _hint(field: str, value: str, article_dtype: str) -> str:
    if field == "article_id" and article_dtype == "int64" and _COMPOSITE.fullmatch(value):
        return (". Article ids like '3293810552_2247539567_1' (the public release) need "
                "article_dtype='string'")
    return ""
