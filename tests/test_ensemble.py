"""Ensembles: member r must be the single model with (g_r, seed_r), in every operation."""
import numpy as np
import pytest

from chaossim.ensemble import Ensemble
from chaossim.errors import ConfigError, DataError
from chaossim.models import Deep, Restricted, Unrestricted

ARCHS = [("unrestricted", Unrestricted, (9,)), ("restricted", Restricted, (9, 6)), ("deep", Deep, (9, 6, 4))]
GS, SEEDS = [0.8, 1.5, 2.5], [3, 11, 3]


def _singles(cls, sizes, dtype, **kw):
    return [cls(*sizes, g=g, seed=s, dtype=dtype, **kw) for g, s in zip(GS, SEEDS)]


def _unit(rng, shape, dtype="float64"):
    return np.tanh(rng.normal(size=shape)).astype(dtype)


@pytest.mark.parametrize("arch,cls,sizes", ARCHS)
def test_members_are_the_single_models_run_float64(arch, cls, sizes):
    ens = Ensemble(arch, sizes, GS, SEEDS, dtype="float64")
    singles = _singles(cls, sizes, "float64")
    for name in singles[0].params:  # fixed couplings drawn exactly as the single model draws them
        for r, m in enumerate(singles):
            assert np.array_equal(ens.params[name][r], m.params[name])
    rng = np.random.default_rng(0)
    # non-zero trained parameters so that every coupling term matters
    new = {k: rng.normal(scale=0.3, size=v.shape) for k, v in ens.params.items()}
    ens.params = new
    for r, m in enumerate(singles):
        m.params = {k: v[r] for k, v in new.items()}
    state = {n: rng.normal(size=(len(GS), 5, s)) for n, s in ens.sizes.items()}
    final, traj = ens.run(state, 12, record=[0, 4, 12])
    for r, m in enumerate(singles):
        ref_final, ref_traj = m.run({n: x[r] for n, x in state.items()}, 12, record=[0, 4, 12])
        for n in state:
            np.testing.assert_allclose(final[n][r], ref_final[n], rtol=0, atol=1e-12)
            np.testing.assert_allclose(traj[n][r], ref_traj[n], rtol=0, atol=1e-12)
    assert traj["v"].shape == (len(GS), 3, 5, sizes[0])


@pytest.mark.parametrize("arch,cls,sizes", ARCHS)
def test_members_are_the_single_models_train_float64(arch, cls, sizes):
    """Three training steps with initial states drawn from the members' generators (init=None): the
    ensemble must consume each generator exactly as the single model does."""
    ens = Ensemble(arch, sizes, GS, SEEDS, dtype="float64")
    singles = _singles(cls, sizes, "float64")
    rng = np.random.default_rng(1)
    for _ in range(3):
        batches = _unit(rng, (len(GS), 7, sizes[0]))
        deltas = ens.train_step(batches, T=6, k=0.2)
        for r, m in enumerate(singles):
            ref = m.train_step(batches[r], T=6, k=0.2)
            for name in ref:
                np.testing.assert_allclose(deltas[name][r], ref[name], rtol=0, atol=1e-12)
    for r, m in enumerate(singles):
        for name in m.params:
            np.testing.assert_allclose(ens.params[name][r], m.params[name], rtol=0, atol=1e-12)
            assert ens.params[name].shape == (len(GS),) + m.params[name].shape
    assert float(np.abs(ens.params[singles[0].trained[0].name]).max()) > 0  # training did something


@pytest.mark.parametrize("arch,cls,sizes", ARCHS)
def test_given_init_and_shared_batch(arch, cls, sizes):
    ens = Ensemble(arch, sizes, GS, SEEDS, dtype="float64")
    singles = _singles(cls, sizes, "float64")
    rng = np.random.default_rng(2)
    batch = _unit(rng, (5, sizes[0]))  # one (M, Nv) batch shared by all members
    hidden = [n for n in ens.sizes if n != "v"]
    init = {"free": {n: rng.normal(size=(3, 5, s)) for n, s in ens.sizes.items()},
            "clamped": {n: rng.normal(size=(3, 5, ens.sizes[n])) for n in hidden}}
    ens.train_step(batch, T=4, init=init)
    for r, m in enumerate(singles):
        m.train_step(batch, T=4, init={g: {n: x[r] for n, x in d.items()} for g, d in init.items()})
        for name in m.params:
            np.testing.assert_allclose(ens.params[name][r], m.params[name], rtol=0, atol=1e-12)


