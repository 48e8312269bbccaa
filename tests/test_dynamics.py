"""chaossim.dynamics: the physics written once, and everything that takes it from there.

A nonlinearity registered here, in the test file, must reach the engine (checked by hand against the
equations), the strict namespace (no host access, same numbers), the fused schedule's host executor, the
Lyapunov exponent (against the eigenvalues of the linearised map at the stable fixed point) and the CUDA
source of the element-wise kernels (compiled here as C with the system's compiler and run against the host
executor).
"""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess

import numpy as np
import pytest
from scipy.integrate import quad

from chaossim import dynamics, strict
from chaossim.backend import to_numpy
from chaossim.chaos import lyapunov_max
from chaossim.dynamics import TANH, Nonlinearity, register_nonlinearity
from chaossim.ensemble import Ensemble
from chaossim.errors import ConfigError
from chaossim.kernels import HostOps, ScheduledTrainer
from chaossim.kernels.schedule import Activity, Exact, Form, Pre
from chaossim.kernels.source import kernel_sources, render_phi
from chaossim.models import Restricted, Unrestricted

C = 0.5  # phi'(0) of the test's nonlinearity (tanh has 1), so that the stable fixed point tells them apart


def _soft(x):
    return C * x / (1.0 + abs(x))


HALFSOFT = register_nonlinearity(
    Nonlinearity(
        name="halfsoft",
        phi=lambda xp, x: C * x / (1 + xp.abs(x)),
        dphi=lambda xp, x: C / (1 + xp.abs(x)) ** 2,
        integral=lambda x: C * (np.abs(x) - np.log1p(np.abs(x))),
    )
)


# ---------------------------------------------------------------------------------------------- the pieces
def test_tanh_pieces_against_closed_forms():
    x = np.linspace(-6, 6, 41)
    np.testing.assert_allclose(TANH.dphi(np, x), 1 / np.cosh(x) ** 2, rtol=1e-12, atol=1e-15)
    for v in (0.3, 2.0, 25.0):  # ln cosh: the integral of tanh from 0
        assert TANH.integral(np.array([v]))[0] == pytest.approx(quad(math.tanh, 0, v)[0], rel=1e-12)
    d = np.array([1e-9, 1e-3, 0.5])
    exact = np.array([math.tanh(1.2 + di) - math.tanh(1.2) for di in d])
    np.testing.assert_allclose(TANH.difference(np, np.full(3, 1.2), d), exact, rtol=1e-6)
    assert TANH(np, np.array([0.5]), out=np.empty(1))[0] == math.tanh(0.5)


def test_updates_by_hand():
    x, u, a, dec = np.array([1.0, -2.0]), np.array([0.5, 3.0]), 0.1, 0.7
    np.testing.assert_allclose(dynamics.euler(x, u.copy(), a), x + a * (u - x), rtol=1e-15)
    np.testing.assert_allclose(dynamics.exact(x, u.copy(), dec), dec * x + (1 - dec) * u, rtol=1e-15)
    np.testing.assert_allclose(dynamics.leak(x, u, a) + a * (u - u), (1 - a) * x + a * u, rtol=1e-15)
    np.testing.assert_allclose(dynamics.relax(x, u, dec), dec * x + (1 - dec) * u, rtol=1e-15)
    # the split forms plus their coupling terms are the whole updates: leak + a c = euler with u = b + c
    c = np.array([0.25, -1.0])
    np.testing.assert_allclose(dynamics.leak(x, u, a) + a * c, dynamics.euler(x, u + c, a), rtol=1e-14)


def test_registration_is_checked():
    assert dynamics.nonlinearity("halfsoft") is HALFSOFT and "halfsoft" in dynamics.nonlinearities()
    with pytest.raises(ConfigError, match="already registered"):
        register_nonlinearity(Nonlinearity("halfsoft", phi=lambda xp, x: x, dphi=lambda xp, x: 1 + 0 * x))
    with pytest.raises(ConfigError, match="identifier"):
        register_nonlinearity(Nonlinearity("half soft", phi=lambda xp, x: x, dphi=lambda xp, x: 1 + 0 * x))
    with pytest.raises(ConfigError, match="unknown nonlinearity"):
        Restricted(4, 3, phi="relu6")


