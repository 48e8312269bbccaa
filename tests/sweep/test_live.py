"""A running sweep: training steps reported to the client, warnings once, and a Ctrl-C that stops cleanly
(chaossim.sweep.live). Real scheduler and worker processes on 127.0.0.1; the Ctrl-C test signals the process
group of a real `chaossim sweep` as a terminal does."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chaossim import interrupts
from chaossim.sweep import live
from chaossim.sweep.point import run_point
from chaossim.sweep.spec import parse_spec
from chaossim.sweep.store import RUN_VARIABLES, create_store, open_sweep, runs_dir

from .conftest import assert_same_results, run_in_process, tiny_text

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("COLUMNS", None)
    return env


def _sweep_cmd(spec_file, store, *extra):
    return [sys.executable, "-m", "chaossim", "sweep", str(spec_file), "--store", str(store), "--workers", "2",
            "--no-report", *extra]


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, processes=True, threads_per_worker=1, host="127.0.0.1",
                           dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _events(client, point, since, timeout=60.0, at_least=1):
    """The progress events of ``point`` logged after ``since`` (the scheduler's clock: this machine's)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        msgs = [m for t, m in client.get_events(live.TOPIC) if list(m["points"]) == [point] and t >= since]
        if len(msgs) >= at_least:
            return msgs
        time.sleep(0.05)
    raise AssertionError(f"no progress event of point {point} within {timeout} s")


def test_a_task_reports_its_training_steps_to_the_client(client, tmp_path):
    spec = parse_spec(tiny_text(g="[1.0]", T="[10.0]", n_hidden=16, steps=400), default_name="tiny")
    store = tmp_path / "s.zarr"
    create_store(store, spec)
    since = time.time()
    summary = client.submit(run_point, spec, 0, str(store), pure=False).result()
    assert summary["status"] == "done"
    steps = [m["step"] for m in _events(client, 0, since)]
    assert steps == sorted(steps) and 1 <= steps[0] and steps[-1] <= 400, steps
    # the first step is reported at once (the estimate of the time left comes after one step, not one task)
    assert steps[0] == 1


def test_a_relayed_stop_ends_a_running_point_at_a_checkpoint(client, tmp_path):
    spec = parse_spec(tiny_text(g="[1.5]", T="[10.0]", n_hidden=32, steps=20000), default_name="tiny")
    store = tmp_path / "s.zarr"
    create_store(store, spec)
    since = time.time()
    fut = client.submit(run_point, spec, 0, str(store), pure=False)
    _events(client, 0, since, at_least=2)  # training, past its first second
    try:
        with live.StopRelay(client, poll_s=0.02) as relay:
            interrupts.request(signal.SIGINT)  # what the command line's handler does on the first Ctrl-C
            summary = fut.result(timeout=60)
        assert relay.relayed == signal.SIGINT
    finally:
        interrupts.clear()
    assert summary["status"] == "interrupted" and 0 < summary["step"] < 20000, summary
    meta = json.loads((runs_dir(store) / spec.point_key(0) / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["step"] == summary["step"]
    assert meta["interruptions"][-1]["how"] == "SIGINT"
    ds = open_sweep(store)
    assert not ds.done.values.any() and (ds.status.values == "pending").all()  # not failed: resumable
    # the workers' stop requests are cleared when the relay ends (an external cluster runs other sweeps)
    assert set(client.run(interrupts.requested).values()) == {None}


def test_warnings_of_the_points_are_one_line_once_per_sweep(tmp_path):
    text = tiny_text(g="[1.0, 2.0]", T="[10.0, 20.0]", n_hidden=8, steps=10).replace("n_eval = 100", "n_eval = 400")
    spec_file = tmp_path / "w.toml"
    spec_file.write_text(text)
    res = subprocess.run(_sweep_cmd(spec_file, tmp_path / "w.zarr", "--no-progress"), cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [ln for ln in res.stderr.splitlines() if "n_eval" in ln]
    assert lines == ["sweep: warning: training.n_eval = 400 exceeds the 359 held-out points of digits: the indices "
                     "use all 359."], res.stderr


def test_ctrl_c_stops_every_point_cleanly_and_the_same_command_resumes(tmp_path):
    """A Ctrl-C (SIGINT to the process group) mid-sweep: the running points stop at a checkpoint and say so in
    meta.json, nothing from Dask is printed, exit status 130; the re-run says what resumes from where and ends
    with the numbers of the uninterrupted sweep."""
    text = tiny_text(g="[1.0, 1.5, 2.0]", T="[10.0]", n_hidden=32, steps=600)
    spec = parse_spec(text, default_name="tiny")
    ref = tmp_path / "ref.zarr"
    run_in_process(spec, ref)
    spec_file = tmp_path / "c.toml"
    spec_file.write_text(text)
    store = tmp_path / "c.zarr"
    proc = subprocess.Popen(_sweep_cmd(spec_file, store, "--no-ensembles"), cwd=tmp_path, env=_env(),
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sent = False
    deadline = time.time() + 180
    try:
        while time.time() < deadline and proc.poll() is None and not sent:
            for meta in runs_dir(store).glob("*/meta.json") if runs_dir(store).is_dir() else []:
                try:
                    m = json.loads(meta.read_text())
                except ValueError:  # being replaced right now
                    continue
                if m.get("status") == "running" and (m.get("step") or 0) >= 25:
                    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
                    sent = True
                    break
            time.sleep(0.02)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert sent, f"the sweep ended before it could be interrupted: {err[-2000:]}"
    assert proc.returncode == 130, err[-3000:]
    assert "chaossim sweep: stopped by SIGINT" in err and "run the same command again" in err, err
    for noise in ("Traceback", "distributed.", "still alive", "CancelledError", "Error"):
        assert noise not in err, err
    statuses = {json.loads(m.read_text())["status"] for m in runs_dir(store).glob("*/meta.json")}
    assert "running" not in statuses and "interrupted" in statuses, statuses
    ds = open_sweep(store)
    assert set(ds.status.values.ravel()) <= {"done", "pending"}
    n_done = int(ds.done.values.sum())
    assert n_done < spec.n_points
    # the same command again: it says what continues from where, and finishes with the reference's numbers
    res = subprocess.run(_sweep_cmd(spec_file, store, "--no-ensembles"), cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    pending = spec.n_points - n_done
    assert re.search(rf"sweep: {pending} pending point\(s\): [1-9]\d* continue from their checkpoints \(steps? \d+",
                     res.stderr), res.stderr
    assert open_sweep(store).done.values.all()
    assert_same_results(store, ref, skip=RUN_VARIABLES)
    np.testing.assert_array_equal(open_sweep(store).steps_done.values, 600)
