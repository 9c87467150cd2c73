"""``tfrec bench onednn`` (tfrec_pkg/bench/onednn.py) on one model's quick data: each setting
runs in its own process, the variable reaches TensorFlow there (the children report oneDNN off,
then on, whatever this CPU's default), and the row's ratios are the medians' ratios."""
import os

from tfrec_pkg.bench import onednn, timing


def test_the_suite_runs_the_kernels_its_environment_names():
    """tests/conftest.py asks for TensorFlow's default kernels (oneDNN off) unless the
    environment set the variable before the suite started."""
    assert timing.onednn_on() == (os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1")


def test_each_setting_runs_in_its_own_process_with_the_kernels_it_names():
    row = onednn.measure(quick=True, models=("musenet",))
    assert row["rounds"] == 1 and row["musenet_training_rows"] > 0
    assert row["musenet_default_onednn_on"] is False and row["musenet_onednn_onednn_on"] is True
    for tag in ("default", "onednn"):
        assert row[f"musenet_{tag}_epoch_wall_s"] > 0 and row[f"musenet_{tag}_epoch_cpu_s"] > 0
    for unit in ("wall", "cpu"):
        ratio = row[f"musenet_default_epoch_{unit}_s"] / row[f"musenet_onednn_epoch_{unit}_s"]
        assert abs(row[f"musenet_default_over_onednn_{unit}"] - round(ratio, 2)) < 1e-9
