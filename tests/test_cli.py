"""The `tfrec` command line (tfrec_pkg/cli.py) in subprocesses, as users run it."""
import argparse
import os
import subprocess
import sys

import pytest

from tfrec_pkg import cli, model_names
from tfrec_pkg.export.cli import build_parser as export_parser
from tfrec_pkg.serving.server import build_parser as serve_parser


TFREC = [sys.executable, "-m", "tfrec_pkg.cli"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, cwd=None, timeout=600):
    return subprocess.run([*TFREC, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


# runs tfrec's main() in a fresh interpreter and reports whether TensorFlow was imported
WITHOUT_TENSORFLOW = """import sys
from tfrec_pkg.cli import main
try:
    main(sys.argv[1:])
finally:
    assert "tensorflow" not in sys.modules, "TensorFlow was imported"
"""


def _run_without_tensorflow(*args):
    return subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("command", [[], ["demo"], ["claims"], ["bench"], ["export"], ["serve"]])
def test_help_answers_without_tensorflow(command):
    proc = _run_without_tensorflow(*command, "--help")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]
    assert proc.stdout.startswith(f"usage: {' '.join(['tfrec', *command])} ")


def test_help_lists_the_model_names_each_command_accepts():
    every = model_names.names(model_names.declared())
    with_claims = model_names.names(model_names.declared(), lambda m: m.has_claims)
    for command, names in (("demo", every), ("claims", with_claims), ("bench", [*every, "serving_fuzz"])):
        text = " ".join(_run_without_tensorflow(command, "--help").stdout.split())
        assert all(name in text for name in names), (command, text)


def _subparsers(parser):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("parser", [*_subparsers(cli.build_parser()).values(), export_parser(), serve_parser()],
                         ids=lambda p: p.prog)
def test_every_argument_has_help(parser):
    missing = [a.dest for a in parser._actions if not a.help]
    assert not missing, f"{parser.prog}: no help for {missing}"


@pytest.mark.parametrize("args, names", [
    (["demo", "--models", "base_model", "deepfm"], "registered models (or all): base_model,"),
    (["claims", "deepfm"], "models with claim checks: base_model, imn_net, iprec, ipsrec, musenet, sum"),
    (["claims", "gru4rec"], "models with claim checks: base_model,"),
    (["bench", "deepfm"], "stack benchmarks: serving_fuzz, imn_serving, cluster_training, compiled_steps, onednn; registered models: base_model,"),
    (["export", "--model", "deepfm", "--train-synthetic", "--out", "x"], "registered models: base_model,"),
])
def test_unknown_model_is_one_line_and_exit_2_before_tensorflow(args, names):
    proc = _run_without_tensorflow(*args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-2000:]
    name = args[-1] if args[0] in ("claims", "bench") else "deepfm"
    assert f"'{name}'" in proc.stderr and names in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("layout, expected", [
    ("saved_models/m/1", "is a version directory (it holds saved_model.pb); serve its parent: saved_models/m"),
    ("saved_models", "holds model directories (m), not versions; serve one: saved_models/m"),
])
def test_serve_on_a_path_without_versions_exits_1(tmp_path, layout, expected):
    (tmp_path / "saved_models" / "m" / "1").mkdir(parents=True)
    (tmp_path / "saved_models" / "m" / "1" / "saved_model.pb").write_bytes(b"")
    proc = subprocess.run([*TFREC, "serve", "--model-name", "m", "--model-base-path", layout, "--port", "0"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.returncode == 1 and proc.stderr == f"error: base path {layout} of model m {expected}\n"


def test_commands_hide_tensorflow_start_up_logs_unless_verbose(tmp_path):
    args = ["export", "--model", "base_model", "--weights", str(tmp_path / "none"), "--out", str(tmp_path / "x")]
    quiet = _run(*args)
    assert quiet.returncode == 1 and quiet.stderr.startswith("export failed:") and quiet.stderr.count("\n") == 1
    verbose = _run(*args, "--verbose")
    # TensorFlow 2.21 prints "All log messages before absl::InitializeLog() ..." and more while it loads
    assert verbose.returncode == 1 and verbose.stderr.count("\n") > 1


def test_demo_quick_prints_results_table():
    proc = _run("demo", "--quick", "--models", "base_model")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "absl::InitializeLog" not in proc.stderr and "cuda" not in proc.stderr.lower()  # start-up logs hidden
    header = next(l for l in proc.stdout.splitlines() if l.strip().startswith("model"))
    for column in ("auc", "gauc", "logloss", "bayes_auc", "train_seconds"):
        assert column in header.split()
    row = next(l for l in proc.stdout.splitlines() if l.strip().startswith("base_model"))
    values = dict(zip(header.split(), row.split()))
    assert 0.5 < float(values["auc"]) <= float(values["bayes_auc"]) + 0.02


def test_quick_claims_print_table_and_an_indicative_summary():
    proc = _run("claims", "base_model", "--quick")
    lines = proc.stdout.strip().splitlines()
    # what it says of its time: first, then after each seed
    assert lines[0].startswith("claims base_model --quick: 5 seeds, "), proc.stdout
    assert "seed 0: done (1 of 5), " in proc.stdout and "left for the other seeds" in proc.stdout
    assert lines[-1].startswith("claims: ") and "held" in lines[-1], proc.stdout + proc.stderr[-2000:]
    held, failed = [int(w) for w in lines[-1].split(" -- ")[0].replace(",", "").split() if w.isdigit()]
    assert held + failed >= 1
    # quick data is too small for a verdict: labelled, and never a failing exit
    assert "indicative (quick)" in lines[-1] and proc.returncode == 0
    assert "lift_ratio" in proc.stdout


def test_record_needs_a_full_run(tmp_path):
    proc = _run("claims", "base_model", "--quick", "--record", str(tmp_path / "CLAIMS.md"))
    assert proc.returncode == 2 and "--record needs a full run" in proc.stderr
    assert not (tmp_path / "CLAIMS.md").exists()


def test_record_prints_the_runs_minutes_beside_the_registered_estimate(tmp_path, monkeypatch, capsys):
    """A record tells how long it took and what the registration says (``claims_minutes``, the
    estimate the next run prints first), so that the two can be kept together."""
    from tfrec_pkg import claims

    monkeypatch.setattr(claims, "run", lambda name, quick, seed: claims.Claims([claims.Claim(name, "A > B", True, {})]))
    path = tmp_path / "CLAIMS.md"
    assert cli.main(["claims", "base_model", "--record", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"recorded in {path}; the run took 0.0 min, base_model's registration says claims_minutes=4.1" in out
    assert "**1 held, 0 failed**" in path.read_text()


def test_bench_prints_the_row_and_writes_only_the_file_named_by_out(tmp_path, monkeypatch, capsys):
    from tfrec_pkg.bench import report

    monkeypatch.setattr(report, "measure", lambda name, quick: {"model": name, "train_examples_per_s": 1})
    monkeypatch.chdir(tmp_path)
    report.main("base_model", quick=True)
    assert "train_examples_per_s: 1" in capsys.readouterr().out and os.listdir(tmp_path) == []


def test_bench_appends_a_row(tmp_path):
    out = tmp_path / "BENCH.md"
    proc = _run("bench", "base_model", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "train_examples_per_s" in text and "matmul_gflops" in text
    row = text.strip().splitlines()[-1]
    assert "tfrec bench base_model" in row and row.count("|") > 10
    # the first line says how long it will take (no timed run in a new file); the row ends with the run's minutes
    assert proc.stdout.startswith(f"bench base_model --quick: no timed run in {out} to go by")
    assert text.strip().splitlines()[-3].endswith("| bench_minutes |") and float(row.split("|")[-2]) > 0
