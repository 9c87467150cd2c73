"""The model names the commands know before TensorFlow loads (tfrec_pkg/model_names.py, read from
the models' source) are the registry's, and plugin models are found through the registry."""
import os
import subprocess
import sys
from pathlib import Path

from tfrec_pkg import cli, model_names

ROOT = Path(__file__).resolve().parents[1]


def test_names_read_from_the_source_equal_the_registry():
    from tfrec_pkg.models import registry

    assert [m.name for m in model_names.declared()] == registry.names()
    for model in model_names.declared():
        entry = registry.entry(model.name)
        assert (model.in_demo, model.has_claims) == (entry.in_demo, entry.claims is not None), model.name
    assert model_names.ENTRY_POINT_GROUP == registry.ENTRY_POINT_GROUP


def test_the_cli_serving_benchmarks_are_the_bench_reports():
    from tfrec_pkg.bench.report import SERVING_BENCHES

    assert cli.SERVING_BENCHES == tuple(SERVING_BENCHES)


def test_names_are_known_without_importing_tensorflow():
    code = ("import sys\nfrom tfrec_pkg import model_names\n"
            "assert model_names.unknown(['sum', 'nope']) == ['nope']\n"
            "assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


PLUGIN = '''
from tfrec_pkg.models import registry

registry.register("toy", type("Toy", (), {}), type("ToyConfig", (), {}), None, in_demo=False)
'''


def test_a_plugin_model_name_is_looked_up_in_the_registry(tmp_path):
    (tmp_path / "toy_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "toy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{model_names.ENTRY_POINT_GROUP}]\ntoy = toy_plugin\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    code = "from tfrec_pkg import model_names\nassert model_names.unknown(['toy', 'nope']) == ['nope']"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path)
    proc = subprocess.run([sys.executable, "-m", "tfrec_pkg.cli", "demo", "--models", "nope"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr  # one line, no TensorFlow logs
    assert "unknown model 'nope'" in proc.stderr and ", toy" in proc.stderr
