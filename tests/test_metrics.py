"""Tests of chaossim.metrics against independent float64 references (paper eqs. 16-19, docs/indices.md).

References: explicit loops over numpy.cov, numpy.linalg.svd, scipy cKDTree nearest neighbours,
hand-made configurations with known nearest neighbours, and closed-form limits.
"""
from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from scipy.spatial import cKDTree

from chaossim.backend import get_backend, gpu_available, to_numpy
from chaossim.errors import ConfigError, DataError
from chaossim.metrics import (
    aai_error,
    aai_fractions,
    all_indices,
    reconstruction_error,
    second_moment_error,
    spectrum_error,
)


def _pair(seed, ns_d, ns_g, nv, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(nv, nv)) / math.sqrt(nv)
    d = np.tanh(rng.normal(size=(ns_d, nv)) @ mix)
    g = np.tanh(rng.normal(size=(ns_g, nv)) @ (mix + 0.3 * rng.normal(size=(nv, nv)) / math.sqrt(nv)) + shift)
    return d, g


# ----------------------------------------------------------------------------- references
def _ref_e2(d, g, ddof=0):
    cd = np.cov(d, rowvar=False, ddof=ddof)
    cg = np.cov(g, rowvar=False, ddof=ddof)
    nv = d.shape[1]
    total = 0.0
    for i in range(nv):
        for j in range(i + 1, nv):
            total += (cg[i, j] - cd[i, j]) ** 2
    return total / (nv * (nv - 1))


def _ref_es(d, g):
    sd = np.linalg.svd(d, compute_uv=False)
    sg = np.linalg.svd(g, compute_uv=False)
    return float(np.sum((sg - sd) ** 2) / d.shape[0])


def _ref_fractions_pooled(d, g):
    """P_GG, P_DD from a pooled cKDTree k=2 query, self excluded (no ties in random data)."""
    x = np.concatenate([d, g])
    _, idx = cKDTree(x).query(x, k=2)
    own = np.arange(len(x))
    nn = np.where(idx[:, 0] == own, idx[:, 1], idx[:, 0])
    is_data = own < len(d)
    same = is_data == (nn < len(d))
    return same[len(d):].mean(), same[: len(d)].mean()


def _ref_fractions_strict(d, g):
    """P_GG, P_DD with the documented tie rule: same set only if strictly closer."""
    td, tg = cKDTree(d), cKDTree(g)
    dd = td.query(d, k=2)[0][:, 1] if len(d) > 1 else np.full(len(d), np.inf)
    dg = tg.query(d, k=1)[0]
    gg = tg.query(g, k=2)[0][:, 1] if len(g) > 1 else np.full(len(g), np.inf)
    gd = td.query(g, k=1)[0]
    return float(np.mean(gg < gd)), float(np.mean(dd < dg))


# ------------------------------------------------------------------------------- E(2)
def test_e2_matches_explicit_loop_over_numpy_cov():
    d, g = _pair(1, 40, 55, 7)
    assert second_moment_error(d, g) == pytest.approx(_ref_e2(d, g), rel=1e-12)


def test_e2_conversion_to_unbiased_covariance():
    d, g = _pair(2, 30, 30, 6)
    ns = 30
    assert second_moment_error(d, g) * (ns / (ns - 1)) ** 2 == pytest.approx(_ref_e2(d, g, ddof=1), rel=1e-12)


def test_e2_invariant_to_constant_shift_but_es_is_not():
    d, g = _pair(3, 50, 50, 8)
    c = np.linspace(-0.7, 0.9, 8)
    assert second_moment_error(d, g + c) == pytest.approx(second_moment_error(d, g), rel=1e-10)
    assert second_moment_error(d + c, g + c) == pytest.approx(second_moment_error(d, g), rel=1e-10)
    es, es_shift = spectrum_error(d, g), spectrum_error(d, g + c)
    assert es_shift == pytest.approx(_ref_es(d, g + c), rel=1e-10)
    assert abs(es_shift - es) > 0.1 * es


# ------------------------------------------------------------------------------- E(s)
@pytest.mark.parametrize("ns,nv", [(60, 9), (9, 25)])
def test_es_matches_numpy_svd(ns, nv):
    d, g = _pair(4, ns, ns, nv)
    assert spectrum_error(d, g) == pytest.approx(_ref_es(d, g), rel=1e-12)


