"""Reader for the IJCAI-16 Tmall/Koubei online behaviour log (tfrec_pkg/data/datasets/ijcai16.py)
on small files written here in the exact format (with and without the release's header line):
the stream against plain Python, independence of the chunk size, the day-resolution split,
and bad lines (missing field, non-integer id, impossible date, unknown action, extra field)
named by file, line and column."""
import calendar
import datetime

import numpy as np
import pytest

from tfrec_pkg.data.datasets.ijcai16 import read_ijcai16

HEADER = "use_ID,sel_ID,ite_ID,cat_ID,act_ID,time"


def rows(n=80, seed=0):
    """(user, seller, item, category, action, yyyymmdd) lines in file order; days tie often."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        item = int(rng.integers(100, 130))
        day = datetime.date(2015, 6, 28) + datetime.timedelta(days=int(rng.integers(0, 8)))  # across a month end
        out.append((int(rng.integers(1, 9)), 7000 + item % 5, item, 50 + item % 3, int(rng.random() < 0.25),
                    int(day.strftime("%Y%m%d"))))
    return out


def write(path, lines, header=True):
    text = [HEADER] if header else []
    path.write_text("\n".join(text + [",".join(map(str, r)) if not isinstance(r, str) else r for r in lines]) + "\n")
    return path


def test_stream_against_plain_python(tmp_path):
    data = rows()
    s = read_ijcai16(write(tmp_path / "ijcai2016_taobao.csv", data), chunk_rows=7)
    # plain Python: by date, ties in file order; midnight UTC in unix seconds
    want = sorted(enumerate(data), key=lambda kv: (kv[1][5], kv[0]))
    midnight = [calendar.timegm(datetime.datetime.strptime(str(r[5]), "%Y%m%d").timetuple()) for _, r in want]
    f = s.frame
    assert list(f.columns) == ["user_id", "item_id", "timestamp", "action", "seller_id", "category_id"]
    assert f["user_id"].tolist() == [r[0] for _, r in want] and f["item_id"].tolist() == [r[2] for _, r in want]
    assert f["seller_id"].tolist() == [r[1] for _, r in want] and f["category_id"].tolist() == [r[3] for _, r in want]
    assert f["action"].tolist() == [r[4] for _, r in want] and f["timestamp"].tolist() == midnight
    assert all(f[c].dtype == np.int64 for c in f.columns) and s.features.shape == (len(data), 0)


def test_header_optional_and_chunk_size_irrelevant(tmp_path):
    data = rows(seed=1)
    ref = read_ijcai16(write(tmp_path / "a.csv", data)).frame
    for chunk in (1, 3, 1000):
        assert read_ijcai16(write(tmp_path / "b.csv", data, header=False), chunk_rows=chunk).frame.equals(ref)


def test_split_keeps_days_whole(tmp_path):
    s = read_ijcai16(write(tmp_path / "a.csv", rows(300, seed=2)))
    split, t = s.split_of(), s.frame["timestamp"].to_numpy()
    assert t[split == "train"].max() < t[split == "val"].min() <= t[split == "val"].max() < t[split == "test"].min()


@pytest.mark.parametrize("bad, match", [
    ("3,7001,101,51,0", r"column 'date' \(kind 'int'\): found NaN/None in 1 row\(s\), first at line {line}"),
    ("3,7001,abc,51,0,20150701", r"column 'item_id'.*first at line {line}, e.g. \['abc'\]"),
    ("3,7001,101,51,0,20150231", r"column 'date': found 20150231 at line {line} .*yyyymmdd"),
    ("3,7001,101,51,0,2015070", r"column 'date': found 2015070 at line {line}"),
    ("3,7001,101,51,2,20150701", r"column 'action': found 2 at line {line} .*0 \(click\) or 1 \(purchase\)"),
    ("3,7001,101,51,0,20150701,9", r"Expected 6 fields in line {line}, saw 7"),
])
def test_bad_lines_name_file_line_and_column(tmp_path, bad, match):
    data = rows(6, seed=3)
    for header, line in ((True, 5), (False, 4)):  # the fourth data line
        path = write(tmp_path / "ijcai2016_taobao.csv", data[:3] + [bad] + data[3:], header=header)
        for chunk in (2, 100):
            with pytest.raises(ValueError, match=match.format(line=line)) as err:
                read_ijcai16(path, chunk_rows=chunk)
            assert str(err.value).startswith(f"{path} failed validation")


def test_missing_empty_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_ijcai16(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        read_ijcai16(tmp_path / "empty.csv")
    (tmp_path / "other.csv").write_text("user,item,time\n1,2,3\n")
    with pytest.raises(ValueError, match=r"line 1 \(the header\).*use_ID,sel_ID,ite_ID,cat_ID,act_ID,time"):
        read_ijcai16(tmp_path / "other.csv")


def test_bytes_that_are_not_utf8_name_the_line(tmp_path):
    for header, line in ((True, 3), (False, 2)):
        path = tmp_path / "ijcai2016_taobao.csv"
        path.write_bytes((HEADER + "\n" if header else "").encode() + b"1,44,73,6,1,20150701\n2,4\xff4,74,6,0,20150630\n")
        with pytest.raises(ValueError, match=f"column 'seller_id': found bytes that are not UTF-8 at line {line}"):
            read_ijcai16(path)
