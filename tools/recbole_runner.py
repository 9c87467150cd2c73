"""RecBole 1.2.1's SASRec, one epoch at a time, for tools/recbole_side_by_side.py.

Run by the python of the separate RecBole virtual environment (the driver creates it), never by
the project's: RecBole needs torch and numpy < 2 idioms that the project's environment does not
have.

    .venv-recbole/bin/python tools/recbole_runner.py --data-path DIR --dataset toys --epochs 10 --workdir DIR

It reads DIR/toys/toys.inter (the driver writes it), trains with RecBole's own Trainer.fit and
talks to the driver through lines: every line it prints that starts with ``@@ `` is a JSON event
(``ready``, ``epoch``, ``done``); before the first epoch and after each one it waits for a line on
stdin, ``go`` (train the next epoch) or ``stop`` (end training, evaluate the test split), so the
driver can interleave its epochs with ours. Everything else RecBole says goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

START = time.perf_counter()

# numpy 2 removed aliases RecBole 1.2.1 still uses (np.float in its metrics). RecBole's own shim,
# Config.compatibility_settings, restores np.float, np.int, np.bool, np.long ... from np.float_,
# np.complex_ and np.unicode_ -- themselves removed in numpy 2, so that shim fails with an
# AttributeError; these three are what it needs. Patched in this process only, before recbole is
# imported; recbole's installed files are left as they are.
import numpy as np  # noqa: E402

SHIMS = {"float_": np.float64, "complex_": np.complex128, "unicode_": np.str_}
APPLIED = []
for _name, _value in SHIMS.items():
    if _name not in np.__dict__:  # only what numpy no longer has
        setattr(np, _name, _value)
        APPLIED.append(_name)


class Stop(Exception):
    """The driver said stop: leave Trainer.fit between epochs."""


def emit(event: str, **values) -> None:
    print("@@ " + json.dumps({"event": event, **values}), flush=True)


def wait_for_go() -> float:
    """Block until the driver's next command; the time the epoch starts."""
    command = sys.stdin.readline().strip()
    if command != "go":  # "stop", or the driver went away (empty line)
        raise Stop(command)
    return time.perf_counter()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--dataset", default="toys")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--workdir", required=True, help="RecBole's checkpoint and log folders go here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--omp-wait-policy", default="PASSIVE",
                        help="OMP_WAIT_POLICY for torch's OpenMP threads (default PASSIVE; 'default': leave it unset)")
    args = parser.parse_args()

    # Read before torch starts its OpenMP threads. With libgomp's default waiting, every parallel
    # region of 2 threads took ~8 ms on this shared 2-core machine when the other core was busy
    # (a training step 5-10x slower than with 1 thread); PASSIVE waiting makes 2 threads faster
    # than 1 there, i.e. gives RecBole its best case.
    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    # torch >= 2.6 loads checkpoints weights-only by default, which refuses RecBole's own
    # checkpoint (a dict with its config): the file is the one this process just wrote
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_logger, init_seed

    # importing recbole.model.sequential_recommender runs sine.py's module-level
    # torch.autograd.set_detect_anomaly(True), which slows every backward pass; RecBole's users
    # turn it off, and so do we
    anomaly_on_import = torch.is_anomaly_enabled()
    torch.autograd.set_detect_anomaly(False)
    torch.set_num_threads(args.threads)

    config = Config(model="SASRec", dataset=args.dataset, config_dict={
        "data_path": args.data_path, "checkpoint_dir": f"{args.workdir}/saved",
        "log_tensorboard": False, "show_progress": False, "seed": args.seed, "epochs": args.epochs,
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        # leave-one-out by time order, the target ranked against every item
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full"},
        "loss_type": "CE", "train_neg_sample_args": None, "MAX_ITEM_LIST_LENGTH": 50,
        "hidden_size": 64, "n_layers": 2, "n_heads": 2, "inner_size": 256,
        "hidden_dropout_prob": 0.5, "attn_dropout_prob": 0.5,
        "train_batch_size": 256, "eval_batch_size": 1024, "learning_rate": 0.001,
        "metrics": ["NDCG", "Hit"], "topk": [10], "valid_metric": "NDCG@10",
        "eval_step": 1, "stopping_step": 10,
    })
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = SASRec(config, train_data.dataset).to(config["device"])
    trainer = Trainer(config, model)

    # seconds of the training and validation parts of each epoch (RecBole logs them, returns neither)
    parts = {}

    def timed(name, method):
        def run(*a, **k):
            start = time.perf_counter()
            out = method(*a, **k)
            parts[name] = time.perf_counter() - start
            if name == "valid":
                parts["result"] = dict(out[1])
            return out
        return run

    trainer._train_epoch = timed("train", trainer._train_epoch)
    trainer._valid_epoch = timed("valid", trainer._valid_epoch)
    rows = len(train_data.dataset)  # prefix rows (RecBole's augmentation of each training sequence)
    emit("ready", setup_s=round(time.perf_counter() - START, 2), train_rows=rows,
         versions={"recbole": __import__("recbole").__version__, "torch": torch.__version__,
                   "numpy": np.__version__, "pandas": __import__("pandas").__version__},
         numpy_shims=APPLIED, anomaly_on_import=anomaly_on_import, anomaly_now=torch.is_anomaly_enabled(),
         threads=torch.get_num_threads(), omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "unset"),
         items=dataset.item_num - 1, users=dataset.user_num - 1)

    state = {"go": wait_for_go()}

    def after_epoch(epoch_idx, valid_score):  # Trainer.fit calls it after validation and the checkpoint
        wall = time.perf_counter() - state["go"]
        emit("epoch", epoch=epoch_idx + 1, wall_s=round(wall, 3), train_s=round(parts["train"], 3),
             valid_s=round(parts["valid"], 3), rows_per_s=round(rows / parts["train"], 1),
             val_ndcg10=float(parts["result"]["ndcg@10"]), val_hr10=float(parts["result"]["hit@10"]))
        state["go"] = wait_for_go()

    try:
        trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=after_epoch)
    except Stop:
        pass
    test = trainer.evaluate(test_data, load_best_model=True, model_file=trainer.saved_model_file)
    emit("done", test_hr10=float(test["hit@10"]), test_ndcg10=float(test["ndcg@10"]),
         best_val_ndcg10=float(trainer.best_valid_score), test_users=len(test_data.dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
