"""Every registered model trains under two replicas (``tf.distribute.MirroredStrategy`` over two
logical CPU devices, the in-process form of multi-worker mirrored training): one epoch of
``training.train`` on the first rows of its quick planted data, with validation. Logical devices
must be set before TensorFlow starts, so this runs as a script of its own and prints one line
``RESULT {json}``: per model, its logged training and validation losses, or the error.
"""
import dataclasses

import tfrec_pkg  # noqa: F401  (the Keras 2 API before TensorFlow)
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tfrec_pkg import experiment, training  # noqa: E402
from tfrec_pkg.bench import child  # noqa: E402
from tfrec_pkg.models import registry  # noqa: E402

ROWS = 640


def _head(split, rows):
    frame = getattr(split, "frame", None)
    if frame is None or not hasattr(split, "specs"):
        return split   # a stream split: time windows, taken whole
    group = getattr(split, "group_size", 1)
    return dataclasses.replace(split, frame=frame.iloc[:rows - rows % max(group, 1)].reset_index(drop=True))


strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
results = {}
for name in registry.names():
    try:
        entry, config = experiment.resolve(name)
        train, val, _ = experiment.planted_splits(entry, config, quick=True, seed=0)
        with strategy.scope():
            model = experiment.build(entry, train.vocab, config, seed=0,
                                     options=getattr(train, "model_options", None))
        history = training.train(model, _head(train, ROWS), _head(val, ROWS // 2), epochs=1, batch_size=64,
                                 verbose=0)
        results[name] = {k: float(v[-1]) for k, v in history.history.items() if k in ("loss", "val_loss")}
    except Exception as e:  # reported, not raised: the test names every model that fails
        results[name] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
child.report(results)
