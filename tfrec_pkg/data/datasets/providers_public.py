"""Readers for the public item-provider data sets of IPSRec (Chen et al., SIGIR 2022, Sec. 3.1),
and :func:`to_sequences`, which turns any of them into next-item rows split leave-one-out.

Every reader returns a pandas DataFrame of interactions with the int64 columns
``user_id, item_id, provider_id, timestamp``, sorted by user, then time; ties keep file order
(a stable sort). Formats:

* :func:`read_tmall_ijcai16` -- IJCAI-16 Tmall/Taobao ``ijcai2016_taobao.csv`` (the paper's
  Tmall), header ``use_ID,sel_ID,ite_ID,cat_ID,act_ID,time`` with ``act_ID`` 0 = click,
  1 = buy and ``time`` as yyyymmdd. Provider = seller (``sel_ID``), timestamp = the yyyymmdd
  integer (it sorts like the date). The paper keeps purchases (``purchases_only=True``).
* :func:`read_twitch` -- Twitch data of Rappaz et al. (RecSys 2021), no header:
  ``user id, stream id, streamer username, time start, time stop`` (times in 10-minute units).
  Item = stream id, provider = streamer, timestamp = time start. Streamer names become ids
  0, 1, ... in sorted name order (stable: it depends on the set of names only, not on file
  order or chunking); the names are in ``frame.attrs["provider_names"]`` (id k -> name k).
* :func:`read_wechat` -- WeChat Big Data Challenge 2021: ``user_action.csv`` (header with at
  least ``userid, feedid, date_``) joined on ``feedid`` with ``feed_info.csv`` (header with at
  least ``feedid, authorid``). Provider = author, every action row is an interaction,
  timestamp = ``date_`` (a day number; ties keep file order). Actions on feeds missing from
  feed_info are kept with the provider ``specs.UNKNOWN_PROVIDER`` and a warning that counts
  those feeds and actions; a feed listed twice keeps its first author.
* :func:`read_with_mapping` -- any interactions CSV with header ``user_id,item_id,timestamp``
  plus an item -> provider CSV with header ``item_id,provider_id`` (e.g. a brand).
  Interactions on unmapped items are kept with the provider ``specs.UNKNOWN_PROVIDER`` and a
  warning that counts those items and interactions; an item mapped twice keeps its first provider.

Streaming and checks (all readers): a file is read ``chunk_rows`` lines at a time (pandas
``chunksize``), each line as one string that is split on commas (quoted fields with commas
are not supported; the public files have none). Columns are located by header name where the
format has a header. A line is malformed when its field count differs from the header's (or
the format's), when a used field is empty, or when a used integer field is not an integer; it
is skipped and counted, and one warning per file summarises the counts per reason with
examples. Fields the reader does not use are not checked (e.g. WeChat's often empty
``bgm_song_id``). More than 50 % malformed lines raise ``ValueError`` saying which format was
expected; a missing file raises ``FileNotFoundError``. Blank lines are ignored. The result does
not depend on ``chunk_rows``.
"""
from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tfrec_pkg.data.schema import Column, validate
from tfrec_pkg.data.sequences import next_item_rows, user_positions
from tfrec_pkg.data.synthetic.base import SyntheticData
from tfrec_pkg import specs
from tfrec_pkg.features import by_name
from tfrec_pkg.data.synthetic.providers import split_labels

COLUMNS = ["user_id", "item_id", "provider_id", "timestamp"]
REASONS = ("wrong field count", "missing field", "non-integer value", "unknown value")
_INT = r"-?\d{1,18}"  # at most 18 digits: always fits int64
_EXAMPLES = 3  # offending lines quoted per reason in the warning

TMALL_EXPECTED = ("a header line 'use_ID,sel_ID,ite_ID,cat_ID,act_ID,time' then lines of integers "
                  "with act_ID in {0 (click), 1 (buy)} and time as yyyymmdd, "
                  "e.g. '1,44,73,6,1,20150701'")
TWITCH_EXPECTED = ("comma-separated lines without header: user id,stream id,streamer username,"
                   "time start,time stop with integer ids and times, e.g. '1,34347669376,grimnax,5415,5419'")
