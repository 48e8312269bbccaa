"""The training loop (SPEC "Training"): minibatches, contrastive Hebbian updates, logged indices,
atomic checkpoints and bit-exact resume.

Reproducibility without saved generator state: the minibatch order of epoch e comes from
``derive_seed(seed, BATCH_STREAM, e)`` and the random initial states of step s from
``derive_seed(seed, STEP_STREAM, s)``, so resuming from a checkpoint at step s replays exactly the
steps an uninterrupted run would have taken.

Run directory layout::

    config.toml        the exact RunConfig
    meta.json          package version, backend, device, status ("running", "finished", "interrupted",
                       "diverged"), step and indices of the last checkpoint, earlier interruptions
    checkpoint.npz     params, buffers, step and the history so far (written atomically)
    history.csv        indices vs t_age, for people
    snapshots/step_XXXXXXX.npz   all parameters at chosen steps (training.snapshot_every)
"""
from __future__ import annotations

import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, interrupts
from .backend import derive_seed, get_backend, to_numpy
from .config import RunConfig
from .errors import ChaossimWarning, ConfigError, DivergenceError, StoreError
from .evaluation import INDEX_NAMES, eval_seed, indices_at
from .io import atomic_savez, atomic_write_text, load_npz
from .rundir import write_meta
from .validation import check_values

BATCH_STREAM, STEP_STREAM = 3, 2
CHAOS_NAMES = ("lambda_max", "activity_var")


@dataclass
class TrainResult:
    model: object
    history: dict = field(default_factory=dict)
    chaos: dict = field(default_factory=dict)
    run_dir: Path | None = None
    step: int = 0


def build_model(config: RunConfig, n_visible: int):
    """The model a config describes, with its fixed couplings drawn from ``model.seed``."""
    m, dyn, bk = config.model, config.dynamics, config.backend
    common = dict(seed=m.seed, backend=bk.name, dtype=bk.dtype)
    if m.arch == "rbm":
        from .rbm import RBM

        return RBM(n_visible, m.n_hidden, persistent=m.persistent, **common)
    from .models import ARCHITECTURES

    sizes = {"unrestricted": (), "restricted": (m.n_hidden,), "deep": (m.n_hidden, m.n_hidden2)}[m.arch]
    return ARCHITECTURES[m.arch](n_visible, *sizes, g=m.g, dt=dyn.dt, tau=dyn.tau, force=bk.force, **common)


def load_data(config: RunConfig):
    from .data import load_dataset

    d = config.data
    return load_dataset(d.name, d.data_dir or None, n_train=d.n_train or None, n_test=d.n_test or None,
                        seed=config.model.seed, value_range=d.value_range or None)


