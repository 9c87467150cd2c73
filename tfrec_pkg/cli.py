"""The ``tfrec`` command: demo, claims, bench, export, serve."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tfrec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="train and evaluate registered models on their planted data")
    p.add_argument("--models", nargs="+", default=["all"], help="model names or 'all'")
    p.add_argument("--quick", action="store_true", help="small data, for a smoke run")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("claims", help="run a model's paper-claim checks")
    p.add_argument("name")
    p.add_argument("--quick", action="store_true",
                   help="small data: shows the checks run; its results are indicative only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--record", metavar="CLAIMS_MD", nargs="?", const="CLAIMS.md",
                   help="write the results into the model's section of CLAIMS.md (full runs only)")

    p = sub.add_parser("bench", help="throughput / latency / memory benchmark -> BENCHMARKS.md")
    p.add_argument("name")
    p.add_argument("--out", default="BENCHMARKS.md")
    p.add_argument("--quick", action="store_true")

    sub.add_parser("export", help="export a model for TF Serving (see tools/export.py --help)",
                   add_help=False)
    sub.add_parser("serve", help="local TF-Serving-compatible REST server", add_help=False)

    argv = list(sys.argv[1:] if argv is None else argv)
    # export/serve own their flags: hand the rest of the line over untouched.
    if argv and argv[0] in ("export", "serve"):
        if argv[0] == "export":
            from tfrec_pkg.export.cli import main as export_main

            return export_main(argv[1:])
        from tfrec_pkg.serving.server import main as serve_main

        return serve_main(argv[1:]) or 0
    args = parser.parse_args(argv)

    if args.command == "demo":
        import pandas as pd

        from tfrec_pkg import demo

        table = demo.run(args.models, quick=args.quick, seed=args.seed)
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        return 0
    if args.command == "claims":
        import time

        from tfrec_pkg import claims
        from tfrec_pkg.claims import record

        if args.record and args.quick:
            parser.error("--record needs a full run (drop --quick)")
        start = time.perf_counter()
        results = claims.run(args.name, quick=args.quick, seed=args.seed)
        print(claims.table(results).to_string(index=False))
        if args.quick:  # a size at which a claim may miss for lack of data: not a verdict
            print(claims.summary(results) + " -- indicative (quick): the verdict is "
                  f"`tfrec claims {args.name}`")
            return 0
        print(claims.summary(results))
        if args.record:
            command = f"tfrec claims {args.name}" + (f" --seed {args.seed}" if args.seed else "")
            record.write(args.record, args.name, results, command, args.seed, time.perf_counter() - start)
            print(f"recorded in {args.record}")
        return 0 if all(c.held for c in results) else 1
    if args.command == "bench":
        from tfrec_pkg import bench

        bench.main(args.name, out=args.out, quick=args.quick, command=" ".join(["tfrec"] + argv))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
