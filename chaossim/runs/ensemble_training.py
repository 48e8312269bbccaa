"""Training several runs together as one :class:`~chaossim.ensemble.Ensemble` (docs/sweeps.md, "Ensembles").

Runs that differ only in ``model.g`` and ``model.seed`` share every shape and every step of the training
schedule (docs/model.md "Training"; paper eqs. 3, 6, 11-15), so their training steps can be one ensemble
step: on CuPy one strided-batched fused step for all of them (``chaossim.kernels``), on NumPy batched
matmuls. :func:`train_ensemble` trains such runs and keeps, for each member, exactly the run its
:func:`chaossim.runs.training.train` alone would have:

* the same numbers: member r draws its minibatches from its own data split with its own seed
  (:func:`chaossim.runs.training.batch_indices`), its initial states from its own generator re-keyed from
  (seed, step), and its evaluations, chaos probes and post-training records from its own generator
  streams; on NumPy the ensemble step equals the single step to the bit;
* the same files: one run directory per member with its config.toml, checkpoints, history.csv,
  snapshots and meta.json (:class:`chaossim.runs.training.RunState` writes them for both loops), so a
  member's checkpoint can be continued alone and a single run's checkpoint can join an ensemble;
* the same failures: a member whose run directory is refused, whose data do not fit, or that diverges
  gets the error its run alone would raise, returned in its place; the others go on.

Members that resume from different checkpoint steps: the loop starts at the smallest one and a member
joins when the loop reaches its step (catch-up, then train together). Members leave when they finish or
fail; the ensemble is re-stacked from the remaining members then.

Host synchronisations per ensemble step: 1 (one flag per member says whether its parameters are still
finite), whatever the number of members; uploads: 1 (the members' minibatch row indices).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import interrupts, streams
from ..archs import lookup
from ..backend import derive_seed, to_numpy
from ..config import RunConfig
from ..errors import ChaossimError, ConfigError, DivergenceError
from .training import RunState, _check_finite, _progress, _stop_cleanly


def group_key(config: RunConfig) -> str | None:
    """What runs must share to be trained as one ensemble: the whole config except ``model.g`` and
    ``model.seed`` (as TOML), or None when the architecture cannot be an ensemble (no rate dynamics: the RBM)."""
    if not lookup(config.model.arch).dynamics:
        return None
    return config.replace(**{"model.g": 0.0, "model.seed": 0}).to_toml()


def train_ensemble(
    configs,
    run_dirs=None,
    *,
    resume="auto",
    datasets=None,
    progress: bool = False,
    stop_after: int | None = None,
    fence=None,
    on_step=None,
) -> list:
    """Train the runs ``configs`` (equal up to ``model.g`` and ``model.seed``) together as one ensemble.

    ``run_dirs``: one run directory per member (or None: in memory); ``resume``, ``datasets`` (one
    :class:`chaossim.data.Dataset` per member, or None), ``stop_after``, ``fence`` and ``on_step`` (given the
    ensemble's step) as in :func:`chaossim.runs.training.train`.
    Returns one entry per member, in order: its :class:`~chaossim.runs.training.TrainResult`, or the
    :class:`~chaossim.errors.ChaossimError` its run alone would have raised (a refused run directory,
    divergence...). Errors that concern the whole group (a full disk, an interruption) are raised, after
    every opened member's meta.json has recorded them.
    """
    from .train_path import choose_trainer

    configs = list(configs)
    if not configs:
        raise ConfigError("train_ensemble needs at least one run config.")
    keys = {group_key(c) for c in configs}
    if None in keys or len(keys) != 1:
        raise ConfigError(
            "the runs of an ensemble must differ in model.g and model.seed only, and not be RBMs; "
            "train the others separately (chaossim.runs.training.train)."
        )
    n = len(configs)
    run_dirs = list(run_dirs) if run_dirs is not None else [None] * n
    datasets = list(datasets) if datasets is not None else [None] * n
    if len(run_dirs) != n or len(datasets) != n:
        raise ConfigError(
            f"give one run directory and one dataset per config ({n}), got {len(run_dirs)} and {len(datasets)}."
        )
    outcomes: list = [None] * n
    runs: dict[int, RunState] = {}
    for i, (cfg, d, data) in enumerate(zip(configs, run_dirs, datasets)):
        try:
            runs[i] = RunState.setup(cfg, d, resume, data, fence=fence)
        except ChaossimError as exc:
            outcomes[i] = exc
    if not runs:
        return outcomes
    from ..ensemble import Ensemble

    path = choose_trainer(Ensemble.from_models([r.model for r in runs.values()]), configs[0].backend)
    group = _Group(runs, path, n, outcomes)
    for i in list(runs):
        try:
            group.open(i, stop_after)
        except ChaossimError as exc:
            outcomes[i] = exc
            del runs[i]
    if not runs:
        return outcomes
    try:
        group.train(progress, on_step)
    except (KeyboardInterrupt, OSError) as exc:
        for i in group.unfinished():
            run = runs[i]
            run.record_interruption(exc, group.path, step=None if i in group.active else run.last_ckpt)
        raise
    return outcomes


class _Group:
    """The members of one :func:`train_ensemble` call and the ensemble of those being trained."""

    def __init__(self, runs: dict, path, size: int, outcomes: list):
        self.runs, self.path, self.size, self.outcomes = runs, path, size, outcomes
        self.active: list[int] = []
        self.waiting: set[int] = set()
        self.ensemble: Any = None  # the Ensemble of the active members
        self._train_sets: list = []  # (host array, device copy): members with equal data share one copy
        self._test_sets: list = []

    def unfinished(self) -> list[int]:
        """Members whose run directory is open and that have neither finished nor failed."""
        return sorted(i for i in set(self.active) | self.waiting if self.outcomes[i] is None)

    def open(self, i: int, stop_after):
        run = self.runs[i]
        bk = run.model.bk
        run.open(
            self.path.meta(group_size=self.size),
            stop_after,
            train_dev=_common(run.train_x, self._train_sets, bk),
            test_dev=_common(run.test_x, self._test_sets, bk),
        )
        self.waiting.add(i)

    # ------------------------------------------------------------------ membership
    def _restack(self, members: list[int]):
        """Stack the parameters of ``members`` into a new ensemble; each member's model then views its slice."""
        from ..ensemble import Ensemble

        self.active = members
        if not members:
            self.ensemble = None
            return
        models = [self.runs[i].model for i in members]
        self.ensemble = Ensemble.from_models(models)
        self.path = self.path.rebind(self.ensemble)
        self._view()
        runs = [self.runs[i] for i in members]
        xp, bk = self.ensemble.xp, self.ensemble.bk
        sets: list = []
        for r in runs:
            if not any(r.train_dev is s for s in sets):
                sets.append(r.train_dev)
        self._single_set = len(sets) == 1
        self._sets = sets[0] if self._single_set else xp.stack(sets)
        which = [next(j for j, s in enumerate(sets) if s is r.train_dev) for r in runs]
        self._which = bk.asarray(np.asarray(which)[:, None], dtype=np.int64)

    def _view(self):
        """Point every active member's parameters at its slice of the stacked arrays (no copy, no sync)."""
        for r, i in enumerate(self.active):
            params = self.runs[i].model.params
            for name, stacked in self.ensemble.params.items():
                params.assign(name, stacked[r], check=False)

    def _leave(self, gone: set):
        self._restack([i for i in self.active if i not in gone])

    # ------------------------------------------------------------------ the loop
    def train(self, progress: bool, on_step=None):
        outcomes = self.outcomes
        step = min(self.runs[i].start for i in self.waiting)
        cfg = self.runs[next(iter(self.runs))].config
        bar = _progress(
            progress, step, cfg.training.steps, f"ensemble of {self.size} {cfg.model.arch} T={cfg.dynamics.T}"
        )
        try:
            while self.waiting or self.active:
                joining = sorted(i for i in self.waiting if self.runs[i].start == step)
                for i in joining:
                    self.waiting.discard(i)
                    try:
                        self.runs[i].first_evaluation()
                    except DivergenceError as exc:
                        self._fail(i, exc, outcomes)
                        continue
                    if self.runs[i].end <= step:  # nothing to train (already at its last step)
                        self._done(i, outcomes)
                        continue
                    self.active = self.active + [i]
                if joining:
                    self._restack(sorted(self.active))
                if not self.active:
                    if not self.waiting:
                        break
                    step = min(self.runs[i].start for i in self.waiting)
                    continue
                until = min(
                    [self.runs[i].end for i in self.active]
                    + [self.runs[i].start for i in self.waiting if self.runs[i].start > step]
                )
                step = self._steps(step, until, outcomes, bar, on_step)
        finally:
            if bar is not None:
                bar.close()

    def _steps(self, step: int, until: int, outcomes: list, bar, on_step=None) -> int:
        """Train the active members from ``step`` towards ``until``; returns the step reached (earlier when a
        member left: failed or finished)."""
        runs = [self.runs[i] for i in self.active]
        cfg = runs[0].config
        tc, dyn, bk = cfg.training, cfg.dynamics, self.ensemble.bk
        rngs = self.ensemble.rngs
        while step < until:
            if interrupts.requested():
                _stop_cleanly(runs, step)
            for rng, run in zip(rngs, runs):
                bk.reseed(rng, derive_seed(run.config.model.seed, streams.TRAIN_STEP, step))
            rows = bk.asarray(np.stack([run.batch_rows(step) for run in runs]), dtype=np.int64)
            batch = self._sets[rows] if self._single_set else self._sets[self._which, rows]
            self.path.trainer.train_step(batch, dyn.dt, dyn.tau, dyn.T, tc.k, force=cfg.backend.force, check=False)
            step += 1
            self._view()
            gone = set()
            bad = _not_finite(self.ensemble)
            for i, run in zip(self.active, runs):
                try:
                    if bad is not None and bad[self.active.index(i)]:
                        _check_finite(run.model, step, run.config, run.run_dir, run.last_ckpt)  # raises
                    run.after_step(step, self.path)
                except DivergenceError as exc:
                    self._fail(i, exc, outcomes)
                    gone.add(i)
                    continue
                if step >= run.end:
                    self._done(i, outcomes)
                    gone.add(i)
            if on_step is not None:
                on_step(step)
            if bar is not None:
                bar.update(1)
            if gone:
                self._leave(gone)
                break
        return step

    def _fail(self, i: int, exc: DivergenceError, outcomes: list):
        self.runs[i].record_divergence(self.path)
        outcomes[i] = exc

    def _done(self, i: int, outcomes: list):
        run = self.runs[i]
        if self.ensemble is not None and i in self.active:  # keep its final parameters: copy its slice
            params = run.model.params
            for name in list(params):
                params.assign(name, params[name].copy(), check=False)
        run.finish(self.path)
        outcomes[i] = run.result(self.path)


def _common(host, cache: list, bk):
    """The device copy of ``host``, one per distinct array (members whose seeds give the same data share it)."""
    for arr, dev in cache:
        if arr is host or (arr.shape == host.shape and np.array_equal(arr, host)):
            return dev
    dev = bk.asarray(host)
    cache.append((host, dev))
    return dev


def _not_finite(ensemble):
    """None when every member's parameters are finite (one host synchronisation), else the per-member flags
    of non-finite parameters (a NumPy bool array; a second synchronisation, on the failing step only)."""
    xp = ensemble.xp
    r = ensemble.n_members
    ok = xp.stack([xp.isfinite(v).reshape(r, -1).all(axis=1) for v in ensemble.params.values()]).all(axis=0)
    if bool(ok.all()):
        return None
    return ~to_numpy(ok)


__all__ = ["group_key", "train_ensemble"]
