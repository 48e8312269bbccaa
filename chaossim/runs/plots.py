"""Figures of run directories: what ``chaossim plot FIGURE RUN...`` and ``chaossim analyze`` draw.

Loading happens here (the run directory's files, :mod:`chaossim.runs.rundir` and :mod:`chaossim.runs.evaluate_run`);
drawing is :mod:`chaossim.plotting`, which this module sits above (docs/architecture.md). :func:`figure_of_runs`
draws the paper's figures (:data:`PLOTS`); :func:`generated_figure` the samples ``chaossim sample`` writes
(``generated.npz``: the grid of :func:`~chaossim.plotting.plot_snapshots`, one column per generation time t,
one row per random start); :func:`long_time_figure` the states of ``chaossim analyze``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import plotting
from ..archs import lookup
from ..config import RunConfig
from ..errors import ConfigError, DataError, StoreError
from ..io import load_npz
from .evaluate_run import _image_shape_of_run
from .rundir import load_checkpoint, load_evaluation, load_history, load_samples

GENERATED_FILE = "generated.npz"


def load_generated(source) -> dict:
    """{"t" (n_t,), "samples" (n_t, n, Nv)} of a ``generated.npz`` written by ``chaossim sample``; ``source`` is
    the file or the run directory holding it."""
    path = Path(source)
    file = path / GENERATED_FILE if path.is_dir() else path
    if not file.is_file():
        raise StoreError(
            f"{file} does not exist; write it with `chaossim sample {path}` (or give the .npz that "
            "`chaossim sample --out` wrote)."
        )
    z = load_npz(file)
    if "samples" not in z or "t" not in z:
        raise DataError(f"{file} has no 'samples' and 't' arrays; is it a file written by `chaossim sample`?")
    samples, t = np.asarray(z["samples"]), np.asarray(z["t"], dtype=float).ravel()
    if samples.ndim != 3 or samples.shape[0] != t.size:
        raise DataError(f"{file}: 'samples' must be (n_t, n, Nv) with n_t = {t.size}, got {samples.shape}.")
    return {"t": t, "samples": samples, "file": file}


def _run_of(source) -> Path | None:
    """The run directory a generated.npz belongs to: the directory given, or the file's folder when it holds
    a run's config.toml (None: a file written elsewhere with --out)."""
    path = Path(source)
    folder = path if path.is_dir() else path.parent
    return folder if (folder / "config.toml").is_file() else None


def generated_figure(source, *, run=None, n: int | None = None):
    """The samples of ``chaossim sample`` as images: one column per time t, one row per random start (at most
    ``n`` rows). ``run``: the run directory giving the image shape and T when ``source`` is a file elsewhere."""
    g = load_generated(source)
    samples = g["samples"] if n is None else g["samples"][:, : max(1, int(n))]
    run_dir = Path(run) if run is not None else _run_of(source)
    nv = samples.shape[-1]
    T = None
    if run_dir is not None:
        config = RunConfig.load(run_dir / "config.toml")
        shape = _image_shape_of_run(run_dir, config, nv)
        T = float(config.dynamics.T)
    else:
        side = math.isqrt(nv)
        if side * side != nv:
            raise DataError(
                f"{g['file']} holds points of {nv} values, not square images, and no run directory "
                "tells their shape; pass the run directory (chaossim plot generated RUN)."
            )
        shape = (side, side)
    fig = plotting.plot_snapshots(samples, g["t"], shape, T=T)
    fig.suptitle(
        f"chaossim sample: phi(v(t)) of\n{samples.shape[1]} random starts at\nt = "
        f"{', '.join(f'{x:g}' for x in g['t'])}" + (f"\n(training T = {T:g})" if T is not None else ""),
        fontsize=9,
    )
    return fig


# ------------------------------------------------------------------------------------------ figures of runs
def run_label(run_dir) -> str:
    """A legend label for a run directory: its architecture, with the directory name when they differ
    ("Restricted (r1)"); the directory name alone when it holds no readable config (e.g. an evaluate --out)."""
    run_dir = Path(run_dir)
    try:
        arch = RunConfig.load(run_dir / "config.toml").model.arch
    except Exception:  # a label is cosmetic; fall back to the name
        return run_dir.name
    try:
        name = lookup(arch).display
    except ConfigError:  # an architecture no longer importable: its name
        name = arch
    return name if run_dir.name.lower() == arch else f"{name} ({run_dir.name})"