def test_es_centered_option_and_rescaled_conversion():
    d, g = _pair(5, 40, 40, 6)
    dc, gc = d - d.mean(0), g - g.mean(0)
    assert spectrum_error(d, g, center=True) == pytest.approx(_ref_es(dc, gc), rel=1e-12)
    # s' = s_c / sqrt(Ns): s'^2 are the eigenvalues of the 1/Ns covariance.
    ev_d = np.sort(np.linalg.eigvalsh(np.cov(d, rowvar=False, bias=True)))[::-1]
    ev_g = np.sort(np.linalg.eigvalsh(np.cov(g, rowvar=False, bias=True)))[::-1]
    e_rescaled = np.sum((np.sqrt(np.clip(ev_g, 0, None)) - np.sqrt(np.clip(ev_d, 0, None))) ** 2) / 40
    assert spectrum_error(d, g, center=True) / 40 == pytest.approx(e_rescaled, rel=1e-9)


# ----------------------------------------------------------------------------- E(AAI)
@pytest.mark.parametrize("max_block_bytes", [256 * 2**20, 8 * 2 * 150 * 7, 8 * 5 * 5, 1])
def test_aai_fractions_match_ckdtree(max_block_bytes):
    ns = 40 if max_block_bytes == 1 else 150  # 1 byte: one-sample tiles, (2 ns)^2 / 2 of them
    d, g = _pair(6, ns, ns, 12, shift=0.2)
    p_gg, p_dd = aai_fractions(d, g, max_block_bytes=max_block_bytes)
    ref_gg, ref_dd = _ref_fractions_pooled(d, g)
    assert (p_gg, p_dd) == (ref_gg, ref_dd)
    assert aai_error(d, g, max_block_bytes=max_block_bytes) == pytest.approx(
        0.5 * ((ref_gg - 0.5) ** 2 + (ref_dd - 0.5) ** 2), abs=1e-15
    )
    assert 0.0 < aai_error(d, g) < 0.25  # a non-trivial case


def test_aai_far_apart_clusters_gives_quarter():
    rng = np.random.default_rng(7)
    d = rng.normal(size=(100, 5))
    g = rng.normal(size=(100, 5)) + 100.0
    assert aai_fractions(d, g) == (1.0, 1.0)
    assert aai_error(d, g) == 0.25


def test_aai_independent_draws_near_zero():
    ns, nv = 2000, 20
    rng = np.random.default_rng(8)
    d, g = rng.normal(size=(ns, nv)), rng.normal(size=(ns, nv))
    p_gg, p_dd = aai_fractions(d, g)
    # By exchangeability the nearest neighbour is any of the other 2Ns-1 points with equal
    # probability: E[P] = (Ns-1)/(2Ns-1). Mutual nearest-neighbour pairs correlate the
    # indicators, at most doubling the binomial variance 1/(4 Ns): allow 5 such std.
    mean_p = (ns - 1) / (2 * ns - 1)
    tol = 5 * math.sqrt(2 * 0.25 / ns)
    assert abs(p_gg - mean_p) < tol and abs(p_dd - mean_p) < tol
    assert aai_error(d, g) < tol**2
    # Power: a unit mean shift in every direction is detected well beyond that bound.
    assert aai_error(d, g + 1.0) > 10 * tol**2


@pytest.mark.parametrize(
    "d,g,p_gg,p_dd",
    [
        ([[0.0]], [[5.0]], 0.0, 0.0),  # 2 points: each one's only neighbour is in the other set
        ([[0.0], [1.0]], [[1.5], [10.0]], 0.5, 0.5),  # D0->D1, D1->G1.5, G1.5->D1, G10->G1.5
        ([[0.0], [1.0]], [[3.0], [10.0]], 0.5, 1.0),  # D0->D1, D1->D0, G3->D1, G10->G3
        ([[0.0, 0.0], [0.0, 1.0]], [[5.0, 5.0], [5.0, 6.5]], 1.0, 1.0),
        ([[0.0], [2.0]], [[4.0], [10.0]], 0.5, 0.5),  # tie: D2 is 2 from D0 and G4 -> other set
    ],
)
def test_aai_hand_made_examples(d, g, p_gg, p_dd):
    d, g = np.array(d), np.array(g)
    assert aai_fractions(d, g) == (p_gg, p_dd)
    assert aai_error(d, g) == pytest.approx(0.5 * ((p_gg - 0.5) ** 2 + (p_dd - 0.5) ** 2), abs=1e-15)


