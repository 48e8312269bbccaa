"""Every spec shipped in sweeps/ is checked whole and laid out by ``chaossim sweep --dry-run`` (chaossim.sweep.plan),
so a crash like the dataset grid's (issue 18: sweeps/paper.toml could not lay out its store) cannot ship again;
and one point of the paper's spec is trained at a reduced size.

FashionMNIST and MNIST are small IDX files written here (28 x 28 images, as the real ones), found through
$CHAOSSIM_DATA: MNIST cannot be downloaded offline, and the real FashionMNIST may not be installed."""
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from chaossim.cli.app import main
from chaossim.config import tomllib
from chaossim.sweep import inputs
from chaossim.sweep.spec import load_spec, parse_spec

from ..test_data import make_idx_pair

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "sweeps").glob("*.toml"))


@pytest.fixture
def idx_data(tmp_path, monkeypatch):
    """FashionMNIST and MNIST stand-ins: 10000 train + 300 test images of 28 x 28 (as many as the specs draw),
    different for each."""
    root = tmp_path / "data"
    for seed, name in enumerate(("fashion-mnist", "mnist")):
        make_idx_pair(root / name, n_train=10000, n_test=300, shape=(28, 28), seed=seed)
    monkeypatch.setenv("CHAOSSIM_DATA", str(root))
    monkeypatch.setenv("CHAOSSIM_CACHE", "0")
    inputs.cache_clear()
    yield root
    inputs.cache_clear()


def test_the_shipped_specs_are_all_here():
    assert {p.name for p in SPECS} >= {"quickstart.toml", "paper.toml", "chaos_study.toml", "chaos_study_ci.toml"}


@pytest.mark.parametrize("spec_file", SPECS, ids=[p.stem for p in SPECS])
def test_every_shipped_spec_is_checked_and_laid_out(spec_file, idx_data, tmp_path, capsys):
    store = tmp_path / f"{spec_file.stem}.zarr"
    code = main(["sweep", str(spec_file), "--store", str(store), "--dry-run"])
    out = capsys.readouterr()
    assert code == 0, out.err
    spec = load_spec(spec_file)
    assert out.out.startswith(f"sweep {spec.name}: {spec.n_points} points over {dict(zip(spec.dims, spec.shape))}")
    assert "; laid out and verified\n" in out.out and "nothing was trained or written" in out.out
    assert not store.exists() and not list(tmp_path.glob(f"{spec_file.stem}.zarr*"))


def test_the_paper_spec_grids_over_both_datasets(idx_data, capsys):
    """Row 1: today `chaossim sweep sweeps/paper.toml` crashes laying out the store (AttributeError)."""
    assert main(["sweep", str(ROOT / "sweeps" / "paper.toml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    for name in ("fashion-mnist", "mnist"):
        assert f"data: {name}: 10000 train + 300 test points of 784 features, from {idx_data / name}\n" in out


def test_a_dry_run_checks_what_the_points_need_of_their_data(idx_data, tmp_path, capsys):
    text = (ROOT / "sweeps" / "paper.toml").read_text().replace("batch_size = 500 ", "batch_size = 20000 ")
    (tmp_path / "big.toml").write_text(text)
    assert main(["sweep", str(tmp_path / "big.toml"), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert ("chaossim sweep: error: grid point 0 (dataset=fashion-mnist, arch=unrestricted): training.batch_size = "
            "20000 exceeds the 10000 training points of fashion-mnist") in err


def reduced_paper_text() -> str:
    """sweeps/paper.toml with its grid, dynamics and learning rate, at a size that trains in seconds."""
    raw = tomllib.loads((ROOT / "sweeps" / "paper.toml").read_text())
    raw["model"].update(n_hidden=16, n_hidden2=8)
    raw["training"].update(steps=4, batch_size=50, log_every=2, checkpoint_every=2, n_eval=50, snapshot_every=2,
                           chaos_every=2)
    raw["record"].update(times=[0.0, 10.0, 100.0], n_samples=2, n_trajectories=1, trajectory_every=10,
                         trajectory_t_max=100.0, n_data_samples=4)
    return tomli_w.dumps(raw)


def test_a_point_of_the_paper_spec_trains_at_a_reduced_size(idx_data, tmp_path):
    from threadpoolctl import threadpool_limits

    from chaossim.sweep.point import run_point
    from chaossim.sweep.store import create_store, open_sweep
    from chaossim.sweep.verify import verify_store

    spec = parse_spec(reduced_paper_text(), default_name="paper")
    assert spec.dims == ("dataset", "arch") and spec.base.dynamics.T == 100.0 and spec.base.training.k == 0.01
    index = 1 * 4 + 2  # dataset = mnist, arch = deep (C order over the grid)
    assert spec.point_values(index) == {"dataset": "mnist", "arch": "deep"}
    store = tmp_path / "paper.zarr"
    create_store(store, spec)
    with threadpool_limits(1):
        summary = run_point(spec, index, store)
    assert summary["status"] == "done", summary
    ds = open_sweep(store)
    point = ds.sel(dataset="mnist", arch="deep")
    assert bool(point.done) and str(point.status.values) == "done" and int(point.steps_done) == 4
    assert list(ds.t_age.values) == [0, 2, 4] and np.isfinite(point.E2.values).all()
    assert np.isfinite(point.lambda_max.values).all() and np.isfinite(point.trajectory.values).all()
    assert point.param_W2.shape == (16, 8) and np.isfinite(point.param_W2.values).all()
    # the held-out data of each dataset are stored along `dataset`, in the grid's order
    assert ds.data_samples.dims == ("dataset", "data_sample", "feature")
    assert not np.array_equal(ds.data_samples.sel(dataset="mnist").values,
                              ds.data_samples.sel(dataset="fashion-mnist").values)
    assert int(ds.done.sum()) == 1 and verify_store(store).ok
