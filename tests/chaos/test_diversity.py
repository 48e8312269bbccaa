"""Diversity diagnostics (chaossim.chaos.diversity) against closed forms and hand-built sets."""
import math

import numpy as np
import pytest

import chaossim as cs
from chaossim.backend import get_backend
from chaossim.chaos.diversity import (
    distinct_states,
    diversity_along,
    mean_pairwise_distance,
    participation_ratio,
)
from chaossim.errors import ConfigError, DataError


def test_pairwise_distance_of_a_gaussian_cloud():
    """x_i ~ N(m, s^2 I_d): ||x_i - x_j||^2 ~ 2 s^2 chi2_d, so E||x_i - x_j|| = 2 s Gamma((d+1)/2) / Gamma(d/2)
    (-> s sqrt(2d)); the mean over n(n-1)/2 pairs of n = 200 points in d = 400 is within 1 %."""
    rng = np.random.default_rng(0)
    d, n, s = 400, 200, 0.3
    x = 5.0 + s * rng.standard_normal((n, d))
    expect = 2 * s * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
    assert mean_pairwise_distance(x) == pytest.approx(expect, rel=0.01)
    assert expect == pytest.approx(s * math.sqrt(2 * d), rel=0.01)


def test_pairwise_distance_by_hand():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]])
    assert mean_pairwise_distance(x) == pytest.approx((5 + 4 + 3) / 3)


def test_participation_ratio_closed_forms():
    rng = np.random.default_rng(1)
    d, n = 20, 20000
    # isotropic: E tr C^2 = d^2/(n-1) + d (Wishart), so PR -> d / (1 + d/(n-1)) ~ d
    pr = participation_ratio(rng.standard_normal((n, d)))
    assert pr == pytest.approx(d / (1 + d / (n - 1)), rel=0.02)
    # rank one: all points on a line
    line = rng.standard_normal((50, 1)) * rng.standard_normal((1, d))
    assert participation_ratio(line) == pytest.approx(1.0, rel=1e-9)
    # two orthogonal directions with variances 4 and 1: (4 + 1)^2 / (16 + 1)
    u = np.zeros((4, 3))
    u[:, 0] = [2, -2, 2, -2]
    u[:, 1] = [1, 1, -1, -1]
    assert participation_ratio(u) == pytest.approx(25 / 17)
    assert participation_ratio(np.ones((5, 3))) == 0.0


def test_distinct_states_on_hand_built_sets():
    rng = np.random.default_rng(2)
    d = 100
    centres = rng.uniform(-1, 1, (3, d))
    x = np.concatenate([c + 1e-3 * rng.standard_normal((7, d)) for c in centres])
    rng.shuffle(x)
    assert distinct_states(x, tol=0.05) == 3
    assert distinct_states(x, tol=1e-5) == 21
    assert distinct_states(np.repeat(centres[:1], 5, axis=0), tol=0.05) == 1


def test_bad_input():
    with pytest.raises(DataError, match="two runs"):
        mean_pairwise_distance(np.zeros((1, 3)))
    with pytest.raises(DataError, match="2-d"):
        participation_ratio(np.zeros(3))
    with pytest.raises(ConfigError, match="tol"):
        distinct_states(np.zeros((3, 2)), tol=0)
    m = cs.Restricted(6, 4)
    with pytest.raises(ConfigError, match="spread"):
        diversity_along(m, 4, [1.0], 0.0, seed=0)
    with pytest.raises(ConfigError, match="n"):
        diversity_along(m, 1, [1.0], 0.5, seed=0)


def test_diversity_along_time_untrained_nets():
    """At t = 0 the runs are the starts: for spread eps the phi(v) differ by about eps * phi'; all collapse
    onto one state for a contracting net (g = 0.5, only the fixed point 0), while a chaotic net (g = 4)
    turns a 1e-3 spread into as much variety as independent starts give once exp(lambda_max t) >> 1e3, i.e.
    t >> ln(1e3) / 0.11 = 63 tau: at 150 tau."""
    times = [0.0, 1500.0]
    calm = cs.Unrestricted(300, g=0.5, seed=1, dtype="float64")
    d = diversity_along(calm, 16, times, 1e-3, seed=0)
    assert d["distance"][0] < 1e-3 * math.sqrt(2 * 300)
    assert d["distinct"][1] == 1 and d["distance"][1] < 1e-8
    wild = cs.Unrestricted(300, g=4.0, seed=1, dtype="float64")
    tiny = diversity_along(wild, 16, times, 1e-3, seed=0)
    full = diversity_along(wild, 16, times, 1.0, seed=0)
    assert tiny["distinct"][1] == 16
    assert tiny["distance"][1] == pytest.approx(full["distance"][1], rel=0.1)
    assert tiny["pr"][1] > 5


def test_diversity_on_the_strict_namespace_matches_numpy():
    np_m = cs.Restricted(8, 5, g=2.0, seed=3, dtype="float64")
    st_m = cs.Restricted(8, 5, g=2.0, seed=3, dtype="float64", backend=get_backend("strict", "float64"))
    a = diversity_along(np_m, 6, [0.0, 20.0], 0.1, seed=4)
    b = diversity_along(st_m, 6, [0.0, 20.0], 0.1, seed=4)
    for k in ("distance", "pr", "distinct"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12)
