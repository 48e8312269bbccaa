"""Issue 18, the rows about clusters and locks, injected for real: an unreachable scheduler, a scheduler killed in the
middle of a sweep, the dashboard's address, a worker killed for memory while training a group, a stale lock of
another user in a sticky folder, and an array deleted from a finished store. Real schedulers and workers on
127.0.0.1 (``dask scheduler`` / ``dask worker`` processes, or a LocalCluster), real zarr stores."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import xarray as xr

from chaossim.sweep.cluster import run_sweep
from chaossim.sweep.spec import parse_spec
from chaossim.sweep.store import RUN_VARIABLES, open_sweep, runs_dir

from ..sweep.conftest import assert_same_results, run_in_process, tiny_text
from .conftest import copy_store, env, one_line_error

pytestmark = pytest.mark.slow
PROG = "chaossim sweep"


def long_spec_text():
    # points of about a second each on one worker
    return tiny_text(g="[1.0, 1.5, 2.0]", T="[10.0, 20.0]", n_hidden=32, steps=300)


@pytest.fixture
def spec_file(tmp_path):
    f = tmp_path / "tiny.toml"
    f.write_text(long_spec_text())
    return f


def sweep_cmd(spec_file, store, *extra):
    return [sys.executable, "-m", "chaossim", "sweep", str(spec_file), "--store", str(store), "--no-report",
            "--no-ensembles", *map(str, extra)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, cwd, **kw):
    return subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)


def stop(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.communicate(timeout=60)


def wait_for(predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# ----------------------------------------------------------------------------------- row 10: unreachable
def test_an_unreachable_scheduler_is_refused_quickly_before_the_store_is_laid_out(spec_file, tmp_path):
    """Today: a 61-line traceback after 37 s, the empty store already laid out."""
    store = tmp_path / "s.zarr"
    t0 = time.time()
    res = subprocess.run(sweep_cmd(spec_file, store, "--scheduler", "tcp://127.0.0.1:1", "--no-progress"),
                         cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120)
    took = time.time() - t0
    line = one_line_error(res, PROG)
    assert line.startswith("chaossim sweep: error: cannot reach the Dask scheduler at tcp://127.0.0.1:1 within 10 s")
    assert "Nothing was written" in line and "dask scheduler" in line
    assert took < 20, took  # 10 s of tries, plus starting Python
    assert not list(tmp_path.glob("s.zarr*")) and not list(tmp_path.glob(".s.zarr*"))


# ----------------------------------------------------------------------------------- row 9: scheduler lost
def test_a_scheduler_killed_mid_sweep_ends_with_one_line_and_the_rerun_command(spec_file, tmp_path):
    """Today: the client exits with one line per point plus a distributed.client traceback, and workers keep
    writing after the client released the lock."""
    store = tmp_path / "s.zarr"
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask_bin = os.path.join(os.path.dirname(sys.executable), "dask")
    sched = start([dask_bin, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], tmp_path)
    worker = None
    try:
        worker = start([dask_bin, "worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
                        "--no-dashboard"], tmp_path)
        client = start(sweep_cmd(spec_file, store, "--scheduler", address, "--no-progress"), tmp_path)
        assert wait_for(lambda: (store / "done" / "c").exists(), timeout=120), "no point was ever written"
        os.killpg(sched.pid, signal.SIGKILL)
        out, err = client.communicate(timeout=120)
        ended = time.time()
    finally:
        stop(sched)
        if worker is not None:
            time.sleep(3)  # the worker, if still alive, would write now
            stop(worker)
    assert client.returncode == 1 and "Traceback" not in err, err[-3000:]
    [line] = [ln for ln in err.splitlines() if ln.startswith("chaossim sweep: error:")]
    assert [ln for ln in err.splitlines() if ln.strip()][-1] == line  # the last thing said
    assert line.startswith(f"chaossim sweep: error: lost the Dask scheduler {address} in the middle of the sweep "
                           "tiny: ")
    assert f"chaossim sweep {spec_file} --store {store} --no-report --no-ensembles --scheduler {address}" in line
    assert "write nothing more" in line
    n_done = int(open_sweep(store).done.values.sum())
    assert f": {n_done} of 6 points are done and stored" in line and n_done < 6
    # nothing was written into the store or the checkpoints once the client had gone
    late = [p for p in [*store.rglob("*"), *runs_dir(store).rglob("*")] if p.stat().st_mtime > ended]
    assert not late, late
    assert not (tmp_path / "s.zarr.lock").exists()
    # the same command on a new scheduler finishes the sweep
    res = subprocess.run(sweep_cmd(spec_file, store, "--workers", "1", "--no-progress", "--dashboard", "none"),
                         cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert open_sweep(store).done.values.all()


# ----------------------------------------------------------------------------------- row 14: dashboard
def _listening(pid) -> list[tuple[str, int]]:
    import psutil

    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    out = []
    for p in procs:
        try:
            out += [c.laddr[:2] for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        except psutil.Error:
            pass
    return out


def _other_address() -> str | None:
    """An address of this machine other than loopback (None if it has none)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: it picks the outgoing interface
            ip = s.getsockname()[0]
        return None if ip.startswith("127.") else ip
    except OSError:
        return None


