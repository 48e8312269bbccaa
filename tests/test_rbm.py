"""The RBM baseline against exact enumeration of a tiny machine (2^10 joint states), float64 formulas
written out here, and a real learning check on structured data.

Statistical thresholds are rigorous bounds with a false-failure probability of about 1e-6:
- total variation between an empirical histogram of n i.i.d. draws and its distribution p:
  E[TV] <= 0.5 sum_x sqrt(p(1-p)/n) (Jensen) and TV concentrates (McDiarmid, differences 1/n);
- means of n i.i.d. variables in [-1, 1]: Hoeffding, with a union bound over the entries.
Chains run a finite number of sweeps from uniform starts; the tests either compare with the exact
T-sweep distribution (built from the exact Gibbs kernel) or add its exact distance to equilibrium.
"""
import itertools
import math

import numpy as np
import pytest

from chaossim.backend import get_backend, gpu_available, to_numpy
from chaossim.errors import ConfigError, DataError
from chaossim.rbm import RBM, exact_distribution, log_likelihood_exact, log_partition_exact

DELTA = 1e-6
NV, NH = 6, 4


# ---------------------------------------------------------------------- independent references
def spins(n):
    return np.array(list(itertools.product([-1.0, 1.0], repeat=n)))


def config_index(s):
    """Row index of +-1 configurations in ``spins(n)`` order."""
    s = np.asarray(s)
    n = s.shape[-1]
    return ((s > 0).astype(np.int64) * (1 << np.arange(n - 1, -1, -1))).sum(axis=-1)


def joint_log_weights(W, b, c):
    """-H(s, sigma) for every visible (rows) and hidden (columns) configuration."""
    S, G = spins(W.shape[0]), spins(W.shape[1])
    return S @ W @ G.T + (S @ b)[:, None] + (G @ c)[None, :], S, G


def exact_marginal(W, b, c):
    lw, S, G = joint_log_weights(W, b, c)
    w = np.exp(lw - lw.max())
    return w.sum(axis=1) / w.sum()


def exact_model_moments(W, b, c):
    """<s sigma>, <s>, <sigma> under the joint Boltzmann distribution."""
    lw, S, G = joint_log_weights(W, b, c)
    P = np.exp(lw - lw.max())
    P /= P.sum()
    return S.T @ P @ G, P.sum(axis=1) @ S, P.sum(axis=0) @ G


def exact_ll(W, b, c, data):
    """mean_mu log sum_sigma exp(-H(xi^mu, sigma)) - log Z, by brute force over the hidden spins."""
    G = spins(W.shape[1])
    lw_data = data @ W @ G.T + (data @ b)[:, None] + (G @ c)[None, :]
    lw_all, _, _ = joint_log_weights(W, b, c)

    def lse(x, axis=None):
        m = x.max(axis=axis, keepdims=True)
        return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze()

    return float(lse(lw_data, axis=1).mean() - lse(lw_all))


def gibbs_kernel(W, b, c):
    """K[s, s'] = sum_sigma p(sigma | s) p(s' | sigma), from normalised joint weights."""
    lw, S, G = joint_log_weights(W, b, c)
    w = np.exp(lw - lw.max())
    p_h_given_v = w / w.sum(axis=1, keepdims=True)
    p_v_given_h = (w / w.sum(axis=0, keepdims=True)).T
    return p_h_given_v @ p_v_given_h


def dist_after(W, b, c, sweeps):
    """Exact distribution of the visible state after ``sweeps`` Gibbs sweeps from uniform +-1 starts."""
    K = gibbs_kernel(W, b, c)
    d = np.full(K.shape[0], 1.0 / K.shape[0])
    for _ in range(sweeps):
        d = d @ K
    return d


def tv(p, q):
    return 0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum()


def tv_bound(p, n, delta=DELTA):
    return 0.5 * np.sqrt(p * (1 - p) / n).sum() + math.sqrt(math.log(1 / delta) / (2 * n))


def hoeffding(n, entries, delta=DELTA):
    """Half-width for every one of ``entries`` means of n i.i.d. variables in [-1, 1]."""
    return math.sqrt(2 * math.log(2 * entries / delta) / n)


def histogram(v):
    return np.bincount(config_index(to_numpy(v)), minlength=2 ** v.shape[1]) / v.shape[0]


