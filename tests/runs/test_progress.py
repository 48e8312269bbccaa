"""A run tells what it does while it runs (chaossim.runs.progress): history.csv grows by one line per logged step
and meta.json carries the last indices, between checkpoints too; a resumed run's history.csv holds no rows
logged after its checkpoint."""
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from chaossim.config import RunConfig
from chaossim.metrics import index_names
from chaossim.runs.rundir import load_checkpoint, read_history_csv
from chaossim.runs.training import RunState, train

LIVE = {"model.n_hidden": 16, "training.batch_size": 50, "training.n_eval": 100, "dynamics.T": 10.0,
        "training.log_every": 5, "training.checkpoint_every": 100, "training.steps": 30}


def test_history_and_meta_follow_each_logged_step_between_checkpoints(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    seen = {}
    original = RunState.after_step

    def spy(self, done, path):
        original(self, done, path)
        if done in (5, 12, 15):  # no checkpoint before step 30: what a reader sees now
            seen[done] = (read_history_csv(run_dir / "history.csv"), json.loads((run_dir / "meta.json").read_text()))

    monkeypatch.setattr(RunState, "after_step", spy)
    result = train(RunConfig().replace(**LIVE), run_dir, progress=False)
    assert not (run_dir / "checkpoint.npz").exists() or load_checkpoint(run_dir)["step"] == 30
    for done, (hist, meta) in seen.items():
        logged = list(range(0, done + 1, 5))
        assert hist["t_age"].tolist() == logged
        assert meta["status"] == "running" and meta["step"] == 0  # meta's step is the checkpoint's: none yet
        assert meta["last_indices"]["t_age"] == logged[-1]
        for k in index_names():  # the very values of the run's history, at the precision of the file
            want = result.history[k][: len(logged)]
            np.testing.assert_allclose(hist[k], want, rtol=1e-5, equal_nan=True)
            if np.isfinite(want[-1]):
                assert meta["last_indices"][k] == pytest.approx(want[-1], rel=1e-6)
    final = read_history_csv(run_dir / "history.csv")
    assert final["t_age"].tolist() == list(range(0, 31, 5))  # rewritten at the checkpoint: no duplicate rows


def test_a_reader_follows_a_run_in_another_process_and_resume_drops_rows_after_the_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    sets = [f"--set={k}={v}" for k, v in {**LIVE, "training.steps": 100000, "training.checkpoint_every": 10}.items()]
    proc = subprocess.Popen([sys.executable, "-m", "chaossim", "train", "--run", str(run_dir), *sets,
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        rows, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (run_dir / "history.csv").is_file():
                rows = read_history_csv(run_dir / "history.csv")["t_age"].tolist()
                if len(rows) >= 4:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()  # still training while read
        assert rows[:4] == [0, 5, 10, 15]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    # the stopped run's file agrees with its checkpoint; rows logged after it (a kill) are dropped on resume
    ck = load_checkpoint(run_dir)
    with open(run_dir / "history.csv", "a") as f:
        f.write(f"{ck['step'] + 5},1,1,1,1\n")  # as if logged after the checkpoint, then killed
    train(RunConfig.load(run_dir / "config.toml").replace(**{"training.steps": ck["step"] + 5}), run_dir,
          resume=True, progress=False)
    hist = read_history_csv(run_dir / "history.csv")
    end = ck["step"] + 5  # logged: every 5 steps, and the last step (the stop may fall between two logs)
    assert hist["t_age"].tolist() == sorted(set(range(0, end + 1, 5)) | {end})
    assert hist["E2"][-1] != 1.0


# ------------------------------------------------------------------------------------- size, estimate, summary
def test_size_line_counts_the_parameters_of_the_architecture():
    from chaossim.runs.build import build_model
    from chaossim.runs.progress import describe_size

    cfg = RunConfig().replace(**{"model.n_hidden": 16, "dynamics.T": 30.0, "dynamics.dt": 0.5})
    line = describe_size(cfg, build_model(cfg, 64), 1438, 359)
    # restricted (paper eq. (4)): fixed W (Nv x Nh) and W~ (Nh x Nv), trained A (Nv x Nh), biases b (Nv), c (Nh)
    total, trained = 3 * 64 * 16 + 64 + 16, 64 * 16 + 64 + 16
    assert f"{total:,} parameters ({trained:,} trained)".replace(",", " ") in line
    assert "v=64, h=16" in line and "T/dt = 30/0.5 = 60 Euler steps" in line and "batch M = 500 of 1 438" in line
    assert "Ns = 359" in line
    rbm = RunConfig().replace(**{"model.arch": "rbm", "model.n_hidden": 16})
    assert f"{64 * 16 + 64 + 16:,} parameters ({64 * 16 + 64 + 16:,} trained)".replace(",", " ") in \
        describe_size(rbm, build_model(rbm, 64), 100)


def test_duration_estimate_from_timed_steps_and_the_long_run_warning():
    from chaossim.runs.progress import DurationEstimate

    cfg = RunConfig().replace(**{"training.steps": 1000, "training.log_every": 100})
    now = [0.0]
    clock = DurationEstimate(cfg, 0, 1000, eval_seconds=2.0, min_steps=3, min_seconds=1.0)
    clock._time = lambda: now[0]
    clock.started()
    for done in (1, 2):
        now[0] += 0.5
        assert clock.step_done(done) is None  # fewer than 3 timed steps
    now[0] += 0.5
    line = clock.step_done(3)
    # 0.5 s per step for the 997 steps left and 10 evaluations (steps 100 .. 1000) of 2 s
    assert clock.seconds == pytest.approx(0.5 * 997 + 10 * 2.0)
    assert "about 9 min for the 997 steps left" in line and "500 ms per step" in line
    assert clock.warning is None and clock.step_done(4) is None  # said once
    slow = DurationEstimate(cfg, 0, 1000, eval_seconds=0.0, min_seconds=1.0)
    slow._time = lambda: now[0]
    slow.started()
    now[0] += 3 * 0.7
    slow.step_done(3)
    assert slow.seconds == pytest.approx(0.7 * 997) and "long for numpy" in slow.warning
    assert "--backend cupy" in slow.warning


def test_tick_writes_the_estimate_of_a_clock_made_directly(capsys):
    """A DurationEstimate not made by start_clock has no progress bar (bar None): tick writes to stderr."""
    from chaossim.runs.progress import DurationEstimate, tick

    cfg = RunConfig().replace(**{"training.steps": 1000, "training.log_every": 100})
    now = [0.0]
    clock = DurationEstimate(cfg, 0, 1000, eval_seconds=0.0, min_steps=1, min_seconds=0.0)
    clock._time = lambda: now[0]
    clock.started()
    now[0] += 0.001
    tick(clock, 1)
    assert "estimated duration" in capsys.readouterr().err


def test_train_prints_size_estimate_and_summary_and_print_config_needs_no_run(tmp_path, capsys):
    from chaossim.cli import main

    assert main(["train", "--print-config", "--set", "model.g=0.7"]) == 0
    assert "g = 0.7" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["train", "--set", "model.g=0.7"])
    assert exc.value.code == 2 and "--run" in capsys.readouterr().err
    run = tmp_path / "r"
    sets = [f"--set={k}={v}" for k, v in {**LIVE, "training.steps": 10}.items()]
    assert main(["train", "--run", str(run), *sets]) == 0
    out, err = capsys.readouterr()
    assert "run size: restricted (v=64, h=16)" in err and "estimated duration: about" in err
    hist = load_checkpoint(run)["history"]
    assert f"  E2    {hist['E2'][0]:.4g} -> {hist['E2'][-1]:.4g}" in out
    assert "(t_age 0 -> 10)" in out
    for name in ("config.toml", "meta.json", "checkpoint.npz", "history.csv"):
        assert f"  {run / name}\n" in out
    assert f"next:\n  chaossim evaluate {run}\n" in out
    assert main(["sample", str(run), "-n", "2"]) == 0
    assert f"chaossim plot generated {run / 'generated.npz'}" in capsys.readouterr().out


def _next_commands(out: str) -> list[list[str]]:
    """The commands listed under "next:" at the end of a command's output, split as a shell would."""
    import shlex

    lines = out.split("next:\n", 1)[1].splitlines()
    return [shlex.split(ln.split("  (", 1)[0]) for ln in lines if ln.startswith("  ")]


def test_the_next_hints_can_be_pasted_when_the_path_has_spaces(tmp_path, capsys):
    """Issue 22: "next:" hints were not quoted, so a run directory with a space split into two arguments."""
    from chaossim.cli import main

    run = tmp_path / "my runs" / "r 1"
    sets = [f"--set={k}={v}" for k, v in {**LIVE, "training.steps": 5}.items()]
    assert main(["train", "--run", str(run), *sets]) == 0
    assert _next_commands(capsys.readouterr().out) == [["chaossim", "evaluate", str(run)],
                                                       ["chaossim", "plot", "training", str(run), "--out", "figures/"]]
    assert main(["evaluate", str(run), "--times", "0", "10"]) == 0
    assert [c[3] for c in _next_commands(capsys.readouterr().out)] == [str(run)] * 3
    assert main(["sample", str(run), "-n", "2", "--out", str(tmp_path / "a b.npz")]) == 0
    assert _next_commands(capsys.readouterr().out)[0][3] == str(tmp_path / "a b.npz")