def batch_indices(n: int, m: int, seed: int, step: int) -> np.ndarray:
    """Row indices of the minibatch of training step ``step`` (0-based): shuffled epochs of size n // m."""
    per_epoch = max(n // m, 1)
    epoch, i = divmod(step, per_epoch)
    perm = np.random.default_rng(derive_seed(seed, BATCH_STREAM, epoch)).permutation(n)
    return perm[i * m:(i + 1) * m]


def _meta(config: RunConfig, status: str, **extra) -> dict:
    import numpy

    bk = get_backend(config.backend.name, config.backend.dtype)
    return {"chaossim_version": __version__, "numpy_version": numpy.__version__, "python": platform.python_version(),
            "backend": bk.name, "device": bk.device, "status": status, "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **extra}


def _check_finite(model, step: int, config: RunConfig, run_dir, last_ckpt: int | None):
    """The divergence check of a training step: one flag for all parameters, one host synchronisation."""
    xp = model.bk.xp
    if bool(xp.stack([xp.isfinite(v).all() for v in model.params.values()]).all()):
        return
    bad = [k for k, v in model.params.items() if not bool(xp.isfinite(v).all())]
    _diverged(f"parameters {bad} became NaN/inf", step, config, run_dir, last_ckpt)


def _evaluate(model, test_dev, config: RunConfig, step: int, run_dir, last_ckpt):
    try:
        return indices_at(model, test_dev, config.dynamics.T, seed=eval_seed(config.model.seed, step))
    except DivergenceError as exc:
        _diverged(str(exc), step, config, run_dir, last_ckpt)


def _diverged(what: str, step: int, config: RunConfig, run_dir, last_ckpt):
    d, m = config.dynamics, config.model
    where = f" The last good checkpoint (step {last_ckpt}) is kept in {run_dir}." if run_dir and last_ckpt is not None else ""
    raise DivergenceError(
            f"training diverged at step {step}: {what} (arch={m.arch}, g={m.g}, "
            f"dt={d.dt}, tau={d.tau}, dt/tau={d.dt / d.tau:.3g}, T={d.T}, k={config.training.k}, "
            f"M={config.training.batch_size}, dtype={config.backend.dtype}).{where} Lower dt/tau (<= 1 is "
            "stable) or the learning rate k, then start again or resume from the checkpoint.")


def _empty_history():
    return {"t_age": np.zeros(0, dtype=np.int64), **{n: np.zeros(0) for n in INDEX_NAMES}}


def _empty_chaos():
    return {"t_age": np.zeros(0, dtype=np.int64), **{n: np.zeros(0) for n in CHAOS_NAMES}}


def _append(hist: dict, step: int, values: dict) -> dict:
    return {k: np.append(v, step if k == "t_age" else values[k]) for k, v in hist.items()}


def save_checkpoint(run_dir: Path, model, step: int, history: dict, chaos: dict) -> None:
    arrays = {"step": np.array(step)}
    arrays.update({f"param/{k}": v for k, v in model.params.to_numpy().items()} if hasattr(model.params, "to_numpy")
                  else {f"param/{k}": to_numpy(v) for k, v in model.params.items()})
    arrays.update({f"buffer/{k}": to_numpy(v) for k, v in getattr(model, "buffers", {}).items()})
    arrays.update({f"history/{k}": v for k, v in history.items()})
    arrays.update({f"chaos/{k}": v for k, v in chaos.items()})
    atomic_savez(run_dir / "checkpoint.npz", arrays)


def load_checkpoint(run_dir) -> dict:
    """{'step', 'params', 'buffers', 'history', 'chaos'} from a run directory's checkpoint."""
    z = load_npz(Path(run_dir) / "checkpoint.npz")
    out = {"step": int(z["step"]), "params": {}, "buffers": {}, "history": {}, "chaos": {}}
    for key, value in z.items():
        if "/" in key:
            group, name = key.split("/", 1)
            out[{"param": "params", "buffer": "buffers", "history": "history", "chaos": "chaos"}[group]][name] = value
    return out


def load_run(run_dir, backend: str | None = None):
    """(config, model at its last checkpoint, checkpoint dict) of a run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise StoreError(f"{run_dir} is not a chaossim run directory (no config.toml). Train one with `chaossim train`.")
    config = RunConfig.load(run_dir / "config.toml")
    if backend:
        config = config.replace(**{"backend.name": backend})
    ck = load_checkpoint(run_dir)
    n_visible = ck["params"]["b"].shape[0]
    model = build_model(config, n_visible)
    model.params = ck["params"]
    for k, v in ck["buffers"].items():
        model.buffers[k] = model.bk.asarray(v)
    return config, model, ck


def write_history_csv(run_dir: Path, history: dict) -> None:
    cols = ["t_age", *INDEX_NAMES]
    lines = [",".join(cols)]
    for i in range(len(history["t_age"])):
        lines.append(",".join([str(int(history["t_age"][i]))] + [f"{history[c][i]:.6g}" for c in INDEX_NAMES]))
    atomic_write_text(run_dir / "history.csv", "\n".join(lines) + "\n")


def train(config: RunConfig, run_dir=None, *, resume: bool = False, progress: bool = True, dataset=None,
          stop_after: int | None = None) -> TrainResult:
    """Train the model ``config`` describes (SPEC "Training").

    ``run_dir``: where the config, checkpoints and history go (None: in memory only).
    ``resume``: continue from ``run_dir``'s checkpoint; on NumPy the result equals, to the bit, that of
    an uninterrupted run. ``"auto"``: resume if ``run_dir`` holds a run, else start one. The run
    directory is checked before anything is written into it (:mod:`chaossim.rundir`).
    ``dataset``: a :class:`chaossim.data.Dataset` to use instead of ``config.data``.
    ``stop_after``: stop (with a checkpoint) after this many steps in this call, for tests and time limits.
    """
    tc, dyn = config.training, config.dynamics
    if run_dir is not None:  # refuse a run directory before loading anything (the checkpoint is checked later)
        from .rundir import check_run_dir

        check_run_dir(run_dir, config, None, resume)
    data = dataset if dataset is not None else load_data(config)
    train_x, test_x = data.train, data.test
    if tc.batch_size > len(train_x):
        raise ConfigError(f"training.batch_size = {tc.batch_size} exceeds the {len(train_x)} training points of "
                          f"{data.name}; lower it or use more data.")
    if tc.n_eval > len(test_x):
        warnings.warn(ChaossimWarning(f"training.n_eval = {tc.n_eval} exceeds the {len(test_x)} held-out points of "
                                      f"{data.name}: the indices use all {len(test_x)}."), stacklevel=2)
    test_x = test_x[: tc.n_eval]
    check_values(train_x, f"the training points of {data.name}", unit_range=True)  # once, on the host
    model = build_model(config, train_x.shape[1])
    history, chaos, start, last_ckpt = _empty_history(), _empty_chaos(), 0, None
    if run_dir is not None:
        run_dir = Path(run_dir)
        start, history, chaos = _prepare_run_dir(run_dir, config, model, resume)
        last_ckpt = start if (run_dir / "checkpoint.npz").exists() else None
    bk = model.bk
    train_dev = bk.asarray(train_x)
    test_dev = bk.asarray(test_x)
    end = tc.steps if stop_after is None else min(tc.steps, start + stop_after)
    bar = _progress(progress, start, tc.steps, f"{config.model.arch} g={config.model.g} T={dyn.T}")
    try:
        if start == 0 and (len(history["t_age"]) == 0):
            history = _append(history, 0, _evaluate(model, test_dev, config, 0, run_dir, last_ckpt))
            chaos = _maybe_chaos(model, config, 0, chaos)
        for step in range(start, end):
            if interrupts.requested():
                _stop_cleanly(run_dir, config, model, step, history, chaos, last_ckpt)
            bk.reseed(model.rng, derive_seed(config.model.seed, STEP_STREAM, step))
            batch = train_dev[batch_indices(len(train_x), tc.batch_size, config.model.seed, step)]
            model.train_step(batch, dyn.dt, dyn.tau, dyn.T, tc.k, force=config.backend.force, check=False)
            done = step + 1
            _check_finite(model, done, config, run_dir, last_ckpt)
            if done % tc.log_every == 0 or done == tc.steps:
                history = _append(history, done, _evaluate(model, test_dev, config, done, run_dir, last_ckpt))
                if bar is not None:
                    bar.set_postfix({k: f"{history[k][-1]:.3g}" for k in ("E2", "EAAI")})
            if tc.chaos_every and done % tc.chaos_every == 0:
                chaos = _maybe_chaos(model, config, done, chaos)
            if run_dir is not None and tc.snapshot_every and done % tc.snapshot_every == 0:
                atomic_savez(run_dir / "snapshots" / f"step_{done:07d}.npz", model.params.to_numpy()
                             if hasattr(model.params, "to_numpy") else {k: to_numpy(v) for k, v in model.params.items()})
            if run_dir is not None and (done % tc.checkpoint_every == 0 or done == end):
                save_checkpoint(run_dir, model, done, history, chaos)
                write_history_csv(run_dir, history)
                last_ckpt = done
                write_meta(run_dir, config, "running", step=done, history=history)
            if bar is not None:
                bar.update(1)
    except DivergenceError:
        if run_dir is not None:
            write_meta(run_dir, config, "diverged", step=last_ckpt, last_good_step=last_ckpt)
        raise
    except (KeyboardInterrupt, OSError) as exc:  # Ctrl-C, SIGTERM, a full disk: the last checkpoint is kept
        if run_dir is not None:
            if isinstance(exc, OSError):
                exc.checkpoint = last_ckpt  # for the message: which step is kept
            _record_interruption(run_dir, config, getattr(exc, "checkpoint", None) or last_ckpt, history, exc)
        raise
    finally:
        if bar is not None:
            bar.close()
    if run_dir is not None:
        status = "finished" if end == tc.steps else "stopped"
        write_meta(run_dir, config, status, step=end, history=history)
    return TrainResult(model=model, history=history, chaos=chaos, run_dir=run_dir, step=end)


def _prepare_run_dir(run_dir: Path, config: RunConfig, model, resume):
    from .rundir import open_run

    return open_run(run_dir, config, model, resume)


def _stop_cleanly(run_dir, config: RunConfig, model, step: int, history: dict, chaos: dict, last_ckpt):
    """A stop was requested (:mod:`chaossim.interrupts`): checkpoint at this step boundary, then raise."""
    signum = interrupts.requested()
    if run_dir is not None and last_ckpt != step:
        save_checkpoint(run_dir, model, step, history, chaos)
        write_history_csv(run_dir, history)
    where = f"; checkpoint at step {step} kept in {run_dir}" if run_dir is not None else ""
    exc = interrupts.Interrupted(signum, f"stopped by {interrupts.signal_name(signum)} at step {step}{where}")
    exc.checkpoint = step if run_dir is not None else None
    raise exc


def _record_interruption(run_dir: Path, config: RunConfig, last_ckpt, history: dict, exc) -> None:
    from .rundir import read_meta

    if isinstance(exc, interrupts.Interrupted):
        how = interrupts.signal_name(exc.signum)
    elif isinstance(exc, OSError):
        how = f"write error: {exc.strerror} ({exc.filename})"
    else:
        how = "KeyboardInterrupt"
    entries = list(read_meta(run_dir).get("interruptions", []))
    entries.append({"step": last_ckpt, "how": how, "noticed": time.strftime("%Y-%m-%dT%H:%M:%S")})
    try:
        write_meta(run_dir, config, "interrupted", step=last_ckpt, interruptions=entries)
    except OSError:  # e.g. the disk filled up: the checkpoint is what matters
        pass


def _maybe_chaos(model, config: RunConfig, step: int, chaos: dict) -> dict:
    if not config.training.chaos_every or config.model.arch == "rbm":
        return chaos
    from .chaos import training_chaos_probe

    values = training_chaos_probe(model, seed=derive_seed(config.model.seed, 5, step))
    return _append(chaos, step, values)


def _progress(enabled: bool, start: int, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc=desc, unit="step", dynamic_ncols=True)
