"""tf.data pipelines (tfrec_pkg/data/pipelines.py): FeatureSpec-shaped arrays, padding and
truncation, deterministic shuffling, validation errors, streaming CSV/Parquet = in-memory."""
import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data import files, pipelines
from tfrec_pkg.data.synthetic import ctr_with_history
from tfrec_pkg import specs
from tfrec_pkg.features import FeatureSpec

L = 3
SPECS = [
    FeatureSpec("user_id", "int64", vocabulary="user"),
    FeatureSpec("category_id", "string", vocabulary="category"),
    FeatureSpec("price", "float32"),
    FeatureSpec("hist_item_ids", "int64", (L,), vocabulary="item"),
    FeatureSpec("hist_category_ids", "string", (L,), vocabulary="category"),
]


def small_frame():
    return pd.DataFrame({
        "user_id": [1, 2, 3, 4],
        "category_id": ["007", "a", "b", "7"],
        "price": [0.5, 1.0, 1.5, 2.0],
        "hist_item_ids": [[10, 11, 12, 13, 14], [], [20], np.array([30, 31, 32])],
        "hist_category_ids": [["c1", "c2", "c3", "c4", "c5"], [], ["007"], ["x", "y", "z"]],
        "label": [1, 0, 1, 0],
        "extra": ["ignored"] * 4,
    })


def collect(ds):
    """Concatenate a batched dataset of dicts into numpy arrays."""
    parts = {}
    for batch in ds:
        for k, v in batch.items():
            parts.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def test_frame_to_arrays_shapes_dtypes_truncation_and_padding():
    arrays = pipelines.frame_to_arrays(small_frame(), SPECS)
    assert set(arrays) == {s.name for s in SPECS} | {"label"}
    for s in SPECS:
        assert arrays[s.name].shape == (4,) + s.shape, s.name
        assert arrays[s.name].dtype == s.np_dtype, s.name
    assert arrays["label"].dtype == np.float32
    np.testing.assert_array_equal(arrays["label"], [1, 0, 1, 0])
    # longer than L: the most recent L values, oldest first
    np.testing.assert_array_equal(arrays["hist_item_ids"][0], [12, 13, 14])
    assert list(arrays["hist_category_ids"][0]) == ["c3", "c4", "c5"]
    # zero-length history: all padding; short one: left-aligned, padded at the end
    np.testing.assert_array_equal(arrays["hist_item_ids"][1], [-1, -1, -1])
    assert list(arrays["hist_category_ids"][1]) == ["", "", ""]
    np.testing.assert_array_equal(arrays["hist_item_ids"][2], [20, -1, -1])
    assert list(arrays["hist_category_ids"][2]) == ["007", "", ""]
    np.testing.assert_array_equal(arrays["hist_item_ids"][3], [30, 31, 32])
    assert list(arrays["category_id"]) == ["007", "a", "b", "7"]


def test_custom_padding_value_is_used():
    specs = [FeatureSpec("hist_item_ids", "int64", (4,), vocabulary="item", padding=0)]
    arrays = pipelines.frame_to_arrays(small_frame(), specs, label=None)
    assert "label" not in arrays
    np.testing.assert_array_equal(arrays["hist_item_ids"], [[11, 12, 13, 14], [0] * 4, [20, 0, 0, 0],
                                                            [30, 31, 32, 0]])


def test_from_frame_element_spec_matches_feature_specs():
    ds = pipelines.from_frame(small_frame(), SPECS, batch_size=3)
    for s in SPECS:
        spec = ds.element_spec[s.name]
        assert spec.dtype == s.tf_dtype and spec.shape.as_list() == [None, *s.shape], s.name
    assert ds.element_spec["label"].dtype == tf.float32
    sizes = [int(b["user_id"].shape[0]) for b in ds]
    assert sizes == [3, 1]
    assert [int(b["user_id"].shape[0]) for b in pipelines.from_frame(small_frame(), SPECS, 3,
                                                                     drop_remainder=True)] == [3]
    got = collect(ds)
    want = pipelines.frame_to_arrays(small_frame(), SPECS)
    np.testing.assert_array_equal(got["hist_item_ids"], want["hist_item_ids"])
    assert got["hist_category_ids"].astype(str).tolist() == want["hist_category_ids"].astype(str).tolist()


def _order(ds):
    return [int(x) for b in ds for x in b["user_id"].numpy()]


