"""The notebooks run top to bottom against a store made by the quickstart sweep (sweeps/quickstart.toml); the
chaos-study notebook makes its own from sweeps/chaos_study_ci.toml. A notebook whose store or data is missing
says so, with the command that brings it.

The quickstart store and the executed notebooks go to the documentation build's cache (build/cache/, keyed by
their inputs: docs/build_cache.py), where `python docs/build.py` finds them; a store already there (made by
an earlier test run or docs build from the same source and spec) is used as it is. CHAOSSIM_DOCS_CACHE=0
keeps everything in temporary folders."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _build_cache():
    spec = importlib.util.spec_from_file_location("chaossim_docs_build_cache", ROOT / "docs" / "build_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_cache = _build_cache()


def _sweep(folder: Path) -> None:
    store = folder / "quickstart.zarr"
    cmd = [sys.executable, "-m", "chaossim", "sweep", str(ROOT / "sweeps" / "quickstart.toml"), "--store", str(store),
           "--no-progress", "--dashboard", "none"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def quickstart_store(tmp_path_factory):
    folder = build_cache.get_or_make(build_cache.quickstart_entry(), _sweep, tmp_path_factory.mktemp("quickstart"))
    store = folder / "quickstart.zarr"
    assert (folder / "quickstart.zarr.report" / "phase_diagram.png").exists()
    return store


def _fashion_mnist_missing() -> str | None:
    from chaossim.data import load_dataset
    from chaossim.errors import DataError

    try:
        load_dataset("fashion-mnist", n_train=10, n_test=10)
    except DataError:
        return "needs FashionMNIST (apt-get install -y dataset-fashion-mnist)"
    return None


def _execute(path, env: dict, tmp_path):
    """Execute the notebook at ``path`` in a kernel with ``env`` added to its environment, stopping at the first
    cell that raises (as Jupyter's "Run All" does); returns it with the outputs up to there."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update(env)
    os.environ.pop("MPLBACKEND", None)  # the kernel draws inline
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except CellExecutionError:
        pass  # the error is in the outputs of the cell that raised
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def _errors(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]


def test_there_are_four_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01_sweep_phase_diagram.ipynb", "02_one_trained_model.ipynb",
                                           "03_chaos_and_learning.ipynb", "04_chaos_study.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, quickstart_store, tmp_path):
    import nbformat

    if path.stem.startswith("04") and _fashion_mnist_missing():
        pytest.skip(_fashion_mnist_missing())
    nb = _execute(path, {"CHAOSSIM_STORE": str(quickstart_store),
                         "CHAOSSIM_STUDY_STORE": str(tmp_path / "chaos_study_ci.zarr")}, tmp_path)  # 04 makes it
    errors = _errors(nb)
    assert not errors, f"{errors[0].ename}: {errors[0].evalue}"
    assert any(o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    build_cache.store(build_cache.notebook_entry(path), lambda folder: nbformat.write(nb, folder / path.name))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["01_sweep_phase_diagram", "02_one_trained_model"])
def test_a_notebook_without_its_store_says_which_command_makes_it(name, tmp_path):
    nb = _execute(ROOT / "notebooks" / f"{name}.ipynb", {"CHAOSSIM_STORE": str(tmp_path / "none.zarr")}, tmp_path)
    errors = _errors(nb)
    assert [e.ename for e in errors] == ["SystemExit"]  # one, in the first cell that reads the store
    assert errors[0].evalue.startswith(f"No sweep store at {tmp_path / 'none.zarr'}.")
    assert "chaossim sweep sweeps/quickstart.toml --store quickstart.zarr" in errors[0].evalue


@pytest.mark.slow
def test_the_study_notebook_without_fashion_mnist_says_how_to_get_it(tmp_path):
    """Issue 22: without FashionMNIST notebook 04 ended in a bare CalledProcessError (the reason only on the
    console). Here the kernel cannot see FashionMNIST: CHAOSSIM_DATA names an empty folder and a
    sitecustomize.py on the kernel's PYTHONPATH points chaossim's system folder of the Debian package elsewhere,
    as on a machine without the package."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        f"import chaossim.data\nchaossim.data.FASHION_MNIST_SYSTEM_DIR = {str(tmp_path / 'no-system-dir')!r}\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    path = ROOT / "notebooks" / "04_chaos_study.ipynb"
    nb = _execute(path, {"CHAOSSIM_STUDY_STORE": str(tmp_path / "study.zarr"), "CHAOSSIM_DATA": str(empty),
                         "CHAOSSIM_CACHE": "0",
                         "PYTHONPATH": os.pathsep.join([str(hide), str(ROOT), os.environ.get("PYTHONPATH", "")])},
                  tmp_path)
    errors = _errors(nb)
    assert [e.ename for e in errors] == ["SystemExit"]
    message = errors[0].evalue
    assert message.startswith("This notebook makes the reduced chaos study (sweeps/chaos_study_ci.toml)")
    assert "FashionMNIST not found" in message and "apt-get install -y dataset-fashion-mnist" in message
    assert "CalledProcessError" not in str(errors[0].traceback) and not (tmp_path / "study.zarr").exists()


def test_the_cache_key_follows_the_inputs(tmp_path, monkeypatch):
    """An entry is found again for the same inputs only; a new entry replaces the older one of its kind."""
    monkeypatch.setenv(build_cache.CACHE_ENV, str(tmp_path / "cache"))
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("x = 1\n")
    b.write_text("x = 2\n")
    assert build_cache.key(a) == build_cache.key(a) != build_cache.key(b)
    assert build_cache.lookup(f"quickstart-{build_cache.key(a)}") is None
    made = build_cache.store(f"quickstart-{build_cache.key(a)}", lambda d: (d / "out.txt").write_text("a"))
    assert build_cache.lookup(f"quickstart-{build_cache.key(a)}") == made and (made / "out.txt").read_text() == "a"
    calls = []
    again = build_cache.get_or_make(f"quickstart-{build_cache.key(a)}", calls.append, tmp_path / "fallback")
    assert again == made and calls == []  # found: not made again
    other = build_cache.store(f"quickstart-{build_cache.key(b)}", lambda d: (d / "out.txt").write_text("b"))
    assert other.is_dir() and not made.exists()  # the older entry of the kind is gone
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [other.name]  # no temporary folder left
    monkeypatch.setenv(build_cache.CACHE_ENV, "0")
    assert build_cache.store("quickstart-x", calls.append) is None and calls == []
    shutil.rmtree(tmp_path / "cache")
