"""The interaction stream of IMN-Net (Wu et al., "Interest-Behaviour Multiplicative Network for
Resource-limited Recommendation", Sec. 3; ../shared/papers/imn_net_resource_limited.txt) and of
JODIE: a time-ordered sequence S_t = (u_t, i_t, v_t) of user-item interactions, each a click or
a purchase, with an optional feature vector v_t.

* :class:`InteractionStream`: ``frame`` with the columns of :data:`SCHEMA` (``user_id``,
  ``item_id``, ``timestamp``, ``action`` 0 = click / 1 = purchase) plus any extra columns, in
  time order (a stable sort: equal timestamps keep their input order), and ``features``, a
  float32 array with one row per interaction (zero columns when the data has none). The planted
  generator and the public readers all return one.
* :meth:`InteractionStream.split_of`: the chronological 80/10/10 split of IMN Sec. 5.2 ("first
  80% interactions as train set, next 10% ... validation ... last 10% as the test set").
  Equal timestamps are never cut apart (:func:`tfrec_pkg.data.sequences.temporal_split`): with
  day-resolution data (IJCAI-16) a day lies in one split, so sizes can differ from 80/10/10.
* :func:`time_deltas`: per interaction, the time since its user's previous interaction
  (Delta_u of Eq. 1), since its item's previous interaction (Delta_i of Eq. 2) and since its
  user's previous *purchase* (Delta_{i_p} of Eq. 6, the resource branch's clock). An entity's
  first interaction, and a user's time before a first purchase, count from the stream's first
  timestamp, as JODIE's public code does (its time of "no previous interaction" is 0 on a clock
  that starts at the first interaction). Units are those of ``timestamp``; datetimes become
  POSIX seconds (:func:`seconds`).
* :func:`standardise`: z-scores with the mean and standard deviation of the training rows only.
  JODIE's code scales ``delta + 1`` with statistics of the whole stream, test included; IMN does
  not say, and we do not let test data shape the inputs.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tfrec_pkg.data import schema
from tfrec_pkg.data.schema import Column
from tfrec_pkg.data.sequences import temporal_split

ACTIONS = ("click", "purchase")  # action code = position: 0 click, 1 purchase
CLICK, PURCHASE = 0, 1
SCHEMA = (Column("user_id", "id"), Column("item_id", "id"), Column("timestamp", "timestamp"),
          Column("action", "label"))
COLUMNS = tuple(c.name for c in SCHEMA)
SPLIT = (0.8, 0.1, 0.1)  # IMN Sec. 5.2
DELTAS = ("user_delta", "item_delta", "user_since_purchase")


@dataclasses.dataclass
class InteractionStream:
    """A validated, time-ordered interaction stream (module docstring). Build it with
    :meth:`from_frame`, which checks and sorts; the constructor trusts its arguments."""

    frame: pd.DataFrame
    features: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, features=None, *, name: str = "interactions"):
        """Check ``frame`` against :data:`SCHEMA` (``action`` may also hold the strings
        "click" / "purchase"), check ``features`` (None, or numbers of shape [rows, F] with no
        NaN or inf), sort both by time (stably) and return the stream. Problems raise one
        ``ValueError`` naming ``name``, the column and the first offending rows."""
        frame = frame.copy()
        if "action" in frame.columns:
            frame["action"] = _action_codes(frame["action"], name)
        schema.validate(frame, SCHEMA, name=name)
        feats = _features(features, len(frame), name)
        order = np.argsort(_sortable(frame["timestamp"]), kind="stable")
        return cls(frame.iloc[order].reset_index(drop=True), feats[order])

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def num_features(self) -> int:
        return self.features.shape[1]

    def split_of(self, ratios=SPLIT) -> np.ndarray:
        """"train" | "val" | "test" per row: the chronological split (module docstring)."""
        train, val, _ = temporal_split(self.frame, "timestamp", ratios)
        split = np.full(len(self.frame), "test", dtype="<U5")
        split[train.index], split[val.index] = "train", "val"
        return split


def time_deltas(stream: InteractionStream) -> pd.DataFrame:
    """The raw :data:`DELTAS` per interaction, float64 (module docstring)."""
    t = seconds(stream.frame["timestamp"])
    if len(t) == 0:
        return pd.DataFrame({name: np.zeros(0) for name in DELTAS})
    user = pd.factorize(stream.frame["user_id"])[0]
    item = pd.factorize(stream.frame["item_id"])[0]
    t0 = t[0]  # the stream is in time order
    # Time of the user's last purchase strictly before each row: carry purchase times forward
    # within the user, then take the previous row's value.
    bought = np.where(stream.frame["action"].to_numpy() == PURCHASE, t, np.nan)
    last_purchase = _previous(user, pd.Series(bought).groupby(user).ffill().to_numpy(), t0)
    return pd.DataFrame({"user_delta": t - _previous(user, t, t0), "item_delta": t - _previous(item, t, t0),
                         "user_since_purchase": t - np.where(np.isnan(last_purchase), t0, last_purchase)})


def seconds(timestamps: pd.Series) -> np.ndarray:
    """Timestamps as float64 numbers, the time unit of every delta: datetimes in POSIX seconds
    (naive ones read as UTC), numbers as they are."""
    if ptypes.is_datetime64_any_dtype(timestamps.dtype):
        utc = pd.to_datetime(timestamps, utc=True)
        return (utc - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(np.float64)
    return timestamps.to_numpy(np.float64)


def standardise(values: pd.DataFrame, fit_rows) -> tuple[pd.DataFrame, dict[str, tuple[float, float]]]:
    """Z-scores of every column with the mean and standard deviation of the rows where
    ``fit_rows`` (a boolean mask, e.g. ``split_of == "train"``) is true; returns the scores and
    ``{column: (mean, std)}`` for use at serving time. A constant column gets std 1."""
    fit_rows = np.asarray(fit_rows, dtype=bool)
    if fit_rows.shape != (len(values),) or not fit_rows.any():
        raise ValueError(f"fit_rows must be a boolean mask with one value per row ({len(values)}) "
                         f"and at least one True, found shape {fit_rows.shape}")
    stats = {}
    for name in values.columns:
        fit = values[name].to_numpy(np.float64)[fit_rows]
        std = float(fit.std())
        stats[name] = (float(fit.mean()), std if std > 0 else 1.0)
    scores = pd.DataFrame({name: (values[name].to_numpy(np.float64) - m) / s for name, (m, s) in stats.items()})
    return scores, stats


# ----------------------------------------------------------------------------- helpers


def _previous(codes: np.ndarray, values: np.ndarray, default: float) -> np.ndarray:
    """Per row, ``values`` at the previous row with the same code (``default`` for the first)."""
    out = pd.Series(values).groupby(codes).shift(1).to_numpy(np.float64, copy=True)
    first = pd.Series(codes).duplicated().to_numpy()
    out[~first] = default
    return out


def _sortable(timestamps: pd.Series) -> np.ndarray:
    return pd.factorize(timestamps, sort=True)[0]


def _action_codes(actions: pd.Series, name: str) -> pd.Series:
    """"click" / "purchase" (any case, or the text "0" / "1") and the numbers 0 / 1 (bools
    too) -> int64 codes; anything else raises, naming the first offending rows."""
    if ptypes.is_object_dtype(actions.dtype) or ptypes.is_string_dtype(actions.dtype):
        codes = actions.astype(str).str.strip().str.lower().map({a: k for k, a in enumerate(ACTIONS)})
        codes = codes.fillna(pd.to_numeric(actions, errors="coerce"))
    elif ptypes.is_numeric_dtype(actions.dtype):  # bool included
        codes = actions.astype(np.float64)
    else:
        return actions  # e.g. datetimes: the schema check names the dtype
    bad = ~codes.isin([0, 1]).to_numpy()
    if bad.any():
        schema.raise_problems(name, [
            f"column 'action': found {int(bad.sum())} value(s) that are not an action, first at "
            f"index {actions.index[np.argmax(bad)]!r}, e.g. {actions[bad].head(3).tolist()}; "
            f"expected one of {list(ACTIONS)} or 0 (click) / 1 (purchase)"])
    return codes.astype(np.int64)


def _features(features, rows: int, name: str) -> np.ndarray:
    """``features`` as float32 [rows, F] (F = 0 for None), checked for shape and finite numbers."""
    if features is None:
        return np.zeros((rows, 0), dtype=np.float32)
    try:
        arr = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as err:
        schema.raise_problems(name, [f"features: found values that are not numbers ({err}); "
                                     "expected a [rows, F] array of numbers"])
    if arr.ndim != 2 or arr.shape[0] != rows:
        schema.raise_problems(name, [f"features: found shape {arr.shape}; expected ({rows}, F), "
                                     "one row per interaction"])
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        schema.raise_problems(name, [f"features: found {int(bad.any(axis=1).sum())} row(s) with NaN or "
                                     f"inf, first at row {int(row)}, feature {int(col)} ({arr[row, col]}); "
                                     "expected finite numbers"])
    return arr.astype(np.float32)
