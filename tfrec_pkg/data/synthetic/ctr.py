"""Planted CTR data with user behaviour histories (the foundation's first generator).

Generative story (all raw ids look like log ids: int64 users/items, string categories):
* items: a category each (uniform over ``num_categories``) and a quality bias b_i ~ N(0, 0.5);
* users: interest weights pi_u over categories (Dirichlet(0.3), i.e. a few dominant
  categories) and an activity bias b_u ~ N(0, 0.3);
* each user browses a stream of items: category ~ pi_u, item uniform inside it;
* an impression at stream position t shows a target item (half from the user's
  interests, half uniform); its history is the last ``max_history`` browsed items before t;
* the click probability is known:

      logit = 3.0 * tanh(n_t(c) / 3) + b_i + b_u - 1.2

  with c the target's category and n_t(c) the number of history behaviours in category c
  (0 for an empty history): interest intensity saturates after a few behaviours. So the label depends on the history, the user and the item,
  and only through what a model can observe (ids and history): the Bayes-optimal AUC is
  reachable in the limit of data.

Splits are temporal per user: the first 80 % of a user's impressions go to training, the next
10 % to validation and the last 10 % to test, so no test impression is older than a training one
of the same user.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm  # plain text bars, also in notebooks (tqdm.auto's widget bar needs ipywidgets)

from tfrec_pkg.data.synthetic.base import TRUE_PROB, SyntheticData
from tfrec_pkg import specs

USER_OFFSET, ITEM_OFFSET = 1_000_000, 500_000


def ctr_with_history(num_users: int = 2000, num_items: int = 1000, num_categories: int = 20,
                     impressions_per_user: int = 40, max_history: int = 20, seed: int = 0,
                     progress: bool | None = None) -> SyntheticData:
    """``progress=None`` shows a progress bar when the data set is large (>= 50k rows)."""
    if progress is None:
        progress = num_users * impressions_per_user >= 50_000
    rng = np.random.default_rng(seed)
    item_cat = rng.integers(num_categories, size=num_items)
    item_bias = rng.normal(0.0, 0.5, size=num_items)
    items_by_cat = [np.flatnonzero(item_cat == c) for c in range(num_categories)]
    items_by_cat = [ix if len(ix) else np.array([c % num_items]) for c, ix in enumerate(items_by_cat)]
    cat_names = np.array([f"cat{c}" for c in range(num_categories)], dtype=object)

    rows = []
    stream_len = impressions_per_user + max_history
    for u in tqdm(range(num_users), desc="ctr_with_history", disable=not progress):
        pi = rng.dirichlet(np.full(num_categories, 0.3))
        b_u = rng.normal(0.0, 0.3)
        stream_cat = rng.choice(num_categories, size=stream_len, p=pi)
        stream = np.array([rng.choice(items_by_cat[c]) for c in stream_cat])
        # impression positions in the stream: sorted, so time order = stream order
        positions = np.sort(rng.integers(0, stream_len + 1, size=impressions_per_user))
        from_interest = rng.random(impressions_per_user) < 0.5
        tgt_cat = np.where(from_interest, rng.choice(num_categories, size=impressions_per_user, p=pi),
                           item_cat[rng.integers(num_items, size=impressions_per_user)])
        targets = np.array([rng.choice(items_by_cat[c]) for c in tgt_cat])
        for k, (t, i) in enumerate(zip(positions, targets)):
            hist = stream[max(0, t - max_history):t]
            c = item_cat[i]
            same = int(np.sum(item_cat[hist] == c))
            logit = 3.0 * np.tanh(same / 3.0) + item_bias[i] + b_u - 1.2
            rows.append((u, i, c, hist, k, logit))

    u, i, c, hist, order, logit = zip(*rows)
    u, i, c, order, logit = map(np.asarray, (u, i, c, order, logit))
    prob = 1.0 / (1.0 + np.exp(-logit))
    frame = pd.DataFrame({
        "user_id": u.astype(np.int64) + USER_OFFSET,
        "item_id": i.astype(np.int64) + ITEM_OFFSET,
        "category_id": cat_names[c],
        "hist_item_ids": [(h + ITEM_OFFSET).astype(np.int64) for h in hist],
        "hist_category_ids": [list(cat_names[item_cat[h]]) for h in hist],
        "timestamp": order.astype(np.int64),
        TRUE_PROB: prob,
        "label": (rng.random(len(prob)) < prob).astype(np.int64),
    })
    frac = order / impressions_per_user
    split_of = np.where(frac < 0.8, "train", np.where(frac < 0.9, "val", "test"))
    items = pd.DataFrame({"item_id": np.arange(num_items, dtype=np.int64) + ITEM_OFFSET,
                          "category_id": cat_names[item_cat]})
    return SyntheticData(frame, split_of, specs.click_history(max_history, category_dtype="string"), group="user_id", items=items)
