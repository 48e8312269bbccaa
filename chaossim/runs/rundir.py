"""Run directories: their files (checkpoint, history, meta.json, evaluation results), the loaders, and the
guard: everything that can make training refuse a run directory is checked before the first byte is
written into it, and ``meta.json`` tells what happened to the run (docs/faults.md, docs/reproducibility.md).

Layout::

    config.toml        the exact RunConfig, every setting written out
    meta.json          package version, backend, device, status, step and indices of the last checkpoint,
                       earlier interruptions, and the training path (see below)
    checkpoint.npz     params, buffers, step and the history so far (written atomically), and what the
                       run was trained on: its settings and the fingerprint of its data
                       (:mod:`chaossim.fingerprint`)
    history.csv        indices vs t_age, for people
    snapshots/step_XXXXXXX.npz   all parameters at chosen steps (training.snapshot_every)
    evaluation.npz, evaluation.csv, evaluation.txt, samples.npz   written by ``chaossim evaluate``
                       (:func:`chaossim.runs.evaluate_run.evaluate_run`)

Modes (``resume`` of :func:`chaossim.runs.training.train`):

* ``False``: a new run; the directory must not hold one already.
* ``True``: continue a run; the directory must exist and hold its ``config.toml``, complete (every setting
  written out, :func:`chaossim.config.missing_settings`); the given config must equal the stored one except
  ``training.steps``; the checkpoint must load, have been trained under those settings and on the data as
  they load now (its fingerprints, :mod:`chaossim.fingerprint`), and fit the model.
* ``"auto"`` (sweep points): resume when a run is there, else start one.

A checkpoint whose ``config.toml`` is gone is never continued: the settings it was trained with are
unknown, and continuing it under other ones would silently mix two runs.

``meta.json`` holds ``status`` ("running", "finished", "stopped" (``stop_after`` reached), "interrupted",
"diverged"), ``step`` (of the
last checkpoint), the last logged indices, the process (host, pid), a list ``interruptions`` of
earlier sessions that ended without finishing (killed, or stopped by a signal), and how the steps ran:
``train_path`` ("fused-graph", "fused-eager", "fused-host" or "engine", see :mod:`chaossim.runs.train_path`),
``train_path_reason``, ``tf32`` and ``group_size`` (runs trained together in one Ensemble, 1 = alone).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import interrupts
from .._version import __version__
from ..archs import lookup
from ..backend import get_backend, to_numpy
from ..config import ADDED_SETTINGS, RunConfig, missing_settings, tomllib
from ..errors import ConfigError, DataError, StoreError
from ..fingerprint import data_fingerprint, data_shape, settings_differences
from ..fs import check_writable, remove_orphan_temporaries
from ..io import atomic_savez, atomic_write_json, atomic_write_text, load_npz
from ..metrics import index_names
from ..models.protocol import Model
from ..process import describe, is_alive, this_process
from .build import build_model

RUN_FILES = ("config.toml", "checkpoint.npz", "meta.json", "history.csv")
META_FILE = "meta.json"
EVALUATION_FILE, SAMPLES_FILE = "evaluation.npz", "samples.npz"
CHAOS_NAMES = ("lambda_max", "activity_var")


def config_differences(stored: RunConfig, given: RunConfig, ignore=("training.steps",)) -> list[str]:
    """['model.g: the run has 1.5, given 0.7', ...] for every setting that differs."""
    out = []
    for section in ("model", "dynamics", "training", "data", "backend"):
        a, b = getattr(stored, section), getattr(given, section)
        for f in fields(a):
            key = f"{section}.{f.name}"
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if key not in ignore and va != vb:
                out.append(f"{key}: the run has {va!r}, given {vb!r}")
    return out


def _no_config(run_dir: Path, present: list[str]) -> StoreError:
    return StoreError(
        f"{run_dir} holds {', '.join(present)} but no config.toml: the settings this run was trained with are "
        "lost, so it cannot be continued (continuing under other settings would silently mix two runs). "
        "Nothing was written. Put the run's exact config.toml back (from a backup, or the sweep spec that made "
        "it), or start a new run in another directory."
    )


def resume_config(run_dir) -> RunConfig:
    """The stored config of a run to be resumed; clear refusals when there is none (nothing is written)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise StoreError(
            f"cannot resume: {run_dir} does not exist, so there is no run to continue. Check the "
            "path, or leave out --resume to start a new run there."
        )
    if not run_dir.is_dir():
        raise StoreError(f"cannot resume: {run_dir} is a file, not a run directory.")
    present = [n for n in RUN_FILES if (run_dir / n).exists()]
    cfg_path = run_dir / "config.toml"
    if not cfg_path.is_file():
        if present:
            raise _no_config(run_dir, present)
        raise StoreError(
            f"cannot resume: {run_dir} holds no chaossim run (no config.toml nor checkpoint.npz). "
            "Check the path, or leave out --resume to start a new run there."
        )
    return stored_config(run_dir)


