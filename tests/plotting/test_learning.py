"""The SVD view of learning drawn (chaossim.plotting.learning): curves, mode images and scatters are the
input arrays."""
import numpy as np
import pytest

from chaossim.errors import ConfigError, DataError
from chaossim.plotting import plot_modes, plot_projections, plot_singular_values

from .conftest import line_data, rendered


def test_singular_values_one_curve_per_rank(rng):
    steps = np.array([10, 100, 1000, 10000])
    s = np.abs(rng.standard_normal((4, 3))) + 0.1
    fig = plot_singular_values(steps, s, title="sv")
    (ax,) = fig.axes
    lines = line_data(ax)
    assert len(lines) == 3
    for i, (x, y) in enumerate(lines):
        np.testing.assert_array_equal(x, steps)
        np.testing.assert_array_equal(y, s[:, i])
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log" and ax.get_title() == "sv"
    lin = plot_singular_values([0, 1, 2, 3], s).axes[0]  # a step 0: linear x
    assert lin.get_xscale() == "linear"
    rendered(fig)
    with pytest.raises(DataError, match="n_steps = 3"):
        plot_singular_values([1, 2, 3], s)


def test_modes_are_the_columns_of_U_as_images(rng):
    u = rng.standard_normal((12, 5))
    fig = plot_modes(u, (3, 4), k=5)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5 and len(fig.axes) == 6  # 3 x 2 grid, one empty
    for i, ax in enumerate(shown):
        np.testing.assert_array_equal(ax.images[0].get_array(), u[:, i].reshape(3, 4))
        lim = np.abs(u[:, i]).max()
        assert ax.images[0].get_clim() == pytest.approx((-lim, lim))
    rendered(fig)
    with pytest.raises(DataError, match="pixels"):
        plot_modes(u, (3, 3), k=5)
    with pytest.raises(ConfigError, match="exceeds the 5 columns"):
        plot_modes(u, (3, 4), k=6)
    with pytest.raises(ConfigError, match="positive integer"):
        plot_modes(u, (3, 4), k=0)


def test_projections_scatter_the_first_two_columns(rng):
    data, gen = rng.standard_normal((30, 3)), rng.standard_normal((20, 2))
    fig = plot_projections(data, gen, None)
    (ax,) = fig.axes
    offsets = [c.get_offsets() for c in ax.collections]
    assert len(offsets) == 2
    np.testing.assert_array_equal(offsets[0], data[:, :2])
    np.testing.assert_array_equal(offsets[1], gen)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data", "generated"]
    rendered(fig)
    with pytest.raises(DataError, match="None"):
        plot_projections(None, None, None)
    with pytest.raises(DataError, match="at least 2 columns"):
        plot_projections(None, None, np.zeros((3, 1)))
    with pytest.raises(DataError, match="NaN"):
        plot_projections(np.full((3, 2), np.nan), None, None)
