#!/usr/bin/env python
"""Export a registered model as a versioned SavedModel for TF Serving: `tfrec export` (see --help)."""
import sys

import tfrec_pkg  # noqa: F401  (sets the Keras-2 environment before TensorFlow loads)
from tfrec_pkg.export.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="tools/export.py"))
