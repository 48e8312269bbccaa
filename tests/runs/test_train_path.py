"""Which implementation trains (chaossim.runs.train_path), what meta.json and the result say about it, and the
settings that choose it (backend.trainer, backend.tf32)."""
import json

import numpy as np
import pytest

from chaossim.config import RunConfig
from chaossim.ensemble import Ensemble
from chaossim.errors import ConfigError
from chaossim.models import Restricted
from chaossim.rbm import RBM
from chaossim.runs.train_path import choose_trainer
from chaossim.runs.training import train

SMALL = {"model.n_hidden": 12, "training.steps": 8, "training.batch_size": 40, "training.log_every": 4,
         "training.checkpoint_every": 4, "training.n_eval": 60, "dynamics.T": 8.0, "training.k": 0.05}


def backend(**kw):
    return RunConfig().replace(**{f"backend.{k}": v for k, v in kw.items()}).backend


@pytest.mark.parametrize("model", [Restricted(10, 4), Ensemble("deep", (10, 4, 3), [1.0, 2.0], [0, 1])])
def test_on_numpy_auto_is_the_engine_and_fused_is_the_host_emulator(model):
    auto = choose_trainer(model, backend())
    assert auto.name == "engine" and "off the GPU" in auto.why and auto.meta()["tf32"] is False
    assert choose_trainer(model, backend(trainer="engine")).why == "backend.trainer = 'engine'"
    fused = choose_trainer(model, backend(trainer="fused"))
    assert fused.name == "fused-host" and fused.trainer.ops.n_streams == 2
    tf32 = choose_trainer(model, backend(tf32=True))
    assert tf32.name == "engine" and "backend.tf32 has no effect" in tf32.why and tf32.meta()["tf32"] is False
    assert choose_trainer(model, backend()).meta(group_size=4)["group_size"] == 4


def test_rbm_trains_with_its_own_sampler():
    rbm = RBM(10, 4)
    path = choose_trainer(rbm, backend())
    assert path.name == "engine" and "does not apply" in path.why
    with pytest.raises(ConfigError, match="backend.trainer = 'fused' but the fused training schedule cannot"):
        choose_trainer(rbm, backend(trainer="fused"))


def test_settings_are_checked_and_flow_through_toml():
    with pytest.raises(ConfigError, match="backend.trainer must be one of"):
        backend(trainer="fast")
    with pytest.raises(ConfigError, match="backend.tf32 = true applies to float32 only"):
        RunConfig().replace(**{"backend.dtype": "float64", "backend.tf32": True})
    with pytest.raises(ConfigError, match="backend.tf32 must be of type"):
        RunConfig.from_toml('[backend]\ntf32 = "yes"\n')
    cfg = RunConfig().replace(**{"backend.trainer": "engine", "backend.tf32": True})
    assert RunConfig.from_toml(cfg.to_toml()) == cfg
    assert RunConfig.from_toml("[backend]\nname = 'numpy'\n").backend.trainer == "auto"  # older config.toml files


def test_train_records_its_path_and_the_fused_schedule_equals_the_engine(tmp_path):
    """float64: the fused schedule (its host executor, the GPU path's reference) and the engine through the
    whole training loop; meta.json and the result name the path that ran."""
    cfg = RunConfig().replace(**{**SMALL, "backend.dtype": "float64"})
    eng = train(cfg, tmp_path / "e", progress=False)
    fus = train(cfg.replace(**{"backend.trainer": "fused"}), tmp_path / "f", progress=False)
    assert (eng.train_path, fus.train_path) == ("engine", "fused-host")
    for k, v in eng.model.params.items():
        np.testing.assert_allclose(fus.model.params[k], v, rtol=0, atol=1e-10, err_msg=k)
    for k in eng.history:
        np.testing.assert_allclose(fus.history[k], eng.history[k], rtol=0, atol=1e-10)
    for d, path in ((tmp_path / "e", "engine"), (tmp_path / "f", "fused-host")):
        meta = json.loads((d / "meta.json").read_text())
        assert meta["train_path"] == path and meta["group_size"] == 1 and meta["tf32"] is False
        assert meta["train_path_reason"]


def test_a_run_can_switch_path_on_resume_only_with_its_config(tmp_path):
    """backend.trainer is part of the run's config: a resume keeps it (the CLI refuses changes)."""
    from chaossim.errors import StoreError

    cfg = RunConfig().replace(**SMALL)
    train(cfg, tmp_path / "r", progress=False, stop_after=4)
    with pytest.raises(StoreError, match="backend.trainer"):
        train(cfg.replace(**{"backend.trainer": "fused"}), tmp_path / "r", resume=True, progress=False)


@pytest.mark.gpu
@pytest.mark.parametrize("ensemble", [False, True])
def test_cupy_trains_with_the_fused_graph_step(ensemble, tmp_path):
    """On a GPU: train and train_ensemble take the fused CUDA-graph step; float64 against the engine on
    CuPy, and the recorded path."""
    from chaossim.runs.ensemble_training import train_ensemble

    cfg = RunConfig().replace(**{**SMALL, "backend.name": "cupy", "backend.dtype": "float64"})
    cfgs = [cfg.replace(**{"model.g": g, "model.seed": s}) for g, s in ((1.0, 0), (2.0, 1))]
    if ensemble:
        fast = train_ensemble(cfgs, [tmp_path / "a", tmp_path / "b"])
        slow = train_ensemble([c.replace(**{"backend.trainer": "engine"}) for c in cfgs])
    else:
        fast = [train(cfgs[0], tmp_path / "a", progress=False)]
        slow = [train(cfgs[0].replace(**{"backend.trainer": "engine"}), progress=False)]
    for f, s in zip(fast, slow):
        assert f.train_path == "fused-graph" and s.train_path == "engine"
        for k in s.model.params:
            np.testing.assert_allclose(f.model.params[k].get(), s.model.params[k].get(), rtol=0, atol=1e-9)
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["train_path"] == "fused-graph" and meta["group_size"] == (2 if ensemble else 1)
