"""atomic_write: the new file appears whole on success; on an error the old file stays as it
was and no temporary file is left behind."""
import os

import pytest

from tfrec_pkg.atomic_files import atomic_write


def test_a_finished_write_replaces_the_file(tmp_path):
    path = str(tmp_path / "state.json")
    with open(path, "w") as f:
        f.write("old")
    with atomic_write(path) as f:
        f.write("new")
        assert open(path).read() == "old"          # readers see the old file until the end
    assert open(path).read() == "new" and os.listdir(tmp_path) == ["state.json"]
    with atomic_write(path, "wb") as f:
        f.write(b"\x00bytes")
    assert open(path, "rb").read() == b"\x00bytes"


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = str(tmp_path / "model.json")
    with open(path, "w") as f:
        f.write("old")
    with pytest.raises(RuntimeError, match="disk"):
        with atomic_write(path) as f:
            f.write("half of the new")
            raise RuntimeError("disk full")
    assert open(path).read() == "old" and os.listdir(tmp_path) == ["model.json"]
