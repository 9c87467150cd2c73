"""Bad input raises one ValueError naming where (file and line or row), the column, what was
found and what was expected -- before any tensor is made (tfrec_pkg/data/schema.py, files.py,
pipelines.py) -- while valid input loads exactly as before."""
import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data import pipelines
from tfrec_pkg.data.datasets.providers_public import to_sequences
from tfrec_pkg.data.sequences import history_before_each_event
from tfrec_pkg.data.vocab import Vocabulary
from tfrec_pkg.features import FeatureSpec

SPECS = [
    FeatureSpec("user_id", "int64", vocabulary="user"),
    FeatureSpec("category_id", "string", vocabulary="category"),
    FeatureSpec("price", "float32"),
    FeatureSpec("hist_item_ids", "int64", (3,), vocabulary="item"),
    FeatureSpec("hist_category_ids", "string", (3,), vocabulary="category"),
]
HEADER = "user_id,category_id,price,hist_item_ids,hist_category_ids,label"
LINES = ["1,007,0.5,10 11,c1 c2,1", "2,a,1.0,,,0", "3,b,1.5,20 21 22 23,x,1"]  # file lines 2, 3, 4


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": [1, 2, 3],
        "category_id": ["007", "a", "b"],
        "price": [0.5, 1.0, 1.5],
        "hist_item_ids": [[10, 11], [], [20, 21, 22, 23]],
        "hist_category_ids": [["c1", "c2"], [], ["x"]],
        "label": [1, 0, 1],
    })


def with_cell(column, row, value):
    """The valid frame with one cell replaced (object column, so any value fits)."""
    def change(f):
        values = f[column].astype(object).tolist()
        values[row] = value
        return f.assign(**{column: pd.Series(values, dtype=object)})
    return change


# ------------------------------------------------------------------------ DataFrames

FRAME_CASES = {
    "non-numeric int64 id": (
        lambda f: f.assign(user_id=["1", "x", "3"]),
        r"column 'user_id' \(kind 'int'\): found values that are not int64 integers in 1 row\(s\), "
        r"first at index 1, e.g. \['x'\]; expected integers that fit int64"),
    "uint64 id of 2**64-1": (
        lambda f: f.assign(user_id=np.array([1, 2**64 - 1, 3], dtype=np.uint64)),
        r"column 'user_id' \(kind 'int'\): found values that are not int64 integers in 1 row\(s\), "
        r"first at index 1, e.g. \[18446744073709551615\]"),
    "empty-string id (the string padding)": (
        lambda f: f.assign(category_id=["007", "", "b"]),
        r"column 'category_id' \(kind 'id'\): found the padding value '' in 1 row\(s\), first at index 1"),
    "non-UTF-8 bytes as an id": (
        with_cell("category_id", 1, b"\xff"),
        r"column 'category_id' \(kind 'id'\): found values that are neither str nor int in 1 row\(s\), "
        r"first at index 1, e.g. \[b'\\xff'\]; expected str or integer ids"),
    "NaN in an int sequence": (
        with_cell("hist_item_ids", 2, [20, np.nan]),
        r"column 'hist_item_ids' \(kind 'int_list'\): found invalid elements in 1 row\(s\), first at "
        r"index 2, e.g. \[nan\]; expected lists/arrays of integers that fit int64"),
    "non-integral float in an int sequence": (
        with_cell("hist_item_ids", 0, [10, 11.5]),
        r"column 'hist_item_ids' \(kind 'int_list'\): found invalid elements in 1 row\(s\), first at "
        r"index 0, e.g. \[11.5\]"),
    "int in a string sequence": (
        with_cell("hist_category_ids", 2, ["x", 7]),
        r"column 'hist_category_ids' \(kind 'string_list'\): found invalid elements in 1 row\(s\), "
        r"first at index 2, e.g. \[7\]; expected lists/arrays of str"),
    "None in a string sequence": (
        with_cell("hist_category_ids", 0, ["c1", None]),
        r"column 'hist_category_ids' \(kind 'string_list'\): found invalid elements in 1 row\(s\), "
        r"first at index 0, e.g. \[None\]"),
}


@pytest.mark.parametrize("case", FRAME_CASES)
def test_bad_frames_raise_before_any_tensor(case):
    change, match = FRAME_CASES[case]
    bad = change(frame())
    with pytest.raises(ValueError, match=r"^frame failed validation \(\d problem\(s\)\):\n(.*\n)*.*" + match):
        pipelines.from_frame(bad, SPECS, batch_size=2)
    with pytest.raises(ValueError, match=match):
        pipelines.frame_to_arrays(bad, SPECS)