def test_aai_exact_duplicates_deterministic_and_order_free():
    rng = np.random.default_rng(9)
    # Grey levels mapped to [-1, 1] (not exactly representable: rounding in the GEMM).
    d = 2 * rng.integers(0, 256, size=(60, 30)) / 255 - 1
    g = 2 * rng.integers(0, 256, size=(60, 30)) / 255 - 1
    g[:20] = d[:20]  # cross-set copies
    d[40:45] = d[30:35]  # within-set copies
    g[50:55] = d[5:10]
    ref = _ref_fractions_strict(d, g)
    assert aai_fractions(d, g) == ref
    perm_d, perm_g = rng.permutation(60), rng.permutation(60)
    for block in (256 * 2**20, 1000):
        assert aai_fractions(d[perm_d], g[perm_g], max_block_bytes=block) == ref
        assert aai_fractions(g, d, max_block_bytes=block) == (ref[1], ref[0])


def test_aai_exact_ties_with_rounding_in_the_gemm():
    """Integer data: exact ties everywhere (cKDTree is exact); centring makes our GEMM round."""
    rng = np.random.default_rng(23)
    d = rng.integers(-3, 4, size=(301, 12)).astype(float)
    g = rng.integers(-3, 4, size=(301, 12)).astype(float)
    ref = _ref_fractions_strict(d, g)
    assert aai_fractions(d, g) == ref
    assert aai_fractions(d, g, max_block_bytes=10_000) == ref