WECHAT_ACTION_EXPECTED = ("a header line with at least userid,feedid,date_ (user_action.csv of the "
                          "WeChat Big Data Challenge 2021) then integer values, e.g. '8,71474,1,1,0,...'")
WECHAT_FEED_EXPECTED = ("a header line with at least feedid,authorid (feed_info.csv of the WeChat Big "
                        "Data Challenge 2021) then integer feedid and authorid values")
INTERACTIONS_EXPECTED = "a header line 'user_id,item_id,timestamp' then integer values, e.g. '1,10,1600000000'"
MAPPING_EXPECTED = "a header line 'item_id,provider_id' then integer values, e.g. '10,3'"


# ----------------------------------------------------------------------------- readers


def read_tmall_ijcai16(path, purchases_only: bool = True, chunk_rows: int = 1_000_000) -> pd.DataFrame:
    """IJCAI-16 Tmall ``ijcai2016_taobao.csv`` -> interactions (module docstring).

    ``purchases_only`` keeps ``act_ID == 1`` rows (the paper's choice); otherwise clicks too.
    ``act_ID`` values other than 0 and 1 are malformed ("unknown value").
    """
    raw = _read_csv(path, "IJCAI-16 Tmall ijcai2016_taobao.csv", TMALL_EXPECTED, chunk_rows,
                    header=True, ints=["use_ID", "sel_ID", "ite_ID", "act_ID", "time"],
                    allowed={"act_ID": (0, 1)})
    if purchases_only:
        raw = raw[raw["act_ID"] == 1]
    return _interactions(raw["use_ID"], raw["ite_ID"], raw["sel_ID"], raw["time"])


def read_twitch(path, chunk_rows: int = 1_000_000) -> pd.DataFrame:
    """Twitch CSV of Rappaz et al. 2021 (no header) -> interactions (module docstring)."""
    names = ["user", "stream", "streamer", "start", "stop"]
    raw = _read_csv(path, "Twitch (Rappaz et al. 2021)", TWITCH_EXPECTED, chunk_rows, header=False,
                    names=names, ints=["user", "stream", "start", "stop"], strings=["streamer"])
    provider_names, provider = np.unique(raw["streamer"].to_numpy(dtype=object).astype(str),
                                         return_inverse=True)
    frame = _interactions(raw["user"], raw["stream"], provider, raw["start"])
    frame.attrs["provider_names"] = [str(n) for n in provider_names]
    return frame


def read_wechat(user_action_path, feed_info_path, chunk_rows: int = 1_000_000) -> pd.DataFrame:
    """WeChat Big Data Challenge 2021 user_action.csv + feed_info.csv -> interactions."""
    _require_files((user_action_path, "WeChat user_action.csv"), (feed_info_path, "WeChat feed_info.csv"))
    actions = _read_csv(user_action_path, "WeChat user_action.csv", WECHAT_ACTION_EXPECTED,
                        chunk_rows, header=True, ints=["userid", "feedid", "date_"])
    feeds = _read_csv(feed_info_path, "WeChat feed_info.csv", WECHAT_FEED_EXPECTED, chunk_rows,
                      header=True, ints=["feedid", "authorid"])
    author = _lookup(actions["feedid"], feeds["feedid"], feeds["authorid"], user_action_path,
                     "feed(s) missing from feed_info.csv")
    return _interactions(actions["userid"], actions["feedid"], author, actions["date_"])


def read_with_mapping(interactions_path, mapping_path, chunk_rows: int = 1_000_000) -> pd.DataFrame:
    """Generic interactions CSV + item -> provider mapping CSV -> interactions (module docstring)."""
    _require_files((interactions_path, "interactions CSV"), (mapping_path, "item -> provider mapping CSV"))
    inter = _read_csv(interactions_path, "interactions CSV", INTERACTIONS_EXPECTED, chunk_rows,
                      header=True, ints=["user_id", "item_id", "timestamp"])
    mapping = _read_csv(mapping_path, "item -> provider mapping CSV", MAPPING_EXPECTED, chunk_rows,
                        header=True, ints=["item_id", "provider_id"])
    provider = _lookup(inter["item_id"], mapping["item_id"], mapping["provider_id"], interactions_path,
                       "item(s) without a provider in the mapping")
    return _interactions(inter["user_id"], inter["item_id"], provider, inter["timestamp"])