@pytest.fixture
def tiny():
    """Moderate couplings and nonzero fields: a structured but fast-mixing 6 x 4 machine."""
    r = np.random.default_rng(2024)
    return r.normal(0, 0.5, (NV, NH)), r.normal(0, 0.4, NV), r.normal(0, 0.4, NH)


def make(W, b, c, backend="numpy", dtype="float32", seed=7, **kw):
    m = RBM(W.shape[0], W.shape[1], seed=seed, backend=backend, dtype=dtype, **kw)
    m.params = {"W": W, "b": b, "c": c}
    return m


# ---------------------------------------------------------------------- sampling against enumeration
def test_gibbs_chains_match_exact_marginal(tiny, backend):
    W, b, c = tiny
    n, sweeps = 20_000, 30
    p = exact_marginal(W, b, c)
    pT = dist_after(W, b, c, sweeps)
    bound = tv_bound(pT, n)
    assert tv(pT, p) < 0.05 * bound  # after 30 sweeps the exact target is, within noise, the Boltzmann marginal
    model = make(W, b, c, backend)
    start = 2.0 * (np.random.default_rng(1).random((n, NV)) < 0.5) - 1.0
    v = model.gibbs(start, sweeps)
    assert set(np.unique(to_numpy(v))) == {-1.0, 1.0}
    assert tv(histogram(v), pT) < bound
    # the test can fail: the start, and a machine with the visible fields flipped, are far from p
    assert tv(histogram(start), p) > 3 * bound
    assert tv(exact_marginal(W, -b, c), p) > 3 * bound


def test_generate_mean_has_exact_moments(tiny, backend):
    """generate returns <s | sigma_t>: its average and off-diagonal covariance are those of the +-1 samples."""
    W, b, c = tiny
    n = 20_000
    p = exact_marginal(W, b, c)
    S = spins(NV)
    mag = p @ S
    second = S.T @ (p[:, None] * S)
    model = make(W, b, c, backend)
    x = to_numpy(model.generate(n, 30)).astype(np.float64)
    assert x.shape == (n, NV) and np.all(np.abs(x) < 1)
    tol = hoeffding(n, NV + NV * NV) + 2 * tv(dist_after(W, b, c, 29), p)
    np.testing.assert_allclose(x.mean(axis=0), mag, atol=tol)
    off = ~np.eye(NV, dtype=bool)
    np.testing.assert_array_less(np.abs((x.T @ x / n - second)[off]), tol)
    assert np.abs(mag).max() > 3 * tol  # nonzero magnetisations: a sign error would be caught


def test_one_step_conditionals(tiny, backend):
    W, b, c = tiny
    n = 20_000
    lw, S, G = joint_log_weights(W, b, c)
    model = make(W, b, c, backend)
    for row in (0, 21, 63):
        s = np.repeat(S[row:row + 1], n, axis=0)
        exact = np.exp(lw[row] - lw[row].max())
        exact /= exact.sum()
        h, mean = model.sample_hidden(s)
        assert tv(histogram(h), exact) < tv_bound(exact, n)
        sig = 1 / (1 + np.exp(-2 * (S[row] @ W + c)))  # p(sigma_a = +1 | s)
        freq = (to_numpy(h) > 0).mean(axis=0)
        np.testing.assert_array_less(np.abs(freq - sig), 5.5 * np.sqrt(sig * (1 - sig) / n) + 1e-12)
        np.testing.assert_allclose(to_numpy(mean), np.tile(np.tanh(S[row] @ W + c), (n, 1)), rtol=0, atol=1e-6)
        # first half-sweep of gibbs draws sigma from the same conditional
        _, h1 = model.gibbs(s, 1, return_hidden=True)
        assert tv(histogram(h1), exact) < tv_bound(exact, n)
    for col in (0, 9):
        g = np.repeat(G[col:col + 1], n, axis=0)
        exact = np.exp(lw[:, col] - lw[:, col].max())
        exact /= exact.sum()
        v, _ = model.sample_visible(g)
        assert tv(histogram(v), exact) < tv_bound(exact, n)