# ---------------------------------------------------------------------------------------------- the engine
def test_engine_follows_the_registered_phi_by_hand(rng):
    nv, nh, a = 4, 3, 0.25
    m = Restricted(nv, nh, g=2.0, seed=1, dtype="float64", phi="halfsoft")
    assert m.describe()["phi"] == "halfsoft"
    for name in ("A", "b", "c"):
        m.params[name] = rng.normal(0, 0.3, m.params[name].shape)
    p = {k: to_numpy(v) for k, v in m.params.items()}
    v, h = rng.normal(size=(2, nv)), rng.normal(size=(2, nh))
    ev, eh = np.empty_like(v), np.empty_like(h)
    for mu in range(2):
        for i in range(nv):
            s = sum((p["W"][i, c] + p["A"][i, c]) * _soft(h[mu, c]) for c in range(nh)) / math.sqrt(nh)
            ev[mu, i] = v[mu, i] + a * (-v[mu, i] + s + p["b"][i])
        for c in range(nh):
            s = sum((p["Wt"][c, i] + p["A"][i, c]) * _soft(v[mu, i]) for i in range(nv)) / math.sqrt(nv)
            eh[mu, c] = h[mu, c] + a * (-h[mu, c] + s + p["c"][c])
    out = m.run({"v": v, "h": h}, 1, 2.5, 10.0)
    np.testing.assert_allclose(out["v"], ev, atol=1e-13)
    np.testing.assert_allclose(out["h"], eh, atol=1e-13)
    m.rng = m.bk.rng(5)  # generation returns phi(v(t)): at t = 0, phi of the starts
    starts = to_numpy(m.random_state(3)["v"])
    m.rng = m.bk.rng(5)
    np.testing.assert_allclose(to_numpy(m.generate(3, 0.0)), np.vectorize(_soft)(starts), rtol=1e-15)


def test_ensemble_members_follow_phi(rng):
    ens = Ensemble("restricted", (5, 4), [1.0, 2.0], [0, 1], dtype="float64", phi="halfsoft")
    singles = ens.members()
    state = ens.random_state(3)
    out = ens.run(state, 4)
    for r, m in enumerate(singles):
        assert m.phi is HALFSOFT
        one = m.run({k: v[r] for k, v in state.items()}, 4)
        for k in out:
            np.testing.assert_array_equal(to_numpy(out[k][r]), to_numpy(one[k]))


def test_strict_namespace_follows_phi_without_host_access(rng):
    batch = np.tanh(rng.normal(size=(5, 6)))
    init = {"free": {"v": rng.normal(size=(5, 6)), "h": rng.normal(size=(5, 4))},
            "clamped": {"h": rng.normal(size=(5, 4))}}
    host = Restricted(6, 4, seed=2, dtype="float64", phi="halfsoft")
    dev = Restricted(6, 4, seed=2, dtype="float64", backend="strict", phi="halfsoft")
    dev_batch = dev.bk.asarray(batch)
    dev_init = {p: {n: dev.bk.asarray(x) for n, x in d.items()} for p, d in init.items()}
    assert dev.rng is not None  # the generator exists before the step (creating it is counted)
    with strict.record() as log:
        dev.train_step(dev_batch, T=5.0, k=0.1, init=dev_init, check=False)
    assert log.implicit == 0 and log.syncs == 0, log.report()
    with strict.record() as log:
        out = dev.run({"v": dev_init["free"]["v"], "h": dev_init["free"]["h"]}, 3)
    assert log.implicit == 0, log.report()  # run checks its inputs' values: those syncs are its own
    host.train_step(batch, T=5.0, k=0.1, init=init)
    for k in host.params:
        np.testing.assert_array_equal(to_numpy(dev.params[k]), to_numpy(host.params[k]))
    again = host.run({"v": init["free"]["v"], "h": init["free"]["h"]}, 3)
    np.testing.assert_array_equal(to_numpy(out["h"]), again["h"])


def _trained(phi, rng_seed=3, trainer=None):
    rng = np.random.default_rng(rng_seed)
    m = Restricted(7, 5, g=1.5, seed=4, dtype="float64", phi=phi)
    tr = trainer(m) if trainer else m
    for _ in range(3):
        init = {"free": {"v": rng.normal(size=(6, 7)), "h": rng.normal(size=(6, 5))},
                "clamped": {"h": rng.normal(size=(6, 5))}}
        tr.train_step(np.tanh(rng.normal(size=(6, 7))), T=6.0, k=0.2, init=init)
    return {k: to_numpy(v) for k, v in m.params.items()}


