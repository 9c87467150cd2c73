"""Trained-model directories: what ``tools/export.py --weights DIR`` reads.

    DIR/model.json       registered model name, config, vocabularies (``RecModel.get_config``)
    DIR/weights/ckpt*    a TF checkpoint of every variable

``model.json`` is written last, through a temporary file and a rename, so a directory that
has one always has the weights it describes.
"""
from __future__ import annotations

import json
import os

from tfrec_pkg.models import registry


def save_trained(model, directory: str) -> str:
    """Write ``model.json`` and ``weights/ckpt`` into ``directory``; returns ``directory``."""
    os.makedirs(directory, exist_ok=True)
    model(model.example_batch())  # make sure every variable exists
    meta = {"model": registry.name_of(type(model)), **model.get_config()}
    tmp = os.path.join(directory, "model.json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f)
    model.save_weights(os.path.join(directory, "weights", "ckpt"))
    os.replace(tmp, os.path.join(directory, "model.json"))
    return directory


def load_trained(directory: str):
    """The model that :func:`save_trained` wrote, rebuilt from its registered class."""
    path = os.path.join(directory, "model.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{directory!r} is not a trained-model directory: no model.json "
                                "(write one with model.save_trained(directory))")
    with open(path) as f:
        meta = json.load(f)
    model = registry.get(meta["model"]).from_config(meta)
    model(model.example_batch())
    model.load_weights(os.path.join(directory, "weights", "ckpt")).expect_partial()
    return model