# ---------------------------------------------------------------------- free energy and exact helpers
@pytest.mark.parametrize("nh", [4, 9])  # fewer, then more hidden than visible (both enumeration paths)
def test_free_energy_and_partition_function(nh):
    r = np.random.default_rng(5)
    W, b, c = r.normal(0, 0.7, (NV, nh)), r.normal(0, 0.5, NV), r.normal(0, 0.5, nh)
    model = make(W, b, c, dtype="float64")
    lw, S, G = joint_log_weights(W, b, c)
    m = lw.max()
    F_ref = -(m + np.log(np.exp(lw - m).sum(axis=1)))
    np.testing.assert_allclose(to_numpy(model.free_energy(S)), F_ref, rtol=0, atol=1e-10)
    logZ = m + math.log(np.exp(lw - m).sum())
    assert log_partition_exact(model) == pytest.approx(logZ, abs=1e-10)
    states, probs = exact_distribution(model)
    np.testing.assert_array_equal(states, S)
    np.testing.assert_allclose(probs, exact_marginal(W, b, c), rtol=1e-10, atol=0)
    data = np.vstack([S[[3, 17, 40]], np.clip(r.normal(0, 0.5, (4, NV)), -1, 1)])
    assert log_likelihood_exact(model, data) == pytest.approx(exact_ll(W, b, c, data), abs=1e-10)
    assert model.log_likelihood_exact(data) == pytest.approx(exact_ll(W, b, c, data), abs=1e-10)


def test_free_energy_is_stable_for_large_fields():
    model = make(np.full((3, 2), 400.0), np.zeros(3), np.zeros(2), dtype="float64")
    F = to_numpy(model.free_energy(np.ones((1, 3))))
    assert np.isfinite(F).all() and F[0] == pytest.approx(-2 * 1200.0)


# ---------------------------------------------------------------------- gradient
def _data_for_gradient():
    r = np.random.default_rng(11)
    pattern = np.array([1, 1, 1, -1, -1, -1.0])
    flips = np.where(r.random((60, NV)) < 0.15, -1.0, 1.0)
    return pattern * flips


@pytest.mark.parametrize("grey", [False, True])
def test_gradient_formula_is_the_finite_difference_of_the_exact_ll(tiny, grey):
    W, b, c = tiny
    data = _data_for_gradient()
    if grey:
        data = data * np.random.default_rng(3).uniform(0.2, 1.0, data.shape)
    ss, s_m, h_m = exact_model_moments(W, b, c)
    hd = np.tanh(data @ W + c)
    grad = {"W": data.T @ hd / len(data) - ss, "b": data.mean(0) - s_m, "c": hd.mean(0) - h_m}
    eps = 1e-5
    params = {"W": W, "b": b, "c": c}
    for name, value in params.items():
        fd = np.empty_like(value)
        for idx in np.ndindex(value.shape):
            up, dn = value.copy(), value.copy()
            up[idx] += eps
            dn[idx] -= eps
            lp = exact_ll(**{**params, name: up}, data=data)
            lm = exact_ll(**{**params, name: dn}, data=data)
            fd[idx] = (lp - lm) / (2 * eps)
        np.testing.assert_allclose(grad[name], fd, rtol=0, atol=1e-7)


def test_train_update_estimates_the_exact_gradient(tiny):
    W, b, c = tiny
    data = _data_for_gradient()
    M, k = 20_000, 0.01
    batch = data[np.random.default_rng(4).integers(0, len(data), M)]
    ss, s_m, h_m = exact_model_moments(W, b, c)
    hd = np.tanh(batch @ W + c)
    grad = {"W": batch.T @ hd / M - ss, "b": batch.mean(0) - s_m, "c": hd.mean(0) - h_m}
    entries = NV * NH + NV + NH
    T = 30
    tol = hoeffding(M, entries) + 2 * tv(dist_after(W, b, c, T), exact_marginal(W, b, c))
    model = make(W, b, c, dtype="float64")
    before = {k_: to_numpy(v).copy() for k_, v in model.params.items()}
    deltas = model.train_step(batch, 1.0, 10.0, T=T, k=k)
    for name in grad:
        d = to_numpy(deltas[name])
        np.testing.assert_allclose(to_numpy(model.params[name]) - before[name], d, rtol=0, atol=1e-12)
        np.testing.assert_array_less(np.abs(d / k - grad[name]), tol)
    assert max(np.abs(g).max() for g in grad.values()) > 5 * tol
    # without sweeps the negative term is the uniform-start average: measurably not the gradient
    cold = make(W, b, c, dtype="float64").train_step(batch, T=0, k=k)
    assert max(np.abs(to_numpy(cold[n]) / k - grad[n]).max() for n in grad) > 2 * tol


