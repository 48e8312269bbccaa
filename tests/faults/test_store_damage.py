"""Issue 11, cases 4-6: damage on disk in a sweep store is detected, never read back as other numbers, and
repaired by re-running the damaged points (from their checkpoints where intact, else from scratch).

The undamaged reference is the same sweep run point by point in this process; a repaired store must equal
it to the bit in every variable except the per-run bookkeeping ``wall_time``, ``completed_at`` and
``run_id`` (when, how long and which task run wrote a point)."""
import json
import shutil

import numpy as np
import pytest
import xarray as xr

from chaossim.sweep.cluster import run_sweep
from chaossim.sweep.mirror import packed
from chaossim.sweep.spec import parse_spec
from chaossim.sweep.store import RUN_VARIABLES, TIMING_VARIABLES, open_sweep, runs_dir

from ..sweep.conftest import assert_same_results, run_in_process, tiny_text
from .conftest import chaossim, copy_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    spec = parse_spec(tiny_text(), default_name="tiny")  # g in {1, 2} x T in {10, 20}: points 0..3 in C order
    store = tmp_path_factory.mktemp("ref") / "ref.zarr"
    run_in_process(spec, store)
    return spec, store


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def test_case4_a_flipped_byte_is_detected_not_read_as_another_number(reference, tmp_path):
    spec, ref = reference
    store = copy_store(ref, tmp_path / "s.zarr")
    for meta in store.glob("*/zarr.json"):  # every array, coordinates included, carries a checksum
        codecs = json.loads(meta.read_text())["codecs"]
        assert codecs[-1] == {"name": "crc32c"}, meta
    chunk = store / "E2" / "c" / "0" / "1" / "0"  # point 1: g = 1, T = 20
    flip_byte(chunk)
    with pytest.raises(ValueError, match="checksum"):
        _ = xr.open_zarr(store).E2.values
    # the other points still read, and equal the reference
    np.testing.assert_array_equal(xr.open_zarr(store).E2.isel(g=1).values, xr.open_zarr(ref).E2.isel(g=1).values)
    res = chaossim("sweep-verify", store)
    assert res.returncode == 1, res.stderr
    assert "point 1 (g=1.0, T=20.0, done): E2 chunk c/0/1/0: damaged (checksum mismatch: the bytes on disk changed)" \
        in res.stdout
    assert "4 points, 3 done and intact, 1 damaged" in res.stdout
    assert "checkpoint intact at step 50" in res.stdout


def test_case5_a_deleted_chunk_means_not_done(reference, client, tmp_path):
    spec, ref = reference
    store = copy_store(ref, tmp_path / "s.zarr")
    ids = open_sweep(store).run_id.values.ravel().copy()
    (store / "E2" / "c" / "1" / "0" / "0").unlink()  # point 2 (g = 2, T = 10) would read as NaN
    # the report does not silently drop the point
    res = chaossim("sweep-report", store, "--out", tmp_path / "fig")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "point 2 (g=2.0, T=10.0, done): E2 chunk c/1/0/0: missing" in res.stderr and "sweep-verify" in res.stderr
    # the re-run does not say "all done": it runs that point again, and only it
    result = run_sweep(spec, store, client=client, progress=False)
    assert result.done == [2] and sorted(result.skipped) == [0, 1, 3]
    assert result.repaired == {2: ["E2 chunk c/1/0/0: missing"]}
    assert_same_results(store, ref)
    after = open_sweep(store).run_id.values.ravel()
    assert (after[[0, 1, 3]] == ids[[0, 1, 3]]).all() and after[2] != ids[2]
    assert chaossim("sweep-verify", store).returncode == 0


