"""The phase diagram of a sweep (chaossim.plotting.sweep) drawn from an xarray dataset of the store's layout:
each cell is the seed-mean of the index at its point's last logged step, recomputed here point by point."""
import math

import numpy as np
import pytest
import xarray as xr

from chaossim.errors import DataError
from chaossim.metrics import index_names
from chaossim.plotting import plot_phase_diagram

from .conftest import line_data, rendered


def sweep_dataset(rng, grid: dict, n_age: int = 3, name: str = "toy") -> xr.Dataset:
    """Indices over the grid and t_age as a sweep store holds them (variables (grid..., t_age), grid_dims)."""
    dims = list(grid)
    shape = tuple(len(v) for v in grid.values()) + (n_age,)
    data = {n: ([*dims, "t_age"], rng.uniform(0.1, 1.0, shape)) for n in index_names()}
    coords = {**{d: list(v) for d, v in grid.items()}, "t_age": np.arange(n_age) * 10}
    return xr.Dataset(data, coords=coords, attrs={"grid_dims": dims, "name": name})


def _last_finite(series) -> float:
    finite = [v for v in series if math.isfinite(v)]
    return finite[-1] if finite else math.nan


def test_heat_map_over_g_and_T_is_the_seed_mean_of_the_last_finite_values(rng):
    ds = sweep_dataset(rng, {"g": [1.0, 1.5], "T": [10.0, 20.0, 40.0], "seed": [0, 1]})
    e2 = ds["E2"].values
    e2[0, 1, 0, -1] = np.nan          # this point's last step failed: its previous step counts
    e2[1, 2, 1, :] = np.nan           # a failed point: left out of the seed mean
    ds["ER"][...] = np.nan            # not defined: the panel says so
    fig = plot_phase_diagram(ds)
    panels = [ax for ax in fig.axes if ax.get_title() in index_names() or ax.texts]
    e2_ax = next(ax for ax in fig.axes if ax.get_title() == "E2")
    want = np.array([[np.mean([_last_finite(e2[i, j, s]) for s in range(2) if np.isfinite(e2[i, j, s]).any()])
                      for j in range(3)] for i in range(2)])
    shown = e2_ax.images[0].get_array()
    np.testing.assert_allclose(np.ma.filled(shown, np.nan), want, rtol=1e-12)
    assert e2_ax.get_ylabel() == "g" and e2_ax.get_xlabel() == "T"
    assert [t.get_text() for t in e2_ax.get_xticklabels()] == ["10", "20", "40"]
    assert [t.get_text() for t in e2_ax.get_yticklabels()] == ["1", "1.5"]
    assert sorted(t.get_text() for t in e2_ax.texts) == sorted(f"{v:.2g}" for v in want.ravel())
    er_ax = next(ax for ax in panels if any(t.get_text() == "ER: no values" for t in ax.texts))
    assert not er_ax.images
    assert fig.get_suptitle().startswith("toy: indices at the last training step (lower is better); bottom: change "
                                         "from step 0 (negative: learned) [mean over 2 seeds]\n")
    assert "own colour scale" in fig.get_suptitle()
    assert plot_phase_diagram(ds, name="other").get_suptitle().startswith("other: ")
    rendered(fig)


def test_other_dimensions_fixed_at_their_first_value_and_named(rng):
    ds = sweep_dataset(rng, {"T": [10.0, 20.0], "k": [0.01, 0.1], "g": [1.2, 2.0, 3.0]})
    fig = plot_phase_diagram(ds)
    ax = next(ax for ax in fig.axes if ax.get_title() == "EAAI")
    want = ds["EAAI"].values[:, 0, :, -1].T  # k = 0.01, (g, T)
    np.testing.assert_allclose(ax.images[0].get_array(), want)
    assert "[k=0.01]" in fig.get_suptitle()


def test_one_numeric_dimension_gives_curves(rng):
    ds = sweep_dataset(rng, {"g": [1.0, 2.0, 3.0], "arch": ["restricted"]})
    fig = plot_phase_diagram(ds)
    ax = next(ax for ax in fig.axes if ax.get_title() == "Es")
    ((x, y),) = line_data(ax)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(y, ds["Es"].values[:, 0, -1])
    assert ax.get_xlabel() == "g"


def test_no_numeric_dimension_is_a_clear_error(rng):
    ds = sweep_dataset(rng, {"arch": ["restricted", "deep"], "seed": [0, 1]})
    with pytest.raises(DataError, match="no numeric grid dimension"):
        plot_phase_diagram(ds)


def test_bottom_row_is_the_change_from_step_0_on_a_scale_centred_at_0(rng):
    ds = sweep_dataset(rng, {"g": [1.0, 1.5], "T": [10.0, 20.0, 40.0], "seed": [0, 1]})
    ea = ds["EAAI"].values
    ea[1, 0, 0, -1] = np.nan  # that point's last step failed: its previous step counts
    fig = plot_phase_diagram(ds)
    ax = next(ax for ax in fig.axes if ax.get_title() == "EAAI: change from step 0")
    want = np.array([[np.mean([_last_finite(ea[i, j, s]) - ea[i, j, s, 0] for s in range(2)]) for j in range(3)]
                     for i in range(2)])
    np.testing.assert_allclose(ax.images[0].get_array(), want, rtol=1e-12)
    lo, hi = ax.images[0].get_clim()
    assert lo == pytest.approx(-hi) and hi == pytest.approx(np.abs(want).max())
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:+.2g}" for v in want.ravel())
    bars = [a.get_ylabel() for a in fig.axes if a.get_ylabel().startswith("EAAI")]
    assert "EAAI at the last step (own scale)" in bars
    assert "EAAI: change from step 0 (own scale, centred at 0)" in bars
    rendered(fig)
    later = ds.assign_coords(t_age=ds["t_age"].values + 10)  # no step 0 logged: no baseline, top row only
    top_only = plot_phase_diagram(later)
    assert not any("change" in a.get_title() for a in top_only.axes)
    curves = plot_phase_diagram(sweep_dataset(rng, {"g": [1.0, 2.0, 3.0]}))
    ((x, y),) = line_data(next(a for a in curves.axes if a.get_title() == "E2: change from step 0"))
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_cells_are_labelled_up_to_100_per_panel(rng):
    """sweep-report of 20 g x 10 T took 30 s drawing 1 600 overlapping cell labels; above 100 cells per panel the
    heat maps keep their colour scale only, and the title says so."""
    small = plot_phase_diagram(sweep_dataset(rng, {"g": list(np.arange(10.0)), "T": list(np.arange(10.0) + 1)}))
    ax = next(ax for ax in small.axes if ax.get_title() == "E2")
    assert len(ax.texts) == 100 and "not written in the cells" not in small.get_suptitle()
    big = plot_phase_diagram(sweep_dataset(rng, {"g": list(np.arange(20.0)), "T": list(np.arange(10.0) + 1),
                                                 "seed": [0, 1]}))
    panels = [ax for ax in big.axes if ax.images]
    assert len(panels) == 8 and not any(ax.texts for ax in panels)
    assert "200 cells per panel: values not written in the cells (at most 100)" in big.get_suptitle()
    np.testing.assert_allclose(next(ax for ax in panels if ax.get_title() == "E2").images[0].get_array().shape,
                               (20, 10))
    rendered(big)
