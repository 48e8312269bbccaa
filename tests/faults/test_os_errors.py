"""Issue 11, cases 8 and 9: read-only folders, a full disk and permission errors give one line naming the
path and what to do, exit status 1, and lose nothing already stored; a failed sweep prints one line per
failed point and logs the tracebacks beside the store; outputs written next to read-only inputs name --out.

Faults are real: read-only bind mounts (chmod when not root), a small tmpfs filled up, an unprivileged user.
Where mounting is not permitted those tests skip; the full disk is then still tested by injecting ENOSPC at
the write call (test_case8_full_disk_injected_at_the_write_call)."""
import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from chaossim.runs.rundir import load_checkpoint
from chaossim.sweep.spec import parse_spec
from chaossim.sweep.store import RUN_VARIABLES, create_store, open_sweep

from ..sweep.conftest import assert_same_results, run_in_process, tiny_text
from .conftest import (
    IS_ROOT,
    RUN_SETTINGS,
    assert_same_params,
    chaossim,
    drop_dac_override,
    fill_disk,
    one_line_error,
    params_of,
    permission_bits_bind_root,
    read_only,
    snapshot,
)

TRAIN = "chaossim train"
BIG = [*RUN_SETTINGS, "--set", "model.n_hidden=128"]  # checkpoints of about 100 kB


def train_cli(run, *extra, steps=10):
    res = chaossim("train", "--run", run, *BIG, "--steps", steps, *extra)
    assert res.returncode == 0, res.stderr
    return res


@pytest.mark.slow
def test_case8_read_only_run_directory(tmp_path):
    folder = tmp_path / "ro"
    run = folder / "r"
    train_cli(run)
    before = snapshot(folder)
    with read_only(folder):
        line = one_line_error(chaossim("train", "--run", run, "--resume", "--steps", 20, "--no-progress"), TRAIN)
        reason = "the file system is read-only" if IS_ROOT else "permission denied"
        assert line == (f"{TRAIN}: error: cannot write into the run directory {run}: {reason}; copy the run "
                        "directory to a writable place and resume there.")
        line = one_line_error(chaossim("train", "--run", folder / "new", *RUN_SETTINGS), TRAIN)
        assert f"cannot write into the run directory {folder / 'new'}: {reason}" in line and "--run" in line
    assert snapshot(folder) == before


@pytest.mark.slow
def test_case8_full_disk_while_training_keeps_the_checkpoint(tmpfs, tmp_path):
    disk = tmpfs(4 << 20)
    run = disk / "r"
    train_cli(run)
    filler = fill_disk(disk, leave=16 << 10)  # room for meta.json, not for a checkpoint
    res = chaossim("train", "--run", run, "--resume", "--steps", 30, "--no-progress")
    line = one_line_error(res, TRAIN)
    assert line.startswith(f"{TRAIN}: error: cannot write {run / 'checkpoint.npz'}: the disk is full ([Errno 28]")
    assert line.endswith(f"the checkpoint of step 10 is kept; free some space or fix the folder, then continue with "
                         f"`chaossim train --run {run} --resume`.")
    assert load_checkpoint(run)["step"] == 10 and not list(run.glob(".*.tmp"))
    filler.unlink()
    train_cli(run, "--resume", steps=30)
    ref = tmp_path / "ref"
    train_cli(ref, steps=30)
    assert_same_params(params_of(run), params_of(ref))


@pytest.mark.slow
def test_case8_full_disk_injected_at_the_write_call(tmp_path, monkeypatch, capsys):
    """The same without a mount: ENOSPC raised by fsync of the checkpoint's temporary file."""
    from chaossim.cli import main

    run = tmp_path / "r"
    train_cli(run)
    real_fsync = os.fsync

    def full(fd):
        if "checkpoint.npz" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to find the file written")
    monkeypatch.setattr("chaossim.io.os.fsync", full)
    assert main(["train", "--run", str(run), "--resume", "--steps", "30", "--no-progress"]) == 1
    err = capsys.readouterr().err
    [line] = [ln for ln in err.splitlines() if "error:" in ln]
    assert line.startswith(f"{TRAIN}: error: cannot write {run / 'checkpoint.npz'}: the disk is full")
    assert load_checkpoint(run)["step"] == 10 and not list(run.glob(".*.tmp"))


