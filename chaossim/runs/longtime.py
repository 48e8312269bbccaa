"""The long-time analysis of a trained run (the ``chaossim analyze`` command, :mod:`chaossim.cli.analyze`):
where free runs end up long after the generation time T (fixed points, how many distinct states, mode
collapse; docs/indices.md).

``n`` free runs from random starts (the same starts for every t) are followed to each ``t_long``; at each the
visible states phi(v) are clustered (:func:`chaossim.analysis.count_distinct`: states closer than
``dist_tol * sqrt(Nv)`` merge) and tested for being fixed points (:func:`chaossim.analysis.fixed_points`:
speed * tau < ``speed_tol``). Few distinct fixed states for many runs is mode collapse.

Beside them, the chaos where the samples are made (:mod:`chaossim.chaos.ftle`; docs/chaos_study.md), of the trained
model and of its untrained twin: the finite-time exponent over the generation window [0, T] (mean and spread over
``ftle_starts`` starts) and the asymptotic exponent after ``t_burn`` over ``t_window`` with its convergence check.

Files written into ``--out``::

    analysis.json        t_long, n_distinct, n_fixed, fraction_fixed, median_speed (one value per t), n, seed,
                         the tolerances, the count of runs in each distinct state at the last t, and ``exponents``:
                         {trained, untrained} x {ftle, ftle_sd, ftle_stderr, asymptotic, asymptotic_stderr,
                         asymptotic_half, converged} with ftle_starts, t_burn and t_window
    analysis.txt         the same as a table
    long_time_states.npz states (k x Nv, one representative per distinct state at the last t), counts (k,)
    long_time.png, .pdf  :func:`chaossim.runs.plots.long_time_figure` (``chaossim analyze``)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..archs import lookup
from ..errors import ConfigError

DEFAULT_FACTORS = (1.0, 10.0, 50.0)
"""Default long times in units of the run's T (50 T: the last snapshot of Fig. 3a)."""


def analyze_run(
    run_dir,
    t_long=None,
    *,
    n: int = 100,
    seed: int = 0,
    dist_tol: float = 1e-2,
    speed_tol: float = 1e-4,
    backend: str | None = None,
    ftle_starts: int = 32,
    t_burn: float | None = None,
    t_window: float | None = None,
) -> dict:
    """The long-time analysis of a run directory (see the module docstring). ``t_long``: times, multiples of dt
    (default :data:`DEFAULT_FACTORS` x T). ``ftle_starts`` (0: no exponents), ``t_burn`` and ``t_window`` (defaults
    50 tau and 400 tau): the exponents of :func:`exponents`. Returns a dict of NumPy arrays and numbers (as written
    to ``analysis.json``), plus ``states``, ``counts`` and ``image_shape``."""
    from ..analysis import count_distinct, fixed_points
    from .evaluate_run import _check_times, _image_shape_of_run, _on_grid
    from .rundir import load_run

    run_dir = Path(run_dir)
    config, model, _ = load_run(run_dir, backend=backend)
    if not lookup(config.model.arch).dynamics:
        raise ConfigError(
            "the long-time analysis follows the chaotic dynamics; an RBM has none (its samples are "
            "Gibbs chains). Analyse a restricted, unrestricted or deep run."
        )
    T, dt = float(config.dynamics.T), float(config.dynamics.dt)
    times = _on_grid([f * T for f in DEFAULT_FACTORS], dt) if t_long is None else _check_times(t_long, dt)
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ConfigError(f"n (free runs) must be an integer >= 2, got {n!r}.")
    if not isinstance(ftle_starts, int) or isinstance(ftle_starts, bool) or ftle_starts < 0 or ftle_starts == 1:
        raise ConfigError(f"ftle_starts must be 0 (no exponents) or an integer >= 2, got {ftle_starts!r}.")
    if ftle_starts:  # first: bad t_burn / t_window are refused before the long runs
        ex = exponents(model, T, n_starts=ftle_starts, seed=seed, t_burn=t_burn, t_window=t_window)
    rows: dict[str, list[float]] = {
        "t_long": [],
        "n_distinct": [],
        "n_fixed": [],
        "fraction_fixed": [],
        "median_speed": [],
    }
    states = counts = None
    for t in times:
        lt = fixed_points(model, n, t, seed, tol=speed_tol)
        n_distinct, labels = count_distinct(lt.points, dist_tol * math.sqrt(lt.points.shape[1]))
        rows["t_long"].append(float(t))
        rows["n_distinct"].append(int(n_distinct))
        rows["n_fixed"].append(int(lt.fixed.sum()))
        rows["fraction_fixed"].append(lt.fraction_fixed)
        rows["median_speed"].append(float(np.median(lt.speed)))
        first = np.array([int(np.flatnonzero(labels == k)[0]) for k in range(n_distinct)])
        states, counts = lt.points[first], np.bincount(labels, minlength=n_distinct)
    out: dict[str, Any] = {k: np.asarray(v) for k, v in rows.items()}
    if ftle_starts:
        out["exponents"] = ex
    out.update(
        n=int(n),
        seed=int(seed),
        dist_tol=float(dist_tol),
        speed_tol=float(speed_tol),
        T=T,
        arch=config.model.arch,
        states=states,
        counts=counts,
        image_shape=tuple(_image_shape_of_run(run_dir, config, model.n_visible)),
    )
    return out


