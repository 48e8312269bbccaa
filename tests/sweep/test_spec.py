"""Sweep spec parsing and validation."""
from pathlib import Path

import pytest

from chaossim.errors import ConfigError
from chaossim.sweep.spec import load_spec, parse_spec

from .conftest import tiny_text

ROOT = Path(__file__).resolve().parents[2]


def test_grid_dims_order_and_point_configs():
    spec = parse_spec(tiny_text(g="[0.5, 1.0, 1.5]", T="[10, 20.0]", extra_grid='seed = [3, 4]'))
    assert spec.dims == ("g", "T", "seed")
    assert spec.shape == (3, 2, 2) and spec.n_points == 12
    # C order over the grid, in the order the grid lists the settings
    assert spec.point_values(0) == {"g": 0.5, "T": 10.0, "seed": 3}
    assert spec.point_values(1) == {"g": 0.5, "T": 10.0, "seed": 4}
    assert spec.point_values(2) == {"g": 0.5, "T": 20.0, "seed": 3}
    assert spec.point_values(11) == {"g": 1.5, "T": 20.0, "seed": 4}
    cfg = spec.config(7)  # (1, 1, 1)
    assert (cfg.model.g, cfg.dynamics.T, cfg.model.seed) == (1.0, 20.0, 4)
    assert isinstance(cfg.dynamics.T, float)  # ints in a float grid become floats
    assert cfg.model.n_hidden == 8 and cfg.training.k == 0.1  # fixed settings
    keys = {spec.point_key(i) for i in range(spec.n_points)}
    assert len(keys) == 12 and all("/" not in k and " " not in k for k in keys)


def test_dotted_keys_strings_and_dataset_alias():
    text = tiny_text(extra_grid='"model.arch" = ["restricted", "deep"]\ndataset = ["digits"]')
    text = text.replace('arch = "restricted"\n', "")
    spec = parse_spec(text)
    assert spec.dims == ("g", "T", "arch", "dataset")
    assert spec.grid[3].key == "data.name"
    assert spec.config(spec.n_points - 1).model.arch == "deep"
    spec2 = parse_spec(tiny_text(extra_grid='"data.name" = ["digits"]'))
    assert spec2.dims[-1] == "dataset"


def test_shipped_specs_parse():
    qs = load_spec(ROOT / "sweeps" / "quickstart.toml")
    assert qs.dims[:2] == ("g", "T") and qs.base.data.name == "digits" and qs.n_points == 12
    paper = load_spec(ROOT / "sweeps" / "paper.toml")
    assert set(paper.dims) == {"dataset", "arch"}
    cfg = paper.config(0)
    assert (cfg.model.n_hidden, cfg.model.n_hidden2, cfg.dynamics.dt, cfg.dynamics.tau, cfg.dynamics.T) == \
        (500, 100, 1.0, 10.0, 100.0)
    assert (cfg.model.g, cfg.training.k, cfg.training.batch_size, cfg.training.n_eval, cfg.training.steps) == \
        (1.5, 0.01, 500, 10000, 300000)


@pytest.mark.parametrize("grid, fragment", [
    ("g = []", "empty list"),
    ("g = [1.0, 1.0]", "more than once"),
    ("nonsense = [1]", "unknown"),
    ("name = ['a']", "ambiguous"),
    ("g = [1.0, 'x']", "model.g is a number"),
    ("dataset = ['digits', 1]", "mixes value types"),
    ("n_hidden = [4]\n", "both on the grid and fixed"),
    ('g = [1.0]\n"model.g" = [2.0]', "twice"),
    ('"backend.name" = ["numpy"]', "--backend"),
])
def test_bad_grids_are_refused(grid, fragment):
    text = tiny_text().replace("g = [1.0, 2.0]\nT = [10.0, 20.0]", grid)
    with pytest.raises(ConfigError, match=fragment):
        parse_spec(text)


