"""Reader for the public Alimama display-ad files (tfrec_pkg/data/datasets/alimama.py) on small
files written here in the exact public format: the joins, histories strictly before each
impression (brand as the item), the repeat label by its definition, profiles and predefined
scenarios, the 7-part time split, and bad rows (skipped and counted, or raised with file, line,
column and value)."""
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


def test_seven_part_time_split(tmp_path):
    data = read_alimama(write(tmp_path))
    assert list(data.split_of) == ["train"] * 5 + ["val", "test"]
    assert list(read_alimama(write(tmp_path), validation=False).split_of) == ["train"] * 6 + ["test"]


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
