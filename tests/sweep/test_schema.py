"""Issue 18, the rows about sweep stores that need no cluster: a store is bound to its schema record (missing or
changed metadata is damage that sweep-verify lists and the re-run repairs), to its spec's grid order, to the data
its points were trained on, and to its real path. Each test edits a finished store for real and runs what a user
runs (``chaossim sweep-verify`` in this process, :func:`run_sweep`, which starts no cluster when no point is
pending)."""
import json
import os

import numpy as np
import pytest
import xarray as xr
import zarr

from chaossim.cli.app import main
from chaossim.errors import StoreError
from chaossim.sweep.cluster import run_sweep
from chaossim.sweep.lock import StoreLock, lock_path
from chaossim.sweep.spec import parse_spec
from chaossim.sweep.store import open_sweep, quiet_zarr, runs_dir, write_point
from chaossim.sweep.verify import verify_store

from ..faults.conftest import copy_store, snapshot
from .conftest import assert_same_results, run_in_process, tiny_text


def verify(store, capsys):
    """``chaossim sweep-verify STORE``: (exit status, stdout, stderr)."""
    code = main(["sweep-verify", str(store)])
    out = capsys.readouterr()
    return code, out.out, out.err


def error_line(err, prog):
    lines = [ln for ln in err.splitlines() if ln.startswith(f"{prog}: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def reference(tiny_store, tmp_path):
    spec, store = tiny_store
    return copy_store(store, tmp_path / "ref.zarr")


# ----------------------------------------------------------------------------------- row 5: metadata deleted
def test_deleted_array_metadata_is_listed_and_the_rerun_rebuilds_it(tiny_store, reference, capsys):
    """Today sweep-verify says "done and intact"; the re-run crashes (KeyError: No variable named 'E2') or exits 0
    with param_W gone from the store."""
    spec, store = tiny_store
    for name in ("param_W", "E2"):
        (store / name / "zarr.json").unlink()
    code, out, err = verify(store, capsys)
    assert code == 1
    assert "array param_W metadata (param_W/zarr.json): missing" in out
    assert "array E2 metadata (E2/zarr.json): missing" in out
    assert "4 points, 0 done and intact, 0 damaged" in out and "metadata of 2 array(s) missing or changed" in out
    assert "rebuilds missing or changed metadata from the spec" in err
    result = run_sweep(spec, store, progress=False)  # every chunk is intact: nothing to train, no cluster
    assert sorted(result.skipped) == [0, 1, 2, 3] and not result.done
    assert verify_store(store).ok
    assert_same_results(store, reference)  # param_W and E2 are back, to the bit
    assert {"param_W", "E2"} <= set(xr.open_zarr(store).variables)


# ----------------------------------------------------------------------------------- row 6: dims swapped
def test_swapped_dimension_names_in_consolidated_metadata_are_caught(tiny_store, reference, capsys):
    """Today verify says intact and xarray silently transposes E2 (g and T have the same size)."""
    spec, store = tiny_store
    root = json.loads((store / "zarr.json").read_text())
    meta = root["consolidated_metadata"]["metadata"]["E2"]
    assert meta["dimension_names"] == ["g", "T", "t_age"]
    meta["dimension_names"] = ["T", "g", "t_age"]
    (store / "zarr.json").write_text(json.dumps(root))
    assert xr.open_zarr(store).E2.dims == ("T", "g", "t_age")  # what a notebook would read
    code, out, err = verify(store, capsys)
    assert code == 1
    assert "array E2 metadata (consolidated metadata): dims (T, g, t_age) where the schema records (g, T, t_age)" \
        in out
    with pytest.raises(StoreError, match=r"differ from its schema record: E2 has dims \('T', 'g', 't_age'\)"):
        open_sweep(store)
    run_sweep(spec, store, progress=False)
    assert xr.open_zarr(store).E2.dims == ("g", "T", "t_age")
    assert_same_results(store, reference)


# ----------------------------------------------------------------------------------- row 8: schema version
@pytest.mark.parametrize("value, says", [("2", "sweep schema version '2' (str)"),
                                         (5, "sweep schema version 5 (int)"),
                                         (2, "do not match their checksum")], ids=["string", "unknown", "older"])
def test_the_schema_version_is_checked_by_type_and_value(tiny_store, capsys, value, says):
    """Today sweep-verify crashes with a TypeError on "2" and says intact on a number it does not know."""
    spec, store = tiny_store
    with quiet_zarr():
        zarr.open_group(str(store), mode="r+").attrs["chaossim_sweep"] = value
        zarr.consolidate_metadata(str(store))
    code, out, err = verify(store, capsys)
    assert code == 1 and "Traceback" not in err
    assert says in out + err
    with pytest.raises(StoreError):
        run_sweep(spec, store, progress=False)


# ----------------------------------------------------------------------------------- row 7: grid order
def test_the_same_grid_in_another_order_is_refused(tmp_path):
    """Today it is accepted: points are renumbered, a done point is marked failed."""
    spec = parse_spec(tiny_text(), default_name="tiny")
    store = tmp_path / "s.zarr"
    from chaossim.sweep.point import run_point
    from chaossim.sweep.store import create_store

    create_store(store, spec)
    for i in (0, 1, 2):  # point 3 pending
        run_point(spec, i, store)
    text = tiny_text()
    g_line, t_line = "g = [1.0, 2.0]", "T = [10.0, 20.0]"
    swapped = parse_spec(text.replace(f"{g_line}\n{t_line}", f"{t_line}\n{g_line}"), default_name="tiny")
    assert swapped.dims == ("T", "g") and swapped.fingerprint() != spec.fingerprint()
    before = snapshot(store)
    with pytest.raises(StoreError) as e:
        run_sweep(swapped, store, progress=False)
    assert str(e.value).startswith(
        f"the [grid] of the spec lists its settings in the order dynamics.T, model.g, the store {store} in the order "
        "model.g, dynamics.T: points are numbered in grid order")
    assert snapshot(store) == before


# ----------------------------------------------------------------------------------- row 4: the data changed
def npy_spec(path):
    return parse_spec(tiny_text() + f'[data]\nname = "{path}"\nvalue_range = [0, 1]\n', default_name="tiny")


def save_data(path, seed):
    np.save(path, np.random.default_rng(seed).random((300, 64)))


@pytest.fixture
def npy_store(tmp_path):
    data = tmp_path / "x.npy"
    save_data(data, 0)
    spec = npy_spec(data)
    store = tmp_path / "s.zarr"
    run_in_process(spec, store)
    return spec, store, data


def test_a_rerun_on_replaced_user_data_is_refused(npy_store):
    """Today the re-run exits 0 and the store mixes points trained on two datasets."""
    spec, store, data = npy_store
    from chaossim.sweep.store import reset_point

    reset_point(store, spec, 3)  # a pending point whose checkpoint was trained on the old data
    save_data(data, 1)  # the same shape, other values
    before = snapshot(store)
    with pytest.raises(StoreError) as e:
        run_sweep(spec, store, progress=False)
    msg = str(e.value)
    assert msg.startswith(f"the data changed since points of {store} were trained: data.name = '{data}' (seed 0) now "
                          "loads 240 train + 60 test points of 64 features (fingerprint ")
    assert "points [0, 1, 2, 3] were trained on data with fingerprint" in msg and "nothing was run" in msg
    assert snapshot(store) == before
    fps = set(open_sweep(store).data_fingerprint.values.ravel())  # each point recorded it: the same data
    assert fps == {"", next(iter(fps - {""}))} and len(next(iter(fps - {""}))) == 32  # point 3 was reset
    save_data(data, 0)  # the data back: accepted
    from chaossim.sweep.cluster import check_inputs

    check_inputs(store, spec, verify_store(store))


def test_verify_lists_points_trained_on_different_data(npy_store, capsys):
    spec, store, data = npy_store
    write_point(store, spec, 0, {"data_fingerprint": "0" * 32})
    code, out, err = verify(store, capsys)
    assert code == 1
    assert (f"data: data.name = '{data}', seed = 0: the done points were trained on different data (points [0] on "
            "data 000000000000; points [1, 2, 3] on data ") in out
    assert "mix(es) of data" in out


# ----------------------------------------------------------------------------------- row 12: symlink
def test_a_store_named_through_a_symlink_meets_the_same_lock(tiny_store, tmp_path):
    """Today the lock and PATH.runs/ are placed beside the link: two clients ran at once on one store."""
    spec, store = tiny_store
    link = tmp_path / "elsewhere" / "link.zarr"
    link.parent.mkdir()
    os.symlink(store, link)
    assert lock_path(link) == lock_path(store) and runs_dir(link) == runs_dir(store)
    with StoreLock(store):
        with pytest.raises(StoreError, match="is in use by another chaossim sweep"):
            run_sweep(spec, link, progress=False)
    assert not list(link.parent.glob("link.zarr.*"))
    result = run_sweep(spec, link, progress=False)  # through the link: the checkpoints beside the real store
    assert sorted(result.skipped) == [0, 1, 2, 3] and result.store == store
