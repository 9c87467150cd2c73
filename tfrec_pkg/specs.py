"""Input contracts that several models and the data side share.

A model owns the description of its inputs (its ``feature_spec``). Where one contract is
read by several models *and* produced by generators or public readers, it lives here, so
that ``models/`` and ``data/`` both import it and neither imports the other. A contract used
by one model only lives in that model's module, and the model's planted-data builder hands
it to the generator.

* :func:`click_history` -- a candidate item with its category, the user, and the user's
  item/category history (BaseModel with string categories; SUM and the Taobao reader with
  int64 categories).
* :func:`next_item` -- aligned item/provider histories and the next item with its provider
  (IPSRec, SASRec, GRU4Rec; the provider synthetic data and the public IPSRec readers).
"""
from __future__ import annotations

from tfrec_pkg.features import FeatureSpec


def click_history(max_history: int, category_dtype: str = "int64") -> list[FeatureSpec]:
    """Target item + category, user, and the page-view history (left-aligned, ``max_history``)."""
    return [
        FeatureSpec("user_id", "int64", vocabulary="user"),
        FeatureSpec("item_id", "int64", vocabulary="item"),
        FeatureSpec("category_id", category_dtype, vocabulary="category"),
        FeatureSpec("hist_item_ids", "int64", (max_history,), vocabulary="item"),
        FeatureSpec("hist_category_ids", category_dtype, (max_history,), vocabulary="category"),
    ]


def next_item(max_history: int) -> list[FeatureSpec]:
    """Item + provider histories and the next item with its provider."""
    return [
        FeatureSpec("user_id", "int64", vocabulary="user"),
        FeatureSpec("hist_item_ids", "int64", (max_history,), vocabulary="item"),
        FeatureSpec("hist_provider_ids", "int64", (max_history,), vocabulary="provider"),
        FeatureSpec("item_id", "int64", vocabulary="item"),
        FeatureSpec("provider_id", "int64", vocabulary="provider"),
    ]