@pytest.mark.slow
def test_case8_permission_denied(tmp_path):
    """A run directory the user may not write: chmod 0555, and as root the command runs without the
    capability that lets root ignore permission bits (CAP_DAC_OVERRIDE)."""
    preexec = None
    if IS_ROOT:
        if not permission_bits_bind_root():
            pytest.skip("cannot drop CAP_DAC_OVERRIDE here, and root ignores permission bits")
        preexec = drop_dac_override
    run = tmp_path / "r"
    train_cli(run)
    before = snapshot(run)
    run.chmod(0o555)
    try:
        res = chaossim("train", "--run", run, "--resume", "--steps", 20, "--no-progress", preexec=preexec)
        line = one_line_error(res, TRAIN)
        assert line == (f"{TRAIN}: error: cannot write into the run directory {run}: permission denied; copy the "
                        "run directory to a writable place and resume there.")
        # the folder's check is not all: a file the user may not replace gives the same kind of line
        run.chmod(0o755)
        (run / "meta.json").chmod(0o444)
        locked = tmp_path / "locked"
        locked.mkdir()
        res = chaossim("sample", run, "--out", locked / "x" / "gen.npz", preexec=preexec)
        assert res.returncode == 0, res.stderr  # writable: fine
        locked.chmod(0o555)
        line = one_line_error(chaossim("sample", run, "--out", locked / "y" / "gen.npz", preexec=preexec),
                              "chaossim sample")
        assert f"cannot write into the folder {locked / 'y'}: permission denied; give --out FILE.npz" in line
    finally:
        run.chmod(0o755)
        (run / "meta.json").chmod(0o644)
        if (tmp_path / "locked").exists():
            (tmp_path / "locked").chmod(0o755)
    assert {k: v for k, v in snapshot(run).items()} == before


# ------------------------------------------------------------------------------------------- sweeps
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    spec = parse_spec(tiny_text(), default_name="tiny")
    store = tmp_path_factory.mktemp("ref") / "ref.zarr"
    run_in_process(spec, store)
    return spec, store


def half_done(spec, store):
    """A store with points 0 and 1 done, 2 and 3 pending, written in this process."""
    from threadpoolctl import threadpool_limits

    from chaossim.sweep.point import run_point

    create_store(store, spec)
    with threadpool_limits(1):
        for i in (0, 1):
            run_point(spec, i, store)


def sweep_cmd(spec_file, store, *extra):
    return ("sweep", spec_file, "--store", store, "--workers", 1, "--no-progress", "--no-report", "--dashboard",
            "none", *extra)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["folder", "store"])
def test_case8_read_only_store(reference, tmp_path, what):
    spec, _ = reference
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(tiny_text())
    folder = tmp_path / "ro"
    folder.mkdir()
    store = folder / "s.zarr"
    half_done(spec, store)
    before = snapshot(folder)
    with read_only(folder if what == "folder" else store):
        line = one_line_error(chaossim(*sweep_cmd(spec_file, store), cwd=tmp_path), "chaossim sweep")
    reason = "the file system is read-only" if IS_ROOT else "permission denied"
    if what == "folder":
        assert line.endswith(f"cannot write into the folder of the sweep store {folder}: {reason}; give a --store in "
                             "a writable place.")
    else:
        assert line.endswith(f"cannot write into the sweep store {store}: {reason}; copy the store (and "
                             "PATH.zarr.runs/) to a writable place and resume there.")
    assert snapshot(folder) == before


