#!/usr/bin/env python
"""Real-data results: the next-item models on Amazon Toys and Games (S3-Rec's 5-core files)
through the public commands, written into RESULTS.md.

    tools/real_data_results.py run   [--data DIR] [--runs DIR] [NAME ...]   # tfrec train, one run after another
    tools/real_data_results.py write [--data DIR] [--runs DIR] [--out RESULTS.md]

``run`` calls ``tfrec train`` for each configuration of :data:`RUNS` (skipping those whose run
directory already has results) -- the command a user types; ``write`` reads the run
directories (results, per-epoch history, timings) and the popularity floor (counts over the
training part, through ``tfrec_pkg.evaluation.evaluate``) and replaces the results section of
the output file, with the commands that produced it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("TFREC_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
SEQUENCES, ATTRIBUTES = "amazon_toys/Toys_and_Games.txt", "amazon_toys/Toys_and_Games_item2attributes.json"
# name: (model, settings); the papers' dimensions are the configs' defaults (L 50, d 64, 2 layers,
# 2 heads, dropout 0.5, Adam 1e-3, batch 256; GRU4Rec RecBole's hidden 128, dropout 0.3)
RUNS = {
    # the two training forms, every row padded to L = 50 (no length buckets)
    "sasrec_all": ("sasrec", ["training_positions=all", "length_buckets=[]"]),
    "sasrec_last": ("sasrec", ["training_positions=last", "length_buckets=[]"]),
    # the models, with the default length buckets (10, 20, 50)
    "sasrec_all_buckets": ("sasrec", ["training_positions=all"]),
    "ipsrec_s_all": ("ipsrec", ["training_positions=all"]),
    "gru4rec_all": ("gru4rec", ["training_positions=all"]),
    "ipsrec_c_all": ("ipsrec", ["training_positions=all", "stream=cross"]),
}
KS = (5, 10, 20)
CURVES = (("val_ndcg_at_10", "NDCG@10"), ("val_mrr_at_10", "MRR@10"))  # (history key, label) per epoch
BEGIN, END = "<!-- real-data results: written by tools/real_data_results.py write -->", "<!-- end of real-data results -->"


def command(name: str, data: str, runs: str) -> list[str]:
    model, sets = RUNS[name]
    line = ["tfrec", "train", "--model", model, "--data", os.path.join(data, SEQUENCES),
            "--items", os.path.join(data, ATTRIBUTES), "--out", os.path.join(runs, name)]
    for s in sets:
        line += ["--set", s]
    return line


def run(names, data: str, runs: str) -> None:
    for name in names:
        out = os.path.join(runs, name)
        if os.path.exists(os.path.join(out, "results.json")):
            print(f"{name}: done already ({out}/results.json)")
            continue
        os.makedirs(out, exist_ok=True)
        line = command(name, data, runs)
        print(f"{name}: {' '.join(line)}", flush=True)
        with open(os.path.join(out, "train.log"), "a") as log:
            subprocess.run([sys.executable, "-m", "tfrec_pkg.cli", *line[1:]], stdout=log, stderr=subprocess.STDOUT,
                           check=True, cwd=ROOT)


def popularity(data: str) -> dict:
    """HR/NDCG@K of ranking every item by its count in the training part (ties against the target)."""
    import numpy as np

    import tfrec_pkg  # noqa: F401
    import tensorflow as tf

    from tfrec_pkg.data import load_interactions
    from tfrec_pkg.evaluation import evaluate

    train, _, test = load_interactions(os.path.join(data, SEQUENCES), format="sequences").splits(max_history=50)
    counts = train.frame["item_id"].value_counts()
    first = train.frame.groupby("user_id")["hist_item_ids"].first().map(lambda h: h[0])  # each user's first item
    counts = counts.add(first.value_counts(), fill_value=0)

    class Popularity:
        name, feature_spec, vocab = "popularity", test.specs, {}
        ids = counts.index.to_numpy(np.int64)
        scores = counts.to_numpy(np.float32)

        def score_catalogue(self, features):
            n = tf.shape(features["hist_item_ids"])[0]
            return tf.constant(self.ids), tf.tile(tf.constant(self.scores)[None], [n, 1])

    return evaluate(Popularity(), test, "full_ranking", ks=KS).iloc[0].to_dict()


def padding_fraction(data: str, training_positions: str, length_buckets) -> float:
    """Share of the padded history cells of an epoch's training rows that are padding."""
    import numpy as np

    from tfrec_pkg.data import load_interactions

    train, _, _ = load_interactions(os.path.join(data, SEQUENCES), format="sequences").splits(
        max_history=50, training_positions=training_positions)
    lengths = train.frame["hist_item_ids"].map(len).to_numpy()
    widths = np.array(sorted({w for w in length_buckets if w < 50} | {50}))
    padded = widths[np.searchsorted(widths, lengths)]
    return 1.0 - lengths.sum() / padded.sum()


