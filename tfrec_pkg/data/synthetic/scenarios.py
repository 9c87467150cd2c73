"""Planted multi-scenario click data with repeats for MuSENet (Xu et al., WSDM'23;
../shared/papers/musenet_wsdm23.txt). Rows carry the features of
:func:`tfrec_pkg.specs.scenario_click`.

Generative story (raw ids look like log ids: users 1_000_000 + u, items 500_000 + i,
categories 100 + c)
-----------------------------------------------------------------------------------------

* K* latent scenarios (``num_scenarios``, 4). Each has its own
  - context: the numeric fields price, distance, lead_time ~ N(mu_s, 1) with mu_s drawn once
    from N(0, ``context_spread``^2) per field (the paper's travel example, Fig. 5b), and the
    ad slot ~ Categorical(Dirichlet(0.5)) over ``num_slots`` slots;
  - user-item preference: a scenario x category affinity A[s, c] ~ N(0, ``affinity_sd``^2)
    (e.g. business hotels in business travel), shared by all users;
  - repeat behaviour: the share q_s of impressions whose target is taken from the user's history
    (linspace(0.5, 0.1)) and the click effect gamma_s of a repeated target (linspace(+2, -2)):
    in some scenarios users buy again, in others they look for something new.
* items: a category each (uniform) and a quality bias b_i ~ N(0, 0.3);
* users: profile gender (2 values), age (6 buckets), shopping level (low / mid / high), an
  activity bias b_u ~ N(0, 0.3), interests pi_u ~ Dirichlet(0.3) over categories and a repeat
  propensity rho_u ~ Beta(2, 5);
* each user browses a stream: each event repeats a uniformly chosen earlier item of the stream
  with probability rho_u, else takes a new item (category ~ pi_u, item uniform inside it);
* an impression at stream position t: its scenario s is the user's level-linked scenario
  (level l -> scenario l) with probability ``predefined_agreement`` (0.5), else uniform over the
  K* scenarios; its context is drawn given s; its target is, with probability q_s, a uniform item
  of the history B_u (the last ``max_history`` events before t), else half from pi_u and half
  uniform; then

      logit = -1.5 + b_u + b_i + 2 tanh(n(c) / 3) + A[s, c] + gamma_s I[t in B_u]
      true_prob = sigmoid(logit),   label ~ Bernoulli(true_prob)

  with c the target's category and n(c) the number of history events in c.
* the predefined scenario (the paper's rule-based segments: Alimama's shopping levels) is the
  user's level: it agrees with the latent scenario only partly, so learned scenarios can beat it.
* the repeat label r (Eq. 10, "the fraction of items the user consumed before") is the share of
  the events in B_u whose item the user had already consumed earlier in the stream (0 for an
  empty history).

The Bayes-optimal AUC is the AUC of ``true_prob``; ``true_scenario`` and ``true_is_repeat``
are kept for recovery checks. ``bayes_scenario`` is the most probable scenario given the
impression's context (numeric fields and slot) and predefined scenario, the features whose law
the scenario sets: P(s | level) N(ctx; mu_s, I) P(slot | s) with P(s | level) =
agreement [s = level] + (1 - agreement) / K*. Its agreement with ``true_scenario`` is about the
best a clustering of the samples can reach (the target item and history add little), so a
recovery bar must sit below it: with ``context_spread`` 1.5 its NMI is 0.56, with 3.0 (the
default) 0.77-0.80 (seeds 0-1). Splits are temporal per user (80 / 10 / 10 % of a user's
impressions in stream order), as :func:`~tfrec_pkg.data.synthetic.ctr.ctr_with_history`.
``items`` is the item table (item_id, category_id).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.special import expit

from tfrec_pkg import specs
from tfrec_pkg.data.synthetic.base import TRUE_PROB, SyntheticData

USER_OFFSET, ITEM_OFFSET, CATEGORY_OFFSET = 1_000_000, 500_000, 100
GENDERS, AGES, LEVELS = 2, 6, 3


@dataclasses.dataclass
class ScenarioData(SyntheticData):
    """:class:`SyntheticData` plus the planted tables (0-based): ``affinity`` [K, C],
    ``repeat_effect`` [K], ``repeat_share`` [K], ``context_mean`` [K, 3], ``slot_probs`` [K, slots],
    ``item_bias`` [items], ``user_bias`` [users]."""

    world: dict = dataclasses.field(default_factory=dict)


def scenarios(num_users: int = 2000, num_items: int = 1000, num_categories: int = 20, num_scenarios: int = 4,
              impressions_per_user: int = 40, max_history: int = 20, num_slots: int = 5,
              predefined_agreement: float = 0.5, context_spread: float = 3.0, affinity_sd: float = 1.0,
              seed: int = 0) -> ScenarioData:
    """Generate the data set of the module docstring."""
    for name, value in (("num_users", num_users), ("num_items", num_items), ("num_categories", num_categories),
                        ("num_scenarios", num_scenarios), ("impressions_per_user", impressions_per_user),
                        ("max_history", max_history), ("num_slots", num_slots)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, found {value!r}")
    if not 0.0 <= predefined_agreement <= 1.0:
        raise ValueError(f"predefined_agreement must be a probability, found {predefined_agreement!r}")
    if num_scenarios < LEVELS and predefined_agreement > 0:
        raise ValueError(f"num_scenarios must be >= {LEVELS} (one per shopping level) when "
                         f"predefined_agreement > 0, found {num_scenarios}")
    rng = np.random.default_rng(seed)
    k, numeric = num_scenarios, specs.CONTEXT_NUMERIC
    # scenarios
    context_mean = rng.normal(0.0, context_spread, size=(k, len(numeric)))
    slot_probs = rng.dirichlet(np.full(num_slots, 0.5), size=k)
    affinity = rng.normal(0.0, affinity_sd, size=(k, num_categories))
    repeat_share, repeat_effect = np.linspace(0.5, 0.1, k), np.linspace(2.0, -2.0, k)
    # items and users
    item_cat = rng.integers(num_categories, size=num_items)
    item_bias = rng.normal(0.0, 0.3, size=num_items)
    items_by_cat = [np.flatnonzero(item_cat == c) for c in range(num_categories)]
    items_by_cat = [ix if len(ix) else np.array([c % num_items]) for c, ix in enumerate(items_by_cat)]
    gender, age, level = (rng.integers(n, size=num_users) for n in (GENDERS, AGES, LEVELS))
    user_bias = rng.normal(0.0, 0.3, size=num_users)

    rows = []
    stream_len = impressions_per_user + max_history
    for u in range(num_users):
        pi = rng.dirichlet(np.full(num_categories, 0.3))
        rho = rng.beta(2.0, 5.0)
        stream, seen_before = np.empty(stream_len, np.int64), np.zeros(stream_len, bool)
        for j in range(stream_len):
            if j and rng.random() < rho:
                stream[j] = stream[rng.integers(j)]
            else:
                stream[j] = rng.choice(items_by_cat[rng.choice(num_categories, p=pi)])
            seen_before[j] = stream[j] in stream[:j]
        positions = np.sort(rng.integers(0, stream_len + 1, size=impressions_per_user))
        linked = rng.random(impressions_per_user) < predefined_agreement
        scenario = np.where(linked, level[u], rng.integers(k, size=impressions_per_user))
        for order, (t, s) in enumerate(zip(positions, scenario)):
            lo = max(0, t - max_history)
            hist = stream[lo:t]
            if len(hist) and rng.random() < repeat_share[s]:
                target = rng.choice(hist)
            elif rng.random() < 0.5:
                target = rng.choice(items_by_cat[rng.choice(num_categories, p=pi)])
            else:
                target = rng.integers(num_items)
            c = item_cat[target]
            is_repeat = bool(np.isin(target, hist))
            logit = (-1.5 + user_bias[u] + item_bias[target] + 2.0 * np.tanh(np.sum(item_cat[hist] == c) / 3.0)
                     + affinity[s, c] + repeat_effect[s] * is_repeat)
            rows.append((u, order, s, hist, target, rng.normal(context_mean[s], 1.0),
                         rng.choice(num_slots, p=slot_probs[s]), is_repeat,
                         float(seen_before[lo:t].mean()) if len(hist) else 0.0, logit))

    u, order, s, hist, target, ctx, slot, is_repeat, r, logit = zip(*rows)
    u, order, s, target, ctx, slot, r, logit = map(np.asarray, (u, order, s, target, ctx, slot, r, logit))
    prob = expit(logit)
    prior = np.full((len(u), k), (1.0 - predefined_agreement) / k)
    if predefined_agreement > 0:
        prior[np.arange(len(u)), level[u]] += predefined_agreement
    with np.errstate(divide="ignore"):  # agreement 1: the other scenarios have prior 0, log -inf
        log_posterior = (np.log(prior) + np.log(slot_probs[:, slot].T)
                         - 0.5 * np.square(ctx[:, None, :] - context_mean[None]).sum(-1))
    frame = pd.DataFrame({
        "user_id": u.astype(np.int64) + USER_OFFSET,
        "profile_gender": gender[u].astype(np.int64),
        "profile_age": age[u].astype(np.int64),
        "profile_level": level[u].astype(np.int64),
        "hist_item_ids": [(h + ITEM_OFFSET).astype(np.int64) for h in hist],
        "hist_category_ids": [(item_cat[h] + CATEGORY_OFFSET).astype(np.int64) for h in hist],
        "item_id": target.astype(np.int64) + ITEM_OFFSET,
        "category_id": item_cat[target].astype(np.int64) + CATEGORY_OFFSET,
        "context_slot": slot.astype(np.int64),
        **{f"context_{name}": ctx[:, j].astype(np.float32) for j, name in enumerate(numeric)},
        "predefined_scenario": level[u].astype(np.int64),
        "repeat_label": r.astype(np.float32),
        "timestamp": order.astype(np.int64),
        TRUE_PROB: prob,
        "true_scenario": s.astype(np.int64),
        "bayes_scenario": log_posterior.argmax(-1).astype(np.int64),
        "true_is_repeat": np.asarray(is_repeat, dtype=np.int64),
        "label": (rng.random(len(prob)) < prob).astype(np.int64),
    })
    frac = order / impressions_per_user
    split_of = np.where(frac < 0.8, "train", np.where(frac < 0.9, "val", "test"))
    items = pd.DataFrame({"item_id": np.arange(num_items, dtype=np.int64) + ITEM_OFFSET,
                          "category_id": item_cat.astype(np.int64) + CATEGORY_OFFSET})
    world = {"affinity": affinity, "repeat_effect": repeat_effect, "repeat_share": repeat_share,
             "context_mean": context_mean, "slot_probs": slot_probs, "item_bias": item_bias, "user_bias": user_bias}
    return ScenarioData(frame, split_of, specs.scenario_click(max_history), group="user_id", items=items, world=world)
