"""The SVD view of learning (chaossim.analysis) on planted models whose answers are known by construction, and
the receptive fields against the couplings they are read from."""
import math

import numpy as np
import pytest

from chaossim.analysis import (
    count_distinct,
    coupling_matrix,
    fixed_points,
    mode_collapse_report,
    project,
    receptive_fields,
    singular_value_trajectories,
    singular_values,
    svd_modes,
)
from chaossim.errors import ConfigError, DataError, StoreError
from chaossim.models.architectures import Restricted, Unrestricted


def orthonormal(rng, n, k):
    q, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return q


def planted(rng, n, m, s, noise=1e-4):
    u, v = orthonormal(rng, n, len(s)), orthonormal(rng, m, len(s))
    return u @ np.diag(s) @ v.T + noise * rng.standard_normal((n, m)), u, v


def test_planted_low_rank_coupling_is_recovered(rng):
    s_true = np.array([9.0, 6.0, 4.0, 2.5, 1.5])
    a, u, v = planted(rng, 64, 40, s_true)
    model = Restricted(64, 40, g=1.5, seed=0)
    model.params["A"] = a
    est_u, est_s, est_vt = svd_modes(model.params["A"], 5)
    np.testing.assert_allclose(est_s, s_true, rtol=1e-3)
    assert np.all(np.abs(np.sum(est_u * u, axis=0)) > 0.999)
    assert np.all(np.abs(np.sum(est_vt.T * v, axis=0)) > 0.999)
    assert est_u.dtype == np.float64 and np.all(est_u.sum(axis=0) >= 0)
    np.testing.assert_allclose(singular_values(model.params["A"], 5), est_s)
    # the rest is the noise bulk, far below the planted values
    assert singular_values(model.params["A"])[5] < 0.01
    # sums and transposes of parameters, against numpy on the same sums
    w_plus_a = np.asarray(model.params["W"], np.float64) + np.asarray(model.params["A"], np.float64)
    np.testing.assert_allclose(singular_values(coupling_matrix(model.params, "W+A")),
                               np.linalg.svd(w_plus_a, compute_uv=False), rtol=1e-10)
    wt = np.asarray(model.params["Wt"], np.float64) + np.asarray(model.params["A"], np.float64).T
    np.testing.assert_allclose(coupling_matrix(model.params, "Wt + A.T"), wt)


def test_projection_on_modes(rng):
    a, u, _ = planted(rng, 30, 20, np.array([5.0, 3.0]))
    est_u, _, _ = svd_modes(a, 2)
    coeffs = rng.standard_normal((7, 2))
    samples = coeffs @ u.T
    p = project(samples, est_u)
    np.testing.assert_allclose(np.abs(p), np.abs(coeffs), atol=1e-3)
    assert project(samples, est_u, 1).shape == (7, 1)
    with pytest.raises(DataError, match="columns"):
        project(samples[:, :10], est_u)


def write_snapshots(folder, rng, steps):
    u, v = orthonormal(rng, 16, 3), orthonormal(rng, 8, 3)
    truth = {}
    folder.mkdir(parents=True)
    for step in steps:
        s = np.array([3.0, 2.0, 1.0]) * (1 + step / 100.0) ** np.array([1.0, 0.5, 0.25])
        truth[step] = s
        np.savez(folder / f"step_{step:07d}.npz", A=(u * s) @ v.T, W=np.zeros((16, 8)), b=np.zeros(16))
    (folder / "notes.txt").write_text("not a snapshot")
    return truth


def test_singular_value_trajectories_from_snapshot_files(tmp_path, rng):
    truth = write_snapshots(tmp_path / "run" / "snapshots", rng, [300, 0, 100, 1200])
    for source in (tmp_path / "run", tmp_path / "run" / "snapshots"):
        steps, s = singular_value_trajectories(source, which="A", k=3)
        assert list(steps) == [0, 100, 300, 1200]
        np.testing.assert_allclose(s, np.stack([truth[t] for t in steps]), rtol=1e-10)
    same = singular_value_trajectories({t: {"A": (np.diag(truth[t]))} for t in truth}, k=2)
    np.testing.assert_allclose(same[1], np.stack([truth[t][:2] for t in sorted(truth)]))
    steps, s = singular_value_trajectories(tmp_path / "run", which="W+A", k=2)
    np.testing.assert_allclose(s, np.stack([truth[t][:2] for t in steps]), rtol=1e-10)
    with pytest.raises(StoreError, match="snapshot"):
        singular_value_trajectories(tmp_path / "empty")
    with pytest.raises(DataError, match="'J'"):
        singular_value_trajectories(tmp_path / "run", which="J+A")
    with pytest.raises(ConfigError, match="k = 9"):
        singular_value_trajectories(tmp_path / "run", k=9)


