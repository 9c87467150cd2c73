"""Files written whole or not at all: :func:`atomic_write` writes ``path.tmp`` and renames it
over ``path`` only when the writing finished, so a reader (or a run resumed after a crash)
sees the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w"):
    """``with atomic_write(path) as f: f.write(...)``; ``mode`` "w" (text) or "wb" (bytes).
    On an exception the temporary file is removed and ``path`` is left as it was."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, mode) as f:
            yield f
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    os.replace(tmp, path)