def write(data: str, runs: str, out: str) -> None:
    rows = []
    for name in RUNS:
        path = os.path.join(runs, name)
        if not os.path.exists(os.path.join(path, "results.json")):
            continue
        with open(os.path.join(path, "results.json")) as f:
            result = json.load(f)
        with open(os.path.join(path, "history.json")) as f:
            history = json.load(f)
        best = max(range(len(history)), key=lambda i: history[i]["val_mrr_at_10"])
        train_seconds = sum(e["seconds"] for e in history)
        with open(os.path.join(path, "config.json")) as f:
            config = json.load(f)["config"]
        padding = padding_fraction(data, config["training_positions"], config.get("length_buckets", []))
        rows.append({"name": name, **result, "epochs": len(history), "best_epoch": best + 1, "padding": padding,
                     "epoch_seconds": train_seconds / len(history), "train_minutes": train_seconds / 60,
                     "rows_per_second": sum(e["rows_per_second"] for e in history) / len(history),
                     "curves": {label: [round(e[key], 4) for e in history] for key, label in CURVES
                                if all(key in e for e in history)}})
    pop = popularity(data)
    lines = [BEGIN, "", "Amazon Toys and Games, S3-Rec's 5-core files (19,412 users, 11,924 items, 167,597 "
             "interactions); leave-one-out, the target ranked against all 11,924 items (history items not "
             "removed, ties against the target); brand = provider by the data README's rule (1 item without "
             "a brand: the unknown provider; brand id 1 kept as a brand). Test users: 19,412.", "",
             "| run | HR@5 | HR@10 | HR@20 | NDCG@5 | NDCG@10 | NDCG@20 | epochs (best) | s/epoch | rows/s | padding | train min |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|",
             "| popularity (floor) | " + " | ".join(f"{pop[f'{m}@{k}']:.4f}" for m in ("hr", "ndcg") for k in KS)
             + " | - | - | - | - | - |"]
    for r in rows:
        lines.append(f"| {r['name']} | " + " | ".join(f"{r[f'{m}@{k}']:.4f}" for m in ("hr", "ndcg") for k in KS)
                     + f" | {r['epochs']} ({r['best_epoch']}) | {r['epoch_seconds']:.1f} | {r['rows_per_second']:.0f}"
                     f" | {r['padding']:.0%} | {r['train_minutes']:.1f} |")
    lines += ["", "Settings beyond the config defaults: " + "; ".join(
        f"`{r['name']}`: {RUNS[r['name']][0]} " + " ".join(RUNS[r['name']][1]) for r in rows) + ".", "",
        "Rows/s counts training rows: a prefix (`*_last`) or a user sequence window (`*_all`); s/epoch includes "
        "the validation pass. Padding: the share of the training rows' history cells that are padding "
        "(rows padded to 50, or to the length buckets 10 / 20 / 50). "
        "Validation NDCG@10 and MRR@10 per epoch (early stopping on MRR@10, patience 10, best weights restored; "
        "runs from before NDCG@10 was logged show MRR@10 only):", ""]
    lines += [f"* {r['name']}: " + "; ".join(f"{label} {curve}" for label, curve in r["curves"].items())
              for r in rows]
    lines += ["", "Commands (one after another on the same machine, by `tools/real_data_results.py run`):", "", "```"]
    lines += [" ".join(command(r["name"], "../shared/data", "runs/toys")) for r in rows]
    lines += ["```", "", END]
    text = open(out).read() if os.path.exists(out) else "# Results on real data\n\n"
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, out)
    print(f"wrote {out} ({time.strftime('%Y-%m-%d')})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tools/real_data_results.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("run", "write"))
    parser.add_argument("names", nargs="*", help=f"runs (default all): {', '.join(RUNS)}")
    parser.add_argument("--data", default=DATA, help="the shared data folder (default ../shared/data)")
    parser.add_argument("--runs", default=os.path.join(ROOT, "runs", "toys"), help="run directories (default runs/toys)")
    parser.add_argument("--out", default=os.path.join(ROOT, "RESULTS.md"))
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.data, SEQUENCES)):
        parser.exit(1, f"{parser.prog}: error: {os.path.join(args.data, SEQUENCES)} not found (set --data)\n")
    unknown = [n for n in args.names if n not in RUNS]
    if unknown:
        parser.exit(2, f"{parser.prog}: error: unknown run(s) {unknown}; expected some of {list(RUNS)}\n")
    if args.action == "run":
        run(args.names or list(RUNS), args.data, args.runs)
    else:
        write(args.data, args.runs, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
