"""The registered model names, known without importing TensorFlow.

A model registers itself when its module is imported (``tfrec_pkg.models.registry``), and that
import loads TensorFlow: seconds. The commands' ``--help`` lists the names and a mistyped name
is answered before TensorFlow loads, so the names are read here from the source of the
``registry.register("name", ..., in_demo=..., claims=...)`` calls in ``tfrec_pkg/models/``
(their name, ``in_demo`` and ``claims`` arguments are literals; tests/test_model_names.py checks
that what is read equals the registry). Models of other distributions (entry-point group
``tfrec_pkg.models``) are known only once imported: with such a plugin installed, a name not
found here is looked up in the registry.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.metadata
from pathlib import Path

ENTRY_POINT_GROUP = "tfrec_pkg.models"  # registry.ENTRY_POINT_GROUP, without importing the models
MODELS_DIR = Path(__file__).parent / "models"


@dataclasses.dataclass(frozen=True)
class Model:
    name: str
    in_demo: bool = True      # run by `tfrec demo` (all)
    has_claims: bool = False  # `tfrec claims NAME` has checks to run


def _literal(call: ast.Call, keyword: str, default):
    for k in call.keywords:
        if k.arg == keyword:
            return ast.literal_eval(k.value)
    return default


def _register_calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "register"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "registry"):
            yield node


@functools.cache
def declared() -> tuple[Model, ...]:
    """This package's models, sorted by name, read from ``tfrec_pkg/models/**/*.py``."""
    models = []
    for path in sorted(MODELS_DIR.rglob("*.py")):
        for call in _register_calls(path):
            name = ast.literal_eval(call.args[0])
            models.append(Model(name, _literal(call, "in_demo", True), _literal(call, "claims", None) is not None))
    return tuple(sorted(models, key=lambda m: m.name))


def plugins_installed() -> bool:
    return any(True for _ in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def registered() -> tuple[Model, ...]:
    """Every registered model, plugins included (imports them, and TensorFlow, when any is installed)."""
    if not plugins_installed():
        return declared()
    from tfrec_pkg.models import registry

    return tuple(Model(n, registry.entry(n).in_demo, registry.entry(n).claims is not None)
                 for n in registry.names())


def names(models, accepts=lambda m: True) -> list[str]:
    return [m.name for m in models if accepts(m)]


def unknown(given, accepts=lambda m: True) -> list[str]:
    """The names in ``given`` of no registered model that ``accepts``; the registry is imported only
    for a name this package does not declare while a plugin is installed."""
    missing = [n for n in given if n not in names(declared(), accepts)]
    if missing and plugins_installed():
        missing = [n for n in given if n not in names(registered(), accepts)]
    return missing
