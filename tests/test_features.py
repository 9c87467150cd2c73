"""FeatureSpec (tfrec_pkg/features.py): TensorSpecs, default padding, validation, signature()."""
import pytest

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.features import FeatureSpec, by_name, signature


@pytest.mark.parametrize("dtype, tf_dtype, pad", [
    ("int64", tf.int64, -1),
    ("string", tf.string, ""),
    ("float32", tf.float32, 0.0),
])
def test_scalar_tensor_spec_and_default_padding(dtype, tf_dtype, pad):
    s = FeatureSpec("x", dtype)
    spec = s.tensor_spec()
    assert isinstance(spec, tf.TensorSpec)
    assert spec.dtype == tf_dtype
    assert spec.shape.as_list() == [None]
    assert spec.name == "x"
    assert s.padding == pad and type(s.padding) is type(pad)
    assert not s.is_sequence
    with pytest.raises(ValueError, match="scalar"):
        s.max_len


def test_sequence_tensor_spec_batch_and_explicit_padding():
    s = FeatureSpec("hist", "int64", [7], vocabulary="item", padding=0)
    assert s.shape == (7,) and isinstance(s.shape, tuple)
    assert s.is_sequence and s.max_len == 7
    assert s.padding == 0  # explicit padding is kept, not replaced by the default
    assert s.tensor_spec().shape.as_list() == [None, 7]
    assert s.tensor_spec(batch=4).shape.as_list() == [4, 7]
    d = s.to_dict()
    assert d == {"name": "hist", "dtype": "int64", "shape": [7], "vocabulary": "item", "padding": 0}


def test_spec_accepts_a_tensor_of_its_own_shape():
    s = FeatureSpec("hist", "string", (3,))
    assert s.tensor_spec().is_compatible_with(tf.constant([["a", "b", ""], ["c", "", ""]]))
    assert not s.tensor_spec().is_compatible_with(tf.constant([[1, 2, 3]], tf.int64))
    assert not s.tensor_spec().is_compatible_with(tf.constant([["a", "b"]]))


@pytest.mark.parametrize("dtype", ["int32", "float64", "str", "", None])
def test_bad_dtype_raises(dtype):
    with pytest.raises(ValueError, match="dtype"):
        FeatureSpec("bad_feature", dtype)


def test_two_dimensional_shape_raises_naming_feature():
    with pytest.raises(ValueError, match="grid.*more than one dimension"):
        FeatureSpec("grid", "float32", (2, 3))


def test_signature_maps_names_to_specs():
    specs = [FeatureSpec("user_id", "int64", vocabulary="user"),
             FeatureSpec("category_id", "string", vocabulary="category"),
             FeatureSpec("hist_item_ids", "int64", (5,), vocabulary="item")]
    sig = signature(specs)
    assert list(sig) == ["user_id", "category_id", "hist_item_ids"]
    assert sig["user_id"] == tf.TensorSpec((None,), tf.int64, name="user_id")
    assert sig["category_id"] == tf.TensorSpec((None,), tf.string, name="category_id")
    assert sig["hist_item_ids"] == tf.TensorSpec((None, 5), tf.int64, name="hist_item_ids")
    assert by_name(specs)["hist_item_ids"] is specs[2]
    assert signature([]) == {}


def test_spec_is_frozen():
    s = FeatureSpec("x", "int64")
    with pytest.raises(Exception):
        s.name = "y"
