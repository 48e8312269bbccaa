"""The paper's figures (SPEC "Figures the paper shows"), drawn from stored results only.

Every function reads run directories (``config.toml``, ``checkpoint.npz`` and the files of
:func:`chaossim.evaluate_run.evaluate_run`) or NumPy arrays; nothing is trained or simulated
here. Figures are drawn on matplotlib's Agg canvas without pyplot (no global backend change)
and saved, atomically, as ``path.png`` and ``path.pdf``; each function returns the written paths.

=============================  ==============================  =========================================
paper figure                   function                        needs
=============================  ==============================  =========================================
Fig. 2 samples beside data     :func:`plot_samples`            ``chaossim evaluate RUN`` (or arrays)
Fig. 3a snapshots vs t         :func:`plot_snapshots`          ``chaossim evaluate RUN`` (or arrays)
Fig. 3b indices vs t           :func:`plot_indices_vs_time`    ``chaossim evaluate RUN`` (or its dict)
Fig. 4 receptive fields        :func:`plot_receptive_fields`   the run's checkpoint
Fig. 5 indices vs t_age        :func:`plot_training_curves`    the run's checkpoint history
=============================  ==============================  =========================================

Images: generated and data points live in [-1, 1] (phi = tanh); they are drawn through the
inverse of the data map, grey = (x + 1) / 2 in [0, 1] (SPEC "Notation"), white = 1.
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .backend import is_device_array, to_numpy
from .errors import ConfigError, DataError
from .evaluation import INDEX_NAMES

LATEX = {"E2": r"$E^{(2)}$", "Es": r"$E^{(s)}$", "EAAI": r"$E^{(\mathrm{AAI})}$", "ER": r"$E^{(R)}$"}
LOG_Y = {"E2": True, "Es": True, "EAAI": False, "ER": False}
ARCH_NAMES = {"unrestricted": "Unrestricted", "restricted": "Restricted", "deep": "Deep", "rbm": "RBM"}

__all__ = ["plot_samples", "plot_snapshots", "plot_indices_vs_time", "plot_receptive_fields",
           "plot_training_curves", "receptive_fields", "mosaic", "to_grey"]


# ------------------------------------------------------------------------------ helpers
def _host(a, dtype=None) -> np.ndarray:
    """Any array (NumPy, CuPy, lists) as a NumPy array: the explicit copy to the host, never an implicit
    conversion (which CuPy refuses)."""
    return np.asarray(to_numpy(a), dtype=dtype)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> list[Path]:
    """Write ``path.png`` and ``path.pdf`` (any suffix of ``path`` is replaced), each atomically."""
    from .io import atomic_write_bytes

    path = Path(path)
    if path.suffix.lower() in (".png", ".pdf"):
        path = path.with_suffix("")
    written = []
    for fmt in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150 if fmt == "png" else None)
        out = path.parent / f"{path.name}.{fmt}"
        atomic_write_bytes(out, buf.getvalue())
        written.append(out)
    return written


def to_grey(x, image_shape: Sequence[int]) -> np.ndarray:
    """Points in [-1, 1] (rows) as grey images in [0, 1] of shape (..., H, W): the inverse of the data
    map f (SPEC "Notation"), as :meth:`chaossim.data.Dataset.to_image`."""
    a = _host(x, np.float32)
    h, w = (int(s) for s in image_shape)
    if a.shape[-1] != h * w:
        raise DataError(f"points have {a.shape[-1]} values but the image shape {h}x{w} needs {h * w}; "
                        "pass the image_shape of the dataset the run was trained on.")
    return np.clip((a + 1.0) * 0.5, 0.0, 1.0).reshape(a.shape[:-1] + (h, w))


def mosaic(images: np.ndarray, n_cols: int | None = None, gap: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tile images (n x H x W) into one array, row-major with ``n_cols`` columns and ``gap`` pixels of
    ``fill`` between them (NaN fill is drawn as the axes background)."""
    images = _host(images, float)
    n, h, w = images.shape
    n_cols = n if n_cols is None else max(1, int(n_cols))
    n_rows = math.ceil(n / n_cols)
    out = np.full((n_rows * (h + gap) - gap, n_cols * (w + gap) - gap), fill)
    for k in range(n):
        r, c = divmod(k, n_cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = images[k]
    return out


def _run_label(run_dir: Path) -> str:
    from .config import RunConfig

    try:
        arch = RunConfig.load(run_dir / "config.toml").model.arch
    except Exception:  # a label is cosmetic; fall back to the name
        return run_dir.name
    name = ARCH_NAMES.get(arch, arch)
    return name if run_dir.name.lower() == arch else f"{name} ({run_dir.name})"


def _labels(labels, n: int, default) -> list[str]:
    if labels is None:
        return [default(i) for i in range(n)]
    labels = list(labels)
    if len(labels) != n:
        raise ConfigError(f"got {len(labels)} labels for {n} runs; give one label per run.")
    return [str(x) for x in labels]


def _as_list(sources) -> list:
    if isinstance(sources, (str, Path, Mapping, np.ndarray)) or is_device_array(sources):
        return [sources]
    return list(sources)


def _load_runs(sources, load, labels) -> tuple[list, list[str]]:
    """(items, names): ``load(run_dir)`` for run directories, other sources as they are; names from
    ``labels`` or the run directories ("run i" for in-memory sources)."""
    items, names = [], []
    for i, src in enumerate(_as_list(sources)):
        if isinstance(src, (str, Path)):
            items.append(load(src))
            names.append(_run_label(Path(src)))
        else:
            items.append(src)
            names.append(f"run {i + 1}")
    return items, _labels(labels, len(items), lambda i: names[i])


# ------------------------------------------------------------------------------ Fig. 2
def plot_samples(sources, path, *, labels: Sequence[str] | None = None, n: int = 12, data=None,
                 image_shape: Sequence[int] | None = None) -> list[Path]:
    """Fig. 2: generated samples phi(v(T)) beside data samples (SPEC "Figures" 1).

    ``sources``: run directories (their ``samples.npz`` from ``chaossim evaluate``), or arrays of
    generated points (n x Nv in [-1, 1]); one row per source under a first row of data. With arrays,
    give ``data`` (n x Nv) and ``image_shape``; with run directories they default to the first run's.
    ``n``: images per row.
    """
    from .evaluate_run import load_samples

    sources = _as_list(sources)
    if not sources:
        raise ConfigError("plot_samples needs at least one run directory or array of generated samples.")
    rows, names = [], []
    for i, src in enumerate(sources):
        if isinstance(src, (str, Path)):
            s = load_samples(src)
            image_shape = image_shape or s["image_shape"]
            data = s["data"] if data is None else data
            rows.append(s["generated"])
            names.append(_run_label(Path(src)))
        else:
            rows.append(_host(src))
            names.append(f"generated {i + 1}" if len(sources) > 1 else "generated")
    if data is None or image_shape is None:
        raise ConfigError("plot_samples with arrays needs data= (held-out points, n x Nv) and image_shape=(H, W).")
    names = _labels(labels, len(rows), lambda i: names[i])
    n = max(1, min(int(n), len(data), *(len(r) for r in rows)))
    h, w = (int(s) for s in image_shape)
    fig = _figure(max(4.0, 0.55 * n * w / max(h, 1) + 1.5), 0.62 * (len(rows) + 1) + 0.5)
    axes = fig.subplots(len(rows) + 1, 1, squeeze=False)[:, 0]
    for ax, points, name in zip(axes, [_host(data)[:n], *[r[:n] for r in rows]], ["data", *names]):
        ax.imshow(mosaic(to_grey(points, (h, w)), n), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    axes[0].set_title(r"data samples (top) and generated samples $\phi(\mathbf{v}(T))$")
    return _save(fig, path)


# ------------------------------------------------------------------------------ Fig. 3a
def plot_snapshots(source, path, *, t=None, T: float | None = None, image_shape=None) -> list[Path]:
    """Fig. 3a: samples phi(v(t)) from one set of random starts at several times t (SPEC "Figures" 2);
    one column per t, one row per start. At t >> T the dynamics has reached learned fixed points.

    ``source``: a run directory (``samples.npz`` from ``chaossim evaluate``) or an array
    (n_t x n_starts x Nv) with ``t`` (n_t times), ``image_shape`` and optionally ``T`` (marked).
    """
    from .evaluate_run import load_samples

    if isinstance(source, (str, Path)):
        s = load_samples(source)
        snaps, t, T, image_shape = s["snapshots"], s["snapshot_t"], s["T"], s["image_shape"]
    else:
        snaps = _host(source)
        if t is None or image_shape is None:
            raise ConfigError("plot_snapshots with an array needs t= (the times) and image_shape=(H, W).")
    t = _host(t, float)
    if snaps.ndim != 3 or snaps.shape[0] != len(t):
        raise DataError(f"snapshots must have shape (n_t, n_starts, Nv) with n_t = {len(t)} times, got {snaps.shape}.")
    n_t, n_s = snaps.shape[:2]
    h, w = (int(s) for s in image_shape)
    fig = _figure(max(4.0, 0.8 * n_t * w / max(h, 1)), 0.75 * n_s + 0.7)
    axes = fig.subplots(1, n_t, squeeze=False)[0]
    for j, ax in enumerate(axes):
        ax.imshow(mosaic(to_grey(snaps[j], (h, w)), 1), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        mark = r"$\,(T)$" if T is not None and math.isclose(t[j], float(T)) else ""
        ax.set_title(f"$t={t[j]:g}$" + mark, fontsize=9)
    if T is not None:
        fig.suptitle(rf"samples from one set of random starts, $T={float(T):g}$", fontsize=10)
    return _save(fig, path)


def _readable_log_ticks(ax) -> None:
    """Plain '%.3g' tick labels on log axes that span less than a decade (matplotlib otherwise labels
    the minor ticks with long mantissa x 10^k strings)."""
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:.3g}")
    for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if axis.get_scale() == "log" and lo > 0 and hi / lo < 10:
            axis.set_major_formatter(fmt)
            axis.set_minor_formatter(fmt)


def _no_values(ax, key: str) -> None:
    text = "not defined:\nno hidden layer" if key == "ER" else "no finite values"
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center")


# ------------------------------------------------------------------------------ Fig. 3b
def plot_indices_vs_time(sources, path, *, labels: Sequence[str] | None = None) -> list[Path]:
    """Fig. 3b: the four accuracy indices vs generation time t (log t; log y for E(2) and E(s)), with a
    dashed vertical line at each run's T (SPEC "Figures" 3).

    ``sources``: run directories (``evaluation.npz`` from ``chaossim evaluate``) or result dicts with
    keys t, E2, Es, EAAI, ER and T (as returned by :func:`chaossim.evaluate_run.evaluate_run`).
    """
    from .evaluate_run import load_evaluation

    results, names = _load_runs(sources, load_evaluation, labels)
    fig = _figure(8.0, 6.0)
    axes = fig.subplots(2, 2).ravel()
    colors = [f"C{i % 10}" for i in range(len(results))]
    for ax, key in zip(axes, INDEX_NAMES):
        drawn = False
        for res, name, color in zip(results, names, colors):
            t = _host(res["t"], float)
            y = _host(res[key], float)
            keep = (t > 0) & np.isfinite(y)
            if keep.any():
                ax.plot(t[keep], y[keep], "o-", color=color, ms=4, label=name)
                drawn = True
            if res.get("T") is not None:
                ax.axvline(float(res["T"]), color=color, ls="--", lw=1)
        ax.set_xscale("log")
        if LOG_Y[key] and drawn:
            ax.set_yscale("log")
        ax.set_xlabel("$t$")
        ax.set_ylabel(LATEX[key])
        if not drawn:
            _no_values(ax, key)
        _readable_log_ticks(ax)
    axes[0].legend(fontsize=8)
    fig.suptitle("accuracy indices vs generation time $t$ (dashed: $t=T$)", fontsize=10)
    return _save(fig, path)


# ------------------------------------------------------------------------------ Fig. 4
def receptive_fields(params: Mapping, image_shape: Sequence[int], n: int = 9, g: float = 1.0, *,
                     units: Sequence[int] | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Receptive fields of hidden units (SPEC "Figures" 4, paper Fig. 4): for hidden unit a, the
    couplings {W_ia + A_ia}_i to the visible layer reshaped as an image, divided by g (the paper: "the
    overall color scale has been divided by g").

    The matrix is W + A (restricted), W1 + A1 (deep: the first hidden layer) or W (RBM, pass g = 1).
    ``units``: the hidden units a; default ``n`` distinct units drawn at random (sorted) from ``seed``.
    Returns ``(fields, units)`` with fields of shape (n, H, W).
    """
    p = {k: _host(v, np.float64) for k, v in params.items()}
    if "W1" in p and "A1" in p:
        m = p["W1"] + p["A1"]
    elif "W" in p and "A" in p:
        m = p["W"] + p["A"]
    elif "W" in p and "A" not in p:
        m = p["W"]
    else:
        raise ConfigError("receptive fields need hidden units; the unrestricted model (J, A) has none. "
                          "Use a restricted, deep or RBM run.")
    nv, nh = m.shape
    h, w = (int(s) for s in image_shape)
    if h * w != nv:
        raise DataError(f"the visible layer has {nv} units but the image shape {h}x{w} has {h * w} pixels.")
    g = float(g)
    if not (math.isfinite(g) and g > 0):
        raise ConfigError(f"g must be > 0 to scale the receptive fields, got {g!r}.")
    if units is None:
        n = int(n)
        if not 1 <= n <= nh:
            raise ConfigError(f"n = {n} hidden units asked for, but the layer has {nh}; choose 1 <= n <= {nh}.")
        units = np.sort(np.random.default_rng(seed).choice(nh, size=n, replace=False))
    units = _host(units, np.int64)
    if units.size == 0 or units.min() < 0 or units.max() >= nh:
        raise ConfigError(f"hidden units must lie in [0, {nh - 1}], got {units.tolist()}.")
    return (m[:, units].T / g).reshape(len(units), h, w), units


def _image_shape_of_run(run_dir: Path, config, nv: int) -> tuple[int, int]:
    if (run_dir / "samples.npz").is_file():
        from .evaluate_run import load_samples

        return load_samples(run_dir)["image_shape"]
    side = math.isqrt(nv)
    if side * side == nv:
        return side, side
    from .training import load_data

    shape = load_data(config).image_shape
    if shape is None:
        raise DataError(f"the data of {run_dir} have no image shape; receptive fields cannot be drawn as images.")
    return tuple(shape)


def plot_receptive_fields(source, path, n: int = 9, *, seed: int = 0, g: float | None = None,
                          image_shape=None) -> list[Path]:
    """Fig. 4: receptive fields (W_ia + A_ia)/g of ``n`` randomly chosen hidden units (see
    :func:`receptive_fields`), diverging colormap centred at 0, one shared colour scale.

    ``source``: a run directory (its checkpoint; g from its config, 1 for an RBM) or a params dict
    (then give ``g`` and ``image_shape``).
    """
    title = "receptive fields"
    if isinstance(source, (str, Path)):
        from .config import RunConfig
        from .errors import StoreError
        from .training import load_checkpoint

        run_dir = Path(source)
        if not (run_dir / "config.toml").is_file():
            raise StoreError(f"{run_dir} is not a chaossim run directory (no config.toml).")
        config = RunConfig.load(run_dir / "config.toml")
        params = load_checkpoint(run_dir)["params"]
        if g is None:
            g = 1.0 if config.model.arch == "rbm" else config.model.g
        image_shape = image_shape or _image_shape_of_run(run_dir, config, params["b"].shape[0])
        title = f"{_run_label(run_dir)}: receptive fields"
    else:
        params = source
        if g is None or image_shape is None:
            raise ConfigError("plot_receptive_fields with a params dict needs g= and image_shape=(H, W).")
    fields, units = receptive_fields(params, image_shape, n, g, seed=seed)
    if "W1" in params:
        label = r"$(W^{(1)}_{ia}+A^{(1)}_{ia})/g$"
    elif "A" in params:
        label = r"$(W_{ia}+A_{ia})/g$"
    else:
        label = r"$W_{ia}$"
    k = len(units)
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    fig = _figure(1.6 * cols + 1.2, 1.6 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    vmax = float(np.max(np.abs(fields))) or 1.0
    im = None
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, f, a in zip(axes, fields, units):
        im = ax.imshow(f, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_title(f"$a={int(a)}$", fontsize=9)
    for ax in axes[k:]:
        ax.set_axis_off()
    fig.colorbar(im, ax=list(axes), label=label, shrink=0.8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


# ------------------------------------------------------------------------------ Fig. 5
def plot_training_curves(sources, path, *, labels: Sequence[str] | None = None) -> list[Path]:
    """Fig. 5: the four accuracy indices at T* = T vs training step t_age, one curve per run, one panel
    per index (SPEC "Figures" 5). Log t_age (the t_age = 0 point, before training, is left out), log y
    for E(2) and E(s).

    ``sources``: run directories (history from their ``checkpoint.npz``) or dicts with t_age, E2, Es, EAAI, ER.
    """
    from .training import load_checkpoint

    def history(run_dir):
        hist = load_checkpoint(run_dir)["history"]
        if not hist or len(hist.get("t_age", [])) == 0:
            raise DataError(f"{run_dir} has no logged indices yet; train it longer (training.log_every).")
        return hist

    hists, names = _load_runs(sources, history, labels)
    fig = _figure(8.0, 6.0)
    axes = fig.subplots(2, 2).ravel()
    for ax, key in zip(axes, INDEX_NAMES):
        drawn = False
        for i, (hist, name) in enumerate(zip(hists, names)):
            x = _host(hist["t_age"], float)
            y = _host(hist[key], float)
            keep = (x > 0) & np.isfinite(y)
            if keep.any():
                ax.plot(x[keep], y[keep], "o-", color=f"C{i % 10}", ms=3, label=name)
                drawn = True
        ax.set_xscale("log")
        if LOG_Y[key] and drawn:
            ax.set_yscale("log")
        ax.set_xlabel(r"$t_{\rm age}$")
        ax.set_ylabel(LATEX[key])
        if not drawn:
            _no_values(ax, key)
        _readable_log_ticks(ax)
    axes[0].legend(fontsize=8)
    fig.suptitle(r"accuracy indices at $T^*=T$ during training", fontsize=10)
    return _save(fig, path)
