"""The training loop: resume to the bit, divergence stop, checkpoints, config handling."""
import numpy as np
import pytest

from chaossim.config import RunConfig
from chaossim.errors import DivergenceError, StoreError
from chaossim.runs.rundir import load_checkpoint, load_run
from chaossim.runs.training import batch_indices, train

SMALL = {"model.n_hidden": 12, "training.steps": 12, "training.batch_size": 40, "training.log_every": 4,
         "training.checkpoint_every": 4, "training.n_eval": 60, "dynamics.T": 8.0, "training.k": 0.05}


@pytest.fixture(scope="module")
def digits():
    from chaossim.data import load_dataset

    return load_dataset("digits", n_train=400, n_test=100)


@pytest.mark.parametrize("arch", ["unrestricted", "restricted", "deep"])
def test_resume_is_bit_exact(arch, digits, tmp_path):
    cfg = RunConfig().replace(**{**SMALL, "model.arch": arch, "model.n_hidden2": 6})
    full = train(cfg, tmp_path / "full", progress=False, dataset=digits)
    part = train(cfg, tmp_path / "part", progress=False, dataset=digits, stop_after=5)
    assert part.step == 5
    assert load_checkpoint(tmp_path / "part")["step"] == 5
    resumed = train(cfg, tmp_path / "part", resume=True, progress=False, dataset=digits)
    assert resumed.step == 12
    for name, value in full.model.params.items():
        assert np.array_equal(value, resumed.model.params[name]), name
    for key in full.history:
        np.testing.assert_array_equal(full.history[key], resumed.history[key])
    # and the stored checkpoint reproduces the model
    _, model, ck = load_run(tmp_path / "part")
    assert ck["step"] == 12
    for name, value in full.model.params.items():
        assert np.array_equal(value, model.params[name]), name


def test_training_changes_trained_params_only(digits):
    cfg = RunConfig().replace(**SMALL)
    fresh = train(cfg.replace(**{"training.steps": 1}), progress=False, dataset=digits).model
    from chaossim.runs.build import build_model

    untrained = build_model(cfg, 64)
    for name in ("W", "Wt"):
        assert np.array_equal(fresh.params[name], untrained.params[name])
    for name in ("A", "b", "c"):
        assert np.any(fresh.params[name] != 0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_stops_and_keeps_last_checkpoint(digits, tmp_path):
    # dt/tau = 3 (forced): the Euler map amplifies by |1 - 3| = 2 per step and overflows.
    cfg = RunConfig().replace(**{**SMALL, "dynamics.dt": 3.0, "dynamics.tau": 1.0, "dynamics.T": 900.0,
                                          "backend.force": True, "training.checkpoint_every": 1})
    with pytest.raises(DivergenceError) as info:
        train(cfg, tmp_path / "r", progress=False, dataset=digits)
    msg = str(info.value)
    assert "diverged at step 0" in msg and "NaN/inf" in msg and "dt/tau=3" in msg and "g=1.5" in msg
    import json

    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    assert meta["status"] == "diverged"
    assert not (tmp_path / "r" / "checkpoint.npz").exists()  # nothing non-finite was ever saved


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_after_good_steps_keeps_good_checkpoint(digits, tmp_path):
    cfg = RunConfig().replace(**{**SMALL, "training.checkpoint_every": 2})
    train(cfg.replace(**{"training.steps": 4}), tmp_path / "r", progress=False, dataset=digits)
    good = load_checkpoint(tmp_path / "r")
    # sabotage the stored model so the next step produces NaN, as an overflowing run would
    from chaossim.io import atomic_savez

    arrays = {"step": np.array(4)}
    arrays.update({f"param/{k}": v for k, v in good["params"].items()})
    arrays["param/b"] = np.full_like(good["params"]["b"], 1e38)
    arrays["param/A"] = np.full_like(good["params"]["A"], 3e38)
    arrays.update({f"history/{k}": v for k, v in good["history"].items()})
    atomic_savez(tmp_path / "r" / "checkpoint.npz", arrays)
    with pytest.raises(DivergenceError, match="step 5"):
        train(cfg, tmp_path / "r", resume=True, progress=False, dataset=digits)
    assert load_checkpoint(tmp_path / "r")["step"] == 4


def test_existing_run_needs_resume_and_same_config(digits, tmp_path):
    cfg = RunConfig().replace(**{**SMALL, "training.steps": 2})
    train(cfg, tmp_path / "r", progress=False, dataset=digits)
    with pytest.raises(StoreError, match="--resume"):
        train(cfg, tmp_path / "r", progress=False, dataset=digits)
    with pytest.raises(StoreError, match="differs"):
        train(cfg.replace(**{"model.g": 2.0}), tmp_path / "r", resume=True, progress=False, dataset=digits)
    # more steps is allowed on resume
    r = train(cfg.replace(**{"training.steps": 4}), tmp_path / "r", resume=True, progress=False, dataset=digits)
    assert r.step == 4


def test_corrupt_checkpoint_is_reported(digits, tmp_path):
    cfg = RunConfig().replace(**{**SMALL, "training.steps": 2})
    train(cfg, tmp_path / "r", progress=False, dataset=digits)
    (tmp_path / "r" / "checkpoint.npz").write_bytes(b"PK\x03\x04 half written")
    with pytest.raises(StoreError, match="corrupt or half-written"):
        train(cfg, tmp_path / "r", resume=True, progress=False, dataset=digits)


def test_no_temporary_files_left(digits, tmp_path):
    cfg = RunConfig().replace(**{**SMALL, "training.steps": 4, "training.snapshot_every": 2})
    train(cfg, tmp_path / "r", progress=False, dataset=digits)
    names = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert names == ["checkpoint.npz", "config.toml", "history.csv", "meta.json", "snapshots"]
    assert sorted(p.name for p in (tmp_path / "r" / "snapshots").iterdir()) == ["step_0000002.npz", "step_0000004.npz"]


def test_batches_cover_each_epoch_once():
    n, m = 100, 30
    seen = np.concatenate([batch_indices(n, m, seed=3, step=s) for s in range(3)])
    assert len(np.unique(seen)) == 90  # 3 batches of one epoch: no repeats
    nxt = batch_indices(n, m, seed=3, step=3)  # a new epoch, new order
    assert not np.array_equal(nxt, batch_indices(n, m, seed=3, step=0))


def test_learning_lowers_indices(digits):
    cfg = RunConfig().replace(**{**SMALL, "training.steps": 150, "training.log_every": 150, "training.n_eval": 100,
                                 "model.n_hidden": 32, "training.batch_size": 100, "dynamics.T": 20.0,
                                 "training.k": 0.1})
    h = train(cfg, progress=False, dataset=digits).history
    assert h["E2"][-1] < 0.6 * h["E2"][0]
    assert h["EAAI"][-1] < h["EAAI"][0] - 0.01
