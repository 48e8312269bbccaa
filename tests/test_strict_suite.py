"""Everything chaossim computes, run on the strict namespace (chaossim.strict): CuPy's refusals on the CPU.

Each test runs a component on ``backend="strict"`` (NumPy underneath, CuPy's rules on top) and asserts
  * zero implicit conversions to NumPy (each would also have raised, as CuPy raises),
  * the same numbers as the NumPy backend, bit for bit (the wrapper must not change the physics),
  * where it matters for speed on a GPU, the exact number of host synchronisations.

Host synchronisations per training step, as asserted below:
  * ``ScheduledTrainer.train_step(check=False)`` (the fused fast step): 0;
  * ``model.train_step(check=False)`` (engine, single model or ensemble): 0;
  * ``model.train_step()`` (validating its batch): 1;
  * the training loop (``chaossim.runs.training.train``) between evaluations: 1, the divergence check;
  * the ensemble loop (``chaossim.runs.ensemble_training.train_ensemble``, what a grouped sweep task runs)
    between evaluations: 1 per ensemble step whatever the number of members (one finite flag per member,
    read together), on the engine and on the fused schedule alike.
Uploads per loop step: 1 (the minibatch's row indices, drawn on the host; all members' at once).
"""
import math

import numpy as np
import pytest

from chaossim import strict
from chaossim.backend import get_backend, to_numpy
from chaossim.config import RunConfig
from chaossim.ensemble import Ensemble
from chaossim.kernels import HostOps, ScheduledTrainer
from chaossim.models import Deep, Restricted, Unrestricted

ARCHS = [(Unrestricted, (10,)), (Restricted, (10, 7)), (Deep, (10, 7, 5))]
GS, SEEDS = [1.2, 1.6, 2.2], [0, 1, 2]
SYNCS_PER_LOOP_STEP = 1
SYNCS_PER_FAST_STEP = 0


def _unit(rng, shape):
    return np.tanh(rng.normal(size=shape))


def _same(a, b):
    """Bit-equal NumPy results of a strict and a NumPy computation (dicts, tuples, arrays, floats)."""
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) or isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == b, (a, b)
    else:
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def _clean(log, syncs=None):
    assert log.implicit == 0 and log.mixed == 0, log.report()
    if syncs is not None:
        assert log.syncs == syncs, log.report()


@pytest.fixture(scope="module")
def digits():
    from chaossim.data import load_dataset

    return load_dataset("digits", n_train=300, n_test=80)


# ---------------------------------------------------------------------------------------------- engine
@pytest.mark.parametrize("cls,sizes", ARCHS)
def test_engine(cls, sizes):
    s, n = cls(*sizes, g=1.5, seed=3, backend="strict", dtype="float64"), cls(*sizes, g=1.5, seed=3, dtype="float64")
    rng = np.random.default_rng(0)
    state = {k: rng.normal(size=(4, v)) for k, v in n.sizes.items()}
    with strict.record() as log:
        out_s = s.run(state, 6, record=[0, 3, 6])
        gen_s = s.generate(5, [2.0, 6.0])
        tan_s = s.euler_tangent(s._as_state(state), s._as_state(state), 0.1, s.operators())
    _clean(log)
    _same(out_s, n.run(state, 6, record=[0, 3, 6]))
    _same(gen_s, n.generate(5, [2.0, 6.0]))
    _same(tan_s, n.euler_tangent(state, state, 0.1, n.operators()))
    if cls is not Unrestricted:
        data = _unit(rng, (4, sizes[0]))
        with strict.record() as log:
            rec = s.reconstruct(data, 4.0)
        _clean(log)
        _same(rec, n.reconstruct(data, 4.0))
    for check, syncs in ((False, 0), (True, 1)):
        batch = _unit(rng, (6, sizes[0]))
        with strict.record() as log:
            s.train_step(batch, T=5, k=0.3, check=check)
        _clean(log, syncs)
        n.train_step(batch, T=5, k=0.3)
        _same(dict(s.params), dict(n.params))


