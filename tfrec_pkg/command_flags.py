"""Flags the commands share: ``--quick`` (small data; on by default when ``TFREC_QUICK=1``, so a
whole walk-through such as the README's runs at smoke-test size) and ``--verbose``
(TensorFlow's start-up logs, hidden otherwise: ``tf_logs``)."""
from __future__ import annotations

import argparse
import os

from tfrec_pkg.tf_logs import import_tensorflow_quietly

QUICK_ENV = "TFREC_QUICK"


def quick_by_default() -> bool:
    return os.environ.get(QUICK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def add_quick(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--quick", action="store_true", default=quick_by_default(),
                        help=f"{help} (the default when {QUICK_ENV}=1)")


def add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up and C++ log lines (hidden by default)")


def load_tensorflow(args: argparse.Namespace) -> None:
    """Import TensorFlow for a parsed command line: without its start-up logs unless --verbose."""
    if not args.verbose:
        import_tensorflow_quietly()
