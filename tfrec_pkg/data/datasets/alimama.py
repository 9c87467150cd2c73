"""Reader for the public Alimama display-advertising CTR data (Taobao, tianchi dataset 56; the
*ADS* data set of MuSENet, WSDM'23, Sec. 4.1), into the rows of
:func:`tfrec_pkg.specs.scenario_click`.

Files (comma-separated, one header line each, as released):

* ``raw_sample.csv``: ``user,time_stamp,adgroup_id,pid,nonclk,clk`` -- one ad impression per
  line (unix time, the slot ``pid`` such as ``430548_1007``, click 0/1);
* ``ad_feature.csv``: ``adgroup_id,cate_id,campaign_id,customer,brand,price`` (``brand`` may
  be ``NULL``);
* ``user_profile.csv``: ``userid,cms_segid,cms_group_id,final_gender_code,age_level,
  pvalue_level,shopping_level,occupation,new_user_class_level`` (the last header has a
  trailing space in the release; empty cells occur);
* ``behavior_log.csv``: ``user,time_stamp,btag,cate,brand`` -- page views, carts, favourites
  and buys (btag ``pv|cart|fav|buy``), about 700M lines: read ``chunk_rows`` at a time, keeping
  only what a history can hold -- events of the users of ``raw_sample.csv`` before their last
  impression (and, with ``lookback_days``, at most that long before the first impression;
  ``stats["behaviours_kept"]`` counts them). The kept events are held in memory (4 int64
  columns, 32 bytes an event) to build the histories: on the full release most of the log
  belongs to sampled users, so bound it with ``lookback_days`` on a small machine.

Preparation (readings taken where the paper is silent):

* **Items are brands.** ``behavior_log.csv`` records categories and brands, not ad groups, so
  an item is identified by its brand on both sides: the target's ``item_id`` is its ad's brand
  and ``category_id`` its ``cate_id``; a behaviour is (brand, cate). Ads without a brand get
  ``item_id`` -1 (padding: never a repeat); behaviours without a brand are left out of B_u
  (counted in ``stats``).
* **B_u** of an impression is the user's last ``max_history`` behaviours strictly before its
  time stamp (no leakage), oldest first.
* **Repeat label r** (Eq. 10, "the fraction of items the user consumed before"): the share of
  the behaviours in B_u whose brand the user had already interacted with earlier in the log
  (0 for an empty B_u).
* **Profile** p_u: ``final_gender_code``, ``age_level``, ``shopping_level``; a user missing from
  ``user_profile.csv`` gets -1 (padding) in each field and in the predefined scenario.
* **Predefined scenarios** (MuSENet Sec. 4.1: "the user's shopping-level attributes (high-,
  mid- or low-frequency buyers)"): ``predefined_scenario`` = ``shopping_level``.
* **Context** o_u: the slot (``context_slot``: the integer before the ``_`` of ``pid``) and
  the numeric ``context_price`` = log(1 + the ad's price) and ``context_hour`` = the hour of
  day in Beijing time (UTC+8) / 23: :data:`CONTEXT_NUMERIC`.
* **Split** (Sec. 4.1: "seven equal parts according to timestamps, the first six for
  training"): impressions in (time, line) order are cut into 7 parts of equal size; parts 1-5
  train, part 6 validation (for early stopping), part 7 test; ``validation=False`` trains on
  parts 1-6 and leaves the validation split empty.

Bad rows: a line whose required field is missing or not a number (or a label other than 0/1)
is skipped and counted per file; one warning names the file, the count and the first lines
with the column and the value. ``on_bad_rows="raise"`` raises ``ValueError`` at the first one
(file, line, column, value, expected form). Impressions of an ad group missing from
``ad_feature.csv`` are skipped and counted (``stats["unknown_adgroup"]``). Blank lines (and
lines of empty fields only) are skipped; line numbers count them. A line with more fields than
the header, a missing file or a wrong header raises ``ValueError`` / ``FileNotFoundError``.
No ``true_prob``: real data.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from tfrec_pkg import specs
from tfrec_pkg.data.synthetic.base import SyntheticData

log = logging.getLogger(__name__)

CONTEXT_NUMERIC = ("price", "hour")
FILES = {
    "raw_sample.csv": ("user", "time_stamp", "adgroup_id", "pid", "nonclk", "clk"),
    "ad_feature.csv": ("adgroup_id", "cate_id", "campaign_id", "customer", "brand", "price"),
    "user_profile.csv": ("userid", "cms_segid", "cms_group_id", "final_gender_code", "age_level",
                         "pvalue_level", "shopping_level", "occupation", "new_user_class_level"),
    "behavior_log.csv": ("user", "time_stamp", "btag", "cate", "brand"),
}
# per file: the columns that must be integers (others may be empty or NULL where noted)
REQUIRED = {"raw_sample.csv": ("user", "time_stamp", "adgroup_id", "clk"),
            "ad_feature.csv": ("adgroup_id", "cate_id"),
            "user_profile.csv": ("userid", "final_gender_code", "age_level", "shopping_level"),
            "behavior_log.csv": ("user", "time_stamp", "cate")}
PARTS, TEST_PARTS = 7, 1
_EXAMPLES = 3


def read_alimama(directory, max_history: int = 50, chunk_rows: int = 2_000_000, lookback_days: float | None = None,
                 validation: bool = True, on_bad_rows: str = "skip") -> SyntheticData:
    """Read the four files of ``directory`` (module docstring) into impression rows."""
    if int(max_history) != max_history or max_history < 1:
        raise ValueError(f"max_history must be a positive integer, found {max_history!r}")
    if on_bad_rows not in ("skip", "raise"):
        raise ValueError(f"on_bad_rows must be 'skip' or 'raise', found {on_bad_rows!r}")
    paths = {name: os.path.join(directory, name) for name in FILES}
    for name, path in paths.items():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Alimama file {path!r} does not exist (need {sorted(FILES)} in {directory!r})")
    stats = {}
    read = lambda name: _read(paths[name], name, chunk_rows, on_bad_rows, stats)  # noqa: E731

    ads = pd.concat(list(read("ad_feature.csv"))).drop_duplicates("adgroup_id").set_index("adgroup_id")
    profiles = pd.concat(list(read("user_profile.csv"))).drop_duplicates("userid").set_index("userid")
    samples = pd.concat(list(read("raw_sample.csv")), ignore_index=False)
    known = samples["adgroup_id"].isin(ads.index)
    stats["unknown_adgroup"] = int((~known).sum())
    samples = samples[known]
    if samples.empty:
        raise ValueError(f"{paths['raw_sample.csv']}: no impression left (none with a known ad group)")
    samples = samples.rename_axis("line").reset_index().sort_values(["time_stamp", "line"], kind="stable")

    last_impression = samples.groupby("user")["time_stamp"].max()
    since = samples["time_stamp"].min() - lookback_days * 86_400 if lookback_days is not None else None
    events = []
    for chunk in read("behavior_log.csv"):
        # a history holds events strictly before one of its user's impressions: none of another
        # user's, none from the user's last impression on (NaN for other users compares False)
        keep = (chunk["time_stamp"] < chunk["user"].map(last_impression)) & chunk["brand"].notna()
        if since is not None:
            keep &= chunk["time_stamp"] >= since
        stats["behaviours_without_brand"] = stats.get("behaviours_without_brand", 0) + int(chunk["brand"].isna().sum())
        events.append(chunk.loc[keep, ["user", "time_stamp", "cate", "brand"]])
        stats["behaviours_kept"] = stats.get("behaviours_kept", 0) + int(keep.sum())
    events = pd.concat(events, ignore_index=True).astype({"brand": np.int64})
    hist_items, hist_cats, repeat = _histories(events, samples["user"].to_numpy(), samples["time_stamp"].to_numpy(),
                                               int(max_history))

    ad = ads.loc[samples["adgroup_id"].to_numpy()]
    profile = profiles.reindex(samples["user"].to_numpy())
    level = profile["shopping_level"].fillna(-1).astype(np.int64).to_numpy()
    hour = ((samples["time_stamp"].to_numpy() + 8 * 3600) // 3600) % 24
    frame = pd.DataFrame({
        "user_id": samples["user"].to_numpy(np.int64),
        "profile_gender": profile["final_gender_code"].fillna(-1).astype(np.int64).to_numpy(),
        "profile_age": profile["age_level"].fillna(-1).astype(np.int64).to_numpy(),
        "profile_level": level,
        "hist_item_ids": hist_items,
        "hist_category_ids": hist_cats,
        "item_id": ad["brand"].fillna(-1).astype(np.int64).to_numpy(),
        "category_id": ad["cate_id"].astype(np.int64).to_numpy(),
        "context_slot": samples["pid"].astype(str).str.split("_").str[0].astype(np.int64).to_numpy(),
        "context_price": np.log1p(ad["price"].fillna(0.0).to_numpy(np.float64)).astype(np.float32),
        "context_hour": (hour / 23.0).astype(np.float32),
        "predefined_scenario": level,
        "repeat_label": repeat.astype(np.float32),
        "timestamp": samples["time_stamp"].to_numpy(np.int64),
        "line": samples["line"].to_numpy(np.int64) + 2,   # 1-based file line (after the header)
        "label": samples["clk"].to_numpy(np.int64),
    })
    part = np.arange(len(frame)) * PARTS // len(frame)   # rows are in time order: equal parts
    split_of = np.where(part >= PARTS - TEST_PARTS, "test",
                        np.where(validation & (part == PARTS - TEST_PARTS - 1), "val", "train"))
    stats |= {"rows": len(frame), "users": len(last_impression)}
    data = SyntheticData(frame, split_of, specs.scenario_click(int(max_history), context_numeric=CONTEXT_NUMERIC),
                         group="user_id")
    data.stats = stats
    return data


def _histories(events: pd.DataFrame, user: np.ndarray, time: np.ndarray, max_history: int):
    """Per impression: the last ``max_history`` (brand, cate) behaviours of its user strictly
    before its time, and the repeat label (module docstring)."""
    events = events.sort_values(["user", "time_stamp"], kind="stable")
    brand, cate = events["brand"].to_numpy(np.int64), events["cate"].to_numpy(np.int64)
    seen = events.groupby(["user", "brand"], sort=False).cumcount().to_numpy() > 0   # brand seen earlier
    seen_sum = np.r_[0, np.cumsum(seen)]
    # one sortable key (user code, time) for events and impressions alike
    codes, inverse = np.unique(np.r_[events["user"].to_numpy(np.int64), user], return_inverse=True)
    t_all = np.r_[events["time_stamp"].to_numpy(np.int64), time]
    key = inverse.astype(np.int64) * (int(t_all.max() - t_all.min()) + 2) + (t_all - t_all.min())
    e_key, s_key = key[:len(events)], key[len(events):]
    user_start = inverse[len(events):].astype(np.int64) * (int(t_all.max() - t_all.min()) + 2)
    end = np.searchsorted(e_key, s_key, side="left")        # first behaviour at or after the impression
    first = np.searchsorted(e_key, user_start, side="left")  # the user's first behaviour
    start = np.maximum(first, end - max_history)
    n = end - start
    repeat = np.where(n > 0, (seen_sum[end] - seen_sum[start]) / np.maximum(n, 1), 0.0)
    return ([brand[a:b] for a, b in zip(start, end)], [cate[a:b] for a, b in zip(start, end)], repeat)


NUMERIC = {"raw_sample.csv": ("user", "time_stamp", "adgroup_id", "nonclk", "clk"),
           "ad_feature.csv": ("adgroup_id", "cate_id", "campaign_id", "customer", "brand", "price"),
           "user_profile.csv": FILES["user_profile.csv"],
           "behavior_log.csv": ("user", "time_stamp", "cate", "brand")}
TEXT = {"raw_sample.csv": {"pid": (r"^\d+_\d+$", "a slot id like 430548_1007")},
        "behavior_log.csv": {"btag": (r"^(pv|cart|fav|buy)$", "one of pv, cart, fav, buy")}}


def _parsed(reader, path):
    """The reader's chunks; pandas' error for a line with more fields than the header -> a
    ``ValueError`` naming the file (in either ``on_bad_rows`` mode: the line cannot be split)."""
    with reader:
        while True:
            try:
                chunk = next(reader, None)
            except pd.errors.ParserError as err:   # "Expected 6 fields in line 9, saw 7"
                detail = str(err).strip().rpartition("C error: ")[2]
                raise ValueError(f"{path}: {detail}; expected one field per header column") from None
            if chunk is None:
                return
            yield chunk


def _read(path, name, chunk_rows, on_bad_rows, stats):
    """Chunks of ``path`` (DataFrames indexed by 0-based data row): numeric columns as numbers
    (nullable where they may be empty or NULL), required ones as int64; malformed rows skipped
    and counted, or raised (module docstring)."""
    expected = FILES[name]
    header = pd.read_csv(path, nrows=0).columns.str.strip().tolist()
    if header[:len(expected)] != list(expected):
        raise ValueError(f"{path}: header {header} is not the Alimama {name} header {list(expected)}")
    bad, examples = 0, []
    # skip_blank_lines=False keeps the index equal to the data row, so that line numbers stay
    # right after a blank line; blank lines are then dropped here
    reader = pd.read_csv(path, dtype=str, chunksize=int(chunk_rows), keep_default_na=False, skip_blank_lines=False,
                         index_col=False)
    for chunk in _parsed(reader, path):
        chunk = chunk[chunk.ne("").any(axis=1)]   # a blank line reads as a row of empty fields
        chunk.columns = chunk.columns.str.strip()
        ok = np.ones(len(chunk), bool)
        problems = []
        for column in NUMERIC[name]:
            text = chunk[column].str.strip()
            missing = text.isin(["", "NULL"])
            values = pd.to_numeric(text.where(~missing), errors="coerce")
            invalid = values.isna() & ~missing
            if column != "price":
                invalid |= values.notna() & (values != values.round())
                what = "an integer"
            else:
                what = "a number"
            if column in REQUIRED[name]:
                invalid |= missing
            if column == "clk":
                invalid |= values.notna() & ~values.isin([0, 1])
                what = "0 or 1"
            problems.append((column, invalid.to_numpy(), what, chunk[column].to_numpy()))
            chunk[column] = values if column == "price" else values.round().astype("Int64")
        for column, (pattern, what) in TEXT.get(name, {}).items():
            text = chunk[column].to_numpy()
            problems.append((column, ~chunk[column].str.strip().str.match(pattern).to_numpy(), what, text))
        for column, invalid, what, text in problems:
            for row in np.flatnonzero(invalid & ok):
                message = f"{path}, line {chunk.index[row] + 2}, column {column!r}: found {text[row]!r}, expected {what}"
                if on_bad_rows == "raise":
                    raise ValueError(message)
                if len(examples) < _EXAMPLES:
                    examples.append(message)
            ok &= ~invalid
        bad += int((~ok).sum())
        yield chunk[ok].astype({c: np.int64 for c in REQUIRED[name]})
    stats[f"bad_rows_{name}"] = bad
    if bad:
        log.warning("%s: skipped %d malformed lines, e.g. %s", path, bad, "; ".join(examples))
