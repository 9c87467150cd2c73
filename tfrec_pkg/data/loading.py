"""One call from a user's interaction data to the train/val/test splits of the next-item models.

>>> data = load_interactions("ml-100k/")                    # RecBole atomic files
>>> data = load_interactions(frame, columns={"user_id": "uid", "item_id": "sku", "timestamp": "ts"})
>>> train, val, test = data.splits("leave_one_out", max_history=50)

``load_interactions(source, format=None, columns=None, **options)`` reads ``source`` with the
reader of ``format`` (options go to that reader) and returns :class:`Interactions`:

==================  ==========================================  ===================================
format              source                                      reader
==================  ==========================================  ===================================
``log``             CSV (header), Parquet, or a DataFrame       ``user_formats.read_log``
``recbole``         ``NAME.inter`` or its directory             ``user_formats.read_recbole``
``sequences``       ``user item item ...`` lines (S3-Rec)       ``user_formats.read_sequences``
``pairs``           ``user item`` lines (SASRec)                ``user_formats.read_pairs``
``tmall_ijcai16``   ``ijcai2016_taobao.csv``                    ``providers_public.read_tmall_ijcai16``
``twitch``          the Twitch CSV                              ``providers_public.read_twitch``
``wechat``          (user_action.csv, feed_info.csv)            ``providers_public.read_wechat``
``with_mapping``    (interactions CSV, item -> provider CSV)    ``providers_public.read_with_mapping``
==================  ==========================================  ===================================

``format=None`` infers it: a DataFrame -> log; a ``.csv``, ``.parquet`` or ``.pq`` file -> log; a
``.inter`` file, or a directory holding a ``.inter`` file -> recbole; a ``.txt`` file -> pairs
when each of its first 1,000 non-blank lines has exactly two fields, sequences when some has
three or more (and none fewer than two). Anything else raises ``ValueError`` listing the formats (pass ``format=``).
``columns`` (our name -> the file's) applies to ``log`` and ``recbole`` only.

Providers: the provider column of the data, or :data:`UNKNOWN_PROVIDER` (``specs.UNKNOWN_PROVIDER``,
-2) for interactions whose item has none; never dropped. :meth:`Interactions.splits` builds the
rows of ``specs.next_item`` (SASRec, GRU4Rec, IPSRec).
"""
from __future__ import annotations

import dataclasses
import os
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec_pkg import specs
from tfrec_pkg.data import sequences
from tfrec_pkg.data.datasets import providers_public, user_formats
from tfrec_pkg.data.synthetic.base import Split
from tfrec_pkg.data.vocab import fit_vocabularies

UNKNOWN_PROVIDER = specs.UNKNOWN_PROVIDER
FORMATS = ("log", "recbole", "sequences", "pairs", "tmall_ijcai16", "twitch", "wechat", "with_mapping")
SPLITS = ("leave_one_out", "temporal", "by_user")
TRAINING_POSITIONS = ("last", "all")
_TWO_FILES = ("wechat", "with_mapping")