@pytest.mark.parametrize("dashboard", [None, "none"], ids=["default", "none"])
def test_a_local_cluster_listens_on_loopback_only_and_prints_where(spec_file, tmp_path, dashboard):
    """Today the dashboard listens on 0.0.0.0:8787 (with --dashboard none on a random port of 0.0.0.0) and answers
    from another address, while the sweep prints 127.0.0.1."""
    extra = ["--workers", "1"] + (["--dashboard", dashboard] if dashboard else [])
    proc = start(sweep_cmd(spec_file, tmp_path / "s.zarr", *extra), tmp_path)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: any(ln.startswith("Dask: ") for ln in lines), timeout=120), lines
        [dask_line] = [ln for ln in lines if ln.startswith("Dask: ")]
        assert wait_for(lambda: (tmp_path / "s.zarr" / "done" / "c").exists(), timeout=120)
        sockets = _listening(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert sockets and all(host in ("127.0.0.1", "::1") for host, _ in sockets), sockets
    if dashboard is None:
        port = int(dask_line.split("http://127.0.0.1:")[1].split("/")[0])
        assert dask_line == f"Dask: 1 worker(s), dashboard http://127.0.0.1:{port}/status\n"
        assert ("127.0.0.1", port) in sockets
        other = _other_address()
        if other is not None:  # it does not answer from another address
            with pytest.raises(OSError), socket.create_connection((other, port), timeout=5):
                pass
    else:
        assert dask_line == "Dask: 1 worker(s)\n"


# ----------------------------------------------------------------------------------- rows 11: memory
MEMORY_LIMIT = 450 * 2**20


def memory_spec():
    """Three points of n_hidden = 3000 (one fits the worker's memory, three together do not) and three of 9000
    (one alone does not fit); M = 1400 digits per minibatch."""
    text = tiny_text(g="[1.0, 1.5, 2.0]", T="[10.0]", extra_grid="n_hidden = [3000, 9000]", n_hidden=0, steps=2)
    text = text.replace("n_hidden = 0\n", "").replace("batch_size = 50", "batch_size = 1400")
    text = text.replace("log_every = 50", "log_every = 2").replace("checkpoint_every = 25", "checkpoint_every = 2")
    return parse_spec(text, default_name="mem")


def test_a_worker_killed_for_memory_by_a_group_retries_its_points_one_by_one(tmp_path):
    """Today the group's points are recorded failed ("the worker ... died each time it was tried") although each
    trains alone in seconds, on every re-run. Now they are tried one by one; a point that kills its worker alone
    is recorded failed with the memory it asked for."""
    import dask
    from distributed import Client, LocalCluster

    from chaossim.sweep.groups import member_bytes

    spec = memory_spec()
    assert spec.dims == ("g", "T", "n_hidden")
    store = tmp_path / "m.zarr"
    config = {"distributed.scheduler.allowed-failures": 0, "distributed.worker.memory.pause": False,
              "distributed.worker.memory.spill": False, "distributed.worker.memory.target": False}
    with dask.config.set(config), LocalCluster(n_workers=1, threads_per_worker=1, memory_limit=MEMORY_LIMIT,
                                               host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        r = run_sweep(spec, store, client=client, progress=False, ensembles=True, retries=0)
    small = [i for i in range(spec.n_points) if spec.point_values(i)["n_hidden"] == 3000]
    big = [i for i in range(spec.n_points) if spec.point_values(i)["n_hidden"] == 9000]
    assert sorted(small) in [sorted(g) for g in r.groups[:2]]  # first tried together ...
    assert sorted(r.groups[2:]) == [[i] for i in range(6)]  # ... then alone, one at a time
    assert sorted(r.done) == sorted(small)
    ds = open_sweep(store)
    assert (ds.group_size.sel(n_hidden=3000).values == 1).all() and ds.done.sel(n_hidden=3000).values.all()
    assert sorted(r.failed) == sorted(big)
    need = member_bytes(spec.config(big[0]), 64)
    for i in big:
        msg = r.failed[i]
        assert msg.startswith("the worker running this point alone died each time it was tried")
        assert f"Training it asks for about {need / 2**20:.0f} MiB" in msg
        assert "the workers' memory limit is 450 MiB" in msg
        assert str(ds.error.values.ravel()[i]) == msg[:1000]


# ----------------------------------------------------------------------------------- row 13: stale lock
def drop_fowner() -> None:
    """In a child of root: drop CAP_FOWNER from the bounding set, so that after exec root may not remove another
    user's file from a sticky folder it does not own (as any other user)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 3, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_FOWNER
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_a_stale_lock_of_another_user_in_a_sticky_folder_names_its_owner_and_how_to_take_it_over(spec_file,
                                                                                                   tmp_path):
    """Today: "operation not permitted ... free some space"; it never says the lock is stale or whose."""
    if os.geteuid() != 0:
        pytest.skip("making a lock owned by another user needs root")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, 4322, 4322)
    shared.chmod(0o1777)  # like /tmp
    lock = shared / "s.zarr.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": 2**22 + 17, "user": "bob",
                                "started": "2026-01-01T10:00:00+0000", "command": "chaossim sweep tiny.toml"}))
    os.chown(lock, 4321, 4321)
    past = time.time() - 3 * 3600 - 12 * 60
    os.utime(lock, (past, past))
    res = subprocess.run(sweep_cmd(spec_file, shared / "s.zarr", "--workers", "1", "--no-progress"), cwd=tmp_path,
                         env=env(), capture_output=True, text=True, timeout=120, preexec_fn=drop_fowner)
    if res.returncode == 0:
        pytest.skip("this root keeps CAP_FOWNER after PR_CAPBSET_DROP")
    line = one_line_error(res, PROG)
    assert line.startswith(f"chaossim sweep: error: the sweep store {shared / 's.zarr'} is locked by a stale lock: "
                           f"pid {2**22 + 17} on host {socket.gethostname()} (user bob; started "
                           "2026-01-01T10:00:00+0000; chaossim sweep tiny.toml; last renewed 3 h 12 min ago), a "
                           "process that is no longer running.")
    assert f"{shared} is a sticky folder, where only the file's owner (bob) or root may remove it" in line
    assert f"To take it over, have bob or root delete it (rm {lock})" in line
    assert "free some space" not in line
    assert not (shared / "s.zarr").exists()


# ----------------------------------------------------------------------------------- row 5: an array deleted
def test_a_deleted_array_is_laid_out_again_and_its_points_reread_from_their_checkpoints(tmp_path):
    """Today the re-run exits 0 with param_W gone from the store (or crashes: No variable named 'E2')."""
    from distributed import Client, LocalCluster

    spec = parse_spec(tiny_text(), default_name="tiny")
    ref = tmp_path / "ref.zarr"
    run_in_process(spec, ref)
    store = copy_store(ref, tmp_path / "s.zarr")
    steps = checkpoint_steps(runs_dir(store))
    shutil.rmtree(store / "param_W")
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        r = run_sweep(spec, store, client=client, progress=False)
    assert sorted(r.done) == [0, 1, 2, 3] and not r.failed  # re-read: every point had its finished checkpoint
    assert checkpoint_steps(runs_dir(store)) == steps
    assert "param_W" in xr.open_zarr(store).variables
    assert_same_results(store, ref, skip=RUN_VARIABLES)


def checkpoint_steps(runs) -> dict:
    """Point key -> the step of its checkpoint, kept in its run directory or in its finished point's one file."""
    import io

    from chaossim.sweep.mirror import checkpoint_bytes, checkpoints

    return {k: int(np.load(io.BytesIO(checkpoint_bytes(runs, k, how)))["step"]) for k, how in checkpoints(runs).items()}
