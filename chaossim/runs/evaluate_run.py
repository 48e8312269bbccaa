"""Post-training evaluation of a run directory (commands ``evaluate`` / ``plot``: :mod:`chaossim.cli.evaluate`).

After training, the quality of a model is read as a function of the generation time t
(docs/indices.md: indices for generic T* = t after training; paper Fig. 3b): one set
of random starts is followed in time and the four indices are computed at each t against
held-out data. :func:`evaluate_run` also stores the samples the paper draws (Fig. 2: samples
at t = T beside data; Fig. 3a: snapshots at several t from the same random starts, up to
t >> T where the dynamics falls onto learned fixed points).

Files written into the run directory (all atomically: a crash never leaves half a file)::

    evaluation.npz   t, E2, Es, EAAI, ER (one value per t), T, n_eval, seed
    evaluation.csv   the same indices as text, one row per t
    evaluation.txt   the table of :func:`format_table`
    samples.npz      generated (n x Nv, phi(v(T))), data (n x Nv held-out points), image_shape,
                     T, snapshot_t (n_t), snapshots (n_t x n_snap x Nv, phi(v(t)) from one set of starts)

Seeds: the indices use the starts of ``derive_seed(seed, INDEX_STREAM)``, the Fig. 2 samples
``derive_seed(seed, SAMPLE_STREAM)``, the snapshots ``derive_seed(seed, SNAPSHOT_STREAM)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import streams
from ..archs import lookup
from ..backend import derive_seed, to_numpy
from ..errors import ConfigError, DataError
from ..evaluation import indices_vs_time
from ..io import atomic_savez, atomic_write_text
from ..metrics import index_names
from ..validation import check_seed
from .rundir import EVALUATION_FILE, SAMPLES_FILE, load_samples

INDEX_STREAM, SAMPLE_STREAM, SNAPSHOT_STREAM = (
    streams.EVAL_RUN_INDICES,
    streams.EVAL_RUN_SAMPLES,
    streams.EVAL_RUN_SNAPSHOTS,
)

#: Generation times of the paper's Fig. 3b for T = 100 (dt = 1); scaled to a run's T by T / 100.
BASE_TIMES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
#: Snapshot times of Fig. 3a in units of T (0 is the random start itself).
SNAPSHOT_FRACTIONS = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 50.0)
N_SHOW = 64  # samples (and data points) stored for Fig. 2
N_SNAP = 8  # random starts followed for Fig. 3a


def _time_step(config) -> float:
    """The grid on which generation times must lie: dt for the chaotic models, one Gibbs sweep for a model
    without continuous dynamics (the RBM)."""
    return float(config.dynamics.dt) if lookup(config.model.arch).dynamics else 1.0


def _on_grid(values, dt: float) -> list[float]:
    """Values rounded to the nearest multiple of dt (at least dt unless the value is 0), sorted, unique."""
    out = set()
    for x in values:
        n = round(float(x) / dt)
        if x > 0:
            n = max(n, 1)
        out.add(n * dt)
    return sorted(out)


def default_times(T: float, dt: float = 1.0) -> list[float]:
    """Log-spaced generation times from dt to 20 T, T included: :data:`BASE_TIMES` scaled by T / 100,
    rounded to multiples of dt (the paper's Fig. 3b grid for T = 100)."""
    return _on_grid([b * T / 100.0 for b in BASE_TIMES] + [T], dt)


def snapshot_times(T: float, dt: float = 1.0) -> list[float]:
    """Fig. 3a times: :data:`SNAPSHOT_FRACTIONS` of T (0, T/4, T/2, T, 2T, 5T, 10T, 50T) on the dt grid."""
    return _on_grid([f * T for f in SNAPSHOT_FRACTIONS], dt)


def _check_times(times, dt: float) -> list[float]:
    try:
        values = [float(t) for t in times]
    except (TypeError, ValueError):
        raise ConfigError(f"times must be numbers, got {times!r}.") from None
    if not values:
        raise ConfigError("times is empty; give at least one generation time, e.g. --times 10 100 1000.")
    bad = [t for t in values if not math.isfinite(t) or t < 0]
    if bad:
        raise ConfigError(f"generation times must be finite and >= 0, got {bad}.")
    off = [t for t in values if abs(round(t / dt) * dt - t) > 1e-6 * max(1.0, t)]
    if off:
        raise ConfigError(f"generation times {off} are not multiples of the time step {dt}; choose t = n * {dt:g}.")
    return sorted(set(values))


def evaluate_run(
    run_dir,
    times: Sequence[float] | None = None,
    n_eval: int | None = None,
    seed: int = 0,
    *,
    backend: str | None = None,
    write: bool = True,
    out_dir=None,
) -> dict:
    """Evaluate a trained run (docs/indices.md, generic T* = t; paper Figs. 2, 3a, 3b).

    ``times``: generation times (default :func:`default_times`: log-spaced from dt to 20 T); T is always added.
    ``n_eval``: Ns, the number of held-out points and generated points (default the run's
    ``training.n_eval``, capped to the size of the test set). ``seed``: seeds of the random starts
    (see the module docstring). ``write``: store the files listed in the module docstring, in ``out_dir``
    (default: the run directory; checked to be writable before anything is computed). The plot commands
    read them from there (``chaossim plot samples OUT_DIR``).

    Returns ``{"t", "E2", "Es", "EAAI", "ER"}`` (NumPy arrays over t; ER is NaN for the unrestricted
    model) plus ``"T"``, ``"at_T"`` (the four indices at t = T), ``"n_eval"``, ``"seed"``, ``"arch"`` and
    ``"samples"`` (the arrays of samples.npz).
    """
    import warnings

    from ..errors import ChaossimWarning
    from ..fs import check_writable
    from .build import load_data
    from .rundir import load_run

    run_dir = Path(run_dir)
    config, model, _ = load_run(run_dir, backend=backend)
    out_dir = run_dir if out_dir is None else Path(out_dir)
    if write:
        check_writable(
            out_dir,
            "the run directory" if out_dir == run_dir else "the output folder",
            "give --out DIR in a writable place (the plot commands then read DIR)",
        )
    T, dt = float(config.dynamics.T), _time_step(config)
    times = default_times(T, dt) if times is None else _check_times([*times, T], dt)
    seed = check_seed(seed)
    data = load_data(config)
    test = data.test
    n = min(config.training.n_eval, len(test)) if n_eval is None else int(n_eval)
    if n_eval is None and config.training.n_eval > len(test):
        warnings.warn(
            ChaossimWarning(
                f"training.n_eval = {config.training.n_eval} exceeds the {len(test)} held-out "
                f"points of {data.name}: the indices use all {len(test)}."
            ),
            stacklevel=2,
        )
    if n < 2 or n > len(test):
        raise ConfigError(
            f"n_eval = {n_eval} must lie in [2, {len(test)}] (the held-out points of "
            f"{data.name}); lower it or use a larger test set."
        )
    test = test[:n]

    result = indices_vs_time(model, test, times, seed=derive_seed(seed, INDEX_STREAM))
    i_T = int(np.argmin(np.abs(np.asarray(times) - T)))
    names = index_names()
    at_T = {k: float(result[k][i_T]) for k in names}

    n_show = min(N_SHOW, len(test))
    model.bk.reseed(model.rng, derive_seed(seed, SAMPLE_STREAM))
    generated = to_numpy(model.generate(n_show, T))
    snap_t = snapshot_times(T, dt)
    model.bk.reseed(model.rng, derive_seed(seed, SNAPSHOT_STREAM))
    snapshots = to_numpy(model.generate(N_SNAP, snap_t))
    samples = {
        "generated": generated.astype(np.float32),
        "data": np.asarray(test[:n_show], dtype=np.float32),
        "image_shape": np.asarray(data.image_shape or (1, data.n_features), dtype=np.int64),
        "T": np.array(T),
        "snapshot_t": np.asarray(snap_t, dtype=float),
        "snapshots": snapshots.astype(np.float32),
    }

    out = {
        "t": np.asarray(times, dtype=float),
        **{k: np.asarray(result[k], dtype=float) for k in names},
        "T": T,
        "at_T": at_T,
        "n_eval": n,
        "seed": seed,
        "arch": config.model.arch,
        "samples": samples,
    }
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_savez(
            out_dir / EVALUATION_FILE,
            {k: out[k] for k in ("t", *names)} | {"T": np.array(T), "n_eval": np.array(n), "seed": np.array(seed)},
        )
        atomic_write_text(out_dir / "evaluation.csv", _csv(out))
        atomic_write_text(out_dir / "evaluation.txt", format_table(out) + "\n")
        atomic_savez(out_dir / SAMPLES_FILE, samples)
    return out


def _names(results: Mapping) -> list[str]:
    """The registered indices present in ``results`` (chaossim.metrics), in order."""
    return [k for k in index_names() if k in results]


def _csv(results: Mapping) -> str:
    names = _names(results)
    lines = [",".join(("t", *names))]
    for i, t in enumerate(results["t"]):
        lines.append(",".join([f"{t:g}"] + [f"{results[k][i]:.6g}" for k in names]))
    return "\n".join(lines) + "\n"


def format_table(results: Mapping) -> str:
    """The indices as a text table, one row per generation time t (the row of t = T marked)."""
    T = results.get("T")
    names = _names(results)
    head = f"{'t':>10}  " + "  ".join(f"{k:>11}" for k in names)
    lines = [head, "-" * len(head)]
    for i, t in enumerate(np.asarray(results["t"], dtype=float)):
        row = f"{t:>10g}  " + "  ".join(f"{float(results[k][i]):>11.4g}" for k in names)
        if T is not None and math.isclose(float(t), float(T), rel_tol=1e-9):
            row += "   <- T"
        lines.append(row)
    extra = []
    if "arch" in results:
        extra.append(f"arch={results['arch']}")
    if T is not None:
        extra.append(f"T={float(T):g}")
    if "n_eval" in results:
        extra.append(f"Ns={int(results['n_eval'])}")
    if extra:
        lines.insert(0, "indices vs generation time t (lower is better; " + ", ".join(extra) + ")")
    return "\n".join(lines)


def _image_shape_of_run(run_dir: Path, config, nv: int) -> tuple[int, int]:
    if (run_dir / SAMPLES_FILE).is_file():
        return load_samples(run_dir)["image_shape"]
    side = math.isqrt(nv)
    if side * side == nv:
        return side, side
    from .build import load_data

    shape = load_data(config).image_shape
    if shape is None:
        raise DataError(f"the data of {run_dir} have no image shape; receptive fields cannot be drawn as images.")
    return tuple(shape)
