"""Reader for the public Alimama display-ad files (tfrec_pkg/data/datasets/alimama.py) on small
files written here in the exact public format: the joins, histories strictly before each
impression (brand as the item), the repeat label by its definition, profiles and predefined
scenarios, the 7-part time split, bad rows (skipped and counted, or raised with file, line,
column and value; empty and absent required fields too; blank lines; too many fields), and
reading in small chunks.

Mutations tried (each fails a test here): an empty required field accepted -> missing_required;
line numbers restarting in each chunk (in the message, or the chunk's index reset) -> small_chunks;
the last partial chunk dropped -> small_chunks; blank lines dropped by pandas before numbering
(skip_blank_lines=True) -> blank_lines."""
import logging

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401

from tfrec_pkg.data.datasets.alimama import read_alimama

RAW = """user,time_stamp,adgroup_id,pid,nonclk,clk
1,1494000100,10,430548_1007,1,0
1,1494000300,11,430539_1007,0,1
2,1494000200,10,430548_1007,1,0
2,1494000400,12,430548_1007,1,0
3,1494000500,11,430539_1007,0,1
1,1494000600,12,430548_1007,1,0
2,1494000700,11,430548_1007,0,1
"""
ADS = """adgroup_id,cate_id,campaign_id,customer,brand,price
10,6261,359520,7523,110847,199.0
11,4520,24,10,NULL,58.0
12,6261,400,11,200,1.5
"""
PROFILE = """userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,occupation,new_user_class_level 
1,0,5,2,5,,3,0,3
2,0,2,1,2,1,1,0,
"""
BEHAVIOUR = """user,time_stamp,btag,cate,brand
1,1494000000,pv,6261,110847
1,1494000050,cart,6261,110847
1,1494000200,pv,4520,300
1,1494000250,pv,4520,NULL
2,1494000100,buy,6261,200
2,1494000300,pv,6261,200
2,1494000350,fav,6261,110847
9,1494000000,pv,1,1
"""


