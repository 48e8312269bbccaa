"""Issue 11, cases 1-3 and the smaller holes of run directories: resume never continues a run under other
settings, never starts a new one silently, and a killed or stopped run says what happened to it."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from chaossim.config import RunConfig
from chaossim.errors import ConfigError, DataError, StoreError
from chaossim.runs.rundir import load_checkpoint
from chaossim.runs.training import train

from .conftest import RUN_SETTINGS, assert_same_params, chaossim, env, one_line_error, params_of, snapshot

PROG = "chaossim train"


@pytest.fixture
def trained(tmp_path):
    """A 10-step run trained with g = 1.5, k = 0.01 through the command line."""
    run = tmp_path / "r"
    res = chaossim("train", "--run", run, *RUN_SETTINGS, "--set", "model.g=1.5", "--set", "training.k=0.01",
                   "--steps", 10)
    assert res.returncode == 0, res.stderr
    return run


@pytest.mark.slow
def test_case1_resume_without_config_is_refused_and_nothing_written(trained):
    (trained / "config.toml").unlink()
    before = snapshot(trained)
    for extra in ([], ["--set", "model.g=0.7", "--set", "training.k=0.5"], ["--set", "model.n_hidden=8"]):
        res = chaossim("train", "--run", trained, "--resume", "--steps", 20, "--no-progress", *extra)
        line = one_line_error(res, PROG)
        assert "no config.toml" in line and "cannot be continued" in line and "Nothing was written" in line
        assert snapshot(trained) == before  # no bogus config.toml, no meta.json update
    cfg = RunConfig().replace(**{"model.n_hidden": 16, "training.steps": 20, "training.n_eval": 100})
    with pytest.raises(StoreError, match="no config.toml"):
        train(cfg, trained, resume=True, progress=False)
    with pytest.raises(StoreError, match="no config.toml"):
        train(cfg, trained, resume="auto", progress=False)  # the sweep's mode refuses it too
    assert snapshot(trained) == before


@pytest.mark.slow
def test_case2_resume_refuses_settings_it_cannot_honour(trained):
    before = snapshot(trained)
    res = chaossim("train", "--run", trained, "--resume", "--steps", 20, "--no-progress", "--set", "model.g=0.7",
                   "--set", "training.k=0.5")
    line = one_line_error(res, PROG)
    assert "model.g: the run has 1.5, given 0.7" in line and "training.k: the run has 0.01, given 0.5" in line
    assert "only training.steps may change" in line
    assert snapshot(trained) == before
    # values equal to the stored ones are honoured, and so is a new number of steps
    res = chaossim("train", "--run", trained, "--resume", "--no-progress", "--set", "model.g=1.5",
                   "--set", "training.steps=15")
    assert res.returncode == 0, res.stderr
    assert load_checkpoint(trained)["step"] == 15
    assert RunConfig.load(trained / "config.toml").model.g == 1.5


def test_case3_resume_of_a_missing_directory_is_refused(tmp_path):
    run = tmp_path / "typo" / "r1"
    res = chaossim("train", "--run", run, "--resume", "--steps", 10, *RUN_SETTINGS)
    line = one_line_error(res, PROG)
    assert f"{run} does not exist" in line and "leave out --resume to start a new run" in line
    assert not (tmp_path / "typo").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_line_error(chaossim("train", "--run", empty, "--resume", *RUN_SETTINGS), PROG)
    assert "holds no chaossim run" in line and list(empty.iterdir()) == []


@pytest.mark.slow
def test_changed_sizes_in_config_are_refused_before_writing(trained):
    cfg = RunConfig.load(trained / "config.toml")
    cfg.replace(**{"model.n_hidden": 8}).save(trained / "config.toml")  # edited by hand after the start
    before = snapshot(trained)
    line = one_line_error(chaossim("train", "--run", trained, "--resume", "--steps", 20, "--no-progress"), PROG)
    assert "was not trained under the settings of" in line  # issue 18: the checkpoint records its settings
    assert "model.n_hidden = 16 in the checkpoint, 8 in config.toml" in line
    assert snapshot(trained) == before


# ----------------------------------------------------------------------------------- smaller holes
@pytest.mark.slow
def test_booleans_are_not_numbers(tmp_path):
    for setting in ("model.g=true", "training.steps=true", "dynamics.T=false"):
        line = one_line_error(chaossim("train", "--run", tmp_path / "r", "--set", setting), PROG)
        assert "must be a number" in line and "boolean" in line
    with pytest.raises(ConfigError, match="boolean"):
        RunConfig().replace(**{"model.g": True})
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_capped_n_eval_is_said_once(tmp_path):
    res = chaossim("train", "--run", tmp_path / "r", *RUN_SETTINGS, "--set", "training.n_eval=5000", "--steps", 10)
    assert res.returncode == 0, res.stderr
    warnings = [ln for ln in res.stderr.splitlines() if "n_eval" in ln]
    assert warnings == ["chaossim train: warning: training.n_eval = 5000 exceeds the 359 held-out points of digits: "
                        "the indices use all 359."]


def test_empty_batch_is_a_clear_error():
    from chaossim.models import Restricted
    from chaossim.rbm import RBM

    empty = np.zeros((0, 8))
    model = Restricted(8, 4, g=1.0, dt=1.0, tau=10.0, seed=0)
    with pytest.raises(DataError, match="batch has 0 rows"):
        model.train_step(empty, 1.0, 10.0, 5, 0.1)
    with pytest.raises(DataError, match="batch has 0 rows"):
        RBM(8, 4, seed=0).train_step(empty, T=2)


@pytest.mark.slow
def test_orphan_temporaries_of_a_killed_writer_are_removed_on_the_next_start(trained):
    """A writer killed (SIGKILL) in the middle of an atomic checkpoint write leaves its temporary file."""
    code = "import sys; from chaossim.io import atomic_write_bytes; atomic_write_bytes(sys.argv[1], bytes(300_000_000))"
    proc = subprocess.Popen([sys.executable, "-c", code, str(trained / "checkpoint.npz")], env=env())
    deadline = time.time() + 120
    try:
        while time.time() < deadline and not list(trained.glob(".checkpoint.npz.*.tmp")):
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    orphans = list(trained.glob(".checkpoint.npz.*.tmp"))
    assert orphans, "the writer finished before it could be killed"
    assert load_checkpoint(trained)["step"] == 10  # the real checkpoint is untouched
    res = chaossim("train", "--run", trained, "--resume", "--steps", 15, "--no-progress")
    assert res.returncode == 0, res.stderr
    assert not list(trained.glob(".*.tmp"))


def _poll(predicate, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def _meta(run):
    try:
        return json.loads((run / "meta.json").read_text())
    except (OSError, ValueError):
        return {}


LONG = [*RUN_SETTINGS[:-1], "--set", "training.checkpoint_every=3", "--set", "training.log_every=3",
        "--set", "model.n_hidden=48", "--no-progress"]


@pytest.mark.slow
def test_meta_follows_every_checkpoint_and_a_kill_is_recorded_on_the_next_start(tmp_path):
    run = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "chaossim", "train", "--run", str(run), *LONG, "--steps", "3000"],
                            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _poll(lambda: _meta(run).get("step", 0) >= 6)
    finally:
        proc.kill()
        proc.wait()
    meta = _meta(run)
    step = load_checkpoint(run)["step"]
    assert step >= 6 and step % 3 == 0
    # meta.json is written right after each checkpoint: a kill between the two leaves it one checkpoint behind
    assert meta["status"] == "running" and meta["step"] in (step, step - 3)
    assert meta["pid"] == proc.pid and meta["last_indices"]["t_age"] == meta["step"]
    assert set(meta["last_indices"]) == {"t_age", "E2", "Es", "EAAI", "ER"}
    res = chaossim("train", "--run", run, "--resume", "--steps", step + 3, "--no-progress")
    assert res.returncode == 0, res.stderr
    meta = _meta(run)
    assert meta["status"] == "finished" and meta["step"] == step + 3
    [entry] = meta["interruptions"]
    assert entry["step"] == step and entry["pid"] == proc.pid and entry["how"].startswith("killed")


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_keep_a_checkpoint_and_record_the_stop(tmp_path, signum, status):
    run = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "chaossim", "train", "--run", str(run), *LONG, "--steps", "3000"],
                            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _poll(lambda: _meta(run).get("step", 0) >= 3)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == status, err
    name = signal.Signals(signum).name
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"chaossim train: stopped by {name} at step ") and "--resume" in line
    stopped = int(line.split(" at step ")[1].split(";")[0])
    meta = _meta(run)
    assert meta["status"] == "interrupted" and meta["step"] == stopped
    assert meta["interruptions"][-1]["how"] == name and meta["interruptions"][-1]["step"] == stopped
    assert load_checkpoint(run)["step"] == stopped  # checkpointed at the step where it stopped
    # resuming gives, to the bit, the uninterrupted run (same logging steps: multiples of 3)
    steps = (stopped // 3 + 3) * 3
    res = chaossim("train", "--run", run, "--resume", "--steps", steps, "--no-progress")
    assert res.returncode == 0, res.stderr
    ref = tmp_path / "ref"
    res = chaossim("train", "--run", ref, *LONG, "--steps", steps)
    assert res.returncode == 0, res.stderr
    assert_same_params(params_of(run), params_of(ref))
    np.testing.assert_array_equal(load_checkpoint(run)["history"]["E2"], load_checkpoint(ref)["history"]["E2"])


@pytest.mark.slow
def test_a_run_being_trained_is_not_resumed_by_a_second_process(tmp_path):
    run = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "chaossim", "train", "--run", str(run), *LONG, "--steps", "100000"],
                            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _poll(lambda: _meta(run).get("step", 0) >= 3)
        before = load_checkpoint(run)["step"]
        line = one_line_error(chaossim("train", "--run", run, "--resume", "--no-progress"), PROG)
        assert f"is being trained right now by pid {proc.pid} on host" in line and f"kill {proc.pid}" in line
        assert proc.poll() is None and load_checkpoint(run)["step"] >= before
    finally:
        proc.kill()
        proc.wait()
