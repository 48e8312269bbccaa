"""Shared helpers of the sweep tests: tiny specs and an in-process reference sweep."""
import shutil

import numpy as np
import pytest

from chaossim.sweep.point import run_group, run_point
from chaossim.sweep.spec import parse_spec
from chaossim.sweep.store import RUN_VARIABLES, create_store, open_sweep

TINY = """
[sweep]
name = "tiny"
[grid]
g = {g}
T = {T}
{extra_grid}
[model]
arch = "restricted"
n_hidden = {n_hidden}
[dynamics]
dt = 1.0
{dynamics}
[training]
steps = {steps}
batch_size = 50
k = 0.1
log_every = 50
checkpoint_every = 25
n_eval = 100
[backend]
{backend}
[record]
times = [0, 10, 20]
n_samples = 3
n_trajectories = 2
trajectory_every = 5
trajectory_t_max = 20.0
n_data_samples = 4
"""


def tiny_text(g="[1.0, 2.0]", T="[10.0, 20.0]", extra_grid="", n_hidden=8, steps=50, dynamics="tau = 10.0",
              backend=""):
    return TINY.format(g=g, T=T, extra_grid=extra_grid, n_hidden=n_hidden, steps=steps, dynamics=dynamics,
                       backend=backend)


def tiny_spec(**kw):
    return parse_spec(tiny_text(**kw), default_name="tiny")


def run_in_process(spec, store):
    """The uninterrupted reference: lay out, then every point in order in this process (BLAS on 1 thread
    like the Dask workers, whose nannies set OMP_NUM_THREADS=1)."""
    from threadpoolctl import threadpool_limits

    create_store(store, spec)
    with threadpool_limits(1):
        summaries = [run_point(spec, i, store) for i in range(spec.n_points)]
    return summaries


def run_groups_in_process(spec, store, n_workers=1):
    """The uninterrupted reference of a grouped sweep: the groups :func:`plan_groups` forms for
    ``n_workers``, each trained as one ensemble in this process (BLAS on 1 thread). Returns the groups."""
    from threadpoolctl import threadpool_limits

    from chaossim.sweep.groups import plan_groups

    create_store(store, spec)
    groups = plan_groups(spec, range(spec.n_points), n_workers=n_workers)
    with threadpool_limits(1):
        for g in groups:
            if len(g) == 1:
                run_point(spec, g[0], store)
            else:
                run_group(spec, g, store)
    return groups


def max_difference(a, b, skip=RUN_VARIABLES) -> float:
    """The largest absolute difference between the float variables of two sweep stores (NaN where both are
    NaN), after checking that every other variable is equal and that NaN sits at the same places."""
    a, b = open_sweep(a), open_sweep(b)
    assert set(a.variables) == set(b.variables)
    worst = 0.0
    for name in a.variables:
        if name in skip:
            continue
        x, y = a[name].values, b[name].values
        if x.dtype.kind == "f":
            assert np.array_equal(np.isnan(x), np.isnan(y)), f"variable {name}: NaN at other places"
            both = ~np.isnan(x)
            if both.any():
                worst = max(worst, float(np.abs(x[both].astype(np.float64) - y[both]).max()))
        else:
            np.testing.assert_array_equal(x, y, err_msg=f"variable {name} differs")
    return worst


def assert_same_results(a, b, skip=RUN_VARIABLES):
    """Every data variable and coordinate of two sweep stores equal to the bit (NaN == NaN), except the
    per-run bookkeeping (when, how long, which task run, how many points together)."""
    a, b = open_sweep(a), open_sweep(b)
    assert set(a.variables) == set(b.variables)
    for name in a.variables:
        if name in skip:
            continue
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"variable {name} differs")


@pytest.fixture(scope="session")
def _tiny_store_once(tmp_path_factory):
    """The tiny sweep, run once per session (a few seconds); tests get their own copy."""
    spec = tiny_spec()
    store = tmp_path_factory.mktemp("tiny_once") / "tiny.zarr"
    run_in_process(spec, store)
    return spec, store


@pytest.fixture
def tiny_store(_tiny_store_once, tmp_path):
    """A finished tiny sweep in this test's folder: a copy of the store and of what lies next to it
    (the run directories, the log), so a test may change it."""
    spec, master = _tiny_store_once
    for path in master.parent.iterdir():
        if path.name.startswith(master.name):
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, tmp_path / path.name)
    return spec, tmp_path / master.name
