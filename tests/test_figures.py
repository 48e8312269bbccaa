"""The paper's figures from stored results (chaossim.figures): files written, images sane, the
receptive fields equal the couplings, helpers against direct constructions, clear errors."""
import shutil

import matplotlib.image
import numpy as np
import pytest

from chaossim import figures
from chaossim.errors import ConfigError, DataError, StoreError
from chaossim.evaluate_run import evaluate_run
from chaossim.training import load_checkpoint

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_trained_run):
    d = tmp_path_factory.mktemp("figrun") / "run"
    shutil.copytree(tiny_trained_run, d)
    evaluate_run(d, n_eval=60, seed=0)
    return d


def _check_outputs(paths, stem):
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stem == stem for p in paths)
    png, pdf = paths
    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert 150 <= img.shape[0] <= 4000 and 150 <= img.shape[1] <= 4000
    assert img[..., :3].std() > 0.01  # not a blank canvas
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    return img


def test_plot_samples_runs_and_arrays(run_dir, tmp_path):
    one = _check_outputs(figures.plot_samples([run_dir], tmp_path / "s1"), "s1")
    two = _check_outputs(figures.plot_samples([run_dir, run_dir], tmp_path / "s2.png", labels=["a", "b"]), "s2")
    assert two.shape[0] > one.shape[0]  # one more row of images
    rng = np.random.default_rng(0)
    data = rng.uniform(-1, 1, (10, 64))
    _check_outputs(figures.plot_samples([rng.uniform(-1, 1, (10, 64))], tmp_path / "s3", data=data,
                                        image_shape=(8, 8)), "s3")
    with pytest.raises(ConfigError, match="data="):
        figures.plot_samples([data], tmp_path / "s4")
    with pytest.raises(ConfigError, match="one label per run"):
        figures.plot_samples([run_dir], tmp_path / "s5", labels=["a", "b"])


def test_plot_snapshots(run_dir, tmp_path):
    img = _check_outputs(figures.plot_snapshots(run_dir, tmp_path / "snap"), "snap")
    assert img.shape[0] > img.shape[1] / 2  # 8 starts stacked in each time column
    with pytest.raises(DataError, match="n_t"):
        figures.plot_snapshots(np.zeros((3, 2, 64)), tmp_path / "bad", t=[0, 1], image_shape=(8, 8))


def test_plot_indices_vs_time(run_dir, tmp_path):
    _check_outputs(figures.plot_indices_vs_time([run_dir], tmp_path / "ivt"), "ivt")
    # an unrestricted run has no E(R): that panel says so instead of failing
    t = np.array([1.0, 10.0, 100.0])
    res = {"t": t, "E2": [1e-3, 5e-4, 2e-3], "Es": [3.0, 1.0, 2.0], "EAAI": [0.2, 0.1, 0.2],
           "ER": [np.nan] * 3, "T": 10.0}
    _check_outputs(figures.plot_indices_vs_time([res, run_dir], tmp_path / "ivt2", labels=["u", "r"]), "ivt2")


def test_plot_training_curves(run_dir, tmp_path):
    _check_outputs(figures.plot_training_curves([run_dir, run_dir], tmp_path / "tr", labels=["x", "y"]), "tr")
    with pytest.raises(ConfigError, match="one label per run"):
        figures.plot_training_curves([run_dir], tmp_path / "tr2", labels=["x", "y"])


def test_plot_receptive_fields(run_dir, tmp_path):
    _check_outputs(figures.plot_receptive_fields(run_dir, tmp_path / "rf"), "rf")
    _check_outputs(figures.plot_receptive_fields(run_dir, tmp_path / "rf4", n=4, seed=2), "rf4")


def test_receptive_fields_equal_couplings_over_g(run_dir):
    params = load_checkpoint(run_dir)["params"]
    g = 1.5
    fields, units = figures.receptive_fields(params, (8, 8), g=g, units=[0, 3, 15])
    assert units.tolist() == [0, 3, 15] and fields.shape == (3, 8, 8)
    w_plus_a = params["W"].astype(np.float64) + params["A"]
    for k, a in enumerate([0, 3, 15]):
        expected = np.array([[w_plus_a[8 * r + c, a] for c in range(8)] for r in range(8)]) / g
        np.testing.assert_allclose(fields[k], expected, rtol=1e-12)
    assert np.any(params["A"] != 0)  # the trained part really enters

    fields, units = figures.receptive_fields(params, (8, 8), n=9, seed=5)
    assert len(set(units.tolist())) == 9 and units.min() >= 0 and units.max() < 16
    assert np.all(np.diff(units) > 0)


def test_receptive_fields_deep_rbm_and_unrestricted():
    rng = np.random.default_rng(1)
    w1, a1 = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    deep = {"W1": w1, "A1": a1, "Wt1": rng.normal(size=(4, 6)), "W2": rng.normal(size=(4, 3)),
            "A2": rng.normal(size=(4, 3)), "b": np.zeros(6)}
    f, _ = figures.receptive_fields(deep, (2, 3), g=2.0, units=[1])
    np.testing.assert_allclose(f[0], ((w1 + a1)[:, 1] / 2.0).reshape(2, 3))
    rbm = {"W": w1, "b": np.zeros(6), "c": np.zeros(4)}
    f, _ = figures.receptive_fields(rbm, (3, 2), units=[2])
    np.testing.assert_allclose(f[0], w1[:, 2].reshape(3, 2))
    with pytest.raises(ConfigError, match="unrestricted"):
        figures.receptive_fields({"J": w1, "A": a1, "b": np.zeros(6)}, (2, 3))
    with pytest.raises(DataError, match="image shape"):
        figures.receptive_fields(rbm, (2, 2))
    with pytest.raises(ConfigError, match="1 <= n <= 4"):
        figures.receptive_fields(rbm, (2, 3), n=5)


def test_to_grey_and_mosaic_against_direct_construction():
    from chaossim.data import Dataset

    x = np.linspace(-1, 1, 12).reshape(2, 6)
    ds = Dataset("toy", x.astype(np.float32), x.astype(np.float32), (2, 3), "test")
    np.testing.assert_allclose(figures.to_grey(x, (2, 3)), ds.to_image(x), atol=1e-7)
    assert figures.to_grey(np.array([[-1.0, 1.0]]), (1, 2)).tolist() == [[[0.0, 1.0]]]

    imgs = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    m = figures.mosaic(imgs, n_cols=2, gap=1, fill=-1.0)
    assert m.shape == (3 * 2 + 2, 2 * 3 + 1)
    for k in range(5):
        r, c = divmod(k, 2)
        np.testing.assert_array_equal(m[3 * r:3 * r + 2, 4 * c:4 * c + 3], imgs[k])
    assert np.all(m[2, :] == -1.0) and np.all(m[:, 3] == -1.0)
    assert np.all(m[6:8, 4:7] == -1.0)  # the empty sixth slot


def test_figures_without_evaluation_name_the_command(run_dir, tmp_path):
    fresh = tmp_path / "fresh"
    shutil.copytree(run_dir, fresh, ignore=shutil.ignore_patterns("evaluation.*", "samples.npz"))
    for plot in (figures.plot_samples, figures.plot_snapshots, figures.plot_indices_vs_time):
        with pytest.raises(StoreError, match=f"run `chaossim evaluate {fresh}` first"):
            plot(fresh, tmp_path / "x")
    # receptive fields and training curves need only the checkpoint
    figures.plot_receptive_fields(fresh, tmp_path / "rf")
    figures.plot_training_curves(fresh, tmp_path / "tr")
