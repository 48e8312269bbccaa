"""Runs trained together as one Ensemble (chaossim.runs.ensemble_training) against the same runs trained alone.

The reference is :func:`chaossim.runs.training.train` of each member on its own (the single-model engine and the
single loop): same parameters, indices, chaos probes and files, to 1e-12 in float64 (on NumPy the two are in
fact equal to the bit, which the store tests of the sweep rely on only through the 1e-12 bound).
"""
import json
import os
import signal
import threading

import numpy as np
import pytest

from chaossim import interrupts
from chaossim.config import RunConfig
from chaossim.errors import ConfigError, DivergenceError, StoreError
from chaossim.io import atomic_savez
from chaossim.runs.ensemble_training import group_key, train_ensemble
from chaossim.runs.rundir import load_checkpoint
from chaossim.runs.training import TrainResult, batch_indices, train

BASE = {"model.n_hidden": 12, "model.n_hidden2": 6, "training.steps": 12, "training.batch_size": 40,
        "training.log_every": 4, "training.checkpoint_every": 4, "training.n_eval": 60, "dynamics.T": 8.0,
        "training.k": 0.05, "backend.dtype": "float64"}
MEMBERS = [(1.0, 0), (1.5, 1), (2.0, 0)]  # seeds 0 and 1: two different data splits of digits


def configs(arch="restricted", members=MEMBERS, **extra):
    base = RunConfig().replace(**{**BASE, "model.arch": arch, **extra})
    return [base.replace(**{"model.g": g, "model.seed": s}) for g, s in members]


def assert_same_run(a: TrainResult, b: TrainResult, atol=1e-12):
    assert a.step == b.step
    for k, v in b.model.params.items():
        np.testing.assert_allclose(np.asarray(a.model.params[k]), v, rtol=0, atol=atol, err_msg=k)
    for part in ("history", "chaos"):
        x, y = getattr(a, part), getattr(b, part)
        assert set(x) == set(y)
        for k in y:
            np.testing.assert_allclose(x[k], y[k], rtol=0, atol=atol, err_msg=f"{part}/{k}")


def alone(cfgs, root, **kw):
    return [train(c, root / f"alone{i}", progress=False, **kw) for i, c in enumerate(cfgs)]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["unrestricted", "restricted", "deep"])
def test_members_equal_their_runs_alone_with_the_same_files(arch, tmp_path):
    cfgs = configs(arch, **{"training.chaos_every": 6, "training.snapshot_every": 6})
    got = train_ensemble(cfgs, [tmp_path / f"m{i}" for i in range(3)])
    ref = alone(cfgs, tmp_path)
    for i, (a, b) in enumerate(zip(got, ref)):
        assert isinstance(a, TrainResult), a
        assert_same_run(a, b)
        ga, gb = tmp_path / f"m{i}", tmp_path / f"alone{i}"
        assert sorted(p.name for p in ga.iterdir()) == sorted(p.name for p in gb.iterdir())
        assert (ga / "config.toml").read_text() == (gb / "config.toml").read_text()
        assert (ga / "history.csv").read_text() == (gb / "history.csv").read_text()
        ca, cb = load_checkpoint(ga), load_checkpoint(gb)
        assert ca["step"] == cb["step"] == 12
        for k in cb["params"]:
            np.testing.assert_allclose(ca["params"][k], cb["params"][k], rtol=0, atol=1e-12)
        assert sorted(p.name for p in (ga / "snapshots").iterdir()) == ["step_0000006.npz", "step_0000012.npz"]
        ma, mb = (json.loads((d / "meta.json").read_text()) for d in (ga, gb))
        assert ma["status"] == mb["status"] == "finished" and ma["step"] == mb["step"] == 12
        assert ma["train_path"] == mb["train_path"] == "engine" and ma["train_path_reason"] == mb["train_path_reason"]
        assert ma["group_size"] == 3 and mb["group_size"] == 1
        assert ma["last_indices"] == pytest.approx(mb["last_indices"], abs=1e-12)


def test_in_memory_and_members_with_one_data_split(tmp_path):
    """Same seed, different g: the members share one data split (one device copy, the single-set gather)."""
    cfgs = configs(members=[(0.5, 3), (1.0, 3), (2.5, 3)])
    got = train_ensemble(cfgs)
    for a, b in zip(got, [train(c, progress=False) for c in cfgs]):
        assert a.run_dir is None
        assert_same_run(a, b)