def test_shuffle_is_deterministic_by_seed():
    frame = pd.DataFrame({"user_id": np.arange(64), "category_id": ["c"] * 64, "price": np.zeros(64),
                          "hist_item_ids": [[i] for i in range(64)], "hist_category_ids": [["c"]] * 64,
                          "label": np.zeros(64, np.int64)})
    plain = _order(pipelines.from_frame(frame, SPECS, 8))
    assert plain == list(range(64))
    a = _order(pipelines.from_frame(frame, SPECS, 8, shuffle=True, seed=7))
    b = _order(pipelines.from_frame(frame, SPECS, 8, shuffle=True, seed=7))
    c = _order(pipelines.from_frame(frame, SPECS, 8, shuffle=True, seed=8))
    assert a == b
    assert sorted(a) == plain and a != plain
    assert c != a
    # examples stay whole when shuffled: the history travels with its user
    for batch in pipelines.from_frame(frame, SPECS, 8, shuffle=True, seed=7):
        np.testing.assert_array_equal(batch["hist_item_ids"].numpy()[:, 0], batch["user_id"].numpy())


@pytest.mark.parametrize("change, match", [
    (lambda f: f.drop(columns="price"), "missing column 'price'"),
    (lambda f: f.drop(columns="label"), "missing column 'label'"),
    (lambda f: f.assign(user_id=[1.5, 2.5, 3.5, 4.5]), "column 'user_id': found dtype float64"),
    (lambda f: f.assign(price=["a", "b", "c", "d"]), "column 'price': found dtype"),
    (lambda f: f.assign(hist_item_ids=[1, 2, 3, 4]), "column 'hist_item_ids'"),
    (lambda f: f.assign(category_id=["a", None, "b", "c"]), "column 'category_id'.*NaN/None"),
    (lambda f: f.assign(user_id=[1.0, np.nan, 3.0, 4.0]), "column 'user_id'.*NaN/None"),
    (lambda f: f.assign(label=[0, 1, 2, 0]), "column 'label'"),
    (lambda f: f.iloc[:0], "empty"),
])
def test_bad_frames_raise_naming_the_column(change, match):
    with pytest.raises(ValueError, match=match):
        pipelines.frame_to_arrays(change(small_frame()), SPECS)
    with pytest.raises(ValueError, match=match):
        pipelines.from_frame(change(small_frame()), SPECS, batch_size=2)


@pytest.mark.parametrize("bad", [0, -1, 2.0, "8", None])
def test_bad_batch_size_raises(bad):
    with pytest.raises(ValueError, match="batch_size"):
        pipelines.from_frame(small_frame(), SPECS, batch_size=bad)


# ------------------------------------------------------------------------ streaming files

@pytest.fixture(scope="module")
def ctr_frame():
    data = ctr_with_history(num_users=12, impressions_per_user=6, num_items=30, max_history=4, seed=3)
    frame = data.frame.copy()
    # raw string ids with leading zeros must survive the CSV round trip
    frame["category_id"] = ["0" + c.replace("cat", "0") for c in frame["category_id"]]
    frame["hist_category_ids"] = [["0" + c.replace("cat", "0") for c in h] for h in frame["hist_category_ids"]]
    return frame, specs.click_history(4, category_dtype="string")


def _assert_same_examples(got, want, specs):
    assert set(got) == set(want)
    n = len(want["label"])
    assert all(len(v) == n for v in got.values())
    for s in specs:
        g, w = got[s.name], want[s.name]
        if s.dtype == "string":
            g = np.vectorize(lambda x: x.decode() if isinstance(x, bytes) else x, otypes=[object])(g)
            w = np.vectorize(lambda x: x.decode() if isinstance(x, bytes) else x, otypes=[object])(w)
        np.testing.assert_array_equal(g, w, err_msg=s.name)
    np.testing.assert_array_equal(got["label"], want["label"])


def test_csv_stream_equals_from_frame(ctr_frame, tmp_path):
    frame, specs = ctr_frame
    path = str(tmp_path / "ctr.csv")
    pipelines.write_csv(frame, path, specs)
    assert len(frame) == 72
    text = open(path).read()
    assert "0015" in text or "007" in text or ",00" in text  # leading zeros written as-is
    want = collect(pipelines.from_frame(frame, specs, 16))
    got = collect(pipelines.from_files(path, specs, 16, chunk_rows=10))  # 8 chunks
    _assert_same_examples(got, want, specs)
    cats = got["category_id"].astype(bytes).astype(str)
    assert all(c.startswith("00") for c in cats)
    assert (got["hist_item_ids"] == -1).any()  # empty histories became padding


def test_parquet_stream_equals_from_frame(ctr_frame, tmp_path):
    frame, specs = ctr_frame
    path = str(tmp_path / "ctr.parquet")
    frame.to_parquet(path, row_group_size=25)
    want = collect(pipelines.from_frame(frame, specs, 16))
    chunks = list(files.read_chunks(path, pipelines.required_columns(specs, "label"), 10))
    assert len(chunks) >= 4 and sum(len(c) for c in chunks) == len(frame)
    got = collect(pipelines.from_files(path, specs, 16, chunk_rows=10))
    _assert_same_examples(got, want, specs)


