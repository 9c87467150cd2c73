"""The library's imports run one way (tfrec_pkg/README.md): a walk over every import in
tfrec_pkg -- module level and inside functions -- fails on a layer that imports upwards and
on any import cycle."""
from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tfrec_pkg")

# layer -> the layers it must never import
FORBIDDEN = {
    "data": ("models", "export", "serving", "claims", "bench", "experiment"),
    "layers": ("models", "export", "serving", "claims", "bench", "experiment"),
    "models": ("export", "serving", "claims", "bench", "experiment"),
}


def _modules() -> dict[str, str]:
    """{dotted module name: path} for every module of tfrec_pkg."""
    out = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), os.path.dirname(ROOT))[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join(rel)] = os.path.join(folder, f)
    return out


def import_graph() -> dict[str, set[str]]:
    """{module: the tfrec_pkg modules it imports}; ``from a import b`` names a.b when b is a module."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                for a in node.names:
                    targets.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports(graph) -> list[str]:
    return sorted(f"{m} imports {t}" for m, targets in graph.items() for t in targets
                  if _layer(t) in FORBIDDEN.get(_layer(m), ()))


def cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_layer_imports_upwards():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("fake, found", [
    ({"tfrec_pkg.data.x": {"tfrec_pkg.models.y"}, "tfrec_pkg.models.y": set()}, "upward"),
    ({"tfrec_pkg.a": {"tfrec_pkg.b"}, "tfrec_pkg.b": {"tfrec_pkg.a"}}, "cycle"),
])
def test_the_checks_catch_what_they_look_for(fake, found):
    assert (upward_imports(fake) if found == "upward" else cycles(fake))


def test_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "tfrec_pkg.models.registry" in graph["tfrec_pkg.models.persistence"]
    assert "tfrec_pkg.models.persistence" in graph["tfrec_pkg.models.recmodel"]  # a lazy import