def test_members_resuming_from_different_steps_catch_up_then_train_together(tmp_path):
    """Member 0 never started, member 1 stopped at step 4, member 2 at step 8: the loop trains member 1 from 4,
    member 2 joins at 8; every member ends equal to its uninterrupted run alone. Then a member's checkpoint
    written by the ensemble continues alone, and a run started alone continues in an ensemble."""
    cfgs = configs()
    dirs = [tmp_path / f"m{i}" for i in range(3)]
    train(cfgs[1], dirs[1], progress=False, stop_after=4)
    train(cfgs[2], dirs[2], progress=False, stop_after=8)
    got = train_ensemble(cfgs, dirs)
    ref = alone(cfgs, tmp_path)
    for a, b in zip(got, ref):
        assert_same_run(a, b)
    # a checkpoint of the ensemble continues alone (and the other way round, above)
    cfgs16 = [c.replace(**{"training.steps": 16}) for c in cfgs]
    cont = train(cfgs16[0], dirs[0], resume=True, progress=False)
    assert_same_run(cont, train(cfgs16[0], tmp_path / "ref16", progress=False))
    # a member already at its last step does not train again; the others continue from 12
    again = train_ensemble(cfgs16, dirs)
    assert [r.step for r in again] == [16, 16, 16]
    assert_same_run(again[0], cont)
    assert_same_run(again[2], train(cfgs16[2], tmp_path / "ref16b", progress=False))


