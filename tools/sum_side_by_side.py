#!/usr/bin/env python
"""Side by side: our SUM against Microsoft Recommenders 1.2.1's SUM (the public TF1 code of the
SUM paper's authors), training speed at that code's example settings, on the same data file in
the same run (not part of ``make test``).

    tools/sum_side_by_side.py --setup-only         # create .venv-msrec, install Microsoft Recommenders
    tools/sum_side_by_side.py --quick              # smoke run: 2,000 histories, 1 round of 2 epochs
    tools/sum_side_by_side.py --out BENCHMARKS.md  # 8,000 histories, 3 rounds of 3 epochs each

Their SUM runs in its own virtual environment (default ``.venv-msrec/``: TensorFlow 2.15 for its
``tf.compat.v1`` graph code, numpy < 2, and ``recommenders==1.2.1`` without its other models'
requirements), through ``tools/msrec_sum_runner.py``. The data are random full-length histories
(speed does not depend on them): ``train.tsv`` in their sequential format (label, user, item,
category, time, then the comma-separated histories of items, categories and times) with their
vocabulary pickles, read by their iterator; our side reads the same file into a DataFrame. Both
train at their example configuration (``sum.yaml``): item / category embeddings 32 / 8, hidden
40, 4 slots (our ``num_channels=4``, the highway among them), L 50, 400 histories per batch,
each scored against its target and 4 negatives (theirs: other targets of the batch, drawn per
epoch; ours: drawn once), softmax over the 5, Adam 1e-3. Scored rows/s = 5 x histories / the
epoch's training seconds (no validation on either side); per round, the median over its epochs
after the first (tracing, their file parse), the rounds alternating ours and theirs; reported:
the median over rounds and ours over theirs. The goal (training-speed issue): >= 4x. Also
reported: their rate counting only the seconds inside their ``train`` calls (``session``: the
graph without their Python-side batching), and ours over that.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import time

from recbole_side_by_side import setup_venv, steady_rate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-msrec")
PACKAGES = ["tensorflow-cpu==2.15.1", "numpy<2", "pandas<3", "scikit-learn", "pyyaml", "tqdm", "requests", "retrying"]
WITHOUT_DEPENDENCIES = ["recommenders==1.2.1"]  # its requirements are its other models' (cornac, torch ...)
RUNNER = os.path.join(ROOT, "tools", "msrec_sum_runner.py")
MARK = "@@ "
L, NEGATIVES, HISTORIES_PER_BATCH = 50, 4, 400
GOAL = 4.0


# --- the data (tests/test_sum_side_by_side.py) ------------------------------------------------

def write_data(directory: str, histories: int, items: int = 10_000, categories: int = 200, seed: int = 0) -> str:
    """``train.tsv`` (one positive line per history, their format) and their vocabularies
    (``{user,item,category}_vocab.pkl``: raw id -> index, 0 for their default entry, as their
    data preparation writes them) under ``directory``; returns the file's path."""
    import numpy as np

    rng = np.random.default_rng(seed)
    category_of = rng.integers(0, categories, items)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "train.tsv")
    with open(path, "w") as f:
        for user in range(histories):
            sequence = rng.integers(0, items, L + 1)  # L history items, then the target
            times = 1_500_000_000 + np.cumsum(rng.integers(60, 86_400, L + 1))
            hist = sequence[:L]
            f.write("\t".join(["1", f"u{user}", f"i{sequence[L]}", f"c{category_of[sequence[L]]}", str(times[L]),
                               ",".join(f"i{i}" for i in hist), ",".join(f"c{category_of[i]}" for i in hist),
                               ",".join(str(t) for t in times[:L])]) + "\n")
    for name, prefix, count, default in (("user", "u", histories, "default_uid"), ("item", "i", items, "default_mid"),
                                         ("category", "c", categories, "default_cat")):
        with open(os.path.join(directory, f"{name}_vocab.pkl"), "wb") as f:  # their tables: len(vocab) rows
            pickle.dump({default: 0} | {f"{prefix}{k}": k + 1 for k in range(count)}, f)
    return path


def read_groups(path: str, negatives: int = NEGATIVES, seed: int = 0):
    """The file as our SUM's training rows: per line its positive row, then ``negatives`` rows
    with the same history and another line's target (and its category), label 0."""
    import numpy as np
    import pandas as pd

    with open(path) as f:
        lines = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    raw = lambda token: int(token[1:])  # "i123" -> 123
    targets = [(raw(w[2]), raw(w[3])) for w in lines]
    rng = np.random.default_rng(seed)
    rows = []
    for k, w in enumerate(lines):
        hist_items, hist_categories = [raw(t) for t in w[5].split(",")], [raw(t) for t in w[6].split(",")]
        others = rng.choice(np.delete(np.arange(len(lines)), k), negatives, replace=False)
        for label, (item, category) in [(1.0, targets[k])] + [(0.0, targets[o]) for o in others]:
            rows.append({"user_id": raw(w[1]), "item_id": item, "category_id": category,
                         "hist_item_ids": hist_items, "hist_category_ids": hist_categories, "label": label})
    return pd.DataFrame(rows)


# --- our side -----------------------------------------------------------------------------------

