"""The experiment recipe shared by ``tfrec demo``, the claim checks and ``export --train-synthetic``:
planted data -> seed -> model -> train -> evaluate.

A model is named by a registered name, a registry ``Entry``, or a variant: a name plus config
changes applied on top of the config, e.g. ``("ipsrec", {"use_provider": False})`` (SASRec).

    splits = planted_splits("ipsrec", quick=True, seed=0)
    result = run(("ipsrec", {"use_provider": False}), splits=splits, seed=0, verbose=0, patience=2)
    result.row["ndcg@10"], result.model, result.history

Order of random number use, kept from the callers this replaced so that their numbers hold:
the data generator takes ``seed`` itself; ``tf.keras.utils.set_random_seed(seed)`` is called
after the data exists and right before the model is built; ``seed`` also orders the training
shuffle (``training.train``).
"""
from __future__ import annotations

import dataclasses
import time

import tensorflow as tf

from tfrec_pkg.evaluation import evaluate
from tfrec_pkg.models import registry
from tfrec_pkg.models.optimizers import make_optimizer
from tfrec_pkg.training import train

__all__ = ["Result", "resolve", "planted_splits", "build", "fit", "run", "bayes_reference"]


@dataclasses.dataclass
class Result:
    row: dict            # evaluate()'s results row
    model: object        # the trained model
    history: object      # tf.keras.callbacks.History of the fit
    splits: tuple        # (train, val, test) it was trained and evaluated on
    train_seconds: float


def resolve(model, config=None):
    """(registry entry, config) for a name, an Entry or a (name or Entry, changes) variant.
    ``config`` defaults to the entry's planted config; the variant's changes go on top."""
    changes = {}
    if isinstance(model, tuple):
        model, changes = model
    entry = model if isinstance(model, registry.Entry) else registry.entry(model)
    config = entry.planted_config() if config is None else config
    return entry, (config.replace(**changes) if changes else config)


def planted_splits(model, config=None, quick: bool = False, seed: int = 0):
    """(train, val, test) of the model's registered planted data for ``config``."""
    entry, config = resolve(model, config)
    return entry.data(config, quick=quick, seed=seed).splits()


def build(model, vocab, config=None, *, seed: int | None = 0, compile: bool = False, options: dict | None = None):
    """The model built from ``config`` and ``vocab``, weights seeded by ``seed`` (None leaves
    TF's global random state alone); ``compile=True`` adds the config's optimizer (``models.optimizers.make_optimizer``)
    (what ``training.train`` would compile with), for callers that fit by steps themselves.
    ``options``: further constructor arguments that come from the data (a split's
    ``model_options``, e.g. a stream's number of interaction features)."""
    entry, config = resolve(model, config)
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    built = entry.model_class(config, vocab, **(options or {}))
    if compile:
        built.compile(optimizer=make_optimizer(built))
    return built


def fit(model, splits, config=None, seed: int = 0, *, seed_weights: bool = True, **train_kwargs):
    """(trained model, History): built on ``splits[0].vocab``, trained on splits[0] with early
    stopping on splits[1]. ``train_kwargs`` go to ``training.train`` (epochs, patience, verbose,
    ...). ``seed_weights=False`` skips set_random_seed (the shuffle still uses ``seed``)."""
    built, history, _ = _fit(model, splits, config, seed, seed_weights, train_kwargs)
    return built, history


def run(model, config=None, quick: bool = False, seed: int = 0, splits=None, protocol: str | None = None, *,
        ks=None, name: str | None = None, **train_kwargs) -> Result:
    """Fit (see :func:`fit`) and evaluate on the test split with ``protocol`` (default: the
    entry's). ``splits`` default to the planted ones for (``config``, ``quick``, ``seed``);
    ``ks`` goes to ``evaluate`` (its default when None); ``name`` labels the row (default:
    the registered name)."""
    entry, config = resolve(model, config)
    if splits is None:
        splits = planted_splits(entry, config, quick=quick, seed=seed)
    built, history, seconds = _fit(entry, splits, config, seed, True, train_kwargs)
    options = {} if ks is None else {"ks": ks}
    row = evaluate(built, splits[2], protocol or entry.protocol, name=name or entry.name, **options)
    return Result(row.iloc[0].to_dict(), built, history, splits, seconds)


def _fit(model, splits, config, seed, seed_weights, train_kwargs):
    built = build(model, splits[0].vocab, config, seed=seed if seed_weights else None,
                  options=getattr(splits[0], "model_options", None))
    start = time.perf_counter()  # training alone, as demo's train_seconds always was
    history = train(built, splits[0], splits[1], seed=seed, **train_kwargs)
    return built, history, time.perf_counter() - start


def bayes_reference(row: dict, split, protocol: str = "pointwise") -> dict:
    """The best any model can reach on a planted ``split``, in the columns of ``row``:
    pointwise, the Bayes-optimal AUC/GAUC and the share of the possible AUC lift that ``row``
    reached, (AUC - 0.5) / (AUC* - 0.5); ranking, HR/MRR/NDCG@K of the targets' true ranks
    (each target ranked by the generator's own probabilities, column ``true_rank``) for the
    K of ``row``. Empty when the split's generator knows no such reference."""
    if protocol == "pointwise":
        best = split.bayes_optimal()
        return {"bayes_auc": best["auc"], "bayes_gauc": best["gauc"],
                "auc_lift_ratio": (row["auc"] - 0.5) / (best["auc"] - 0.5)}
    if protocol == "stream":   # the split knows its planted stream's true ranks
        best = split.bayes_optimal() if hasattr(split, "bayes_optimal") else {}
        return {f"bayes_{k}": v for k, v in best.items() if k in row}
    frame = getattr(split, "frame", None)
    if frame is None or "true_rank" not in frame:
        return {}
    from tfrec_pkg.evaluation import metrics

    ranks = split.positives["true_rank"].to_numpy()
    functions = {"hr": metrics.hit_rate, "mrr": metrics.mrr, "ndcg": metrics.ndcg, "recall": metrics.recall}
    out = {}
    for column in row:
        name, _, k = column.partition("@")
        if name in functions and k.isdigit():
            out[f"bayes_{column}"] = functions[name](ranks, int(k))
    return out