def test_aai_memory_is_blocked():
    """The 2Ns x 2Ns float64 matrix (72 MB here) is never allocated; NumPy reports to tracemalloc."""
    d, g = _pair(10, 1500, 1500, 10)
    tracemalloc.start()
    try:
        aai_fractions(d, g, max_block_bytes=2**20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


# ----------------------------------------------------------------------- shared properties
def test_identical_sets():
    d, _ = _pair(11, 80, 80, 10)
    assert second_moment_error(d, d.copy()) == pytest.approx(0.0, abs=1e-12)
    assert spectrum_error(d, d.copy()) == pytest.approx(0.0, abs=1e-12)
    # Every sample's nearest neighbour is its copy in the other set: perfect alternation.
    assert aai_error(d, d.copy()) == 0.25


def test_symmetric_in_swapping_data_and_generated():
    d, g = _pair(12, 70, 70, 9, shift=0.1)
    assert second_moment_error(g, d) == pytest.approx(second_moment_error(d, g), rel=1e-12)
    assert spectrum_error(g, d) == pytest.approx(spectrum_error(d, g), rel=1e-12)
    assert aai_error(g, d) == aai_error(d, g)
    assert aai_fractions(g, d) == aai_fractions(d, g)[::-1]


@pytest.mark.parametrize("offset", [3.0, 1e7])
def test_aai_invariant_to_common_shift(offset):
    """Distances do not change; a large offset must not cause cancellation in |a|^2 - 2ab + |b|^2."""
    d, g = _pair(13, 90, 90, 8, shift=0.1)
    c = offset * np.linspace(-1, 1, 8)
    assert aai_fractions(d + c, g + c) == aai_fractions(d, g)


def test_float32_input_matches_float64():
    d64, g64 = _pair(14, 300, 300, 16, shift=0.1)
    d32, g32 = d64.astype(np.float32), g64.astype(np.float32)
    assert second_moment_error(d32, g32) == pytest.approx(second_moment_error(d64, g64), rel=1e-4)
    assert spectrum_error(d32, g32) == pytest.approx(spectrum_error(d64, g64), rel=1e-4)
    # Rounding the inputs to float32 may at most flip a nearest neighbour that was within
    # float32 precision of a tie; none is here.
    assert aai_fractions(d32, g32) == aai_fractions(d64, g64)


# -------------------------------------------------------------------------- validation
@pytest.mark.parametrize("fn", [second_moment_error, spectrum_error, aai_error])
def test_validation_errors(fn):
    d, g = _pair(15, 20, 20, 5)
    with pytest.raises(DataError, match="2-D"):
        fn(d[0], g)
    with pytest.raises(DataError, match="columns"):
        fn(d, g[:, :4])
    bad = g.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fn(d, bad)
    bad[3, 2] = np.inf
    with pytest.raises(DataError, match="NaN or inf"):
        fn(bad, d)
    with pytest.raises(DataError, match="array"):
        fn(d.tolist(), g)
    with pytest.raises(DataError, match="empty"):
        fn(d[:0], g)


@pytest.mark.parametrize("fn", [spectrum_error, aai_error])
def test_unequal_sizes_refused_where_needed(fn):
    d, g = _pair(16, 20, 25, 5)
    with pytest.raises(DataError, match="equal sizes"):
        fn(d, g)
    assert second_moment_error(d, g) == pytest.approx(_ref_e2(d, g), rel=1e-12)


def test_e2_needs_two_units_and_block_size_positive():
    d, g = _pair(17, 10, 10, 1)
    with pytest.raises(DataError, match="at least 2 columns"):
        second_moment_error(d, g)
    with pytest.raises(ConfigError, match="max_block_bytes"):
        aai_error(d, g, max_block_bytes=0)


# ------------------------------------------------------------------------------- E(R)
class HalfReconstructor:
    """Stand-in model whose reconstruction is exactly data / 2 (records the time asked)."""

    reconstructs = True

    def __init__(self):
        self.calls = []

    def reconstruct(self, data, t=None):
        self.calls.append(t)
        return data * 0.5


class NoHidden:
    reconstructs = False


def test_reconstruction_error_stand_in():
    d, _ = _pair(18, 30, 30, 6)
    model = HalfReconstructor()
    expected = sum(0.25 * v * v for v in d.ravel().tolist()) / d.size
    assert reconstruction_error(model, d, 100.0) == pytest.approx(expected, rel=1e-12)
    assert model.calls == [100.0]
    assert reconstruction_error(model, d) == pytest.approx(expected, rel=1e-12)


def test_reconstruction_error_refuses_models_without_hidden_layer():
    d, _ = _pair(19, 10, 10, 4)
    for model in (NoHidden(), None):
        with pytest.raises(ConfigError, match="restricted"):
            reconstruction_error(model, d, 10.0)


def test_reconstruction_error_checks_output_shape():
    class Bad:
        reconstructs = True

        def reconstruct(self, data, t):
            return data[:, :-1]

    d, _ = _pair(20, 10, 10, 4)
    with pytest.raises(DataError, match="reconstruct returned"):
        reconstruction_error(Bad(), d, 1.0)


def test_all_indices():
    d, g = _pair(21, 50, 50, 8, shift=0.1)
    model = HalfReconstructor()
    out = all_indices(model, d, g, t=5.0)
    assert set(out) == {"E2", "Es", "EAAI", "ER"}
    assert out["E2"] == pytest.approx(_ref_e2(d, g), rel=1e-12)
    assert out["Es"] == pytest.approx(_ref_es(d, g), rel=1e-12)
    p_gg, p_dd = _ref_fractions_pooled(d, g)
    assert out["EAAI"] == pytest.approx(0.5 * ((p_gg - 0.5) ** 2 + (p_dd - 0.5) ** 2), abs=1e-15)
    assert out["ER"] == pytest.approx(np.mean((0.5 * d) ** 2), rel=1e-12)
    assert model.calls == [5.0]
    for m in (None, NoHidden()):
        res = all_indices(m, d, g)
        assert math.isnan(res["ER"]) and res["E2"] == out["E2"]
    assert all(isinstance(v, float) for v in out.values())


# -------------------------------------------------------------------------------- GPU
@pytest.mark.parametrize("backend", ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backends_agree_with_numpy_float64(backend, dtype):
    if backend == "cupy" and not gpu_available():
        pytest.skip("no usable GPU")
    bk = get_backend(backend, dtype)
    d, g = _pair(22, 400, 400, 30, shift=0.1)
    d, g = d.astype(dtype), g.astype(dtype)  # same input values on both backends
    xd, xg = bk.asarray(d), bk.asarray(g)
    assert type(xd).__module__.split(".")[0] == backend
    assert second_moment_error(xd, xg) == pytest.approx(_ref_e2(d.astype(float), g.astype(float)), rel=1e-10)
    assert spectrum_error(xd, xg) == pytest.approx(_ref_es(d.astype(float), g.astype(float)), rel=1e-10)
    ref = _ref_fractions_pooled(d.astype(float), g.astype(float))
    assert aai_fractions(xd, xg) == ref
    assert aai_fractions(xd, xg, max_block_bytes=8 * 800 * 37) == ref
    model = HalfReconstructor()
    expected = float(np.mean((0.5 * d.astype(float)) ** 2))
    assert reconstruction_error(model, xd, 1.0) == pytest.approx(expected, rel=1e-10)
    assert isinstance(to_numpy(xd), np.ndarray)
