"""Reader for the online behaviour log of the IJCAI-16 Tmall/Koubei contest (tianchi data set
53, ``ijcai2016_taobao.csv``; IMN-Net's "Tmall" data, Sec. 5.1: 44.5M clicks and purchases),
into an :class:`~tfrec_pkg.data.interactions.InteractionStream`.

Format: one behaviour per line, ``user,seller,item,category,action,date``::

    1,44,73,6,1,20150701

with integer ids, action 0 (click) or 1 (purchase) and the date as yyyymmdd. The released file
starts with the header line ``use_ID,sel_ID,ite_ID,cat_ID,act_ID,time`` (what public
preprocessing code and :func:`tfrec_pkg.data.datasets.providers_public.read_tmall_ijcai16`
read); a file without a header line is read too: the first line is a header when its first
field is not an integer, and then it must be that one.

The stream: ``user_id``, ``item_id``, ``action`` as in the file, ``timestamp`` = the date's
midnight (UTC) in unix seconds, ``seller_id`` and ``category_id`` as extra columns; no
features. Dates are the only clock, so the interactions of one day tie; they keep their file
order (a stable sort), and the chronological split never cuts a day apart (see
:mod:`tfrec_pkg.data.interactions`). IMN keeps only the user and item dimensions (Sec. 5.1).

Streaming and bad lines: the file is read ``chunk_rows`` lines at a time, each chunk checked
with :func:`tfrec_pkg.data.files.read_chunks` (the schema module's checks), and only the int64
columns are kept. A malformed line (a missing or extra field, a non-integer id, an action other
than 0/1, a date that is not a real yyyymmdd day) raises ``ValueError`` naming the file, the
line, the column and what was expected: the public file is clean, so a bad line means a damaged
or different file, and skipping it silently would hide that.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from tfrec_pkg.data import files, schema
from tfrec_pkg.data.interactions import InteractionStream
from tfrec_pkg.data.schema import Column

HEADER = ("use_ID", "sel_ID", "ite_ID", "cat_ID", "act_ID", "time")  # the release's header line
NAMES = ("user_id", "seller_id", "item_id", "category_id", "action", "date")
COLUMNS = tuple(Column(n, "int") for n in NAMES)
_DAY = 86_400


def read_ijcai16(path, chunk_rows: int = 1_000_000) -> InteractionStream:
    """Read ``ijcai2016_taobao.csv`` (module docstring) into an interaction stream."""
    path = str(path)
    if int(chunk_rows) != chunk_rows or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, found {chunk_rows!r}")
    header = _has_header(path)
    parts = []
    for chunk in files.read_chunks(path, COLUMNS, int(chunk_rows), names=NAMES, header=header):
        _check_values(chunk, path)
        parts.append(chunk.astype(np.int64))
    frame = pd.concat(parts).reset_index(drop=True)
    frame.insert(2, "timestamp", _unix_seconds(frame.pop("date").to_numpy()))
    frame = frame[["user_id", "item_id", "timestamp", "action", "seller_id", "category_id"]]
    return InteractionStream.from_frame(frame, name=path)


def _has_header(path: str) -> bool:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IJCAI-16 file {path!r} does not exist")
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().rstrip("\r\n")
    fields = [f.strip() for f in first.split(",")]
    if not fields[0] or schema.as_int64([fields[0]])[1][0]:
        return False  # a data line (or an empty file: read_chunks names that)
    if fields != list(HEADER):
        schema.raise_problems(path, [f"line 1 (the header): found {first[:200]!r}; expected "
                                     f"{','.join(HEADER)!r} or no header line"])
    return True


def _check_values(chunk: pd.DataFrame, path: str) -> None:
    """What the int kind leaves open: actions are 0/1 and dates real yyyymmdd days."""
    problems = []
    action = chunk["action"]
    bad = ~action.isin([0, 1]).to_numpy()
    if bad.any():
        problems.append(f"column 'action': found {action[bad].iloc[0].item()!r} at line {action.index[bad][0]} "
                        f"({int(bad.sum())} line(s)); expected 0 (click) or 1 (purchase)")
    date = chunk["date"]
    bad = _unix_seconds(date.to_numpy()) < 0
    if bad.any():
        problems.append(f"column 'date': found {date[bad].iloc[0].item()!r} at line {date.index[bad][0]} "
                        f"({int(bad.sum())} line(s)); expected a date as yyyymmdd, e.g. 20150701")
    if problems:
        schema.raise_problems(path, problems)


def _unix_seconds(dates: np.ndarray) -> np.ndarray:
    """yyyymmdd integers -> int64 unix seconds of the day's midnight (UTC); -1 where the number
    is not a real day. Parses each distinct date once (a few hundred in 44M lines)."""
    days, inverse = np.unique(dates, return_inverse=True)
    eight_digits = (days >= 10_000_000) & (days <= 99_991_231)
    parsed = pd.to_datetime(pd.Series(np.where(eight_digits, days, 0).astype(str)), format="%Y%m%d",
                            errors="coerce")
    seconds = ((parsed - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)).fillna(-1).to_numpy(np.int64)
    return np.where(eight_digits, seconds, -1)[inverse]