def test_stop_after_and_resume(tmp_path):
    cfgs = configs()
    dirs = [tmp_path / f"m{i}" for i in range(3)]
    part = train_ensemble(cfgs, dirs, stop_after=5)
    assert [r.step for r in part] == [5, 5, 5]
    assert all(json.loads((d / "meta.json").read_text())["status"] == "stopped" for d in dirs)
    full = train_ensemble(cfgs, dirs)
    for a, b in zip(full, alone(cfgs, tmp_path)):
        assert_same_run(a, b)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_member_fails_as_alone_and_the_others_go_on(tmp_path):
    cfgs = configs()
    dirs = [tmp_path / f"m{i}" for i in range(3)]
    train_ensemble(cfgs, dirs, stop_after=4)
    # member 1's stored model overflows at its next step (as in the single loop's test of this)
    good = load_checkpoint(dirs[1])
    arrays = {"step": np.array(4), **{f"param/{k}": v for k, v in good["params"].items()},
              **{f"history/{k}": v for k, v in good["history"].items()}}
    arrays["param/b"] = np.full_like(good["params"]["b"], 1e308)
    arrays["param/A"] = np.full_like(good["params"]["A"], 1.7e308)
    import shutil

    shutil.copytree(dirs[1], tmp_path / "alone1")
    atomic_savez(dirs[1] / "checkpoint.npz", arrays)
    atomic_savez(tmp_path / "alone1" / "checkpoint.npz", arrays)
    got = train_ensemble(cfgs, dirs)
    with pytest.raises(DivergenceError) as info:
        train(cfgs[1], tmp_path / "alone1", resume=True, progress=False)
    assert isinstance(got[1], DivergenceError)
    assert str(got[1]) == str(info.value).replace(str(tmp_path / "alone1"), str(dirs[1]))
    assert "diverged at step 5" in str(got[1]) and "last good checkpoint (step 4)" in str(got[1])
    meta = json.loads((dirs[1] / "meta.json").read_text())
    assert meta["status"] == "diverged" and meta["last_good_step"] == 4 and load_checkpoint(dirs[1])["step"] == 4
    ref = [train(c, tmp_path / f"ref{i}", progress=False) for i, c in enumerate(cfgs)]
    assert_same_run(got[0], ref[0])
    assert_same_run(got[2], ref[2])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_member_failing_its_first_evaluation_fails_as_alone(tmp_path):
    """g = 1e300: the fixed couplings overflow float32, the step-0 evaluation sees NaN."""
    cfgs = configs(members=[(1.5, 0), (1e300, 1)], **{"backend.dtype": "float32"})
    got = train_ensemble(cfgs, [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(DivergenceError) as info:
        train(cfgs[1], tmp_path / "alone", progress=False)
    assert isinstance(got[1], DivergenceError) and str(got[1]).replace(str(tmp_path / "b"), "X") == \
        str(info.value).replace(str(tmp_path / "alone"), "X")
    assert isinstance(got[0], TrainResult) and got[0].step == 12


def test_a_refused_run_directory_fails_that_member_only(tmp_path):
    cfgs = configs()
    dirs = [tmp_path / f"m{i}" for i in range(3)]
    train(cfgs[0].replace(**{"model.n_hidden": 5}), dirs[0], progress=False, stop_after=1)  # other settings
    got = train_ensemble(cfgs, dirs)
    assert isinstance(got[0], StoreError) and "differs" in str(got[0])
    for a, b in zip(got[1:], alone(cfgs[1:], tmp_path)):
        assert_same_run(a, b)


def test_the_fused_schedule_on_an_ensemble_equals_the_engine(tmp_path):
    """backend.trainer = "fused": the fused schedule's host executor (the GPU path's reference) trains the
    ensemble; float64 agreement with the engine (different summation order: rounding only)."""
    cfgs = configs("deep")
    got = train_ensemble([c.replace(**{"backend.trainer": "fused"}) for c in cfgs], [tmp_path / "f0", tmp_path / "f1",
                                                                                      tmp_path / "f2"])
    for a, b in zip(got, train_ensemble(cfgs)):
        assert a.train_path == "fused-host" and "host emulator" in a.train_path_reason
        assert_same_run(a, b, atol=1e-10)
    assert json.loads((tmp_path / "f0" / "meta.json").read_text())["train_path"] == "fused-host"


def test_sigterm_checkpoints_every_member_at_one_step_and_resume_is_exact(tmp_path):
    """A real SIGTERM to this process, sent once the first checkpoint exists (as the command line defers it)."""
    cfgs = configs(**{"training.steps": 3000, "training.log_every": 1000, "training.checkpoint_every": 100})
    dirs = [tmp_path / f"m{i}" for i in range(3)]
    stop = threading.Event()

    def signal_after_first_checkpoint():
        while not stop.is_set() and not (dirs[2] / "checkpoint.npz").exists():
            stop.wait(0.001)
        if not stop.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=signal_after_first_checkpoint)
    with interrupts.deferred():
        sender.start()
        try:
            with pytest.raises(interrupts.Interrupted) as info:
                train_ensemble(cfgs, dirs)
        finally:
            stop.set()
            sender.join()
    step = info.value.checkpoint
    assert 100 <= step < 3000
    for d in dirs:
        assert load_checkpoint(d)["step"] == step
        meta = json.loads((d / "meta.json").read_text())
        assert meta["status"] == "interrupted" and meta["interruptions"][-1]["how"] == "SIGTERM"
        assert meta["step"] == step
    short = [c.replace(**{"training.steps": step + 20}) for c in cfgs]
    resumed = train_ensemble(short, dirs)
    for a, b in zip(resumed, alone(short, tmp_path)):
        assert_same_run(a, b)


def test_only_runs_equal_up_to_g_and_seed_form_an_ensemble():
    a, b = configs()[:2]
    assert group_key(a) == group_key(b)
    assert group_key(a) != group_key(a.replace(**{"dynamics.T": 10.0}))
    assert group_key(a.replace(**{"model.arch": "rbm"})) is None
    with pytest.raises(ConfigError, match="differ in model.g and model.seed only"):
        train_ensemble([a, a.replace(**{"training.k": 0.1})])
    with pytest.raises(ConfigError, match="one run directory and one dataset per config"):
        train_ensemble([a, b], [None])


def test_the_epoch_permutation_is_kept_between_steps():
    cache = {}
    for step in range(0, 40):
        np.testing.assert_array_equal(batch_indices(100, 30, 7, step, cache), batch_indices(100, 30, 7, step))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_on_numpy_a_member_is_its_run_alone_to_the_bit(dtype):
    """With BLAS on one thread (as in Dask workers), NumPy's batched matmul of an ensemble runs the same GEMM
    per member as the single model's matmul: the numbers agree to the bit, in float32 too. The sweep tests
    that compare grouped sweeps to the bit with points run alone rest on this."""
    from threadpoolctl import threadpool_limits

    cfgs = configs("deep", **{"backend.dtype": dtype})
    with threadpool_limits(1):
        got = train_ensemble(cfgs)
        ref = [train(c, progress=False) for c in cfgs]
    for a, b in zip(got, ref):
        for k, v in b.model.params.items():
            assert np.array_equal(a.model.params[k], v), k
        for k in b.history:
            np.testing.assert_array_equal(a.history[k], b.history[k])
