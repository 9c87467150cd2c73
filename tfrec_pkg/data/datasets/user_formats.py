"""Readers for users' own interaction data, in four common formats.

Every reader returns a pandas DataFrame with one row per interaction, sorted by user, then
time (a stable sort: ties keep file order), with the columns ``user_id``, ``item_id``,
``timestamp``, ``provider_id`` and any extra columns of the source. Formats:

* :func:`read_log` -- an interaction log: a CSV file with a header line (e.g.
  ``uid,sku,ts,brand`` then ``7,1001,1600000000,3``), a Parquet file, or a pandas DataFrame.
  ``columns`` maps our names to the file's, e.g. ``{"user_id": "uid", "item_id": "sku",
  "timestamp": "ts", "provider_id": "brand"}``; unmapped columns keep their names and pass
  through. Timestamps are numbers or date-times; date-times (strings such as
  ``2021-03-04 10:00:00`` or a datetime64 column) become int64 seconds since 1970 (naive times
  read as UTC). The kind (number or date-time) is taken from the first value of the column.
* :func:`read_recbole` -- RecBole atomic files: ``NAME.inter`` (tab-separated, header
  ``user_id:token<TAB>item_id:token<TAB>rating:float<TAB>timestamp:float``, e.g. line
  ``196<TAB>242<TAB>3<TAB>881250949``), and when present beside it ``NAME.item`` (e.g. header
  ``item_id:token<TAB>brand:token<TAB>categories:token_seq``) and ``NAME.user``. Field types:
  ``token`` (a string id), ``token_seq`` (space-separated tokens -> a list of str), ``float``,
  ``float_seq`` (space-separated numbers -> a list of float). The ``:type`` suffix is dropped
  from the column names. The item and user fields are joined onto the interactions (items or
  users missing from those files get NaN there); the names of the item fields are in
  ``frame.attrs["item_columns"]``. Without a ``timestamp`` field, the line number is the time.
  ``path`` is the ``.inter`` file or the data set's directory (holding exactly one ``.inter``).
* :func:`read_sequences` -- one user per line, ``user_id item_1 item_2 ...`` separated by
  spaces, items in time order (the S3-Rec / ICLRec format, e.g. ``3 9 10 11 12 4 5``);
  timestamp = the item's position in its line (0, 1, ...). A user may have one line only.
  ``item_attributes``: the S3-Rec ``*_item2attributes.json`` (``{"item_id": [attribute ids]}``),
  read as the brand: the first attribute id, unless that id also appears at a later position
  in some item's list (then it is a category and the item has no brand). Items without a brand
  (absent from the file, or with an id in ``unknown_brands``) get ``specs.UNKNOWN_PROVIDER``;
  their count is ``frame.attrs["unknown_provider_items"]``.
* :func:`read_pairs` -- one ``user item`` pair per line, space or tab separated, in time order
  (the SASRec repository's format, e.g. ``1 25``); timestamp = the line number.

Ids. Integer ids stay int64. A user, item or provider column holding any value that is not an
integer (RecBole tokens such as ``"A1B2"``) is mapped as a whole to int64 codes 0, 1, ... in
sorted string order (deterministic: it depends on the set of values only); the tokens are
kept in ``frame.attrs["id_maps"][column]`` (code k -> token k). Item id -1 is the padding of
the models and is rejected. Without a provider column, ``provider_id`` is
``specs.UNKNOWN_PROVIDER`` everywhere.

Checks. Files are read ``chunk_rows`` lines (Parquet: row groups) at a time, with a tqdm progress
bar (``progress=None``: shown when stderr is a terminal). The first bad line raises a
``ValueError`` naming file, line and column, what was found and what was expected, e.g.
``Toys.txt line 17, column 3: found 'abc'; expected an integer item id``, with the number of
further bad lines in the same chunk. Lines count from 1 (a header is line 1) and assume one
record per line; rows of a Parquet file or a DataFrame count from 0 (``iloc``). Blank lines are
skipped. A missing file raises ``FileNotFoundError``. (The public readers of
:mod:`~tfrec_pkg.data.datasets.providers_public` skip and count bad lines instead.)
"""
from __future__ import annotations

