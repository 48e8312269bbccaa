"""The three architectures against the paper's eqs. (2), (4)-(5), (8)-(10), written out independently in float64."""
import math

import numpy as np
import pytest

import chaossim as cs
from chaossim.backend import to_numpy
from chaossim.errors import ConfigError, DataError

TANH = np.tanh


def _randomise(model, rng, scale=0.3):
    """Nonzero trained parameters and fields, so every term of the equations is exercised."""
    for name, value in model.params.items():
        if name in ("A", "A1", "A2", "b", "c", "d"):
            model.params[name] = rng.normal(0, scale, value.shape)
    return {k: to_numpy(v) for k, v in model.params.items()}


def _euler(x, rhs, a):
    return x + a * (-x + rhs)


def test_unrestricted_one_step_by_hand(rng):
    nv, a = 5, 0.1
    m = cs.Unrestricted(nv, g=1.7, seed=3, dtype="float64", dt=1.0, tau=10.0)
    p = _randomise(m, rng)
    v = rng.normal(size=(3, nv))
    expect = np.empty_like(v)
    for mu in range(3):
        for i in range(nv):
            s = sum((p["J"][i, j] + p["A"][i, j]) * TANH(v[mu, j]) for j in range(nv)) / math.sqrt(nv)
            expect[mu, i] = v[mu, i] + a * (-v[mu, i] + s + p["b"][i])
    got = m.run({"v": v}, 1, 1.0, 10.0)["v"]
    np.testing.assert_allclose(got, expect, rtol=0, atol=1e-13)


def test_restricted_one_step_by_hand(rng):
    nv, nh, a = 4, 3, 0.25
    m = cs.Restricted(nv, nh, g=2.0, seed=1, dtype="float64")
    p = _randomise(m, rng)
    v, h = rng.normal(size=(2, nv)), rng.normal(size=(2, nh))
    ev, eh = np.empty_like(v), np.empty_like(h)
    for mu in range(2):
        for i in range(nv):
            s = sum((p["W"][i, c] + p["A"][i, c]) * TANH(h[mu, c]) for c in range(nh)) / math.sqrt(nh)
            ev[mu, i] = _euler(v[mu, i], s + p["b"][i], a)
        for c in range(nh):
            s = sum((p["Wt"][c, i] + p["A"][i, c]) * TANH(v[mu, i]) for i in range(nv)) / math.sqrt(nv)
            eh[mu, c] = _euler(h[mu, c], s + p["c"][c], a)
    out = m.run({"v": v, "h": h}, 1, 2.5, 10.0)
    np.testing.assert_allclose(out["v"], ev, atol=1e-13)
    np.testing.assert_allclose(out["h"], eh, atol=1e-13)


def test_deep_one_step_by_hand(rng):
    nv, n1, n2, a = 4, 3, 2, 0.5
    m = cs.Deep(nv, n1, n2, g=1.2, seed=2, dtype="float64")
    p = _randomise(m, rng)
    v, h1, h2 = rng.normal(size=(2, nv)), rng.normal(size=(2, n1)), rng.normal(size=(2, n2))
    ev, e1, e2 = np.empty_like(v), np.empty_like(h1), np.empty_like(h2)
    for mu in range(2):
        for i in range(nv):
            s = sum((p["W1"][i, c] + p["A1"][i, c]) * TANH(h1[mu, c]) for c in range(n1)) / math.sqrt(n1)
            ev[mu, i] = _euler(v[mu, i], s + p["b"][i], a)
        for c in range(n1):
            s1 = sum((p["Wt1"][c, i] + p["A1"][i, c]) * TANH(v[mu, i]) for i in range(nv)) / math.sqrt(nv)
            s2 = sum((p["W2"][c, e] + p["A2"][c, e]) * TANH(h2[mu, e]) for e in range(n2)) / math.sqrt(n2)
            e1[mu, c] = _euler(h1[mu, c], s1 + s2 + p["c"][c], a)
        for e in range(n2):
            s = sum((p["Wt2"][e, c] + p["A2"][c, e]) * TANH(h1[mu, c]) for c in range(n1)) / math.sqrt(n1)
            e2[mu, e] = _euler(h2[mu, e], s + p["d"][e], a)
    out = m.run({"v": v, "h1": h1, "h2": h2}, 1, 5.0, 10.0)
    for name, expect in (("v", ev), ("h1", e1), ("h2", e2)):
        np.testing.assert_allclose(out[name], expect, atol=1e-13)


