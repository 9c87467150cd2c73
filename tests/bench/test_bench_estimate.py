"""``tfrec bench NAME`` says first how long it will take: the minutes that end the newest row of
the same bench (``--quick`` or not) in the file it appends to, or ./BENCHMARKS.md
(tfrec_pkg/bench/report.py: ``estimate``, ``timed_rows``)."""
import datetime

from tfrec_pkg.bench import report
from tfrec_pkg.bench.timing import machine

TODAY = datetime.date.today().isoformat()


def _benchmarks(path):
    """An old table without run times, then timed rows of several benches, as ``--out`` writes them."""
    path.write_text("# Benchmarks\n\n| date | command | machine | model | train_examples_per_s |\n|---|---|---|---|---|\n"
                    "| 2026-11-23 | `python tools/bench.py base_model` | Intel, 2 cores | base_model | 20210 |\n")
    for command, minutes in [("tfrec bench base_model --out B.md", 12.0),
                             ("tfrec bench base_model --quick --out B.md", 3.0),
                             ("tfrec bench ipsrec --out B.md", 40.0),
                             ("python tools/bench.py base_model --out B.md", 20.0),
                             ("tfrec bench sum_state --out B.md", 7.0)]:
        report.append_markdown({"model": "m", "train_examples_per_s": 1, report.MINUTES: minutes}, str(path), command)


def test_the_estimate_is_the_newest_timed_row_of_the_same_bench(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    _benchmarks(path)
    assert [row[report.MINUTES] for row in report.timed_rows(str(path))] == ["12.0", "3.0", "40.0", "20.0", "7.0"]
    where = f"(its last timed run in {path}: {TODAY}, {machine()})"
    assert report.estimate("base_model", False, str(path)) == f"bench base_model: about 20 min {where}"
    assert report.estimate("base_model", True, str(path)) == f"bench base_model --quick: about 3 min {where}"
    assert report.estimate("ipsrec", False, str(path)) == f"bench ipsrec: about 40 min {where}"
    # a name is a whole word of the command (sum_state's row is not sum's), and an untimed row does not count
    assert report.estimate("sum", False, str(path)).startswith(f"bench sum: no timed run in {path} to go by")
    assert report.estimate("ipsrec", True, str(path)).startswith("bench ipsrec --quick: no timed run")
    assert report.estimate("base_model", False, str(tmp_path / "missing.md")).startswith("bench base_model: no timed run")


def test_a_run_ends_its_row_with_its_minutes_and_the_next_run_starts_from_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "measure", lambda name, quick: {"model": name, "train_examples_per_s": 1})
    out = str(tmp_path / "B.md")
    first = report.main("base_model", out=out, quick=True, command="tfrec bench base_model --quick --out B.md")
    assert list(first) == ["model", "train_examples_per_s", report.MINUTES] and first[report.MINUTES] < 0.1
    assert capsys.readouterr().out.startswith(f"bench base_model --quick: no timed run in {out}")
    report.main("base_model", out=out, quick=True, command="tfrec bench base_model --quick --out B.md")
    assert capsys.readouterr().out.startswith(f"bench base_model --quick: about 0 s (its last timed run in {out}: {TODAY}")
    # without --out the estimate comes from ./BENCHMARKS.md (none here), and nothing is written
    monkeypatch.chdir(tmp_path)
    report.main("base_model", quick=True)
    assert capsys.readouterr().out.startswith("bench base_model --quick: no timed run in BENCHMARKS.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B.md"]
