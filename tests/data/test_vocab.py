"""Vocabularies (tfrec_pkg/data/vocab.py) and their in-graph twin, the Keras lookup layer of
``Vocabulary.layer``."""
import json

import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data.vocab import Vocabulary, fit_vocabularies
from tfrec_pkg.features import OOV_INDEX, PAD_INDEX, FeatureSpec


def test_fit_orders_by_frequency_then_id():
    values = pd.Series([30, 10, 20, 30, 20, 30, 40, 10, -1, -1, -1, -1])
    v = Vocabulary.fit(values)
    # counts: 30x3, 10x2, 20x2, 40x1; ties (10, 20) broken by id; padding -1 ignored
    assert v.dtype == "int64"
    assert v.ids == [30, 10, 20, 40]
    assert v.size == 6
    np.testing.assert_array_equal(v.lookup([30, 10, 20, 40]), [2, 3, 4, 5])


def test_fit_is_independent_of_input_order():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 20, 300)
    a = Vocabulary.fit(values)
    b = Vocabulary.fit(rng.permutation(values))
    assert a == b
    counts = pd.Series(values).value_counts()
    # most frequent first: counts along ids never increase
    assert list(counts[a.ids]) == sorted(counts[a.ids], reverse=True)


def test_padding_index_zero_and_oov_index_one():
    assert (PAD_INDEX, OOV_INDEX) == (0, 1)
    v = Vocabulary.fit([5, 5, 6])
    out = v.lookup(np.array([[5, -1, 99], [6, 7, -1]]))
    np.testing.assert_array_equal(out, [[2, 0, 1], [3, 1, 0]])
    assert out.dtype == np.int64 and out.shape == (2, 3)


def test_min_count_sends_rare_ids_to_oov():
    v = Vocabulary.fit([1, 1, 1, 2, 2, 3], min_count=2)
    assert v.ids == [1, 2]
    np.testing.assert_array_equal(v.lookup([1, 2, 3]), [2, 3, OOV_INDEX])


def test_string_ids_keep_leading_zeros():
    v = Vocabulary.fit(pd.Series(["007", "7", "007", "", "b"]))
    assert v.dtype == "string" and v.padding == ""
    assert v.ids == ["007", "7", "b"]
    np.testing.assert_array_equal(v.lookup(["7", "007", "", "zzz"]), [3, 2, PAD_INDEX, OOV_INDEX])


def test_explicit_dtype_overrides_inference():
    v = Vocabulary.fit(pd.Series([3, 3, 4]), dtype="string")
    assert v.dtype == "string" and v.ids == ["3", "4"]
    np.testing.assert_array_equal(v.lookup(["4", "3", "5"]), [3, 2, 1])


def test_nested_sequence_columns_are_flattened():
    col = pd.Series([np.array([1, 2, 2]), np.array([], dtype=np.int64), np.array([2, 3])])
    v = Vocabulary.fit(col, dtype="int64")
    assert v.ids == [2, 1, 3]
    lists = pd.Series([["a", "b"], ["b"], []])
    assert Vocabulary.fit(lists, dtype="string").ids == ["b", "a"]


def test_bad_vocabularies_raise():
    with pytest.raises(ValueError, match="dtype"):
        Vocabulary([1, 2], "float32")
    with pytest.raises(ValueError, match="padding"):
        Vocabulary([1, -1], "int64")
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "a"], "string")


@pytest.mark.parametrize("dtype, known, queries", [
    ("int64", [500003, 500001, 7], np.array([[500001, -1, 123456789], [7, 500003, -1], [0, 1, 2]])),
    ("string", ["cat1", "007", "x"], np.array([["007", "", "7"], ["cat1", "nope", ""], ["x", "X", " "]],
                                              dtype=object)),
])
def test_numpy_lookup_equals_in_graph_layer(dtype, known, queries):
    v = Vocabulary(known, dtype)
    expected = v.lookup(queries)
    layer = v.layer(name="lookup")
    got = layer(tf.constant(queries if dtype == "int64" else queries.astype(str))).numpy()
    np.testing.assert_array_equal(got, expected)
    # padding, OOV and known ids are all present in the queries
    assert {0, 1, 2, 3, 4} <= set(expected.ravel().tolist())
    # also inside a tf.function with an unknown batch size
    spec = tf.TensorSpec((None, 3), tf.int64 if dtype == "int64" else tf.string)
    fn = tf.function(lambda x: layer(x), input_signature=[spec])
    np.testing.assert_array_equal(fn(tf.constant(queries if dtype == "int64" else queries.astype(str))).numpy(),
                                  expected)


