#!/usr/bin/env python
"""Benchmark a registered model and append the result to BENCHMARKS.md.

    python tools/bench.py base_model [--out BENCHMARKS.md] [--quick]
"""
import argparse
import sys

import tfrec_pkg  # noqa: F401  (sets the Keras-2 environment before TensorFlow loads)
from tfrec_pkg import bench


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("--out", default="BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    bench.main(args.name, out=args.out, quick=args.quick,
               command="python tools/bench.py " + " ".join(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
