"""The sweep store: schema, half-finished reads, padding, failures, refusals, report and CLI entry."""

import numpy as np
import pytest
import xarray as xr
import zarr

from chaossim.errors import StoreError
from chaossim.metrics import index_names
from chaossim.summary import final_indices
from chaossim.sweep.point import compute_point, run_point
from chaossim.sweep.report import sweep_report
from chaossim.sweep.store import (
    POINT_VARIABLES,
    check_matches,
    create_store,
    done_mask,
    open_or_create,
    open_sweep,
    quiet_zarr,
    write_failure,
)

from .conftest import tiny_spec

GRID = ("g", "T")


def test_schema_opens_with_plain_xarray(tiny_store):
    spec, store = tiny_store
    ds = xr.open_zarr(store)  # all a notebook needs
    assert dict(ds.sizes) == {"g": 2, "T": 2, "t_age": 2, "t": 3, "feature": 64, "hidden": 8, "sample": 3,
                              "traj_sample": 2, "traj_time": 5, "data_sample": 4}
    np.testing.assert_array_equal(ds.g.values, [1.0, 2.0])
    np.testing.assert_array_equal(ds["T"].values, [10.0, 20.0])
    np.testing.assert_array_equal(ds.t_age.values, [0, 50])
    np.testing.assert_array_equal(ds.t.values, [0.0, 10.0, 20.0])
    np.testing.assert_array_equal(ds.traj_time.values, [0.0, 5.0, 10.0, 15.0, 20.0])
    for n in index_names():
        assert ds[n].dims == GRID + ("t_age",)
        assert ds[f"{n}_t"].dims == GRID + ("t",)
    assert ds.samples.dims == GRID + ("sample", "feature")
    assert ds.trajectory.dims == GRID + ("traj_sample", "traj_time", "feature")
    assert ds.param_A.dims == GRID + ("feature", "hidden") and ds.param_Wt.dims == GRID + ("hidden", "feature")
    assert ds.param_b.dims == GRID + ("feature",) and ds.param_c.dims == GRID + ("hidden",)
    assert ds.data_samples.dims == ("data_sample", "feature")
    for name in POINT_VARIABLES:
        assert ds[name].dims == GRID
    assert ds.done.dtype == bool and ds.done.values.all()
    assert (ds.status.values == "done").all() and (ds.error.values == "").all()
    assert (ds.device.values == "cpu").all() and (ds.steps_done.values == 50).all()
    assert ds.samples.dtype == np.float32 and np.isfinite(ds.samples.values).all()
    assert np.isfinite(ds.E2.values).all() and np.isfinite(ds.EAAI_t.values).all()
    # one point's trajectory is one chunk, compressed, not sharded
    enc = ds.trajectory.encoding
    assert enc["chunks"] == (1, 1, 2, 5, 64) and enc.get("shards") is None and enc["compressors"]
    # every array, coordinates included, ends its codec chain with a crc32c checksum
    for name in ds.variables:
        assert type(ds[name].encoding["compressors"][-1]).__name__ == "Crc32cCodec", name
    assert all(c == 1 for c in ds.E2.encoding["chunks"][:2])
    a = ds.attrs
    assert a["chaossim_sweep"] == 4 and a["name"] == "tiny" and "[grid]" in a["spec_toml"]
    assert set(a["versions"]) >= {"chaossim", "numpy", "dask", "xarray", "zarr"}
    assert a["backend"] == "numpy" and a["dtype"] == "float32" and a["created"]
    assert a["image_shape"] == [8, 8] and a["grid_dims"] == ["g", "T"]
    # the stored samples are the held-out data (digits, seeded split of model.seed 0)
    from chaossim.sweep.store import dataset_for
    np.testing.assert_array_equal(ds.data_samples.values, dataset_for(spec.config(0)).test[:4])


def test_values_are_those_of_the_point_run_alone(tiny_store, tmp_path):
    """The stored point equals an independent in-memory run (no checkpoints) of the same config."""
    from chaossim.runs.training import train
    spec, store = tiny_store
    ds = open_sweep(store)
    i = 3
    out = compute_point(spec, i, run_dir=None)
    res = train(spec.config(i), progress=False)
    sel = ds.isel(g=1, T=1)
    for n in index_names():
        np.testing.assert_array_equal(sel[n].values, res.history[n])
        np.testing.assert_array_equal(sel[f"{n}_t"].values, out[f"{n}_t"])
    np.testing.assert_array_equal(sel.param_A.values, res.model.params.to_numpy()["A"])
    np.testing.assert_array_equal(sel.samples.values, out["samples"])
    np.testing.assert_array_equal(sel.trajectory.values, out["trajectory"])
    # the trajectory at t = 20 = T are samples of the generation law at T (not the same draws)
    assert sel.trajectory.values.shape == (2, 5, 64)


