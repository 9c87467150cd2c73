"""Whether IMN-Net's and JODIE's planted results survive a round-off-sized change, and whether
another early-stopping protocol would make them (CLAIMS.md, imn_net: the CI check's margin is
one draw of round-off).

    python tools/imn_stability_diagnosis.py --out traces.jsonl [--quick] [--seeds 5,6,7,8,9]
        [--learning-rate 3e-3] [--perturbation 1e-6] [--epochs 15]
    python tools/imn_stability_diagnosis.py --replay traces.jsonl [more.jsonl ...]

Tracing trains IMN-Net and JODIE on the claim checks' planted stream of each seed twice: at the
learning rate (draw ``base``) and at it times (1 + perturbation) (draw ``perturbed``), each for
``epochs`` epochs without stopping. After every epoch it appends one JSON line to ``--out``: the
validation MRR (the checks' early-stopping monitor) and the test metrics of the checks' stream
protocol. The traces leave training as it is: the test pass rebuilds the memory, which the next
epoch resets.

Replaying runs Keras' ``EarlyStopping`` (validation MRR, ``patience``, best weights restored) with
an epoch cap on the traces, for each (patience, cap) of the grid, as ``training.train`` would have
stopped. It prints what the claim checks would have reported (Recall@10 at the restored epoch)
in the two draws: how far each run moves between them, and IMN-Net's lead over JODIE in each
draw (mean over the seeds, its standard error and t).
"""
from __future__ import annotations

import argparse
import itertools
import json
import time

import tfrec_pkg  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)
import numpy as np
import pandas as pd

MODELS = ("IMN-Net", "JODIE")
METRIC = "recall@10"
PATIENCES = (2, 3, 4, 5, None)   # None: no early stopping, the last epoch's weights
CAPS = (10, 15)


def replay(val, test, patience: int | None, cap: int) -> tuple[float, int, bool]:
    """(test value at the epoch Keras' EarlyStopping(mode="max", restore_best_weights=True)
    restores, epochs run, whether it stopped early) for per-epoch ``val`` and ``test`` series
    and an epoch cap (``patience`` None: no early stopping)."""
    best, best_epoch, wait = -np.inf, 0, 0
    for epoch in range(min(cap, len(val))):
        if patience is None:
            best_epoch = epoch
            continue
        wait += 1
        if val[epoch] > best:
            best, best_epoch, wait = val[epoch], epoch, 0
        elif wait >= patience and epoch > 0:
            return float(test[best_epoch]), epoch + 1, True
    return float(test[best_epoch]), min(cap, len(val)), False


def trace(out: str, quick: bool, seeds, learning_rate: float, perturbation: float, epochs: int):
    import tensorflow as tf

    from tfrec_pkg import experiment
    from tfrec_pkg.claims import imn_checks

    class Trace(tf.keras.callbacks.Callback):
        def __init__(self, tag, test, file):
            super().__init__()
            self.tag, self.test, self.file = tag, test, file

        def on_epoch_end(self, epoch, logs=None):
            row = experiment.evaluate(self.model, self.test, "stream").iloc[0]
            record = {**self.tag, "epoch": epoch + 1, "val_mrr": float(logs["val_mrr"]),
                      **{m: float(row[m]) for m in ("recall@10", "ndcg@10", "mrr")}}
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    draws = {"base": learning_rate} | ({"perturbed": learning_rate * (1 + perturbation)} if perturbation else {})
    with open(out, "a") as file:
        for seed, (draw, rate) in itertools.product(seeds, draws.items()):
            splits = experiment.planted_splits("imn_net", quick=quick, seed=seed)
            for name in MODELS:
                model, variant = imn_checks.VARIANTS[name]
                tag = {"quick": quick, "seed": seed, "draw": draw, "learning_rate": rate, "model": name}
                experiment.fit((model, {**variant, "learning_rate": rate, "epochs": epochs}), splits, seed=seed,
                               verbose=0, patience=epochs, callbacks=[Trace(tag, splits[2], file)])


def replayed(traces: pd.DataFrame) -> pd.DataFrame:
    """One row per (patience, cap, seed, model, draw): the reported Recall@10 and epochs run.
    Protocols that would run past a trace's last epoch are left out."""
    rows = []
    for (seed, model, draw), run in traces.sort_values("epoch").groupby(["seed", "model", "draw"]):
        for patience, cap in itertools.product(PATIENCES, CAPS):
            value, ran, stopped = replay(run["val_mrr"].to_numpy(), run[METRIC].to_numpy(), patience, cap)
            if cap <= len(run) or stopped:
                rows.append({"patience": patience or "none", "cap": cap, "seed": seed, "model": model,
                             "draw": draw, METRIC: value, "epochs": ran})
    return pd.DataFrame(rows)


def summaries(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(how far each model's result moves between the draws, per protocol (empty without a
    perturbed draw); IMN-Net's lead over JODIE per protocol and draw)."""
    wide = runs.pivot_table(index=["patience", "cap", "seed", "model"], columns="draw", values=METRIC)
    moved = pd.DataFrame()
    if "perturbed" in wide:
        wide["moved"] = (wide["base"] - wide["perturbed"]).abs()
        moved = wide.groupby(level=["patience", "cap", "model"])["moved"].agg(["mean", "max"]).unstack("model")
    lead = runs.pivot_table(index=["patience", "cap", "draw", "seed"], columns="model", values=METRIC)
    diff = (lead["IMN-Net"] - lead["JODIE"]).groupby(level=["patience", "cap", "draw"])
    leads = pd.DataFrame({"lead": diff.mean(), "se": diff.std() / np.sqrt(diff.count()), "seeds": diff.count()})
    leads["t"] = leads["lead"] / leads["se"]
    return moved, leads


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="append traces to this JSON-lines file")
    parser.add_argument("--replay", nargs="+", help="replay the protocols on these trace files")
    parser.add_argument("--quick", action="store_true", help="the quick stream (the CI check's)")
    parser.add_argument("--seeds", default="5,6,7,8,9")
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--perturbation", type=float, default=1e-6, help="0: the base draw only")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    if bool(args.out) == bool(args.replay):
        parser.error("give --out (trace) or --replay (replay traces), one of the two")
    if args.out:
        seeds = [int(s) for s in args.seeds.split(",")]
        draws = 2 if args.perturbation else 1
        minutes = len(seeds) * draws * args.epochs * (0.2 if args.quick else 0.45)
        print(f"tracing {len(seeds)} seeds x {draws} draws x {len(MODELS)} models x {args.epochs} epochs: "
              f"about {minutes:.0f} min on 2 cores", flush=True)
        start = time.time()
        trace(args.out, args.quick, seeds, args.learning_rate, args.perturbation, args.epochs)
        print(f"traces in {args.out} ({(time.time() - start) / 60:.0f} min)")
        return
    traces = pd.concat([pd.read_json(path, lines=True) for path in args.replay], ignore_index=True)
    moved, leads = summaries(replayed(traces))
    with pd.option_context("display.width", 200):
        if len(moved):
            print(f"|{METRIC} base - perturbed| per run, by protocol\n{moved.round(4)}\n")
        print(f"IMN-Net - JODIE on {METRIC}, by protocol and draw\n{leads.round(4)}")


if __name__ == "__main__":
    main()
