"""Every notebook in notebooks/ runs top to bottom (small sizes: TFREC_NOTEBOOK_SMALL=1), shows
its figures inline, shows no broken progress bar and leaves no file in its working directory."""
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# a notebook that imports matplotlib or the plotting helpers draws figures
DRAWS = re.compile(r"^\s*(import matplotlib|from matplotlib|from tfrec_pkg\.viz)", re.M)


def code_sources(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TFREC_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    # the kernel picks matplotlib's inline backend (figures as image/png outputs, no display)
    # unless MPLBACKEND says otherwise
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # tempfile.mkdtemp() in the kernel (exports) lands in a directory pytest cleans up
    monkeypatch.setenv("TMPDIR", str(tmp_path_factory.mktemp(f"{path.stem}_tmp")))
    nb = nbformat.read(path, as_version=4)
    sources = code_sources(nb)
    assert not [s for s in sources if "matplotlib.use(" in s], "a notebook keeps the kernel's inline backend"
    before = sorted(os.listdir(tmp_path))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") in ("execute_result", "display_data") for o in outputs)
    if any(DRAWS.search(s) for s in sources):
        assert any("image/png" in o.get("data", {}) for o in outputs), "figures are drawn but none is shown"
    streams = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "TqdmWarning" not in streams  # e.g. tqdm.auto without ipywidgets
    assert sorted(os.listdir(tmp_path)) == before, "the notebook wrote into its working directory"
