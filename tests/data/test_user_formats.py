"""Readers of users' own formats (tfrec_pkg/data/datasets/user_formats.py) on small files in each
exact public format, bad lines included."""
import numpy as np
import pandas as pd
import pytest

from tfrec_pkg import specs
from tfrec_pkg.data.datasets.user_formats import read_log, read_pairs, read_recbole, read_sequences

U = specs.UNKNOWN_PROVIDER


def test_sequences_and_brands(tmp_path):
    path = tmp_path / "Toys.txt"
    path.write_text("1 10 11 12\n2 11 13\n\n3 12 10 14 11\n")
    attrs = tmp_path / "Toys_item2attributes.json"
    # 10: brand 1; 11: brand 2; 12: first attribute 5 also appears later (in 13) -> no brand;
    # 13: brand 3; 14 absent -> unknown
    attrs.write_text('{"10": [1, 7], "11": [2, 8], "12": [5, 9], "13": [3, 5]}')
    frame = read_sequences(path, item_attributes=attrs, progress=False)
    assert frame[["user_id", "item_id", "timestamp"]].values.tolist() == [
        [1, 10, 0], [1, 11, 1], [1, 12, 2], [2, 11, 0], [2, 13, 1], [3, 12, 0], [3, 10, 1], [3, 14, 2], [3, 11, 3]]
    assert frame["provider_id"].tolist() == [1, 2, U, 2, 3, U, 1, U, 2]
    assert frame.attrs["unknown_provider_items"] == 2
    one_unknown = read_sequences(path, item_attributes=attrs, unknown_brands=(1,), progress=False)
    assert one_unknown["provider_id"].tolist() == [U, 2, U, 2, 3, U, U, U, 2]
    assert one_unknown.attrs["unknown_provider_items"] == 3
    plain = read_sequences(path, chunk_rows=1, progress=False)
    assert (plain["provider_id"] == U).all()
    pd.testing.assert_frame_equal(plain, read_sequences(path, progress=False))


@pytest.mark.parametrize("text, message", [
    ("1 10 11\n2 11 abc 12\n3 4 5\n2 x\n", "Toys.txt line 2, column 3: found 'abc'; expected an integer item id "
                                          "(1 more bad line(s) in the same chunk)"),
    ("1 10 11\nu2 11\n", "Toys.txt line 2, column 1: found 'u2'; expected an integer user id"),
    ("1 10 11\n2\n", "Toys.txt line 2, column 2: found 'the end of the line'; expected at least one item id"),
    ("1 10 11\n1 12\n", "Toys.txt line 2, column 1: found '1'; expected a user id not seen before (also on line 1)"),
])
def test_sequences_bad_lines(tmp_path, text, message):
    path = tmp_path / "Toys.txt"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        read_sequences(path, progress=False)
    assert message in str(e.value)


def test_pairs(tmp_path):
    path = tmp_path / "Beauty.txt"
    path.write_text("1 5\n1 6\n2\t5\n\n1 7\n")
    frame = read_pairs(path, chunk_rows=2, progress=False)
    assert frame[["user_id", "item_id", "timestamp", "provider_id"]].values.tolist() == [
        [1, 5, 1, U], [1, 6, 2, U], [1, 7, 5, U], [2, 5, 3, U]]
    path.write_text("1 5\n1 6 7\n1 x\n")
    with pytest.raises(ValueError, match=r"Beauty.txt line 2, column 3: found '7'; expected exactly two fields"):
        read_pairs(path, progress=False)
    path.write_text("1 5\n1 x\n")
    with pytest.raises(ValueError, match=r"Beauty.txt line 2, column 2: found 'x'; expected an integer item id"):
        read_pairs(path, progress=False)
    with pytest.raises(FileNotFoundError):
        read_pairs(tmp_path / "missing.txt")


COLUMNS = {"user_id": "uid", "item_id": "sku", "timestamp": "ts", "provider_id": "brand"}


def test_log_csv_parquet_frame(tmp_path):
    raw = pd.DataFrame({"uid": [2, 1, 1, 2, 1], "sku": [30, 10, 20, 10, 30], "ts": [5, 9, 3, 5, 3],
                        "brand": [7, 8, 9, 8, 7], "price": [1.5, 2.0, 2.5, 3.0, 3.5]})
    csv_path = tmp_path / "log.csv"
    raw.to_csv(csv_path, index=False)
    parquet_path = tmp_path / "log.parquet"
    raw.to_parquet(parquet_path, row_group_size=2)
    expected = pd.DataFrame({"user_id": [1, 1, 1, 2, 2], "item_id": [20, 30, 10, 30, 10],
                             "timestamp": [3, 3, 9, 5, 5], "provider_id": [9, 7, 8, 7, 8],
                             "price": [2.5, 3.5, 2.0, 1.5, 3.0]})
    for source in (csv_path, parquet_path, raw):
        frame = read_log(source, columns=COLUMNS, chunk_rows=2, progress=False)
        pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
        assert frame["user_id"].dtype == np.int64 and frame["timestamp"].dtype == np.int64
    # no provider column: the unknown provider
    assert (read_log(raw.drop(columns="brand"), columns={k: v for k, v in COLUMNS.items() if k != "provider_id"},
                     progress=False)["provider_id"] == U).all()