def test_nan_item_id_in_public_interactions_is_refused():
    interactions = pd.DataFrame({"user_id": [1, 1, 1, 2, 2], "item_id": [10, np.nan, 12, 10, 11],
                                 "provider_id": [1, 1, 2, 1, 1], "timestamp": [1, 2, 3, 1, 2]})
    with pytest.raises(ValueError, match=r"(?s)^interactions failed validation.*column 'item_id' \(kind 'int'\): "
                                         r"found NaN/None in 1 row\(s\), first at index 1"):
        to_sequences(interactions, max_history=3)
    # -1 would be read as padding inside the histories built from it
    with pytest.raises(ValueError, match=r"column 'item_id' \(kind 'int'\): found the padding value -1"):
        to_sequences(interactions.fillna(-1).astype(np.int64), max_history=3)


def test_history_padding_is_the_int64_spec_padding_so_vocabularies_skip_it():
    events = pd.DataFrame({"user": [1, 1, 1, 2], "item": [0, 5, 6, 5], "ts": [1, 2, 3, 1]})
    hist, lengths = history_before_each_event(events, "user", "item", "ts", max_len=3)
    padding = FeatureSpec("hist_item_ids", "int64", (3,), vocabulary="item").padding
    assert hist.tolist() == [[padding] * 3, [0, padding, padding], [0, 5, padding], [padding] * 3]
    # item 0 is an item; only the padding stays out of the fitted vocabulary
    assert sorted(Vocabulary.fit(hist, "int64").ids) == [0, 5]


# ------------------------------------------------------------------------ files


def write_csv(tmp_path, name, lines, header=HEADER):
    path = tmp_path / name
    text = "\n".join([header] + lines) + "\n" if header is not None else ""
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def replaced(line_number, text):
    """The valid lines with file line ``line_number`` (header = 1) replaced by ``text``."""
    lines = list(LINES)
    lines[line_number - 2] = text
    return lines


CSV_CASES = {
    "NaN id": (replaced(3, "NaN,a,1.0,,,0"),
               r"column 'user_id' \(kind 'int'\): found values that are not int64 integers in 1 row\(s\), "
               r"first at line 3, e.g. \['NaN'\]"),
    "empty id field": (replaced(3, ",a,1.0,,,0"),
                       r"column 'user_id' \(kind 'int'\): found NaN/None in 1 row\(s\), first at line 3"),
    "12abc id": (replaced(4, "12abc,b,1.5,20,x,1"),
                 r"column 'user_id' \(kind 'int'\): found values that are not int64 integers in 1 row\(s\), "
                 r"first at line 4, e.g. \['12abc'\]"),
    "12abc in an int sequence": (replaced(2, "1,007,0.5,10 12abc,c1 c2,1"),
                                 r"column 'hist_item_ids' \(kind 'int_list'\): found invalid elements in "
                                 r"1 row\(s\), first at line 2, e.g. \['12abc'\]"),
    "NaN in an int sequence": (replaced(2, "1,007,0.5,10 nan,c1 c2,1"),
                               r"column 'hist_item_ids' \(kind 'int_list'\): found invalid elements in "
                               r"1 row\(s\), first at line 2, e.g. \['nan'\]"),
    "non-integral number in an int sequence": (replaced(4, "3,b,1.5,20 2.5,x,1"),
                                               r"column 'hist_item_ids' \(kind 'int_list'\): found invalid "
                                               r"elements in 1 row\(s\), first at line 4, e.g. \['2.5'\]"),
    "uint64 id of 2**64-1": (replaced(2, "18446744073709551615,007,0.5,10 11,c1 c2,1"),
                             r"column 'user_id' \(kind 'int'\): found values that are not int64 integers in "
                             r"1 row\(s\), first at line 2, e.g. \[18446744073709551615\]"),
    "empty-string id": (replaced(3, "2,,1.0,,,0"),
                        r"column 'category_id' \(kind 'id'\): found the padding value '' in 1 row\(s\), "
                        r"first at line 3"),
    "extra field": (replaced(3, "2,a,1.0,,,0,9"),
                    r"Expected 6 fields in line 3, saw 7; expected one field per header column"),
    "extra field on the first data line": (replaced(2, "1,007,0.5,10 11,c1 c2,1,9"),
                                           r"line 2: found more fields than the header has"),
    "header only": ([], r"is empty: expected at least one row"),
}


@pytest.mark.parametrize("case", CSV_CASES)
def test_bad_csv_raises_when_the_dataset_is_made(case, tmp_path):
    lines, match = CSV_CASES[case]
    path = write_csv(tmp_path, "events.csv", lines)
    with pytest.raises(ValueError, match=r"(?s)^\S*events.csv failed validation \(\d problem\(s\)\):\n.*" + match):
        pipelines.from_files(path, SPECS, batch_size=2, chunk_rows=2)


