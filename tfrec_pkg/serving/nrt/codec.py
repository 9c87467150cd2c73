"""A state as bytes: an ``.npz`` of numeric arrays (float32, int64 ids such as IMN-Net's
``last_item_id``, float64 times such as its ``last_time``). Which arrays a model's state holds, and their shapes, is checked by the loop
(:class:`~tfrec_pkg.serving.nrt.user_states.NRTUserStates`), which knows the model."""
from __future__ import annotations

import io

import numpy as np

EXPECTED = "an .npz of numeric arrays (a state of the model)"


def encode_state(state: dict) -> bytes:
    buf = io.BytesIO()
    arrays = {}
    for k, v in state.items():
        v = np.asarray(v)
        if np.issubdtype(v.dtype, np.integer):
            arrays[k] = v.astype(np.int64)
        else:   # float64 stays (times: float32 would round today's POSIX seconds to minutes)
            arrays[k] = v if v.dtype == np.float64 else v.astype(np.float32)
    np.savez(buf, **arrays)
    return buf.getvalue()


def decode_state(blob: bytes) -> dict:
    """The state in ``blob``; ValueError saying what it is instead. Never unpickles: a stored
    value is data, not code."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError(f"a single .npy array of shape {data.shape}")
            if not data.files:
                raise ValueError("an .npz without arrays")
            state = {k: data[k] for k in data.files}
    except Exception as e:  # np.load raises OSError, ValueError, zipfile errors... on bad bytes
        raise ValueError(f"expected {EXPECTED}, got {len(blob)} bytes: {e}") from None
    bad = {k: str(v.dtype) for k, v in state.items()
           if not (np.issubdtype(v.dtype, np.floating) or np.issubdtype(v.dtype, np.integer))}
    if bad:
        raise ValueError(f"expected {EXPECTED}, got dtypes {bad}")
    return state
