"""SUMCell / SUMReader (tfrec_pkg/layers/sum_cell.py) and the baseline user encoders
(tfrec_pkg/layers/user_encoders.py) against an independent numpy reference.

The reference below is written from the SUM paper, Sec. 4 (Lian et al.), in the reading that
the sum_cell module docstring documents (debuff applied to z^w before Eq. 2, highway channel
last with weight 1, h_hat / 2 when the highway is on, first event: cos(x_1, 0) = 0).
It only reads the layer's weights; the arithmetic is numpy (float64).
"""
import json

import numpy as np
import pytest

import tfrec_pkg  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfrec_pkg.layers import sum_cell as sum_cell_module
from tfrec_pkg.layers.sum_cell import SUMCell, SUMReader, _sum_write, _write
from tfrec_pkg.layers.user_encoders import AttentiveMerge, GRUUserCell

B, D, K, L = 3, 6, 4, 5
ATOL = 1e-5

# --------------------------------------------------------------------------------------------
# numpy reference
# --------------------------------------------------------------------------------------------


def np_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def np_softmax(a, axis=-1):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_cosine(a, b):
    """Eq. (7): cosine(x_t, x_{t-1}) per row; 0 when either vector is zero (first event)."""
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def np_dense(p, name, inp):
    return inp @ p[name + "_kernel"] + p[name + "_bias"]


def np_write_weights(p, flags, x, x_prev):
    """z^w_t over all K channels [B, K]: Eq. (1), debuff Eqs. (7)-(8), highway (Sec. 4.3)."""
    w = x @ p["write_heads"].T                                   # Eq. (1)  w_k = x_t . f^w_k
    z = np_softmax(p["beta"] * w)                                # Eq. (1)  softmax(beta * w)
    factor = np.ones((x.shape[0], 1))
    if flags["debuff"]:
        sim = np_cosine(x, x_prev)[:, None]                      # Eq. (7)
        factor = np.minimum(p["alpha"] ** sim, 1.0)              # Eq. (8), capped at 1 (documented)
        z = z * factor
    if flags["highway"]:                                         # Sec. 4.3: last channel, weight 1
        hw = factor if (flags["debuff"] and flags["debuff_highway"]) else np.ones_like(factor)
        z = np.concatenate([z, hw], -1)
    return z


def np_sum_step(p, flags, x, memory, x_prev):
    """One write step. memory [B, K, D]; returns (z [B, K], new_memory, x)."""
    z = np_write_weights(p, flags, x, x_prev)
    h_hat = (z[:, :, None] * memory).sum(1)                      # Eq. (2)  sum_k z_k h_k
    if flags["highway"]:
        h_hat = h_hat / 2.0                                      # highway weight 1 -> sum(z) ~ 2
    if flags["instance_attention"]:
        xh = np.concatenate([x, h_hat], -1)
        reset = np_sigmoid(np_dense(p, "reset", xh))             # Eq. (5)  scalar [B, 1]
        add = np.tanh(np_dense(p, "add", np.concatenate([x, reset * h_hat], -1)))   # Eq. (3)
        erase = np_sigmoid(np_dense(p, "erase", xh))             # Eq. (4)
    else:                                                        # RUM writing: x_t only
        add = np.tanh(np_dense(p, "add", x))
        erase = np_sigmoid(np_dense(p, "erase", x))
    new = np.empty_like(memory)
    for k in range(z.shape[1]):
        c = erase * z[:, k:k + 1]                                # erase_t * z_tk
        if flags["writing"] == "sum":                            # Eq. (6): interpolation
            new[:, k] = add * c + memory[:, k] * (1.0 - c)
        else:                                                    # NTM: erase, then add * z_k
            new[:, k] = memory[:, k] * (1.0 - c) + add * z[:, k:k + 1]
    return z, new, x


def np_sum_sequence(p, flags, xs, mask):
    """Loop over [B, L, D]; padded steps (mask False) leave the state unchanged.
    Returns the final memory, last_input and the per-step z (NaN on padded steps)."""
    b, l, d = xs.shape
    kk = p["write_heads"].shape[0] + (1 if flags["highway"] else 0)
    memory, x_prev = np.zeros((b, kk, d)), np.zeros((b, d))
    zs = np.full((b, l, kk), np.nan)
    for i in range(b):
        for t in range(l):
            if not mask[i, t]:
                continue
            z, m, xp = np_sum_step(p, flags, xs[i:i + 1, t], memory[i:i + 1], x_prev[i:i + 1])
            zs[i, t], memory[i], x_prev[i] = z[0], m[0], xp[0]
    return memory, x_prev, zs


