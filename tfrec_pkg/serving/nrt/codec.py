"""A state as bytes: an ``.npz`` of float32 arrays."""
from __future__ import annotations

import io

import numpy as np


def encode_state(state: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, np.float32) for k, v in state.items()})
    return buf.getvalue()


def decode_state(blob: bytes) -> dict:
    with np.load(io.BytesIO(blob)) as data:
        return {k: data[k] for k in data.files}