def test_half_finished_store_reads_as_pending(tmp_path):
    spec = tiny_spec()
    store = tmp_path / "s.zarr"
    create_store(store, spec)
    ds = xr.open_zarr(store)
    assert (ds.status.values == "pending").all() and not ds.done.values.any()
    assert np.isnan(ds.E2.values).all() and (ds.error.values == "").all()
    run_point(spec, 2, store)
    ds = xr.open_zarr(store)
    np.testing.assert_array_equal(ds.done.values, [[False, False], [True, False]])
    assert np.isfinite(ds.E2.values[1, 0]).all() and np.isnan(ds.E2.values[0]).all()
    np.testing.assert_array_equal(done_mask(store), ds.done.values)


def test_unicode_error_round_trips(tmp_path):
    spec = tiny_spec()
    store = tmp_path / "s.zarr"
    create_store(store, spec)
    message = "dt/tau = 3 > 1: diverged — ça arrive 🙂 " + "x" * 2000
    write_failure(store, spec, 1, message)
    ds = xr.open_zarr(store)
    assert ds.status.values[0, 1] == "failed" and not ds.done.values[0, 1]
    assert ds.error.values[0, 1] == message[:1000]


def test_hidden_size_on_the_grid_is_nan_padded(tmp_path):
    from chaossim.sweep.spec import parse_spec

    from .conftest import tiny_text
    text = tiny_text(g="[1.5]", T="[10.0]", extra_grid="n_hidden = [4, 8]").replace("n_hidden = 8\n", "")
    spec = parse_spec(text)
    store = tmp_path / "p.zarr"
    create_store(store, spec)
    for i in range(spec.n_points):
        run_point(spec, i, store)
    ds = xr.open_zarr(store)
    assert ds.sizes["hidden"] == 8 and "param_A" in ds.attrs["padded_variables"]
    small = ds.param_A.isel(g=0, T=0, n_hidden=0).values
    assert np.isfinite(small[:, :4]).all() and np.isnan(small[:, 4:]).all()
    assert np.isfinite(ds.param_A.isel(g=0, T=0, n_hidden=1).values).all()
    assert np.isnan(ds.param_c.isel(g=0, T=0, n_hidden=0).values[4:]).all()


def test_diverging_point_is_recorded_failed(tmp_path):
    spec = tiny_spec(g="[1.5]", T="[50.0]", dynamics="", extra_grid="tau = [10.0, 0.1]", backend="force = true",
                     steps=10)
    store = tmp_path / "d.zarr"
    create_store(store, spec)
    s_ok, s_bad = run_point(spec, 0, store), run_point(spec, 1, store)
    assert s_ok["status"] == "done" and s_bad["status"] == "failed" and "diverged" in s_bad["error"]
    ds = xr.open_zarr(store)
    assert list(ds.status.values.ravel()) == ["done", "failed"]
    assert list(ds.done.values.ravel()) == [True, False]
    assert "diverged" in str(ds.error.values.ravel()[1]) and "dt/tau" in str(ds.error.values.ravel()[1])
    assert np.isnan(ds.E2.values.ravel()[2:]).all()  # nothing numeric written for the failed point


def test_mismatched_spec_is_refused(tiny_store):
    spec, store = tiny_store
    other = tiny_spec(g="[1.0, 2.5]")
    expected = r"grid\.model\.g: store has \[1\.0, 2\.0\], spec has \[1\.0, 2\.5\].*new --store"
    with pytest.raises(StoreError, match=expected):
        open_or_create(store, other)
    steps = tiny_spec(steps=60)
    with pytest.raises(StoreError, match=r"base\.training\.steps: store has 50, spec has 60"):
        check_matches(open_sweep(store), steps, store)
    open_or_create(store, tiny_spec(backend='name = "auto"'))  # backend.name may change on resume


def test_corrupt_and_foreign_stores_are_refused(tmp_path, tiny_store):
    spec, store = tiny_store
    (store / "zarr.json").write_text("{ not json")
    with pytest.raises(StoreError, match="not a readable zarr store"):
        open_or_create(store, spec)
    foreign = tmp_path / "foreign.zarr"
    with quiet_zarr():
        xr.Dataset({"x": ("a", np.arange(3))}).to_zarr(foreign)
    with pytest.raises(StoreError, match="not a chaossim sweep"):
        open_or_create(foreign, spec)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("hello")
    with pytest.raises(StoreError):
        open_or_create(plain, spec)
    with pytest.raises(StoreError, match="does not exist"):
        open_sweep(tmp_path / "missing.zarr")


