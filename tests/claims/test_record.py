"""CLAIMS.md sections are written by `tfrec claims NAME --record` (tfrec_pkg/claims/record.py):
the recorded block is replaced, the section's notes and change log are kept."""
from tfrec_pkg.claims import Claim
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