@pytest.mark.parametrize("arch,cls,sizes", ARCHS)
def test_float32_agrees_with_single_models(arch, cls, sizes):
    ens = Ensemble(arch, sizes, GS, SEEDS)
    singles = _singles(cls, sizes, "float32")
    rng = np.random.default_rng(3)
    for _ in range(2):
        batches = _unit(rng, (3, 8, sizes[0]), "float32")
        ens.train_step(batches, T=10)
        for r, m in enumerate(singles):
            m.train_step(batches[r], T=10)
    for r, m in enumerate(singles):
        for name in m.params:
            assert ens.params[name].dtype == np.float32
            np.testing.assert_allclose(ens.params[name][r], m.params[name], rtol=1e-5, atol=1e-6)


def test_generate_matches_members_and_shapes():
    ens = Ensemble("restricted", (9, 6), GS, SEEDS, dtype="float64")
    singles = _singles(Restricted, (9, 6), "float64")
    out = ens.generate(4, [0, 3, 5])
    assert out.shape == (3, 3, 4, 9)
    for r, m in enumerate(singles):
        np.testing.assert_allclose(out[r], m.generate(4, [0, 3, 5]), rtol=0, atol=1e-12)
    assert ens.generate(2, 3).shape == (3, 2, 9)


def test_from_models_and_members_roundtrip():
    singles = _singles(Deep, (9, 6, 4), "float64")
    rng = np.random.default_rng(4)
    for m in singles:
        m.params = {"A1": rng.normal(size=(9, 6)), "c": rng.normal(size=6)}
    ens = Ensemble.from_models(singles)
    assert len(ens) == 3 and ens.gs == tuple(GS) and ens.seeds == tuple(SEEDS)
    back = ens.members()
    for m, b in zip(singles, back):
        assert type(b) is Deep and (b.g, b.seed) == (m.g, m.seed)
        for name in m.params:
            assert np.array_equal(b.params[name], m.params[name])
    back[0].params["A1"][...] = 7.0  # members hold copies
    assert not np.any(ens.params["A1"][0] == 7.0)


def test_scalar_g_or_seed_broadcast():
    ens = Ensemble("unrestricted", (5,), 1.5, [0, 1])
    assert ens.gs == (1.5, 1.5) and ens.seeds == (0, 1)


def test_errors():
    with pytest.raises(ConfigError, match="same length"):
        Ensemble("restricted", (9, 6), [1.0, 1.5], [0, 1, 2])
    with pytest.raises(ConfigError, match="at least one"):
        Ensemble("restricted", (9, 6), [], [])
    with pytest.raises(ConfigError, match="unknown architecture"):
        Ensemble("bogus", (9,), [1.0], [0])
    with pytest.raises(ConfigError, match="sizes"):
        Ensemble("deep", (9, 6), [1.0], [0])
    with pytest.raises(DataError, match="share architecture and shapes"):
        Ensemble.from_models([Restricted(9, 6), Restricted(9, 5)])
    with pytest.raises(DataError, match="share architecture and shapes"):
        Ensemble.from_models([Restricted(9, 6), Unrestricted(9)])
    with pytest.raises(DataError, match="dt and tau"):
        Ensemble.from_models([Restricted(9, 6), Restricted(9, 6, dt=0.5)])
    with pytest.raises(DataError, match="float64"):
        Ensemble.from_models([Restricted(9, 6), Restricted(9, 6, dtype="float64")])
    with pytest.raises(ConfigError):
        Ensemble.from_models([])
    ens = Ensemble("restricted", (9, 6), [1.0, 1.5], [0, 1])
    with pytest.raises(DataError, match="R=2"):
        ens.run({"v": np.zeros((3, 4, 9)), "h": np.zeros((3, 4, 6))}, 2)
    with pytest.raises(DataError, match="6 units"):
        ens.run({"v": np.zeros((2, 4, 9)), "h": np.zeros((2, 4, 5))}, 2)
    with pytest.raises(DataError, match="batch"):
        ens.run({"v": np.zeros((2, 4, 9)), "h": np.zeros((2, 3, 6))}, 2)
    with pytest.raises(DataError, match="exactly"):
        ens.run({"v": np.zeros((2, 4, 9))}, 2)
    with pytest.raises(DataError, match="columns"):
        ens.train_step(np.zeros((2, 4, 8)))
    with pytest.raises(DataError, match=r"\[-1, 1\]"):
        ens.train_step(np.full((2, 4, 9), 3.0))
