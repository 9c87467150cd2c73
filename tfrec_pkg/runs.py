"""Training runs on a user's own data: what ``tfrec train``, ``tfrec evaluate`` and
``tfrec models`` do, callable from Python as well.

    train_run("sasrec", "Toys_and_Games.txt", "runs/sasrec", sets=["training_positions=all"])
    evaluate_run("runs/sasrec", protocol="full_ranking")

Settings are layered as RecBole users know them: the model's config class holds the paper's
defaults, a YAML or JSON file (``config_file``) goes on top, and ``key=value`` settings
(``sets``, the command's ``--set`` flags, values read as YAML: ``dropout=0.2``,
``training_positions=all``) on top of that. Keys are the config's fields plus the run's own,
:data:`RUN_SETTINGS` (how the data is split); an unknown key is an error naming it and the valid
ones. The resolved settings are written to ``RUN_DIR/config.json``.

What the data becomes depends on the model's protocol (``tfrec models`` lists them):

* ``full_ranking`` (next-item models): an interaction log in any format of
  :func:`tfrec_pkg.data.load_interactions`, split ``leave_one_out`` (default), ``temporal`` or
  ``by_user`` into next-item rows (``training_positions`` = "last" or "all");
* ``pointwise`` (click models): a CSV / Parquet file of labelled rows with the model's input
  columns (``tfrec models`` names them) and ``label`` 0/1, split ``temporal`` (by a
  ``timestamp`` column, the default when there is one) or ``by_user``;
* ``stream`` (IMN-Net, JODIE): an interaction stream in any format of
  :func:`tfrec_pkg.data.load_stream` (a JODIE CSV, the IJCAI-16 log, or a log with
  ``user_id,item_id,timestamp,action``), split ``temporal`` only (``ratios``, default 80/10/10 as
  the paper), in the config's ``windows`` time windows;
* a raw format of the model's paper (``--format NAME``, the registry's ``raw_formats``, e.g.
  ``iprec_raw`` for IPRec's impression logs), read and split by that format's reader.

``RUN_DIR`` after a run::

    config.json       the resolved settings (model, data, format, split, seed, config)
    model.json, weights/   the trained model (``tools/export.py --weights RUN_DIR``), optimizer
                      state included: ``train_run`` on an existing RUN_DIR continues training
                      (same settings; only :data:`LOOP_SETTINGS` may change)
    checkpoints/      per-epoch backup while training (an interrupted run resumes from it)
    logs/             TensorBoard logs
    history.json      per epoch: the logged losses and validation metric, seconds, rows/s
    results.json      the test split's results row
"""
from __future__ import annotations

import json
import os
import time
import types

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec_pkg import distributed
from tfrec_pkg.atomic_files import atomic_write

RUN_SETTINGS = {"split": None, "seed": 0, "ratios": [0.8, 0.1, 0.1]}  # split None: the protocol's default
SPLITS = ("leave_one_out", "temporal", "by_user")
LOOP_SETTINGS = ("epochs", "batch_size", "learning_rate", "patience")  # may change when a run continues


def model_table():
    """One row per registered model: name, description, protocol, input columns and the raw
    formats of its paper that ``tfrec train --format`` reads."""
    from tfrec_pkg.models import registry

    rows = []
    for name in registry.names():
        entry = registry.entry(name)
        rows.append({"model": name, "protocol": entry.protocol,
                     "inputs": " ".join(s.name for s in inputs_of(entry, entry.config_class())),
                     "description": entry.description, "raw_formats": " ".join(sorted(entry.raw_formats))})
    return pd.DataFrame(rows)


def inputs_of(entry, config):
    """The model's input specs for ``config``, without building it (feature specs depend on the
    config alone)."""
    return entry.model_class.feature_spec.fget(types.SimpleNamespace(config=config))


def settings(config_file: str | None = None, sets=()) -> dict:
    """The file's settings with the ``key=value`` strings on top (module docstring)."""
    import yaml

    values = {}
    if config_file:
        with open(config_file) as f:
            loaded = yaml.safe_load(f) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{config_file}: expected a mapping of settings (key: value), "
                             f"found a {type(loaded).__name__}")
        values.update(loaded)
    for item in sets:
        key, eq, text = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--set {item!r}: expected key=value, e.g. dropout=0.2")
        values[key.strip()] = _value(text)
    return values


