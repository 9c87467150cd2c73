"""Trained-model directories keep the optimizer: a model saved after training and loaded with
``with_optimizer=True`` continues with the same Adam step count and moments, so one more epoch
from the directory equals one more epoch of the model that never stopped."""
import numpy as np

import tfrec_pkg  # noqa: F401
import tensorflow as tf

from tfrec_pkg.data.synthetic.providers import providers
from tfrec_pkg.models import RecModel
from tfrec_pkg.models.baselines.sasrec import SASRec, SASRecConfig
from tfrec_pkg.training import train


def test_continued_training_resumes_the_optimizer(tmp_path):
    train_split, _, _ = providers(num_users=60, num_items=40, num_providers=5, num_topics=3, seq_len=8,
                                  max_history=6, seed=1).splits()
    config = SASRecConfig(max_history=6, item_dim=8, ffn_dim=16, dropout=0.0, epochs=1, batch_size=64)
    tf.keras.utils.set_random_seed(0)
    model = SASRec(config, train_split.vocab)
    train(model, train_split, verbose=0)
    path = model.save_trained(str(tmp_path / "run"))
    loaded = RecModel.load_trained(path, with_optimizer=True)
    assert type(loaded) is SASRec
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    moments = lambda m: [v.numpy() for v in m.optimizer.variables[1:]]  # after the step count: m, v per variable
    assert len(moments(loaded)) == len(moments(model)) == 2 * len(model.trainable_variables)
    for a, b in zip(moments(model), moments(loaded)):
        np.testing.assert_array_equal(a, b)
    assert any(np.abs(a).sum() > 0 for a in moments(model))
    for m in (model, loaded):  # one more epoch each, same order of batches
        train(m, train_split, epochs=1, verbose=0, seed=5)
    for a, b in zip(model.trainable_variables, loaded.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    fresh = RecModel.load_trained(path)  # for inference: no optimizer
    assert fresh.optimizer is None
