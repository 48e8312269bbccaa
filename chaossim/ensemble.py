"""Ensembles: R models of one architecture and shape, differing in g and seed, integrated and trained together.

Member r of an ensemble IS the single model built with (g_r, seed_r): its fixed couplings are drawn
exactly as that model draws them (docs/model.md "Notation"), its trained parameters start at zero, and its
random initial states come from that model's generator in the same order. The parameters are stacked
along a leading axis R and every step is one batched matmul per coupling, ``xp.matmul`` on
(R, M, N_pre) x (R, N_pre, N_post), so on a GPU the R small products fill the card together.

The physics is the single model's: the layer/coupling/trained tables come from the architecture
classes, and the Euler step, the clamped relaxation and the training step are those of the common base
:class:`chaossim.models.network.Engine` (docs/model.md "Integration" and "Training"), written
rank-generically once for both. Only forming the operators (a stacked matmul) is written here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .backend import get_backend
from .errors import ConfigError, DataError
from .models import ARCHITECTURES
from .models.network import Engine, Network, Params, _split_init
from .models.starts import check_spread, spread_starts
from .validation import check_rate, check_record, check_size, check_values, model_dynamics, steps_for


def _swap(a):
    return a.swapaxes(-1, -2)


def _check_batch3(
    a, name: str, r: int, width: int | None, *, batch: int | None = None, unit_range=False, values: bool = True
):
    """Shape (R, M, width); with ``values``, finite and optionally in [-1, 1] (one host synchronisation)."""
    if a.ndim != 3 or a.shape[0] != r:
        raise DataError(
            f"{name} must have shape (R={r}, batch, units), got {tuple(a.shape)}; stack one array per "
            "member along the first axis."
        )
    if width is not None and a.shape[-1] != width:
        raise DataError(f"{name} has {a.shape[-1]} columns but the ensemble's layer has {width} units.")
    if batch is not None and a.shape[1] != batch:
        raise DataError(f"{name} has batch {a.shape[1]} but the other layers have batch {batch}; use one batch size.")
    if values:
        check_values(a, name, unit_range=unit_range)
    return a


class Ensemble(Engine):
    """R models of one architecture and shape, differing in (g, seed), trained together (docs/model.md "Training").

    ``Ensemble("restricted", (784, 500), gs=[1.2, 1.5], seeds=[0, 1])`` or ``Ensemble.from_models(models)``.
    ``sizes`` are the architecture's positional sizes (a sequence) or its size keywords (a mapping).
    A scalar ``gs`` or ``seeds`` is repeated to the length of the other. Arrays carry a leading axis R:
    ``params[name]`` has shape (R, ...) and states, batches and outputs are (R, batch, units).
    """

    def __init__(
        self,
        arch: str,
        sizes,
        gs,
        seeds,
        *,
        backend="numpy",
        dtype="float32",
        dt: float = 1.0,
        tau: float = 10.0,
        force: bool = False,
    ):
        if arch not in ARCHITECTURES:
            raise ConfigError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}.")
        gs_many = isinstance(gs, Sequence) and not isinstance(gs, str)
        seeds_many = isinstance(seeds, Sequence) and not isinstance(seeds, str)
        gs_l: list[Any]
        seeds_l: list[Any]
        if gs_many and seeds_many:
            gs_l, seeds_l = list(gs), list(seeds)
        elif seeds_many:
            seeds_l = list(seeds)
            gs_l = [gs] * len(seeds_l)
        elif gs_many:
            gs_l = list(gs)
            seeds_l = [seeds] * len(gs_l)
        else:
            gs_l, seeds_l = [gs], [seeds]
        if len(gs_l) != len(seeds_l):
            raise ConfigError(
                f"gs and seeds must have the same length (one (g, seed) per member), got {len(gs_l)} "
                f"and {len(seeds_l)}."
            )
        if not gs_l:
            raise ConfigError("an ensemble needs at least one member; pass non-empty gs and seeds.")
        bk = get_backend(backend, dtype)
        cls = ARCHITECTURES[arch]
        args, kwargs = (tuple(sizes), {}) if not isinstance(sizes, Mapping) else ((), dict(sizes))
        try:
            models = [
                cls(*args, **kwargs, g=g, seed=s, backend=bk, dtype=bk.dtype, dt=dt, tau=tau, force=force)
                for g, s in zip(gs_l, seeds_l)
            ]
        except TypeError as exc:
            raise ConfigError(
                f"sizes {sizes!r} do not fit the {arch} architecture ({exc}); give its sizes in order, "
                "e.g. (n_visible,), (n_visible, n_hidden) or (n_visible, n_hidden1, n_hidden2)."
            ) from None
        self._init_from(models)

    @classmethod
    def from_models(cls, models: Sequence[Network]) -> Ensemble:
        """An ensemble of existing models (their current parameters are copied and stacked).

        The ensemble draws its random states from the models' own generators (the same objects).
        """
        models = list(models)
        if not models:
            raise ConfigError("from_models needs at least one model.")
        self = cls.__new__(cls)
        self._init_from(models)
        return self

    def _init_from(self, models: list):
        first = models[0]
        for i, m in enumerate(models):
            if not isinstance(m, Network):
                raise ConfigError(
                    f"member {i} is a {type(m).__name__}, not a chaossim model (Unrestricted, Restricted or Deep)."
                )
            if type(m) is not type(first) or m.sizes != first.sizes:
                raise DataError(
                    f"member {i} is {m.arch} with sizes {m.sizes} but member 0 is {first.arch} with "
                    f"sizes {first.sizes}; an ensemble's members share architecture and shapes."
                )
            if m.bk.name != first.bk.name or np.dtype(m.bk.dtype) != np.dtype(first.bk.dtype):
                raise DataError(
                    f"member {i} lives on {m.bk.name}/{np.dtype(m.bk.dtype).name} but member 0 on "
                    f"{first.bk.name}/{np.dtype(first.bk.dtype).name}; build all members alike."
                )
            if m.init_spread != first.init_spread:
                raise DataError(
                    f"member {i} has init_spread={m.init_spread} but member 0 has {first.init_spread}; "
                    "ensemble members share dynamics.init_spread."
                )
            if (m.dt, m.tau) != (first.dt, first.tau):
                raise DataError(
                    f"member {i} has dt={m.dt}, tau={m.tau} but member 0 has dt={first.dt}, "
                    f"tau={first.tau}; ensemble members share dt and tau."
                )
        self._cls = type(first)
        self.arch = first.arch
        self.layers, self.couplings, self.trained = first.layers, first.couplings, first.trained
        self.visible = first.visible
        self.sizes = dict(first.sizes)
        self._size_kwargs = first._size_kwargs()
        self.bk = first.bk
        self.dt, self.tau, self.force = first.dt, first.tau, first.force
        self.init_spread = first.init_spread
        self.gs = tuple(m.g for m in models)
        self.seeds = tuple(m.seed for m in models)
        self.rngs = [m.rng for m in models]
        self.buffers: dict = {}
        xp = self.bk.xp
        self._params = Params(self.bk, {k: xp.stack([m.params[k] for m in models]) for k in first.params})

    stacked = True

    # ------------------------------------------------------------------ parameters and description
    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def __len__(self) -> int:
        return self.n_members

    def describe(self) -> dict:
        return {
            "arch": self.arch,
            **self._size_kwargs,
            "gs": list(self.gs),
            "seeds": list(self.seeds),
            "backend": self.bk.name,
            "dtype": np.dtype(self.bk.dtype).name,
            "dt": self.dt,
            "tau": self.tau,
        }

    def __repr__(self):
        kw = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "arch")
        return f"Ensemble({self.arch!r}, {kw})"

    def members(self) -> list[Network]:
        """The R single models, each with a copy of its slice of the stacked parameters and its generator."""
        out = []
        for r, (g, seed) in enumerate(zip(self.gs, self.seeds)):
            m = self._cls(
                **self._size_kwargs,
                g=g,
                seed=seed,
                backend=self.bk,
                dtype=self.bk.dtype,
                dt=self.dt,
                tau=self.tau,
                force=self.force,
            )
            m.params = {k: v[r].copy() for k, v in self._params.items()}
            m.rng = self.rngs[r]
            out.append(m)
        return out

    # ------------------------------------------------------------------ rank-generic pieces of the engine
    def operators(self) -> dict[str, list[tuple[str, object]]]:
        """Per layer, (pre layer, P) with P = K^T / sqrt(N_pre) stacked: (R, N_pre, N_post) (see Network.operators)."""
        p, xp = self._params, self.xp
        ops: dict[str, list] = {layer.name: [] for layer in self.layers}
        for c in self.couplings:
            trained = _swap(p[c.trained]) if c.transpose else p[c.trained]
            k = p[c.fixed] + trained
            ops[c.post].append((c.pre, xp.ascontiguousarray(_swap(k) * (1.0 / math.sqrt(self.sizes[c.pre])))))
        return ops

    # ------------------------------------------------------------------ integration
    def _as_state(self, state: Mapping) -> dict:
        if not isinstance(state, Mapping):
            raise DataError(
                f"state must be a mapping layer -> (R, batch, units) array, with layers {list(self.sizes)}."
            )
        missing = [n for n in self.sizes if n not in state]
        extra = [n for n in state if n not in self.sizes]
        if missing or extra:
            raise DataError(
                f"state has layers {list(state)} but the {self.arch} ensemble needs exactly {list(self.sizes)}."
            )
        out, batch = {}, None
        for name, size in self.sizes.items():
            x = _check_batch3(self.bk.asarray(state[name]), f"state[{name!r}]", self.n_members, size, batch=batch)
            batch = x.shape[1]
            out[name] = x
        return out

    def _as_clamp(self, clamp: Mapping | None, batch: int) -> dict:
        """Clamped values as (R, batch, units); (batch, units) or (units,) arrays are used by all members."""
        out, xp, r = {}, self.xp, self.n_members
        for name, value in (clamp or {}).items():
            if name not in self.sizes:
                raise DataError(f"cannot clamp unknown layer {name!r}; layers are {list(self.sizes)}.")
            v = self.bk.asarray(value)
            if v.ndim == 1:
                v = xp.broadcast_to(v, (r, batch, v.shape[0]))
            elif v.ndim == 2:
                v = xp.broadcast_to(v[None], (r,) + v.shape)
            out[name] = _check_batch3(v, f"clamp[{name!r}]", r, self.sizes[name], batch=batch, unit_range=True)
        return out

    def _dynamics(self, dt, tau, force):
        return model_dynamics(self, dt, tau, force)

    def run(
        self,
        state: Mapping,
        steps: int,
        dt: float | None = None,
        tau: float | None = None,
        clamp: Mapping | None = None,
        record: Sequence[int] | None = None,
        *,
        force: bool = False,
    ):
        """Euler-integrate every member ``steps`` steps (docs/model.md "Integration"); see :meth:`Network.run`.

        ``state[layer]``: (R, batch, units). With ``record``, returns ``(final, trajectory)`` with
        ``trajectory[layer]`` of shape (R, len(record), batch, units).
        """
        dt, tau = self._dynamics(dt, tau, force)
        steps = check_size("steps", steps) if steps != 0 else 0
        state = self._as_state(state)
        clamp = self._as_clamp(clamp, next(iter(state.values())).shape[1])
        return self._run(state, steps, dt / tau, clamp, check_record(record, steps))

    record_axis = 1  # trajectories are (R, len(record), batch, units)

    def random_state(self, n: int, layers: Sequence[str] | None = None, *, spread: float = 1.0) -> dict:
        """N(0, 1) states (R, n, units): member r draws from its own generator as the single model does
        (``spread``: see :meth:`Network.random_state`)."""
        layers = list(layers or self.sizes)
        per = [
            spread_starts(self.bk, rng, {name: self.bk.normal(rng, (n, self.sizes[name])) for name in layers}, spread)
            for rng in self.rngs
        ]
        return {name: self.xp.stack([d[name] for d in per]) for name in layers}

    def initial_states(self, m: int, init: Mapping | None = None, *, check: bool = True) -> tuple[dict, dict]:
        """The (free, clamped) initial states of a training step, (R, m, units) each.

        Given entries are checked (shapes; values too unless ``check=False``) and used as they are; the others
        are drawn per member in the single model's order (free layers first, then the clamped phase's hidden
        layers; see :meth:`Network.train_step`). Drawn states are not read back: no host synchronisation.
        """
        hidden = [n for n in self.sizes if n != self.visible]
        free_in, clamped_in = _split_init(init, list(self.sizes), hidden)
        free_d: list[dict] = []
        clamped_d: list[dict] = []
        for rng in self.rngs:
            free_d.append({n: self.bk.normal(rng, (m, self.sizes[n])) for n in self.sizes if n not in free_in})
            clamped_d.append({n: self.bk.normal(rng, (m, self.sizes[n])) for n in hidden if n not in clamped_in})
            free_d[-1] = spread_starts(self.bk, rng, free_d[-1], self.init_spread)

        def given(part, n, value):
            return _check_batch3(
                self.bk.asarray(value), f"init[{part!r}][{n!r}]", self.n_members, self.sizes[n], batch=m, values=check
            )

        xp = self.xp
        free = {
            n: (given("free", n, free_in[n]) if n in free_in else xp.stack([d[n] for d in free_d])) for n in self.sizes
        }
        clamped = {
            n: (given("clamped", n, clamped_in[n]) if n in clamped_in else xp.stack([d[n] for d in clamped_d]))
            for n in hidden
        }
        return free, clamped

    def as_batches(self, batches, *, check: bool = True):
        """Minibatches as (R, M, Nv) in [-1, 1]; one (M, Nv) array is used by all members. ``check=False``
        checks the shape only (no host synchronisation)."""
        b = self.bk.asarray(batches)
        if b.ndim == 2:
            b = self.xp.broadcast_to(b[None], (self.n_members,) + b.shape)
        return _check_batch3(b, "batches", self.n_members, self.n_visible, unit_range=True, values=check)

    # ------------------------------------------------------------------ training and generation
    def train_step(
        self,
        batches,
        dt: float | None = None,
        tau: float | None = None,
        T: float = 100.0,
        k: float = 0.01,
        init: Mapping | None = None,
        *,
        force: bool = False,
        check: bool = True,
    ) -> dict:
        """One contrastive Hebbian update of every member (docs/model.md "Training"); see :meth:`Network.train_step`.

        ``batches``: (R, M, Nv) (member r learns from ``batches[r]``) or (M, Nv) used by all.
        ``init``: ``{"free": {layer: (R, M, N)}, "clamped": {hidden layer: (R, M, N)}}``, missing ones drawn.
        ``check=False``: values already validated by the caller (no host synchronisation in the step).
        Returns the stacked updates.
        """
        dt, tau = self._dynamics(dt, tau, force)
        steps = steps_for(T, dt)
        batches = self.as_batches(batches, check=check)
        k = check_rate(k)
        free0, clamped0 = self.initial_states(batches.shape[1], init, check=check)
        return self._train_step(batches, dt, tau, steps, k, free0, clamped0)

    def generate(
        self, n: int, t, dt: float | None = None, tau: float | None = None, *, force: bool = False, spread: float = 1.0
    ):
        """phi(v(t)) of ``n`` free runs per member: (R, n, Nv), or (R, len(t), n, Nv) for a sequence of times
        (``spread``: see :meth:`Network.generate`)."""
        dt, tau = self._dynamics(dt, tau, force)
        n = check_size("n", n)
        scalar = np.ndim(t) == 0
        times = [t] if scalar else list(t)
        steps = [steps_for(x, dt) for x in times]
        uniq = sorted(set(steps))
        _, traj = self._run(self.random_state(n, spread=check_spread(spread, "spread")), max(steps), dt / tau, {}, uniq)
        order = {s: i for i, s in enumerate(uniq)}
        out = self.xp.tanh(traj[self.visible][:, [order[s] for s in steps]])
        return out[:, 0] if scalar else out


def initial_states(model, m: int, init: Mapping | None = None, *, check: bool = True) -> tuple[dict, dict]:
    """(free, clamped) initial states of a training step for a single model or an ensemble, drawn in the
    engine's order (used by the fast trainers so that they consume the generators exactly as the engine)."""
    return model.initial_states(m, init, check=check)
