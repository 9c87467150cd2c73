"""Reader for the CSV format of JODIE's public data sets (Kumar et al., KDD'19: wikipedia.csv,
reddit.csv, mooc.csv, lastfm.csv), into an :class:`~tfrec_pkg.data.interactions.InteractionStream`.

Format: one header line, ``user_id,item_id,timestamp,state_label,comma_separated_list_of_features``,
then one interaction per line::

    0,0,0.0,0,0.1,-0.2,...

with integer ids, the time in seconds from the start (a number), a 0/1 state-change label
(e.g. a user banned or dropping out) and F feature values (F = 172 for wikipedia and reddit;
every line has the same F, taken from the first data line; F may be 0).

The stream: ``user_id``, ``item_id``, ``timestamp`` as in the file; every interaction is a
click (``action`` 0): the format has no purchases. ``state_label`` is kept as an extra column
and the features become ``stream.features``. Rows are in time order (the public files are;
others are sorted stably, as JODIE's code assumes they are).

Streaming and bad lines: the file is read ``chunk_rows`` lines at a time, each chunk checked
with :func:`tfrec_pkg.data.files.read_chunks` (the schema module's checks). The public files
have no malformed line, so one means a damaged or different file: any of them -- a line with
more or fewer fields than the first data line, an empty field, a non-integer id, a timestamp or
feature that is not a number, a label other than 0/1 -- raises ``ValueError`` naming the file,
the line, the column and what was expected. A wrong header raises too, naming the expected one.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from tfrec_pkg.data import files, schema
from tfrec_pkg.data.interactions import CLICK, InteractionStream
from tfrec_pkg.data.schema import Column

HEADER = ("user_id", "item_id", "timestamp", "state_label")  # then the features' placeholder name
COLUMNS = (Column("user_id", "int"), Column("item_id", "int"), Column("timestamp", "float"),
           Column("state_label", "int"))


def read_jodie_csv(path, chunk_rows: int = 100_000) -> InteractionStream:
    """Read a JODIE-format CSV (module docstring) into an interaction stream."""
    path = str(path)
    if int(chunk_rows) != chunk_rows or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, found {chunk_rows!r}")
    num_features, header_fields = _shape(path)
    names = [*HEADER, *(f"f{k}" for k in range(num_features))]
    # pandas needs a name for every header field: without features, the header's placeholder
    # gets one, and it must stay empty
    spare = [f"_spare{k}" for k in range(header_fields - len(names))]
    columns = [*COLUMNS, *(Column(n, "float") for n in names[len(HEADER):])]
    parts, feats = [], []
    for chunk in files.read_chunks(path, columns, int(chunk_rows), names=names + spare):
        _check_values(chunk, names, spare, path)
        parts.append(chunk[list(HEADER)])
        feats.append(chunk[names[len(HEADER):]].to_numpy(np.float32))
    frame = pd.concat(parts).astype({"user_id": np.int64, "item_id": np.int64, "timestamp": np.float64,
                                     "state_label": np.int64})
    frame.insert(3, "action", CLICK)
    return InteractionStream.from_frame(frame.reset_index(drop=True), np.concatenate(feats), name=path)


def _shape(path: str) -> tuple[int, int]:
    """F from the first data line, and the header's number of fields (it must be JODIE's)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"JODIE CSV {path!r} does not exist")
    with open(path, encoding="utf-8", errors="replace") as fh:
        header, first = fh.readline().rstrip("\r\n"), fh.readline().rstrip("\r\n")
    fields = [f.strip() for f in header.split(",")]
    if fields[:len(HEADER)] != list(HEADER) or len(fields) > len(HEADER) + 1:
        schema.raise_problems(path, [f"line 1 (the header): found {header[:200]!r}; expected "
                                     f"'{','.join(HEADER)},comma_separated_list_of_features'"])
    if not first:
        schema.raise_problems(path, [f"{path} has no data line: expected at least one interaction after the header"])
    return max(len(first.split(",")) - len(HEADER), 0), len(fields)


def _check_values(chunk: pd.DataFrame, names: list[str], spare: list[str], path: str) -> None:
    """What the schema kinds leave open: floats may be missing there, but every field is
    required here (a short line reads as empty fields at its end); labels are 0 or 1; no line
    has more fields than the first."""
    problems = []
    extra = chunk[spare].fillna("").astype(str).ne("").any(axis=1).to_numpy()  # read as text there
    if extra.any():
        problems.append(f"line {chunk.index[np.argmax(extra)]}: found more fields than the first data line "
                        f"({len(names)}); expected {len(names)} comma-separated values per line")
    missing = chunk[names].isna().to_numpy()
    if missing.any():
        row, col = np.argwhere(missing)[0]
        problems.append(f"column {names[col]!r}: found an empty or missing field in "
                        f"{int(missing.any(axis=1).sum())} line(s), first at line {chunk.index[row]}; "
                        f"expected {len(names)} comma-separated values per line")
    label = chunk["state_label"]
    bad = ~label.isin([0, 1]).to_numpy()
    if bad.any():
        problems.append(f"column 'state_label': found {label[bad].iloc[0].item()!r} at line {label.index[bad][0]} "
                        f"({int(bad.sum())} line(s)); expected 0 or 1")
    if problems:
        schema.raise_problems(path, problems)