def test_train_step_formula_with_given_start(tiny):
    """T = 0 with init: the update is deterministic; compare with the formula written out in float64."""
    W, b, c = tiny
    r = np.random.default_rng(8)
    batch = np.clip(r.normal(0, 0.6, (7, NV)), -1, 1)
    v0 = np.where(r.random((5, NV)) < 0.5, -1.0, 1.0)
    k = 0.05
    model = make(W, b, c, dtype="float64")
    out = model.train_step(batch, dt=123.0, tau=0.5, T=0, k=k, init={"free": {"v": v0}})
    hp, hn = np.tanh(batch @ W + c), np.tanh(v0 @ W + c)
    expect = {"W": k * (batch.T @ hp / 7 - v0.T @ hn / 5), "b": k * (batch.mean(0) - v0.mean(0)),
              "c": k * (hp.mean(0) - hn.mean(0))}
    for name, e in expect.items():
        np.testing.assert_allclose(to_numpy(out[name]), e, rtol=0, atol=1e-14)
        np.testing.assert_allclose(to_numpy(model.params[name]), {"W": W, "b": b, "c": c}[name] + e, rtol=0, atol=1e-14)


# ---------------------------------------------------------------------- reconstruction
def test_reconstruct_is_one_mean_field_up_down_pass(tiny):
    W, b, c = tiny
    data = np.clip(np.random.default_rng(9).normal(0, 0.6, (11, NV)), -1, 1)
    model = make(W, b, c, dtype="float64")
    expect = np.tanh(np.tanh(data @ W + c) @ W.T + b)
    np.testing.assert_allclose(to_numpy(model.reconstruct(data)), expect, rtol=0, atol=1e-14)
    np.testing.assert_allclose(to_numpy(model.reconstruct(data, 100)), expect, rtol=0, atol=1e-14)
    sampled = to_numpy(model.reconstruct(data, hidden="sample"))
    assert sampled.shape == data.shape and not np.allclose(sampled, expect)
    # each row is <s | h> for a +-1 hidden configuration h
    candidates = np.tanh(spins(NH) @ W.T + b)
    assert np.abs(sampled[:, None, :] - candidates[None]).max(axis=2).min(axis=1).max() < 1e-12


# ---------------------------------------------------------------------- reproducibility and shapes
def test_same_seed_same_numbers_and_dtype():
    x = np.where(np.random.default_rng(0).random((20, 16)) < 0.5, -1.0, 1.0)

    def run(seed):
        m = RBM(16, 5, seed=seed, init_std=0.1)
        for _ in range(3):
            m.train_step(x, T=4, k=0.05)
        return {k: to_numpy(v) for k, v in m.params.items()}, to_numpy(m.generate(8, [0, 2, 5]))

    (p1, g1), (p2, g2), (p3, g3) = run(3), run(3), run(4)
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])
        assert p1[k].dtype == np.float32
    np.testing.assert_array_equal(g1, g2)
    assert not np.array_equal(p1["W"], p3["W"]) and not np.array_equal(g1, g3)
    # W drawn from the seed with std init_std, b = c = 0 at construction
    fresh = RBM(300, 200, seed=3, init_std=0.1)
    assert to_numpy(fresh.params["W"]).std() == pytest.approx(0.1, rel=0.02)
    assert not to_numpy(fresh.params["b"]).any() and not to_numpy(fresh.params["c"]).any()


def test_generate_list_of_times_is_one_run():
    model = RBM(10, 6, seed=1, init_std=0.5)
    bk = model.bk
    model.rng = bk.rng(42)
    many = to_numpy(model.generate(9, [7, 0, 3, 7]))
    model.rng = bk.rng(42)
    single = to_numpy(model.generate(9, 7))
    model.rng = bk.rng(42)
    spins_ = to_numpy(model.generate(9, [0, 3], samples=True))
    assert many.shape == (4, 9, 10) and single.shape == (9, 10) and many.dtype == np.float32
    np.testing.assert_array_equal(many[0], single)
    np.testing.assert_array_equal(many[3], single)
    np.testing.assert_array_equal(many[1], spins_[0])  # t = 0: the random +-1 starts
    assert set(np.unique(many[1])) <= {-1.0, 1.0} and set(np.unique(spins_[1])) <= {-1.0, 1.0}
    assert np.all(np.abs(many[2]) < 1)  # conditional means at t >= 1
    assert not np.array_equal(many[2], many[0])
    assert model.generate(3, 100.0).shape == (3, 10)  # integral floats read as sweep counts