@pytest.mark.parametrize("cls,sizes", ARCHS)
def test_ensemble(cls, sizes):
    s = Ensemble(cls.arch, sizes, GS, SEEDS, backend="strict", dtype="float64")
    n = Ensemble(cls.arch, sizes, GS, SEEDS, dtype="float64")
    rng = np.random.default_rng(1)
    for check, syncs in ((False, 0), (True, 1)):
        batches = _unit(rng, (3, 6, sizes[0]))
        with strict.record() as log:
            s.train_step(batches, T=4, k=0.2, check=check)
        _clean(log, syncs)
        n.train_step(batches, T=4, k=0.2)
    _same(dict(s.params), dict(n.params))
    with strict.record() as log:
        gen = s.generate(3, 5.0)
        members = s.members()
    _clean(log)
    assert log.generators == 0  # members share the ensemble's generators; none is created
    _same(gen, n.generate(3, 5.0))
    for ms, mn in zip(members, n.members()):
        _same(dict(ms.params), dict(mn.params))


@pytest.mark.parametrize("cls,sizes", ARCHS)
@pytest.mark.parametrize("ensemble", [False, True])
@pytest.mark.parametrize("streams", [1, 2])
def test_fused_step_reads_nothing_back(cls, sizes, ensemble, streams):
    """The fused schedule around its ops (HostOps on strict buffers): no host synchronisation at all."""
    def make(backend):
        if ensemble:
            return Ensemble(cls.arch, sizes, GS, SEEDS, backend=backend, dtype="float64")
        return cls(*sizes, g=1.5, seed=4, backend=backend, dtype="float64")

    s, n = make("strict"), make("numpy")
    trainer = ScheduledTrainer(s, HostOps(np.float64, streams=streams, xp=strict.xp))
    rng = np.random.default_rng(2)
    for _ in range(3):
        batch = _unit(rng, ((3,) if ensemble else ()) + (5, sizes[0]))
        with strict.record() as log:
            trainer.train_step(batch, T=4, k=0.3, check=False)
        _clean(log, SYNCS_PER_FAST_STEP)
        n.train_step(batch, T=4, k=0.3)
    for k in n.params:
        np.testing.assert_allclose(to_numpy(s.params[k]), n.params[k], rtol=0, atol=1e-12)
    with strict.record() as log:
        trainer.train_step(_unit(rng, ((3,) if ensemble else ()) + (5, sizes[0])), T=4, k=0.3)
    _clean(log, 1)  # check=True: the batch's one value check, before any kernel


# ---------------------------------------------------------------------------------------------- training loop
def _config(**extra):
    base = {"model.n_hidden": 10, "training.steps": 3, "training.batch_size": 30, "training.log_every": 1000,
            "training.checkpoint_every": 1000, "training.n_eval": 40, "dynamics.T": 6.0, "training.k": 0.05}
    return RunConfig().replace(**{**base, **extra})


@pytest.mark.parametrize("arch", ["unrestricted", "restricted", "deep"])
def test_training_loop_syncs_per_step(arch, digits):
    from chaossim.runs.training import train

    runs = {}
    for steps in (3, 7):
        cfg = _config(**{"model.arch": arch, "model.n_hidden2": 5, "training.steps": steps, "backend.name": "strict"})
        with strict.record() as log:
            res = train(cfg, progress=False, dataset=digits)
        _clean(log)
        runs[steps] = (log, res)
    (short, _), (long, res) = runs[3], runs[7]
    extra = long.sync_sites() - short.sync_sites()
    assert sum(extra.values()) == SYNCS_PER_LOOP_STEP * 4, long.report()
    assert all("training.py" in site and "_check_finite" in site for site in extra), extra
    assert long.uploads - short.uploads == 4  # the minibatch row indices
    assert long.generators == 1  # the model's generator, re-keyed at every step and evaluation
    ref = train(_config(**{"model.arch": arch, "model.n_hidden2": 5, "training.steps": 7}), progress=False,
                dataset=digits)
    _same(dict(res.model.params), dict(ref.model.params))
    _same(res.history, ref.history)


SYNCS_PER_ENSEMBLE_STEP = 1