@pytest.mark.slow
def test_case8_full_disk_during_a_sweep_loses_nothing(reference, tmpfs, tmp_path):
    spec, ref = reference
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(tiny_text())
    disk = tmpfs(16 << 20)
    store = disk / "s.zarr"
    half_done(spec, store)
    kept = {name: open_sweep(store)[name].isel(g=0).values.copy() for name in ("E2", "samples", "param_A", "run_id")}
    filler = fill_disk(disk, leave=48 << 10)
    res = chaossim(*sweep_cmd(spec_file, store), cwd=tmp_path, timeout=600)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    failed = [ln for ln in res.stderr.splitlines() if " failed: " in ln]
    assert sorted(ln.split(" failed: ")[0] for ln in failed) == ["point 2 (g=2.0, T=10.0)", "point 3 (g=2.0, T=20.0)"]
    assert all("the disk is full ([Errno 28] No space left on device)" in ln for ln in failed), failed
    assert "0 point(s) run, 2 already done, 2 failed" in res.stderr
    for name, values in kept.items():  # the points already stored are intact
        np.testing.assert_array_equal(open_sweep(store)[name].isel(g=0).values, values, err_msg=name)
    filler.unlink()
    res = chaossim(*sweep_cmd(spec_file, store), cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert_same_results(store, ref)


@pytest.mark.slow
def test_case8_full_disk_during_a_grouped_sweep_loses_nothing(tmpfs, tmp_path):
    """The same for two pending points trained as one ensemble: both are failed with the disk's message, the
    stored point is intact, and after space is freed the same command completes them to the reference."""
    from threadpoolctl import threadpool_limits

    from chaossim.sweep.point import run_point

    text = tiny_text(g="[1.0, 1.5, 2.0]", T="[10.0]")
    spec = parse_spec(text, default_name="tiny")
    run_in_process(spec, tmp_path / "ref.zarr")
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(text)
    disk = tmpfs(16 << 20)
    store = disk / "s.zarr"
    create_store(store, spec)
    with threadpool_limits(1):
        run_point(spec, 0, store)
    kept = {name: open_sweep(store)[name].isel(g=0).values.copy() for name in ("E2", "samples", "param_A", "run_id")}
    filler = fill_disk(disk, leave=48 << 10)
    res = chaossim(*sweep_cmd(spec_file, store, "--ensembles"), cwd=tmp_path, timeout=600)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "2 of 2 pending points trained as ensembles in 1 task(s)" in res.stderr
    failed = [ln for ln in res.stderr.splitlines() if " failed: " in ln]
    assert sorted(ln.split(" failed: ")[0] for ln in failed) == ["point 1 (g=1.5, T=10.0)", "point 2 (g=2.0, T=10.0)"]
    assert all("the disk is full ([Errno 28] No space left on device)" in ln for ln in failed), failed
    for name, values in kept.items():
        np.testing.assert_array_equal(open_sweep(store)[name].isel(g=0).values, values, err_msg=name)
    filler.unlink()
    res = chaossim(*sweep_cmd(spec_file, store, "--ensembles"), cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert_same_results(store, tmp_path / "ref.zarr", skip=RUN_VARIABLES)


@pytest.mark.slow
def test_case8_failed_points_one_line_each_and_tracebacks_in_the_log(tmp_path):
    text = tiny_text(g="[1.5]", T="[50.0]", dynamics="", extra_grid="tau = [10.0, 0.1, 0.05]",
                     backend="force = true", steps=20)
    spec_file = tmp_path / "d.toml"
    spec_file.write_text(text)
    store = tmp_path / "d.zarr"
    res = chaossim(*sweep_cmd(spec_file, store), cwd=tmp_path)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    failed = sorted(ln for ln in res.stderr.splitlines() if " failed: " in ln)
    assert len(failed) == 2 and all("training diverged" in ln for ln in failed)
    assert failed[0].startswith("point 1 (g=1.5, T=50.0, tau=0.1) failed: training diverged at step")
    log_path = store.with_name(store.name + ".log")  # chaossim.sweep.store.log_path
    assert f"full tracebacks of the failed points: {log_path}" in res.stderr
    log = log_path.read_text()
    assert log.count("\n--- point ") == 2 and log.count("Traceback (most recent call last)") >= 2
    assert "chaossim.errors.DivergenceError: training diverged" in log
    assert "--- point 2 (g=1.5, T=50.0, tau=0.05): training diverged" in log
    assert list(xr.open_zarr(store).status.values.ravel()) == ["done", "failed", "failed"]


# --------------------------------------------------------------------------------- case 9: --out
@pytest.mark.slow
def test_case9_outputs_beside_read_only_inputs_name_out(reference, tmp_path):
    spec, ref = reference
    folder = tmp_path / "ro"
    run = folder / "r"
    train_cli(run)
    shutil.copytree(ref, folder / "s.zarr")
    before = snapshot(folder)
    out = tmp_path / "out"
    with read_only(folder):
        line = one_line_error(chaossim("sample", run), "chaossim sample")
        assert f"cannot write into the run directory {run}" in line and "give --out FILE.npz" in line
        assert chaossim("sample", run, "--out", out / "gen.npz").returncode == 0
        line = one_line_error(chaossim("evaluate", run, "--times", 5, 10), "chaossim evaluate")
        assert f"cannot write into the run directory {run}" in line and "give --out DIR" in line
        res = chaossim("evaluate", run, "--times", 5, 10, "--out", out / "ev")
        assert res.returncode == 0, res.stderr
        res = chaossim("plot", "samples", out / "ev", "--out", out / "fig")
        assert res.returncode == 0 and (out / "fig" / "fig2_samples.png").is_file(), res.stderr
        line = one_line_error(chaossim("sweep-report", folder / "s.zarr"), "chaossim sweep-report")
        assert f"cannot write into the report folder {folder / 's.zarr.report'}" in line and "give --out DIR" in line
        res = chaossim("sweep-report", folder / "s.zarr", "--out", out / "rep")
        assert res.returncode == 0 and (out / "rep" / "phase_diagram.png").is_file(), res.stderr
    assert snapshot(folder) == before
    assert np.load(out / "gen.npz")["samples"].shape == (1, 16, 64)
