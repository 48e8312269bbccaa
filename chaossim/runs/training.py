"""The training loop (paper Eqs. (3), (6), (11)-(15); docs/model.md "Training"): minibatches, contrastive Hebbian
updates, logged indices, atomic checkpoints and bit-exact resume.

Reproducibility without saved generator state (docs/reproducibility.md): the minibatch order of epoch e
comes from ``derive_seed(seed, streams.TRAIN_BATCH, e)`` and the random initial states of step s from
``derive_seed(seed, streams.TRAIN_STEP, s)``, so resuming from a checkpoint at step s replays exactly the
steps an uninterrupted run would have taken. The same holds for a run trained as a member of an
ensemble (:mod:`chaossim.runs.ensemble_training`), which writes exactly this run directory.

Who owns what: the model and data a config describes are built by :mod:`chaossim.runs.build`; the run
directory's files (checkpoint, history, meta.json) and their loaders live in :mod:`chaossim.runs.rundir`;
the steps at which indices and chaos probes are logged come from :func:`chaossim.config.log_steps` and
:func:`chaossim.config.probe_steps`. This module is the loop.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import interrupts, streams
from ..backend import derive_seed
from ..config import RunConfig, log_steps, probe_steps
from ..errors import ChaossimWarning, ConfigError, DivergenceError
from ..evaluation import eval_seed, indices_at
from ..io import atomic_savez
from ..models.protocol import Model
from ..validation import check_values
from .build import build_model, load_data
from .rundir import (
    empty_chaos,
    empty_history,
    host_params,
    record_interruption,
    save_checkpoint,
    write_history_csv,
    write_meta,
)

__all__ = ["RunState", "TrainResult", "batch_indices", "train"]

BATCH_STREAM, STEP_STREAM = streams.TRAIN_BATCH, streams.TRAIN_STEP


@dataclass
class TrainResult:
    model: Model
    history: dict = field(default_factory=dict)
    chaos: dict = field(default_factory=dict)
    run_dir: Path | None = None
    step: int = 0
    train_path: str = "engine"  # which implementation ran the steps (chaossim.runs.train_path)
    train_path_reason: str = ""


def batch_indices(n: int, m: int, seed: int, step: int, _cache: dict | None = None) -> np.ndarray:
    """Row indices of the minibatch of training step ``step`` (0-based): shuffled epochs of size n // m.
    ``_cache``: a dict keeping the current epoch's permutation between calls (the training loops)."""
    per_epoch = max(n // m, 1)
    epoch, i = divmod(step, per_epoch)
    if _cache is not None and _cache.get("key") == (n, seed, epoch):
        perm = _cache["perm"]
    else:
        perm = np.random.default_rng(derive_seed(seed, BATCH_STREAM, epoch)).permutation(n)
        if _cache is not None:
            _cache.update(key=(n, seed, epoch), perm=perm)
    return perm[i * m : (i + 1) * m]


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
    where = (
        f" The last good checkpoint (step {last_ckpt}) is kept in {run_dir}."
        if run_dir and last_ckpt is not None
        else ""
    )
    raise DivergenceError(
        f"training diverged at step {step}: {what} (arch={m.arch}, g={m.g}, "
        f"dt={d.dt}, tau={d.tau}, dt/tau={d.dt / d.tau:.3g}, T={d.T}, k={config.training.k}, "
        f"M={config.training.batch_size}, dtype={config.backend.dtype}).{where} Lower dt/tau (<= 1 is "
        "stable) or the learning rate k, then start again or resume from the checkpoint."
    )


def _append(hist: dict, step: int, values: dict) -> dict:
    return {k: np.append(v, step if k == "t_age" else values[k]) for k, v in hist.items()}


def train(
    config: RunConfig,
    run_dir=None,
    *,
    resume: bool | Literal["auto"] = False,
    progress: bool = True,
    dataset=None,
    stop_after: int | None = None,
    fence=None,
    on_step=None,
) -> TrainResult:
    """Train the model ``config`` describes (paper Eqs. (3), (6), (11)-(15); docs/model.md "Training").

    ``run_dir``: where the config, checkpoints and history go (None: in memory only).
    ``resume``: continue from ``run_dir``'s checkpoint; on NumPy the result equals, to the bit, that of
    an uninterrupted run. ``"auto"``: resume if ``run_dir`` holds a run, else start one. The run
    directory is checked before anything is written into it (:mod:`chaossim.runs.rundir`).
    ``dataset``: a :class:`chaossim.data.Dataset` to use instead of ``config.data``.
    ``stop_after``: stop (with a checkpoint) after this many steps in this call, for tests and time limits.
    ``fence``: a callable called before each write into ``run_dir``; it raises to forbid the write (a sweep
    task whose client has gone, :mod:`chaossim.sweep.lease`), which ends the run without writing anything.
    ``on_step``: a callable given the number of steps done after each step (a sweep's live progress).

    The checkpoint records the settings and a fingerprint of the data (:mod:`chaossim.fingerprint`); a
    resume on other settings or other data is refused (:func:`chaossim.runs.rundir.check_binding`).

    The training step runs on the path :func:`chaossim.runs.train_path.choose_trainer` picks from ``[backend]``
    (the fused CUDA-graph step on CuPy, the engine on NumPy); ``meta.json`` and the result record which.
    """
    from .train_path import choose_trainer

    config = config.resolved()  # training.k of the architecture when unset (chaossim.archs: default_k)
    tc, dyn = config.training, config.dynamics
    k = float(tc.k or 0.0)  # resolved: always set
    run = RunState.setup(config, run_dir, resume, dataset, fence=fence)
    path = choose_trainer(run.model, config.backend)  # may refuse (trainer = "fused"): before anything is written
    run.open(path.meta(), stop_after)
    model, bk = run.model, run.model.bk
    from . import progress as live

    live.announce_size(progress, config, run)
    bar = _progress(progress, run.start, tc.steps, f"{config.model.arch} g={config.model.g} T={dyn.T}")
    try:
        t_eval = time.perf_counter()
        run.first_evaluation()  # timed: the duration estimate counts the evaluations left
        clock = live.start_clock(progress, config, run, time.perf_counter() - t_eval if run.start == 0 else 0.0, bar)
        for step in range(run.start, run.end):
            if interrupts.requested():
                _stop_cleanly([run], step)
            bk.reseed(model.rng, derive_seed(config.model.seed, STEP_STREAM, step))
            batch = run.train_dev[run.batch_rows(step)]
            path.trainer.train_step(batch, dyn.dt, dyn.tau, dyn.T, k, force=config.backend.force, check=False)
            done = step + 1
            _check_finite(model, done, config, run.run_dir, run.last_ckpt)
            run.after_step(done, path)
            live.tick(clock, done)
            if on_step is not None:
                on_step(done)
            if bar is not None:
                if done in run.log_at:
                    bar.set_postfix({k: f"{run.history[k][-1]:.3g}" for k in ("E2", "EAAI")})
                bar.update(1)
    except DivergenceError:
        run.record_divergence(path)
        raise
    except (KeyboardInterrupt, OSError) as exc:  # Ctrl-C, SIGTERM, a full disk: the last checkpoint is kept
        run.record_interruption(exc, path)
        raise
    finally:
        if bar is not None:
            bar.close()
    run.finish(path)
    return run.result(path)


class RunState:
    """One run inside a training loop: its data on the device, model, run directory, history, chaos probes and
    last checkpoint, and everything done between two steps (evaluations, probes, snapshots, checkpoints,
    meta.json). :func:`train` keeps one; the ensemble loop (:mod:`chaossim.runs.ensemble_training`) keeps one per
    member, so a member writes exactly what its run alone would."""

    def __init__(self, config: RunConfig, model, run_dir, data, train_x, test_x, fence=None):
        self.config, self.model, self.run_dir, self.data = config, model, run_dir, data
        self.fence = fence  # called before each write into run_dir (train's ``fence``)
        self.binding: dict = {}  # what the checkpoint records of the run's inputs (set by open())
        self.train_x, self.test_x = train_x, test_x
        self.train_dev: Any = None  # the data as backend arrays (set by open())
        self.test_dev: Any = None
        self.history, self.chaos, self.start, self.end = empty_history(), empty_chaos(), 0, 0
        self.last_ckpt: int | None = None  # the step of the last checkpoint written or loaded
        self.resume: bool | Literal["auto"] = False
        self.meta: dict = {}
        self._epoch: dict = {}  # the current epoch's permutation of the training points
        self.log_at = frozenset(log_steps(config))  # steps whose indices are logged (0 included)
        self.probe_at = frozenset(probe_steps(config))  # steps with a chaos probe (none for an RBM)

    @classmethod
    def setup(cls, config: RunConfig, run_dir, resume: bool | Literal["auto"], dataset=None, *, fence=None) -> RunState:
        """Check the run directory (cheaply, writing nothing), load and check the data, build the model."""
        config = config.resolved()
        tc = config.training
        if run_dir is not None:  # refuse a run directory before loading anything (the checkpoint is checked later)
            from .rundir import check_run_dir

            check_run_dir(run_dir, config, None, resume)
        data = dataset if dataset is not None else load_data(config)
        train_x, test_x = data.train, data.test
        if tc.batch_size > len(train_x):
            raise ConfigError(
                f"training.batch_size = {tc.batch_size} exceeds the {len(train_x)} training points of "
                f"{data.name}; lower it or use more data."
            )
        if tc.n_eval > len(test_x):
            warnings.warn(
                ChaossimWarning(
                    f"training.n_eval = {tc.n_eval} exceeds the {len(test_x)} held-out points "
                    f"of {data.name}: the indices use all {len(test_x)}."
                ),
                stacklevel=3,
            )
        test_x = test_x[: tc.n_eval]
        check_values(train_x, f"the training points of {data.name}", unit_range=True)  # once, on the host
        run = cls(
            config,
            build_model(config, train_x.shape[1]),
            Path(run_dir) if run_dir is not None else None,
            data,
            train_x,
            test_x,
            fence,
        )
        run.resume = resume
        return run

    def open(self, meta: dict, stop_after: int | None = None, *, train_dev=None, test_dev=None) -> None:
        """Prepare the run directory (load the checkpoint, write meta.json with ``meta``: the training path)
        and move the data to the device (``train_dev``/``test_dev``: already there)."""
        self.meta = dict(meta)
        if self.run_dir is not None:
            from ..fingerprint import run_fingerprint
            from .rundir import open_run

            self.binding = run_fingerprint(self.config, self.data)
            self.meta.update({k: self.binding[k] for k in ("settings_fingerprint", "data_fingerprint")})
            self._fence()
            self.start, self.history, self.chaos = open_run(
                self.run_dir, self.config, self.model, self.resume, meta=self.meta, data=self.data
            )
            self.last_ckpt = self.start if (self.run_dir / "checkpoint.npz").exists() else None
        steps = self.config.training.steps
        self.end = steps if stop_after is None else min(steps, self.start + stop_after)
        bk = self.model.bk
        self.train_dev = bk.asarray(self.train_x) if train_dev is None else train_dev
        self.test_dev = bk.asarray(self.test_x) if test_dev is None else test_dev

    def batch_rows(self, step: int) -> np.ndarray:
        return batch_indices(
            len(self.train_x), self.config.training.batch_size, self.config.model.seed, step, self._epoch
        )

    def first_evaluation(self) -> None:
        """The indices (and chaos probe) at step 0 of a run that starts from scratch."""
        if self.start == 0 and len(self.history["t_age"]) == 0:
            self.history = _append(self.history, 0, self._evaluate(0))
            self._probe(0)
            self._logged(None)

    def _probe(self, step: int) -> None:
        """The chaos probe at ``step`` when the schedule has one (its own stream: model.rng is not touched)."""
        if step in self.probe_at:
            from ..chaos import training_chaos_probe

            seed = derive_seed(self.config.model.seed, streams.CHAOS_PROBE, step)
            self.chaos = _append(self.chaos, step, training_chaos_probe(self.model, seed=seed))

    def _evaluate(self, step: int):
        return _evaluate(self.model, self.test_dev, self.config, step, self.run_dir, self.last_ckpt)

    def after_step(self, done: int, path) -> None:
        """What follows training step ``done`` (1-based) once the parameters are known to be finite."""
        tc, model, run_dir = self.config.training, self.model, self.run_dir
        logged = done in self.log_at
        if logged:
            self.history = _append(self.history, done, self._evaluate(done))
        self._probe(done)
        if run_dir is not None and tc.snapshot_every and done % tc.snapshot_every == 0:
            self._fence()
            atomic_savez(run_dir / "snapshots" / f"step_{done:07d}.npz", host_params(model))
        if run_dir is not None and (done % tc.checkpoint_every == 0 or done == self.end):
            self.checkpoint(done)
            write_meta(run_dir, self.config, "running", step=done, history=self.history, **self._meta(path))
        elif logged:
            self._logged(path)

    def _logged(self, path) -> None:
        """A logged step between checkpoints: one line appended to history.csv, meta.json with the indices."""
        if self.run_dir is not None:
            from .progress import log_line

            self._fence()

            log_line(self.run_dir, self.history)
            step = self.last_ckpt if self.last_ckpt is not None else self.start  # meta's step: the checkpoint's
            write_meta(self.run_dir, self.config, "running", step=step, history=self.history, **self._meta(path))

    def _fence(self) -> None:
        if self.fence is not None and self.run_dir is not None:
            self.fence()

    def _fenced(self) -> bool:
        """Whether the fence forbids writing now (for the records of a run that is ending anyway)."""
        try:
            self._fence()
        except Exception:  # noqa: BLE001 - whatever the fence raises: no write
            return True
        return False

    def checkpoint(self, step: int) -> None:
        self._fence()
        save_checkpoint(self.run_dir, self.model, step, self.history, self.chaos, self.binding)
        write_history_csv(self.run_dir, self.history)
        self.last_ckpt = step

    def _meta(self, path) -> dict:
        if path is not None:
            self.meta.update({k: v for k, v in path.meta().items() if k != "group_size"})
        return self.meta

    def finish(self, path) -> None:
        if self.run_dir is not None:
            self._fence()
            status = "finished" if self.end == self.config.training.steps else "stopped"
            write_meta(self.run_dir, self.config, status, step=self.end, history=self.history, **self._meta(path))

    def record_divergence(self, path) -> None:
        if self.run_dir is not None and not self._fenced():
            write_meta(
                self.run_dir,
                self.config,
                "diverged",
                step=self.last_ckpt,
                last_good_step=self.last_ckpt,
                **self._meta(path),
            )

    def record_interruption(self, exc: BaseException, path, step: int | None = None) -> None:
        """meta.json says the run was interrupted (``step``: its checkpoint, when not the one ``exc`` names)."""
        if self.run_dir is not None and not self._fenced():
            if isinstance(exc, OSError):
                # for the message: which step is kept (an attribute of our own on the OSError, read with getattr
                # by chaossim.cli.app._os_error_line; OSError declares no such field)
                exc.checkpoint = self.last_ckpt  # type: ignore[attr-defined]
            if step is None:
                step = getattr(exc, "checkpoint", None) or self.last_ckpt
            record_interruption(self.run_dir, self.config, step, self.history, exc, self._meta(path))

    def result(self, path) -> TrainResult:
        return TrainResult(
            model=self.model,
            history=self.history,
            chaos=self.chaos,
            run_dir=self.run_dir,
            step=self.end,
            train_path=path.name,
            train_path_reason=path.why,
        )


def _stop_cleanly(runs: list, step: int):
    """A stop was requested (:mod:`chaossim.interrupts`): checkpoint every run at this step boundary, then raise."""
    signum = interrupts.requested()
    if signum is None:
        raise RuntimeError("_stop_cleanly is called only when a stop was requested (interrupts.requested()).")
    for run in runs:
        if run.run_dir is not None and run.last_ckpt != step:
            run.checkpoint(step)
    dirs = [str(r.run_dir) for r in runs if r.run_dir is not None]
    where = f"; checkpoint at step {step} kept in {', '.join(dirs)}" if dirs else ""
    exc = interrupts.Interrupted(signum, f"stopped by {interrupts.signal_name(signum)} at step {step}{where}")
    exc.checkpoint = step if dirs else None
    raise exc


def _progress(enabled: bool, start: int, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc=desc, unit="step", dynamic_ncols=True)
