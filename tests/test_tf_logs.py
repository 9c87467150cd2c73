"""TensorFlow's start-up lines are held back while it loads, and shown when loading fails."""
import os
import subprocess
import sys

HOLD_BACK = """import os
from tfrec_pkg.tf_logs import _stderr_held_back
with _stderr_held_back():
    os.write(2, b"start-up noise\\n")
try:
    with _stderr_held_back():
        os.write(2, b"why the import failed\\n")
        raise ImportError("broken")
except ImportError:
    pass
"""


def test_held_back_stderr_is_shown_only_on_failure():
    proc = subprocess.run([sys.executable, "-c", HOLD_BACK], capture_output=True, text=True, check=True)
    assert proc.stderr == "why the import failed\n"


def test_quiet_import_keeps_a_log_level_of_the_users_own():
    code = ("import os\nfrom tfrec_pkg.tf_logs import import_tensorflow_quietly\nimport_tensorflow_quietly()\n"
            "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"})
    assert proc.stdout == "1\n" and proc.stderr == ""
