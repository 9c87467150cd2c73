"""CLAIMS.md sections are written by `tfrec claims NAME --record` (tfrec_pkg/claims/record.py):
the recorded block is replaced, the section's notes and change log are kept."""
import pandas as pd

from tfrec_pkg.bench import timing
from tfrec_pkg.claims import Claim, Claims, means
from tfrec_pkg.claims import record

CLAIMS = [Claim("m", "A > B (one-sided paired test)", True, {"mean_diff": 0.0123456, "seeds": 5}),
          Claim("m", "C > D", False, {"p_value": 0.2})]

EXISTING = """# Paper-claim checks: recorded results

## m -- planted data

Notes about the planted data.

### Change log
- 2026-11-24: generator changed, before 0.91 / after 0.93.

## other

Other model's notes.
"""


def test_first_record_goes_under_the_heading_and_keeps_the_notes(tmp_path):
    path = tmp_path / "CLAIMS.md"
    path.write_text(EXISTING)
    record.write(str(path), "m", CLAIMS, "tfrec claims m", seed=0, seconds=90)
    text = path.read_text()
    assert text.index("## m -- planted data") < text.index(record.BEGIN.format(name="m")) < text.index("Notes about")
    assert "| A > B (one-sided paired test) | yes | mean_diff 0.01235, seeds 5 |" in text
    assert "| C > D | **no** | p_value 0.2 |" in text
    assert "**1 held, 1 failed**" in text and "`tfrec claims m` -- base seed 0, commit " in text
    assert f", {timing.machine()}, 1.5 min:" in text  # the machine and its kernels (oneDNN or not)
    assert "before 0.91 / after 0.93" in text and "Other model's notes." in text


def test_a_second_record_replaces_only_the_block(tmp_path):
    path = tmp_path / "CLAIMS.md"
    path.write_text(EXISTING)
    record.write(str(path), "m", CLAIMS, "tfrec claims m", seed=0, seconds=90)
    record.write(str(path), "m", CLAIMS[:1], "tfrec claims m --seed 7", seed=7, seconds=60)
    text = path.read_text()
    assert text.count(record.BEGIN.format(name="m")) == 1 and "C > D" not in text
    assert "base seed 7" in text and "**1 held, 0 failed**" in text
    assert "before 0.91 / after 0.93" in text and "## other" in text


def test_a_model_without_a_section_gets_one(tmp_path):
    path = tmp_path / "CLAIMS.md"
    record.write(str(path), "new", CLAIMS, "tfrec claims new", seed=0, seconds=1)
    text = path.read_text()
    assert text.startswith("# Paper-claim checks") and "\n## new\n" in text
    assert record.END.format(name="new") in text


def test_the_per_model_means_go_into_the_block(tmp_path):
    table = pd.DataFrame({"model": ["A", "A", "B", "B", "Bayes"], "seed": [0, 1, 0, 1, 0],
                          "auc": [0.7, 0.8, 0.6, 0.6, 0.9], "logloss": [0.5, 0.4, 0.6, 0.6, None]})
    path = tmp_path / "CLAIMS.md"
    record.write(str(path), "m", Claims(CLAIMS, means(table, ("auc", "logloss"))), "tfrec claims m", seed=0, seconds=1)
    text = path.read_text()
    assert "| model | auc | auc sd | logloss | logloss sd |" in text
    assert "| A | 0.7500 | 0.0707 | 0.4500 | 0.0707 |" in text and "| B | 0.6000 | 0.0000 | 0.6000 | 0.0000 |" in text
    assert "| Bayes | 0.9000 |  |  |  |" in text  # one seed, no logloss: blank cells, not "nan"
    assert text.index("| C > D |") < text.index("| model | auc") < text.index(record.END.format(name="m"))


def test_reported_tables_go_into_the_block(tmp_path):
    sweep = pd.DataFrame({"version": ["soft", "soft"], "K": [1, 4], "beta": [0.5, 0.5], "auc": [0.61, 0.6512345]})
    path = tmp_path / "CLAIMS.md"
    record.write(str(path), "m", Claims(CLAIMS, reported={"Sensitivity (reported, not tested)": sweep}),
                 "tfrec claims m", seed=0, seconds=1)
    text = path.read_text()
    assert "Sensitivity (reported, not tested):\n\n| version | K | beta | auc |" in text
    assert "| soft | 4 | 0.5000 | 0.6512 |" in text
    assert text.index("| C > D |") < text.index("| version |") < text.index(record.END.format(name="m"))
