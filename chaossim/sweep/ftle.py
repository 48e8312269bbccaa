"""The finite-time exponent records of a sweep point (``[record] ftle_starts``, ``growth_spreads``;
docs/chaos_study.md, docs/store.md). Measures: :mod:`chaossim.chaos.ftle`.

- ``ftle``, ``ftle_sd`` (G, t_age_ftle): the finite-time Lyapunov exponent over the point's generation window
  [0, T] (mean and spread over ``record.ftle_starts`` N(0, 1) starts, the same starts at every step) along
  training: at step 0 (the untrained twin), at the parameter snapshots (``training.snapshot_every``, read from
  the point's run directory) and at the last step.
- ``lyap_asym``, ``lyap_asym_se``, ``lyap_asym_half``, ``lyap_asym_converged`` (G, twin): the asymptotic exponent
  after ``record.asymptotic_burn`` over ``record.asymptotic_window`` (and over its first half; converged 1 when
  the two agree, 0 when not) of the trained model and of its untrained twin (``twin`` = trained, untrained).
- ``growth`` (G, twin, growth_spread, growth_at): d(t)/d(0) of ``record.n_growth`` runs from one shared start
  plus perturbations of size ``growth_spread``, at t = ``growth_at`` x T (rounded to a multiple of dt).
"""

from __future__ import annotations

import math

import numpy as np

from ..archs import lookup
from ..backend import derive_seed
from ..chaos.ftle import asymptotic_exponent, finite_time_exponent, perturbation_growth, untrained_twin
from ..errors import StoreError
from ..streams import SWEEP_ASYMPTOTIC, SWEEP_FTLE, SWEEP_GROWTH

TWIN = ("trained", "untrained")
FTLE = ("ftle", "ftle_sd")  # (G, t_age_ftle)
ASYMPTOTIC = ("lyap_asym", "lyap_asym_se", "lyap_asym_half", "lyap_asym_converged")  # (G, twin)
GROWTH = "growth"  # (G, twin, growth_spread, growth_at)


def ftle_steps(config) -> list[int]:
    """The training steps with a finite-time exponent: 0, every ``training.snapshot_every`` and the last."""
    tc = config.training
    every = tc.snapshot_every
    return sorted({0, tc.steps} | ({s for s in range(every, tc.steps + 1, every)} if every else set()))


def growth_times(rec, T: float, dt: float) -> list[float]:
    """The times of d(t)/d(0) of a point: ``growth_at`` x T, each rounded to a multiple of dt (at least dt)."""
    return [max(1, round(f * T / dt)) * dt for f in rec.growth_at]


def _variable(lay, name: str, dims: tuple, dtype: str, long_name: str, description: str, **attrs) -> None:
    lay.variables[name] = (dims, dtype, math.nan, {"long_name": long_name, "description": description, **attrs})


def add_layout(lay, spec, grid: tuple, configs) -> None:
    """Add the coordinates and variables of the finite-time records to a store layout (nothing when
    ``record.ftle_starts`` is 0 and ``record.growth_spreads`` is empty). ``configs``: one config per distinct
    layout setting (:class:`chaossim.sweep.records.LayoutContext`): the steps of the exponents along training
    depend only on ``training.steps`` and ``training.snapshot_every``, which are layout settings."""
    rec = spec.record
    per_time = {"units": "1 / model time unit"}
    if rec.ftle_starts:
        steps = sorted({s for c in configs for s in ftle_steps(c)})
        lay.coords["t_age_ftle"] = np.asarray(steps, dtype=np.int64)
        who = f"{rec.ftle_starts} N(0, 1) starts, a random direction each, the same starts at every step"
        _variable(
            lay, "ftle", grid + ("t_age_ftle",), "float64", "finite-time Lyapunov exponent over [0, T]",
            "finite-time Lyapunov exponent of the Euler map over the generation window [0, T] (per unit time), "
            f"mean over {who}; t_age_ftle = 0 is the untrained twin", **per_time,
        )  # fmt: skip
        _variable(
            lay, "ftle_sd", grid + ("t_age_ftle",), "float64", "spread of the finite-time exponent over starts",
            f"standard deviation over the starts of the finite-time exponent over [0, T] ({who})", **per_time,
        )  # fmt: skip
        lay.coords["twin"] = np.asarray(TWIN)
        what = (
            f"after a burn-in of {rec.asymptotic_burn} over a window of {rec.asymptotic_window} "
            f"({rec.asymptotic_replicas} replicas), trained model and its untrained twin"
        )
        for name, long_name, desc in zip(
            ASYMPTOTIC,
            (
                "asymptotic largest Lyapunov exponent",
                "standard error of the asymptotic exponent",
                "asymptotic exponent over the first half of the window",
                "asymptotic exponent converged",
            ),
            (
                "asymptotic largest Lyapunov exponent (per unit time)",
                "its standard error over replicas",
                "the same over the first half of the window",
                "1 if the estimates over the window and its first half agree, 0 if not (not converged)",
            ),
        ):
            units = per_time if name != "lyap_asym_converged" else {}
            _variable(lay, name, grid + ("twin",), "float64", long_name, f"{desc}; {what}", **units)
        lay.attrs["ftle"] = {
            "ftle_starts": rec.ftle_starts,
            "asymptotic_burn": rec.asymptotic_burn,
            "asymptotic_window": rec.asymptotic_window,
            "asymptotic_replicas": rec.asymptotic_replicas,
        }
    if rec.growth_spreads:
        lay.coords["twin"] = np.asarray(TWIN)
        lay.coords["growth_spread"] = np.asarray(rec.growth_spreads, dtype=np.float64)
        lay.coords["growth_at"] = np.asarray(rec.growth_at, dtype=np.float64)
        _variable(
            lay, GROWTH, grid + ("twin", "growth_spread", "growth_at"), "float64", "perturbation growth d(t)/d(0)",
            f"d(t)/d(0) of {rec.n_growth} free runs from one shared start plus perturbations of size growth_spread "
            "(d: rms deviation of the full states from their mean), at t = growth_at x T (rounded to a multiple of "
            "dt); trained model and its untrained twin",
        )  # fmt: skip
        lay.attrs["growth"] = {"n_growth": rec.n_growth}


