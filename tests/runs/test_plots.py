"""`chaossim plot generated`: the samples `chaossim sample` wrote, drawn as images (chaossim.runs.plots)."""
import shutil

import numpy as np
import pytest

from chaossim.cli import main
from chaossim.errors import DataError, StoreError
from chaossim.io import load_npz
from chaossim.runs.plots import generated_figure, load_generated


@pytest.fixture(scope="module")
def sampled_run(tmp_path_factory, tiny_trained_run):
    d = tmp_path_factory.mktemp("sampled") / "run"
    shutil.copytree(tiny_trained_run, d)
    assert main(["sample", str(d), "-n", "5", "-t", "5", "10", "40"]) == 0
    return d


def test_plot_generated_draws_each_time_as_a_column_of_the_stored_samples(sampled_run, tmp_path, capsys):
    z = load_npz(sampled_run / "generated.npz")
    fig = generated_figure(sampled_run)
    axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in axes] == ["$t=5$", r"$t=10$$\,(T)$", "$t=40$"]  # the run's T = 10 marked
    for ax, points in zip(axes, z["samples"]):  # column j: the 5 starts at t_j, stacked, grey = (x + 1) / 2
        column = np.asarray(ax.images[0].get_array())
        want = np.clip((points.astype(float) + 1) / 2, 0, 1).reshape(5, 8, 8)
        np.testing.assert_allclose(column[:8], want[0], rtol=1e-6)
        np.testing.assert_allclose(column[-8:], want[-1], rtol=1e-6)
    assert "5 random starts" in fig.get_suptitle()
    assert main(["plot", "generated", str(sampled_run), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "generated.png").stat().st_size > 0 and (tmp_path / "generated.pdf").is_file()
    # a file written elsewhere with --out: square images need no run directory
    other = tmp_path / "elsewhere.npz"
    shutil.copy(sampled_run / "generated.npz", other)
    assert load_generated(other)["samples"].shape == (3, 5, 64)
    assert generated_figure(other).get_suptitle().endswith("t = 5, 10, 40")  # no run: no T line


def test_plot_generated_refuses_what_it_cannot_draw(tmp_path, tiny_trained_run):
    with pytest.raises(StoreError, match="chaossim sample"):
        load_generated(tiny_trained_run / "nothing.npz")
    np.savez(tmp_path / "x.npz", samples=np.zeros((2, 3, 10)), t=np.array([1.0, 2.0]))
    with pytest.raises(DataError, match="not square images"):
        generated_figure(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", other=np.zeros(3))
    with pytest.raises(DataError, match="'samples' and 't'"):
        load_generated(tmp_path / "y.npz")