def test_persistent_chains_are_buffers_and_carry_over():
    x = np.where(np.random.default_rng(0).random((12, 8)) < 0.5, -1.0, 1.0)
    assert RBM(8, 3).buffers == {}
    with_n = RBM(8, 3, persistent=True, n_chains=5)
    assert to_numpy(with_n.buffers["chains"]).shape == (5, 8)
    pcd = RBM(8, 3, persistent=True, seed=2, init_std=0.3)
    assert "chains" not in pcd.buffers
    pcd.train_step(x, T=2, k=0.1)
    c1 = to_numpy(pcd.buffers["chains"]).copy()
    assert c1.shape == (12, 8) and set(np.unique(c1)) <= {-1.0, 1.0}
    # the next step starts from the stored chains: equal to a non-persistent step started there
    ref = RBM(8, 3, seed=2, init_std=0.3)
    ref.params = {k: to_numpy(v) for k, v in pcd.params.items()}
    pcd.rng, ref.rng = pcd.bk.rng(99), ref.bk.rng(99)
    d_pcd = pcd.train_step(x, T=2, k=0.1)
    d_ref = ref.train_step(x, T=2, k=0.1, init={"free": {"v": c1}})
    for k in d_pcd:
        np.testing.assert_array_equal(to_numpy(d_pcd[k]), to_numpy(d_ref[k]))
    assert not np.array_equal(to_numpy(pcd.buffers["chains"]), c1)
    # restored buffers (as from a checkpoint) are used as they are; T = 0 leaves them unchanged
    pcd.buffers["chains"] = np.ones((4, 8), dtype=np.float32)
    pcd.train_step(x, T=0, k=0.1)
    np.testing.assert_array_equal(to_numpy(pcd.buffers["chains"]), np.ones((4, 8)))


# ---------------------------------------------------------------------- validation
def test_bad_input_raises_clear_errors():
    m = RBM(6, 3)
    good = np.zeros((4, 6))
    with pytest.raises(DataError, match="6"):
        m.train_step(np.zeros((4, 5)))
    with pytest.raises(DataError, match="NaN"):
        m.train_step(np.where(np.eye(4, 6) > 0, np.nan, 0.0))
    with pytest.raises(DataError, match=r"\[-1, 1\]"):
        m.train_step(good + 2)
    with pytest.raises(DataError, match="columns"):
        m.reconstruct(np.zeros((3, 7)))
    with pytest.raises(DataError, match=r"\[-1, 1\]"):
        m.gibbs(good - 3, 1)
    with pytest.raises(DataError, match="NaN"):
        m.free_energy(np.full((2, 6), np.inf))
    with pytest.raises(DataError, match="'free'"):
        m.train_step(good, init={"clamped": {"h": np.zeros((4, 3))}})
    with pytest.raises(DataError, match="columns"):
        m.train_step(good, init={"free": {"v": np.zeros((4, 3))}})
    for bad_T in (-1, 2.5, "ten", True):
        with pytest.raises(ConfigError, match="sweeps"):
            m.train_step(good, T=bad_T)
    with pytest.raises(ConfigError, match="learning rate"):
        m.train_step(good, k=-0.1)
    with pytest.raises(ConfigError, match="positive integer"):
        m.generate(0, 5)
    with pytest.raises(ConfigError, match="sweeps"):
        m.generate(3, [1, -2])
    with pytest.raises(ConfigError, match="steps >= 1"):
        m.gibbs(good, 0, return_hidden=True)
    with pytest.raises(ConfigError, match="persistent=True"):
        RBM(6, 3, n_chains=10)
    with pytest.raises(ConfigError, match="hidden"):
        m.reconstruct(good, hidden="mode")
    with pytest.raises(DataError, match="shape"):
        m.params["W"] = np.zeros((3, 6))
    with pytest.raises(DataError, match="NaN"):
        m.params["c"] = np.array([0.0, np.nan, 0.0])
    with pytest.raises(ConfigError, match="n_visible"):
        RBM(0, 3)


