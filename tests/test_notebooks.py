"""Every notebook under examples/ runs top to bottom in a real Jupyter kernel (nbclient + ipykernel), against the
local Hub it starts itself, and shows what it promises: the replay inline, the push, the re-measured numbers."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
PRINTED = {
    "unit4.ipynb": ["weights: model.safetensors + config.json, loadable with no code", "re-measured", "course loop:",
                    "classmate/Reinforce-CartPole-v1"],
    "pixelcopter.ipynb": ["'model.pt']", "converted:", "the original module:"],
}
"""What each notebook must print besides the push line (a notebook without an entry here fails the test)."""


def outputs(nb, kind):
    """Every output of ``kind`` ("stream" text, "text/html", ...), in cell order."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if kind == "stream" and out.get("output_type") == "stream":
                found.append(out["text"])
            elif kind in out.get("data", {}):
                found.append(out["data"][kind])
    return found


@pytest.fixture()
def kernel_env(tmp_path, monkeypatch):
    """The kernel inherits this process's environment: keep every cache and output in tmp_path."""
    for var in ("HF_ENDPOINT", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as in Jupyter
    return tmp_path


def test_there_are_notebooks():
    assert (EXAMPLES / "unit4.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom_in_a_kernel(path, kernel_env):
    nb = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), \
        f"{path.name} is committed with outputs; clear them"
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(kernel_env)}})
    client.execute()  # raises CellExecutionError (with the cell and traceback) on the first failing cell
    text = "".join(outputs(nb, "stream"))
    assert "Your model is pushed to the Hub" in text
    for expected in PRINTED[path.name]:
        assert expected in text, expected
    videos = [html for html in outputs(nb, "text/html") if "<video" in html]
    assert videos and "base64" in videos[0]  # the replay is embedded, so it plays inline anywhere
    if any("plt.show()" in cell.source for cell in nb.cells):
        assert outputs(nb, "image/png")  # plots are drawn inline by the kernel's backend
    if any("train_run(" in cell.source for cell in nb.cells):  # hubrl's training progress is a notebook widget
        bars = [out["data"].get("text/plain", "") for cell in nb.cells for out in cell.get("outputs", [])
                if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]
        assert any(bar.startswith("train ") for bar in bars), bars
