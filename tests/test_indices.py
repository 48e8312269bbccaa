"""The index registry (chaossim.metrics): an index registered here, in the test file, is computed during training,
logged in history.csv by name, stored in a sweep store with its attributes, reported and drawn; files and stores
written without it are still read."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from chaossim.config import RunConfig
from chaossim.errors import ConfigError
from chaossim.metrics import Index, all_indices, index_names, register_index, unregister_index
from chaossim.plotting import plot_phase_diagram, plot_training_curves
from chaossim.runs.rundir import load_checkpoint, read_history_csv
from chaossim.runs.training import train
from chaossim.summary import stored_indices
from chaossim.sweep.report import best_points_table
from chaossim.sweep.store import open_sweep

from .sweep.conftest import run_in_process, tiny_spec

# Its value is known without the code: the number of held-out points the indices are computed on, plus 1/2.
NSEEN = Index(
    "Nseen",
    lambda model, data, generated, t: data.shape[0] + 0.5,
    label=r"$N_{\rm seen}$",
    description="held-out points the indices used, plus one half",
    log_scale=True,
    lower_is_better=False,
)


@pytest.fixture
def nseen():
    register_index(NSEEN)
    yield NSEEN
    unregister_index(NSEEN.name)
    assert NSEEN.name not in index_names()


def _config(**extra):
    settings = {"model.n_hidden": 8, "training.steps": 4, "training.log_every": 2, "training.batch_size": 50,
                "training.n_eval": 60, "training.checkpoint_every": 2, "dynamics.T": 5.0, "training.k": 0.1}
    return RunConfig().replace(**{**settings, **extra})


def test_registered_index_reaches_history_csv_meta_and_figures(nseen, tmp_path):
    run = tmp_path / "run"
    res = train(_config(), run, progress=False)
    header = (run / "history.csv").read_text().split("\n")[0].split(",")
    assert header == ["t_age", "E2", "Es", "EAAI", "ER", "Nseen"]
    hist = read_history_csv(run / "history.csv")
    np.testing.assert_array_equal(hist["t_age"], [0, 2, 4])
    np.testing.assert_array_equal(hist["Nseen"], [60.5, 60.5, 60.5])
    np.testing.assert_allclose(hist["E2"], res.history["E2"], rtol=1e-5)  # the file's 6 significant digits
    assert json.loads((run / "meta.json").read_text())["last_indices"]["Nseen"] == 60.5
    np.testing.assert_array_equal(load_checkpoint(run)["history"]["Nseen"], [60.5, 60.5, 60.5])
    fig = plot_training_curves(hist)
    panel = next(ax for ax in fig.axes if ax.get_ylabel() == NSEEN.label)
    assert panel.get_yscale() == "log" and len(panel.lines) == 1


def test_old_history_csv_is_read_by_name(tmp_path):
    path = tmp_path / "history.csv"  # the layout of a run logged before any index was added
    path.write_text("t_age,E2,Es,EAAI,ER\n0,0.5,20,0.25,nan\n100,0.25,10,0.2,nan\n")
    hist = read_history_csv(path)
    assert list(hist) == ["t_age", "E2", "Es", "EAAI", "ER"]
    np.testing.assert_array_equal(hist["Es"], [20.0, 10.0])
    path.write_text("t_age,Es,E2\n0,20,0.5\n1,10,0.2")  # other order, last line partly written: left out
    hist = read_history_csv(path)
    assert hist["E2"].tolist() == [0.5] and hist["Es"].tolist() == [20.0]


def test_resuming_a_run_logged_without_the_index_logs_it_from_then_on(tmp_path):
    run = tmp_path / "run"
    train(_config(), run, progress=False, stop_after=2)
    register_index(NSEEN)
    try:
        train(_config(), run, resume=True, progress=False)
        hist = read_history_csv(run / "history.csv")
    finally:
        unregister_index(NSEEN.name)
    assert np.isnan(hist["Nseen"][:2]).all() and hist["Nseen"][2] == 60.5


def test_registered_index_in_a_store_its_report_and_phase_diagram(nseen, tmp_path):
    spec = tiny_spec(steps=50)
    store = tmp_path / "s.zarr"
    run_in_process(spec, store)
    ds = open_sweep(store)
    assert list(ds.attrs["index_names"]) == ["E2", "Es", "EAAI", "ER", "Nseen"]
    assert stored_indices(ds) == ["E2", "Es", "EAAI", "ER", "Nseen"]
    for name in ("Nseen", "Nseen_t"):
        attrs = ds[name].attrs
        assert attrs["label"] == NSEEN.label and attrs["log_scale"] == 1 and attrs["lower_is_better"] == 0
        assert "higher is better" in attrs["description"]
    np.testing.assert_array_equal(ds["Nseen"].values, np.full(ds["Nseen"].shape, 100.5))  # n_eval = 100
    np.testing.assert_array_equal(ds["Nseen_t"].values, np.full(ds["Nseen_t"].shape, 100.5))
    assert "best by Nseen at the last training step (higher is better)" in best_points_table(ds)
    fig = plot_phase_diagram(ds)
    assert any(ax.get_title() == "Nseen" for ax in fig.axes)


def test_a_store_laid_out_without_the_index_is_read_as_it_is(tmp_path):
    spec = tiny_spec(g="[1.0]", T="[10.0]")
    store = tmp_path / "s.zarr"
    run_in_process(spec, store)
    register_index(NSEEN)
    try:
        ds = open_sweep(store)
        assert stored_indices(ds) == ["E2", "Es", "EAAI", "ER"]
        assert "Nseen" not in best_points_table(ds)
    finally:
        unregister_index(NSEEN.name)


def test_registration_and_all_indices(nseen):
    rng = np.random.default_rng(0)
    d, g = rng.uniform(-1, 1, (30, 6)), rng.uniform(-1, 1, (30, 6))
    out = all_indices(None, d, g)
    assert list(out) == ["E2", "Es", "EAAI", "ER", "Nseen"] and out["Nseen"] == 30.5 and math.isnan(out["ER"])
    with pytest.raises(ConfigError, match="already registered"):
        register_index(Index("Nseen", lambda *a: 0.0, "x", "another"))
    with pytest.raises(ConfigError, match="identifier"):
        Index("N seen", lambda *a: 0.0, "x", "bad name")
    with pytest.raises(ConfigError, match="paper's indices"):
        unregister_index("E2")