def test_fused_host_executor_follows_phi():
    fused = _trained("halfsoft", trainer=lambda m: ScheduledTrainer(m, HostOps(np.float64, streams=2)))
    engine = _trained("halfsoft")
    with_tanh = _trained("tanh")
    for k in engine:
        np.testing.assert_allclose(fused[k], engine[k], atol=1e-12)
    assert max(np.abs(with_tanh[k] - engine[k]).max() for k in engine) > 1e-3  # phi made a difference


def _linear_map_exponent(model, c):
    """The largest Lyapunov exponent of the Euler map at the fixed point 0 (b = 0, A = 0): the log of the spectral
    radius of (1 - a) I + a c J / sqrt(N), c = phi'(0), per unit of time (eigenvalues by LAPACK, not the code)."""
    a = model.dt / model.tau
    j = to_numpy(model.params["J"]) / math.sqrt(model.sizes["v"])
    return float(np.log(np.abs(1 - a + a * c * np.linalg.eigvals(j)).max())) / model.dt


@pytest.mark.parametrize("method", ["tangent", "twin"])
def test_lyapunov_exponent_follows_phi(method):
    kw = dict(t_burn=500.0, t_run=1500.0, renorm_every=10.0, n_replicas=2, seed=1, method=method)
    soft = Unrestricted(60, g=0.5, seed=3, dtype="float64", phi="halfsoft")
    tanh = Unrestricted(60, g=0.5, seed=3, dtype="float64")
    want_soft, want_tanh = _linear_map_exponent(soft, C), _linear_map_exponent(tanh, 1.0)
    assert abs(want_soft - want_tanh) > 0.1 * abs(want_tanh)
    got_soft, got_tanh = lyapunov_max(soft, **kw).value, lyapunov_max(tanh, **kw).value
    assert got_soft == pytest.approx(want_soft, rel=0.02)
    assert got_tanh == pytest.approx(want_tanh, rel=0.02)


def test_dmft_gaussian_integrals_follow_phi():
    """The stationary variance solves Delta0^2 / 2 = g Var[Phi(v)], v ~ N(0, Delta0), with Phi the integral of
    the registered phi (checked by adaptive quadrature), and chaos starts at g phi'(0)^2 = 1 (g = 4 here). This
    phi has a kink at 0, where the DMFT's trapezoidal grid converges algebraically, not exponentially as for
    tanh: agreement to 1e-4 for the root, 1e-3 for C(0), far below the difference from tanh."""
    from chaossim.chaos import dmft_phi_variance, dmft_variance

    assert dmft_variance(3.9, HALFSOFT) == 0.0 and dmft_variance(3.9) > 0  # tanh is chaotic there already
    g = 20.0
    d0 = dmft_variance(g, HALFSOFT)
    sd = math.sqrt(d0)
    w = lambda v: math.exp(-v * v / (2 * d0)) / math.sqrt(2 * math.pi * d0)  # noqa: E731
    m1 = quad(lambda v: C * (abs(v) - math.log1p(abs(v))) * w(v), -12 * sd, 12 * sd, limit=200)[0]
    m2 = quad(lambda v: (C * (abs(v) - math.log1p(abs(v)))) ** 2 * w(v), -12 * sd, 12 * sd, limit=200)[0]
    assert d0 > 0.1 and d0 ** 2 / 2 == pytest.approx(g * (m2 - m1 * m1), rel=1e-4)
    c0 = quad(lambda v: _soft(v) ** 2 * w(v), -12 * sd, 12 * sd, limit=200)[0]
    assert dmft_phi_variance(g, HALFSOFT) == pytest.approx(c0, rel=1e-3)
    assert dmft_variance(g, HALFSOFT) != pytest.approx(dmft_variance(g), rel=1e-2)


# ---------------------------------------------------------------------------------------------- kernel source
def test_rendered_source_follows_phi():
    soft32, tanh32 = kernel_sources(np.float32, HALFSOFT), kernel_sources(np.float32, TANH)
    assert "tanhf(x)" in tanh32.pre.operation and "tanh" not in soft32.pre.operation
    assert "fabsf(x)" in soft32.pre.operation and "fabsf(x)" in soft32.activity.operation
    assert "0.5f" in soft32.pre.operation  # float32 literals stay float32
    assert "fabs(x)" in render_phi(HALFSOFT, np.float64) and "f" not in render_phi(HALFSOFT, np.float64)[-3:]
    assert soft32.pre.name != tanh32.pre.name  # one compiled kernel per phi
    # the rendered phi, read back as Python, is the function registered here
    x = np.linspace(-5, 5, 23)
    text = render_phi(HALFSOFT, np.float64)
    np.testing.assert_allclose(eval(text, {"fabs": np.abs, "x": x}), C * x / (1 + np.abs(x)), rtol=1e-15)