def test_several_files_and_shuffle_buffer(ctr_frame, tmp_path):
    frame, specs = ctr_frame
    a, b = str(tmp_path / "a.csv"), str(tmp_path / "b.parquet")
    pipelines.write_csv(frame.iloc[:30], a, specs)
    frame.iloc[30:].to_parquet(b)
    want = collect(pipelines.from_frame(frame, specs, 16))
    _assert_same_examples(collect(pipelines.from_files([a, b], specs, 16, chunk_rows=7)), want, specs)
    s1 = collect(pipelines.from_files([a, b], specs, 16, chunk_rows=7, shuffle_buffer=50, seed=1))
    s2 = collect(pipelines.from_files([a, b], specs, 16, chunk_rows=7, shuffle_buffer=50, seed=1))
    np.testing.assert_array_equal(s1["user_id"], s2["user_id"])
    np.testing.assert_array_equal(s1["item_id"], s2["item_id"])
    assert not np.array_equal(s1["item_id"], want["item_id"])
    key = lambda d: sorted(zip(d["user_id"].tolist(), d["item_id"].tolist(), d["label"].tolist(),
                               map(tuple, d["hist_item_ids"].tolist())))
    assert key(s1) == key(want)


def test_string_ids_like_007_survive_csv(tmp_path):
    specs = [FeatureSpec("user_id", "string", vocabulary="user"),
             FeatureSpec("hist", "string", (2,), vocabulary="item")]
    frame = pd.DataFrame({"user_id": ["007", "0", "10"], "hist": [["001", "02"], [], ["0003"]],
                          "label": [1, 0, 1]})
    path = str(tmp_path / "ids.csv")
    pipelines.write_csv(frame, path, specs)
    got = collect(pipelines.from_files(path, specs, 2, chunk_rows=2))
    assert [x.decode() for x in got["user_id"]] == ["007", "0", "10"]
    assert [[x.decode() for x in row] for row in got["hist"]] == [["001", "02"], ["", ""], ["0003", ""]]


def test_missing_columns_in_files_raise(ctr_frame, tmp_path):
    frame, specs = ctr_frame
    pq_path, csv_path = str(tmp_path / "x.parquet"), str(tmp_path / "x.csv")
    frame.drop(columns="item_id").to_parquet(pq_path)
    columns = pipelines.required_columns(specs, "label")
    with pytest.raises(ValueError, match="(?s)x.parquet failed validation.*missing column 'item_id'"):
        list(files.read_chunks(pq_path, columns, 10))
    pipelines.write_csv(frame.drop(columns="item_id"), csv_path, specs)
    with pytest.raises(ValueError, match="(?s)x.csv failed validation.*missing column 'item_id'"):
        list(files.read_chunks(csv_path, columns, 10))
    with pytest.raises(ValueError, match="missing column 'item_id'"):  # before any iteration
        pipelines.from_files(csv_path, specs, 4)


def test_nonexistent_file_raises(tmp_path):
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        pipelines.from_files(missing, SPECS, 4)
    present = str(tmp_path / "present.csv")
    pipelines.write_csv(small_frame(), present, SPECS)
    # checked up front, before any file is read
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        pipelines.from_files([present, missing], SPECS, 4)
    assert len(collect(pipelines.from_files([present], SPECS, 4))["label"]) == 4


def test_length_buckets_keep_every_row_once_with_its_values():
    from tfrec_pkg.data.pipelines import from_frame
    from tfrec_pkg.features import FeatureSpec

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 13, 200)
    frame = pd.DataFrame({"row": np.arange(200), "hist": [list(range(100 * r, 100 * r + n)) for r, n in enumerate(lengths)],
                          "label": 1})
    specs = [FeatureSpec("row", "int64"), FeatureSpec("hist", "int64", (12,))]
    for shuffle in (False, True):
        seen = {}
        for batch in from_frame(frame, specs, 16, shuffle=shuffle, seed=3, length_buckets=(4, 8)):
            width = batch["hist"].shape[1]
            assert width in (4, 8, 12)
            for row, hist in zip(batch["row"].numpy(), batch["hist"].numpy()):
                n = lengths[row]
                assert (4 if n <= 4 else 8 if n <= 8 else 12) == width and row not in seen
                np.testing.assert_array_equal(hist[:n], np.arange(100 * row, 100 * row + n))
                assert (hist[n:] == -1).all()
                seen[row] = True
        assert len(seen) == 200
    order = lambda seed: [int(r) for b in from_frame(frame, specs, 16, shuffle=True, seed=seed, length_buckets=(4, 8))
                          for r in b["row"].numpy()]
    assert order(1) == order(1) and order(1) != order(2)
