"""The store's lease and its fences (chaossim.sweep.lock): one writer per store, and a task whose client has gone
writes nothing more (issue 18, "one client, one writer")."""
import json
import os
import pickle
import threading
import time

import pytest

from chaossim.errors import FencedError, StoreError
from chaossim.sweep.lock import LEASE_TTL_S, StoreLock, lock_path

from .conftest import tiny_text


def test_a_fence_passes_while_its_lease_is_held_and_refuses_once_it_is_released(tmp_path):
    store = tmp_path / "s.zarr"
    lock = StoreLock(store).take()
    fence = lock.fence()
    assert pickle.loads(pickle.dumps(fence)) == fence  # it travels to the workers with the task
    fence()
    rec = json.loads(lock_path(store).read_text())
    assert rec["token"] == fence.token and rec["user"] and rec["pid"] == os.getpid()
    lock.release()
    with pytest.raises(FencedError, match="was released: the sweep client that started this task has gone"):
        fence()


def test_a_fence_refuses_when_another_client_took_the_lease_over(tmp_path):
    store = tmp_path / "s.zarr"
    old = StoreLock(store).take()
    fence = old.fence()
    rec = json.loads(lock_path(store).read_text())
    rec["proc_start"] = "1"  # the holder looks like a reused pid: stale, taken over
    lock_path(store).write_text(json.dumps(rec))
    new = StoreLock(store).take()
    assert new.broke is not None
    with pytest.raises(FencedError, match="was taken over by another client"):
        fence()
    new.fence()()
    old.refresh()
    assert old.lost and "taken over" in old.lost
    new.release()


def test_a_lease_not_renewed_expires_and_keep_alive_renews_it(tmp_path):
    store = tmp_path / "s.zarr"
    lock = StoreLock(store).take()
    fence = lock.fence()
    path = lock_path(store)
    past = time.time() - LEASE_TTL_S - 5
    os.utime(path, (past, past))
    with pytest.raises(FencedError, match=r"was not renewed for \d+ s") as e:
        fence()
    assert int(str(e.value).split("renewed for ")[1].split(" s")[0]) >= LEASE_TTL_S + 5
    lock.keep_alive(every=0.05)
    deadline = time.time() + 10
    while time.time() < deadline and time.time() - path.stat().st_mtime > 1:
        time.sleep(0.05)
    fence()  # renewed by the heartbeat
    lock.release()
    assert not path.exists()


def test_a_refusal_names_the_owner_host_pid_and_age_and_how_to_take_over(tmp_path):
    store = tmp_path / "s.zarr"
    lock_path(store).write_text(json.dumps({"host": "node-17.cluster", "pid": 4242, "user": "alice",
                                            "started": "2026-01-01T10:00:00", "command": "chaossim sweep p.toml"}))
    past = time.time() - 2 * 3600
    os.utime(lock_path(store), (past, past))
    with pytest.raises(StoreError) as e:
        StoreLock(store).acquire()
    msg = str(e.value)
    assert "locked by pid 4242 on host node-17.cluster (user alice; started 2026-01-01T10:00:00; chaossim sweep " \
           "p.toml; last renewed 2 h 0 min ago)" in msg
    assert "it looks stale" in msg and f"take the lock over: delete {lock_path(store)}" in msg


def test_a_task_whose_lease_is_released_writes_nothing_more(tmp_path):
    """A point trains in a thread with the fence of its client's lease; once the lease is released (the client has
    gone), neither its run directory nor the store is written again, and the task ends with FencedError."""
    from chaossim.sweep.point import run_point
    from chaossim.sweep.spec import parse_spec
    from chaossim.sweep.store import create_store, open_sweep, runs_dir

    from ..faults.conftest import snapshot

    spec = parse_spec(tiny_text(g="[1.0]", T="[10.0]", n_hidden=32, steps=400), default_name="tiny")
    store = tmp_path / "s.zarr"
    create_store(store, spec)
    lock = StoreLock(store).take()
    out: dict = {}

    def task():
        try:
            out["summary"] = run_point(spec, 0, store, fence=lock.fence())
        except BaseException as exc:  # noqa: BLE001
            out["exc"] = exc

    th = threading.Thread(target=task)
    th.start()
    run_dir = runs_dir(store) / spec.point_key(0)
    deadline = time.time() + 60
    while time.time() < deadline and not (run_dir / "checkpoint.npz").exists():
        time.sleep(0.005)
    lock.release()  # the client has gone
    time.sleep(0.05)  # a write that passed its fence just before the release may still land
    before = snapshot(tmp_path)
    th.join(120)
    assert not th.is_alive() and "summary" not in out, out
    assert isinstance(out["exc"], FencedError), out
    assert snapshot(tmp_path) == before
    from chaossim.runs.rundir import load_checkpoint

    assert load_checkpoint(run_dir)["step"] < 400
    ds = open_sweep(store)
    assert not ds.done.values.any() and (ds.status.values == "pending").all()