@pytest.mark.parametrize("trainer", ["auto", "fused"])
@pytest.mark.parametrize("arch", ["restricted", "deep"])
def test_ensemble_loop_syncs_per_step(arch, trainer):
    """Three members (two data splits) trained as one ensemble: engine (auto) or the fused schedule."""
    from chaossim.data import load_dataset
    from chaossim.runs.ensemble_training import train_ensemble

    members = [(1.2, 0), (1.6, 1), (2.2, 0)]
    data = {s: load_dataset("digits", n_train=300, n_test=80, seed=s) for s in (0, 1)}

    def cfgs(steps, backend):
        base = _config(**{"model.arch": arch, "model.n_hidden2": 5, "training.steps": steps, "backend.name": backend,
                          "backend.trainer": trainer, "backend.dtype": "float64"})
        return [base.replace(**{"model.g": g, "model.seed": s}) for g, s in members]

    runs = {}
    for steps in (3, 7):
        with strict.record() as log:
            res = train_ensemble(cfgs(steps, "strict"), datasets=[data[s] for _, s in members])
        _clean(log)
        runs[steps] = (log, res)
    (short, _), (long, res) = runs[3], runs[7]
    extra = long.sync_sites() - short.sync_sites()
    assert sum(extra.values()) == SYNCS_PER_ENSEMBLE_STEP * 4, long.report()
    assert all("ensemble_training.py" in site and "_not_finite" in site for site in extra), extra
    assert long.uploads - short.uploads == 4  # the members' minibatch row indices, one upload per step
    ref = train_ensemble(cfgs(7, "numpy"), datasets=[data[s] for _, s in members])
    for a, b in zip(res, ref):
        assert a.train_path == b.train_path == ("fused-host" if trainer == "fused" else "engine")
        _same(dict(a.model.params), dict(b.model.params))
        _same(a.history, b.history)


def test_training_loop_with_files_chaos_and_snapshots(digits, tmp_path):
    from chaossim.runs.rundir import load_run
    from chaossim.runs.training import train

    extra = {"training.steps": 4, "training.log_every": 2, "training.checkpoint_every": 2, "training.chaos_every": 2,
             "training.snapshot_every": 2}
    with strict.record() as log:
        res = train(_config(**extra, **{"backend.name": "strict"}), tmp_path / "s", progress=False, dataset=digits)
        resumed = train(_config(**{**extra, "training.steps": 6}, **{"backend.name": "strict"}), tmp_path / "s",
                        resume=True, progress=False, dataset=digits)
        _, loaded, _ = load_run(tmp_path / "s", backend="strict")
    _clean(log)
    ref = train(_config(**{**extra, "training.steps": 6}), tmp_path / "n", progress=False, dataset=digits)
    _same(dict(resumed.model.params), dict(ref.model.params))
    _same(resumed.history, ref.history)
    _same(resumed.chaos, ref.chaos)
    _same(dict(loaded.params), dict(ref.model.params))
    assert res.step == 4 and resumed.step == 6


def test_rbm_training_loop(digits):
    from chaossim.runs.training import train

    cfg = _config(**{"model.arch": "rbm", "model.persistent": True, "dynamics.T": 3.0})
    with strict.record() as log:
        res = train(cfg.replace(**{"backend.name": "strict"}), progress=False, dataset=digits)
    _clean(log)
    ref = train(cfg, progress=False, dataset=digits)
    _same(dict(res.model.params), dict(ref.model.params))


# ---------------------------------------------------------------------------------------------- evaluation, metrics
def test_evaluation_and_metrics(digits):
    from chaossim import metrics
    from chaossim.evaluation import indices_at, indices_vs_time

    s, n = Restricted(64, 12, seed=5, backend="strict"), Restricted(64, 12, seed=5)
    data = digits.test[:40]
    with strict.record() as log:
        a = indices_at(s, data, 10.0, seed=3)
        b = indices_vs_time(s, data, [1.0, 10.0, 30.0], seed=3)
        gen_s = s.generate(40, 10.0)
        dev = s.bk.asarray(data)
        m = {"E2": metrics.second_moment_error(dev, gen_s), "Es": metrics.spectrum_error(data, gen_s, center=True),
             "AAI": metrics.aai_fractions(dev, gen_s, max_block_bytes=4096),
             "ER": metrics.reconstruction_error(s, dev, 5.0), "all": metrics.all_indices(s, dev, gen_s, 5.0)}
    _clean(log)
    _same(a, indices_at(n, data, 10.0, seed=3))
    _same(b, indices_vs_time(n, data, [1.0, 10.0, 30.0], seed=3))
    gen_n = n.generate(40, 10.0)
    _same(m, {"E2": metrics.second_moment_error(data, gen_n), "Es": metrics.spectrum_error(data, gen_n, center=True),
              "AAI": metrics.aai_fractions(data, gen_n, max_block_bytes=4096),
              "ER": metrics.reconstruction_error(n, data, 5.0), "all": metrics.all_indices(n, data, gen_n, 5.0)})