@pytest.mark.parametrize("grouped", [False, True], ids=["alone", "grouped"])
def test_case6_one_verify_and_one_sweep_repair_three_kinds_of_damage(reference, tmp_path, grouped):
    """Also with the damaged points re-run as ensembles (--ensembles): points 1 and 3 (T = 20) form one group,
    point 1 continuing from its checkpoint at step 50 and point 3 from scratch (its checkpoint is damaged)."""
    spec, ref = reference
    store = copy_store(ref, tmp_path / "s.zarr")
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(tiny_text())
    ids = open_sweep(store).run_id.values.ravel().copy()
    flip_byte(store / "E2" / "c" / "0" / "0" / "0")                          # point 0: a flipped byte
    (store / "samples" / "c" / "0" / "1" / "0" / "0").unlink()               # point 1: a deleted chunk
    (store / "param_A" / "c" / "1" / "1" / "0" / "0").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(200)))  # 3
    ck = packed(runs_dir(store), spec.point_key(3)).path                     # a done point's run directory: one file
    ck.write_bytes(ck.read_bytes()[:100])                                    # and point 3's checkpoint too
    res = chaossim("sweep-verify", store)
    assert res.returncode == 1
    out = res.stdout
    assert "point 0 (g=1.0, T=10.0, done): E2 chunk c/0/0/0: damaged (checksum mismatch" in out
    assert "point 1 (g=1.0, T=20.0, done): samples chunk c/0/1/0/0: missing" in out
    assert "point 3 (g=2.0, T=20.0, done): param_A chunk c/1/1/0/0: damaged" in out
    assert "point 2" not in out and "4 points, 1 done and intact, 3 damaged" in out
    assert "checkpoint is damaged too: it will be set aside and the point trained from scratch" in out
    assert "repair: `chaossim sweep SWEEP.toml --store" in res.stderr

    res = chaossim("sweep", spec_file, "--store", store, "--workers", 1, "--no-progress", "--no-report",
                   "--dashboard", "none", "--ensembles" if grouped else "--no-ensembles", cwd=tmp_path,
                   timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert ("2 of 3 pending points trained as ensembles in 1 task(s)" in res.stderr) == grouped, res.stderr
    assert "3 point(s) damaged in the store will be run again" in res.stderr
    assert "3 point(s) run, 3 of them repaired, 1 already done, 0 failed" in res.stderr
    assert "point 3 (g=2.0, T=20.0): its run directory could not be continued" in res.stderr
    assert len(list(runs_dir(store).glob(f"{spec.point_key(3)}.damaged-*"))) == 1  # set aside, not deleted

    assert chaossim("sweep-verify", store).returncode == 0
    assert_same_results(store, ref, skip=RUN_VARIABLES)  # every variable but the bookkeeping, to the bit
    assert set(TIMING_VARIABLES) == {"wall_time", "completed_at", "run_id"}
    assert list(open_sweep(store).group_size.values.ravel()) == ([1, 2, 1, 2] if grouped else [1, 1, 1, 1])
    after = open_sweep(store).run_id.values.ravel()
    assert after[2] == ids[2] and not np.isin(after[[0, 1, 3]], ids).any()
    assert chaossim("sweep-report", store, "--out", tmp_path / "fig").returncode == 0


def test_damage_outside_the_points_is_repaired_from_the_spec(reference, tmp_path):
    """Coordinates and data_samples are a function of the spec and the data: the re-run rewrites them (issue 18)."""
    spec, ref = reference
    store = copy_store(ref, tmp_path / "s.zarr")
    flip_byte(store / "data_samples" / "c" / "0" / "0")
    res = chaossim("sweep-verify", store)
    assert res.returncode == 1 and "store-wide array data_samples chunk c/0/0: damaged" in res.stdout
    result = run_sweep(spec, store, progress=False)  # no point to re-run: no cluster
    assert sorted(result.skipped) == [0, 1, 2, 3] and not result.done
    assert_same_results(store, ref)


def test_changed_attributes_are_refused_with_the_way_out(reference, tmp_path):
    import zarr

    from chaossim.sweep.store import quiet_zarr

    spec, ref = reference
    store = copy_store(ref, tmp_path / "s.zarr")
    with quiet_zarr():
        zarr.open_group(str(store), mode="r+").attrs["grid_dims"] = ["T", "g"]
        zarr.consolidate_metadata(str(store))
    res = chaossim("sweep-verify", store)
    assert res.returncode == 1 and "store attributes: the store's attributes" in res.stdout
    with pytest.raises(Exception, match="do not match their checksum.*Move it away"):
        run_sweep(spec, store, progress=False)
    # moved away, the same command rebuilds the store from the checkpoints
    shutil.move(store, tmp_path / "broken.zarr")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0") as cl, \
            Client(cl) as c:
        result = run_sweep(spec, store, client=c, progress=False)
    assert sorted(result.done) == [0, 1, 2, 3]
    assert_same_results(store, ref)