def test_fixed_couplings_have_variance_g_and_trained_start_at_zero():
    g = 2.5
    m = cs.Restricted(400, 300, g=g, seed=0, dtype="float64")
    for name in ("W", "Wt"):
        w = to_numpy(m.params[name])
        # 120 000 Gaussian draws: the sample variance is within ~5 std errors of g.
        assert abs(w.var() - g) < 5 * g * math.sqrt(2 / w.size)
        assert abs(w.mean()) < 5 * math.sqrt(g / w.size)
    assert not np.allclose(to_numpy(m.params["W"]), to_numpy(m.params["Wt"]).T)  # W~ is not W^T
    for name in ("A", "b", "c"):
        assert not np.any(to_numpy(m.params[name]))


def test_restricted_exact_clamped_solution_matches_small_dt_simulation(rng):
    """Paper eq. 7: h(T) = h(0) e^{-T/tau} + u (1 - e^{-T/tau}) with u = Wt-drive of the clamped data + c."""
    nv, nh, tau, T = 6, 5, 10.0, 30.0
    m = cs.Restricted(nv, nh, g=1.5, seed=4, dtype="float64")
    _randomise(m, rng)
    xi = rng.uniform(-1, 1, size=(3, nv))
    h0 = rng.normal(size=(3, nh))
    exact = m.relax_clamped({"v": xi, "h": h0}, {"v": xi}, steps=3, dt=T / 3, tau=tau)["h"]
    errs = []
    for n in (300, 3000, 30000):
        sim = m.run({"v": np.zeros((3, nv)), "h": h0}, n, T / n, tau, clamp={"v": xi})["h"]
        errs.append(np.abs(sim - exact).max())
    assert errs[-1] < 1e-4
    # Euler is first order: the error falls ~10x for a 10x smaller step.
    assert 7 < errs[0] / errs[1] < 13 and 7 < errs[1] / errs[2] < 13


def test_hebbian_update_unrestricted_hand_checked():
    m = cs.Unrestricted(2, g=1.0, seed=0, dtype="float64", dt=1.0, tau=1.0)
    m.params["J"] = np.zeros((2, 2))
    xi = np.array([[1.0, -1.0], [0.5, 0.5]])
    k = 0.1
    # dt = tau and J = A = b = 0: after one step v = 0, so the free term vanishes.
    m.train_step(xi, 1.0, 1.0, T=1.0, k=k, init={"free": {"v": np.ones((2, 2))}})
    np.testing.assert_allclose(to_numpy(m.params["A"]), k * np.array([[0.625, -0.375], [-0.375, 0.625]]), atol=1e-15)
    np.testing.assert_allclose(to_numpy(m.params["b"]), k * np.array([0.75, -0.25]), atol=1e-15)


def test_hebbian_update_restricted_hand_checked():
    m = cs.Restricted(2, 1, g=1.0, seed=0, dtype="float64", dt=1.0, tau=1.0)
    m.params["W"] = np.zeros((2, 1))
    m.params["Wt"] = np.sqrt(2.0) * np.ones((1, 2))  # h drive u = xi_1 + xi_2
    xi = np.array([[0.5, 0.5], [1.0, -1.0]])
    k = 0.2
    init = {"free": {"v": np.ones((2, 2)), "h": np.ones((2, 1))}, "clamped": {"h": np.zeros((2, 1))}}
    # Clamped: T/tau = 40 so h(T) = u = [1, 0] to 1e-17. Free: with W = 0, b = c = 0 and dt = tau,
    # v = 0 after the first step and h = 0 after the second, so the free term vanishes.
    m.train_step(xi, 1.0, 1.0, T=40.0, k=k, init=init)
    t1 = math.tanh(1.0)
    np.testing.assert_allclose(to_numpy(m.params["A"]), k * np.array([[0.25 * t1], [0.25 * t1]]), atol=1e-15)
    np.testing.assert_allclose(to_numpy(m.params["b"]), k * np.array([0.75, -0.25]), atol=1e-15)
    np.testing.assert_allclose(to_numpy(m.params["c"]), k * np.array([0.5 * t1]), atol=1e-15)


