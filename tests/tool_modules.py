"""The scripts of tools/ as modules, for the tests of their pure parts."""
from __future__ import annotations

import importlib.util
import os
import sys

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")


def load(name: str):
    """tools/NAME.py imported as module NAME; tools/ is on sys.path while it loads (a tool may
    import its siblings)."""
    sys.path.insert(0, TOOLS)
    try:
        spec = importlib.util.spec_from_file_location(name, os.path.join(TOOLS, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(TOOLS)
    return module