def test_evaluate_run(tiny_trained_run, tmp_path):
    import shutil

    from chaossim.runs.evaluate_run import evaluate_run

    d = tmp_path / "run"
    shutil.copytree(tiny_trained_run, d)
    with strict.record() as log:
        res = evaluate_run(d, times=[5.0, 20.0], n_eval=30, backend="strict", write=False)
    _clean(log)
    ref = evaluate_run(d, times=[5.0, 20.0], n_eval=30, write=False)
    _same({k: res[k] for k in ("t", "E2", "Es", "EAAI", "ER")}, {k: ref[k] for k in ("t", "E2", "Es", "EAAI", "ER")})
    _same(res["samples"], ref["samples"])


# ---------------------------------------------------------------------------------------------- chaos, analysis
def test_chaos(tmp_path):
    from chaossim.chaos import (
        autocorrelation,
        lyapunov_max,
        lyapunov_spectrum,
        relaxation_time,
        stationary_variance,
        training_chaos_probe,
    )

    kw = dict(t_burn=20.0, t_run=40.0, renorm_every=10.0, n_replicas=3, seed=1)

    def everything(m):
        _, traj = m.run(m.random_state(3), 40, record=range(0, 41, 2))
        v = traj["v"]
        return {"tangent": lyapunov_max(m, **kw).per_replica, "twin": lyapunov_max(m, method="twin", **kw).per_replica,
                "spectrum": lyapunov_spectrum(m, 3, **kw).per_replica, "probe": training_chaos_probe(m, seed=2),
                "acf": autocorrelation(v, 5, center=True), "var": stationary_variance(v, 5),
                "relax": relaxation_time(v.mean(axis=(1, 2)), window=5, tol=0.5, atol=0.1)}

    for cls, sizes in ARCHS:
        s = cls(*sizes, g=2.0, seed=6, backend="strict", dtype="float64")
        n = cls(*sizes, g=2.0, seed=6, dtype="float64")
        with strict.record() as log:
            got = everything(s)
        _clean(log)
        _same(got, everything(n))


def test_analysis():
    from chaossim import analysis

    s, n = Restricted(16, 9, seed=2, backend="strict"), Restricted(16, 9, seed=2)
    a = np.random.default_rng(3).normal(size=(16, 9))
    s.params["A"] = a
    n.params["A"] = a
    with strict.record() as log:
        svs = analysis.singular_values(s.params["A"], 4)
        u, sv, vt = analysis.svd_modes(analysis.coupling_matrix(s.params, "W+A"), 3)
        gen = s.generate(10, 5.0)
        proj = analysis.project(gen, u, 2)
        lt = analysis.fixed_points(s, 6, 50.0, seed=1)
        report = analysis.mode_collapse_report(s, 6, 50.0, seed=1)
        steps, traj = analysis.singular_value_trajectories({0: s.params, 5: dict(s.params)}, "A", 3)
        fields, units = analysis.receptive_fields(s.params, (4, 4), units=s.bk.asarray(np.array([0, 2])), g=1.5)
    _clean(log)
    _same(svs, analysis.singular_values(n.params["A"], 4))
    _same((u, sv, vt), analysis.svd_modes(analysis.coupling_matrix(n.params, "W+A"), 3))
    _same(proj, analysis.project(n.generate(10, 5.0), u, 2))
    _same((lt.points, lt.speed), (analysis.fixed_points(n, 6, 50.0, seed=1).points,
                                  analysis.fixed_points(n, 6, 50.0, seed=1).speed))
    assert report == analysis.mode_collapse_report(n, 6, 50.0, seed=1)
    _same(traj, analysis.singular_value_trajectories({0: n.params, 5: dict(n.params)}, "A", 3)[1])
    w_a = to_numpy(n.params["W"]).astype(np.float64) + to_numpy(n.params["A"])
    np.testing.assert_allclose(fields, (w_a[:, [0, 2]].T / 1.5).reshape(2, 4, 4))
    assert units.tolist() == [0, 2]


