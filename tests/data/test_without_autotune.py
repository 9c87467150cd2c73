"""tf.data's autotuning is off in every dataset the library makes and in every dataset a model's
``fit``, ``evaluate`` and ``predict`` read, the user's own included
(tfrec_pkg/data/pipelines.py, ``without_autotune``): with it on, destroying an iterator waits for
the autotuner's thread, seconds at every epoch's end. The waits themselves are measured, not
unit-tested (timings).

Mutations tried, each caught: ``from_files`` returning its dataset as it was (1 failure);
``RecModel`` passing a plain dataset through (2 failures)."""
import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg import experiment, specs
from tfrec_pkg.data import pipelines
from tfrec_pkg.data.synthetic import ctr_with_history
from tfrec_pkg.data.synthetic.resource_limited import resource_limited
from tfrec_pkg.data.tbatch_windows import WindowedStream


def autotuned(ds) -> bool:
    return ds.options().autotune.enabled is not False  # unset means on


def test_every_library_pipeline_runs_without_autotune(tmp_path):
    frame = ctr_with_history(num_users=12, impressions_per_user=6, num_items=30, max_history=4, seed=3).frame
    feature_specs = specs.click_history(4, category_dtype="string")
    path = str(tmp_path / "ctr.csv")
    pipelines.write_csv(frame, path, feature_specs)
    made = {"from_frame": pipelines.from_frame(frame, feature_specs, 8, shuffle=True),
            "groups": pipelines.from_frame(frame, feature_specs, 8, group_size=2),
            "length buckets": pipelines.from_frame(frame, feature_specs, 8, shuffle=True, length_buckets=(2,)),
            "from_files": pipelines.from_files(path, feature_specs, 8),
            "t-batch windows": WindowedStream.from_stream(
                resource_limited(num_users=10, num_items=20, num_events=500, seed=3), parts=20).dataset("train")}
    assert autotuned(tf.data.Dataset.range(3))  # the default the helper changes
    assert [name for name, ds in made.items() if autotuned(ds)] == []


@pytest.mark.parametrize("jit", [False, True])
def test_a_models_fit_evaluate_and_predict_read_the_users_dataset_without_autotune(monkeypatch, jit):
    entry, config = experiment.resolve(("mf", {"jit_compile": jit}))
    train, _, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
    model = experiment.build(entry, train.vocab, config, compile=True)
    arrays = next(iter(train.dataset(32, shuffle=False).unbatch().batch(32)))
    own = tf.data.Dataset.from_tensor_slices({k: v.numpy() for k, v in arrays.items()}).batch(8)
    assert autotuned(own)
    seen = []
    for method in ("fit", "evaluate", "predict"):
        monkeypatch.setattr(tf.keras.Model, method,
                            lambda self, x=None, *a, validation_data=None, **k: seen.append((x, validation_data)))
    model.fit(own, validation_data=own, verbose=0)
    model.evaluate(own, verbose=0)
    model.predict(own, verbose=0)
    creator = tf.keras.utils.experimental.DatasetCreator(lambda context: own)
    model.fit(creator, steps_per_epoch=1, verbose=0)
    read = [x for pair in seen for x in pair if x is not None]
    read[-1] = read[-1].dataset_fn(tf.distribute.InputContext())
    assert len(read) == 5 and all(isinstance(ds, tf.data.Dataset) for ds in read)
    assert [autotuned(ds) for ds in read] == [False] * 5
    np.testing.assert_equal(len(list(read[0])), 4)  # the same 32 rows in batches of 8
