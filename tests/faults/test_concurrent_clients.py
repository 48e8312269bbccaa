"""Issue 11, case 7: one sweep client per store. A second client is refused at once, whether started together
with the first or later; a lock left by a crashed (SIGKILLed) client is detected as stale and taken over."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import xarray as xr

from chaossim.errors import StoreError

from ..sweep.conftest import tiny_text
from .conftest import env

pytestmark = pytest.mark.slow
N_POINTS = 6


def spec_text():
    # points of about a second each on one worker: the first client is busy for several seconds
    return tiny_text(g="[1.0, 1.5, 2.0]", T="[10.0, 20.0]", n_hidden=32, steps=300)


def sweep_cmd(spec_file, store, *extra):
    return [sys.executable, "-m", "chaossim", "sweep", str(spec_file), "--store", str(store), "--workers", "1",
            "--no-progress", "--no-report", "--dashboard", "none", *extra]


def start(cmd, cwd):
    return subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def wait_for(predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def check_complete_once(store):
    ds = xr.open_zarr(store)
    assert ds.done.values.all() and (ds.status.values == "done").all()
    assert len(set(ds.run_id.values.ravel())) == N_POINTS  # each point written by one task run


@pytest.fixture
def spec_file(tmp_path):
    f = tmp_path / "tiny.toml"
    f.write_text(spec_text())
    return f


def lock_path(store):
    return store.with_name(store.name + ".lock")  # chaossim.sweep.lock.lock_path


def test_case7_second_client_started_later_is_refused_at_once(spec_file, tmp_path):
    store = tmp_path / "s.zarr"
    first = start(sweep_cmd(spec_file, store), tmp_path)
    try:
        assert wait_for(lambda: lock_path(store).exists() or store.exists()), "the first client never started"
        t0 = time.time()
        second = subprocess.run(sweep_cmd(spec_file, store), cwd=tmp_path, env=env(), capture_output=True, text=True,
                                timeout=120)
        waited = time.time() - t0
        assert first.poll() is None, "the first client ended before the second was refused: make its points longer"
    finally:
        code, err = finish(first)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    [line] = [ln for ln in second.stderr.splitlines() if "error:" in ln]
    assert line.startswith(f"chaossim sweep: error: the sweep store {store} is in use by another chaossim sweep: "
                           f"pid {first.pid} on host ")
    assert "Wait for it to finish or stop it" in line
    assert waited < 30  # at once: no Dask cluster was started for the refused client
    assert code == 0, err[-3000:]
    check_complete_once(store)
    assert not lock_path(store).exists()  # released at the end
    assert not list(tmp_path.glob(".s.zarr.tmp-*"))


def test_case7_two_clients_started_together_one_runs_one_is_refused(spec_file, tmp_path):
    store = tmp_path / "s.zarr"
    procs = [start(sweep_cmd(spec_file, store), tmp_path) for _ in range(2)]
    results = [finish(p) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], [err[-2000:] for _, err in results]
    loser = next(err for code, err in results if code == 1)
    assert "is in use by another chaossim sweep" in loser and "Traceback" not in loser
    check_complete_once(store)
    assert not list(tmp_path.glob(".s.zarr.tmp-*")) and not lock_path(store).exists()


@pytest.mark.parametrize("grouped", [False, True], ids=["alone", "grouped"])
def test_case7_lock_of_a_crashed_client_is_stale_and_taken_over(spec_file, tmp_path, grouped):
    """Also for a grouped sweep (--ensembles: two tasks of three points): killed after its first group."""
    store = tmp_path / "s.zarr"
    extra = ("--ensembles",) if grouped else ("--no-ensembles",)
    first = start(sweep_cmd(spec_file, store, *extra), tmp_path)
    try:
        assert wait_for(lambda: (store / "done" / "c").exists(), timeout=120), "no point was ever written"
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    holder = json.loads(lock_path(store).read_text())
    assert holder["pid"] == first.pid  # the crash left the lock behind
    res = subprocess.run(sweep_cmd(spec_file, store, *extra), cwd=tmp_path, env=env(), capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"sweep: took over the stale lock of pid {first.pid} on host {holder['host']}" in res.stderr
    ds = xr.open_zarr(store)
    assert ds.done.values.all()
    assert not lock_path(store).exists()
    if grouped:
        assert (ds.group_size.values > 1).any()


def test_lock_held_from_another_host_is_refused_with_what_to_do(tmp_path):
    from chaossim.sweep.lock import StoreLock

    store = tmp_path / "s.zarr"
    lock_path(store).write_text(json.dumps({"host": "node-17.cluster", "pid": 4242, "started": "2026-01-01T10:00:00",
                                            "command": "chaossim sweep paper.toml"}))
    with pytest.raises(StoreError) as e:
        StoreLock(store).acquire()
    msg = str(e.value)
    assert "locked by pid 4242 on host node-17.cluster" in msg and f"delete {lock_path(store)}" in msg
    assert lock_path(store).exists()  # never broken from here


def test_lock_of_a_live_process_on_this_host_is_kept_and_a_reused_pid_is_stale(tmp_path):
    from chaossim.process import this_process
    from chaossim.sweep.lock import StoreLock

    store = tmp_path / "s.zarr"
    with StoreLock(store) as mine:
        assert json.loads(lock_path(store).read_text())["pid"] == os.getpid()
        with pytest.raises(StoreError, match="in use by another chaossim sweep"):
            StoreLock(store).acquire()
        assert mine.record is not None
    assert not lock_path(store).exists()
    # a record whose pid runs, but a process started at another time (pid reuse), is stale
    rec = {**this_process(), "proc_start": "1"}
    lock_path(store).write_text(json.dumps(rec))
    with StoreLock(store) as lock:
        assert lock.broke["proc_start"] == "1"