def _value(text: str):
    """A --set value as YAML reads it, with YAML 1.1's gaps filled: '1e-3' is a number."""
    import yaml

    value = yaml.safe_load(text) if text.strip() else ""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def resolve(entry, values: dict, source: str = "settings"):
    """(config, run settings) from layered ``values``: run keys taken out, the rest on the
    config's paper defaults."""
    run = {k: values.get(k, default) for k, default in RUN_SETTINGS.items()}
    model_values = {k: v for k, v in values.items() if k not in RUN_SETTINGS}
    known = [f for f in entry.config_class().to_dict()]
    unknown = sorted(set(model_values) - set(known))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown} for model {entry.name!r}; valid keys: "
                         f"{sorted(known) + sorted(RUN_SETTINGS)}")
    config = entry.config_class().updated(model_values, source)
    if run["split"] is not None and run["split"] not in SPLITS:
        raise ValueError(f"{source}: split = {run['split']!r}; expected one of {SPLITS}")
    return config, run


def load_splits(entry, config, run: dict, data, data_format: str | None = None, items: str | None = None):
    """(train, val, test) of ``data`` for the model's protocol (module docstring); ``items``:
    the S3-Rec item -> attributes JSON of a ``sequences`` file (brand = provider)."""
    raw_reader = entry.raw_formats.get(data_format)
    if raw_reader is not None:  # the paper's own raw format, split by its reader's rules
        return raw_reader(data, config, run["split"], run["seed"])
    if entry.protocol == "full_ranking":
        from tfrec_pkg.data import load_interactions

        options = {"item_attributes": items} if items else {}
        interactions = load_interactions(data, format=data_format, **options)
        return interactions.splits(split=run["split"] or "leave_one_out", max_history=config.max_history,
                                   training_positions=getattr(config, "training_positions", "last"),
                                   ratios=tuple(run["ratios"]), seed=run["seed"])
    if entry.protocol == "pointwise":
        return _labelled_rows(entry, config, run, data)
    if entry.protocol == "stream":
        return _stream_windows(config, run, data, data_format)
    raise ValueError(f"tfrec train reads interaction logs for next-item models, labelled rows for click "
                     f"models and interaction streams for stream models; {entry.name!r} ({entry.protocol} "
                     f"protocol) has no file reader here: train it from Python")


def _stream_windows(config, run, data, data_format):
    """The stream's chronological split in the model's time windows (JODIE's t-batch windows)."""
    from tfrec_pkg.data.stream_loading import load_stream
    from tfrec_pkg.data.tbatch_windows import WindowedStream

    if run["split"] not in (None, "temporal"):
        raise ValueError(f"split {run['split']!r}: a stream model's data splits in time order only ('temporal')")
    stream = load_stream(data, data_format)
    return WindowedStream.from_stream(stream, ratios=tuple(run["ratios"]), parts=config.windows).splits()


def _labelled_rows(entry, config, run, data):
    from tfrec_pkg.data.sequences import split_by_user, temporal_split
    from tfrec_pkg.data.synthetic.base import SyntheticData

    if isinstance(data, pd.DataFrame):
        frame = data
    else:  # checked chunk by chunk: a bad value names the file, line and column
        from tfrec_pkg.data import files
        from tfrec_pkg.data.pipelines import required_columns

        columns = required_columns(inputs_of(entry, config), "label")
        frame = pd.concat(list(files.read_chunks(str(data), columns, 65_536)), ignore_index=True)
    split = run["split"] or ("temporal" if "timestamp" in frame.columns else "by_user")
    ratios = tuple(run["ratios"])
    if split == "temporal":
        parts = temporal_split(frame, "timestamp", ratios)
    elif split == "by_user":
        parts = split_by_user(frame, "user_id", ratios, seed=run["seed"])
    else:
        raise ValueError(f"split {split!r} needs next-item rows; labelled rows split 'temporal' or 'by_user'")
    split_of = np.empty(len(frame), dtype="<U5")
    for name, part in zip(("train", "val", "test"), parts):
        split_of[frame.index.get_indexer(part.index)] = name
    return SyntheticData(frame.reset_index(drop=True), split_of, inputs_of(entry, config)).splits()


