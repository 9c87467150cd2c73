import numpy as np
import pandas as pd
import pytest

from tfrec_pkg.data.schema import KINDS, Column, as_int64, validate

SCHEMA = [
    Column("user_id", "id"),
    Column("item_id", "id"),
    Column("ts", "timestamp"),
    Column("clicked", "label"),
    Column("price", "float"),
]


def good_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u1"],  # raw string ids are fine for kind "id"
            "item_id": [10, 11, 12],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "clicked": [0, 1, 1],
            "price": [1.5, 2.0, 3.25],
            "unused": ["x", "y", "z"],  # extra columns are allowed
        }
    )


def problems(excinfo) -> list[str]:
    return [line for line in str(excinfo.value).splitlines()[1:] if line.strip()]


def test_valid_frame_passes():
    assert validate(good_frame(), SCHEMA) is None


def test_every_kind_accepts_its_typical_dtype():
    frame = pd.DataFrame(
        {
            "id_int": np.array([1, 2], dtype=np.int32),
            "id_str": pd.Series(["a", "b"], dtype="string"),
            "int": [3, 4],
            "float_int": [1, 2],
            "float": [0.5, 1.5],
            "label_bool": [True, False],
            "label_float": [0.0, 0.75],
            "ts_int": [1_700_000_000, 1_700_000_001],
            "ts_float": [1.5, 2.5],
            "ts_tz": pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("UTC"),
            "string": ["a", "b"],
            "list": [[1, 2], np.array([3])],
            "int_list": [[1, 2.0], np.array([3], dtype=np.uint64)],  # integral floats convert exactly
            "float_list": [[0.5, 2], []],
            "string_list": [["a"], np.array(["b", "c"], dtype=object)],
        }
    )
    schema = [
        Column("id_int", "id"),
        Column("id_str", "id"),
        Column("int", "int"),
        Column("float_int", "float"),
        Column("float", "float"),
        Column("label_bool", "label"),
        Column("label_float", "label"),
        Column("ts_int", "timestamp"),
        Column("ts_float", "timestamp"),
        Column("ts_tz", "timestamp"),
        Column("string", "string"),
        Column("list", "list"),
        Column("int_list", "int_list"),
        Column("float_list", "float_list"),
        Column("string_list", "string_list"),
    ]
    assert {c.kind for c in schema} == set(KINDS)
    validate(frame, schema)


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match=r"unknown kind 'integer'.*'float'"):
        Column("x", "integer")


def test_not_a_dataframe_raises_type_error():
    with pytest.raises(TypeError, match="expected a pandas DataFrame, found dict"):
        validate({"user_id": [1]}, SCHEMA)


def test_empty_frame():
    with pytest.raises(ValueError) as excinfo:
        validate(good_frame().iloc[:0], SCHEMA, name="train")
    assert "train is empty: expected at least one row" in str(excinfo.value)
    assert len(problems(excinfo)) == 1


def test_missing_column_names_found_and_expected_columns():
    frame = good_frame().drop(columns=["ts"])
    with pytest.raises(ValueError) as excinfo:
        validate(frame, SCHEMA)
    (msg,) = problems(excinfo)
    assert "missing column 'ts' (kind 'timestamp')" in msg
    assert "found columns ['user_id', 'item_id', 'clicked', 'price', 'unused']" in msg
    assert "expected columns ['user_id', 'item_id', 'ts', 'clicked', 'price']" in msg


def test_wrong_dtype_names_column_found_dtype_and_expected_kind():
    frame = good_frame().assign(ts=["monday", "tuesday", "wednesday"])
    with pytest.raises(ValueError) as excinfo:
        validate(frame, SCHEMA)
    (msg,) = problems(excinfo)
    assert "column 'ts'" in msg
    assert f"found dtype {frame['ts'].dtype}," in msg  # object, or str on pandas >= 3
    assert "expected kind 'timestamp' (integer, float or datetime64 dtype)" in msg


def test_bool_is_not_an_int_and_float_is_not_an_id():
    frame = pd.DataFrame({"n": [True, False], "uid": [1.0, 2.0]})
    with pytest.raises(ValueError) as excinfo:
        validate(frame, [Column("n", "int"), Column("uid", "id")])
    msgs = problems(excinfo)
    assert any("column 'n': found dtype bool, expected kind 'int'" in m for m in msgs)
    assert any("column 'uid': found dtype float64, expected kind 'id'" in m for m in msgs)


def test_missing_ids_report_count_and_first_row():
    frame = good_frame()
    frame["user_id"] = ["u1", None, None]
    frame.index = [100, 101, 102]
    with pytest.raises(ValueError) as excinfo:
        validate(frame, SCHEMA)
    (msg,) = problems(excinfo)
    assert "column 'user_id' (kind 'id'): found NaN/None in 2 row(s), first at index 101" in msg
    assert "expected every row to have an id" in msg