import csv
import json
import os
import re
import sys
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm  # plain text bars, also in notebooks (tqdm.auto's widget bar needs ipywidgets)

from tfrec_pkg import specs
from tfrec_pkg.data.datasets.providers_public import _INT, _require_files

UNKNOWN_PROVIDER = specs.UNKNOWN_PROVIDER
_INT_RE = re.compile(_INT)
ID_COLUMNS = ("user_id", "item_id", "provider_id")
_ID_WORDS = {"user_id": "a user id", "item_id": "an item id", "provider_id": "a provider id"}
RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")


# ----------------------------------------------------------------------------- readers


def read_log(source, columns: dict | None = None, chunk_rows: int = 1_000_000,
             progress: bool | None = None) -> pd.DataFrame:
    """An interaction log (CSV with header, Parquet, or a DataFrame) -> interactions."""
    rename = _rename(columns)
    if isinstance(source, pd.DataFrame):
        _require_columns(source.columns, rename, "the DataFrame")
        chunks = ((source.iloc[s:s + chunk_rows], np.arange(s, min(s + chunk_rows, len(source))))
                  for s in range(0, len(source), _positive(chunk_rows)))
        raw = _collect(chunks, "DataFrame row", rename, progress, len(source))
    else:
        path = str(source)
        _require_files((path, "interaction log"))
        if path.lower().endswith((".parquet", ".pq")):
            raw = _collect(_parquet_chunks(path, rename), f"{_name(path)} row", rename, progress)
        else:
            raw = _collect(_csv_chunks(path, chunk_rows, rename, sep=","), f"{_name(path)} line", rename,
                           progress)
    return _finish(raw)


def read_recbole(path, columns: dict | None = None, chunk_rows: int = 1_000_000,
                 progress: bool | None = None) -> pd.DataFrame:
    """RecBole atomic files (``.inter`` + optional ``.item``/``.user`` beside it) -> interactions."""
    inter = Path(path)
    if inter.is_dir():
        found = sorted(inter.glob("*.inter"))
        if len(found) != 1:
            raise ValueError(f"{path}: expected a RecBole data set directory with exactly one .inter "
                             f"file, found {[f.name for f in found]}")
        inter = found[0]
    _require_files((inter, "RecBole .inter"))
    rename = _rename(columns)
    typed = _recbole_chunks(inter, chunk_rows)
    names = next(typed)
    if rename["timestamp"] not in names:  # no time field: the line number is the time
        typed = ((chunk.assign(**{rename["timestamp"]: lines}), lines) for chunk, lines in typed)
        names = [*names, rename["timestamp"]]
    _require_columns(names, {k: v for k, v in rename.items() if k in ("user_id", "item_id", "timestamp")},
                     inter.name)
    raw = _collect(typed, f"{inter.name} line", rename, progress)
    item_columns = []
    for side, key in (("item", "item_id"), ("user", "user_id")):
        side_path = inter.with_suffix("." + side)
        if not side_path.is_file():
            continue
        chunks = _recbole_chunks(side_path, chunk_rows)
        side_names = next(chunks)
        if key not in side_names:
            raise ValueError(f"{side_path.name}: the header {side_names} lacks the field {key!r}")
        table = pd.concat([c for c, _ in chunks], ignore_index=True).drop_duplicates(key)
        table[key] = table[key].astype(str)
        table = table.rename(columns={v: k for k, v in rename.items() if v in table.columns and k != key})
        extra = [c for c in table.columns if c != key and c not in raw.columns]
        raw = raw.merge(table[[key, *extra]], how="left", on=key)
        if side == "item":
            item_columns = [c for c in extra if c != "provider_id"]
    frame = _finish(raw)
    frame.attrs["item_columns"] = item_columns
    return frame