# ----------------------------------------------------------------------------- sequences


def to_sequences(interactions: pd.DataFrame, max_history: int, min_events: int = 1) -> SyntheticData:
    """Interactions (a reader's output) -> next-item rows with item + provider histories.

    One row per interaction that has at least one earlier interaction of its user (order:
    timestamp, ties by row order): the history is the last ``max_history`` earlier items and their
    providers, the interaction itself is the target (``item_id``, ``provider_id``), as in
    :func:`tfrec_pkg.data.synthetic.providers.providers`. Users with fewer than ``min_events``
    interactions are dropped first (default 1: none; the paper does not filter further).

    Leave-one-out by time per user (IPSRec Sec. 3.3): the last row is test, the penultimate
    validation, the rest training; users with fewer than 3 rows (4 interactions) keep them all
    in train. Columns: the features of :func:`tfrec_pkg.specs.next_item`, ``timestamp`` (the target's) and
    ``label`` (always 1). ``items`` holds every item with its provider (the first one seen).
    No ``true_prob``: real data has no known probabilities.
    """
    if int(max_history) != max_history or max_history < 1:
        raise ValueError(f"max_history must be a positive integer, found {max_history!r}")
    history = by_name(specs.next_item(int(max_history)))
    # Items and providers become history values too, where the padding value reads as "none";
    # NaN would become int64 min (as target and in histories).
    padding = {"item_id": history["hist_item_ids"].padding,
               "provider_id": history["hist_provider_ids"].padding}
    validate(interactions, [Column(c, "int", padding=padding.get(c)) for c in COLUMNS], name="interactions")
    f = interactions[COLUMNS]
    user = f["user_id"].to_numpy(np.int64)
    order = np.lexsort((f["timestamp"].to_numpy(np.int64), user))  # stable: ties keep row order
    user, item, prov, ts = (f[c].to_numpy(np.int64)[order] for c in COLUMNS)
    starts = np.r_[0, np.flatnonzero(user[1:] != user[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(user)])
    keep = np.repeat(sizes >= min_events, sizes)
    user, item, prov, ts = user[keep], item[keep], prov[keep], ts[keep]
    if len(user) == 0:
        raise ValueError(f"no user has at least {min_events} interaction(s)")
    _, _, pos = user_positions(user)
    rows = np.flatnonzero(pos >= 1)
    if len(rows) == 0:
        raise ValueError("no user has 2 or more interactions: there is no next item to predict")
    frame = next_item_rows(user, item, prov, ts, rows, int(max_history))
    # leave-one-out by position, not by raw timestamp (equal timestamps keep row order)
    by_pos = frame[["user_id"]].assign(timestamp=pos[rows])
    items, first = np.unique(item, return_index=True)
    item_frame = pd.DataFrame({"item_id": items.astype(np.int64), "provider_id": prov[first]})
    return SyntheticData(frame, split_labels(by_pos), specs.next_item(int(max_history)), group="user_id",
                         items=item_frame)


# ----------------------------------------------------------------------------- helpers


def _interactions(user, item, provider, timestamp) -> pd.DataFrame:
    """Sorted interaction frame (by user, then time, ties in input order)."""
    cols = [np.asarray(c, dtype=np.int64) for c in (user, item, provider, timestamp)]
    order = np.lexsort((cols[3], cols[0]))
    return pd.DataFrame({name: c[order] for name, c in zip(COLUMNS, cols)})


def _require_files(*paths_and_names) -> None:
    """FileNotFoundError for the first missing file, before any file is parsed."""
    for path, what in paths_and_names:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{what} file {str(path)!r} does not exist")


def _lookup(keys: pd.Series, map_keys: pd.Series, map_values: pd.Series, path, what: str) -> np.ndarray:
    """Map keys -> values (first value of a duplicated key); ``specs.UNKNOWN_PROVIDER`` (and a
    warning counting the keys and rows) where unmapped."""
    first = ~map_keys.duplicated(keep="first")
    index = pd.Index(map_keys[first].to_numpy())
    at = index.get_indexer(keys.to_numpy())
    out = np.where(at >= 0, map_values[first].to_numpy()[np.maximum(at, 0)],
                   specs.UNKNOWN_PROVIDER).astype(np.int64)
    n = int((at < 0).sum())
    if n:
        missing = sorted(set(keys.to_numpy()[at < 0].tolist()))
        warnings.warn(f"{path}: {len(missing)} {what} (e.g. {missing[:_EXAMPLES]}) get the unknown "
                      f"provider {specs.UNKNOWN_PROVIDER}: {n} of {len(keys)} interaction(s)", stacklevel=3)
    return out


def _read_csv(path, what: str, expected: str, chunk_rows: int, *, header: bool,
              names: Sequence[str] | None = None, ints: Sequence[str] = (),
              strings: Sequence[str] = (), allowed: dict | None = None) -> pd.DataFrame:
    """Stream a comma-separated file; return the used columns of its valid lines (ints as int64,
    strings as object) in file order. Warns about / rejects malformed lines (module docstring)."""
    if int(chunk_rows) != chunk_rows or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, found {chunk_rows!r}")
    _require_files((path, what))
    allowed = allowed or {}
    skip = 0
    if header:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline().rstrip("\r\n")
        names = [n.strip() for n in first.split(",")]
        skip = 1
        absent = [c for c in (*ints, *strings) if c not in names]
        if absent:
            raise ValueError(f"{path} does not look like {what}: the header {first[:200]!r} lacks "
                             f"column(s) {absent}. Expected {expected}")
    names = list(names)
    used = {c: names.index(c) for c in (*ints, *strings)}
    rows, parts = 0, []
    bad = {r: 0 for r in REASONS}
    examples: dict[str, list[str]] = {r: [] for r in REASONS}
    for chunk in _line_chunks(path, int(chunk_rows), skip):
        lines = chunk["line"].str.rstrip("\r")
        lines = lines[lines != ""]
        rows += len(lines)
        fields = lines.str.split(",", regex=False)
        reason = pd.Series("", index=lines.index, dtype=object)
        reason[fields.str.len() != len(names)] = "wrong field count"
        good = reason == ""
        cols = {}
        for c, j in used.items():
            col = fields[good].str[j].str.strip()
            cols[c] = col
            empty = col == ""
            reason[col.index[empty & (reason[col.index] == "")]] = "missing field"
            if c in ints:
                not_int = ~empty & ~col.str.fullmatch(_INT)
                reason[col.index[not_int & (reason[col.index] == "")]] = "non-integer value"
        ok = reason == ""
        for c, values in allowed.items():
            col = cols[c][ok[cols[c].index]]
            unknown = ~col.astype(np.int64).isin(values)
            reason[col.index[unknown]] = "unknown value"
        ok = reason == ""
        for r in REASONS:
            hit = lines[reason == r]
            bad[r] += len(hit)
            examples[r].extend(hit.str.slice(0, 80).tolist()[:_EXAMPLES - len(examples[r])])
        parts.append(pd.DataFrame({c: (cols[c][ok[cols[c].index]].astype(np.int64) if c in ints
                                       else cols[c][ok[cols[c].index]].astype(object))
                                   for c in used}))
    n_bad = sum(bad.values())
    summary = "; ".join(f"{r}: {n} (e.g. {examples[r]})" for r, n in bad.items() if n)
    if rows == 0 or n_bad > rows / 2:
        raise ValueError(f"{path} does not look like {what}: {n_bad} of {rows} line(s) are "
                         f"malformed ({summary or 'no data line'}). Expected {expected}")
    if n_bad:
        warnings.warn(f"{path}: skipped {n_bad} malformed line(s) of {rows}: {summary}", stacklevel=3)
    return pd.concat(parts, ignore_index=True)


def _line_chunks(path, chunk_rows: int, skip: int):
    """Chunks of whole lines as one string column ``line`` (no field splitting)."""
    try:
        yield from pd.read_csv(path, header=None, names=["line"], sep="\x1f", engine="c",
                               dtype=str, na_filter=False, quoting=csv.QUOTE_NONE, skiprows=skip,
                               skip_blank_lines=True, on_bad_lines="skip", encoding_errors="replace",
                               chunksize=chunk_rows)
    except pd.errors.EmptyDataError:  # empty file: no chunk at all
        return