def test_invalid_point_is_named():
    with pytest.raises(ConfigError, match=r"grid point 1 \(g=-1.0, T=10.0\)"):
        parse_spec(tiny_text(g="[1.0, -1.0]", T="[10.0]"))
    # dt/tau > 1 is refused for the point unless backend.force
    with pytest.raises(ConfigError, match=r"grid point 1 .*tau=0.5.*dt/tau"):
        parse_spec(tiny_text(g="[1.0]", T="[10.0]", dynamics="", extra_grid="tau = [10.0, 0.5]"))
    parse_spec(tiny_text(g="[1.0]", T="[10.0]", dynamics="", extra_grid="tau = [10.0, 0.5]", backend="force = true"))
    # recorded times must be multiples of every point's dt
    with pytest.raises(ConfigError, match="grid point 1 .*dt=2.0.*multiple"):
        parse_spec(tiny_text(g="[1.0]", T="[10.0]", extra_grid="dt = [1.0, 2.0]").replace("dt = 1.0\n", ""))


@pytest.mark.parametrize("mutate, fragment", [
    (lambda t: t + "\n[extra]\nx = 1\n", "unknown table"),
    (lambda t: t.replace("n_samples = 3", "n_samples = 3\nfoo = 1"), r"unknown key\(s\) \['foo'\] in \[record\]"),
    (lambda t: t.replace("times = [0, 10, 20]", "times = []"), "at least one"),
    (lambda t: t.replace("times = [0, 10, 20]", "times = [0, 10, 10]"), "duplicates"),
    (lambda t: t.replace("trajectory_every = 5", "trajectory_every = 0"), "positive integer"),
    (lambda t: t.replace('name = "tiny"', 'name = "a b/c"'), "letters, digits"),
    (lambda t: t.replace("k = 0.1", "k = -1.0"), "training.k"),
    (lambda t: t.replace("n_hidden = 8", "n_hiden = 8"), "n_hiden"),
    (lambda t: t.replace("[grid]", "[grid"), "not valid TOML"),
])
def test_bad_specs_are_refused(mutate, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_spec(mutate(tiny_text()))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")


def test_identity_ignores_comments_and_backend_name():
    a = parse_spec(tiny_text())
    b = parse_spec("# a comment\n" + tiny_text(backend='name = "auto"'))
    assert a.fingerprint() == b.fingerprint()
    c = parse_spec(tiny_text(g="[1.0, 2.5]"))
    assert c.fingerprint() != a.fingerprint()


def test_trajectory_times():
    spec = parse_spec(tiny_text())
    assert spec.record.trajectory_times(1.0) == (0.0, 5.0, 10.0, 15.0, 20.0)
    assert spec.record.trajectory_times(0.5) == (0.0, 2.5, 5.0, 7.5, 10.0, 12.5, 15.0, 17.5, 20.0)


@pytest.mark.parametrize("grid, fixed", [
    ('"model.g" = ["0.8", "2.0"]', '"model.g" = [0.8, 2.0]'),
    ('g = ["0.8", 2.0]', "g = [0.8, 2.0]"),
    ('seed = ["1", "2"]', "seed = [1, 2]"),
])
def test_text_for_a_number_is_refused_in_one_line(grid, fixed):
    """Issue 22: "0.8" on the grid made a text g axis (ds.sel(g=0.8) found nothing); it is refused, as
    --set refuses text for a number, with the line to write instead."""
    text = tiny_text(g="[1.0]", T="[10.0]").replace("g = [1.0]\n", grid + "\n")
    with pytest.raises(ConfigError) as e:
        parse_spec(text)
    message = str(e.value)
    assert "\n" not in message and ("is a number" in message or "is an integer" in message)
    assert message.endswith(f"write the numbers without quotes: {fixed}.")
    fixed_spec = parse_spec(text.replace(grid, fixed))  # the suggested line is valid TOML for the same grid
    assert all(isinstance(v, (int, float)) for d in fixed_spec.grid for v in d.values)


def test_a_boolean_for_a_number_is_refused():
    with pytest.raises(ConfigError, match=r"model.g is a number, got true"):
        parse_spec(tiny_text(g="[true, false]", T="[10.0]"))


def test_the_quickstart_evaluates_on_the_points_it_holds_out():
    """Issue 22: the quickstart asked for n_eval = 360 of 359 held-out digits and warned about itself."""
    import warnings

    from chaossim.errors import ChaossimWarning
    from chaossim.runs.build import load_data
    from chaossim.runs.training import train

    qs = load_spec(ROOT / "sweeps" / "quickstart.toml")
    cfg = qs.config(0)
    assert cfg.training.n_eval == len(load_data(cfg).test)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChaossimWarning)
        train(cfg.replace(**{"training.steps": 1, "model.n_hidden": 4}), None, progress=False)