def write(tmp_path, **changes):
    files = {"raw_sample.csv": RAW, "ad_feature.csv": ADS, "user_profile.csv": PROFILE, "behavior_log.csv": BEHAVIOUR}
    files.update(changes)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_rows_histories_and_labels(tmp_path):
    data = read_alimama(write(tmp_path), max_history=2)
    f = data.frame
    assert list(f["timestamp"]) == sorted(f["timestamp"]) and len(f) == 7
    by_time = f.set_index("timestamp")
    # user 1 at 1494000300: behaviours before it: (110847, 6261) x2 then (300, 4520); the NULL-brand one is left out
    row = by_time.loc[1494000300]
    assert list(row["hist_item_ids"]) == [110847, 300] and list(row["hist_category_ids"]) == [6261, 4520]
    assert row["repeat_label"] == pytest.approx(0.5)   # the second 110847 repeats the first
    assert row["item_id"] == -1 and row["category_id"] == 4520 and row["label"] == 1   # ad 11 has no brand
    # strictly before: user 2 at 1494000200 sees the buy at ...100 only; at ...400 the last two
    assert list(by_time.loc[1494000200]["hist_item_ids"]) == [200]
    assert list(by_time.loc[1494000400]["hist_item_ids"]) == [200, 110847]
    assert by_time.loc[1494000400]["repeat_label"] == pytest.approx(0.5)
    assert len(by_time.loc[1494000500]["hist_item_ids"]) == 0 and by_time.loc[1494000500]["repeat_label"] == 0.0
    # profile and predefined scenario; user 3 has no profile
    assert (row["profile_gender"], row["profile_age"], row["profile_level"], row["predefined_scenario"]) == (2, 5, 3, 3)
    assert by_time.loc[1494000500]["profile_level"] == -1 and by_time.loc[1494000500]["predefined_scenario"] == -1
    # context
    assert row["context_slot"] == 430539
    assert row["context_price"] == pytest.approx(np.log1p(58.0))
    assert row["context_hour"] == pytest.approx(((1494000300 + 8 * 3600) // 3600 % 24) / 23)
    assert {s.name for s in data.specs} <= set(f.columns)


def test_only_events_a_history_can_hold_are_kept(tmp_path):
    """Events of other users, and of a user from their last impression on, never reach a
    history: they are not kept (stats), and the rows are those of the full read; lookback_days
    drops events older than that before the first impression."""
    full = read_alimama(write(_dir(tmp_path, "full")), max_history=2)
    assert full.stats["behaviours_kept"] == 6   # user 9 has no impression; user 2's ...350 is before ...700
    late = BEHAVIOUR + "1,1494000600,pv,6261,110847\n1,1494009999,pv,6261,7\n"   # at / after user 1's last
    more = read_alimama(write(_dir(tmp_path, "late"), **{"behavior_log.csv": late}), max_history=2)
    assert more.stats["behaviours_kept"] == 6 and _rows(more.frame) == _rows(full.frame)
    recent = read_alimama(write(_dir(tmp_path, "recent")), max_history=2, lookback_days=75 / 86_400)
    assert recent.stats["behaviours_kept"] == 5   # from 1494000025 on: user 1's first behaviour is left out
    row = recent.frame.set_index("timestamp").loc[1494000300]
    assert list(row["hist_item_ids"]) == [110847, 300] and row["repeat_label"] == 0.0   # no earlier 110847 now


def test_seven_part_time_split(tmp_path):
    data = read_alimama(write(tmp_path))
    assert list(data.split_of) == ["train"] * 5 + ["val", "test"]
    assert list(read_alimama(write(tmp_path), validation=False).split_of) == ["train"] * 6 + ["test"]


def test_seven_parts_have_equal_counts_not_equal_time_spans(tmp_path):
    """The parts are equal in impressions, not in time: 12 impressions within a minute, then 2 a
    day later -> 2 impressions per part (equal time spans would put 12 in the first part)."""
    times = [1494000000 + t for t in range(0, 60, 5)] + [1494086400, 1494086460]
    raw = RAW.splitlines()[0] + "\n" + "".join(f"{1 + k % 3},{t},{10 + k % 3},430548_1007,1,0\n"
                                               for k, t in enumerate(times))
    data = read_alimama(write(tmp_path, **{"raw_sample.csv": raw}))
    assert data.frame["timestamp"].tolist() == times   # the frame is in time order
    assert list(data.split_of) == ["train"] * 10 + ["val"] * 2 + ["test"] * 2


def test_bad_rows_are_skipped_and_counted_or_raised(tmp_path, caplog):
    raw = RAW + "4,notatime,10,430548_1007,1,0\n5,1494000800,10,430548_1007,1,7\n6,1494000900,99,430548_1007,1,0\n"
    behaviour = BEHAVIOUR + "1,1494000060,look,6261,110847\n"
    with caplog.at_level(logging.WARNING):
        data = read_alimama(write(tmp_path, **{"raw_sample.csv": raw, "behavior_log.csv": behaviour}))
    assert data.stats["bad_rows_raw_sample.csv"] == 2 and data.stats["bad_rows_behavior_log.csv"] == 1
    assert data.stats["unknown_adgroup"] == 1 and len(data.frame) == 7
    assert "line 9, column 'time_stamp': found 'notatime', expected an integer" in caplog.text
    with pytest.raises(ValueError, match=r"raw_sample.csv, line 9, column 'clk': found '7', expected 0 or 1"):
        read_alimama(write(tmp_path, **{"raw_sample.csv": RAW + "5,1494000800,10,430548_1007,1,7\n"}),
                     on_bad_rows="raise")
    with pytest.raises(ValueError, match="btag.*'look'.*pv, cart, fav, buy"):
        read_alimama(write(tmp_path, **{"behavior_log.csv": behaviour}), on_bad_rows="raise")


def test_missing_file_and_wrong_header(tmp_path):
    write(tmp_path)
    (tmp_path / "ad_feature.csv").unlink()
    with pytest.raises(FileNotFoundError, match="ad_feature.csv"):
        read_alimama(tmp_path)
    write(tmp_path, **{"ad_feature.csv": "adgroup,cate\n1,2\n"})
    with pytest.raises(ValueError, match="header"):
        read_alimama(tmp_path)


# bad lines with a required field empty or absent (short lines): users and ad groups that exist,
# so a line kept by mistake would change the rows or the histories
RAW_MISSING = "1,1494000800,10,430548_1007,1,\n2,1494000900,12,430548_1007\n"   # empty clk; short line: no clk
BEHAVIOUR_MISSING = "1,1494000260,pv,,300\n2,1494000360,pv\n"   # empty cate; short line: no cate


def test_missing_required_fields_are_skipped_and_counted_or_raised(tmp_path, caplog):
    """The documented behaviour for a required field that is empty or absent (a short line):
    skipped, counted per file, one warning per file naming the file, line, column and value;
    with ``on_bad_rows="raise"`` a ValueError naming them."""
    clean = read_alimama(write(tmp_path), max_history=3).frame
    bad = {"raw_sample.csv": RAW + RAW_MISSING, "behavior_log.csv": BEHAVIOUR + BEHAVIOUR_MISSING}
    with caplog.at_level(logging.WARNING):
        data = read_alimama(write(tmp_path, **bad), max_history=3)
    assert data.stats["bad_rows_raw_sample.csv"] == 2 and data.stats["bad_rows_behavior_log.csv"] == 2
    assert data.stats["unknown_adgroup"] == 0
    assert _rows(data.frame) == _rows(clean)   # the bad lines left no trace: rows, histories, labels
    raw, behaviour = str(tmp_path / "raw_sample.csv"), str(tmp_path / "behavior_log.csv")
    for path, count in ((raw, 2), (behaviour, 2)):
        assert f"{path}: skipped {count} malformed lines" in caplog.text
    for line in (f"{raw}, line 9, column 'clk': found '', expected 0 or 1",
                 f"{raw}, line 10, column 'clk': found '', expected 0 or 1",
                 f"{behaviour}, line 10, column 'cate': found '', expected an integer",
                 f"{behaviour}, line 11, column 'cate': found '', expected an integer"):
        assert line in caplog.text
    for name, text, line, column in (("raw_sample.csv", RAW_MISSING, 9, "clk"),
                                     ("raw_sample.csv", RAW_MISSING.split("\n", 1)[1], 9, "clk"),   # short line alone
                                     ("behavior_log.csv", BEHAVIOUR_MISSING, 10, "cate"),
                                     ("behavior_log.csv", BEHAVIOUR_MISSING.split("\n", 1)[1], 10, "cate")):
        files = {"raw_sample.csv": RAW, "behavior_log.csv": BEHAVIOUR}
        files[name] += text
        with pytest.raises(ValueError) as error:
            read_alimama(write(tmp_path, **files), on_bad_rows="raise")
        assert str(error.value).startswith(f"{tmp_path / name}, line {line}, column '{column}': found ''")


def _rows(frame):
    """A frame's rows as comparable tuples (the histories are arrays)."""
    return [tuple(tuple(v) if isinstance(v, np.ndarray) else v for v in row)
            for row in frame.itertuples(index=False)]


@pytest.mark.parametrize("chunk_rows", [2, 3])
def test_small_chunks_read_the_same_rows_and_number_lines_across_chunks(tmp_path, caplog, chunk_rows):
    """``chunk_rows`` smaller than every file (several chunks, the last one partial in some file:
    7 impressions, 8 behaviours, 3 ads) gives the rows, histories, labels, file lines and split of
    one chunk; a bad line in a later chunk is reported with its line in the file."""
    directory = write(tmp_path)
    whole = read_alimama(directory, max_history=3)
    chunked = read_alimama(directory, max_history=3, chunk_rows=chunk_rows)
    assert len(whole.frame) == 7 and list(chunked.frame.columns) == list(whole.frame.columns)
    assert _rows(chunked.frame) == _rows(whole.frame)
    assert list(chunked.split_of) == list(whole.split_of) and chunked.stats == whole.stats
    assert sorted(whole.frame["line"]) == list(range(2, 9))
    # bad lines after the first chunk: raw_sample.csv line 9 (data row 7), behavior_log.csv line 10 (row 8)
    bad = {"raw_sample.csv": RAW + "4,notatime,10,430548_1007,1,0\n",
           "behavior_log.csv": BEHAVIOUR + "2,1494000360,look,6261,200\n"}
    for name, line, column in (("raw_sample.csv", 9, "time_stamp"), ("behavior_log.csv", 10, "btag")):
        files = {"raw_sample.csv": RAW, "behavior_log.csv": BEHAVIOUR, name: bad[name]}
        with pytest.raises(ValueError, match=rf"{name}, line {line}, column '{column}'"):
            read_alimama(write(tmp_path, **files), chunk_rows=chunk_rows, on_bad_rows="raise")
    with caplog.at_level(logging.WARNING):
        skipped = read_alimama(write(tmp_path, **bad), max_history=3, chunk_rows=chunk_rows)
    assert "raw_sample.csv, line 9, column 'time_stamp'" in caplog.text
    assert "behavior_log.csv, line 10, column 'btag'" in caplog.text
    assert _rows(skipped.frame) == _rows(whole.frame)


def _dir(tmp_path, name):
    (tmp_path / name).mkdir()
    return tmp_path / name


def test_blank_lines_are_skipped_and_counted_in_line_numbers(tmp_path):
    """A blank line is skipped, and the lines after it keep their line numbers in the file."""
    clean = read_alimama(write(_dir(tmp_path, "clean"))).frame
    raw = RAW.replace("\n2,1494000200", "\n\n2,1494000200")  # blank line 4: that row is now line 5
    blank = read_alimama(write(_dir(tmp_path, "blank"), **{"raw_sample.csv": raw}), chunk_rows=2).frame
    assert len(blank) == len(clean)
    lines = blank.set_index("timestamp")["line"]
    assert lines.loc[1494000200] == 5 and lines.loc[1494000100] == 2
    with pytest.raises(ValueError, match=r"raw_sample.csv, line 10, column 'clk'"):
        read_alimama(write(_dir(tmp_path, "bad"), **{"raw_sample.csv": raw + "4,1494000800,10,430548_1007,1,\n"}),
                     on_bad_rows="raise")


def test_a_line_with_too_many_fields_names_the_file_and_line(tmp_path):
    raw = RAW + "4,1494000800,10,430548_1007,1,0,9\n"   # line 9: seven fields
    for mode in ("skip", "raise"):
        with pytest.raises(ValueError, match=r"raw_sample.csv: Expected 6 fields in line 9, saw 7; expected one field"):
            read_alimama(write(_dir(tmp_path, mode), **{"raw_sample.csv": raw}), on_bad_rows=mode)
