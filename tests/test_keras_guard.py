"""tfrec_pkg/__init__.py forces Keras 2 (tf_keras), and fails loudly when it is too late."""
import os
import subprocess
import sys


def _run(code, env):
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


def _env_without_flag():
    env = dict(os.environ)
    env.pop("TF_USE_LEGACY_KERAS", None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def test_import_before_tensorflow_gives_tf_keras():
    code = ("import tfrec_pkg, os\nimport tensorflow as tf\n"
            "print('MODULE', tf.keras.layers.Dense.__module__)\n"
            "print('FLAG', os.environ.get('TF_USE_LEGACY_KERAS'))\n")
    r = _run(code, _env_without_flag())
    assert r.returncode == 0, r.stderr[-3000:]
    lines = dict(l.split(" ", 1) for l in r.stdout.splitlines() if l.startswith(("MODULE", "FLAG")))
    assert lines["MODULE"].startswith("tf_keras"), lines
    assert lines["FLAG"] == "1"


def test_import_after_keras3_tensorflow_raises():
    code = ("import tensorflow as tf\n"
            "assert not tf.keras.layers.Dense.__module__.startswith('tf_keras')\n"
            "try:\n    import tfrec_pkg\nexcept ImportError as e:\n    print('ERR', e)\n"
            "else:\n    print('NO ERROR')\n")
    r = _run(code, _env_without_flag())
    assert r.returncode == 0, r.stderr[-3000:]
    assert "NO ERROR" not in r.stdout
    assert "ERR" in r.stdout and "TF_USE_LEGACY_KERAS" in r.stdout, r.stdout
