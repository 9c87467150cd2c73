"""What ``tfrec serve`` says about a model's base path before it starts.

TF Serving's layout is ``BASE/<version>/saved_model.pb``. A base path that does not exist yet, or
holds no version yet, is legitimate: the server waits for the first export (as TF Serving does),
with a warning that says so. A path that can never hold a version (a file, a SavedModel directory
itself, a directory of model directories) is a mistake, named before the server starts.
"""
from __future__ import annotations

import os
import re

_VERSION = re.compile(r"^\d+$")


def _has_version(path: str) -> bool:
    return any(_VERSION.match(entry) and os.path.isfile(os.path.join(path, entry, "saved_model.pb"))
               for entry in os.listdir(path))


def check(model_name: str, base_path: str) -> str | None:
    """Raises ValueError (one line: what was found, what to serve instead) for a path that cannot
    be a base path; returns the warning for one with no version yet; None when it has versions."""
    where = f"base path {base_path} of model {model_name}"
    if os.path.isfile(base_path):
        raise ValueError(f"{where} is a file; expected a directory of versions <version>/saved_model.pb")
    if os.path.isfile(os.path.join(base_path, "saved_model.pb")):
        path = os.path.normpath(base_path)
        if _VERSION.match(os.path.basename(path)):
            parent = os.path.dirname(path) or os.path.dirname(os.path.abspath(path))
            raise ValueError(f"{where} is a version directory (it holds saved_model.pb); serve its parent: {parent}")
        raise ValueError(f"{where} holds saved_model.pb itself; a base path holds versions "
                         f"<version>/saved_model.pb: move the SavedModel into {os.path.join(path, '1')}")
    if not os.path.isdir(base_path):
        state = "does not exist yet"
    elif _has_version(base_path):
        return None
    else:
        models = sorted(e for e in os.listdir(base_path) if os.path.isdir(os.path.join(base_path, e))
                        and _has_version(os.path.join(base_path, e)))
        if models:
            raise ValueError(f"{where} holds model directories ({', '.join(models)}), not versions; serve one: "
                             f"{os.path.join(base_path, models[0])}")
        state = "holds no version yet" if os.listdir(base_path) else "is empty"
    return (f"{where} {state}: waiting for its first version "
            f"{os.path.join(base_path, '<version>', 'saved_model.pb')} (e.g. from `tfrec export --out {base_path} ...`)")