def test_damaged_store_missing_variable_is_listed_and_repaired(tmp_path):
    """A missing array is damage the schema record names (not a store the re-run cannot read)."""
    from chaossim.sweep.repair import repair_store
    from chaossim.sweep.verify import verify_store

    spec = tiny_spec()
    store = tmp_path / "s.zarr"
    create_store(store, spec)
    with quiet_zarr():
        g = zarr.open_group(str(store), mode="r+")
        del g["done"]
        zarr.consolidate_metadata(str(store))
    open_or_create(store, spec)  # the spec matches: the re-run goes on to repair it
    report = verify_store(store)
    assert [str(p) for p in report.metadata] == ["done metadata: the array is missing",
                                                  "done metadata (consolidated metadata): missing"]
    assert not report.ok
    repair_store(store, spec, report)
    assert verify_store(store).ok and not open_sweep(store).done.values.any()


def test_report_table_and_phase_diagram(tiny_store, tmp_path, capsys):
    spec, store = tiny_store
    paths = sweep_report(store, tmp_path / "fig")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)
    out = capsys.readouterr().out
    assert "4 done, 0 failed, 0 pending" in out and "best by EAAI" in out
    ds = open_sweep(store)
    finals = final_indices(ds)
    np.testing.assert_array_equal(finals["E2"], ds.E2.isel(t_age=-1).values)
    best = float(np.nanmin(ds.E2.isel(t_age=-1).values))
    assert f"{best:12.4g}".strip() in out
    # by default beside the store, under its own prefix (as PATH.zarr.runs/), not in the current folder
    paths = sweep_report(store, quiet=True)
    assert paths[0] == store.parent / "tiny.zarr.report" / "phase_diagram.png" and paths[0].is_file()
    assert not (store.parent / "tiny-report").exists()
    # the end-of-sweep summary: per index the median over points from step 0 to the last step, and the best point
    from chaossim.sweep.report import change_lines

    lines = change_lines(ds)
    e2 = ds.E2.values.reshape(-1, ds.sizes["t_age"])
    assert lines[0].startswith(f"  E2    median over 4 points {np.median(e2[:, 0]):.4g} -> {np.median(e2[:, -1]):.4g}")
    assert lines[0].endswith(f"{e2[np.argmin(e2[:, -1]), 0]:.4g} -> {e2[:, -1].min():.4g}")


def test_cli_entry_help_and_errors(tmp_path, capsys):
    from chaossim.sweep.__main__ import main
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    assert "--scheduler" in capsys.readouterr().out
    assert main([str(tmp_path / "nope.toml")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["sweep-report", str(tmp_path / "nope.zarr")]) == 1


def test_gpus_without_dask_cuda_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("distributed")
    try:
        import dask_cuda  # noqa: F401
        pytest.skip("dask-cuda is installed")
    except ImportError:
        pass
    from chaossim.sweep.__main__ import main

    from .conftest import tiny_text
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(tiny_text())
    assert main([str(spec_file), "--store", str(tmp_path / "s.zarr"), "--gpus", "--no-progress"]) == 1
    assert "pip install 'chaossim[gpu]'" in capsys.readouterr().err
    assert not (tmp_path / "s.zarr").exists()  # refused before anything was written


def test_torn_done_chunk_counts_as_not_done(tiny_store):
    """A writer killed while writing its `done` chunk leaves garbage: that point is re-run, not trusted."""
    spec, store = tiny_store
    chunk = store / "done" / "c" / "0" / "0"
    assert chunk.is_file()
    chunk.write_bytes(b"\x28\xb5\x2f\xfd garbage")
    np.testing.assert_array_equal(done_mask(store), [[False, True], [True, True]])
    run_point(spec, 0, store)
    assert done_mask(store).all()


@pytest.mark.dataset
def test_points_share_one_copy_of_data_that_do_not_depend_on_the_seed():
    from pathlib import Path

    from chaossim.config import RunConfig
    from chaossim.sweep.store import dataset_for

    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        pytest.skip("FashionMNIST is not installed (apt-get install -y dataset-fashion-mnist)")
    cfg = RunConfig().replace(**{"data.name": "fashion-mnist", "data.data_dir": "/usr/share/datasets/fashion-mnist"})
    assert dataset_for(cfg) is dataset_for(cfg.replace(**{"model.seed": 5}))
    digits = RunConfig()
    assert dataset_for(digits) is not dataset_for(digits.replace(**{"model.seed": 5}))
