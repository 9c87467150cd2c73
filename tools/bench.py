#!/usr/bin/env python
"""`tfrec bench` as a script: benchmark a registered model (or a serving benchmark) and print the
row; `--out BENCHMARKS.md` also appends it there.

    python tools/bench.py base_model [--out BENCHMARKS.md] [--quick]
"""
import sys

import tfrec_pkg  # noqa: F401  (sets the Keras-2 environment before TensorFlow loads)
from tfrec_pkg.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