def read_sequences(path, item_attributes=None, unknown_brands=(), chunk_rows: int = 1_000_000,
                   progress: bool | None = None) -> pd.DataFrame:
    """One ``user item_1 item_2 ...`` line per user (S3-Rec format) -> interactions."""
    _require_files((path, "user sequences file"))
    users, items, times, seen = [], [], [], {}
    for lines in _text_chunks(path, chunk_rows, progress):
        bad = []
        for no, line in lines:
            fields = line.split()
            wrong = [(c, f, "an integer user id" if c == 1 else "an integer item id")
                     for c, f in enumerate(fields, 1) if not _INT_RE.fullmatch(f)]
            if len(fields) == 1:
                wrong.append((2, "the end of the line", "at least one item id after the user id"))
            if not wrong and fields[0] in seen:
                wrong.append((1, fields[0], f"a user id not seen before (also on line {seen[fields[0]]})"))
            if wrong:
                bad.append((no, *wrong[0]))
                continue
            seen[fields[0]] = no
            n = len(fields) - 1
            users.append(np.full(n, int(fields[0]), dtype=np.int64))
            items.append(np.array(fields[1:], dtype=np.int64))
            times.append(np.arange(n, dtype=np.int64))
        _raise_first(_name(path), "line", bad)
    frame = pd.DataFrame({"user_id": _cat(users), "item_id": _cat(items), "timestamp": _cat(times)})
    frame["provider_id"] = np.int64(UNKNOWN_PROVIDER)
    if item_attributes is not None:
        brand = s3rec_brands(item_attributes, unknown_brands)
        frame["provider_id"] = frame["item_id"].map(brand).fillna(UNKNOWN_PROVIDER).astype(np.int64)
        catalogue = frame.drop_duplicates("item_id")
        frame.attrs["unknown_provider_items"] = int((catalogue["provider_id"] == UNKNOWN_PROVIDER).sum())
    return _finish(frame)


def s3rec_brands(item_attributes, unknown_brands=()) -> pd.Series:
    """``item_id -> brand id`` from an S3-Rec ``*_item2attributes.json``, by the rule of the module
    docstring; items without a brand (or with one in ``unknown_brands``) are left out."""
    _require_files((item_attributes, "S3-Rec item2attributes JSON"))
    with open(item_attributes, encoding="utf-8") as fh:
        try:
            attrs = json.load(fh)
        except json.JSONDecodeError as e:
            raise ValueError(f"{_name(item_attributes)} line {e.lineno}, column {e.colno}: {e.msg}; "
                             'expected JSON {"item_id": [attribute ids]}') from None
    if not isinstance(attrs, dict):
        raise ValueError(f'{_name(item_attributes)}: expected a JSON object {{"item_id": [attribute ids]}}')
    for key, value in attrs.items():
        if not _INT_RE.fullmatch(str(key)) or not isinstance(value, list) or not all(
                isinstance(v, int) for v in value):
            raise ValueError(f"{_name(item_attributes)}: item {key!r}: found {str(value)[:80]}; expected an "
                             "integer item id with a list of integer attribute ids")
    later = {v for value in attrs.values() for v in value[1:]}
    skip = later | set(unknown_brands)
    return pd.Series({int(k): v[0] for k, v in attrs.items() if v and v[0] not in skip}, dtype=np.int64)


def read_pairs(path, chunk_rows: int = 1_000_000, progress: bool | None = None) -> pd.DataFrame:
    """One ``user item`` pair per line in time order (SASRec format) -> interactions."""
    _require_files((path, "user-item pairs file"))
    parts = []
    for lines in _text_chunks(path, chunk_rows, progress):
        bad, ok = [], []
        for no, line in lines:
            fields = line.split()
            if len(fields) != 2:
                col = min(len(fields), 2) + 1
                bad.append((no, col, fields[2] if len(fields) > 2 else "the end of the line",
                            "exactly two fields 'user item'"))
                continue
            wrong = [(c, f, what) for c, f, what in ((1, fields[0], "an integer user id"),
                                                      (2, fields[1], "an integer item id"))
                     if not _INT_RE.fullmatch(f)]
            if wrong:
                bad.append((no, *wrong[0]))
            else:
                ok.append((int(fields[0]), int(fields[1]), no))
        _raise_first(_name(path), "line", bad)
        parts.append(np.array(ok, dtype=np.int64).reshape(-1, 3))
    arr = np.concatenate(parts) if parts else np.zeros((0, 3), dtype=np.int64)
    frame = pd.DataFrame({"user_id": arr[:, 0], "item_id": arr[:, 1], "timestamp": arr[:, 2]})
    frame["provider_id"] = np.int64(UNKNOWN_PROVIDER)
    return _finish(frame)