def _reference_deltas(arch, p, xi, free0, clamped0, steps, a, T_over_tau, k):
    """A contrastive Hebbian step written directly from the paper's eqs. 3, 6, 11-15, independent of the engine."""
    t = TANH
    def step_free(s):
        if arch == "unrestricted":
            (v,) = s
            return (v + a * (-v + t(v) @ (p["J"] + p["A"]).T / math.sqrt(v.shape[1]) + p["b"]),)
        if arch == "restricted":
            v, h = s
            nv, nh = v.shape[1], h.shape[1]
            return (v + a * (-v + t(h) @ (p["W"] + p["A"]).T / math.sqrt(nh) + p["b"]),
                    h + a * (-h + t(v) @ (p["Wt"] + p["A"].T).T / math.sqrt(nv) + p["c"]))
        v, h1, h2 = s
        nv, n1, n2 = v.shape[1], h1.shape[1], h2.shape[1]
        return (v + a * (-v + t(h1) @ (p["W1"] + p["A1"]).T / math.sqrt(n1) + p["b"]),
                h1 + a * (-h1 + t(v) @ (p["Wt1"] + p["A1"].T).T / math.sqrt(nv)
                          + t(h2) @ (p["W2"] + p["A2"]).T / math.sqrt(n2) + p["c"]),
                h2 + a * (-h2 + t(h1) @ (p["Wt2"] + p["A2"].T).T / math.sqrt(n1) + p["d"]))
    s = free0
    for _ in range(steps):
        s = step_free(s)
    f = [t(x) for x in s]
    M = xi.shape[0]
    if arch == "unrestricted":
        c = [xi]
    elif arch == "restricted":
        u = xi @ (p["Wt"] + p["A"].T).T / math.sqrt(xi.shape[1]) + p["c"]
        e = math.exp(-T_over_tau)
        c = [xi, t(clamped0[0] * e + u * (1 - e))]
    else:
        h1, h2 = clamped0
        for _ in range(steps):
            nv, n1, n2 = xi.shape[1], h1.shape[1], h2.shape[1]
            h1, h2 = (h1 + a * (-h1 + xi @ (p["Wt1"] + p["A1"].T).T / math.sqrt(nv)
                                + t(h2) @ (p["W2"] + p["A2"]).T / math.sqrt(n2) + p["c"]),
                      h2 + a * (-h2 + t(h1) @ (p["Wt2"] + p["A2"].T).T / math.sqrt(n1) + p["d"]))
        c = [xi, t(h1), t(h2)]
    names = {"unrestricted": [("A", 0, 0)], "restricted": [("A", 0, 1)], "deep": [("A1", 0, 1), ("A2", 1, 2)]}[arch]
    out = {n: k * (c[i].T @ c[j] - f[i].T @ f[j]) / M for n, i, j in names}
    for n, i in zip("bcd", range(len(c))):
        out[n] = k * (c[i].mean(0) - f[i].mean(0))
    return out


