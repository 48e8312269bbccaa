"""Store verification on real stores: pending points lack chunks legitimately, damage anywhere is found."""
import pytest
import zarr

from chaossim.errors import StoreError
from chaossim.sweep.point import run_point
from chaossim.sweep.store import create_store, open_or_create, open_sweep, quiet_zarr, write_failure
from chaossim.sweep.verify import verify_store

from .conftest import tiny_spec


@pytest.fixture
def half(tmp_path):
    """Point 0 done, point 1 failed, points 2 and 3 pending."""
    spec = tiny_spec()
    store = tmp_path / "h.zarr"
    create_store(store, spec)
    run_point(spec, 0, store)
    write_failure(store, spec, 1, "it went wrong")
    return spec, store


def test_pending_and_failed_points_are_not_damage(half):
    spec, store = half
    report = verify_store(store)
    assert report.ok and report.damaged_points == [] and not report.unchecked
    assert list(report.claimed_done) == [True, False, False, False]
    assert list(report.intact_done) == [True, False, False, False]
    assert report.labels == ["g=1.0, T=10.0", "g=1.0, T=20.0", "g=2.0, T=10.0", "g=2.0, T=20.0"]
    n_vars = sum(1 for v in open_sweep(store).data_vars.values() if v.dims[:2] == ("g", "T"))
    assert report.n_chunks >= n_vars  # every chunk of the done point was read


def test_a_damaged_chunk_of_a_failed_point_is_found_but_not_called_done(half):
    spec, store = half
    (store / "status" / "c" / "0" / "1").write_bytes(b"garbage")
    report = verify_store(store)
    assert report.damaged_points == [1] and not report.claimed_done[1]
    [problem] = report.problems[1]
    assert problem.variable == "status" and problem.problem.startswith("damaged (")
    assert report.lines() == [f"point 1 (g=1.0, T=20.0, not done): status chunk c/0/1: {problem.problem}"]


def test_a_done_flag_without_its_data_is_damage(half):
    spec, store = half
    for chunk in (store / "trajectory" / "c" / "0" / "0").rglob("*"):
        if chunk.is_file():
            chunk.unlink()
    report = verify_store(store)
    assert report.damaged_points == [0] and report.claimed_done[0] and not report.intact_done[0]
    assert [str(p) for p in report.problems[0]] == ["trajectory chunk c/0/0/0/0/0: missing"]


def test_restricted_verification_reads_only_the_named_variables(half):
    spec, store = half
    (store / "samples" / "c" / "0" / "0" / "0" / "0").unlink()
    assert verify_store(store, variables=["E2"]).ok
    assert not verify_store(store).ok


def test_a_store_of_schema_1_is_read_but_not_resumed(half):
    spec, store = half
    with quiet_zarr():
        g = zarr.open_group(str(store), mode="r+")
        g.attrs["chaossim_sweep"] = 1
        for name in ("arrays", "attributes_sha256"):  # schema 1 had no schema record
            del g.attrs[name]
        zarr.consolidate_metadata(str(store))
    assert open_sweep(store).attrs["chaossim_sweep"] == 1
    # schema 1 did not write all-NaN chunks: a chunk absent from a done point is not called missing there
    (store / "ER" / "c" / "0" / "0" / "0").unlink()
    assert verify_store(store).ok
    with pytest.raises(StoreError, match="older chaossim.*can be read but not continued"):
        open_or_create(store, spec)
