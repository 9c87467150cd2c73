"""Trained-model directories: what ``tools/export.py --weights DIR`` reads.

    DIR/model.json       registered model name, config, vocabularies (``RecModel.get_config``)
    DIR/weights/ckpt*    a TF checkpoint of every variable, the optimizer's included (its step
                         count and moments) when the model was compiled

``model.json`` is written last, through a temporary file and a rename, so a directory that
has one always has the weights it describes.
"""
from __future__ import annotations

import json
import os

from tfrec_pkg.atomic_files import atomic_write
from tfrec_pkg.models import registry


def save_trained(model, directory: str) -> str:
    """Write ``model.json`` and ``weights/ckpt`` into ``directory``; returns ``directory``."""
    os.makedirs(directory, exist_ok=True)
    model(model.example_batch())  # make sure every variable exists
    meta = {"model": registry.name_of(type(model)), **model.get_config()}
    model.save_weights(os.path.join(directory, "weights", "ckpt"))
    with atomic_write(os.path.join(directory, "model.json")) as f:   # last: a model.json means weights
        json.dump(meta, f)
    return directory


def load_trained(directory: str, *, with_optimizer: bool = False):
    """The model that :func:`save_trained` wrote, rebuilt from its registered class.
    ``with_optimizer=True`` also compiles it with the config's optimizer (Adam, or the config's
    ``optimizer`` / ``embedding_optimizer``, at its learning rate: ``models.optimizers``) and
    restores the optimizer's state, so that training continues where it stopped (same step
    count and moments) instead of starting a fresh optimizer."""
    path = os.path.join(directory, "model.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{directory!r} is not a trained-model directory: no model.json "
                                "(write one with model.save_trained(directory))")
    with open(path) as f:
        meta = json.load(f)
    model = registry.get(meta["model"]).from_config(meta)
    model(model.example_batch())
    if with_optimizer:
        from tfrec_pkg.models.optimizers import build_slots, make_optimizer

        model.compile(optimizer=make_optimizer(model))
        build_slots(model.optimizer, model.trainable_variables)  # restored now, not on the first step
    model.load_weights(os.path.join(directory, "weights", "ckpt")).expect_partial()
    return model