_HARNESS = """
#include <math.h>
void pre(const {t}* B, {t} a, long long m, long long ntot, long long c0, long long nc, {t}* X, {t}* ACT,
         long long n) {{ for (long long i = 0; i < n; i++) {{ {pre} }} }}
void exact(const {t}* B, {t} d, long long m, long long ntot, long long c0, long long nc, {t}* X, long long n)
         {{ for (long long i = 0; i < n; i++) {{ {exact} }} }}
void activity(const {t}* X, long long m, long long ntot, long long c0, long long nc, {t}* ACT, long long n)
         {{ for (long long i = 0; i < n; i++) {{ {activity} }} }}
void form(const {t}* F, const {t}* TR, {t} s, {t}* O, long long n) {{ for (long long i = 0; i < n; i++) {{
#define f F[i]
#define tr TR[i]
#define o O[i]
{form};
#undef f
#undef tr
#undef o
}} }}
"""


def _compile(tmp_path, dtype, phi):
    src = kernel_sources(dtype, phi)
    t = "float" if np.dtype(dtype) == np.float32 else "double"
    code = _HARNESS.format(t=t, pre=src.pre.operation, exact=src.exact.operation, activity=src.activity.operation,
                           form=src.form.operation)
    c_file, so_file = tmp_path / f"k_{phi.name}.c", tmp_path / f"k_{phi.name}.so"
    c_file.write_text(code)
    subprocess.run(["cc", "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(so_file), str(c_file), "-lm"],
                   check=True, capture_output=True)
    return ctypes.CDLL(str(so_file))


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
@pytest.mark.parametrize("phi", [TANH, HALFSOFT], ids=lambda p: p.name)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rendered_kernels_compile_and_match_the_host_executor(tmp_path, phi, dtype):
    """The kernel bodies the GPU compiles, compiled as C on this machine, against HostOps on the same buffers."""
    lib = _compile(tmp_path, dtype, phi)
    scalar = ctypes.c_float if np.dtype(dtype) == np.float32 else ctypes.c_double
    R, M, ntot = 2, 3, 7
    rng = np.random.default_rng(3)
    host = {n: rng.normal(size=R * M * ntot).astype(dtype) for n in ("X", "ACT", "XC", "ACTC")}
    host["BIAS"] = rng.normal(size=R * ntot).astype(dtype)
    host["F0"], host["T:A"], host["OP0"] = (rng.normal(size=R * 12).astype(dtype) for _ in range(3))
    host["TR0"], host["SCALE0"] = host["T:A"], 0.5
    dev = {n: (v.copy() if isinstance(v, np.ndarray) else v) for n, v in host.items()}
    dev["TR0"] = dev["T:A"]
    prog = [Pre("X", "ACT", 0, 7, 0.1, phi), Pre("X", "ACT", 2, 3, 0.3, phi), Exact("XC", 4, 3, 0.6),
            Activity("XC", "ACTC", 1, 5, phi), Form(0)]
    HostOps(dtype).execute("k", prog, host, (R, M))

    def ptr(a):
        return a.ctypes.data_as(ctypes.c_void_p)

    L = ctypes.c_longlong
    for ins in prog:
        match ins:
            case Pre(x, act, c0, nc, a, _):
                lib.pre(ptr(dev["BIAS"]), scalar(a), L(M), L(ntot), L(c0), L(nc), ptr(dev[x]), ptr(dev[act]),
                        L(R * M * nc))
            case Exact(x, c0, nc, d):
                lib.exact(ptr(dev["BIAS"]), scalar(d), L(M), L(ntot), L(c0), L(nc), ptr(dev[x]), L(R * M * nc))
            case Activity(x, act, c0, nc, _):
                lib.activity(ptr(dev[x]), L(M), L(ntot), L(c0), L(nc), ptr(dev[act]), L(R * M * nc))
            case Form(i):
                lib.form(ptr(dev[f"F{i}"]), ptr(dev[f"TR{i}"]), scalar(dev[f"SCALE{i}"]), ptr(dev[f"OP{i}"]),
                         L(dev[f"OP{i}"].size))
    tol = 1e-6 if np.dtype(dtype) == np.float32 else 1e-14
    for n in ("X", "ACT", "XC", "ACTC", "OP0"):
        np.testing.assert_allclose(dev[n], host[n], rtol=tol, atol=tol, err_msg=n)
