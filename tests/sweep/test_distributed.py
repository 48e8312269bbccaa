"""Sweeps on real Dask clusters: a killed worker, a killed client, a diverging point; each also with the
points grouped into ensembles (one task trains several points, chaossim.sweep.groups).

Real scheduler and worker processes on 127.0.0.1, no mocks. Results are compared, to the bit, with
the same points run alone in this process (NumPy is deterministic for a given config and thread count,
and on NumPy a point trained in an ensemble equals the point trained alone to the bit:
tests/runs/test_ensemble_training.py::test_on_numpy_a_member_is_its_run_alone_to_the_bit).
"""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from chaossim.sweep.cluster import run_sweep
from chaossim.sweep.spec import parse_spec
from chaossim.sweep.store import RUN_VARIABLES, done_mask, open_sweep

from .conftest import assert_same_results, run_in_process, tiny_text

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
N_POINTS = 6


def dist_text():
    # each point takes about a second on one core: long enough to be interrupted mid-run
    return tiny_text(g="[1.0, 1.5, 2.0]", T="[10.0, 20.0]", n_hidden=32, steps=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted sweep, every point run in this process."""
    spec = parse_spec(dist_text(), default_name="tiny")
    store = tmp_path_factory.mktemp("ref") / "ref.zarr"
    run_in_process(spec, store)
    return spec, store


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                           dashboard_address=":0")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _check_all_done_once(store, n):
    ds = xr.open_zarr(store)
    assert ds.done.values.all() and (ds.status.values == "done").all()
    run_ids = ds.run_id.values.ravel()
    assert len(set(run_ids)) == n and all(len(r) == 32 for r in run_ids)
    assert (ds.steps_done.values == 300).all()


@pytest.mark.parametrize("grouped", [False, True], ids=["alone", "grouped"])
def test_worker_killed_mid_sweep(reference, client, tmp_path, grouped):
    spec, ref_store = reference
    store = tmp_path / "k.zarr"
    out = {}
    th = threading.Thread(target=lambda: out.update(r=run_sweep(spec, store, client=client, progress=False,
                                                                  ensembles=grouped)))
    th.start()
    victim, running = None, []
    deadline = time.time() + 60
    wanted = "chaossim-group-" if grouped else "chaossim-point-"  # kill a worker running a group task
    while time.time() < deadline and victim is None:
        busy = {w: keys for w, keys in client.processing().items() if any(wanted in str(k) for k in keys)}
        if busy:
            time.sleep(0.4)  # let the task get into its training
            busy = {w: keys for w, keys in client.processing().items() if any(wanted in str(k) for k in keys)}
            if busy:
                victim, running = next(iter(busy.items()))
        time.sleep(0.02)
    assert victim is not None, "no task ever ran"
    pid = client.run(os.getpid, workers=[victim])[victim]
    done_before = int(done_mask(store).sum())
    os.kill(pid, signal.SIGKILL)
    th.join(timeout=180)
    assert not th.is_alive()
    r = out["r"]
    assert running and done_before < N_POINTS
    assert r.complete and sorted(r.done) == list(range(N_POINTS)) and not r.failed
    _check_all_done_once(store, N_POINTS)
    if grouped:
        assert any(len(g) > 1 for g in r.groups)
        assert sorted(open_sweep(store).group_size.values.ravel()) == sorted(len(g) for g in r.groups for _ in g)
    # every point holds its own values, equal to the bit to the points run alone in this process
    assert_same_results(store, ref_store, skip=RUN_VARIABLES)


def test_grouping_by_default_asks_the_workers_what_auto_means(client):
    from chaossim.backend import gpu_available
    from chaossim.sweep.cluster import grouping
    from chaossim.sweep.groups import HOST_MAX_STEP_FLOPS
    from chaossim.sweep.spec import with_backend

    spec = parse_spec(dist_text())
    host = (True, HOST_MAX_STEP_FLOPS)
    assert grouping(client, spec, None) == host and grouping(client, spec, False) == (False, None)
    assert grouping(client, spec, True) == (True, None)
    assert grouping(client, with_backend(spec, "cupy"), None) == (True, None)
    assert grouping(client, with_backend(spec, "auto"), None) == ((True, None) if gpu_available() else host)


def test_diverging_point_fails_and_the_sweep_goes_on(client, tmp_path):
    text = tiny_text(g="[1.5]", T="[50.0]", dynamics="", extra_grid="tau = [10.0, 0.1, 5.0]",
                     backend="force = true", steps=20)
    spec = parse_spec(text)
    store = tmp_path / "d.zarr"
    r = run_sweep(spec, store, client=client, progress=False)
    assert sorted(r.done) == [0, 2] and list(r.failed) == [1]
    assert "diverged" in r.failed[1] and "dt/tau=10" in r.failed[1]
    ds = xr.open_zarr(store)
    assert list(ds.status.values.ravel()) == ["done", "failed", "done"]
    assert list(ds.done.values.ravel()) == [True, False, True]
    assert "diverged" in ds.error.values.ravel()[1]
    assert np.isfinite(ds.E2.values.ravel()).sum() == 2 * ds.sizes["t_age"]


def _sweep_cmd(spec_file, store, *extra):
    return [sys.executable, "-m", "chaossim.sweep", str(spec_file), "--store", str(store), "--workers", "2",
            "--no-progress", "--no-report", "--dashboard", "none", *extra]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.parametrize("grouped", [False, True], ids=["alone", "grouped"])
def test_client_killed_then_resumed(reference, tmp_path, grouped):
    spec, ref_store = reference
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(dist_text())
    store = tmp_path / "c.zarr"
    extra = ("--ensembles",) if grouped else ("--no-ensembles",)
    proc = subprocess.Popen(_sweep_cmd(spec_file, store, *extra), cwd=tmp_path, env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed_with = None
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if store.exists():
                try:
                    n = int(done_mask(store).sum())
                except Exception:  # a chunk being written right now
                    n = 0
                if 1 <= n < N_POINTS:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed_with = n
                    break
            time.sleep(0.02)
    finally:
        if proc.poll() is None and killed_with is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert killed_with is not None, f"the sweep ended before it could be interrupted: {proc.stderr.read()[-2000:]}"
    t0 = time.time()
    while _group_alive(proc.pid) and time.time() - t0 < 20:
        time.sleep(0.1)
    assert not _group_alive(proc.pid), "worker processes outlived the killed client"
    before = open_sweep(store)
    done0 = before.done.values.copy()
    ids0 = before.run_id.values.copy()
    stamps0 = before.completed_at.values.copy()
    assert done0.sum() >= killed_with
    # resume: same command
    res = subprocess.run(_sweep_cmd(spec_file, store, *extra), cwd=tmp_path, env=_env(), capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"{int(done0.sum())} already done" in res.stderr
    if not grouped:
        assert "trained as ensembles" not in res.stderr, res.stderr
    after = open_sweep(store)
    assert after.done.values.all()
    # completed points were not recomputed: their run ids and stamps are unchanged
    np.testing.assert_array_equal(after.run_id.values[done0], ids0[done0])
    np.testing.assert_array_equal(after.completed_at.values[done0], stamps0[done0])
    assert not np.isin(after.run_id.values[~done0], ids0).any()
    _check_all_done_once(store, N_POINTS)
    # and the result equals the uninterrupted sweep's
    assert_same_results(store, ref_store, skip=RUN_VARIABLES)


def test_existing_scheduler_via_cli(client, tmp_path):
    """`--scheduler ADDRESS` runs the points on the workers of an already running scheduler."""
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(tiny_text(g="[1.0]", T="[10.0, 20.0]", steps=20))
    store = tmp_path / "s.zarr"
    cmd = [sys.executable, "-m", "chaossim.sweep", str(spec_file), "--store", str(store), "--scheduler",
           client.scheduler.address, "--no-progress", "--out", str(tmp_path / "fig")]
    res = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    ds = xr.open_zarr(store)
    assert ds.done.values.all()
    assert "best by E2" in res.stdout and (tmp_path / "fig" / "phase_diagram.png").is_file()


@pytest.mark.parametrize("grouped", [False, True], ids=["alone", "grouped"])
def test_points_of_a_task_whose_worker_died_too_often_are_tried_again_alone(tmp_path, grouped):
    """After `allowed-failures` worker deaths (0 here) the scheduler gives up on the tasks that worker held (the
    one it ran and those queued on it). Their points are tried again alone, one at a time, after the others (a
    group may need more memory than its points alone; a queued task is not to blame): a worker killed once by
    accident loses no point (issue 18; a point that kills its worker alone: tests/faults/test_cluster_inputs.py)."""
    import dask
    from distributed import Client, LocalCluster

    spec = parse_spec(tiny_text(g="[1.0, 2.0]", T="[10.0, 20.0]", n_hidden=32, steps=300))
    store = tmp_path / "f.zarr"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                          dashboard_address=":0") as cluster, Client(cluster) as c:
            pids = c.run(os.getpid)  # before the sweep: the kill must follow the observation at once
            out = {}
            th = threading.Thread(target=lambda: out.update(r=run_sweep(spec, store, client=c, progress=False,
                                                                          ensembles=grouped)))
            th.start()
            held = ()
            deadline = time.time() + 60
            while time.time() < deadline and not held:
                busy = {w: k for w, k in c.processing().items()
                        if k and (not grouped or any("chaossim-group-" in str(x) for x in k))}
                if busy:
                    victim, held = next(iter(busy.items()))
                    os.kill(pids[victim], signal.SIGKILL)
                time.sleep(0.02)
            th.join(timeout=180)
    r = out["r"]
    tasks = {(f"chaossim-group-{spec.fingerprint()}-{g[0]}-n{len(g)}" if len(g) > 1
              else f"chaossim-point-{spec.fingerprint()}-{g[0]}"): g for g in r.groups}
    killed = {i for k in held for i in tasks[str(k)]}  # (tasks queued on that worker are given up on too)
    planned = next(n for n in range(len(r.groups) + 1) if sum(map(len, r.groups[:n])) == spec.n_points)
    retried = r.groups[planned:]
    assert killed and all([i] in retried for i in killed) and all(len(g) == 1 for g in retried)  # alone, last
    if grouped:
        assert any(len(tasks[str(k)]) > 1 for k in held)
    assert not r.failed and sorted(r.done) == list(range(spec.n_points))
    ds = xr.open_zarr(store)
    assert ds.done.values.all() and (ds.status.values == "done").all()
    assert all(ds.group_size.values.ravel()[i] == 1 for i in killed)
