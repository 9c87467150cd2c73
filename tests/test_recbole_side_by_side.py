"""The pure parts of tools/recbole_side_by_side.py (RecBole itself is not installed here): the
atomic file it writes for RecBole and the time-to-accuracy comparison."""
from __future__ import annotations

import pytest

import tool_modules


@pytest.fixture(scope="module")
def tool():
    return tool_modules.load("recbole_side_by_side")


def test_atomic_file_is_recbole_inter_format_in_time_order(tool, tmp_path):
    sequences = tmp_path / "seqs.txt"
    sequences.write_text("1 10 11 12 13\n2 11 14 10\n\n3 15\n")
    rows = tool.read_sequences(str(sequences))
    assert rows == [["1", "10", "11", "12", "13"], ["2", "11", "14", "10"], ["3", "15"]]
    path = tool.write_atomic(rows, str(tmp_path / "atomic"), dataset="toys")
    assert path == str(tmp_path / "atomic" / "toys" / "toys.inter")
    # header of typed fields, tab separated; one row per event, timestamp = position in the
    # sequence: RecBole's order TO + LS valid_and_test then holds out the same items as ours
    # (the last item for test, the one before for validation)
    assert open(path).read() == (
        "user_id:token\titem_id:token\ttimestamp:float\n"
        "1\t10\t0\n1\t11\t1\n1\t12\t2\n1\t13\t3\n"
        "2\t11\t0\n2\t14\t1\n2\t10\t2\n"
        "3\t15\t0\n")
    assert tool.read_sequences(str(sequences), max_users=2) == rows[:2]


def history(*points):
    return [{"epoch": i + 1, "wall_s": s, "val_ndcg10": v} for i, (s, v) in enumerate(points)]


def test_time_to_target_from_two_histories(tool):
    ours = history((10, 0.010), (10, 0.030), (10, 0.040))     # best 0.040
    theirs = history((50, 0.020), (50, 0.034), (50, 0.036))  # best 0.036: the lower one
    result = tool.compare_time_to_target(ours, theirs)
    assert result["target"] == pytest.approx(0.95 * 0.036)   # 0.0342
    assert result["ours_s"] == 30 and result["theirs_s"] == 150   # first epoch at >= 0.0342, cumulative
    assert result["ratio"] == pytest.approx(30 / 150)
    assert tool.time_to_target(ours, 0.030) == 20             # reaching it exactly counts


def test_a_side_that_never_reaches_the_target_is_not_a_number(tool):
    ours = history((10, 0.010), (10, 0.030))
    theirs = history((50, 0.020), (50, 0.036))
    result = tool.compare_time_to_target(ours, theirs, target=0.035)
    assert result == {"target": 0.035, "ours_s": None, "theirs_s": 100, "ratio": None}
    assert tool.fmt(result["ratio"], ".3f") == "not reached"
    assert tool.fmt(result["theirs_s"], ".0f") == "100"


def test_steady_rate_leaves_out_the_first_epoch(tool):
    assert tool.steady_rate([{"rows_per_s": 100}, {"rows_per_s": 900}, {"rows_per_s": 1100}]) == 1000
    assert tool.steady_rate([{"rows_per_s": 100}]) == 100
    assert tool.steady_rate([]) is None


def test_a_saved_run_reports_the_row_its_own_run_would_have_written(tool, tmp_path):
    """Every finished run saves result.json; ``--report`` appends the same BENCHMARKS.md table,
    under the command that made the run, as ``--out`` on the run itself."""
    ready = {"versions": {"recbole": "1.2.1", "torch": "2", "numpy": "2"}, "threads": 2, "omp_wait_policy": "PASSIVE",
             "anomaly_on_import": True, "numpy_shims": ["float_"], "train_rows": 1000}
    side = lambda ready, hr: {"ready": ready, "epochs": history((10, 0.02), (10, 0.03)),  # noqa: E731
                              "done": {"test_hr10": hr, "test_ndcg10": hr / 2}}
    result = {"sides": {"recbole": side(ready, 0.08),
                        "ours_all": side({"versions": {"tfrec": "0.1", "tensorflow": "2.21"}, "train_rows": 200}, 0.07)},
              "tta": {"target": 0.0285, "ours_s": 20, "theirs_s": 40, "ratio": 0.5},
              "rates": {"recbole": 100.0}, "rows_ratio": None, "users": 3}
    args = tool.argparse.Namespace(target=None, fraction=0.95)
    command = "python tools/recbole_side_by_side.py --epochs 2"
    tool.write_benchmarks(str(tmp_path / "direct.md"), args, result, command)
    tool.save_result(str(tmp_path / "result.json"), args, result, command)
    assert tool.main(["--report", str(tmp_path / "result.json"), "--out", str(tmp_path / "reported.md")]) == 0
    direct, reported = (tmp_path / "direct.md").read_text(), (tmp_path / "reported.md").read_text()
    assert reported == direct and f"`{command}`" in reported and "| 0.500 |" in reported
    with pytest.raises(SystemExit):  # nothing to append to
        tool.main(["--report", str(tmp_path / "result.json")])
