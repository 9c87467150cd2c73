"""TensorFlow's start-up logs, kept out of the commands' output (shown with ``--verbose``).

Importing TensorFlow prints lines that say nothing about the command being run (oneDNN notes,
"Could not find cuda drivers", "failed call to cuInit", Abseil's "All log messages before
absl::InitializeLog()"). ``TF_CPP_MIN_LOG_LEVEL=3`` hides TensorFlow's C++ logs once it runs
(set only when the user has not set it), but the lines written while its shared libraries load
come from Abseil before its logging is initialised and ignore that variable; so the import
itself, and the first look at the devices (cuInit), run with the process's stderr (file descriptor 2, which C++ writes to) sent to a
temporary file, which is replayed if the import fails.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile


@contextlib.contextmanager
def _stderr_held_back():
    """Sends file descriptor 2 to a temporary file; writes what it caught to stderr on an exception."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            caught.seek(0)
            sys.stderr.write(caught.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow now without its start-up logs and keep its later INFO/WARNING logs out."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # tfrec_pkg/__init__.py, imported with this module, has set the Keras-2 environment
    if "tensorflow" not in sys.modules:  # already imported: its start-up lines are out already
        with _stderr_held_back():
            import tensorflow as tf

            tf.config.list_physical_devices()  # where CUDA reports a missing driver (cuInit)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