def np_read(reading, read_map, beta, memory, v):
    """Reader: Eq. (12) (reading="sum") or Eq. (9) (reading="rum"), then Eqs. (10)-(11)."""
    if reading == "sum":
        w = np.einsum("bd,de,bke->bk", v, read_map, memory)      # Eq. (12)  w_k = v F^r h_k
    else:
        w = v @ read_map.T                                       # Eq. (9)   w_k = v . f^r_k
    z = np_softmax(beta * w)                                     # Eq. (10)
    return (z[:, :, None] * memory).sum(1), z                    # Eq. (11)  u = sum_k z_k h_k


def np_masked_softmax(logits, mask):
    out = np.zeros_like(logits)
    for i in range(logits.shape[0]):
        if mask[i].any():
            out[i, mask[i]] = np_softmax(logits[i, mask[i]])
    return out


def np_attentive_merge(bilinear, history, mask, v):
    """AttMerge: u = sum_j softmax_j(v W x_j) x_j over valid j; all padded -> 0."""
    logits = np.einsum("bd,bld->bl", v @ bilinear, history)
    w = np_masked_softmax(logits, mask)
    return (w[:, :, None] * history).sum(1), w


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

DEFAULT_FLAGS = dict(highway=True, debuff=True, instance_attention=True, writing="sum",
                     debuff_highway=False)
VARIANTS = {
    "full": {},
    "no_instance_attention": dict(instance_attention=False),
    "no_debuff": dict(debuff=False),
    "no_highway": dict(highway=False),
    "ntm_writing": dict(writing="ntm"),
    "debuff_highway": dict(debuff_highway=True),
    "rum": dict(instance_attention=False, highway=False, debuff=False, writing="ntm"),
}


def flags_of(name):
    return DEFAULT_FLAGS | VARIANTS[name]


def make_cell(flags, seed=0, alpha=0.9, beta=1.3, scale=0.7):
    """A built SUMCell with random, non-initial weights (alpha=0.9, beta=1.3)."""
    rng = np.random.default_rng(seed)
    cell = SUMCell(state_dim=D, num_channels=K, **flags)
    cell.build((None, D))
    cell.write_heads.assign(rng.normal(0, 1, cell.write_heads.shape))
    for weight in (cell.kernel, cell.recurrent_kernel, cell.bias):
        if weight is not None:  # no recurrent kernel without instance-level attention
            weight.assign(rng.normal(0, scale, weight.shape))
    cell.alpha.assign(alpha)
    cell.beta.assign(beta)
    return cell


def params_of(cell):
    p = {"write_heads": cell.write_heads.numpy().astype(np.float64),
         "alpha": float(cell.alpha.numpy()), "beta": float(cell.beta.numpy())}
    # each gate's kernel of Eqs. (3)-(5) over [x_t, h] (over x_t alone without instance
    # attention), rebuilt from the cell's x- and h-halves, gates side by side as the cell keeps them
    kernel, bias = cell.kernel.numpy().astype(np.float64), cell.bias.numpy().astype(np.float64)
    if cell.recurrent_kernel is not None:
        kernel = np.concatenate([kernel, cell.recurrent_kernel.numpy().astype(np.float64)], 0)
    start = 0
    for name in cell.gates:
        width = 1 if name == "reset" else D
        p[name + "_kernel"] = kernel[:, start:start + width]
        p[name + "_bias"] = bias[start:start + width]
        start += width
    assert start == kernel.shape[1]
    return p


def f32(a):
    return tf.constant(np.asarray(a, np.float32))


