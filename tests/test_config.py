"""RunConfig: TOML round trip, overrides, clear errors."""
import numpy as np
import pytest

from chaossim.config import RunConfig, resolve_key
from chaossim.errors import ConfigError


def test_toml_round_trip_and_defaults_are_the_papers():
    cfg = RunConfig()
    assert RunConfig.from_toml(cfg.to_toml()) == cfg
    assert RunConfig.from_toml(cfg.resolved().to_toml()) == cfg.resolved()
    assert (cfg.dynamics.dt, cfg.dynamics.tau, cfg.dynamics.T, cfg.model.g, cfg.resolved().training.k,
            cfg.training.batch_size, cfg.model.n_hidden, cfg.model.n_hidden2) == \
        (1.0, 10.0, 100.0, 1.5, 0.01, 500, 500, 100)


def test_learning_rate_unset_takes_the_default_of_the_architecture():
    from chaossim.archs import lookup

    assert RunConfig().training.k is None and "k =" not in RunConfig().to_toml()
    for arch, k in (("unrestricted", 0.01), ("restricted", 0.01), ("deep", 0.01), ("rbm", 0.003)):
        cfg = RunConfig().replace(**{"model.arch": arch})
        assert cfg.resolved().training.k == k == lookup(arch).default_k  # the paper's 0.01; the RBM's own
        assert "k = " in cfg.resolved().to_toml()  # a run's config.toml holds the k it used
    given = RunConfig().replace(**{"model.arch": "rbm", "training.k": 0.3})
    assert given.resolved().training.k == 0.3  # a given k is kept, whatever the architecture
    assert RunConfig.from_toml("[training]\nk = 1\n").training.k == 1.0
    with pytest.raises(ConfigError, match="training.k"):
        RunConfig.from_toml("[training]\nk = -0.1\n")


def test_replace_by_dotted_and_bare_names():
    cfg = RunConfig().replace(**{"model.g": 2.0, "T": 50, "data.value_range": [0, 255]})
    assert cfg.model.g == 2.0 and cfg.dynamics.T == 50.0 and cfg.data.value_range == (0.0, 255.0)
    assert RunConfig.from_toml(cfg.to_toml()) == cfg
    assert resolve_key("g") == ("model", "g")
    with pytest.raises(ConfigError, match="ambiguous"):
        resolve_key("name")
    with pytest.raises(ConfigError, match="unknown setting"):
        RunConfig().replace(**{"model.gain": 1.0})


@pytest.mark.parametrize("text, match", [
    ("[model]\narch = 'lstm'", "arch"),
    ("[model]\nn_hidden = 0", "positive integer"),
    ("[dynamics]\ntau = -1.0", "tau"),
    ("[dynamics]\nT = 10.5", "multiple of dt"),
    ("[training]\nk = 'fast'", "type"),
    ("[data]\nvalue_range = [0]", "value_range"),
    ("[oops]\nx = 1", "unknown config section"),
    ("[model\n", "invalid TOML"),
])
def test_bad_configs_are_refused_clearly(text, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_toml(text)


def test_user_array_dataset_through_the_config(tmp_path):
    from chaossim.runs.build import load_data

    x = np.random.default_rng(0).integers(0, 256, size=(50, 12)).astype(np.uint8)
    np.save(tmp_path / "mine.npy", x)
    cfg = RunConfig().replace(**{"data.name": str(tmp_path / "mine.npy"), "data.value_range": [0, 255]})
    data = load_data(cfg)
    assert data.train.shape[1] == 12 and data.train.min() >= -1 and data.train.max() <= 1
