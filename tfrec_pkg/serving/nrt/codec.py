"""A state as bytes: an ``.npz`` of float32 arrays ``memory`` and ``last_input``."""
from __future__ import annotations

import io

import numpy as np

from .store import STATE_KEYS

EXPECTED = "an .npz of float arrays " + " and ".join(STATE_KEYS)


def encode_state(state: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(state[k], np.float32) for k in STATE_KEYS})
    return buf.getvalue()


def decode_state(blob: bytes) -> dict:
    """The state in ``blob``; ValueError saying what it is instead. Never unpickles: a stored
    value is data, not code."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError(f"a single .npy array of shape {data.shape}")
            if sorted(data.files) != sorted(STATE_KEYS):
                raise ValueError(f"an .npz with arrays {sorted(data.files)}")
            state = {k: data[k] for k in STATE_KEYS}
    except Exception as e:  # np.load raises OSError, ValueError, zipfile errors... on bad bytes
        raise ValueError(f"expected {EXPECTED}, got {len(blob)} bytes: {e}") from None
    bad = {k: str(v.dtype) for k, v in state.items() if not np.issubdtype(v.dtype, np.floating)}
    if bad:
        raise ValueError(f"expected {EXPECTED}, got dtypes {bad}")
    return state