# ---------------------------------------------------------------------------------------------- figures
@pytest.mark.slow
def test_plotting_array_paths(tmp_path):
    """Every plot function fed device arrays: the figures are drawn and saved (rendering included) with zero
    implicit conversions, each array copied to the host explicitly (chaossim.backend.to_numpy)."""
    from chaossim import plotting

    bk = get_backend("strict", "float32")
    rng = np.random.default_rng(4)
    dev = lambda a: bk.asarray(a)  # noqa: E731
    params = {"W": dev(rng.normal(size=(16, 6))), "A": dev(rng.normal(size=(16, 6))), "b": dev(np.zeros(16))}
    curves = {"t": dev([1.0, 5.0, 20.0]), "E2": dev([1e-3, 2e-3, 5e-4]), "Es": dev([1.0, 2.0, 3.0]),
              "EAAI": dev([0.1, 0.2, 0.1]), "ER": dev([0.3, 0.2, 0.1]), "T": dev(5.0)}
    history = {"t_age": dev([0, 10, 20]), **{k: curves[k] for k in ("E2", "Es", "EAAI", "ER")}}
    vec = dev([0.5, 1.0, 2.0])
    with strict.record() as log:
        figs = {
            "samples": plotting.plot_samples(dev(rng.uniform(-1, 1, (6, 16))), dev(rng.uniform(-1, 1, (6, 16))),
                                             (4, 4)),
            "snap": plotting.plot_snapshots(dev(rng.uniform(-1, 1, (3, 2, 16))), dev([0.0, 5.0, 10.0]), (4, 4),
                                            T=5.0),
            "ivt": plotting.plot_indices_vs_time(curves),
            "rf": plotting.plot_receptive_fields(params, (4, 4), g=1.5, n=4),
            "train": plotting.plot_training_curves(history),
            "sv": plotting.plot_singular_values(vec, dev(rng.uniform(1, 2, (3, 2)))),
            "modes": plotting.plot_modes(dev(rng.normal(size=(16, 3))), (4, 4), k=3),
            "proj": plotting.plot_projections(dev(rng.normal(size=(5, 2))), None, dev(rng.normal(size=(3, 2)))),
            "lg": plotting.plot_lyapunov_vs_g(vec, vec, vec, dmft_curve=(vec, vec), linear_curve=(vec, vec)),
            "ca": plotting.plot_chaos_vs_age(vec, vec, vec),
        }
        paths = [plotting.save_figure(fig, tmp_path / name) for name, fig in figs.items()]
        grey = plotting.to_grey(dev(rng.uniform(-1, 1, (2, 16))), (4, 4))
        tiles = plotting.mosaic(dev(np.ones((3, 2, 2))), 2)
    _clean(log)
    assert all(p.stat().st_size > 1000 for pair in paths for p in pair)
    assert grey.shape == (2, 4, 4) and tiles.shape == (5, 5)


# ---------------------------------------------------------------------------------------------- a sweep point
@pytest.mark.slow
def test_whole_sweep_point_into_a_zarr_store(tmp_path):
    from chaossim.sweep.point import compute_point, run_point
    from chaossim.sweep.spec import with_backend
    from chaossim.sweep.store import TIMING_VARIABLES, create_store

    from .sweep.conftest import assert_same_results, tiny_spec

    spec = tiny_spec(g="[1.5]", T="[10.0]", steps=4)
    stores = {}
    for backend in ("strict", "numpy"):
        sp = with_backend(spec, backend)
        stores[backend] = tmp_path / f"{backend}.zarr"
        create_store(stores[backend], sp, backend=backend)
        with strict.record() as log:
            summary = run_point(sp, 0, stores[backend])
        assert summary["status"] == "done", summary
        if backend == "strict":
            _clean(log)
            assert log.syncs > 0  # the strict run really went through strict arrays
            with strict.record() as log2:
                out = compute_point(sp, 0)
            _clean(log2)
            assert out["backend"] == "strict" and out["device"] == "cpu (strict)"
    assert_same_results(stores["strict"], stores["numpy"], skip=set(TIMING_VARIABLES) | {"backend", "device"})


@pytest.mark.slow
def test_grouped_sweep_points_into_a_zarr_store(tmp_path):
    """A sweep task training three grid points as one ensemble (run_group), strict against NumPy."""
    from chaossim.sweep.point import run_group
    from chaossim.sweep.spec import with_backend
    from chaossim.sweep.store import RUN_VARIABLES, create_store

    from .sweep.conftest import assert_same_results, tiny_spec

    spec = tiny_spec(g="[1.0, 1.5]", T="[10.0]", extra_grid="seed = [0, 1]", steps=4)
    stores = {}
    for backend in ("strict", "numpy"):
        sp = with_backend(spec, backend)
        stores[backend] = tmp_path / f"{backend}.zarr"
        create_store(stores[backend], sp, backend=backend)
        with strict.record() as log:
            summaries = run_group(sp, range(4), stores[backend])
        assert [s["status"] for s in summaries] == ["done"] * 4, summaries
        if backend == "strict":
            _clean(log)
            assert log.syncs > 0
    assert_same_results(stores["strict"], stores["numpy"], skip=set(RUN_VARIABLES) | {"backend", "device"})