def random_step_inputs(seed=1):
    """x [B, D], memory [B, K, D] in [-1, 1], x_prev with: row 0 = 0 (first event),
    row 1 random, row 2 = 2 * x (cos = 1, so the debuff factor is alpha)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (B, D)).astype(np.float32)
    memory = rng.uniform(-1, 1, (B, K, D)).astype(np.float32)
    x_prev = rng.normal(0, 1, (B, D)).astype(np.float32)
    x_prev[0] = 0.0
    x_prev[2] = 2.0 * x[2]
    return x, memory, x_prev


def left_aligned_mask():
    mask = np.zeros((B, L), bool)
    mask[1, :] = True        # no padding
    mask[2, :3] = True       # 3 real steps, 2 padded
    return mask              # row 0: every step padded


# --------------------------------------------------------------------------------------------
# 1. one write step
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_one_step_matches_numpy(variant):
    flags = flags_of(variant)
    cell = make_cell(flags)
    p = params_of(cell)
    x, memory, x_prev = random_step_inputs()
    z, (new_memory, last) = cell.call(f32(x), [f32(memory), f32(x_prev)])
    z_ref, mem_ref, last_ref = np_sum_step(p, flags, x.astype(np.float64),
                                           memory.astype(np.float64), x_prev.astype(np.float64))
    assert z.shape == (B, K) and new_memory.shape == (B, K, D) and last.shape == (B, D)
    np.testing.assert_allclose(z.numpy(), z_ref, atol=ATOL)
    np.testing.assert_allclose(new_memory.numpy(), mem_ref, atol=ATOL)
    np.testing.assert_array_equal(last.numpy(), x)
    np.testing.assert_allclose(cell.write_weights(f32(x), f32(x_prev)).numpy(), z_ref, atol=ATOL)


def test_one_step_details_of_the_write_weights():
    x, _, x_prev = random_step_inputs()
    cell = make_cell(DEFAULT_FLAGS)
    plain = np_softmax(1.3 * (x.astype(np.float64) @ cell.write_heads.numpy().T))   # Eq. (1)
    z = cell.write_weights(f32(x), f32(x_prev)).numpy()
    np.testing.assert_allclose(z[:, -1], 1.0, atol=1e-7)          # highway channel: weight 1
    np.testing.assert_allclose(z[0, :-1], plain[0], atol=ATOL)     # first event: factor 1
    np.testing.assert_allclose(z[2, :-1], 0.9 * plain[2], atol=ATOL)   # cos = 1: factor alpha

    z_dh = make_cell(DEFAULT_FLAGS | dict(debuff_highway=True)).write_weights(f32(x), f32(x_prev))
    np.testing.assert_allclose(z_dh.numpy()[[0, 2], -1], [1.0, 0.9], atol=ATOL)

    z_nh = make_cell(DEFAULT_FLAGS | dict(highway=False)).write_weights(f32(x), f32(x_prev))
    assert z_nh.shape == (B, K)                                    # all K are interest channels

    z_nd = make_cell(DEFAULT_FLAGS | dict(debuff=False)).write_weights(f32(x), f32(x_prev)).numpy()
    np.testing.assert_allclose(z_nd[:, :-1].sum(-1), 1.0, atol=ATOL)


def test_weight_shapes_follow_the_flags():
    cell = make_cell(DEFAULT_FLAGS)
    assert cell.write_heads.shape == (K - 1, D)
    assert cell.gates == ("reset", "erase", "add")
    assert cell.kernel.shape == cell.recurrent_kernel.shape == (D, 1 + 2 * D)
    assert cell.bias.shape == (1 + 2 * D,)
    rum = make_cell(DEFAULT_FLAGS | dict(instance_attention=False, highway=False))
    assert rum.write_heads.shape == (K, D)
    assert rum.gates == ("erase", "add")
    assert rum.kernel.shape == (D, 2 * D) and rum.bias.shape == (2 * D,)
    assert rum.recurrent_kernel is None and len(rum.trainable_weights) == 5  # heads, beta, alpha, kernel, bias


# --------------------------------------------------------------------------------------------
# 2./3. full sequence through tf.keras.layers.RNN, and SUMCell.step folded over it
# --------------------------------------------------------------------------------------------


def run_rnn(cell, xs, mask):
    rnn = tf.keras.layers.RNN(cell, return_sequences=True, return_state=True)
    outs, memory, last = rnn(f32(xs), mask=tf.constant(mask))
    return outs.numpy(), memory.numpy(), last.numpy()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_masked_sequence_through_keras_rnn_matches_numpy(variant):
    flags = flags_of(variant)
    cell = make_cell(flags)
    p = params_of(cell)
    xs = np.random.default_rng(2).normal(0, 1, (B, L, D)).astype(np.float32)
    mask = left_aligned_mask()
    outs, memory, last = run_rnn(cell, xs, mask)
    mem_ref, last_ref, zs_ref = np_sum_sequence(p, flags, xs.astype(np.float64), mask)

    np.testing.assert_allclose(memory, mem_ref, atol=ATOL)
    np.testing.assert_allclose(last, last_ref, atol=ATOL)
    # the state of a fully padded row is the initial (zero) state
    np.testing.assert_array_equal(memory[0], 0.0)
    np.testing.assert_array_equal(last[0], 0.0)
    # last_input is the last *real* event, not the padding
    np.testing.assert_array_equal(last[2], xs[2, 2])
    # outputs: z_t on real steps; Keras RNN masking repeats the previous output on a padded
    # step (zeros before the first real step)
    assert outs.shape == (B, L, K)
    np.testing.assert_allclose(outs[mask], zs_ref[mask], atol=ATOL)
    np.testing.assert_array_equal(outs[0], 0.0)
    for t in (3, 4):
        np.testing.assert_array_equal(outs[2, t], outs[2, 2])


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("layout", ["left_aligned", "interior_padding"])
@pytest.mark.parametrize("rnn_mask", [True, False], ids=["rnn_mask", "no_rnn_mask"])
def test_hoisted_sequence_inputs_give_the_per_step_results(variant, layout, rnn_mask):
    """``sequence_inputs`` (z^w_t with the previous *real* event, and the x-part of Eqs. 3-5,
    for all steps before the recurrence) through the Keras RNN: the same
    outputs and final state as the numpy recurrence, also when padding sits between real events
    (x_{t-1} must skip it). Without the RNN's mask (as ``SUM.encode`` runs it) the padded steps
    must write nothing on their own: z = 0 there, and the last input is the last real event
    (row 0 is all padding: zero state). Mutations tried: x_{t-1} = x[t - 1] whatever the mask
    (fails interior_padding); the reset gate's bias dropped from the x-part; z not zeroed on
    padded steps, or x_t not the previous real event there (each fails no_rnn_mask)."""
    flags = flags_of(variant)
    cell = make_cell(flags)
    p = params_of(cell)
    xs = np.random.default_rng(3).normal(0, 1, (B, L, D)).astype(np.float32)
    mask = left_aligned_mask()
    if layout == "interior_padding":
        mask[1] = [True, False, True, False, True]
        mask[2] = [False, True, True, False, True]
    rnn = tf.keras.layers.RNN(cell, return_sequences=True, return_state=True)
    inputs = cell.sequence_inputs(f32(xs), tf.constant(mask))
    outs, memory, last = rnn(inputs, mask=tf.constant(mask) if rnn_mask else None)
    mem_ref, last_ref, zs_ref = np_sum_sequence(p, flags, xs.astype(np.float64), mask)
    np.testing.assert_allclose(memory.numpy(), mem_ref, atol=ATOL)
    np.testing.assert_allclose(last.numpy(), last_ref, atol=ATOL)
    np.testing.assert_allclose(outs.numpy()[mask], zs_ref[mask], atol=ATOL)
    if not rnn_mask:
        np.testing.assert_array_equal(outs.numpy()[~mask], 0.0)


def test_gru_user_cell_hoisted_projection_gives_the_per_step_results():
    cell = GRUUserCell(D)
    xs = np.random.default_rng(4).normal(0, 1, (B, L, D)).astype(np.float32)
    mask = left_aligned_mask()
    mask[1] = [True, False, True, False, True]
    plain = tf.keras.layers.RNN(cell, return_sequences=True, return_state=True)(f32(xs), mask=tf.constant(mask))
    hoisted = tf.keras.layers.RNN(cell, return_sequences=True, return_state=True)(
        cell.sequence_inputs(f32(xs), tf.constant(mask)), mask=tf.constant(mask))
    for a, b in zip(plain, hoisted):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=ATOL)


@pytest.mark.parametrize("merge_scale", [0.5, 1.0])
def test_hand_written_backward_equals_autodiff_of_the_write(merge_scale):
    """The paper's cell writes through ``_sum_write``, whose backward pass is written out: its
    gradients for every input (memory, z, the x-part ``pre`` and the recurrent kernel), under a
    random upstream gradient, equal autodiff's of the same forward (``_write``). Mutations
    tried: d_reset without rec_add; d_z without the merge term; the merge scale dropped from
    d_h_hat (fails merge_scale=0.5)."""
    rng = np.random.default_rng(7)
    memory = f32(rng.uniform(-1, 1, (B, K, D)))
    z = f32(rng.uniform(0, 1, (B, K)))
    pre = f32(rng.normal(0, 1, (B, 1 + 2 * D)))
    kernel = f32(rng.normal(0, 0.7, (D, 1 + 2 * D)))
    upstream = f32(rng.normal(0, 1, (B, K, D)))
    inputs = [memory, z, pre, kernel]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        fast = _sum_write(*inputs, merge_scale)
        plain, _ = _write(*inputs, merge_scale, True, "sum")
    np.testing.assert_allclose(fast.numpy(), plain.numpy(), atol=1e-6)
    for got, want in zip(tape.gradient(fast, inputs, upstream), tape.gradient(plain, inputs, upstream)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


@pytest.mark.parametrize("variant", ["full", "no_highway"])
@pytest.mark.parametrize("rnn_mask", [True, False], ids=["rnn_mask", "no_rnn_mask"])
def test_training_gradients_through_the_masked_sequence_equal_autodiff(variant, rnn_mask, monkeypatch):
    """Gradients of a loss on a masked sequence's real outputs, final memory and last input,
    for the inputs and every weight of the cell, are autodiff's through the RNN's mask when the
    write step is differentiated by TF: with the hand-written write, and without the RNN's mask
    (padded steps writing nothing on their own, as ``SUM.encode`` runs it)."""
    cell = make_cell(flags_of(variant))
    rng = np.random.default_rng(8)
    xs = f32(rng.normal(0, 1, (B, L, D)))
    mask = left_aligned_mask()
    mask[1] = [True, False, True, False, True]
    upstream = f32(rng.normal(0, 1, (B, K, D)))
    last_upstream = f32(rng.normal(0, 1, (B, D)))

    def gradients(with_mask):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            rnn = tf.keras.layers.RNN(cell, return_sequences=True, return_state=True)
            outs, memory, last = rnn(cell.sequence_inputs(xs, tf.constant(mask)),
                                     mask=tf.constant(mask) if with_mask else None)
            loss = (tf.reduce_sum(memory * upstream) + tf.reduce_sum(last * last_upstream)
                    + tf.reduce_sum(tf.square(tf.boolean_mask(outs, mask))))
        return tape.gradient(loss, [xs] + cell.trainable_weights)

    fast = gradients(rnn_mask)
    monkeypatch.setattr(sum_cell_module, "_sum_write",
                        lambda *a: _write(*a, instance_attention=True, writing="sum")[0])
    for weight, got, want in zip(["x"] + cell.trainable_weights, fast, gradients(True)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5, err_msg=str(weight))


@pytest.mark.parametrize("variant", ["full", "rum"])
def test_step_fold_equals_rnn_final_state_and_masked_rows_keep_state(variant):
    flags = flags_of(variant)
    cell = make_cell(flags)
    xs = np.random.default_rng(3).normal(0, 1, (B, L, D)).astype(np.float32)
    mask = left_aligned_mask()
    _, memory, last = run_rnn(cell, xs, mask)

    states = cell.get_initial_state(batch_size=B)
    assert states[0].shape == (B, K, D) and states[1].shape == (B, D)
    for t in range(L):
        new = cell.step(f32(xs[:, t]), states, tf.constant(mask[:, t]))
        for old_s, new_s in zip(states, new):
            np.testing.assert_array_equal(new_s.numpy()[~mask[:, t]], old_s.numpy()[~mask[:, t]])
        states = new
    np.testing.assert_allclose(states[0].numpy(), memory, atol=1e-6)
    np.testing.assert_allclose(states[1].numpy(), last, atol=1e-6)

    # mask=None: every row is updated, exactly as call()
    x, mem0, xp0 = random_step_inputs()
    stepped = cell.step(f32(x), [f32(mem0), f32(xp0)])
    _, called = cell.call(f32(x), [f32(mem0), f32(xp0)])
    np.testing.assert_array_equal(stepped[0].numpy(), called[0].numpy())


# --------------------------------------------------------------------------------------------
# 4. Eq. (6) is an interpolation: 0 <= erase_t * z_tk <= 1  =>  h_k stays in [-1, 1]
# --------------------------------------------------------------------------------------------


def _max_abs_memory(cell, rng, positive_inputs=False, steps=200, batch=64):
    states = cell.get_initial_state(batch_size=batch)
    worst = 0.0
    for _ in range(steps):
        x = rng.normal(0, 10, (batch, D))
        if positive_inputs:
            x = np.abs(x)
        _, states = cell.call(f32(x), states)
        worst = max(worst, float(np.abs(states[0].numpy()).max()))
    return worst


@pytest.mark.parametrize("variant", ["no_debuff", "debuff_nonnegative_cosine"])
def test_sum_writing_keeps_memory_in_unit_box_when_coefficients_are_at_most_one(variant):
    # Where erase * z_k <= 1 is guaranteed (no debuff, or alpha < 1 with cos >= 0, i.e.
    # alpha**cos <= 1), Eq. (6) is a convex combination of h_k and add = tanh(.) in [-1, 1].
    flags = DEFAULT_FLAGS | (dict(debuff=False) if variant == "no_debuff" else {})
    cell = make_cell(flags, scale=1.5)
    worst = _max_abs_memory(cell, np.random.default_rng(4),
                            positive_inputs=variant != "no_debuff")
    assert worst <= 1.0 + 1e-6


def test_sum_writing_keeps_memory_in_unit_box_for_any_inputs():
    # The debuff factor is capped at 1 (alpha**cos > 1 for alpha < 1 and cos < 0 would break
    # the paper's "0 <= erase * z <= 1"), so Eq. (6) stays an interpolation for any inputs.
    cell = make_cell(DEFAULT_FLAGS, scale=1.5)
    worst = _max_abs_memory(cell, np.random.default_rng(4))
    assert worst <= 1.0 + 1e-6


# --------------------------------------------------------------------------------------------
# 5. SUMReader
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reading", ["sum", "rum"])
def test_reader_matches_numpy(reading):
    rng = np.random.default_rng(5)
    memory = rng.uniform(-1, 1, (B, K, D)).astype(np.float32)
    v = rng.normal(0, 1, (B, D)).astype(np.float32)
    reader = SUMReader(state_dim=D, num_channels=K, reading=reading)
    reader.build((None, K, D))
    assert reader.read_map.shape == ((D, D) if reading == "sum" else (K, D))
    reader.read_map.assign(rng.normal(0, 1, reader.read_map.shape))
    reader.beta.assign(1.3)
    u, z = reader(f32(memory), f32(v))
    u_ref, z_ref = np_read(reading, reader.read_map.numpy().astype(np.float64), 1.3,
                           memory.astype(np.float64), v.astype(np.float64))
    np.testing.assert_allclose(z.numpy(), z_ref, atol=ATOL)
    np.testing.assert_allclose(u.numpy(), u_ref, atol=ATOL)
    np.testing.assert_allclose(z.numpy().sum(-1), 1.0, atol=ATOL)


# --------------------------------------------------------------------------------------------
# 6. GRUUserCell and AttentiveMerge
# --------------------------------------------------------------------------------------------


def test_gru_user_cell_state_layout_and_equivalence_to_plain_gru():
    xs = np.random.default_rng(6).normal(0, 1, (B, L, D)).astype(np.float32)
    mask = left_aligned_mask()
    cell = GRUUserCell(state_dim=D)
    init = cell.get_initial_state(batch_size=B)
    assert init[0].shape == (B, 1, D) and init[1].shape == (B, D)
    assert cell.num_channels == 1
    outs, memory, last = run_rnn(cell, xs, mask)
    assert memory.shape == (B, 1, D) and last.shape == (B, D) and outs.shape == (B, L, 1)
    np.testing.assert_array_equal(outs[mask], 1.0)
    np.testing.assert_array_equal(last[2], xs[2, 2])
    np.testing.assert_array_equal(last[0], 0.0)

    gru = tf.keras.layers.GRUCell(D)
    plain = tf.keras.layers.RNN(gru, return_state=True)
    plain(f32(xs), mask=tf.constant(mask))                       # builds the cell
    gru.set_weights(cell.gru.get_weights())
    _, h = plain(f32(xs), mask=tf.constant(mask))
    np.testing.assert_allclose(memory[:, 0, :], h.numpy(), atol=1e-6)
    np.testing.assert_array_equal(memory[0], 0.0)

    # step() folds to the same state; masked rows keep it
    states = init
    for t in range(L):
        states = cell.step(f32(xs[:, t]), states, tf.constant(mask[:, t]))
    np.testing.assert_allclose(states[0].numpy(), memory, atol=1e-6)
    np.testing.assert_allclose(states[1].numpy(), last, atol=1e-6)


def test_attentive_merge_matches_numpy_and_empty_history_gives_zero():
    rng = np.random.default_rng(7)
    history = rng.normal(0, 1, (B, L, D)).astype(np.float32)
    v = rng.normal(0, 1, (B, D)).astype(np.float32)
    mask = left_aligned_mask()
    layer = AttentiveMerge(state_dim=D)
    layer(f32(history), tf.constant(mask), f32(v))              # builds
    layer.bilinear.kernel.assign(rng.normal(0, 1, (D, D)))
    u, w = layer(f32(history), tf.constant(mask), f32(v))
    u_ref, w_ref = np_attentive_merge(layer.bilinear.kernel.numpy().astype(np.float64),
                                      history.astype(np.float64), mask, v.astype(np.float64))
    np.testing.assert_allclose(w.numpy(), w_ref, atol=ATOL)
    np.testing.assert_allclose(u.numpy(), u_ref, atol=ATOL)
    np.testing.assert_array_equal(u.numpy()[0], 0.0)            # all padded -> zero vector
    np.testing.assert_array_equal(w.numpy()[~mask], 0.0)
    assert np.isfinite(u.numpy()).all()


# --------------------------------------------------------------------------------------------
# 7. configs and argument validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_sum_cell_config_round_trip(variant):
    flags = flags_of(variant)
    cell = SUMCell(state_dim=D, num_channels=K, alpha_init=0.95, beta_init=1.1,
                   gate_bias_init=0.5, **flags)
    config = cell.get_config()
    json.dumps(config)
    for key, value in (flags | dict(state_dim=D, num_channels=K, alpha_init=0.95, beta_init=1.1,
                                    gate_bias_init=0.5)).items():
        assert config[key] == value
    clone = SUMCell.from_config(config)
    assert clone.get_config() == config
    restored = tf.keras.layers.deserialize(tf.keras.layers.serialize(cell))
    assert isinstance(restored, SUMCell) and restored.get_config() == config

    # same weights -> same step
    original = make_cell(flags)
    copy = SUMCell.from_config(original.get_config())
    copy.build((None, D))
    copy.set_weights(original.get_weights())
    x, memory, x_prev = random_step_inputs()
    a = original.call(f32(x), [f32(memory), f32(x_prev)])
    b = copy.call(f32(x), [f32(memory), f32(x_prev)])
    np.testing.assert_array_equal(a[1][0].numpy(), b[1][0].numpy())


def test_sum_cell_initial_values():
    cell = SUMCell(state_dim=D, num_channels=K, alpha_init=0.95, beta_init=1.1, gate_bias_init=0.5)
    cell.build((None, D))
    assert float(cell.alpha.numpy()) == pytest.approx(0.95)
    assert float(cell.beta.numpy()) == pytest.approx(1.1)
    p = params_of(cell)
    np.testing.assert_allclose(p["reset_bias"], 0.5)
    np.testing.assert_allclose(p["erase_bias"], 0.5)
    np.testing.assert_allclose(p["add_bias"], 0.0)


@pytest.mark.parametrize("reading", ["sum", "rum"])
def test_sum_reader_config_round_trip(reading):
    reader = SUMReader(state_dim=D, num_channels=K, reading=reading, beta_init=1.2)
    config = reader.get_config()
    json.dumps(config)
    assert (config["state_dim"], config["num_channels"], config["reading"],
            config["beta_init"]) == (D, K, reading, 1.2)
    assert SUMReader.from_config(config).get_config() == config
    restored = tf.keras.layers.deserialize(tf.keras.layers.serialize(reader))
    assert isinstance(restored, SUMReader) and restored.get_config() == config


def test_invalid_arguments_raise():
    with pytest.raises(ValueError):
        SUMCell(state_dim=D, num_channels=K, writing="x")
    with pytest.raises(ValueError):
        SUMReader(state_dim=D, num_channels=K, reading="x")
    with pytest.raises(ValueError):
        SUMCell(state_dim=D, num_channels=1, highway=True)
    with pytest.raises(ValueError):
        SUMCell(state_dim=D, num_channels=0, highway=False)
    assert SUMCell(state_dim=D, num_channels=1, highway=False).num_interest_channels == 1
    assert SUMCell(state_dim=D, num_channels=2, highway=True).num_interest_channels == 1