def test_non_utf8_bytes_in_csv_name_line_and_column(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("\n".join([HEADER, LINES[0], "2,caf\xe9,1.0,,,0"]).encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.csv failed validation.*\n  - column 'category_id': found bytes "
                                         r"that are not UTF-8 at line 3, e.g. 'caf\ufffd'; expected UTF-8 text"):
        pipelines.from_files(str(path), SPECS, batch_size=2)


def test_empty_csv_file(tmp_path):
    path = write_csv(tmp_path, "nothing.csv", [], header=None)
    with pytest.raises(ValueError, match=r"nothing.csv is empty: expected a header line, then at least one row"):
        pipelines.from_files(path, SPECS, batch_size=2)


def test_line_numbers_count_across_chunks_and_blank_lines(tmp_path):
    lines = LINES * 3 + ["", LINES[0]]  # a blank line 11, then a valid line 12
    path = write_csv(tmp_path, "long.csv", lines)
    with pytest.raises(ValueError, match=r"column 'user_id' \(kind 'int'\): found NaN/None in 1 row\(s\), "
                                         r"first at line 11"):
        pipelines.from_files(path, SPECS, batch_size=2, chunk_rows=2)
    path = write_csv(tmp_path, "long.csv", LINES * 3 + ["x" + LINES[1]])
    with pytest.raises(ValueError, match=r"first at line 11, e.g. \['x2'\]"):
        pipelines.from_files(path, SPECS, batch_size=2, chunk_rows=4)


PARQUET_CASES = {
    "uint64 id of 2**64-1": (lambda f: f.assign(user_id=np.array([1, 2**64 - 1, 3], dtype=np.uint64)),
                             r"column 'user_id' \(kind 'int'\): found values that are not int64 integers in "
                             r"1 row\(s\), first at row 1"),
    "NaN in an int sequence": (lambda f: f.assign(hist_item_ids=[[10.0, 11.0], [], [20.0, np.nan]]),
                               r"column 'hist_item_ids' \(kind 'int_list'\): found invalid elements in "
                               r"1 row\(s\), first at row 2, e.g. \[nan\]"),
    "empty-string id": (lambda f: f.assign(category_id=["007", "a", ""]),
                        r"column 'category_id' \(kind 'id'\): found the padding value '' in 1 row\(s\), "
                        r"first at row 2"),
    "no rows": (lambda f: f.iloc[:0], r"events.parquet is empty: expected at least one row"),
}


@pytest.mark.parametrize("case", PARQUET_CASES)
def test_bad_parquet_raises_when_the_dataset_is_made(case, tmp_path):
    change, match = PARQUET_CASES[case]
    path = str(tmp_path / "events.parquet")
    change(frame()).to_parquet(path)
    with pytest.raises(ValueError, match=r"(?s)^\S*events.parquet failed validation.*" + match):
        pipelines.from_files(path, SPECS, batch_size=2, chunk_rows=2)


def test_without_validate_first_the_error_surfaces_while_iterating(tmp_path):
    path = write_csv(tmp_path, "events.csv", replaced(3, "12abc,a,1.0,,,0"))
    ds = pipelines.from_files(path, SPECS, batch_size=2, validate_first=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)events.csv failed validation.*line 3"):
        list(ds)


# ------------------------------------------------------------------------ valid input


def collect(ds):
    parts = {}
    for batch in ds:
        for k, v in batch.items():
            parts.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def test_valid_edge_values_load_exactly_from_frame_csv_and_parquet(tmp_path):
    big = np.iinfo(np.int64).max
    good = pd.DataFrame({
        "user_id": [big, -1, 0],  # int64 max; -1 stays "read as padding", as documented
        "category_id": ["007", "a", "0"],
        "price": [0.5, np.nan, 2.0],  # float features may be missing
        "hist_item_ids": [np.array([10.0, 11.0]), [], [-5, 0, big, 7]],  # integral floats convert exactly
        "hist_category_ids": [["c1", "c2"], [], ["x"]],
        "label": [1, 0, 1],
    })
    want = {
        "user_id": np.array([big, -1, 0]),
        "category_id": np.array(["007", "a", "0"], dtype=object),
        "hist_item_ids": np.array([[10, 11, -1], [-1, -1, -1], [0, big, 7]]),
        "hist_category_ids": np.array([["c1", "c2", ""], ["", "", ""], ["x", "", ""]], dtype=object),
        "label": np.array([1, 0, 1], dtype=np.float32),
    }
    arrays = pipelines.frame_to_arrays(good, SPECS)
    for name, expected in want.items():
        np.testing.assert_array_equal(arrays[name], expected, err_msg=name)
        assert arrays[name].dtype == expected.dtype, name
    np.testing.assert_array_equal(arrays["price"], np.array([0.5, np.nan, 2.0], dtype=np.float32))

    csv_path, pq_path = str(tmp_path / "good.csv"), str(tmp_path / "good.parquet")
    pipelines.write_csv(good, csv_path, SPECS)
    good.assign(hist_item_ids=[np.array(v, dtype=np.int64) for v in good["hist_item_ids"]]).to_parquet(pq_path)
    for path in (csv_path, pq_path):
        got = collect(pipelines.from_files(path, SPECS, batch_size=2, chunk_rows=2))
        for name, expected in want.items():
            values = got[name]
            if values.dtype == object:
                values = np.vectorize(lambda b: b.decode(), otypes=[object])(values)
            np.testing.assert_array_equal(values, expected, err_msg=f"{path}: {name}")
        np.testing.assert_array_equal(got["price"], arrays["price"])
