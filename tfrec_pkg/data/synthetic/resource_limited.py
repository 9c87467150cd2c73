"""Planted resource-limited interaction stream for IMN-Net (Wu et al., "Interest-Behaviour
Multiplicative Network for Resource-limited Recommendation"; ../shared/papers/
imn_net_resource_limited.txt): users with budgets that purchases deplete and time refills, items
with prices and a limited stock that leave the catalogue when sold out (the paper's used-car
market, Sec. 1 and 4.3), and a click stream with a few per cent purchases (CZB has 2.42 %).

Generative story (raw ids look like log ids: users 1_000_000 + u, items 500_000 + i; times in
seconds over ``days`` days)
-----------------------------------------------------------------------------------------

* items: a category c_i (uniform over ``num_categories``), a price p_i = exp(N(0, ``price_sd``^2))
  (median 1), a quality q_i ~ N(0, 0.5^2), a stock of 1 + Poisson(``stock_mean`` - 1) units, and a
  listing time: ``initial_share`` of the items are listed at time 0, the rest at uniform times.
  An item can be interacted with from its listing until its last unit is sold.
* users: a taste theta_u[c] ~ N(0, ``taste_sd``^2) per category, an activity
  a_u ~ LogNormal(0, 0.5), a budget capacity C_u = ``capacity`` * LogNormal(0, 0.3^2) and a
  refill rate r_u = C_u / (``refill_events`` * the user's mean time between events): an empty
  budget is full again after about ``refill_events`` of the user's events. Budgets start at
  U(0.3, 1) * C_u.
* events: ``num_events`` times uniform over the horizon (sorted), each by a user drawn in
  proportion to a_u (a superposition of Poisson processes). At an event of user u at time t:

  - the budget refills: b = min(C_u, b_prev + r_u * (t - t_prev)) (``true_budget``);
  - the item is drawn from the known distribution

        P(i) ∝ exp(theta_u[c_i] + q_i) * A(b, p_i) * available_i(t),
        A(b, p) = min(1, ((b + m) / p) ** kappa)

    (m = ``browse_margin``, kappa = ``price_sensitivity``): a user looks at what the budget
    allows and, the further a price lies above it, the less at that item, so right after a
    purchase expensive items become unlikely;
  - the event is a purchase with probability ``buy_prob * p_i / b`` if p_i <= b, else a click
    (``true_purchase_prob``): users spend on the dearest item they can pay for (a dealer buys
    the best car its capital allows), so a purchase takes most of the budget; it also takes a
    unit from the stock.

The defaults give ~4 % purchases; right after a purchase a user's budget is ~0.3 of capacity
against ~0.8 just before, the share of expensive items (top price quartile) looked at falls
about threefold and the purchase rate about halves (:meth:`ResourceLimitedData.resource_effect`).

What a model without a resource state sees of the effect: the budget -- hence which prices a
user looks at and whether a click becomes a purchase -- is a function of the prices and times of
the user's past *purchases* and of the time since them; clicks never change it. ``features``
hold item attributes only (standardised log price, one-hot category) and the action is its own
column, so a model whose user state reads the features but uses the action only to drive a
resource state (IMN's h^l, Eq. 6, updated "once a transaction happens") has, with that state
removed, inputs that are the same whether an earlier interaction was a purchase or a click: it
never sees the purchases that move the budget. It is not blind to the budget, though: the
budget decides which prices the user looks at, so the prices of the user's recent clicks carry
part of it (cheaper right after a purchase), and a general state can read that back. The effect
is therefore hard to represent without the branch, not impossible: such a model can place
between the budget-blind oracle below and the Bayes-optimal ranks. (A general state that is
also fed the action could track the budget directly, but it updates at every interaction,
~96 % clicks, with the time since the last interaction as its clock, and would have to carry
the remaining budget through tens of click updates and integrate the refill over their gaps;
the resource branch gets the purchase-only clock Delta_{i_p} directly.)

Known probabilities (Bayes references for next-item ranking over the whole catalogue): per
event, ``true_prob`` = P(item | state), ``true_rank`` = the item's 1-based rank among all items by
P (ties counted against it, unavailable items have P = 0, as
:func:`tfrec_pkg.evaluation.metrics.rank_of_target`), ``true_rank_hr10`` = true_rank <= 10:
its mean over the test split is the best HR@10 any model can reach in expectation. The
budget-blind oracle ranks by the same formula with A(b, p_i) replaced by its average over the
user's events (``blind_rank``): it knows tastes, qualities, availability and each user's usual
budget, not the current one; the gap between the two is the value of the resource state.

Columns of ``frame``: ``user_id, item_id, timestamp, action`` (0 click / 1 purchase), ``price``,
``true_budget``, ``true_prob``, ``true_rank``, ``true_rank_hr10``, ``blind_rank``,
``true_purchase_prob``; ``features`` [events, 1 + num_categories]; ``items`` (item_id, category,
price, quality, stock, listed_at); ``world`` the planted tables (0-based users and items; the
event index at which each item is listed and sold out). Split: chronological 80/10/10
(:meth:`~tfrec_pkg.data.interactions.InteractionStream.split_of`). Memory: two [users, items]
float tables.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from tfrec_pkg.data.interactions import PURCHASE, InteractionStream

USER_OFFSET, ITEM_OFFSET = 1_000_000, 500_000
DAY = 86_400.0
TOP_K = 10
QUICK = dict(num_users=100, num_items=200, num_events=10_000)  # tests and the demo
_CHUNK = 2048  # events per block of the [events, items] probability matrix


@dataclasses.dataclass
class ResourceLimitedData(InteractionStream):
    """The stream plus ``items`` (the catalogue) and ``world`` (the planted tables)."""

    items: pd.DataFrame = None
    world: dict = dataclasses.field(default_factory=dict)

    def bayes_optimal(self, split: str = "test") -> dict[str, float]:
        """HR@10, NDCG@10 and MRR of the true ranks on ``split``: the best any model can reach
        in expectation; ``blind_*`` the same for the budget-blind oracle."""
        rows = self.frame[self.split_of() == split]
        out = {}
        for prefix, rank in (("", rows["true_rank"]), ("blind_", rows["blind_rank"])):
            rank = rank.to_numpy(np.float64)
            out[f"{prefix}hr@{TOP_K}"] = float(np.mean(rank <= TOP_K))
            out[f"{prefix}ndcg@{TOP_K}"] = float(np.mean(np.where(rank <= TOP_K, 1.0 / np.log2(1.0 + rank), 0.0)))
            out[f"{prefix}mrr"] = float(np.mean(1.0 / rank))
        return out

    def resource_effect(self, gap: int = 1) -> dict[str, float]:
        """The planted effect as the data show it, within users.

        Around each purchase (not a user's first or last event): the user's event ``gap`` events
        before it against the one ``gap`` events after it (same user, nearly the same time and
        catalogue): budget / capacity, the log price of the item looked at and whether it is
        expensive (price above the catalogue's 75th percentile). Purchase rates
        cannot be compared that way (a pair of purchases ``gap`` apart counts on both sides), so
        the purchase rate at the event right after a purchase is set against the same users'
        rate at their other events, each user weighted by their number of purchases."""
        f = self.frame
        user = pd.factorize(f["user_id"])[0]
        order = np.lexsort((np.arange(len(f)), user))  # by user, then time
        bought = f["action"].to_numpy() == PURCHASE
        pos = np.flatnonzero(bought[order])
        pos = pos[(pos - gap >= 0) & (pos + gap < len(f))]
        pos = pos[(user[order][pos - gap] == user[order][pos]) & (user[order][pos + gap] == user[order][pos])]
        before, after = order[pos - gap], order[pos + gap]
        values = {"budget_share": f["true_budget"].to_numpy() / self.world["capacity"][user_index(f)],
                  "log_price": np.log(f["price"].to_numpy()),
                  "expensive_share": f["price"].to_numpy() > np.quantile(self.items["price"], 0.75)}
        out = {"purchases": float(len(pos))}
        for name, v in values.items():
            out[f"{name}_before"], out[f"{name}_after"] = float(v[before].mean()), float(v[after].mean())
        right_after = np.zeros(len(f), bool)
        right_after[order[1:]] = bought[order[:-1]] & (user[order][1:] == user[order][:-1])
        n_after = np.bincount(user, weights=right_after)
        n_other = np.bincount(user, weights=~right_after)
        use = (n_after > 0) & (n_other > 0)
        rate_after = np.bincount(user, weights=bought & right_after)[use] / n_after[use]
        rate_other = np.bincount(user, weights=bought & ~right_after)[use] / n_other[use]
        out["purchase_rate_after"] = float(np.average(rate_after, weights=n_after[use]))
        out["purchase_rate_otherwise"] = float(np.average(rate_other, weights=n_after[use]))
        return out


def user_index(frame: pd.DataFrame) -> np.ndarray:
    """0-based planted user index of each row (raw ids are USER_OFFSET + index)."""
    return frame["user_id"].to_numpy() - USER_OFFSET


def resource_limited(num_users: int = 1000, num_items: int = 1000, num_events: int = 150_000,
                     num_categories: int = 8, days: float = 30.0, price_sd: float = 0.6,
                     taste_sd: float = 0.6, capacity: float = 1.5, refill_events: float = 30.0,
                     buy_prob: float = 0.12, price_sensitivity: float = 3.0, browse_margin: float = 0.25,
                     stock_mean: float | None = None, initial_share: float = 0.5,
                     seed: int = 0) -> ResourceLimitedData:
    """Generate the stream of the module docstring (``QUICK`` sizes generate in well under a second)."""
    for name, value in (("num_users", num_users), ("num_items", num_items), ("num_events", num_events),
                        ("num_categories", num_categories)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, found {value!r}")
    for name, value in (("days", days), ("capacity", capacity), ("refill_events", refill_events)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, found {value!r}")
    for name, value in (("buy_prob", buy_prob), ("initial_share", initial_share)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a probability, found {value!r}")
    if not browse_margin > 0 or price_sensitivity < 0:
        raise ValueError(f"browse_margin must be positive and price_sensitivity non-negative, found "
                         f"{browse_margin!r} and {price_sensitivity!r}")
    if stock_mean is None:  # ~2.5 units per expected sale (purchases are ~4 % of the events)
        stock_mean = max(1.0, 0.1 * num_events / num_items)
    if stock_mean < 1:
        raise ValueError(f"stock_mean must be >= 1 (every item has a unit), found {stock_mean!r}")
    U, I, N, C = int(num_users), int(num_items), int(num_events), int(num_categories)
    rng = np.random.default_rng(seed)
    horizon = days * DAY

    # Items.
    category = rng.integers(C, size=I)
    price = np.exp(rng.normal(0.0, price_sd, size=I))
    quality = rng.normal(0.0, 0.5, size=I)
    stock = 1 + rng.poisson(stock_mean - 1.0, size=I)
    listed_at = np.where(rng.random(I) < initial_share, 0.0, rng.uniform(0.0, horizon, size=I))

    # Users.
    taste = rng.normal(0.0, taste_sd, size=(U, C))
    activity = rng.lognormal(0.0, 0.5, size=U)
    cap = capacity * rng.lognormal(0.0, 0.3, size=U)
    mean_gap = horizon * activity.sum() / (N * activity)
    refill = cap / (refill_events * mean_gap)
    appeal = np.exp(taste[:, category] + quality)  # [U, I]

    # Events: times and users up front; budgets, items and stock in one pass over time.
    times = np.sort(rng.uniform(0.0, horizon, size=N))
    users = rng.choice(U, size=N, p=activity / activity.sum())
    listed_idx = np.searchsorted(times, listed_at, side="left")  # first event that sees the item
    by_listing = np.argsort(listed_idx, kind="stable")
    sold_idx = np.full(I, N + 1, dtype=np.int64)  # first event that no longer sees it
    initial_budget = rng.uniform(0.3, 1.0, size=U) * cap
    budget, last_t = initial_budget.copy(), np.zeros(U)
    left = stock.copy()
    available = np.zeros(I)
    item, bought, b_at = np.empty(N, np.int64), np.zeros(N, bool), np.empty(N)
    true_prob, true_rank = np.empty(N), np.empty(N, np.int64)
    aff_sum = np.zeros((U, I))  # for the budget-blind oracle
    u_item, u_buy = rng.random(N), rng.random(N)
    nxt = 0
    for e in range(N):  # inventory is shared by all users: a sequential simulation
        while nxt < I and listed_idx[by_listing[nxt]] <= e:
            available[by_listing[nxt]] = 1.0
            nxt += 1
        u, t = users[e], times[e]
        b = min(cap[u], budget[u] + refill[u] * (t - last_t[u]))
        aff = affordability(b, price, price_sensitivity, browse_margin)
        w = appeal[u] * aff * available
        cdf = np.cumsum(w)
        if cdf[-1] <= 0:
            raise ValueError(f"no item is available at event {e}: raise num_items, stock_mean or initial_share")
        i = min(int(np.searchsorted(cdf, u_item[e] * cdf[-1], side="right")), I - 1)
        b_at[e], item[e], true_prob[e] = b, i, w[i] / cdf[-1]
        true_rank[e] = np.count_nonzero(w >= w[i])  # ties count against the target
        aff_sum[u] += aff
        p = price[i]
        if p <= b and u_buy[e] < buy_prob * p / b:  # _purchase_prob, on scalars
            bought[e] = True
            b -= p
            left[i] -= 1
            if left[i] == 0:
                available[i], sold_idx[i] = 0.0, e + 1
        budget[u], last_t[u] = b, t

    mean_aff = aff_sum / np.maximum(np.bincount(users, minlength=U), 1)[:, None]
    blind_rank = _blind_ranks(users, item, appeal * mean_aff, listed_idx, sold_idx)
    frame = pd.DataFrame({
        "user_id": users.astype(np.int64) + USER_OFFSET,
        "item_id": item + ITEM_OFFSET,
        "timestamp": times,
        "action": bought.astype(np.int64) * PURCHASE,
        "price": price[item],
        "true_budget": b_at,
        "true_prob": true_prob,
        "true_rank": true_rank,
        "true_rank_hr10": (true_rank <= TOP_K).astype(np.int64),
        "blind_rank": blind_rank,
        "true_purchase_prob": _purchase_prob(price[item], b_at, buy_prob),
    })
    log_price = np.log(price)
    item_features = np.concatenate([((log_price - log_price.mean()) / log_price.std())[:, None],
                                    np.eye(C)[category]], axis=1)
    stream = InteractionStream.from_frame(frame, item_features[item], name="resource_limited")
    items = pd.DataFrame({"item_id": np.arange(I, dtype=np.int64) + ITEM_OFFSET, "category": category,
                          "price": price, "quality": quality, "stock": stock, "listed_at": listed_at})
    world = {"taste": taste, "activity": activity, "capacity": cap, "refill_rate": refill,
             "initial_budget": initial_budget,
             "buy_prob": buy_prob, "price_sensitivity": price_sensitivity, "browse_margin": browse_margin,
             "listed_event": listed_idx, "sold_out_event": sold_idx}
    return ResourceLimitedData(stream.frame, stream.features, items=items, world=world)


def affordability(budget, price, price_sensitivity: float, browse_margin: float) -> np.ndarray:
    """A(b, p) = min(1, ((b + m) / p) ** kappa), broadcast over ``budget`` and ``price``."""
    return np.minimum(1.0, ((budget + browse_margin) / price) ** price_sensitivity)


def _purchase_prob(price, budget, buy_prob):
    """P(purchase | item, budget): ``buy_prob * price / budget`` for affordable items, else 0."""
    return np.where(price <= budget, buy_prob * price / np.maximum(budget, 1e-12), 0.0)


def _blind_ranks(users, item, weight, listed_idx, sold_idx) -> np.ndarray:
    """The target's pessimistic rank by the budget-blind weights ``weight[user] * available``,
    for every event, in blocks of events."""
    n = len(users)
    rank = np.empty(n, np.int64)
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        e = np.arange(lo, hi)[:, None]
        w = weight[users[lo:hi]] * ((listed_idx <= e) & (e < sold_idx))
        rank[lo:hi] = (w >= w[np.arange(hi - lo), item[lo:hi]][:, None]).sum(axis=1)
    return rank