def stored_config(run_dir) -> RunConfig:
    """The config of a run from its ``config.toml``, which must be complete: a setting missing from it
    (an edit, a file cut short) is refused rather than replaced by its default. Errors name the file."""
    cfg_path = Path(run_dir) / "config.toml"
    try:
        raw = tomllib.loads(cfg_path.read_text())
        config = RunConfig.from_dict(raw)
    except (ConfigError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        what = f"invalid TOML: {exc}" if isinstance(exc, tomllib.TOMLDecodeError) else str(exc)
        raise StoreError(
            f"{cfg_path} is not a valid run config ({what}); restore the run's config.toml or start "
            "a new run in another directory."
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot read {cfg_path} ({exc.strerror}); check the file and its permissions.") from None
    missing = missing_settings(raw)
    if missing:
        recorded = checkpoint_binding(run_dir).get("settings")
        if recorded is not None or any(m not in ADDED_SETTINGS for m in missing):
            had = json.loads(recorded) if recorded else {}
            known = [f"{m} = {json.dumps(had[m])}" for m in missing if m in had]
            hint = f" (its checkpoint was trained with {', '.join(known)})" if known else ""
            raise StoreError(
                f"{cfg_path} lacks {', '.join(missing)}: a run's config.toml holds every setting, so this one was "
                "edited or cut short, and continuing would put defaults in their place. Nothing was written. "
                f"Restore the run's config.toml{hint}, or start a new run in another directory."
            )
    return config


def checkpoint_binding(run_dir) -> dict:
    """What a run's checkpoint records of its inputs (``settings``, ``settings_fingerprint``,
    ``data_fingerprint``, ``data_shape``; :func:`chaossim.fingerprint.run_fingerprint`), read without
    loading the parameters; {} when there is no checkpoint, it predates the record, or it cannot be read."""
    path = Path(run_dir) / "checkpoint.npz"
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k.split("/", 1)[1]: str(z[k]) for k in z.files if k.startswith("run/")}
    except Exception:  # noqa: BLE001 - a damaged checkpoint is reported where it is loaded
        return {}


def check_binding(run_dir, ck: dict, config: RunConfig, data=None) -> None:
    """Refuse a checkpoint trained under other settings than ``config`` or on other data than ``data`` (a
    :class:`chaossim.data.Dataset`; None: not checked). Checkpoints written before the record are accepted."""
    run_dir = Path(run_dir)
    rec = ck.get("run") or {}
    if "settings" in rec:
        diff = settings_differences(json.loads(rec["settings"]), config)
        if diff:
            raise StoreError(
                f"{run_dir / 'checkpoint.npz'} was not trained under the settings of {run_dir / 'config.toml'}: "
                f"{'; '.join(diff)}. The checkpoint comes from another run, or config.toml was edited after the "
                "run started. Nothing was written. Put back the run's own checkpoint.npz and config.toml, or "
                "start a new run in another directory."
            )
    if data is not None and rec.get("data_fingerprint"):
        now = data_fingerprint(data)
        if now != rec["data_fingerprint"]:
            raise StoreError(
                f"the data of {run_dir} are not those its checkpoint was trained on: data.name = "
                f"{config.data.name!r} now loads {data_shape(data)} (fingerprint {now[:12]}), the checkpoint was "
                f"trained on {rec.get('data_shape', '?')} (fingerprint {rec['data_fingerprint'][:12]}). Continuing "
                "would train one run on two datasets. Nothing was written. Restore the data the run was trained "
                "on (or the run's own checkpoint.npz), or train on the new data in a new run directory."
            )


def read_meta(run_dir) -> dict:
    """The run's meta.json ({} when missing or unreadable)."""
    try:
        meta = json.loads((Path(run_dir) / META_FILE).read_text())
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def check_run_dir(run_dir, config: RunConfig, model, resume, data=None) -> dict | None:
    """Refuse a run directory that ``train(config, run_dir, resume=resume)`` must not write into;
    writes nothing. Returns the loaded checkpoint to continue from (None: start at step 0); with
    ``model=None`` the checkpoint is not read (the cheap checks, before the data are loaded). ``data``: the
    run's :class:`chaossim.data.Dataset`, checked against the checkpoint's data fingerprint."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise StoreError(f"{run_dir} is a file, not a run directory; choose another --run path.")
    present = [n for n in RUN_FILES if (run_dir / n).exists()]
    has_config = (run_dir / "config.toml").is_file()
    strict = resume is True
    if resume == "auto":
        if present and not has_config:
            raise _no_config(run_dir, present)
        resume = has_config
    elif not resume and present:
        raise StoreError(
            f"{run_dir} already holds a run ({', '.join(present)}); pass resume=True (--resume) to "
            "continue it, or choose a new directory."
        )
    if resume:
        stored = resume_config(run_dir)
        diff = config_differences(stored, config)
        if diff:
            raise StoreError(
                f"the config of {run_dir} differs from the one given (only training.steps may change "
                f"on resume): {'; '.join(diff)}. Use the stored config.toml or a new directory."
            )
        meta = read_meta(run_dir)
        if (
            strict
            and meta.get("status") == "running"
            and meta.get("pid")
            and is_alive(meta)
            and meta.get("pid") != this_process()["pid"]
        ):
            raise StoreError(
                f"{run_dir} is being trained right now by {describe(meta)}; wait for it to end, or "
                f"stop it (kill {meta['pid']}) and resume then."
            )
    advice = (
        "copy the run directory to a writable place and resume there"
        if resume
        else "choose a --run directory in a writable place"
    )
    check_writable(run_dir, "the run directory", advice)
    if model is None or not (resume and (run_dir / "checkpoint.npz").exists()):
        return None
    ck = load_checkpoint(run_dir)
    check_binding(run_dir, ck, config, data)
    params = host_params(model)
    bad = [
        f"{k} {tuple(np.shape(ck['params'].get(k)))} (now {tuple(np.shape(v))})"
        for k, v in params.items()
        if np.shape(ck["params"].get(k)) != np.shape(v)
    ]
    if bad:
        bias = ck["params"].get(lookup(config.model.arch).layers[0].bias)  # the visible layer's bias
        nv_ck = int(np.shape(bias)[0]) if np.ndim(bias) else -1
        if nv_ck != model.n_visible:
            which = (
                f"the data (data.name = {config.data.name!r}) now have {model.n_visible} features per point, the "
                f"checkpoint was trained on {nv_ck}: the data, or checkpoint.npz, changed after the run started"
            )
        else:
            which = (
                "the sizes of config.toml (model.*) do not give the checkpoint's shapes: config.toml, or "
                "checkpoint.npz, changed after the run started"
            )
        raise StoreError(
            f"the checkpoint of {run_dir} does not fit: parameters {', '.join(bad)}; {which}. Nothing was written. "
            "Restore the run's own files, or start a new run in another directory."
        )
    if ck["step"] > config.training.steps:
        raise StoreError(
            f"{run_dir} is already trained to step {ck['step']}, beyond training.steps = "
            f"{config.training.steps}; give at least {ck['step']} steps (--steps) to continue it."
        )
    return ck


def open_run(run_dir, config: RunConfig, model, resume, *, meta: dict | None = None, data=None):
    """Check (:func:`check_run_dir`, the data too when given), then prepare the run directory: clean what a
    killed run left, record an interrupted previous session, load the checkpoint into ``model``, write
    meta.json (with ``meta`` added, e.g. the training path). Returns (start, history, chaos)."""
    run_dir = Path(run_dir)
    ck = check_run_dir(run_dir, config, model, resume, data)
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_orphan_temporaries(run_dir)
    remove_orphan_temporaries(run_dir / "snapshots")
    if not (run_dir / "config.toml").is_file():
        config.save(run_dir / "config.toml")
    start, hist, chaos = 0, empty_history(), empty_chaos()
    if ck is not None:
        restore(model, ck)
        start, hist, chaos = ck["step"], ck["history"] or hist, ck["chaos"] or chaos
    if (run_dir / "history.csv").exists() or ck is not None:  # rows logged after the checkpoint are dropped
        write_history_csv(run_dir, hist)
    previous = read_meta(run_dir)
    interruptions = list(previous.get("interruptions", []))
    if previous.get("status") == "running":  # that session ended without a word: it was killed
        interruptions.append(
            {
                "step": start,
                "how": "killed (no clean stop was recorded)",
                "host": previous.get("host"),
                "pid": previous.get("pid"),
                "noticed": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        )
    write_meta(run_dir, config, "running", step=start, history=hist, interruptions=interruptions, **(meta or {}))
    return start, hist, chaos


def write_meta(
    run_dir,
    config: RunConfig,
    status: str,
    *,
    step: int | None,
    history: dict | None = None,
    interruptions: list | None = None,
    **extra,
) -> None:
    """Write meta.json: versions and device, ``status``, ``step`` (last checkpoint), the last logged
    indices, this process, and the ``interruptions`` so far (read back from meta.json when not given)."""
    run_dir = Path(run_dir)
    if interruptions is None:
        interruptions = read_meta(run_dir).get("interruptions", [])
    proc = this_process()
    meta = run_meta(config, status, step=step, **extra)
    meta.update({k: proc[k] for k in ("host", "pid", "boot_id", "proc_start")})
    if history is not None and len(history.get("t_age", ())):
        meta["last_indices"] = {
            "t_age": int(history["t_age"][-1]),
            **{n: _finite_or_none(history[n][-1]) for n in index_names() if n in history},
        }
    meta["interruptions"] = interruptions
    atomic_write_json(run_dir / META_FILE, meta)


def _finite_or_none(x):
    x = float(x)
    return x if np.isfinite(x) else None  # JSON has no NaN


def run_meta(config: RunConfig, status: str, **extra) -> dict:
    """The fields of meta.json that describe this session: versions, backend and device, ``status``."""
    bk = get_backend(config.backend.name, config.backend.dtype)
    return {
        "chaossim_version": __version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "backend": bk.name,
        "device": bk.device,
        "status": status,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **extra,
    }


def record_interruption(run_dir: Path, config: RunConfig, last_ckpt, history: dict, exc, meta: dict) -> None:
    """meta.json says the run was interrupted at ``last_ckpt`` by ``exc`` (a signal, a write error, Ctrl-C)."""
    if isinstance(exc, interrupts.Interrupted):
        how = interrupts.signal_name(exc.signum)
    elif isinstance(exc, OSError):
        how = f"write error: {exc.strerror} ({exc.filename})"
    else:
        how = "KeyboardInterrupt"
    entries = list(read_meta(run_dir).get("interruptions", []))
    entries.append({"step": last_ckpt, "how": how, "noticed": time.strftime("%Y-%m-%dT%H:%M:%S")})
    try:
        write_meta(run_dir, config, "interrupted", step=last_ckpt, interruptions=entries, **meta)
    except OSError:  # e.g. the disk filled up: the checkpoint is what matters
        pass


# ------------------------------------------------------------------------------------------ checkpoint, history
def empty_history() -> dict:
    """The logged indices before the first log: t_age and every registered index (chaossim.metrics), all empty."""
    return {"t_age": np.zeros(0, dtype=np.int64), **{n: np.zeros(0) for n in index_names()}}


def complete_history(history: dict) -> dict:
    """``history`` with a NaN column for each registered index it lacks (a run logged before the index was
    registered), so that a resumed run logs every index from then on."""
    n = len(history.get("t_age", ()))
    return {**history, **{k: np.full(n, np.nan) for k in index_names() if k not in history}}


def empty_chaos() -> dict:
    """The chaos probes before the first one: t_age, lambda_max and activity_var, all empty."""
    return {"t_age": np.zeros(0, dtype=np.int64), **{n: np.zeros(0) for n in CHAOS_NAMES}}


def host_params(model: Model) -> dict:
    """The model's parameters as NumPy arrays (the I/O boundary)."""
    return model.params.to_numpy()


def save_checkpoint(
    run_dir: Path, model: Model, step: int, history: dict, chaos: dict, binding: dict | None = None
) -> None:
    """Write checkpoint.npz atomically: step, parameters, buffers, history and chaos probes, and ``binding``:
    what the run was trained on (:func:`chaossim.fingerprint.run_fingerprint`)."""
    arrays = {"step": np.array(step)}
    arrays.update({f"run/{k}": np.array(str(v)) for k, v in (binding or {}).items()})
    arrays.update({f"param/{k}": v for k, v in host_params(model).items()})
    arrays.update({f"buffer/{k}": to_numpy(v) for k, v in model.buffers.items()})
    arrays.update({f"history/{k}": v for k, v in history.items()})
    arrays.update({f"chaos/{k}": v for k, v in chaos.items()})
    atomic_savez(Path(run_dir) / "checkpoint.npz", arrays)


def load_checkpoint(run_dir) -> dict:
    """{'step', 'params', 'buffers', 'history', 'chaos', 'run'} from a run directory's checkpoint ('run': what
    it was trained on, :func:`checkpoint_binding`; empty for checkpoints written before it was recorded)."""
    path = Path(run_dir) / "checkpoint.npz"
    z = load_npz(path)
    groups = {"param": "params", "buffer": "buffers", "history": "history", "chaos": "chaos", "run": "run"}
    out: dict[str, Any] = {"step": 0, **{g: {} for g in groups.values()}}
    try:
        out["step"] = int(z["step"])
        for key, value in z.items():
            if "/" in key:
                group, name = key.split("/", 1)
                out[groups[group]][name] = str(value) if group == "run" else value
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(
            f"{path} is not a chaossim checkpoint ({type(exc).__name__}: {exc}); put back the run's own "
            "checkpoint.npz, or start a new run in another directory."
        ) from None
    if out["history"]:
        out["history"] = complete_history(out["history"])
    return out


def restore(model: Model, ck: dict) -> None:
    """Put a loaded checkpoint's parameters and buffers into ``model``."""
    model.params = ck["params"]
    for k, v in ck["buffers"].items():
        model.buffers[k] = model.bk.asarray(v)


def load_run(run_dir, backend: str | None = None):
    """(config, model at its last checkpoint, checkpoint dict) of a run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise StoreError(
            f"{run_dir} is not a chaossim run directory (no config.toml). Train one with `chaossim train`."
        )
    config = stored_config(run_dir)
    if backend:
        config = config.replace(**{"backend.name": backend})
    ck = load_checkpoint(run_dir)
    check_binding(run_dir, ck, config)
    visible_bias = lookup(config.model.arch).layers[0].bias
    model = build_model(config, ck["params"][visible_bias].shape[0])
    restore(model, ck)
    return config, model, ck


HISTORY_FILE = "history.csv"


def history_columns(history: dict) -> list[str]:
    """The index columns of ``history`` written to history.csv: the registered indices it holds, in order."""
    return [n for n in index_names() if n in history]


def history_header(columns: list[str]) -> str:
    return ",".join(("t_age", *columns))


def history_row(history: dict, i: int, columns: list[str]) -> str:
    return ",".join([str(int(history["t_age"][i]))] + [f"{history[c][i]:.6g}" for c in columns])


def write_history_csv(run_dir: Path, history: dict) -> None:
    """history.csv: the logged indices vs t_age, one named column per index, for people and notebooks (the
    checkpoint holds the same numbers)."""
    cols = history_columns(history)
    lines = [history_header(cols)]
    lines += [history_row(history, i, cols) for i in range(len(history["t_age"]))]
    atomic_write_text(Path(run_dir) / HISTORY_FILE, "\n".join(lines) + "\n")


def read_history_csv(path) -> dict[str, np.ndarray]:
    """The columns of a ``history.csv``, by the names in its header (files of any chaossim version; also while
    the run writes it: a partly written last line is left out)."""
    text = Path(path).read_text()
    head, *rest = text.split("\n")
    cols = [c.strip() for c in head.split(",")] if head else []
    lines = [ln for ln in rest if ln]
    if not text.endswith("\n") and lines:
        lines = lines[:-1]
    rows = [ln.split(",") for ln in lines]
    out = {c: np.array([float(r[i]) for r in rows]) for i, c in enumerate(cols)}
    if "t_age" in out:
        out["t_age"] = out["t_age"].astype(np.int64)
    return out


def load_history(run_dir) -> dict:
    """The logged indices (t_age, E2, Es, EAAI, ER) of a run's checkpoint; a clear error when there are none."""
    hist = load_checkpoint(run_dir)["history"]
    if not hist or len(hist.get("t_age", [])) == 0:
        raise DataError(f"{run_dir} has no logged indices yet; train it longer (training.log_every).")
    return hist


# ------------------------------------------------------------------------------------------ evaluation files
def _missing(run_dir: Path, what: str) -> StoreError:
    return StoreError(
        f"{run_dir} has no {what} (it is written by the post-training evaluation); "
        f"run `chaossim evaluate {run_dir}` first."
    )


def load_evaluation(run_dir) -> dict:
    """The arrays of ``run_dir/evaluation.npz`` (t, E2, Es, EAAI, ER, T, n_eval, seed)."""
    run_dir = Path(run_dir)
    if not (run_dir / EVALUATION_FILE).is_file():
        raise _missing(run_dir, EVALUATION_FILE)
    z = load_npz(run_dir / EVALUATION_FILE)
    return {k: (v if v.ndim else v.item()) for k, v in z.items()}


def load_samples(run_dir) -> dict:
    """The arrays of ``run_dir/samples.npz`` (generated, data, image_shape, T, snapshot_t, snapshots)."""
    run_dir = Path(run_dir)
    if not (run_dir / SAMPLES_FILE).is_file():
        raise _missing(run_dir, SAMPLES_FILE)
    z = load_npz(run_dir / SAMPLES_FILE)
    z["image_shape"] = tuple(int(x) for x in z["image_shape"])
    z["T"] = float(z["T"])
    return z
