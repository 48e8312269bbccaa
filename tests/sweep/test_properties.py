"""Property tests (hypothesis) of the sweep layout: grid position <-> point index <-> store region, and the
NaN padding of variables whose size varies along the grid.

Deterministic: ``derandomize=True`` draws the same examples on every run (no example database).
"""
import itertools
import math

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from chaossim.errors import ConfigError, StoreError
from chaossim.sweep.spec import grid_points, parse_spec
from chaossim.sweep.store import _pad, region_of

PROPS = settings(max_examples=40, derandomize=True, database=None, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


def unique_lists(elements, max_size=4):
    return st.lists(elements, min_size=1, max_size=max_size, unique=True)


# grid key -> strategy of its value list (every value gives a valid run config with dt = 1 and the
# default record times 0..200, which are multiples of dt)
GRID_VALUES = {
    "g": unique_lists(st.floats(0.0, 10.0, allow_nan=False)),
    "seed": unique_lists(st.integers(0, 2**31)),
    '"dynamics.T"': unique_lists(st.integers(1, 500).map(float)),
    "k": unique_lists(st.floats(0.0, 1.0, allow_nan=False)),
    "n_hidden": unique_lists(st.integers(1, 64)),
    '"model.arch"': unique_lists(st.sampled_from(["unrestricted", "restricted", "deep", "rbm"])),
    "dataset": unique_lists(st.sampled_from(["digits", "fashion-mnist", "mnist"]), max_size=3),
}
DIM_OF = {"g": "g", "seed": "seed", '"dynamics.T"': "T", "k": "k", "n_hidden": "n_hidden",
          '"model.arch"': "arch", "dataset": "dataset"}


@st.composite
def specs(draw, max_points=None):
    keys = draw(st.lists(st.sampled_from(sorted(GRID_VALUES)), min_size=1, max_size=4, unique=True))
    grid = {k.strip('"'): draw(GRID_VALUES[k]) for k in keys}
    if max_points is not None:
        while math.prod(len(v) for v in grid.values()) > max_points:
            longest = max(grid, key=lambda k: len(grid[k]))
            grid[longest] = grid[longest][:-1]
    text = tomli_w.dumps({"sweep": {"name": "prop"}, "grid": grid, "training": {"steps": 10}})
    spec = parse_spec(text)
    assert spec.dims == tuple(DIM_OF[k] for k in keys)
    return spec, [grid[k.strip('"')] for k in keys]


@PROPS
@given(specs())
def test_point_index_and_grid_position_are_one_bijection(spec_values):
    """Points are numbered in C order over the grid dimensions, in the order the grid lists them
    (docs/sweeps.md): multi_index is NumPy's unravel_index, and point i has the i-th combination."""
    spec, values = spec_values
    assert spec.shape == tuple(len(v) for v in values)
    combos = list(itertools.product(*values))
    assert spec.n_points == len(combos)
    seen = set()
    for i, combo in enumerate(combos):
        pos = spec.multi_index(i)
        assert pos == tuple(int(x) for x in np.unravel_index(i, spec.shape))
        assert int(np.ravel_multi_index(pos, spec.shape)) == i
        assert tuple(spec.point_values(i).values()) == combo
        seen.add(pos)
    assert seen == set(np.ndindex(spec.shape))
    assert [tuple(v.values()) for _, v in grid_points(spec)] == combos
    for bad in (-1, spec.n_points, True):
        with pytest.raises(ConfigError, match="outside the grid"):
            spec.multi_index(bad)


@PROPS
@given(specs())
def test_config_of_a_point_carries_its_grid_values(spec_values):
    spec, _ = spec_values
    for i in range(spec.n_points):
        cfg = spec.config(i).to_dict()
        for d, value in zip(spec.grid, spec.point_values(i).values()):
            assert cfg[d.section][d.setting] == value


@PROPS
@given(specs())
def test_region_selects_exactly_its_point(spec_values):
    """region_of(spec, i) is the chunk-aligned region a task writes: one slice of length 1 per grid dimension,
    which picks, on a Dataset laid out on the spec's coordinates, the cell of point i with its grid values."""
    import xarray as xr

    spec, _ = spec_values
    ids = xr.DataArray(np.arange(spec.n_points).reshape(spec.shape), dims=spec.dims, coords=spec.coords())
    cover = np.zeros(spec.shape, dtype=int)
    for i in range(spec.n_points):
        region = region_of(spec, i)
        assert list(region) == list(spec.dims)
        assert all(s.stop - s.start == 1 and s.step is None for s in region.values())
        cell = ids.isel(region)
        assert cell.shape == (1,) * len(spec.dims) and int(cell.values.item()) == i
        assert {d: cell[d].values.item() for d in spec.dims} == spec.point_values(i)
        cover[tuple(region[d] for d in spec.dims)] += 1
    assert np.all(cover == 1)  # the regions tile the grid: no overlap, nothing left out


@settings(max_examples=6, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(specs(max_points=6))
def test_region_writes_into_a_real_zarr_store(tmp_path_factory, spec_values):
    """The regions, written one point at a time with to_zarr(region=..., mode="r+") into a zarr store laid
    out with chunk 1 per grid dimension (as the sweep store is), fill every point's own cell."""
    import dask.array as da
    import xarray as xr

    spec, _ = spec_values
    path = tmp_path_factory.mktemp("prop") / "grid.zarr"
    template = xr.Dataset({"point": (spec.dims, da.full(spec.shape, -1, dtype="int64", chunks=(1,) * len(spec.dims))),
                           "trace": (spec.dims + ("t",),
                                     da.full(spec.shape + (3,), np.nan, chunks=(1,) * len(spec.dims) + (3,)))},
                          coords=spec.coords())
    template.to_zarr(path, compute=False, mode="w", consolidated=False, encoding={"point": {"fill_value": -1}})
    for i in range(spec.n_points):
        one = (1,) * len(spec.dims)
        xr.Dataset({"point": (spec.dims, np.full(one, i)),
                    "trace": (spec.dims + ("t",), np.full(one + (3,), float(i)))}).to_zarr(
            path, region=region_of(spec, i), mode="r+", consolidated=False)
    back = xr.open_zarr(path, consolidated=False).load()
    assert np.array_equal(back["point"].values, np.arange(spec.n_points).reshape(spec.shape))
    assert np.array_equal(back["trace"].values[..., 1], back["point"].values.astype(float))


# ------------------------------------------------------------------------------------- padding
@st.composite
def fitting_arrays(draw):
    """(array, target shape) with the array's shape <= target in every dimension."""
    target = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6))
    shape = tuple(draw(st.integers(0, n)) for n in target)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    arr = draw(hnp.arrays(dtype, shape, elements=st.floats(-1e6, 1e6, allow_nan=False, width=32)))
    return arr, target


@PROPS
@given(fitting_arrays())
def test_pad_keeps_the_values_in_the_corner_and_fills_nan(arr_target):
    """A point with a smaller size fills the leading part of each dimension (e.g. hidden[0:32]); the rest is NaN."""
    arr, target = arr_target
    out = _pad(arr, target)
    assert out.shape == target and out.dtype == arr.dtype
    corner = tuple(slice(0, n) for n in arr.shape)
    assert np.array_equal(out[corner], arr)
    rest = np.ones(target, dtype=bool)
    rest[corner] = False
    assert np.all(np.isnan(out[rest]))
    if arr.shape == target:
        assert out is arr


@PROPS
@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), st.data())
def test_pad_refuses_what_does_not_fit(target, data):
    kind = data.draw(st.sampled_from(["bigger", "rank"]))
    if kind == "bigger":
        axis = data.draw(st.integers(0, len(target) - 1))
        shape = tuple(n + (data.draw(st.integers(1, 3)) if j == axis else 0) for j, n in enumerate(target))
    else:
        shape = target + (1,) if data.draw(st.booleans()) or len(target) == 1 else target[:-1]
    with pytest.raises(StoreError, match="does not fit"):
        _pad(np.zeros(shape), target)