# ----------------------------------------------------------------------------- chunk sources


def _text_chunks(path, chunk_rows: int, progress):
    """Lists of ``(line number, text)`` of the non-blank lines, ``chunk_rows`` lines at a time."""
    chunk_rows = _positive(chunk_rows)
    with open(path, encoding="utf-8", errors="replace") as fh, _bar(progress, path) as bar:
        numbered = enumerate(fh, 1)
        while True:
            block = list(islice(numbered, chunk_rows))
            if not block:
                return
            bar.update(len(block))
            yield [(no, line.rstrip("\r\n")) for no, line in block if line.strip()]


def _csv_chunks(path, chunk_rows: int, rename: dict, sep: str):
    """``(chunk, line numbers)`` of a delimited file with a header; mapped columns read as str."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader([fh.readline().rstrip("\r\n")], delimiter=sep), [])
    _require_columns(header, rename, _name(path))
    start = 2  # the header is line 1
    with pd.read_csv(path, sep=sep, chunksize=_positive(chunk_rows), skip_blank_lines=False,
                     dtype={theirs: str for theirs in rename.values()}) as reader:
        for chunk in reader:
            lines = np.arange(start, start + len(chunk))
            start += len(chunk)
            blank = chunk.isna().all(axis=1).to_numpy()
            yield chunk[~blank], lines[~blank]


def _parquet_chunks(path, rename: dict):
    """``(chunk, row numbers)`` per row group (pyarrow), or the whole file without pyarrow."""
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency of this project
        frame = pd.read_parquet(path)
        _require_columns(frame.columns, rename, _name(path))
        yield frame, np.arange(len(frame))
        return
    pf = pq.ParquetFile(path)
    _require_columns(pf.schema_arrow.names, rename, _name(path))
    start = 0
    for g in range(pf.num_row_groups):
        chunk = pf.read_row_group(g).to_pandas()
        yield chunk, np.arange(start, start + len(chunk))
        start += len(chunk)


def _recbole_chunks(path, chunk_rows: int):
    """First the field names (``:type`` dropped), then ``(typed chunk, line numbers)``."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
    names, types = [], []
    for col, field in enumerate(header, 1):
        name, _, kind = field.strip().rpartition(":")
        if not name or kind not in RECBOLE_TYPES:
            raise ValueError(f"{_name(path)} line 1, column {col}: found {field!r}; expected a RecBole "
                             f"field 'name:type' with type in {RECBOLE_TYPES}, e.g. 'user_id:token'")
        names.append(name)
        types.append(kind)
    yield names
    with pd.read_csv(path, sep="\t", header=None, names=names, skiprows=1, dtype=str,
                     keep_default_na=False, quoting=csv.QUOTE_NONE, skip_blank_lines=False,
                     chunksize=_positive(chunk_rows), on_bad_lines="error", engine="python") as reader:
        yield from _typed_recbole(reader, path, names, types)


def _typed_recbole(reader, path, names, types):
    """Typed chunks of a RecBole file (see :func:`_recbole_chunks`)."""
    start = 2
    for chunk in reader:
        lines = np.arange(start, start + len(chunk))
        start += len(chunk)
        chunk = chunk.fillna("")
        keep = ~(chunk == "").all(axis=1).to_numpy()
        chunk, lines = chunk[keep], lines[keep]
        for col, (name, kind) in enumerate(zip(names, types), 1):
            values = chunk[name]
            if kind == "float":
                num = pd.to_numeric(values, errors="coerce")
                bad = num.isna() & (values.str.strip() != "")
                _raise_first(_name(path), "line", [(no, col, v, f"a number (field {name}:float)")
                                                   for no, v in zip(lines[bad.to_numpy()], values[bad])])
                chunk[name] = num
            elif kind == "token_seq":
                chunk[name] = values.str.split()
            elif kind == "float_seq":
                lists = values.str.split()
                bad = [(no, col, v, f"space-separated numbers (field {name}:float_seq)")
                       for no, v, parts in zip(lines, values, lists)
                       if any(pd.isna(pd.to_numeric(p, errors="coerce")) for p in parts)]
                _raise_first(_name(path), "line", bad)
                chunk[name] = [[float(p) for p in parts] for parts in lists]
            else:
                chunk[name] = values.str.strip().replace("", np.nan)
        yield chunk, lines