def ours_worker(argv) -> int:
    """Our side (``tools/sum_side_by_side.py _ours --data DIR --epochs E``): ``SUM`` at their
    settings, ``fit`` on the file's groups; prints MARK + JSON events."""
    parser = argparse.ArgumentParser(prog="sum_side_by_side.py _ours")
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    args = parser.parse_args(argv)
    from tfrec_pkg.tf_logs import import_tensorflow_quietly

    import_tensorflow_quietly()
    import numpy as np
    import tensorflow as tf

    from tfrec_pkg.data.pipelines import from_frame
    from tfrec_pkg.data.vocab import Vocabulary
    from tfrec_pkg.models.sum import SUM, SUMConfig

    frame = read_groups(os.path.join(args.data, "train.tsv"))
    vocab = {name: Vocabulary(np.unique(frame[column]), "int64")
             for name, column in (("user", "user_id"), ("item", "item_id"), ("category", "category_id"))}
    config = SUMConfig(item_dim=32, category_dim=8, hidden_dim=40, num_channels=4, max_history=L,
                       ranker_units=(100, 64), loss="softmax", negatives=NEGATIVES, learning_rate=1e-3,
                       batch_size=HISTORIES_PER_BATCH * (1 + NEGATIVES))
    tf.keras.utils.set_random_seed(0)
    model = SUM(config, vocab)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
    data = from_frame(frame, model.feature_spec, config.batch_size, shuffle=True, group_size=1 + NEGATIVES)

    def emit(event, **values):
        print(MARK + json.dumps({"event": event, **values}), flush=True)

    class Epochs(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            emit("epoch", epoch=epoch + 1, train_s=round(time.perf_counter() - self.start, 3), rows=len(frame))

    emit("ready", versions={"tensorflow": tf.__version__}, threads="TF default")
    model.fit(data, epochs=args.epochs, verbose=0, callbacks=[Epochs()])
    return 0


# --- the driver ---------------------------------------------------------------------------------

def run_side(command, log: str) -> list[dict]:
    """One side's epochs (its MARK events), its other output in ``log``."""
    with open(log, "a") as f:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=f, text=True, cwd=ROOT)
    events = [json.loads(line[len(MARK):]) for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode:
        raise SystemExit(f"{command[1]} failed (exit {proc.returncode}); see {log}")
    return [e for e in events if e["event"] == "epoch"]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_ours"]:
        return ours_worker(argv[1:])
    parser = argparse.ArgumentParser(prog="tools/sum_side_by_side.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--histories", type=int, default=8000, help="training histories (default 8000: 20 batches)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per side and round (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each side once per round (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2000 histories, 1 round of 2 epochs")
    parser.add_argument("--setup-only", action="store_true", help="create the environment and stop")
    parser.add_argument("--out", metavar="BENCHMARKS.md", help="append the results to this file")
    parser.add_argument("--venv", default=VENV, help="their environment (default .venv-msrec)")
    parser.add_argument("--workdir", default=os.path.join(ROOT, "runs", "sum_side_by_side"),
                        help="data and logs (emptied first)")
    args = parser.parse_args(argv)
    python = setup_venv(args.venv, PACKAGES, WITHOUT_DEPENDENCIES)
    if args.setup_only:
        print(f"Microsoft Recommenders environment ready: {python}")
        return 0
    if args.quick:
        args.histories, args.epochs, args.rounds = 2000, 2, 1
    work = os.path.abspath(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    write_data(work, args.histories)
    print(f"{args.histories} histories x {1 + NEGATIVES} scored rows; {args.rounds} round(s) of {args.epochs} "
          f"epochs per side, about {args.rounds * args.epochs * args.histories // 1500 + 60 * args.rounds} s",
          flush=True)
    sides = {"ours": [sys.executable, os.path.abspath(__file__), "_ours"],
             "theirs": [python, RUNNER]}
    rates = {name: [] for name in (*sides, "theirs_session")}
    for r in range(args.rounds):
        for name, command in sides.items():
            epochs = run_side([*command, "--data", work, "--epochs", str(args.epochs)],
                              os.path.join(work, f"{name}.log"))
            for e in epochs:
                e["rows_per_s"] = e["rows"] / e["train_s"]
                e["session_rows_per_s"] = e["rows"] / e.get("session_s", e["train_s"])
            rates[name].append(steady_rate(epochs))
            if name == "theirs":
                rates["theirs_session"].append(steady_rate(epochs, "session_rows_per_s"))
            per_epoch = ", ".join(f"{e['rows_per_s']:.0f}" for e in epochs)
            print(f"round {r + 1}, {name}: {rates[name][-1]:.0f} scored rows/s (epochs: {per_epoch})", flush=True)
    ours, theirs, session = (statistics.median(rates[k]) for k in ("ours", "theirs", "theirs_session"))
    row = {"histories": args.histories, "rounds": args.rounds, "epochs_per_round": args.epochs,
           "ours_rows_per_s": round(ours), "theirs_rows_per_s": round(theirs),
           "ours_over_theirs": round(ours / theirs, 2), "goal_ge_4": "met" if ours / theirs >= GOAL else "not met",
           "theirs_session_rows_per_s": round(session), "ours_over_theirs_session": round(ours / session, 2),
           "per_round_ratios": " / ".join(f"{a / b:.2f}" for a, b in zip(rates["ours"], rates["theirs"]))}
    print(json.dumps(row, indent=1))
    if args.out:
        from tfrec_pkg.bench.report import append_markdown

        append_markdown(row, args.out, " ".join(["python", "tools/sum_side_by_side.py", *argv]))
        print(f"appended to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
