"""One call from a user's interaction stream to an :class:`~tfrec_pkg.data.interactions.InteractionStream`,
the input of the stream models (IMN-Net, JODIE), as :func:`tfrec_pkg.data.load_interactions` is
for the next-item models.

>>> stream = load_stream("wikipedia.csv")                  # JODIE's public format
>>> train, val, test = WindowedStream.from_stream(stream, parts=500).splits()

``load_stream(source, format=None)`` reads ``source`` with the reader of ``format``:

=============  ===============================================  ======================================
format         source                                           reader
=============  ===============================================  ======================================
``log``        CSV (header) or Parquet with integer ``user_id``  :func:`tfrec_pkg.data.files.read_chunks`,
               and ``item_id``, ``timestamp`` and ``action``     then ``InteractionStream.from_frame``
               (0 click, 1 purchase); or a DataFrame (``action``
               may also be "click" / "purchase")
``jodie_csv``  ``user_id,item_id,timestamp,state_label,...``    ``datasets.jodie_csv.read_jodie_csv``
               (wikipedia.csv, reddit.csv; every row a click)
``ijcai16``    ``ijcai2016_taobao.csv`` (clicks and purchases)   ``datasets.ijcai16.read_ijcai16``
=============  ===============================================  ======================================

``format=None`` infers it: a DataFrame -> log; a file whose name starts with ``ijcai2016`` ->
ijcai16; a ``.csv`` file whose header starts ``user_id,item_id,timestamp,state_label`` ->
jodie_csv, any other ``.csv``, ``.parquet`` or ``.pq`` file -> log. Anything else raises
``ValueError`` listing the formats. Every reader streams the file in chunks and raises
``ValueError`` on a bad line, naming the file, the line (Parquet: row) and the column.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from tfrec_pkg.data import files
from tfrec_pkg.data.datasets.ijcai16 import read_ijcai16
from tfrec_pkg.data.datasets.jodie_csv import HEADER as JODIE_HEADER, read_jodie_csv
from tfrec_pkg.data.interactions import InteractionStream
from tfrec_pkg.data.schema import Column

STREAM_FORMATS = ("log", "jodie_csv", "ijcai16")
# integer ids: the stream's vocabularies are int64 (``tbatch_windows.WindowedStream``)
LOG_COLUMNS = (Column("user_id", "int"), Column("item_id", "int"), Column("timestamp", "timestamp"),
               Column("action", "label"))
_CHUNK_ROWS = 1_000_000


def load_stream(source, format: str | None = None) -> InteractionStream:
    """Read ``source`` (a path or a DataFrame) as ``format`` (module docstring)."""
    fmt = infer_stream_format(source) if format is None else format
    if fmt not in STREAM_FORMATS:
        raise ValueError(f"format: found {fmt!r}; expected one of {STREAM_FORMATS} for an interaction stream")
    if isinstance(source, pd.DataFrame):
        if fmt != "log":
            raise ValueError(f"a DataFrame is read as format 'log', not {fmt!r}")
        return InteractionStream.from_frame(source, name="the DataFrame")
    if fmt == "jodie_csv":
        return read_jodie_csv(source)
    if fmt == "ijcai16":
        return read_ijcai16(source)
    frame = pd.concat(list(files.read_chunks(str(source), LOG_COLUMNS, _CHUNK_ROWS)), ignore_index=True)
    return InteractionStream.from_frame(frame, name=str(source))


def infer_stream_format(source) -> str:
    """The format of ``source`` by the rules of the module docstring."""
    if isinstance(source, pd.DataFrame):
        return "log"
    path = Path(source)
    suffix = path.suffix.lower()
    if path.name.lower().startswith("ijcai2016"):
        return "ijcai16"
    if suffix == ".csv" and path.is_file():
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = [f.strip() for f in fh.readline().split(",")]
        return "jodie_csv" if header[:len(JODIE_HEADER)] == list(JODIE_HEADER) else "log"
    if suffix in (".csv", ".parquet", ".pq"):
        return "log"
    raise ValueError(f"cannot infer the stream format of {source!r}; pass format= (one of {', '.join(STREAM_FORMATS)})")
