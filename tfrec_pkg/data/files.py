"""CSV / Parquet files -> pandas chunks checked against a schema as they are read.

Each chunk's index says where its rows are in the file: the line number for CSV (the header
is line 1) and the 0-based row number for Parquet. Every chunk goes through
:func:`tfrec_pkg.data.schema.validate` under the file's path, so a bad value raises a
``ValueError`` naming the file, the line or row, the column, what was found and what was
expected. Problems pandas finds while parsing (an empty file, a line with more fields than the
header, bytes that are not UTF-8) are reported in the same format.

CSV conventions: raw ids (``id`` / ``string`` columns) are read as text, so "007" survives;
list columns hold space-separated values (RecBole's ``token_seq``), split into lists of their
text tokens here (the ``int_list`` check reads integer text exactly); an empty numeric field is
missing (NaN), while text such as "NaN" is kept and reported as it is; a blank line is a row
with every field missing. ``names`` reads a CSV whose header does not name its fields as the
schema does (or that has no header line, ``header=False``): the header line, if any, is skipped
and the fields are named by ``names``; a line with fewer fields has the missing ones empty.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import pandas as pd

from tfrec_pkg.data import schema

# Read as text: raw ids ("007" must survive) and the space-separated sequence cells.
_TEXT_KINDS = ("id", "string", *schema.LIST_KINDS)
_HEADER_LINES = 1
# Chunk size used only to locate undecodable bytes after pandas has failed on them.
_SEARCH_ROWS = 65_536


def _is_parquet(path: str) -> bool:
    return str(path).endswith((".parquet", ".pq"))


def read_chunks(path: str, columns: Sequence[schema.Column], chunk_rows: int, *,
                names: Sequence[str] | None = None, header: bool = True) -> Iterator[pd.DataFrame]:
    """The ``columns`` of ``path`` (CSV or Parquet), ``chunk_rows`` rows at a time, each chunk
    validated as it is read (module docstring). An empty file fails, as an empty frame does.
    ``names`` and ``header`` apply to CSV files only (module docstring)."""
    path = str(path)
    if _is_parquet(path):
        chunks, where = _parquet_chunks(path, [c.name for c in columns], chunk_rows), "row"
    else:
        chunks, where = _csv_chunks(path, columns, chunk_rows, names, int(header)), "line"
    for frame in chunks:
        schema.validate(frame, columns, name=path, where=where)
        yield frame


def _parquet_chunks(path: str, names: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    # Absent columns are left out here and reported by the schema check, with the others.
    present = [n for n in names if n in pf.schema_arrow.names]
    if pf.metadata.num_rows == 0:
        yield pf.schema_arrow.empty_table().select(present).to_pandas()
        return
    start = 0
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=present):
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(start, start + len(frame))
        start += len(frame)
        yield frame


def _csv_chunks(path: str, columns: Sequence[schema.Column], chunk_rows: int, names: Sequence[str] | None,
                header_lines: int) -> Iterator[pd.DataFrame]:
    text = [c.name for c in columns if c.kind in _TEXT_KINDS]
    if names is not None:  # header=0 skips the header line, None reads the first line as data
        names_options = dict(names=list(names), header=0 if header_lines else None)
    else:
        names_options = {}
    options = dict(
        **names_options,
        dtype={n: str for n in text},
        keep_default_na=False,
        na_values={c.name: [""] for c in columns if c.name not in text},
        # No usecols: with it pandas silently drops the extra fields of a too-long line.
        index_col=False,  # never take a too-long first line's extra field as an index
        skip_blank_lines=False,  # keeps the index equal to the line numbers
        chunksize=chunk_rows,
    )
    with _parse_errors(path, header_lines, names):
        reader = pd.read_csv(path, **options)
    with reader:
        while True:
            with _parse_errors(path, header_lines, names):
                frame = next(reader, None)
            if frame is None:
                return
            frame.index = frame.index + header_lines + 1  # the file's line numbers
            for c in columns:
                if c.kind in schema.LIST_KINDS and c.name in frame.columns:
                    frame[c.name] = frame[c.name].str.split()
            yield frame


@contextlib.contextmanager
def _parse_errors(path: str, header_lines: int = _HEADER_LINES, names: Sequence[str] | None = None):
    """pandas' CSV parsing errors -> the schema's ``ValueError``, naming the file and line."""
    with warnings.catch_warnings():
        # With index_col=False pandas only warns, and drops the fields, when the first data
        # line has more fields than the header.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            yield
        except pd.errors.EmptyDataError:
            expected = "a header line, then at least one row" if header_lines else "at least one row"
            schema.raise_problems(path, [f"{path} is empty: expected {expected}"])
        except pd.errors.ParserWarning:
            schema.raise_problems(path, [f"line {header_lines + 1}: found more fields than the header has; "
                                         "expected one field per header column"])
        except pd.errors.ParserError as err:  # e.g. "Expected 5 fields in line 3, saw 6"
            detail = str(err).strip().rpartition("C error: ")[2]
            schema.raise_problems(path, [f"{detail}; expected one field per header column"])
        except UnicodeDecodeError:
            schema.raise_problems(path, [_undecodable(path, header_lines, names)])


def _undecodable(path: str, header_lines: int, names: Sequence[str] | None) -> str:
    """Where the first bytes that are not UTF-8 are (pandas' decoding error does not say):
    read the file again with U+FFFD in their place and find the first cell holding one."""
    reader = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False, skip_blank_lines=False,
                         names=None if names is None else list(names), header=0 if header_lines else None,
                         encoding_errors="replace", chunksize=_SEARCH_ROWS)
    with reader:
        for frame in reader:
            in_header = [n for n in frame.columns if "\ufffd" in str(n)]
            if in_header:
                return f"line 1 (the header): found bytes that are not UTF-8 in {in_header}; expected UTF-8 text"
            hits = frame.apply(lambda col: col.str.contains("\ufffd", regex=False)).stack()
            if hits.any():
                row, name = hits[hits].index[0]
                return (f"column {name!r}: found bytes that are not UTF-8 at line {row + header_lines + 1}, "
                        f"e.g. {frame.at[row, name]!r}; expected UTF-8 text")
    return "found bytes that are not UTF-8; expected UTF-8 text"