@dataclasses.dataclass(repr=False)
class Interactions:
    """Interactions read by :func:`load_interactions`.

    ``frame``: one row per interaction, sorted by user then time, with int64 ``user_id``,
    ``item_id``, ``provider_id`` and ``timestamp`` (int64, or float64 where not integral), then
    the source's extra columns. ``items``: one row per item of ``frame`` (sorted by id) with
    ``provider_id`` (the first one seen) and the item side columns of the source. ``id_maps``:
    for columns whose ids were tokens, code k -> token k (module ``user_formats``).
    """

    frame: pd.DataFrame
    items: pd.DataFrame
    source: str
    id_maps: dict = dataclasses.field(default_factory=dict)

    @property
    def num_users(self) -> int:
        return int(self.frame["user_id"].nunique())

    @property
    def num_items(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        providers = self.items["provider_id"]
        unknown = int((providers == UNKNOWN_PROVIDER).sum())
        return (f"Interactions({self.source}: {len(self.frame):,} interactions, {self.num_users:,} users, "
                f"{self.num_items:,} items, {int(providers[providers != UNKNOWN_PROVIDER].nunique()):,} "
                f"providers + unknown for {unknown:,} items; extra columns "
                f"{[c for c in self.frame.columns if c not in _CORE]})")

    def splits(self, split: str = "leave_one_out", max_history: int = 50, training_positions: str = "last",
               ratios=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[Split, Split, Split]:
        """Train, validation and test :class:`Split` of next-item rows.

        Events are assigned to a part first (per event, stable time order within each user):

        * ``leave_one_out``: per user the last event is test, the second last validation, the
          rest training; users with fewer than 3 events keep all in training.
        * ``temporal``: a global time cut at ``ratios`` (``sequences.temporal_split``: tied
          timestamps stay in one part).
        * ``by_user``: users shuffled with ``seed`` and cut at ``ratios``; all of a user's events
          go to the user's part.

        Every event of a part that has at least one earlier event of its user becomes a row of
        ``specs.next_item(max_history)``: the target, its provider, and the last ``max_history``
        earlier events of the user (whatever their part: validation and test histories include
        the training events), plus ``timestamp`` and ``label`` = 1.

        ``training_positions="all"`` (SASRec's own form) replaces the training rows with one row
        per window of each user's training events, with the columns of
        ``specs.next_item_all_positions(max_history)`` (``sequences.all_position_rows``: aligned
        inputs and targets, windows of at most ``max_history`` targets cut from the end, every
        training target once). Validation and test stay as above.

        Vocabularies are fitted on the training rows (their history and target columns); every
        split carries ``items`` = the catalogue (``item_id``, ``provider_id``).
        """
        if split not in SPLITS:
            raise ValueError(f"split: found {split!r}; expected one of {SPLITS}")
        if training_positions not in TRAINING_POSITIONS:
            raise ValueError(f"training_positions: found {training_positions!r}; expected one of "
                             f"{TRAINING_POSITIONS}")
        if int(max_history) != max_history or max_history < 1:
            raise ValueError(f"max_history must be a positive integer, found {max_history!r}")
        L = int(max_history)
        f = self.frame
        user, item, prov = (f[c].to_numpy(np.int64) for c in ("user_id", "item_id", "provider_id"))
        ts = f["timestamp"].to_numpy()
        part = self.parts(split, ratios, seed)
        _, _, pos = sequences.user_positions(user)
        frames = {name: sequences.next_item_rows(user, item, prov, ts, np.flatnonzero((part == name) & (pos >= 1)), L)
                  for name in ("train", "val", "test") if name != "train" or training_positions == "last"}
        train_specs = specs.next_item(L)
        if training_positions == "all":
            m = part == "train"
            frames["train"] = sequences.all_position_rows(user[m], item[m], prov[m], ts[m], L)
            train_specs = specs.next_item_all_positions(L)
        if len(frames["train"]) == 0:
            raise ValueError(f"the {split} split leaves no training row (no user has 2 or more training "
                             "interactions)")
        vocab = fit_vocabularies(frames["train"], train_specs)
        items = self.items[["item_id", "provider_id"]].reset_index(drop=True)
        return tuple(Split(name, frames[name], train_specs if name == "train" else specs.next_item(L), vocab,
                           group="user_id", items=items) for name in ("train", "val", "test"))

    def parts(self, split: str = "leave_one_out", ratios=(0.8, 0.1, 0.1), seed: int = 0) -> np.ndarray:
        """"train" | "val" | "test" per row of ``frame`` (the event-level split of :meth:`splits`)."""
        f = self.frame[["user_id", "timestamp"]]
        if split == "leave_one_out":
            train, val, test = sequences.leave_one_out_split(f, "user_id", "timestamp")
        elif split == "temporal":
            train, val, test = sequences.temporal_split(f, "timestamp", ratios)
        elif split == "by_user":
            train, val, test = sequences.split_by_user(f, "user_id", ratios, seed)
        else:
            raise ValueError(f"split: found {split!r}; expected one of {SPLITS}")
        out = np.empty(len(f), dtype="<U5")
        for name, rows in (("train", train), ("val", val), ("test", test)):
            out[f.index.get_indexer(rows.index)] = name
        return out


_CORE = ("user_id", "item_id", "timestamp", "provider_id")


def load_interactions(source, format: str | None = None, columns: dict | None = None,
                      **options) -> Interactions:
    """Read ``source`` (a path, a pair of paths, or a DataFrame) as ``format`` (module docstring)."""
    fmt = infer_format(source) if format is None else format
    if fmt not in FORMATS:
        raise ValueError(f"format: found {fmt!r}; expected one of {FORMATS}")
    if columns is not None and fmt not in ("log", "recbole"):
        raise ValueError(f"columns= applies to the formats 'log' and 'recbole', not {fmt!r}")
    if fmt in _TWO_FILES:
        if not (isinstance(source, (tuple, list)) and len(source) == 2):
            raise ValueError(f"format {fmt!r} reads two files: pass source=(first path, second path), "
                             f"found {source!r}")
    readers = {"log": user_formats.read_log, "recbole": user_formats.read_recbole,
               "sequences": user_formats.read_sequences, "pairs": user_formats.read_pairs,
               "tmall_ijcai16": providers_public.read_tmall_ijcai16, "twitch": providers_public.read_twitch,
               "wechat": providers_public.read_wechat, "with_mapping": providers_public.read_with_mapping}
    args = tuple(source) if fmt in _TWO_FILES else (source,)
    if columns is not None:
        options["columns"] = columns
    frame = readers[fmt](*args, **options)
    attrs = dict(frame.attrs)
    frame.attrs = {}
    item_columns = list(attrs.get("item_columns", []))
    items = (frame[["item_id", "provider_id", *item_columns]].drop_duplicates("item_id")
             .sort_values("item_id", kind="stable").reset_index(drop=True))
    frame = frame.drop(columns=item_columns)
    what = "a DataFrame" if isinstance(source, pd.DataFrame) else ", ".join(
        os.path.basename(os.path.normpath(str(s))) for s in args)
    note = ""
    if "unknown_provider_items" in attrs:
        note = f", brands by the S3-Rec attribute rule ({attrs['unknown_provider_items']} items unknown)"
    return Interactions(frame, items, f"{fmt} {what}{note}", attrs.get("id_maps", {}))


def infer_format(source) -> str:
    """The format of ``source`` by the rules of the module docstring."""
    if isinstance(source, pd.DataFrame):
        return "log"
    listing = ", ".join(FORMATS)
    if isinstance(source, (tuple, list)):
        raise ValueError(f"cannot infer the format of two files {source!r}: pass format= (one of {listing})")
    path = Path(source)
    suffix = path.suffix.lower()
    if path.is_dir():
        if any(path.glob("*.inter")):
            return "recbole"
        raise ValueError(f"{source}: a directory without a RecBole .inter file; pass format= (one of {listing})")
    if suffix in (".csv", ".parquet", ".pq"):
        return "log"
    if suffix == ".inter":
        return "recbole"
    if suffix == ".txt" and path.is_file():
        with open(path, encoding="utf-8", errors="replace") as fh:
            widths = {len(line.split()) for line in islice((x for x in fh if x.strip()), 1000)}
        if widths == {2}:
            return "pairs"
        if widths and min(widths) >= 2 and max(widths) >= 3:
            return "sequences"
    raise ValueError(f"cannot infer the format of {source!r}; pass format= (one of {listing})")