# ---------------------------------------------------------------------- learning
def _two_prototypes(n, rng, nv=16, flip=0.1):
    protos = np.array([[1.0] * (nv // 2) + [-1.0] * (nv // 2), [1.0, -1.0] * (nv // 2)])
    x = protos[rng.integers(0, 2, n)]
    return x * np.where(rng.random(x.shape) < flip, -1.0, 1.0)


@pytest.mark.parametrize("persistent", [False, True])
def test_short_training_learns_two_prototypes(persistent):
    r = np.random.default_rng(21)
    train, test = _two_prototypes(2000, r), _two_prototypes(500, r)
    model = RBM(16, 6, seed=5, persistent=persistent, init_std=0.01)

    def nll():
        p = {k: to_numpy(v).astype(np.float64) for k, v in model.params.items()}
        return -exact_ll(p["W"], p["b"], p["c"], test)

    def recon_error():
        return float(((to_numpy(model.reconstruct(test)) - test) ** 2).mean())

    nll0, rec0 = nll(), recon_error()
    assert nll0 == pytest.approx(16 * math.log(2), abs=0.05)  # W ~ 0.01: almost uniform
    for _ in range(300):
        model.train_step(train[r.integers(0, len(train), 100)], T=10, k=0.05)
    nll1, rec1 = nll(), recon_error()
    entropy = math.log(2) + 16 * -(0.1 * math.log(0.1) + 0.9 * math.log(0.9))  # the data's own NLL floor
    assert nll1 < nll0 - 3.0, (nll0, nll1)
    # close to the floor; the held-out estimate may dip below it by sampling noise (std ~0.12 for 500 points)
    assert entropy - 0.6 < nll1 < entropy + 0.5, (entropy, nll1)
    assert rec1 < 0.5 * rec0, (rec0, rec1)


# ---------------------------------------------------------------------- backends
@pytest.mark.parametrize("other", [pytest.param("cupy", marks=pytest.mark.gpu)])
def test_gpu_agrees_with_numpy(tiny, other):
    if not gpu_available():
        pytest.skip("needs CuPy and a CUDA device")
    W, b, c = tiny
    cpu, gpu = RBM(NV, NH, seed=4, dtype="float64"), RBM(NV, NH, seed=4, backend=other, dtype="float64")
    np.testing.assert_array_equal(to_numpy(cpu.params["W"]), to_numpy(gpu.params["W"]))  # host-drawn couplings
    for m in (cpu, gpu):
        m.params = {"W": W, "b": b, "c": c}
    x = spins(NV)
    np.testing.assert_allclose(to_numpy(gpu.free_energy(x)), to_numpy(cpu.free_energy(x)), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(gpu.reconstruct(x)), to_numpy(cpu.reconstruct(x)), rtol=0, atol=1e-12)
    v0 = x[::3]
    d_cpu = cpu.train_step(x, T=0, k=0.1, init={"free": {"v": v0}})
    d_gpu = gpu.train_step(x, T=0, k=0.1, init={"free": {"v": v0}})
    for k in d_cpu:
        np.testing.assert_allclose(to_numpy(d_gpu[k]), to_numpy(d_cpu[k]), rtol=0, atol=1e-12)
    assert get_backend(other).name == gpu.bk.name == "cupy"
    g = gpu.generate(2000, [0, 5])
    assert type(g).__module__.startswith("cupy") and g.shape == (2, 2000, NV)


def test_works_with_the_accuracy_indices():
    """The lead's evaluation calls generate/reconstruct with times as floats; the RBM serves them."""
    from chaossim.evaluation import indices_at, indices_vs_time
    from chaossim.metrics import reconstruction_error

    r = np.random.default_rng(6)
    data = _two_prototypes(200, r) * 0.8  # grey values
    model = RBM(16, 6, seed=1, init_std=0.3)
    er = reconstruction_error(model, data, 10.0)
    expect = np.mean((np.tanh(np.tanh(data @ to_numpy(model.params["W"])) @ to_numpy(model.params["W"]).T) - data) ** 2)
    assert er == pytest.approx(expect, rel=1e-5)
    scores = indices_at(model, data, 10.0, seed=3)
    assert set(scores) >= {"E2", "Es", "EAAI", "ER"} and all(np.isfinite(v) for v in scores.values())
    curve = indices_vs_time(model, data, [0.0, 1.0, 10.0], seed=3)
    assert curve["E2"].shape == (3,) and curve["EAAI"][2] == pytest.approx(scores["EAAI"])