def test_int_lookup_accepts_int32_and_rejects_strings():
    layer = Vocabulary([4, 5], "int64").layer(name="lookup_item")
    out = layer(tf.constant([5, 4, 6, -1], tf.int32))
    np.testing.assert_array_equal(out.numpy(), [3, 2, 1, 0])
    assert out.dtype == tf.int64
    with pytest.raises(tf.errors.UnimplementedError) as err:  # Keras casts, strings cannot be cast
        layer(tf.constant(["4"]))
    assert "lookup_item" in str(err.value) and "to int64" in str(err.value)
    with pytest.raises(tf.errors.UnimplementedError) as err:
        Vocabulary(["4"], "string").layer(name="lookup_cat")(tf.constant([4]))
    assert "lookup_cat" in str(err.value) and "to string" in str(err.value)


@pytest.mark.parametrize("vocab", [Vocabulary([4, 5], "int64"), Vocabulary([], "int64"),
                                   Vocabulary([4, 5], "int64", padding=np.iinfo(np.int64).min)])
def test_int_lookup_oov_token_is_never_the_padding(vocab):
    layer = vocab.layer()
    if hasattr(layer, "get_vocabulary"):
        special = layer.get_vocabulary()[:2]
        assert special[0] == vocab.padding and special[1] != vocab.padding
    assert layer(tf.constant([vocab.padding, 6])).numpy().tolist() == [PAD_INDEX, OOV_INDEX]


def test_to_dict_from_dict_round_trip_through_json():
    for v in (Vocabulary.fit([3, 1, 3, 2]), Vocabulary.fit(["b", "a", "b"]), Vocabulary([9], "int64", padding=0)):
        back = Vocabulary.from_dict(json.loads(json.dumps(v.to_dict())))
        assert back == v
        assert back.padding == v.padding and back.dtype == v.dtype
        q = [9, 0, 3, 1] if v.dtype == "int64" else ["a", "", "b", "c"]
        np.testing.assert_array_equal(back.lookup(q), v.lookup(q))
    assert Vocabulary([9], "int64", padding=0).lookup([0, -1, 9]).tolist() == [0, 1, 2]


def test_fit_vocabularies_shares_item_vocab_between_target_and_history():
    specs = [FeatureSpec("item_id", "int64", vocabulary="item"),
             FeatureSpec("hist_item_ids", "int64", (3,), vocabulary="item"),
             FeatureSpec("category_id", "string", vocabulary="category"),
             FeatureSpec("price", "float32")]
    frame = pd.DataFrame({
        "item_id": [10, 11, 10],
        "hist_item_ids": [[12, 12, 12], [12, 13], []],  # 12 and 13 appear only in histories
        "category_id": ["a", "b", "b"],
        "price": [1.0, 2.0, 3.0],
    })
    vocabs = fit_vocabularies(frame, specs)
    assert set(vocabs) == {"item", "category"}
    assert vocabs["item"].ids == [12, 10, 11, 13]  # counts 4, 2, 1, 1
    assert vocabs["category"].ids == ["b", "a"]
    with pytest.raises(ValueError, match="hist_item_ids"):
        fit_vocabularies(frame.drop(columns="hist_item_ids"), specs)


@pytest.mark.parametrize("vocab, ids, expected", [
    (Vocabulary(["x", "y"], "string"), [["y", "", "z", "x"]], [[3, 0, 1, 2]]),
    (Vocabulary([7, 3], "int64"), [[3, -1, 9, 7]], [[3, 0, 1, 2]]),
    (Vocabulary([], "string"), [["y", "", "z"]], [[1, 0, 1]]),
])
def test_lookup_layer_get_config_from_config_round_trip(vocab, ids, expected):
    layer = vocab.layer(name="lookup_x")
    # numpy scalars (IntegerLookup keeps its tokens as np.int64) become plain JSON numbers
    config = json.loads(json.dumps(layer.get_config(), default=lambda o: o.item()))
    clone = type(layer).from_config(config)
    assert clone.name == "lookup_x"
    ids = tf.constant(ids)
    np.testing.assert_array_equal(clone(ids).numpy(), layer(ids).numpy())
    np.testing.assert_array_equal(clone(ids).numpy(), expected)
    obj = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
    assert type(obj) is type(layer)
    np.testing.assert_array_equal(obj(ids).numpy(), expected)


@pytest.mark.parametrize("dtype, ids, pad", [
    ("int64", [0, 5, -1, 123], -1),
    ("string", ["", "a", "zz", ""], ""),
])
def test_empty_vocabulary_maps_everything_to_oov_except_padding(dtype, ids, pad):
    v = Vocabulary([], dtype)
    assert v.size == 2
    expected = [PAD_INDEX if i == pad else OOV_INDEX for i in ids]
    np.testing.assert_array_equal(v.lookup(ids), expected)
    np.testing.assert_array_equal(v.layer()(tf.constant(ids)).numpy(), expected)
    # the placeholder key of the empty table must not become a known id
    assert (np.asarray(v.layer()(tf.constant(ids)).numpy()) != 2).all()
