"""What a run tells while it runs and when it ends (docs/faults.md, "Run directories").

* :func:`log_line`: at each logged step (``training.log_every``) one line is appended to ``history.csv`` and
  ``meta.json`` is rewritten with the last indices, so ``tail -f RUN/history.csv`` or a notebook follows a run.
* :func:`describe_size` and :func:`estimate_duration`: before training, the run's size and its duration
  estimated from a few timed steps, with a warning when it is long for the backend.
* :func:`summary`: at the end of a command, the paths written, the change of each index from step 0 and the
  next command to run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..archs import lookup
from ..metrics import index_names
from .rundir import HISTORY_FILE, history_columns, history_header, history_row


def log_line(run_dir, history: dict) -> None:
    """Append the last logged row of ``history`` to ``run_dir/history.csv`` (the header first when the file is
    new), flushed at once. The checkpoint rewrites the whole file atomically (so after a crash the file is
    rebuilt from the checkpoint on resume, never left with rows the resumed run repeats)."""
    path = Path(run_dir) / HISTORY_FILE
    cols = history_columns(history)
    head = "" if path.is_file() and path.stat().st_size else history_header(cols) + "\n"
    with open(path, "a") as f:
        f.write(head + history_row(history, len(history["t_age"]) - 1, cols) + "\n")
        f.flush()
        os.fsync(f.fileno())


# ------------------------------------------------------------------------------------------ before training
#: A run estimated longer than this (seconds) draws a warning, by backend: on NumPy (a CPU) ten minutes, on a GPU
#: an hour.
LONG_RUN_S = {"numpy": 600.0, "strict": 600.0, "cupy": 3600.0}


def _fmt_int(n: int) -> str:
    return f"{int(n):,}".replace(",", " ")


def describe_size(config, model, n_train: int, n_eval: int | None = None) -> str:
    """One line with the size of the run ``config`` describes: architecture and layer sizes, parameters (and how
    many are trained), minibatch, Euler steps per training step, steps, evaluations."""
    tc, dyn, m = config.training, config.dynamics, config.model
    params = {k: int(np.prod(np.shape(v))) for k, v in model.params.items()}
    total = sum(params.values())
    arch = lookup(m.arch)
    layers = ", ".join(f"{name}={size}" for name, size in model.sizes.items())
    names = {t.name for t in arch.trained} | {layer.bias for layer in arch.layers}
    trained = sum(n for k, n in params.items() if k in names)
    if arch.dynamics:
        per_step = f"T/dt = {dyn.T:g}/{dyn.dt:g} = {dyn.steps} Euler steps per phase"
    else:
        per_step = f"T = {dyn.T:g} Gibbs sweeps per step"
    return (
        f"run size: {m.arch} ({layers}), {_fmt_int(total)} parameters ({_fmt_int(trained)} trained), "
        f"batch M = {tc.batch_size} of {_fmt_int(n_train)} training points, {per_step}, {_fmt_int(tc.steps)} "
        f"steps, indices on Ns = {tc.n_eval if n_eval is None else n_eval} points every {tc.log_every} steps; "
        f"backend {config.backend.name} {config.backend.dtype}"
    )


def _fmt_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class DurationEstimate:
    """The duration of the steps left, from the first few timed training steps and the timed step-0 evaluation.

    ``started()`` before the first step, ``step_done(done)`` after each: once ``min_steps`` steps (and at least
    ``min_seconds``, or ``max_steps`` steps) are timed it returns the one-line estimate, once; ``warning`` then
    says when the estimate exceeds :data:`LONG_RUN_S` of the backend.
    """

    def __init__(
        self,
        config,
        start: int,
        end: int,
        eval_seconds: float,
        *,
        min_steps: int = 3,
        min_seconds: float = 3.0,
        max_steps: int = 50,
    ):
        import time

        self._time = time.perf_counter
        self.config, self.start, self.end, self.eval_seconds = config, start, end, float(eval_seconds)
        self.min_steps, self.min_seconds, self.max_steps = min_steps, min_seconds, max_steps
        self.t0: float | None = None
        self.told = False
        self.seconds: float | None = None
        self.warning: str | None = None
        self.bar: Any = None  # the loop's tqdm bar (set by start_clock), through which the estimate is written

    def started(self) -> None:
        self.t0 = self._time()

    def step_done(self, done: int) -> str | None:
        if self.told or self.t0 is None:
            return None
        n = done - self.start
        elapsed = self._time() - self.t0
        if n < self.min_steps or (elapsed < self.min_seconds and n < self.max_steps and done < self.end):
            return None
        self.told = True
        tc = self.config.training
        logged = sum(1 for s in range(done + 1, self.end + 1) if s % tc.log_every == 0 or s == tc.steps)
        # the timed steps include the evaluations among them; the evaluations left are counted apart
        evals_timed = sum(1 for s in range(self.start + 1, done + 1) if s % tc.log_every == 0 or s == tc.steps)
        per_step = max(elapsed - evals_timed * self.eval_seconds, 0.0) / n
        left = per_step * (self.end - done) + logged * self.eval_seconds
        self.seconds = left
        backend = self.config.backend.name
        limit = LONG_RUN_S.get(backend, LONG_RUN_S["numpy"])
        if left > limit:
            self.warning = (
                f"this run is long for {backend}: about {_fmt_duration(left)} (more than "
                f"{_fmt_duration(limit)}). To try things first, make it smaller, e.g. --set "
                "model.n_hidden=64 --set training.batch_size=100 --steps 200"
                + ("; or train on a GPU (--backend cupy)" if backend != "cupy" else "")
                + ". Ctrl-C stops it with a checkpoint; --resume continues."
            )
        return (
            f"estimated duration: about {_fmt_duration(left)} for the {self.end - done} steps left "
            f"({per_step * 1000:.0f} ms per step from {n} timed steps, {self.eval_seconds:.2f} s per "
            f"evaluation x {logged})"
        )


# ------------------------------------------------------------------------------------------ after a command
def index_changes(history: dict) -> list[str]:
    """Lines 'E2  0.512 -> 0.201  (-61%)': each index from its first logged value (step 0 when the run started
    there) to its last; 'not defined' for an index without finite values."""
    ages = np.asarray(history.get("t_age", []))
    if ages.size == 0:
        return []
    lines = []
    for k in (n for n in index_names() if n in history):
        y = np.asarray(history[k], dtype=float)
        ok = np.flatnonzero(np.isfinite(y))
        if ok.size == 0:
            lines.append(f"  {k:<5} not defined for this model")
            continue
        a, b = y[ok[0]], y[ok[-1]]
        rel = f" ({(b - a) / abs(a) * 100:+.0f}%)" if a != 0 else ""
        lines.append(f"  {k:<5} {a:.4g} -> {b:.4g}{rel}   (t_age {int(ages[ok[0]])} -> {int(ages[ok[-1]])})")
    return lines


def summary(written, changes: list[str] | None = None, next_commands=(), *, title: str = "") -> str:
    """The end-of-command text: the paths written, the change of each index (``changes``, from
    :func:`index_changes`), the next commands to run."""
    out = [title] if title else []
    out.append("wrote:")
    out += [f"  {p}" for p in written]
    if changes:
        out.append("indices at T* = T during training, from step 0 to the last logged step (lower is better):")
        out += changes
    if next_commands:
        out.append("next:")
        out += [f"  {c}" for c in next_commands]
    return "\n".join(out)


def run_files(run_dir) -> list[str]:
    """The files of a run directory worth naming (config, meta, checkpoint, history, snapshots folder)."""
    run_dir = Path(run_dir)
    names = ["config.toml", "meta.json", "checkpoint.npz", HISTORY_FILE]
    out = [str(run_dir / n) for n in names if (run_dir / n).exists()]
    snaps = run_dir / "snapshots"
    if snaps.is_dir():
        out.append(f"{snaps}/ ({sum(1 for _ in snaps.glob('step_*.npz'))} snapshots)")
    return out


# ------------------------------------------------------------------------------------------ hooks of the loop
def _write(line: str, bar=None) -> None:
    import sys

    if bar is not None:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


def announce_size(enabled: bool, config, run) -> None:
    """Before training (``enabled``: the loop shows progress): the size line on stderr."""
    if enabled:
        _write(describe_size(config, run.model, len(run.train_x), len(run.test_x)))


def start_clock(enabled: bool, config, run, eval_seconds: float, bar=None) -> DurationEstimate | None:
    """A :class:`DurationEstimate` of the loop about to start (None when not ``enabled``)."""
    if not enabled or run.end <= run.start:
        return None
    clock = DurationEstimate(config, run.start, run.end, eval_seconds)
    clock.bar = bar
    clock.started()
    return clock


def tick(clock: DurationEstimate | None, done: int) -> None:
    """After training step ``done``: the estimate once it is known (stderr), and the warning when it is long."""
    if clock is None:
        return
    line = clock.step_done(done)
    if line:
        _write(line, clock.bar)
        if clock.warning:
            import warnings

            from ..errors import ChaossimWarning

            warnings.warn(ChaossimWarning(clock.warning), stacklevel=3)
