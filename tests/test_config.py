"""RunConfig: TOML round trip, overrides, clear errors."""
import numpy as np
import pytest

from chaossim.config import RunConfig, resolve_key
from chaossim.errors import ConfigError


def test_toml_round_trip_and_defaults_are_the_papers():
    cfg = RunConfig()
    assert RunConfig.from_toml(cfg.to_toml()) == cfg
    assert (cfg.dynamics.dt, cfg.dynamics.tau, cfg.dynamics.T, cfg.model.g, cfg.training.k,
            cfg.training.batch_size, cfg.model.n_hidden, cfg.model.n_hidden2) == \
        (1.0, 10.0, 100.0, 1.5, 0.01, 500, 500, 100)


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
    from chaossim.training import load_data

    x = np.random.default_rng(0).integers(0, 256, size=(50, 12)).astype(np.uint8)
    np.save(tmp_path / "mine.npy", x)
    cfg = RunConfig().replace(**{"data.name": str(tmp_path / "mine.npy"), "data.value_range": [0, 255]})
    data = load_data(cfg)
    assert data.train.shape[1] == 12 and data.train.min() >= -1 and data.train.max() <= 1