def test_log_string_ids_and_datetimes(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("uid,sku,ts,brand\nbob,B2,2021-01-01 00:00:10,acme\nann,A1,2021-01-01,\n"
                    "bob,A1,2021-01-01 00:00:05,zeta\n")
    frame = read_log(path, columns=COLUMNS, progress=False)
    assert frame.attrs["id_maps"] == {"user_id": ["ann", "bob"], "item_id": ["A1", "B2"],
                                      "provider_id": ["acme", "zeta"]}
    t0 = 1609459200  # 2021-01-01 UTC
    assert frame[["user_id", "item_id", "timestamp", "provider_id"]].values.tolist() == [
        [0, 0, t0, U], [1, 0, t0 + 5, 1], [1, 1, t0 + 10, 0]]


def test_log_bad_rows(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("uid,sku,ts\n1,10,5\n\n2,,6\n3,11,abc\n")
    names = {"user_id": "uid", "item_id": "sku", "timestamp": "ts"}
    with pytest.raises(ValueError, match=r"log.csv line 4, column 2 \('sku'\): found an empty field; expected an "
                                         r"item id \(1 more bad line\(s\) in the same chunk\)"):
        read_log(path, columns=names, progress=False)
    path.write_text("uid,sku,ts\n1,10,5\n\n2,11,6\n3,11,abc\n")
    with pytest.raises(ValueError, match=r"log.csv line 5, column 3 \('ts'\): found 'abc'; expected a number"):
        read_log(path, columns=names, chunk_rows=2, progress=False)
    with pytest.raises(ValueError, match=r"lacks column\(s\) 'item_id' \(item_id\)"):
        read_log(path, columns={"user_id": "uid", "timestamp": "ts"}, progress=False)
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": [3.0, np.nan], "timestamp": [1, 2]})
    with pytest.raises(ValueError, match=r"DataFrame row 1, column 2 \('item_id'\)"):
        read_log(frame, progress=False)


def test_recbole(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "toy.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n\n186\t242\t5\t881250950\n")
    (folder / "toy.item").write_text(
        "item_id:token\tbrand:token\tcategories:token_seq\tprice:float\n"
        "242\tacme\tToys Games\t9.5\n302\tzeta\tBooks\t3\n")
    (folder / "toy.user").write_text("user_id:token\tage:float\n196\t24\n")
    for path in (folder, folder / "toy.inter"):
        frame = read_recbole(path, columns={"provider_id": "brand"}, chunk_rows=2, progress=False)
        assert frame[["user_id", "item_id", "timestamp", "provider_id"]].values.tolist() == [
            [186, 242, 881250950, 0], [186, 302, 891717742, 1], [196, 377, 878887116, U], [196, 242, 881250949, 0]]
        assert list(frame.columns) == ["user_id", "item_id", "timestamp", "provider_id", "rating", "categories",
                                       "price", "age"]
        assert frame.attrs["id_maps"] == {"provider_id": ["acme", "zeta"]}
        assert frame.attrs["item_columns"] == ["categories", "price"]
        rows = frame.set_index("timestamp")
        assert rows.loc[881250950, "categories"] == ["Toys", "Games"]
        assert rows.loc[891717742, "price"] == 3.0 and rows.loc[878887116, "provider_id"] == U
        assert rows.loc[878887116, "age"] == 24.0 and np.isnan(rows.loc[891717742, "age"])
        assert frame["user_id"].tolist() == [186, 186, 196, 196]
        assert frame["timestamp"].tolist() == [881250950, 891717742, 878887116, 881250949]
    (folder / "toy.inter").write_text("user_id:token\titem_id:token\trating:float\n1\t2\tx\n")
    with pytest.raises(ValueError, match=r"toy.inter line 2, column 3: found 'x'; expected a number \(field rating:float\)"):
        read_recbole(folder, progress=False)
    (folder / "toy.inter").write_text("user_id\titem_id:token\n1\t2\n")
    with pytest.raises(ValueError, match=r"toy.inter line 1, column 1: found 'user_id'; expected a RecBole field"):
        read_recbole(folder, progress=False)
    (folder / "toy.inter").write_text("user_id:token\titem_id:token\n1\t2\n1\t3\n")
    assert read_recbole(folder, progress=False)["timestamp"].tolist() == [2, 3]  # line numbers
