"""The architecture registry (chaossim.archs): the built-ins described once, an architecture from a user's file found by
import path, and everything that reads the registry (config, build, ensembles, grouping, the store's dimensions,
the run's size line, the fused schedule) following it."""

from __future__ import annotations

import math
import sys
import textwrap

import numpy as np
import pytest

from chaossim import archs
from chaossim.archs import Architecture, Coupling, Layer, Trained, lookup
from chaossim.backend import to_numpy
from chaossim.config import RunConfig, probe_steps
from chaossim.ensemble import Ensemble
from chaossim.errors import ConfigError
from chaossim.kernels import HostOps, ScheduledTrainer
from chaossim.models import Deep, Network, Restricted, Unrestricted
from chaossim.rbm import RBM
from chaossim.runs.build import build_model
from chaossim.runs.progress import describe_size
from chaossim.sweep.groups import member_bytes, step_flops
from chaossim.sweep.store import param_dims

USER = '''
from chaossim.archs import Architecture, Coupling, Layer, Trained
from chaossim.models import Network

class Ring3(Network):
    """Three layers in a ring, the couplings of each pair trained independently in each direction."""
    architecture = Architecture(
        display="Ring3",
        layers=(Layer("v", "b", dim="feature"), Layer("x", "c", "n_x", "n_hidden", "hid_x"),
                Layer("y", "d", "n_y", "n_hidden2", "hid_y")),
        couplings=(Coupling("x", "v", "F1", "T1"), Coupling("y", "x", "F2", "T2"), Coupling("v", "y", "F3", "T3")),
        trained=(Trained("T1", "x", "v"), Trained("T2", "y", "x"), Trained("T3", "v", "y")),
        default_k=0.02,
    )

BARE = Architecture(display="Bare", layers=(Layer("v", "b"),), couplings=(Coupling("v", "v", "J", "A"),),
                    trained=(Trained("A", "v", "v"),))
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A user's file in the current folder (not on the Python path): ``usr_ring3.py``."""
    (tmp_path / "usr_ring3.py").write_text(textwrap.dedent(USER))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    sys.modules.pop("usr_ring3", None)
    monkeypatch.setattr(archs, "_REGISTRY", dict(archs._REGISTRY))
    yield "usr_ring3:Ring3"
    sys.modules.pop("usr_ring3", None)


def test_built_ins_are_the_models_tables():
    for cls, sizes, arch in ((Unrestricted, (5,), archs.UNRESTRICTED), (Restricted, (5, 3), archs.RESTRICTED),
                             (Deep, (5, 3, 2), archs.DEEP)):
        m = cls(*sizes)
        assert m.architecture is arch and cls.arch == m.arch == arch.name and lookup(arch.name) is arch
        assert set(m.params) == set(arch.param_layers())
        for name, axes in arch.param_layers().items():
            assert m.params[name].shape == tuple(m.sizes[a] for a in axes)
    assert lookup("rbm").model_class() is RBM and not lookup("rbm").dynamics and lookup("rbm").default_k == 0.003
    assert archs.names()[:4] == ("unrestricted", "restricted", "deep", "rbm")


@pytest.mark.parametrize("kwargs, match", [
    (dict(layers=(Layer("v", "b"), Layer("v", "c", "n", "n_hidden"))), "repeats a layer name"),
    (dict(layers=(Layer("v", "b", setting="n_hidden"),)), "first layer is the visible one"),
    (dict(layers=(Layer("v", "b"), Layer("h", "c", "n", "n_hidden")), couplings=(Coupling("v", "q", "W", "A"),),
          trained=(Trained("A", "v", "h"),)), "unknown layers"),
    (dict(layers=(Layer("v", "b"), Layer("h", "c", "n", "n_hidden")), couplings=(Coupling("h", "v", "W", "A"),),
          trained=(Trained("A", "v", "h"),)), "transpose=True"),
    (dict(layers=(Layer("v", "b"), Layer("h", "c", "n", "n_hidden")), couplings=(Coupling("v", "h", "W", "B"),),
          trained=(Trained("A", "v", "h"),)), "not a trained matrix"),
    (dict(layers=(Layer("v", "b"), Layer("h", "b", "n", "n_hidden")), couplings=(Coupling("v", "h", "W", "A"),),
          trained=(Trained("A", "v", "h"),)), "repeats a parameter name"),
])
def test_bad_descriptions_are_refused_in_one_line(kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        Architecture(display="bad", **kwargs)
    assert "\n" not in str(err.value)


def test_names_that_lead_nowhere_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, match in (("chain", "one of .*import path"), ("no_such_mod_xyz:Chain4", "no no_such_mod_xyz.py"),
                        ("math:pi", "not an architecture"), ("math:nothing", "has no 'nothing'"),
                        (":X", "module:attribute")):
        with pytest.raises(ConfigError, match=match):
            lookup(name)
        with pytest.raises(ConfigError):
            RunConfig().replace(**{"model.arch": name})
    with pytest.raises(ConfigError, match="needs an architecture"):
        Network(4)
    with pytest.raises(ConfigError, match="takes the sizes"):
        Restricted(4, 3, 2)
    with pytest.raises(ConfigError, match="missing"):
        Restricted(4)


def test_a_user_architecture_from_its_file(user_module):
    arch = lookup(user_module)
    assert arch.name == arch.model == user_module and arch.display == "Ring3" and arch.default_k == 0.02
    cfg = RunConfig().replace(**{"model.arch": user_module, "model.n_hidden": 4, "model.n_hidden2": 3})
    assert cfg.resolved().training.k == 0.02
    model = build_model(cfg, 6)
    assert type(model).__name__ == "Ring3" and model.arch == user_module and model.sizes == {"v": 6, "x": 4, "y": 3}
    assert model.describe()["arch"] == user_module and set(model.params) == {"F1", "F2", "F3", "T1", "T2", "T3",
                                                                             "b", "c", "d"}
    assert param_dims(model)["T2"] == ("hid_y", "hid_x") and param_dims(model)["F3"] == ("feature", "hid_y")
    assert probe_steps(cfg.replace(**{"training.chaos_every": 500})) == [0, 500, 1000]
    assert "(v=6, x=4, y=3)" in describe_size(cfg.resolved(), model, 100)
    # grouping's cost: couplings x <- v, y <- x, v <- y
    assert step_flops(cfg, 6) == 2 * 500 * (4 * 6 + 3 * 4 + 6 * 3)
    assert member_bytes(cfg, 6) == 4 * (6 * 500 * 13 + 5 * (24 + 12 + 18) + 4 * 13)
    bare = lookup("usr_ring3:BARE")
    assert type(bare.model_class()(4, arch=bare)) is Network and bare.name == "usr_ring3:BARE"


def test_a_user_architecture_follows_its_equations(user_module, rng):
    """One Euler step of the ring, written out from its couplings (float64)."""
    m = lookup(user_module).model_class()(5, 4, 3, g=1.3, seed=2, dtype="float64")
    for k in ("T1", "T2", "T3", "b", "c", "d"):
        m.params[k] = rng.normal(0, 0.3, m.params[k].shape)
    p = {k: to_numpy(v) for k, v in m.params.items()}
    s = {n: rng.normal(size=(2, m.sizes[n])) for n in m.sizes}
    a = 0.1
    pre = {"x": ("v", "F1", "T1", "c"), "y": ("x", "F2", "T2", "d"), "v": ("y", "F3", "T3", "b")}
    out = m.run(s, 1)
    for post, (src, fixed, trained, bias) in pre.items():
        drive = np.tanh(s[src]) @ (p[fixed] + p[trained]).T / math.sqrt(m.sizes[src]) + p[bias]
        np.testing.assert_allclose(out[post], s[post] + a * (drive - s[post]), atol=1e-13)


def test_a_user_architecture_as_an_ensemble_and_on_the_fused_schedule(user_module, rng):
    cls = lookup(user_module).model_class()
    ens = Ensemble(user_module, (5, 4, 3), [1.0, 2.0], [0, 1], dtype="float64")
    singles = [cls(5, 4, 3, g=g, seed=s, dtype="float64") for g, s in ((1.0, 0), (2.0, 1))]  # own generators
    batch = np.tanh(rng.normal(size=(6, 5)))
    ens.train_step(batch, T=4.0, k=0.1)
    for m in singles:
        m.train_step(batch, T=4.0, k=0.1)
    for r, m in enumerate(singles):
        for k in m.params:
            np.testing.assert_array_equal(to_numpy(ens.params[k][r]), to_numpy(m.params[k]))
    a, b = cls(5, 4, 3, seed=3, dtype="float64"), cls(5, 4, 3, seed=3, dtype="float64")
    init = {"free": {n: rng.normal(size=(6, s)) for n, s in a.sizes.items()},
            "clamped": {n: rng.normal(size=(6, s)) for n, s in a.sizes.items() if n != "v"}}
    a.train_step(batch, T=4.0, k=0.1, init=init)
    ScheduledTrainer(b, HostOps(np.float64, streams=2)).train_step(batch, T=4.0, k=0.1, init=init)
    for k in a.params:
        np.testing.assert_allclose(to_numpy(b.params[k]), to_numpy(a.params[k]), atol=1e-12)


def test_coupling_gain_scales_the_fixed_variance():
    arch = Architecture(display="gained", layers=(Layer("v", "b"),),
                        couplings=(Coupling("v", "v", "J", "A", gain=4.0),), trained=(Trained("A", "v", "v"),),
                        name="gained-test")
    j = to_numpy(Network(300, arch=arch, g=0.5, seed=1, dtype="float64").params["J"])
    assert abs(j.var() - 2.0) < 5 * 2.0 * math.sqrt(2 / j.size)  # variance gain * g = 2


@pytest.mark.parametrize("couplings, match", [
    ((Coupling("v", "h", "W", "A"), Coupling("h", "v", "Wt", "A", transpose=True, tied="Q")), "tied to 'Q'"),
    ((Coupling("v", "h", "W", "A", tied="Wt"), Coupling("h", "v", "Wt", "A", transpose=True, tied="W")), "tied to"),
])
def test_bad_ties_are_refused_in_one_line(couplings, match):
    with pytest.raises(ConfigError, match=match) as err:
        Architecture(display="bad", layers=(Layer("v", "b"), Layer("h", "c", "n", "n_hidden")), couplings=couplings,
                     trained=(Trained("A", "v", "h"),))
    assert "\n" not in str(err.value)


def test_the_symmetric_control_as_an_ensemble_on_the_fused_schedule_and_from_a_config(rng):
    """restricted-symmetric: a grid value like any architecture; its members, fused steps and configs keep
    Wt = W^T and train as the engine does."""
    sym = lookup("restricted-symmetric")
    assert sym is archs.RESTRICTED_SYMMETRIC and "restricted-symmetric" in archs.names()
    ens = Ensemble("restricted-symmetric", (5, 4), [1.0, 4.0], [0, 1], dtype="float64")
    singles = [sym.model_class()(5, 4, g=g, seed=s, dtype="float64") for g, s in ((1.0, 0), (4.0, 1))]
    batch = np.tanh(rng.normal(size=(6, 5)))
    ens.train_step(batch, T=4.0, k=0.1)
    for r, m in enumerate(singles):
        m.train_step(batch, T=4.0, k=0.1)
        for k in m.params:
            np.testing.assert_array_equal(to_numpy(ens.params[k][r]), to_numpy(m.params[k]))
        np.testing.assert_array_equal(to_numpy(ens.params["Wt"][r]), to_numpy(ens.params["W"][r]).T)
    a, b = (sym.model_class()(5, 4, seed=3, dtype="float64") for _ in range(2))
    init = {"free": {n: rng.normal(size=(6, s)) for n, s in a.sizes.items()}, "clamped": {"h": rng.normal(size=(6, 4))}}
    a.train_step(batch, T=4.0, k=0.1, init=init)
    ScheduledTrainer(b, HostOps(np.float64, streams=2)).train_step(batch, T=4.0, k=0.1, init=init)
    for k in a.params:
        np.testing.assert_allclose(to_numpy(b.params[k]), to_numpy(a.params[k]), atol=1e-12)
    cfg = RunConfig().replace(**{"model.arch": "restricted-symmetric", "model.n_hidden": 4, "model.g": 4.0})
    m = build_model(cfg, 6)
    assert type(m).__name__ == "RestrictedSymmetric" and m.g == 4.0 and cfg.resolved().training.k == 0.01
    np.testing.assert_array_equal(to_numpy(m.params["Wt"]), to_numpy(m.params["W"]).T)
    assert param_dims(m)["Wt"] == ("hidden", "feature")