@pytest.mark.parametrize("arch", ["unrestricted", "restricted", "deep"])
def test_train_step_matches_reference(arch, rng):
    sizes = {"unrestricted": (7,), "restricted": (7, 5), "deep": (7, 5, 3)}[arch]
    cls = {"unrestricted": cs.Unrestricted, "restricted": cs.Restricted, "deep": cs.Deep}[arch]
    m = cls(*sizes, g=1.5, seed=9, dtype="float64", dt=1.0, tau=10.0)
    p = _randomise(m, rng)
    M, steps = 4, 12
    xi = rng.uniform(-1, 1, size=(M, sizes[0]))
    layers = list(m.sizes)
    free0 = [rng.normal(size=(M, n)) for n in sizes]
    clamped0 = [rng.normal(size=(M, n)) for n in sizes[1:]]
    init = {"free": dict(zip(layers, free0)), "clamped": dict(zip(layers[1:], clamped0))}
    deltas = m.train_step(xi, 1.0, 10.0, T=float(steps), k=0.05, init=init)
    ref = _reference_deltas(arch, p, xi, free0, clamped0, steps, 0.1, steps / 10.0, 0.05)
    for name, d in ref.items():
        np.testing.assert_allclose(to_numpy(deltas[name]), d, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(to_numpy(m.params[name]), p[name] + d, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_untrained_unrestricted_chaos_transition(dtype):
    """SCS 1988: with A = b = 0 the activity dies out for g < 1 and stays chaotic for g > 1."""
    n, t = 500, 1500.0  # t = 150 tau
    quiet = cs.Unrestricted(n, g=0.5, seed=0, dtype=dtype).generate(20, t)
    active = cs.Unrestricted(n, g=2.0, seed=0, dtype=dtype).generate(20, [t - 500.0, t])
    assert float(to_numpy(quiet).var()) < 1e-10
    var_phi = to_numpy(active).var(axis=(1, 2))
    assert np.all(var_phi > 0.1)
    # Still moving, not a fixed point: the state at t differs from t - 50 tau.
    assert np.abs(to_numpy(active[1]) - to_numpy(active[0])).mean() > 0.1


def test_same_seed_same_numbers_and_seed_matters():
    a = cs.Restricted(20, 10, seed=5).generate(8, 30.0)
    b = cs.Restricted(20, 10, seed=5).generate(8, 30.0)
    c = cs.Restricted(20, 10, seed=6).generate(8, 30.0)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_fixed_couplings_identical_across_dtypes():
    a = cs.Deep(10, 8, 4, seed=3, dtype="float64")
    b = cs.Deep(10, 8, 4, seed=3, dtype="float32")
    for name in ("W1", "Wt1", "W2", "Wt2"):
        np.testing.assert_allclose(b.params[name], a.params[name], rtol=1e-6)


def test_generate_several_times_in_one_run():
    m = cs.Unrestricted(30, g=2.0, seed=1, dtype="float64")
    m.rng = m.bk.rng(7)
    many = m.generate(5, [10.0, 0.0, 50.0])
    m.rng = m.bk.rng(7)
    one = m.generate(5, 50.0)
    assert many.shape == (3, 5, 30)
    np.testing.assert_array_equal(many[2], one)
    assert np.all(np.abs(many) <= 1)


def test_record_returns_trajectory():
    m = cs.Restricted(6, 4, seed=0, dtype="float64")
    s0 = {"v": np.ones((2, 6)), "h": np.zeros((2, 4))}
    final, traj = m.run(s0, 5, record=[0, 2, 5])
    assert traj["v"].shape == (3, 2, 6) and traj["h"].shape == (3, 2, 4)
    np.testing.assert_array_equal(traj["v"][0], s0["v"])
    np.testing.assert_array_equal(traj["v"][2], final["v"])
    np.testing.assert_array_equal(traj["h"][1], m.run(s0, 2)["h"])


def test_reconstruct_restricted_with_identity_like_weights():
    """With Wt = W^T = c * I-like couplings and strong gain the reconstruction of +-1 patterns is faithful."""
    nv = 4
    m = cs.Restricted(nv, nv, seed=0, dtype="float64", dt=1.0, tau=1.0)
    m.params["W"] = 6.0 * np.eye(nv)
    m.params["Wt"] = 6.0 * np.eye(nv)
    xi = np.array([[1.0, -1, 1, -1], [-1, -1, 1, 1]])
    rec = to_numpy(m.reconstruct(xi, 40.0))
    # v = tanh(6/2 * tanh(6/2 * xi)) exactly: independent closed form of the two relaxations.
    np.testing.assert_allclose(rec, np.tanh(3 * np.tanh(3 * xi)), atol=1e-12)


def test_reconstruct_refused_for_unrestricted():
    with pytest.raises(ConfigError, match="hidden"):
        cs.Unrestricted(4).reconstruct(np.zeros((2, 4)), 10.0)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_sizes(bad):
    with pytest.raises(ConfigError, match="positive integer"):
        cs.Restricted(bad, 4)


def test_bad_dynamics_refused_with_advice():
    with pytest.raises(ConfigError, match="dt must be"):
        cs.Unrestricted(4, dt=0.0)
    with pytest.raises(ConfigError, match="tau must be"):
        cs.Unrestricted(4, tau=-1.0)
    m = cs.Unrestricted(4)
    with pytest.raises(ConfigError, match="unstable.*force"):
        m.run({"v": np.zeros((1, 4))}, 3, dt=2.0, tau=1.0)
    out = m.run({"v": np.zeros((1, 4))}, 3, dt=2.0, tau=1.0, force=True)
    assert out["v"].shape == (1, 4)


def test_bad_data_refused():
    m = cs.Restricted(4, 3)
    ok = np.zeros((2, 4), dtype=np.float32)
    with pytest.raises(DataError, match="\\[-1, 1\\]"):
        m.train_step(ok + 2, T=10.0)
    with pytest.raises(DataError, match="columns"):
        m.train_step(np.zeros((2, 5)), T=10.0)
    with pytest.raises(DataError, match="NaN"):
        m.train_step(np.full((2, 4), np.nan), T=10.0)
    with pytest.raises(DataError, match="samples x features"):
        m.train_step(np.zeros(4), T=10.0)
    with pytest.raises(DataError, match="lacks layer"):
        m.run({"v": ok}, 2)
    with pytest.raises(ConfigError, match="multiple of dt"):
        m.train_step(ok, dt=1.0, T=10.5)


def test_params_assignment_is_checked():
    m = cs.Restricted(4, 3)
    m.params["A"] = np.ones((4, 3))
    assert m.params["A"].dtype == np.float32 and float(m.params["A"].sum()) == 12
    with pytest.raises(DataError, match="shape"):
        m.params["A"] = np.ones((3, 4))
    with pytest.raises(DataError, match="NaN"):
        m.params["b"] = np.full(4, np.inf)
    with pytest.raises(KeyError, match="unknown parameter"):
        m.params["Q"] = 1.0
    assert set(m.params) == {"W", "Wt", "A", "b", "c"}
    assert set(cs.Deep(4, 3, 2).params) == {"W1", "Wt1", "A1", "W2", "Wt2", "A2", "b", "c", "d"}
    assert set(cs.Unrestricted(4).params) == {"J", "A", "b"}


def test_float32_stays_float32():
    m = cs.Restricted(8, 6)
    x = np.zeros((3, 8), dtype=np.float32)
    m.train_step(x, T=5.0)
    assert all(v.dtype == np.float32 for v in m.params.values())
    assert m.generate(3, 5.0).dtype == np.float32


@pytest.mark.gpu
@pytest.mark.parametrize("arch", ["unrestricted", "restricted", "deep"])
def test_cupy_agrees_with_numpy_short_horizon(arch):
    sizes = {"unrestricted": (64,), "restricted": (64, 48), "deep": (64, 48, 16)}[arch]
    cls = {"unrestricted": cs.Unrestricted, "restricted": cs.Restricted, "deep": cs.Deep}[arch]
    rng = np.random.default_rng(0)
    cpu, gpu = cls(*sizes, seed=2, backend="numpy"), cls(*sizes, seed=2, backend="cupy")
    for name, v in cpu.params.items():
        if name not in ("W", "Wt", "J", "W1", "Wt1", "W2", "Wt2"):
            value = rng.normal(0, 0.1, v.shape)
            cpu.params[name], gpu.params[name] = value, value
    state = {n: rng.normal(size=(16, s)).astype(np.float32) for n, s in cpu.sizes.items()}
    a = cpu.run(state, 20)
    b = gpu.run(state, 20)
    for n in state:
        np.testing.assert_allclose(to_numpy(b[n]), a[n], rtol=1e-4, atol=1e-4)
    xi = rng.uniform(-1, 1, size=(16, 64)).astype(np.float32)
    init = {"free": state, "clamped": {n: state[n] for n in list(state)[1:]}}
    da = cpu.train_step(xi, T=20.0, init=init)
    db = gpu.train_step(xi, T=20.0, init=init)
    for n in da:
        np.testing.assert_allclose(to_numpy(db[n]), da[n], rtol=1e-4, atol=1e-5)
