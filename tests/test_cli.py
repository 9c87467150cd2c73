"""The `tfrec` command line (tfrec_pkg/cli.py) in subprocesses, as users run it."""
import os
import subprocess
import sys


TFREC = [sys.executable, "-m", "tfrec_pkg.cli"]


def _run(*args, cwd=None, timeout=600):
    return subprocess.run([*TFREC, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def test_demo_quick_prints_results_table():
    proc = _run("demo", "--quick", "--models", "base_model")
    assert proc.returncode == 0, proc.stderr[-3000:]
    header = next(l for l in proc.stdout.splitlines() if l.strip().startswith("model"))
    for column in ("auc", "gauc", "logloss", "bayes_auc", "train_seconds"):
        assert column in header.split()
    row = next(l for l in proc.stdout.splitlines() if l.strip().startswith("base_model"))
    values = dict(zip(header.split(), row.split()))
    assert 0.5 < float(values["auc"]) <= float(values["bayes_auc"]) + 0.02


def test_quick_claims_print_table_and_an_indicative_summary():
    proc = _run("claims", "base_model", "--quick")
    lines = proc.stdout.strip().splitlines()
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


def test_claims_unknown_model_fails():
    proc = _run("claims", "nope")
    assert proc.returncode != 0 and "no claim checks for 'nope'" in proc.stderr


def test_bench_appends_a_row(tmp_path):
    out = tmp_path / "BENCH.md"
    proc = _run("bench", "base_model", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "train_examples_per_s" in text and "matmul_gflops" in text
    row = text.strip().splitlines()[-1]
    assert "tfrec bench base_model" in row and row.count("|") > 10
