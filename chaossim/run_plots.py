"""Figures of run directories beyond the paper's: the samples ``chaossim sample`` writes (``generated.npz``).

Loading happens here; drawing is :mod:`chaossim.plotting` (the grid of :func:`~chaossim.plotting.plot_snapshots`:
one column per generation time t, one row per random start). ``chaossim plot generated RUN`` calls
:func:`generated_figure`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import DataError, StoreError
from .io import load_npz

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
    from .config import RunConfig
    from .evaluate_run import _image_shape_of_run
    from .plotting import plot_snapshots

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
    fig = plot_snapshots(samples, g["t"], shape, T=T)
    fig.suptitle(
        f"chaossim sample: phi(v(t)) of\n{samples.shape[1]} random starts at\nt = "
        f"{', '.join(f'{x:g}' for x in g['t'])}" + (f"\n(training T = {T:g})" if T is not None else ""),
        fontsize=9,
    )
    return fig