def exponents(model, T: float, *, n_starts: int = 32, seed: int = 0, t_burn=None, t_window=None) -> dict:
    """The finite-time exponent over [0, T] and the asymptotic exponent (per unit of time) of ``model`` and of its
    untrained twin (:mod:`chaossim.chaos.ftle`), as plain numbers: ``{"trained": {...}, "untrained": {...},
    "ftle_starts", "t_burn", "t_window"}``."""
    from .. import streams
    from ..backend import derive_seed
    from ..chaos.ftle import asymptotic_exponent, finite_time_exponent, untrained_twin

    stream = derive_seed(int(seed), streams.ANALYSIS_FTLE)
    out: dict[str, Any] = {"ftle_starts": int(n_starts)}
    for name, m in (("trained", model), ("untrained", untrained_twin(model))):
        f = finite_time_exponent(m, T, n_starts=n_starts, seed=stream)
        a = asymptotic_exponent(m, t_burn=t_burn, t_window=t_window, seed=stream)
        out[name] = {
            "ftle": f.value,
            "ftle_sd": f.sd,
            "ftle_stderr": f.stderr,
            "asymptotic": a.value,
            "asymptotic_stderr": a.stderr,
            "asymptotic_half": a.half,
            "converged": a.converged,
        }
        out["t_burn"], out["t_window"] = a.t_burn, a.t_window
    return out


def format_table(res: dict) -> str:
    n = res["n"]
    lines = [
        f"long-time states of {n} free runs (arch={res['arch']}, T={res['T']:g}; distinct: closer than "
        f"{res['dist_tol']:g} x sqrt(Nv) merge; fixed: speed x tau < {res['speed_tol']:g})",
        f"{'t':>10}  {'distinct':>8}  {'fixed':>7}  {'median speed':>12}",
    ]
    for i, t in enumerate(res["t_long"]):
        lines.append(
            f"{t:>10g}  {res['n_distinct'][i]:>8d}  {res['n_fixed'][i]:>4d}/{n:<3d}  {res['median_speed'][i]:>12.3g}"
        )
    last, fixed = int(res["n_distinct"][-1]), int(res["n_fixed"][-1])
    verdict = (
        "mode collapse: all runs end in one state"
        if last == 1
        else f"{last} distinct states for {n} runs"
        + (" (most runs share a few states: mode collapse)" if last <= max(2, n // 10) else "")
    )
    if fixed < n:
        verdict += f"; {n - fixed} runs still moving (not at a fixed point: try a longer --t-long)"
    lines.append(
        f"at t = {res['t_long'][-1]:g}: {verdict}; runs per state: {sorted(res['counts'].tolist(), reverse=True)[:10]}"
    )
    ex = res.get("exponents")
    if ex:
        lines.append(
            f"Lyapunov exponents per unit time: finite-time over [0, T = {res['T']:g}] (mean ± sd over "
            f"{ex['ftle_starts']} starts), asymptotic after {ex['t_burn']:g} over {ex['t_window']:g} (± stderr; "
            "first half of the window)"
        )
        for name in ("trained", "untrained"):
            e = ex[name]
            conv = "converged" if e["converged"] else "NOT converged: the two windows disagree"
            lines.append(
                f"  {name:>9}: FTLE {e['ftle']:+.4f} ± {e['ftle_sd']:.4f}; asymptotic {e['asymptotic']:+.4f} ± "
                f"{e['asymptotic_stderr']:.4f} (half window {e['asymptotic_half']:+.4f}, {conv})"
            )
    return "\n".join(lines)


def write_analysis(res: dict, out_dir) -> list[Path]:
    """analysis.json, analysis.txt and long_time_states.npz of ``res`` in ``out_dir`` (the figure:
    :func:`chaossim.runs.plots.long_time_figure`)."""
    from ..io import atomic_savez, atomic_write_json, atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scalars = {k: v for k, v in res.items() if k not in ("states", "counts", "image_shape")}
    atomic_write_json(
        out_dir / "analysis.json",
        {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in scalars.items()}
        | {"counts": res["counts"].tolist()},
    )
    atomic_write_text(out_dir / "analysis.txt", format_table(res) + "\n")
    atomic_savez(
        out_dir / "long_time_states.npz", {"states": res["states"].astype(np.float32), "counts": res["counts"]}
    )
    return [out_dir / "analysis.json", out_dir / "analysis.txt", out_dir / "long_time_states.npz"]