def train_run(model: str, data, out: str, *, data_format: str | None = None, items: str | None = None,
              config_file: str | None = None, sets=(), verbose="auto") -> dict:
    """Train ``model`` on ``data`` into the run directory ``out`` (module docstring) and return
    the test results row. An existing run directory of the same model continues: its weights
    and optimizer state are loaded and training goes on."""
    from tfrec_pkg.evaluation import evaluate
    from tfrec_pkg.models import registry, save_trained
    from tfrec_pkg.training import train

    entry = registry.entry(model)
    values = settings(config_file, sets)
    config, run = resolve(entry, values, config_file or "--set")
    strategy = distributed.strategy_from_env()  # the tasks that only serve a cluster stay here
    chief = distributed.is_chief(strategy)
    start = time.perf_counter()
    splits = load_splits(entry, config, run, data, data_format, items)
    os.makedirs(out, exist_ok=True)
    with strategy.scope():
        built = _run_model(entry, config, run, splits, out, model)
    resolved = {"model": model, "data": data if isinstance(data, str) else "<DataFrame>", "format": data_format,
                "items": items, **run, "config": config.to_dict()}
    if chief:
        _write_json(os.path.join(out, "config.json"), resolved)
    epochs = [EpochLog(os.path.join(out, "history.json"), len(splits[0]))] if chief else []
    train(built, splits[0], splits[1], checkpoint_dir=os.path.join(out, "checkpoints"),
          tensorboard_dir=os.path.join(out, "logs"), callbacks=epochs, verbose=verbose, seed=run["seed"])
    with distributed.write_dir(out, strategy) as directory:  # every worker saves (collectively)
        save_trained(built, directory)
    row = evaluate(built, splits[2], entry.protocol, ks=_ks(entry.protocol)).iloc[0].to_dict()
    row["seconds"] = round(time.perf_counter() - start, 1)
    if chief:
        _write_json(os.path.join(out, "results.json"), row)
    return row


def _run_model(entry, config, run, splits, out, model):
    """The run directory's model, trained further (same settings), or a new one."""
    from tfrec_pkg.models import load_trained
    from tfrec_pkg.models.optimizers import set_learning_rate

    if os.path.exists(os.path.join(out, "model.json")):
        built = load_trained(out, with_optimizer=True)
        if type(built) is not entry.model_class:
            raise ValueError(f"{out} holds a trained {type(built).__name__}, not {model!r}: choose another --out")
        changed = sorted(k for k, v in config.to_dict().items()
                         if k not in LOOP_SETTINGS and built.config.to_dict().get(k) != v)
        if changed:
            raise ValueError(f"{out} holds a model trained with other settings ({', '.join(changed)}): "
                             "continue it with the same settings (only the loop's may change: "
                             f"{', '.join(LOOP_SETTINGS)}), or choose another --out")
        built.config = config  # the loop's settings of this call
        set_learning_rate(built, getattr(config, "learning_rate", 1e-3))
    else:
        tf.keras.utils.set_random_seed(run["seed"])
        # a stream's number of features, delta statistics and time origin (stream models)
        built = entry.model_class(config, splits[0].vocab, **getattr(splits[0], "model_options", {}))
    return built


class EpochLog(tf.keras.callbacks.Callback):
    """Each epoch's logs, seconds and training rows/s, appended to a JSON list (rewritten whole
    after every epoch, so a continued run extends it)."""

    def __init__(self, path: str, rows: int):
        super().__init__()
        self.path, self.rows = path, rows

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.start
        entries = _read_json(self.path, [])
        entries.append({"epoch": len(entries) + 1, "seconds": round(seconds, 2),
                        "rows_per_second": round(self.rows / seconds, 1),
                        **{k: float(v) for k, v in (logs or {}).items()}})
        _write_json(self.path, entries)


def evaluate_run(run_dir: str, protocol: str | None = None, data=None, data_format: str | None = None,
                 verbose: bool = False) -> pd.DataFrame:
    """The results table of a trained run on its test split (or on ``data``'s, split the same
    way) under ``protocol`` (default: the model's)."""
    from tfrec_pkg.evaluation import evaluate
    from tfrec_pkg.models import load_trained, registry

    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir!r} is not a run directory: no config.json (tfrec train --out writes one)")
    with open(path) as f:
        resolved = json.load(f)
    entry = registry.entry(resolved["model"])
    model = load_trained(run_dir)
    source = data if data is not None else resolved["data"]
    run = {k: resolved.get(k, v) for k, v in RUN_SETTINGS.items()}
    items = resolved.get("items") if data is None else None
    _, _, test = load_splits(entry, model.config, run, source, data_format or resolved.get("format"), items)
    protocol = protocol or entry.protocol
    return evaluate(model, test, protocol, ks=_ks(protocol))


def _ks(protocol: str):
    return (5, 10, 20) if protocol in ("full_ranking", "sampled_ranking") else None


def _write_json(path: str, values: dict) -> None:
    """Written whole or not at all."""
    with atomic_write(path) as f:
        json.dump(values, f, indent=2, default=_plain)


def _read_json(path: str, default):
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else str(value)
