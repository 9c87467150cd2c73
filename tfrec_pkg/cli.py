"""The ``tfrec`` command: train, evaluate, models, demo, claims, bench, cluster, export, serve.

Parsing, ``--help`` and the check of model names run before TensorFlow is imported (seconds),
so that help and usage errors answer at once.
"""
from __future__ import annotations

import argparse
import sys

from tfrec_pkg import command_flags, model_names

# benchmarks of the serving or training stack rather than of one model (tfrec_pkg.bench.report.SERVING_BENCHES,
# which imports TensorFlow; tests/test_model_names.py keeps the two equal)
SERVING_BENCHES = ("serving_fuzz", "imn_serving", "cluster_training", "compiled_steps", "onednn")


def _listing(models, accepts=lambda m: True) -> str:
    return ", ".join(model_names.names(models, accepts))


def build_parser() -> argparse.ArgumentParser:
    models = model_names.declared()
    parser = argparse.ArgumentParser(
        prog="tfrec", description="Train, check, benchmark, export and serve the registered models.",
        epilog=f"`tfrec COMMAND --help` for a command's flags. Registered models: {_listing(models)}.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model on your own data file into a run directory",
                       description="Train a registered model on a data file (an interaction log for next-item "
                       "models, labelled rows for click models, an interaction stream for stream models; see "
                       "tfrec models), with early stopping, "
                       "per-epoch checkpoints that resume, TensorBoard logs in RUN_DIR/logs, and the trained "
                       "model in RUN_DIR for tools/export.py --weights RUN_DIR. Settings: the model's paper "
                       "defaults < --config FILE < --set key=value. An existing RUN_DIR continues training.")
    p.add_argument("--model", required=True, metavar="NAME", help=f"a registered model: {_listing(models)}")
    p.add_argument("--data", required=True, metavar="PATH", help="the data file (or directory, for RecBole atomic files)")
    p.add_argument("--format", metavar="F", help="the data's format (default: from the file name; "
                   "see tfrec_pkg.data.load_interactions, and load_stream for stream models), or a raw "
                   "format of the model's paper (tfrec models lists them)")
    p.add_argument("--items", metavar="PATH", help="item side information of a sequences file: the S3-Rec "
                   "item2attributes JSON (brand = the item's provider)")
    p.add_argument("--config", metavar="FILE", help="a YAML or JSON file of settings (config keys, split, seed, ratios)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="one setting on top of the file's, e.g. --set dropout=0.2 (repeatable)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="the run directory")
    command_flags.add_verbose(p)
    p.set_defaults(run=_train, parser=p)

    p = sub.add_parser("evaluate", help="evaluate a trained run directory; the paper-style table",
                       description="Evaluate the model of a run directory on its test split (or on --data's, "
                       "split the same way) and print the results table.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by tfrec train")
    p.add_argument("--protocol", choices=("full_ranking", "sampled_ranking", "pointwise", "stream"),
                   help="the evaluation protocol (default: the model's)")
    p.add_argument("--data", metavar="PATH", help="other data to evaluate on (default: the run's own)")
    p.add_argument("--format", metavar="F", help="--data's format")
    command_flags.add_verbose(p)
    p.set_defaults(run=_evaluate, parser=p)

    p = sub.add_parser("models", help="list the registered models: description, protocol, input columns",
                       description="List the registered models with their description, evaluation protocol "
                       "and input columns.")
    command_flags.add_verbose(p)
    p.set_defaults(run=_models, parser=p)

    p = sub.add_parser("demo", help="train and evaluate models on their planted data; one results table",
                       description="Train and evaluate models on their planted data and print one results "
                       "table with the Bayes-optimal reference.")
    p.add_argument("--models", nargs="+", default=["all"], metavar="NAME",
                   help=f"registered model names, or all (the default: {_listing(models, lambda m: m.in_demo)}); "
                   f"registered: {_listing(models)}")
    command_flags.add_quick(p, "small data, for a smoke run")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the weights and the shuffle (default 0)")
    command_flags.add_verbose(p)
    p.set_defaults(run=_demo, parser=p)

    p = sub.add_parser("claims", help="run a model's paper-claim checks",
                       description="Test each claim of the model's paper (one-sided paired t-tests over "
                       "5 seeds); exit status 1 when one fails. It prints first how long the model's "
                       "recorded run took, then the time left after each seed.")
    p.add_argument("name", metavar="NAME",
                   help=f"a model with claim checks: {_listing(models, lambda m: m.has_claims)}")
    command_flags.add_quick(p, "small data: shows the checks run; results indicative only, exit status 0")
    p.add_argument("--seed", type=int, default=0, help="first seed of the run (default 0)")
    p.add_argument("--record", metavar="CLAIMS_MD", nargs="?", const="CLAIMS.md",
                   help="write the results into the model's section of CLAIMS_MD (default CLAIMS.md; "
                   "full runs only)")
    command_flags.add_verbose(p)
    p.set_defaults(run=_claims, parser=p)

    p = sub.add_parser("bench", help="throughput / latency / memory benchmark of a model",
                       description="Benchmark a model (training examples/s, serving and REST latency, "
                       "peak memory) or the serving stack, and print the row. It says first how long the "
                       "same bench's newest timed row took (in FILE, else ./BENCHMARKS.md); the row ends "
                       "with this run's minutes (bench_minutes).")
    p.add_argument("name", metavar="NAME",
                   help=f"a registered model ({_listing(models)}) or a benchmark of the serving or training stack "
                   f"({', '.join(SERVING_BENCHES)})")
    p.add_argument("--out", metavar="FILE",
                   help="also append the row, with this command line, to FILE (e.g. BENCHMARKS.md); "
                   "default: print only")
    command_flags.add_quick(p, "fewer steps and calls, for a smoke run")
    command_flags.add_verbose(p)
    p.set_defaults(run=_bench, parser=p)

    p = sub.add_parser("cluster", help="run a command as every task of a local tf.distribute cluster",
                       usage="tfrec cluster [-h] --workers N [--ps M] [--chief | --no-chief] [--restarts R] "
                       "[--timeout S] [--grace S] -- COMMAND ...",
                       description="Start one process per task of a tf.distribute cluster on this machine, "
                       "each running COMMAND with its TF_CONFIG (free localhost ports), as a cluster manager "
                       "would; their output is merged, each line prefixed by its task. Workers only: "
                       "multi-worker mirrored training, done when every worker exits 0. With --ps: "
                       "parameter-server training with a chief (the coordinator), done when the chief exits "
                       "0 (the ps and worker tasks, which serve until killed, are then stopped). A failed "
                       "task is restarted while --restarts lasts; otherwise every task is stopped and the "
                       "exit status is the task's (128+N for signal N).",
                       epilog="example: tfrec cluster --workers 2 -- python train.py")
    p.add_argument("--workers", type=int, required=True, metavar="N", help="number of worker tasks (>= 1)")
    p.add_argument("--ps", type=int, default=0, metavar="M", help="number of parameter-server tasks (default 0)")
    p.add_argument("--chief", action=argparse.BooleanOptionalAction, default=None,
                   help="a chief task as well (default: with --ps only, where it is the coordinator)")
    p.add_argument("--restarts", type=int, default=0, metavar="R",
                   help="restarts of failed tasks allowed in all (default 0: the first failure ends the run)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="stop every task after S seconds, exit status 124 (default: no limit)")
    p.add_argument("--grace", type=float, default=10.0, metavar="S",
                   help="seconds a task has to exit after SIGTERM before SIGKILL (default 10)")
    p.add_argument("task_command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="the command every task runs, after --")
    p.set_defaults(run=_cluster, parser=p)

    # export and serve own their flags: main() hands the rest of the line over untouched
    sub.add_parser("export", help="export a model for TF Serving (tfrec export --help)", add_help=False)
    sub.add_parser("serve", help="local TF-Serving-compatible REST server (tfrec serve --help)", add_help=False)
    return parser


def _name_error(args) -> str | None:
    """The one-line usage error for a name the command has no model for, else None."""
    accepts, noun = (lambda m: True), "unknown model"
    if args.command in ("evaluate", "models"):
        return None
    if args.command == "train":
        given, valid = [args.model], "registered models"
    elif args.command == "demo":
        given, valid = [n for n in args.models if n != "all"], "registered models (or all)"
    elif args.command == "claims":
        given, valid = [args.name], "models with claim checks"
        accepts, noun = (lambda m: m.has_claims), "no claim checks for"
    else:
        given = [args.name] if args.name not in SERVING_BENCHES else []
        valid = f"stack benchmarks: {', '.join(SERVING_BENCHES)}; registered models"
    unknown = model_names.unknown(given, accepts)
    if not unknown:
        return None
    return f"{noun} {', '.join(map(repr, unknown))}; {valid}: {_listing(model_names.registered(), accepts)}"


def _train(args, argv) -> int:
    import json

    from tfrec_pkg import runs

    row = runs.train_run(args.model, args.data, args.out, data_format=args.format, items=args.items,
                         config_file=args.config,
                         sets=args.set, verbose=2 if not sys.stdout.isatty() else "auto")
    from tfrec_pkg import distributed

    if not distributed.is_chief(distributed.strategy_from_env()):  # a cluster's chief reports
        return 0
    print(json.dumps(row, indent=2, default=str))
    print(f"trained model in {args.out}; export with: tools/export.py --model {args.model} --weights {args.out} "
          f"--out saved_models/{args.model}")
    return 0


def _evaluate(args, argv) -> int:
    import pandas as pd

    from tfrec_pkg import runs

    table = runs.evaluate_run(args.run_dir, protocol=args.protocol, data=args.data, data_format=args.format)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(index=False))
    return 0


def _models(args, argv) -> int:
    from tfrec_pkg import runs

    for row in runs.model_table().itertuples():
        label = " label" if row.protocol == "pointwise" else ""
        raw = f"\n    raw formats (--format): {row.raw_formats}" if row.raw_formats else ""
        print(f"{row.model} ({row.protocol}): {row.description}\n    inputs: {row.inputs}{label}{raw}")
    return 0


def _demo(args, argv) -> int:
    import pandas as pd

    from tfrec_pkg import demo

    tables = demo.run(args.models, quick=args.quick, seed=args.seed)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print("\n" + demo.format_tables(tables))
    return 0


def _claims(args, argv) -> int:
    import time

    from tfrec_pkg import claims
    from tfrec_pkg.claims import record
    from tfrec_pkg.models import registry

    print(claims.estimate(args.name, args.quick), flush=True)
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
        seconds = time.perf_counter() - start
        record.write(args.record, args.name, results, command, args.seed, seconds)
        # the registration's claims_minutes is the estimate a later run prints first
        print(f"recorded in {args.record}; the run took {seconds / 60:.1f} min, "
              f"{args.name}'s registration says claims_minutes={registry.entry(args.name).claims_minutes}")
    return 0 if all(c.held for c in results) else 1


def _bench(args, argv) -> int:
    from tfrec_pkg import bench

    bench.main(args.name, out=args.out, quick=args.quick, command=" ".join(["tfrec", *argv]))
    return 0


def _cluster(args, argv) -> int:
    import signal

    from tfrec_pkg import cluster

    command = args.task_command[1:] if args.task_command[:1] == ["--"] else args.task_command
    if not command:
        args.parser.exit(2, f"{args.parser.prog}: error: no command: tfrec cluster --workers N -- COMMAND ...\n")
    try:
        local = cluster.LocalCluster(command, args.workers, ps=args.ps, chief=args.chief,
                                     restarts=args.restarts, grace=args.grace)
    except ValueError as err:
        args.parser.exit(2, f"{args.parser.prog}: error: {err}\n")

    def terminated(signum, frame):  # stop the tasks on the way out, as on Ctrl-C
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        local.start()
        return local.wait(args.timeout)
    except OSError as err:  # the command could not be started
        print(f"{args.parser.prog}: error: cannot start {command[0]!r}: {err.strerror or err}", file=sys.stderr)
        return 127
    except KeyboardInterrupt:
        print("[cluster] interrupted; stopped every task", file=sys.stderr)
        return 130
    finally:
        local.stop()
        signal.signal(signal.SIGTERM, previous)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":
        from tfrec_pkg.export.cli import main as export_main

        return export_main(argv[1:])
    if argv and argv[0] == "serve":
        from tfrec_pkg.serving.server import main as serve_main

        return serve_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    if args.command == "claims" and args.record and args.quick:
        args.parser.error(f"--record needs a full run (drop --quick, and unset {command_flags.QUICK_ENV})")
    if args.command == "cluster":  # a process launcher: TensorFlow runs in the tasks, not here
        return args.run(args, argv)
    if model_names.plugins_installed():  # their names are known once imported: TensorFlow loads first
        command_flags.load_tensorflow(args)
    problem = _name_error(args)
    if problem:
        args.parser.exit(2, f"{args.parser.prog}: error: {problem}\n")
    command_flags.load_tensorflow(args)
    if args.command not in ("train", "evaluate"):
        return args.run(args, argv)
    try:  # the user's data and settings: a problem with them is one line, not a traceback
        return args.run(args, argv)
    except (ValueError, FileNotFoundError) as err:
        args.parser.exit(1, f"{args.parser.prog}: error: {err}\n")


if __name__ == "__main__":
    sys.exit(main())