def test_trainer_snapshots_are_readable(tmp_path):
    from chaossim.config import RunConfig
    from chaossim.data import Dataset
    from chaossim.runs.training import train

    rng = np.random.default_rng(1)
    x = np.tanh(rng.standard_normal((60, 9))).astype(np.float32)
    cfg = RunConfig().replace(**{"model.n_hidden": 5, "dynamics.T": 10.0, "training.steps": 4,
                                 "training.batch_size": 10, "training.log_every": 4, "training.n_eval": 10,
                                 "training.snapshot_every": 2})
    res = train(cfg, tmp_path / "run", progress=False, dataset=Dataset("toy", x[:50], x[50:], (3, 3), "test"))
    steps, s = singular_value_trajectories(tmp_path / "run", which="A", k=3)
    assert list(steps) == [2, 4]
    np.testing.assert_allclose(s[-1], np.linalg.svd(np.asarray(res.model.params["A"], np.float64),
                                                    compute_uv=False)[:3], rtol=1e-6)


def test_count_distinct_planted_clusters(rng):
    centers = rng.standard_normal((5, 10)) * 10
    labels_true = rng.integers(0, 5, size=200)
    pts = centers[labels_true] + 1e-3 * rng.standard_normal((200, 10))
    n, labels = count_distinct(pts, tol=0.1)
    assert n == 5
    # same partition as the planted one, labels in order of first appearance
    first = {}
    expected = np.array([first.setdefault(t, len(first)) for t in labels_true])
    np.testing.assert_array_equal(labels, expected)
    n_all, labels_all = count_distinct(pts, tol=1e-6)
    assert n_all == 200 and len(set(labels_all)) == 200
    # single linkage: a chain of points spaced 0.5 apart is one cluster at tol 0.6, each alone at 0.4
    chain = np.arange(10)[:, None] * np.array([[0.5, 0.0]])
    assert count_distinct(chain, 0.6)[0] == 1 and count_distinct(chain, 0.4)[0] == 10
    with pytest.raises(ConfigError, match="tol"):
        count_distinct(pts, 0)


def hopfield(n=200, p=3, c=3.0, seed=0):
    """Unrestricted net with g = 0 and A = c sqrt(N) (1/N) sum_mu xi xi^T: drive = c sum_mu xi^mu m_mu."""
    xi = np.random.default_rng(seed).choice([-1.0, 1.0], size=(p, n))
    model = Unrestricted(n, g=0.0, seed=0, dtype="float64")
    model.params["A"] = c * math.sqrt(n) / n * xi.T @ xi
    return model, xi, c


def test_fixed_points_reach_planted_patterns():
    model, xi, c = hopfield()
    lt = fixed_points(model, 40, 600.0, seed=3)
    assert lt.points.shape == (40, 200) and lt.fixed.all() and lt.fraction_fixed == 1.0
    assert np.all(lt.speed * model.tau < 1e-8)
    np.testing.assert_array_equal(np.asarray(lt), lt.points)
    overlaps = lt.points @ xi.T / xi.shape[1]
    best = np.argmax(np.abs(overlaps), axis=1)
    sign = np.sign(overlaps[np.arange(40), best])
    # each state is a planted pattern (either sign): phi = tanh(c sum_mu xi^mu m_mu), m ~ m* = tanh(c m*)
    assert np.all(np.abs(overlaps[np.arange(40), best]) > 0.95)
    np.testing.assert_allclose(lt.points, np.tanh(c * overlaps @ xi), atol=1e-8)
    np.testing.assert_array_equal(np.sign(lt.points), sign[:, None] * xi[best])
    n, _labels = count_distinct(lt.points, tol=1.0)
    assert n == len({(b, s) for b, s in zip(best, sign)}) and 1 < n <= 6
    report = mode_collapse_report(model, 40, 600.0, seed=3)
    assert report["n_distinct"] == n and report["n_fixed"] == 40
    # model generator untouched, and a chaotic net is reported as moving, not fixed
    moving = fixed_points(Unrestricted(200, g=4.0, seed=1), 4, 200.0, seed=0)
    assert not moving.fixed.any() and np.all(moving.speed * 10.0 > 1e-3)