def figure_of_runs(
    figure: str, runs, *, labels: Sequence[str] | None = None, n: int = 9, seed: int = 0, part: str = "W+A"
):
    """The figure ``chaossim plot FIGURE RUN...`` draws (a matplotlib Figure; see :data:`PLOTS`), from run
    directories: loads their files, then calls :mod:`chaossim.plotting`. ``labels``: one per run (default
    :func:`run_label`); ``n``, ``seed``: the receptive fields' number of hidden units and their draw; ``part``:
    "W+A" or "A" (the trained part alone, :func:`chaossim.analysis.receptive_fields`)."""
    if figure not in PLOTS:
        raise ConfigError(f"unknown figure {figure!r}; choose one of {', '.join(PLOTS)}.")
    runs = [Path(r) for r in ([runs] if isinstance(runs, (str, Path)) else runs)]
    if not runs:
        raise ConfigError("give at least one run directory.")
    if not PLOTS[figure][1] and len(runs) != 1:
        raise ConfigError(f"the {figure} figure draws one run; got {len(runs)}.")
    names = list(labels) if labels else [run_label(r) for r in runs]
    if figure == "samples":
        loaded = [load_samples(r) for r in runs]
        first = loaded[0]
        return plotting.plot_samples(
            [s["generated"] for s in loaded], first["data"], first["image_shape"], labels=names
        )
    if figure == "snapshots":
        s = load_samples(runs[0])
        return plotting.plot_snapshots(s["snapshots"], s["snapshot_t"], s["image_shape"], T=s["T"])
    if figure == "indices-vs-t":
        return plotting.plot_indices_vs_time([load_evaluation(r) for r in runs], labels=names)
    if figure == "training":
        return plotting.plot_training_curves([load_history(r) for r in runs], labels=names)
    if figure == "generated":
        return generated_figure(runs[0], n=None)
    run_dir = runs[0]  # receptive-fields
    if not (run_dir / "config.toml").is_file():
        raise StoreError(f"{run_dir} is not a chaossim run directory (no config.toml).")
    config = RunConfig.load(run_dir / "config.toml")
    params = load_checkpoint(run_dir)["params"]
    g = config.model.g if lookup(config.model.arch).dynamics else 1.0
    visible_bias = lookup(config.model.arch).layers[0].bias
    image_shape = _image_shape_of_run(run_dir, config, params[visible_bias].shape[0])
    what = "receptive fields, trained part A alone" if part == "A" else "receptive fields"
    return plotting.plot_receptive_fields(
        params, image_shape, g=g, n=n, seed=seed, part=part, title=f"{names[0]}: {what}"
    )


# ------------------------------------------------------------------------------------------ figure names
PLOTS = {
    "samples": (
        "fig2_samples",
        True,
        "Fig. 2: generated samples phi(v(T)) of each run (one row per run) beside held-out data samples.",
    ),
    "snapshots": (
        "fig3a_snapshots",
        False,
        "Fig. 3a: samples of one set of random starts at several times t (0 .. 50 T); at t >> T the "
        "dynamics has fallen onto learned fixed points.",
    ),
    "indices-vs-t": (
        "fig3b_indices_vs_t",
        True,
        "Fig. 3b: the four accuracy indices vs generation time t (log t), a vertical line at t = T.",
    ),
    "receptive-fields": (
        "fig4_receptive_fields",
        False,
        "Fig. 4: receptive fields (W_ia + A_ia)/g of randomly chosen hidden units a, as images "
        "(deep model: W1 + A1; RBM: W).",
    ),
    "training": (
        "fig5_training",
        True,
        "Fig. 5: the four accuracy indices at T* = T vs training step t_age, one curve per run (step 0, "
        "before training, at the left edge).",
    ),
    "generated": (
        "generated",
        False,
        "the samples `chaossim sample RUN` wrote (RUN/generated.npz, or a file of --out): one column per "
        "time t, one row per random start.",
    ),
}
"""figure name on the command line -> (file stem, whether it takes several runs, help text)."""


def long_time_figure(res: dict) -> Any:
    """The long-time states of :func:`chaossim.runs.longtime.analyze_run` (``res``) drawn
    (:func:`chaossim.plotting.plot_long_time_states`)."""
    return plotting.plot_long_time_states(
        res["t_long"],
        res["n_distinct"],
        res["fraction_fixed"],
        res["states"],
        res["counts"],
        res["image_shape"],
        n_runs=res["n"],
        title=f"long-time states ({res['arch']}, T={res['T']:g})",
    )
