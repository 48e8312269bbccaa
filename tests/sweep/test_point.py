"""Points trained as one ensemble (chaossim.sweep.point.run_group) against the same points run alone."""
import numpy as np
import pytest
import xarray as xr

from chaossim.sweep.point import run_group, run_point
from chaossim.sweep.store import RUN_VARIABLES, create_store, open_sweep, runs_dir

from .conftest import max_difference, run_groups_in_process, run_in_process, tiny_spec


@pytest.mark.slow
def test_a_grouped_sweep_equals_the_ungrouped_one_in_float64(tmp_path):
    """Every variable of the store but the per-run bookkeeping, to 1e-12 (float64, NumPy)."""
    spec = tiny_spec(g="[1.0, 1.5, 2.0]", T="[10.0, 20.0]", extra_grid="seed = [0, 1]",
                     backend='dtype = "float64"')
    run_in_process(spec, tmp_path / "alone.zarr")
    groups = run_groups_in_process(spec, tmp_path / "grouped.zarr")
    assert sorted(len(g) for g in groups) == [6, 6]
    assert max_difference(tmp_path / "alone.zarr", tmp_path / "grouped.zarr") <= 1e-12
    a, g = open_sweep(tmp_path / "alone.zarr"), open_sweep(tmp_path / "grouped.zarr")
    assert (a.group_size.values == 1).all() and (g.group_size.values == 6).all()
    assert (g.train_path.values == "engine").all() and (g.train_path_reason.values == a.train_path_reason.values).all()
    assert "off the GPU" in str(g.train_path_reason.values.ravel()[0])
    assert set(RUN_VARIABLES) == {"wall_time", "completed_at", "run_id", "group_size"}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_failing_point_of_a_group_is_recorded_as_alone_and_the_others_are_done(tmp_path):
    """g = 1e300 overflows the float32 couplings: that point diverges at its first evaluation."""
    spec = tiny_spec(g="[1.0, 1e300, 2.0]", T="[10.0]")
    run_in_process(spec, tmp_path / "alone.zarr")
    create_store(tmp_path / "grouped.zarr", spec)
    summaries = run_group(spec, [0, 1, 2], tmp_path / "grouped.zarr")
    assert [s["status"] for s in summaries] == ["done", "failed", "done"]
    assert "diverged" in summaries[1]["error"] and "Traceback" in summaries[1]["traceback"]
    a, g = xr.open_zarr(tmp_path / "alone.zarr"), xr.open_zarr(tmp_path / "grouped.zarr")
    assert list(g.status.values.ravel()) == ["done", "failed", "done"] and not g.done.values.ravel()[1]
    key_a, key_g = (str(runs_dir(tmp_path / f"{n}.zarr")) for n in ("alone", "grouped"))
    assert str(g.error.values.ravel()[1]).replace(key_g, key_a) == str(a.error.values.ravel()[1])
    for name in ("E2", "param_A", "samples", "trajectory"):
        np.testing.assert_array_equal(g[name].values[[0, 2]], a[name].values[[0, 2]], err_msg=name)


@pytest.mark.slow
def test_a_damaged_checkpoint_of_a_member_is_set_aside(tmp_path):
    spec = tiny_spec(g="[1.0, 2.0]", T="[10.0]")
    store = tmp_path / "s.zarr"
    create_store(store, spec)
    run_point(spec, 1, store)
    from chaossim.sweep.mirror import packed, unpack

    zipped = packed(runs_dir(store), spec.point_key(1)).path  # a finished point keeps its run directory in one file
    assert zipped.is_file() and not (runs_dir(store) / spec.point_key(1)).exists()
    unpack(zipped.read_bytes(), runs_dir(store) / spec.point_key(1))  # as a re-run of that point unpacks it
    zipped.unlink()
    ck = runs_dir(store) / spec.point_key(1) / "checkpoint.npz"
    ck.write_bytes(b"PK\x03\x04 damaged")
    summaries = run_group(spec, [0, 1], store)
    assert [s["status"] for s in summaries] == ["done", "done"]
    assert not summaries[0]["set_aside"] and ".damaged-" in summaries[1]["set_aside"]
    run_in_process(spec, tmp_path / "ref.zarr")
    assert max_difference(store, tmp_path / "ref.zarr") == 0.0


@pytest.mark.gpu
def test_a_group_on_cupy_trains_with_the_fused_graph_step(tmp_path):
    """On a GPU: one task, one ensemble, the strided-batched fused step; every point done and recorded."""
    from chaossim.sweep.spec import with_backend

    spec = with_backend(tiny_spec(g="[1.0, 1.5, 2.0]", T="[10.0]"), "cupy")
    create_store(tmp_path / "g.zarr", spec, backend="cupy")
    summaries = run_group(spec, [0, 1, 2], tmp_path / "g.zarr")
    assert [s["status"] for s in summaries] == ["done"] * 3, summaries
    ds = open_sweep(tmp_path / "g.zarr")
    assert (ds.train_path.values == "fused-graph").all() and (ds.group_size.values == 3).all()
    assert (ds.backend.values == "cupy").all() and np.isfinite(ds.E2.values).all()