def test_receptive_fields_equal_couplings_over_g(tiny_trained_run):
    from chaossim.runs.rundir import load_checkpoint

    params = load_checkpoint(tiny_trained_run)["params"]
    g = 1.5
    fields, units = receptive_fields(params, (8, 8), g=g, units=[0, 3, 15])
    assert units.tolist() == [0, 3, 15] and fields.shape == (3, 8, 8)
    w_plus_a = params["W"].astype(np.float64) + params["A"]
    for k, a in enumerate([0, 3, 15]):
        expected = np.array([[w_plus_a[8 * r + c, a] for c in range(8)] for r in range(8)]) / g
        np.testing.assert_allclose(fields[k], expected, rtol=1e-12)
    assert np.any(params["A"] != 0)  # the trained part really enters

    fields, units = receptive_fields(params, (8, 8), n=9, seed=5)
    assert len(set(units.tolist())) == 9 and units.min() >= 0 and units.max() < 16
    assert np.all(np.diff(units) > 0)


def test_receptive_fields_deep_rbm_and_unrestricted():
    rng = np.random.default_rng(1)
    w1, a1 = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    deep = {"W1": w1, "A1": a1, "Wt1": rng.normal(size=(4, 6)), "W2": rng.normal(size=(4, 3)),
            "A2": rng.normal(size=(4, 3)), "b": np.zeros(6)}
    f, _ = receptive_fields(deep, (2, 3), g=2.0, units=[1])
    np.testing.assert_allclose(f[0], ((w1 + a1)[:, 1] / 2.0).reshape(2, 3))
    rbm = {"W": w1, "b": np.zeros(6), "c": np.zeros(4)}
    f, _ = receptive_fields(rbm, (3, 2), units=[2])
    np.testing.assert_allclose(f[0], w1[:, 2].reshape(3, 2))
    with pytest.raises(ConfigError, match="unrestricted"):
        receptive_fields({"J": w1, "A": a1, "b": np.zeros(6)}, (2, 3))
    with pytest.raises(DataError, match="image shape"):
        receptive_fields(rbm, (2, 2))
    with pytest.raises(ConfigError, match="1 <= n <= 4"):
        receptive_fields(rbm, (2, 3), n=5)
    with pytest.raises(ConfigError, match=r"in \[0, 3\]"):
        receptive_fields(rbm, (2, 3), units=[4])


def test_receptive_fields_of_the_trained_part_alone():
    rng = np.random.default_rng(2)
    w, a = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    restricted = {"W": w, "A": a, "Wt": rng.normal(size=(4, 6)), "b": np.zeros(6), "c": np.zeros(4)}
    f, _ = receptive_fields(restricted, (2, 3), g=2.0, units=[3, 0], part="A")
    np.testing.assert_allclose(f, np.stack([a[:, 3], a[:, 0]]).reshape(2, 2, 3) / 2.0)  # no W in it
    deep = {"W1": w, "A1": a, "b": np.zeros(6)}
    f, _ = receptive_fields(deep, (2, 3), g=0.5, units=[1], part="A")
    np.testing.assert_allclose(f[0], (a[:, 1] / 0.5).reshape(2, 3))
    with pytest.raises(ConfigError, match="RBM has no separate trained part"):
        receptive_fields({"W": w, "b": np.zeros(6), "c": np.zeros(4)}, (2, 3), part="A")
    with pytest.raises(ConfigError, match="part must be one of"):
        receptive_fields(restricted, (2, 3), part="W")
