"""oneDNN kernels against TensorFlow's default ones (``tfrec bench onednn``).

TensorFlow's x86 Linux wheels use oneDNN only on CPUs with AVX512_VNNI and newer, unless
``TF_ENABLE_ONEDNN_OPTS=1`` is set before TensorFlow loads; the library leaves the choice to the
user (README, "Training, checkpoints, resuming"). For each paper model (each registered model with
claim checks): training epochs on its planted data at the size of ``tfrec claims`` (with
``quick``: the quick data of the CI claim checks, where the small models' steps are short enough
for oneDNN's per-op overhead to show), in fresh processes with the variable at 0 and at 1
(TensorFlow reads it once, when it loads), the two alternated for ``rounds`` rounds. Reported: the
median wall and CPU seconds of the epochs after the first (the first traces the step), and their
ratio, default over oneDNN (above 1: oneDNN is faster). ``*_onednn_on``: whether the child's
TensorFlow really ran with oneDNN.
"""
from __future__ import annotations

import statistics
import sys
import time

from tfrec_pkg import model_names
from tfrec_pkg.bench import child


def _task(model: str, epochs: int, quick: bool) -> dict:
    """Seconds (wall and this process's CPU) of each training epoch after the first."""
    import tfrec_pkg  # noqa: F401  (the Keras-2 environment before TensorFlow loads)
    import tensorflow as tf
    from tfrec_pkg import experiment, training
    from tfrec_pkg.bench.timing import onednn_on

    train, _, _ = experiment.planted_splits(model, quick=quick, seed=0)
    built = experiment.build(model, train.vocab, seed=0, options=getattr(train, "model_options", None))
    marks = []
    mark = lambda *_: marks.append((time.perf_counter(), time.process_time()))  # noqa: E731
    timer = tf.keras.callbacks.LambdaCallback(on_epoch_begin=mark, on_epoch_end=mark)
    training.train(built, train, epochs=epochs, verbose=0, callbacks=[timer])
    spans = [(end[0] - begin[0], end[1] - begin[1]) for begin, end in zip(marks[2::2], marks[3::2])]
    return {"onednn_on": onednn_on(), "rows": len(train),
            "wall_s": statistics.median(s[0] for s in spans), "cpu_s": statistics.median(s[1] for s in spans)}


def _run(model: str, onednn: bool, epochs: int, quick: bool) -> dict:
    return child.run([sys.executable, "-m", __name__, model, str(epochs), str(int(quick))],
                     env={"TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0"})


def measure(quick: bool = False, models=None) -> dict:
    rounds, epochs = (1, 2) if quick else (2, 3)
    if models is None:  # the paper models: those with claim checks, planted data at `tfrec claims` size
        models = model_names.names(model_names.registered(), lambda m: m.has_claims)
    out = {"data": f"each model's {'quick ' if quick else ''}planted data, batch of its config", "rounds": rounds}
    for model in models:
        runs = {False: [], True: []}
        for _ in range(rounds):
            for onednn in (False, True):
                runs[onednn].append(_run(model, onednn, epochs, quick))
        out[f"{model}_training_rows"] = runs[True][0]["rows"]
        for onednn, tag in ((False, "default"), (True, "onednn")):
            out[f"{model}_{tag}_onednn_on"] = all(r["onednn_on"] for r in runs[onednn])
            for unit in ("wall_s", "cpu_s"):
                out[f"{model}_{tag}_epoch_{unit}"] = round(statistics.median(r[unit] for r in runs[onednn]), 2)
        for unit in ("wall_s", "cpu_s"):
            out[f"{model}_default_over_onednn_{unit.split('_')[0]}"] = round(
                out[f"{model}_default_epoch_{unit}"] / out[f"{model}_onednn_epoch_{unit}"], 2)
    return out


if __name__ == "__main__":
    child.report(_task(sys.argv[1], int(sys.argv[2]), bool(int(sys.argv[3]))))
