"""What `tfrec serve` says about a base path before it starts (tfrec_pkg/serving/base_path.py)."""
import pytest

from tfrec_pkg.serving import base_path


@pytest.fixture
def models(tmp_path):
    """tmp/models/m/1/saved_model.pb, tmp/models/m/variables_only/, tmp/empty/, tmp/file."""
    (tmp_path / "models" / "m" / "1").mkdir(parents=True)
    (tmp_path / "models" / "m" / "1" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "models" / "m" / ".version_high_water").write_text("1")
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("")
    (tmp_path / "savedmodel").mkdir()
    (tmp_path / "savedmodel" / "saved_model.pb").write_bytes(b"")
    return tmp_path


def test_a_base_path_with_versions_is_served_silently(models):
    assert base_path.check("m", str(models / "models" / "m")) is None


@pytest.mark.parametrize("path, message", [
    ("models/m/1", "is a version directory (it holds saved_model.pb); serve its parent: {tmp}/models/m"),
    ("models", "holds model directories (m), not versions; serve one: {tmp}/models/m"),
    ("savedmodel", "holds saved_model.pb itself; a base path holds versions <version>/saved_model.pb: "
                   "move the SavedModel into {tmp}/savedmodel/1"),
    ("file", "is a file; expected a directory of versions <version>/saved_model.pb"),
])
def test_a_path_that_cannot_hold_versions_is_an_error(models, path, message):
    with pytest.raises(ValueError) as error:
        base_path.check("m", str(models / path))
    assert str(error.value) == f"base path {models / path} of model m " + message.format(tmp=models)


@pytest.mark.parametrize("path, state", [("empty", "is empty"), ("missing", "does not exist yet")])
def test_a_path_without_versions_yet_is_waited_for(models, path, state):
    warning = base_path.check("m", str(models / path))
    assert warning.startswith(f"base path {models / path} of model m {state}: waiting for its first version "
                              f"{models / path}/<version>/saved_model.pb")