def _snapshot_params(run_dir, step: int) -> dict:
    from ..io import load_npz

    path = None if run_dir is None else run_dir / "snapshots" / f"step_{step:07d}.npz"
    if path is None or not path.is_file():
        raise StoreError(
            f"the finite-time exponent at training step {step} needs the parameter snapshot {path or 'snapshots/'} "
            "(training.snapshot_every), which is missing; delete the point's run directory to train it again."
        )
    return load_npz(path)


def record(spec, config, model, run_dir=None) -> dict:
    """The finite-time records of a trained point as NumPy arrays (empty when the spec asks for none).
    ``run_dir``: the point's run directory, whose snapshots give the exponents along training."""
    rec = spec.record
    out: dict = {}
    if not (rec.ftle_starts or rec.growth_spreads) or not lookup(config.model.arch).dynamics:
        return out  # an RBM point: no rate dynamics, its variables stay NaN
    seed, T = config.model.seed, float(config.dynamics.T)
    twin = untrained_twin(model)
    models = (model, twin)
    if rec.ftle_starts:
        steps = ftle_steps(config)
        probe = None  # the model at a parameter snapshot, built when the first one is needed
        results = []
        for s in steps:
            if s == 0:
                m = twin
            elif s == steps[-1]:
                m = model
            else:
                probe = untrained_twin(model) if probe is None else probe
                probe.set_params(**_snapshot_params(run_dir, s))
                m = probe
            results.append(finite_time_exponent(m, T, n_starts=rec.ftle_starts, seed=derive_seed(seed, SWEEP_FTLE)))
        out["_t_age_ftle"] = np.asarray(steps)
        out["ftle"] = np.asarray([r.value for r in results], dtype=np.float64)
        out["ftle_sd"] = np.asarray([r.sd for r in results], dtype=np.float64)
        asym = {name: np.full(len(TWIN), math.nan) for name in ASYMPTOTIC}
        for i, m in enumerate(models):
            a = asymptotic_exponent(
                m,
                t_burn=rec.asymptotic_burn,
                t_window=rec.asymptotic_window,
                n_replicas=rec.asymptotic_replicas,
                seed=derive_seed(seed, SWEEP_ASYMPTOTIC),
            )
            for name, value in zip(ASYMPTOTIC, (a.value, a.stderr, a.half, float(a.converged))):
                asym[name][i] = value
        out.update(asym)
    if rec.growth_spreads:
        times = growth_times(rec, T, config.dynamics.dt)
        growth = np.full((len(TWIN), len(rec.growth_spreads), len(times)), math.nan)
        for i, m in enumerate(models):
            for j, eps in enumerate(rec.growth_spreads):
                growth[i, j] = perturbation_growth(
                    m, times, eps, n=rec.n_growth, seed=derive_seed(seed, SWEEP_GROWTH, j)
                )["ratio"]
        out[GROWTH] = growth
    return out