# ----------------------------------------------------------------------------- checks


def _collect(chunks, where: str, rename: dict, progress, total=None) -> pd.DataFrame:
    """Check and convert the mapped columns of every chunk; concatenate (ids still raw)."""
    ours = {theirs: name for name, theirs in rename.items()}
    time_kind = None
    parts = []
    with _bar(progress, where.rsplit(" ", 1)[0], total) as bar:
        for chunk, lines in chunks:
            bar.update(len(chunk))
            chunk = chunk.rename(columns=ours)
            names = list(chunk.columns)
            bad = []
            for name in ("user_id", "item_id", "provider_id"):
                if name in chunk:
                    chunk[name], wrong = _raw_ids(chunk[name])
                    if name == "provider_id":  # an empty provider is the unknown provider
                        wrong = wrong & chunk[name].notna().to_numpy() & (chunk[name] != "").to_numpy()
                        chunk[name] = chunk[name].replace("", np.nan)
                    bad += [(lines[k], _col(names, name, rename), chunk[name].iloc[k], _ID_WORDS[name])
                            for k in np.flatnonzero(wrong)]
            if time_kind is None:
                time_kind = _time_kind(chunk["timestamp"])
            chunk["timestamp"], wrong = _times(chunk["timestamp"], time_kind)
            bad += [(lines[k], _col(names, "timestamp", rename), chunk["timestamp"].iloc[k],
                     "a number (the timestamp)" if time_kind == "number" else "a date-time (the timestamp)")
                    for k in np.flatnonzero(wrong)]
            if bad:
                bad.sort(key=lambda b: b[0])
                _raise_first(where.rsplit(" ", 1)[0], where.rsplit(" ", 1)[1], bad)
            parts.append(chunk)
    if not parts:
        return pd.DataFrame({"user_id": [], "item_id": [], "timestamp": []})
    return pd.concat(parts, ignore_index=True)


def _raw_ids(col: pd.Series):
    """Ids as int64 or stripped str; and a mask of the missing/invalid ones."""
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.astype(np.int64), np.zeros(len(col), dtype=bool)
    if pd.api.types.is_float_dtype(col.dtype):
        bad = (col.isna() | (col != np.floor(col))).to_numpy()
        return col.astype(object).where(bad, col.fillna(0).astype(np.int64)), bad
    text = col.astype(object).where(col.isna(), col.astype(str).str.strip())
    bad = (text.isna() | (text == "")).to_numpy()
    return text, bad