def test_nan_int_ids_report_both_dtype_and_missing_rows():
    # A NaN turns an int id column into float64: tell the user about both.
    frame = good_frame().assign(item_id=[10, np.nan, 12])
    with pytest.raises(ValueError) as excinfo:
        validate(frame, SCHEMA)
    msgs = problems(excinfo)
    assert len(msgs) == 2
    assert "column 'item_id': found dtype float64" in msgs[0]
    assert "found NaN/None in 1 row(s), first at index 1" in msgs[1]


@pytest.mark.parametrize(
    "labels, expected",
    [([0, 2, -1], "values in {0, 1}"), ([0.0, 1.5, np.nan], "values in [0, 1] and no NaN")],
)
def test_labels_outside_range(labels, expected):
    frame = good_frame().assign(clicked=labels)
    with pytest.raises(ValueError) as excinfo:
        validate(frame, SCHEMA)
    (msg,) = problems(excinfo)
    assert "column 'clicked' (kind 'label')" in msg
    assert "2 row(s), first at index 1" in msg
    assert f"expected {expected}" in msg


def test_label_must_be_numeric():
    frame = good_frame().assign(clicked=["yes", "no", "yes"])
    with pytest.raises(ValueError, match=r"column 'clicked': found dtype (object|str), expected kind 'label'"):
        validate(frame, SCHEMA)


def test_list_column_values_must_be_lists():
    frame = pd.DataFrame({"hist": [[1, 2], "oops", [3]]})
    with pytest.raises(ValueError, match=r"column 'hist' \(kind 'list'\): found non-list values in 1 row"):
        validate(frame, [Column("hist", "list")])


def test_all_problems_reported_together_one_per_line():
    frame = good_frame().drop(columns=["price"])
    frame["user_id"] = [None, "u2", "u3"]
    frame["ts"] = ["a", "b", "c"]
    frame["clicked"] = [0, 1, 5]
    with pytest.raises(ValueError) as excinfo:
        validate(frame, SCHEMA, name="events")
    msgs = problems(excinfo)
    assert str(excinfo.value).startswith("events failed validation (4 problem(s)):")
    assert len(msgs) == 4
    assert ["'user_id'" in msgs[0], "'ts'" in msgs[1], "'clicked'" in msgs[2], "'price'" in msgs[3]] == [True] * 4


BIG = np.iinfo(np.int64).max


@pytest.mark.parametrize(
    "values, ints, ok",
    [
        (np.array([1, -2], dtype=np.int32), [1, -2], [True, True]),
        (np.array([1, 2**64 - 1], dtype=np.uint64), [1, 0], [True, False]),
        (np.array([1.0, 2.5, np.nan, np.inf]), [1, 0, 0, 0], [True, False, False, False]),
        (np.array(["12", "12abc", "nan", ""], dtype=object), [12, 0, 0, 0], [True, False, False, False]),
        # mixed types come back from pandas as floats: big integers are still read exactly
        (np.array([1.0, BIG, str(BIG), 2**63, 2.0**60], dtype=object), [1, BIG, BIG, 0, 0],
         [True, True, True, False, False]),
        (np.array([None, True, b"\xff"], dtype=object), [0, 0, 0], [False, False, False]),
        (np.array([True, False]), [0, 0], [False, False]),
        (np.array([1, True], dtype=object), [1, 0], [True, False]),
    ],
)
def test_as_int64_reads_exact_int64_integers_only(values, ints, ok):
    got, got_ok = as_int64(values)
    assert got.dtype == np.int64
    assert got.tolist() == ints and got_ok.tolist() == ok


@pytest.mark.parametrize(
    "kind, cell, example",
    [
        ("int_list", [1, 2.5], "2.5"),
        ("int_list", ["3", "x"], "'x'"),
        ("float_list", [0.5, "a"], "'a'"),
        ("string_list", ["a", 1], "1"),
        ("string_list", [None], "None"),
    ],
)
def test_list_elements_are_checked_per_kind_naming_row_and_element(kind, cell, example):
    frame = pd.DataFrame({"hist": [[], cell, np.array([], dtype=object)]}, index=[7, 8, 9])
    with pytest.raises(ValueError) as excinfo:
        validate(frame, [Column("hist", kind)], name="events.csv", where="line")
    (msg,) = problems(excinfo)
    assert msg.strip() == (f"- column 'hist' (kind '{kind}'): found invalid elements in 1 row(s), "
                           f"first at line 8, e.g. [{example}]; expected {KINDS[kind]}")


def test_padding_value_is_refused_as_an_id():
    frame = pd.DataFrame({"cat": ["a", "", ""], "item": [3, -1, 4]})
    with pytest.raises(ValueError) as excinfo:
        validate(frame, [Column("cat", "id", padding=""), Column("item", "int", padding=-1)])
    msgs = problems(excinfo)
    assert "column 'cat' (kind 'id'): found the padding value '' in 2 row(s), first at index 1" in msgs[0]
    assert "column 'item' (kind 'int'): found the padding value -1 in 1 row(s), first at index 1" in msgs[1]
