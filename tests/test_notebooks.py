"""The notebooks run top to bottom against a store made by the quickstart sweep (sweeps/quickstart.toml); the
chaos-study notebook makes its own from sweeps/chaos_study_ci.toml."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def quickstart_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("quickstart") / "quickstart.zarr"
    cmd = [sys.executable, "-m", "chaossim", "sweep", str(ROOT / "sweeps" / "quickstart.toml"), "--store", str(store),
           "--no-progress", "--dashboard", "none"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (store.parent / "quickstart.zarr.report" / "phase_diagram.png").exists()
    return store


def test_there_are_four_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01_sweep_phase_diagram.ipynb", "02_one_trained_model.ipynb",
                                           "03_chaos_and_learning.ipynb", "04_chaos_study.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, quickstart_store, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("CHAOSSIM_STORE", str(quickstart_store))
    monkeypatch.setenv("CHAOSSIM_STUDY_STORE", str(tmp_path / "chaos_study_ci.zarr"))  # 04 makes it (CI spec)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert any(o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
