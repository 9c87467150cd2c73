"""Reader for JODIE-format CSVs (tfrec_pkg/data/datasets/jodie_csv.py) on small files written here
in the exact format of wikipedia.csv / reddit.csv (a header line, then user,item,time,label and a
variable number of feature fields): the stream and its feature matrix against plain Python, files
with no features, independence of the chunk size, and bad lines (short, long, empty field,
non-integer id, non-number feature, label other than 0/1) named by file, line and column."""
import numpy as np
import pytest

from tfrec_pkg.data.datasets.jodie_csv import read_jodie_csv

HEADER = "user_id,item_id,timestamp,state_label,comma_separated_list_of_features"


def rows(n=50, features=4, seed=0):
    rng = np.random.default_rng(seed)
    t = np.round(np.cumsum(rng.exponential(30.0, size=n)), 1)
    t[5] = t[4]  # a tie
    return [(int(rng.integers(0, 8)), int(rng.integers(0, 6)), float(t[k]), int(rng.random() < 0.1),
             *np.round(rng.normal(size=features), 4).tolist()) for k in range(n)]


def write(path, lines):
    path.write_text("\n".join([HEADER] + [r if isinstance(r, str) else ",".join(map(str, r)) for r in lines]) + "\n")
    return path


def test_stream_and_features_against_plain_python(tmp_path):
    data = rows()
    s = read_jodie_csv(write(tmp_path / "wikipedia.csv", data), chunk_rows=9)
    f = s.frame
    assert list(f.columns) == ["user_id", "item_id", "timestamp", "action", "state_label"]
    assert f["user_id"].tolist() == [r[0] for r in data] and f["item_id"].tolist() == [r[1] for r in data]
    assert f["timestamp"].tolist() == [r[2] for r in data] and f["state_label"].tolist() == [r[3] for r in data]
    assert (f["action"] == 0).all()   # the format has no purchases
    np.testing.assert_allclose(s.features, np.array([r[4:] for r in data]), rtol=1e-6)
    assert s.features.dtype == np.float32 and s.num_features == 4


def test_no_features_and_chunk_size_irrelevant(tmp_path):
    s = read_jodie_csv(write(tmp_path / "lastfm.csv", rows(features=0)))
    assert s.features.shape == (50, 0)
    data = rows(seed=1)
    ref = read_jodie_csv(write(tmp_path / "a.csv", data))
    for chunk in (1, 4, 1000):
        other = read_jodie_csv(write(tmp_path / "b.csv", data), chunk_rows=chunk)
        assert other.frame.equals(ref.frame) and np.array_equal(other.features, ref.features)


def test_unsorted_file_is_sorted_stably(tmp_path):
    data = rows(10, features=1)
    s = read_jodie_csv(write(tmp_path / "a.csv", data[6:] + data[:6]))  # the tie (rows 4, 5) stays in order
    assert s.frame["timestamp"].tolist() == sorted(r[2] for r in data)
    np.testing.assert_allclose(s.features[:, 0], [r[4] for r in data], rtol=1e-6)


@pytest.mark.parametrize("bad, match", [
    ("3,1,999.0,0,0.5,0.1,0.2", r"column 'f3': found an empty or missing field in 1 line\(s\), first at line 5"),
    ("3,1,999.0,0,0.5,0.1,0.2,0.3,0.4", r"Expected 8 fields in line 5, saw 9"),
    ("3,1,,0,0.5,0.1,0.2,0.3", r"column 'timestamp': found an empty or missing field .* first at line 5"),
    ("3,x,999.0,0,0.5,0.1,0.2,0.3", r"column 'item_id' \(kind 'int'\).*first at line 5, e.g. \['x'\]"),
    ("3,1,999.0,0,0.5,abc,0.2,0.3", r"column 'f1' \(kind 'float'\): found non-numeric values .*first at line 5"),
    ("3,1,999.0,2,0.5,0.1,0.2,0.3", r"column 'state_label': found 2 at line 5 .*expected 0 or 1"),
])
def test_bad_lines_name_file_line_and_column(tmp_path, bad, match):
    data = rows(6)
    path = write(tmp_path / "reddit.csv", data[:3] + [bad] + data[3:])
    for chunk in (2, 100):
        with pytest.raises(ValueError, match=match) as err:
            read_jodie_csv(path, chunk_rows=chunk)
        assert str(err.value).startswith(f"{path} failed validation")


def test_missing_header_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_jodie_csv(tmp_path / "nope.csv")
    (tmp_path / "noheader.csv").write_text("0,0,0.0,0,0.1\n")
    with pytest.raises(ValueError, match=r"line 1 \(the header\).*user_id,item_id,timestamp,state_label"):
        read_jodie_csv(tmp_path / "noheader.csv")
    (tmp_path / "header_only.csv").write_text(HEADER + "\n")
    with pytest.raises(ValueError, match="no data line"):
        read_jodie_csv(tmp_path / "header_only.csv")


def test_no_features_with_a_longer_line(tmp_path):
    data = rows(6, features=0)
    path = write(tmp_path / "lastfm.csv", data[:2] + ["1,1,999.0,0,0.5"] + data[2:])
    with pytest.raises(ValueError, match=r"line 4: found more fields than the first data line \(4\)"):
        read_jodie_csv(path)