def _time_kind(col: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(col.dtype):
        return "number"
    first = col.dropna()
    first = first[first.astype(str).str.strip() != ""]
    if len(first) and pd.isna(pd.to_numeric(first.iloc[:1], errors="coerce")).all():
        return "datetime"
    return "number"


def _times(col: pd.Series, kind: str):
    """Timestamps as float64 numbers or int64 seconds; and a mask of the invalid ones."""
    if kind == "number":
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna().to_numpy()
        return col.where(bad, num), bad
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        dt = col if getattr(col.dt, "tz", None) else col.dt.tz_localize("UTC")
        dt = dt.dt.tz_convert("UTC")
    else:
        dt = pd.to_datetime(col, errors="coerce", utc=True, format="mixed")
    bad = dt.isna().to_numpy()
    seconds = (dt - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return col.where(bad, seconds), bad


def _finish(raw: pd.DataFrame) -> pd.DataFrame:
    """Resolve ids (int64 or codes of tokens), timestamps to int64 where integral, add the
    unknown provider where there is none, sort by user then time (stable)."""
    frame = raw.copy()
    id_maps = {}
    if "provider_id" not in frame:
        frame["provider_id"] = np.int64(UNKNOWN_PROVIDER)
    for name in ID_COLUMNS:  # a missing provider (empty, or absent from a side table) is unknown
        known = frame[name].notna().to_numpy()
        values, tokens = _resolve_ids(frame[name][known])
        out = np.full(len(frame), UNKNOWN_PROVIDER, dtype=np.int64)
        out[known] = values.to_numpy()
        frame[name] = out
        if tokens is not None:
            id_maps[name] = tokens
    if (frame["item_id"] == -1).any():
        first = int(np.flatnonzero(frame["item_id"].to_numpy() == -1)[0])
        raise ValueError(f"item id -1 (row {first}): -1 is the padding of the models; expected other ids")
    ts = frame["timestamp"].astype(np.float64)
    if len(ts) and (ts == np.floor(ts)).all() and ts.abs().max() < 2**53:
        frame["timestamp"] = ts.astype(np.int64)
    else:
        frame["timestamp"] = ts
    order = np.lexsort((frame["timestamp"].to_numpy(), frame["user_id"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    lead = ["user_id", "item_id", "timestamp", "provider_id"]
    frame = frame[lead + [c for c in frame.columns if c not in lead]]
    frame.attrs = {k: v for k, v in raw.attrs.items()}
    if id_maps:
        frame.attrs["id_maps"] = id_maps
    return frame


def _resolve_ids(col: pd.Series):
    """int64 ids as they are, or (when any value is not an integer) codes of the sorted tokens."""
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.astype(np.int64), None
    text = col.astype(str)
    if text.str.fullmatch(_INT).all():
        return text.astype(np.int64), None
    tokens, codes = np.unique(text.to_numpy(dtype=object).astype(str), return_inverse=True)
    return pd.Series(codes.astype(np.int64), index=col.index), [str(t) for t in tokens]


def _raise_first(where: str, unit: str, bad: list) -> None:
    """Raise for the first ``(line, column, found, expected)``, counting the other bad lines."""
    if not bad:
        return
    no, col, found, expected = bad[0]
    found = "an empty field" if found is None or (isinstance(found, float) and np.isnan(found)) or found == "" \
        else repr(str(found)[:80])
    more = len({b[0] for b in bad}) - 1
    tail = f" ({more} more bad {unit}(s) in the same chunk)" if more else ""
    raise ValueError(f"{where} {unit} {no}, column {col}: found {found}; expected {expected}{tail}")


# ----------------------------------------------------------------------------- small helpers


def _rename(columns: dict | None) -> dict:
    """``{our name: their name}`` with the defaults user_id, item_id, timestamp."""
    rename = {"user_id": "user_id", "item_id": "item_id", "timestamp": "timestamp"}
    for ours, theirs in (columns or {}).items():
        rename[str(ours)] = str(theirs)
    return rename


def _require_columns(found, rename: dict, what: str) -> None:
    found = [str(c) for c in found]
    absent = [f"{theirs!r} ({ours})" for ours, theirs in rename.items() if theirs not in found]
    if absent:
        raise ValueError(f"{what}: the header lacks column(s) {', '.join(absent)}; found columns {found}. "
                         "Map your column names with columns={'user_id': ..., 'item_id': ..., "
                         "'timestamp': ...}")


def _col(names: list, ours: str, rename: dict) -> str:
    theirs = rename.get(ours, ours)
    return f"{names.index(ours) + 1} ({theirs!r})"


def _bar(progress, what, total=None):
    show = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, desc=_name(what), unit=" rows", disable=not show)


def _name(path) -> str:
    return os.path.basename(str(path)) or str(path)


def _positive(n) -> int:
    if int(n) != n or n < 1:
        raise ValueError(f"chunk_rows must be a positive integer, found {n!r}")
    return int(n)


def _cat(arrays) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
