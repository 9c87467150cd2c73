import numpy as np
import tensorflow as tf

from tfrec_pkg.layers.sequence import last_step, masked_step


def test_last_step_reads_the_last_real_step_of_left_aligned_rows():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(3, 4, 2)).astype(np.float32)
    ids = np.array([[5, 6, 7, 0], [9, 0, 0, 0], [0, 0, 0, 0]])
    want = np.stack([h[0, 2], h[1, 0], h[2, 0]])  # an empty history reads step 0
    np.testing.assert_array_equal(last_step(tf.constant(h), tf.constant(ids)).numpy(), want)


class _AddCell:
    def call(self, x, states):
        return None, [s + x for s in states]


def test_masked_step_keeps_the_state_of_masked_rows():
    x = tf.constant([[1.0], [2.0]])
    state = [tf.constant([[10.0], [20.0]])]
    out = masked_step(_AddCell(), x, state, mask=tf.constant([True, False]))
    np.testing.assert_array_equal(out[0].numpy(), [[11.0], [20.0]])
    np.testing.assert_array_equal(masked_step(_AddCell(), x, state)[0].numpy(), [[11.0], [22.0]])
