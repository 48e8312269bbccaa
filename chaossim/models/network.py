"""A layered rate network integrated with Euler steps and trained by contrastive Hebbian learning.

One generic engine serves every architecture (docs/model.md "The three architectures"; docs/extending.md):
a model is its :class:`~chaossim.archs.Architecture` (a list of layers, a list of couplings between them and
the trained matrices) and its parameters. For a layer L with state x_L the dynamics is

    tau dx_L/dt = -x_L + sum_{couplings pre -> L} phi(x_pre) K^T / sqrt(N_pre) + bias_L,

with K = fixed + trained (or trained^T) the N_L x N_pre coupling, and the Euler step
(docs/model.md "Integration") updates every layer from the same old state:

    x_L <- x_L + (dt/tau) (drive_L - x_L).

Training (docs/model.md "Training") changes each trained matrix P (shape N_a x N_b, pairing layers a, b)
by k (<phi_a phi_b>_clamped - <phi_a phi_b>_free) and each bias by k (<phi_L>_clamped - <phi_L>_free).
The pieces of these equations (phi, the drive, the Euler step, the exact clamped solution) are those of
:mod:`chaossim.dynamics`; this module applies them to a model's layers, single or stacked into an ensemble.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from .. import dynamics, streams
from ..archs import Architecture, Coupling, Layer, Trained, lookup
from ..backend import Backend, derive_seed, get_backend, host_normal, to_numpy
from ..dynamics import Nonlinearity
from ..errors import ConfigError, DataError
from ..validation import (
    check_array,
    check_dynamics,
    check_gain,
    check_rate,
    check_record,
    check_seed,
    check_size,
    check_spread,
    check_values,
    model_dynamics,
    steps_for,
)
from .starts import spread_starts

__all__ = ["Coupling", "Engine", "Layer", "ModelBase", "Network", "Params", "Trained"]

# Generator streams derived from the model seed (derive_seed(seed, stream)).
RNG_STREAM = streams.MODEL_RNG


def _split_init(init: Mapping | None, layers: list, hidden: list) -> tuple[dict, dict]:
    """The given free and clamped initial states of ``init`` (see ``Engine.train_step``), names checked."""
    init = dict(init or {})
    unknown = set(init) - {"free", "clamped"}
    if unknown:
        raise DataError(f"init accepts the keys 'free' and 'clamped', got {sorted(unknown)}.")
    free, clamped = dict(init.get("free") or {}), dict(init.get("clamped") or {})
    extra = [n for n in free if n not in layers]
    if extra:
        raise DataError(f"init['free'] has unknown layer(s) {extra}; the layers are {layers}.")
    extra = [n for n in clamped if n not in hidden]
    if extra:
        raise DataError(
            f"init['clamped'] takes the hidden layers {hidden} (the visible layer is clamped to the "
            f"batch), got {extra}."
        )
    return free, clamped


class Params(MutableMapping):
    """The model's arrays by name (docs/model.md "Parameters in code"). Assignment converts to the backend and
    checks shape and values."""

    def __init__(self, bk: Backend, arrays: dict):
        self._bk = bk
        self._d = dict(arrays)

    def __getitem__(self, key):
        return self._d[key]

    def __setitem__(self, key, value):
        if key not in self._d:
            raise KeyError(f"unknown parameter {key!r}; this model has {sorted(self._d)}.")
        arr = self._bk.asarray(value)
        old = self._d[key]
        if arr.shape != old.shape:
            raise DataError(f"parameter {key!r} must have shape {tuple(old.shape)}, got {tuple(arr.shape)}.")
        if arr.size and not bool(self._bk.xp.isfinite(arr).all()):
            raise DataError(f"parameter {key!r} contains NaN or inf values.")
        self._d[key] = arr

    def __delitem__(self, key):
        raise TypeError("model parameters cannot be deleted; assign new values instead.")

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __repr__(self):
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in self._d.items())
        return f"Params({shapes})"

    def assign(self, key: str, value, *, check: bool = True) -> None:
        """Assign one parameter. ``check=True``: as ``params[key] = value`` (converted, shape and values
        checked). ``check=False``, for training loops: ``value`` must already be a backend array of the
        parameter's shape (checked; nothing is read from the device, nothing converted)."""
        if check:
            self[key] = value
            return
        if key not in self._d:
            raise KeyError(f"unknown parameter {key!r}; this model has {sorted(self._d)}.")
        if value.shape != self._d[key].shape:
            raise DataError(f"parameter {key!r} must have shape {tuple(self._d[key].shape)}, got {tuple(value.shape)}.")
        self._d[key] = value

    def to_numpy(self) -> dict:
        """The parameters as NumPy arrays (the I/O boundary)."""
        return {k: to_numpy(v) for k, v in self._d.items()}


class ModelBase:
    """What every model shares (Network, Ensemble, RBM; the contract is :class:`chaossim.models.protocol.Model`):
    ``params``, a :class:`Params` mapping (assigning a mapping to ``params``, or :meth:`set_params`, assigns
    each entry, checked), ``sizes`` by layer name, ``visible`` (the visible layer's name), ``bk``, ``buffers``.
    """

    arch: str
    visible: str = "v"
    sizes: dict[str, int]
    bk: Backend
    buffers: dict
    stacked = False  # True when the arrays carry a leading members axis R (an ensemble)
    _params: Params

    @property
    def xp(self):
        """The array namespace of the model's backend."""
        return self.bk.xp

    @property
    def n_visible(self) -> int:
        return self.sizes[self.visible]

    @property
    def n_members(self) -> int:
        """Models integrated together: 1 for a single model, R for an ensemble."""
        return 1

    @property
    def has_hidden(self) -> bool:
        """Whether the model has hidden layers (then E(R), reconstruction, is defined; docs/indices.md)."""
        return len(self.sizes) > 1

    @property
    def reconstructs(self) -> bool:
        """Whether :meth:`reconstruct` is defined (E(R), docs/indices.md): single models with hidden layers."""
        return self.has_hidden and not self.stacked

    def reconstruct(self, data, t, *args, **kwargs) -> Any:
        """phi(v(t)) of the data after an up-down pass through the hidden layers (E(R), docs/indices.md);
        defined where :attr:`reconstructs` is true."""
        raise ConfigError(
            f"E(R) (reconstruction) is defined for single models with hidden layers; this {self.arch} "
            f"{'ensemble' if self.stacked else 'model'} has none. all_indices(...) reports ER = nan for it."
        )

    def describe(self) -> dict:
        """The constructor arguments, enough to rebuild this model."""
        raise NotImplementedError

    def param_layers(self) -> dict[str, tuple[str, ...]]:
        """For each parameter, the layer each of its axes runs over (a members axis not included):
        ``{"W": ("h", "v"), "b": ("v",), ...}``; sweep stores name their dimensions from it."""
        raise NotImplementedError

    @property
    def params(self) -> Params:
        return self._params

    @params.setter
    def params(self, values: Mapping):
        self.set_params(**values)

    def set_params(self, **arrays) -> None:
        """Assign parameters by name (``model.set_params(W=..., b=...)``): converted to the backend, shape and
        values checked (one host synchronisation per array)."""
        for key, value in arrays.items():
            self._params[key] = value


def _shape_text(lead: tuple[int, ...]) -> str:
    return f"(R={lead[0]}, batch, units)" if lead else "(batch, units)"


class Engine(ModelBase):
    """The engine common to :class:`Network` (states (batch, N)) and :class:`chaossim.ensemble.Ensemble`
    (states (R, batch, N): the members are one more batch axis), written once and rank-generically: the
    Euler integration (paper eqs. (2), (4)-(5), (8)-(10); docs/model.md "Integration"), the clamped relaxation,
    the contrastive Hebbian update (eqs. (3), (6), (11)-(15); docs/model.md "Training"), random states,
    generation, and the checks of every array given to them. The arithmetic is :mod:`chaossim.dynamics`'s.

    A subclass sets ``architecture``, ``sizes``, ``bk``, ``dt``, ``tau``, ``force``, ``phi``, ``buffers``,
    its generators (:meth:`generators`) and, for an ensemble, ``stacked = True``, ``record_axis = 1``.
    """

    architecture: Architecture
    phi: Nonlinearity = dynamics.DEFAULT_PHI
    dt: float
    tau: float
    force: bool
    record_axis = 0  # where the time axis goes in recorded trajectories (after any leading model axis)
    _init_spread = 1.0

    # ------------------------------------------------------------------ the architecture's tables
    @property
    def layers(self) -> tuple[Layer, ...]:
        return self.architecture.layers

    @property
    def couplings(self) -> tuple[Coupling, ...]:
        return self.architecture.couplings

    @property
    def trained(self) -> tuple[Trained, ...]:
        return self.architecture.trained

    def param_layers(self) -> dict[str, tuple[str, ...]]:
        return self.architecture.param_layers()

    @property
    def init_spread(self) -> float:
        """eps of the training steps' free-run starts (``dynamics.init_spread``, :mod:`chaossim.models.starts`):
        1 (default) independent N(0, 1) starts, eps < 1 one common start plus perturbations of size eps."""
        return self._init_spread

    @init_spread.setter
    def init_spread(self, eps):
        self._init_spread = check_spread(eps, "init_spread")

    # ------------------------------------------------------------------ members as a batch axis
    @property
    def lead(self) -> tuple[int, ...]:
        """The leading shape of every state and batch: () for one model, (R,) for an ensemble."""
        return (self.n_members,) if self.stacked else ()

    def generators(self) -> list:
        """The generator of each member, in order (one for a single model)."""
        raise NotImplementedError

    def _combine(self, arrays: list) -> Any:
        """Per-member arrays as one array with the leading shape :attr:`lead`."""
        return self.xp.stack(arrays) if self.stacked else arrays[0]

    def _shaped(self, a, name: str, width: int | None, *, batch: int | None = None, unit_range=False, values=True):
        """``a`` checked to be :attr:`lead` + (batch, width); with ``values``, finite and optionally in the
        range of phi (one host synchronisation)."""
        lead = self.lead
        if a.ndim != len(lead) + 2 or tuple(a.shape[: len(lead)]) != lead:
            more = "; stack one array per member along the first axis" if lead else ""
            raise DataError(f"{name} must have shape {_shape_text(lead)}, got {tuple(a.shape)}{more}.")
        if width is not None and a.shape[-1] != width:
            raise DataError(
                f"{name} has {a.shape[-1]} columns but the model's layer has {width} units; check the data or "
                "the model's size (n_visible)."
            )
        if batch is not None and a.shape[-2] != batch:
            raise DataError(
                f"{name} has batch {a.shape[-2]} but the other arrays have batch {batch}; give one batch size "
                "(one initial state per batch row)."
            )
        if values:
            check_values(a, name, unit_range=unit_range)
        return a

    def _as_state(self, state: Mapping) -> dict:
        if not isinstance(state, Mapping):
            raise DataError(
                f"state must be a mapping layer -> {_shape_text(self.lead)} array, with layers {list(self.sizes)}."
            )
        missing = [n for n in self.sizes if n not in state]
        what = f"the {self.arch} {'ensemble' if self.stacked else 'model'}"
        if missing:
            raise DataError(f"state lacks layer(s) {missing}; {what} needs exactly {list(self.sizes)}.")
        extra = [n for n in state if n not in self.sizes]
        if extra:
            raise DataError(f"state has unknown layer(s) {extra}; {what} has exactly {list(self.sizes)}.")
        out: dict = {}
        batch = None
        for name, size in self.sizes.items():
            x = self._shaped(self.bk.asarray(state[name]), f"state[{name!r}]", size, batch=batch)
            batch = x.shape[-2]
            out[name] = x
        return out

    def _as_clamp(self, clamp: Mapping | None, batch: int) -> dict:
        """Clamped values as :attr:`lead` + (batch, units); a row (units,) is used for every batch row and, in
        an ensemble, a (batch, units) array by every member."""
        out, xp, lead = {}, self.xp, self.lead
        for name, value in (clamp or {}).items():
            if name not in self.sizes:
                raise DataError(f"cannot clamp unknown layer {name!r}; layers are {list(self.sizes)}.")
            v = self.bk.asarray(value)
            if v.ndim == 1:
                v = xp.broadcast_to(v, lead + (batch, v.shape[0]))
            elif lead and v.ndim == 2:
                v = xp.broadcast_to(v[None], lead + v.shape)
            out[name] = self._shaped(v, f"clamp[{name!r}]", self.sizes[name], batch=batch, unit_range=True)
        return out

    def as_batches(self, batch, *, check: bool = True):
        """A minibatch as :attr:`lead` + (M, Nv) in the range of phi; an ensemble uses one (M, Nv) array for
        every member. ``check=False`` checks the shape only (no host synchronisation)."""
        b = self.bk.asarray(batch)
        if self.stacked and b.ndim == 2:
            b = self.xp.broadcast_to(b[None], self.lead + b.shape)
        if not self.stacked:
            check_array(b, "batch", width=self.n_visible, unit_range=True, values=False, min_rows=1)
        name = "batches" if self.stacked else "batch"
        return self._shaped(b, name, self.n_visible, unit_range=True, values=check)

    # ------------------------------------------------------------------ operators and the drive
    def operators(self) -> dict[str, list[tuple[str, Any]]]:
        """For each layer, its inputs as (pre layer, P) with P = K^T / sqrt(N_pre) (:func:`chaossim.dynamics.operator`)
        of shape N_pre x N_post, stacked (R, N_pre, N_post) in an ensemble. K is fixed during a run, so P is
        formed once per run and each Euler step is one GEMM per coupling."""
        p, xp = self._params, self.xp
        ops: dict[str, list] = {layer.name: [] for layer in self.layers}
        for c in self.couplings:
            trained = p[c.trained].swapaxes(-1, -2) if c.transpose else p[c.trained]
            k = dynamics.operator(p[c.fixed], trained, 1.0 / math.sqrt(self.sizes[c.pre])).swapaxes(-1, -2)
            ops[c.post].append((c.pre, xp.ascontiguousarray(k) if self.stacked else k))
        return ops

    def _bias(self, layer: str) -> Any:
        """The bias of ``layer`` shaped to add to (..., batch, units) states."""
        return self._params[next(x.bias for x in self.layers if x.name == layer)][..., None, :]

    def activity(self, state: Mapping, clamp: Mapping | None = None) -> dict:
        """phi of every layer, with clamped layers replaced by their clamped values."""
        clamp = clamp or {}
        return {name: clamp[name] if name in clamp else self.phi(self.xp, x) for name, x in state.items()}

    def drive(self, act: Mapping, layer: str, ops) -> Any:
        """The input of ``layer``: bias plus its couplings' contributions (:func:`chaossim.dynamics.drive`)."""
        return dynamics.drive([(act[pre], op) for pre, op in ops[layer]], self._bias(layer))

    def coupled_input(self, act: Mapping, layer: str, ops) -> Any:
        """sum over the couplings into ``layer`` of act[pre] @ P: the drive without the bias. With ``act`` the
        activities this is the recurrent input; with their variations, its linearisation."""
        return dynamics.coupled([(act[pre], op) for pre, op in ops[layer]])

    # ------------------------------------------------------------------ integration
    def euler_step(self, state: Mapping, a: float, ops, clamp: Mapping | None = None) -> dict:
        """One Euler step x <- x + a (drive - x), a = dt/tau, all layers from the same old state (new arrays)."""
        clamp = clamp or {}
        act = self.activity(state, clamp)
        return {
            name: x if name in clamp else dynamics.euler(x, self.drive(act, name, ops), a) for name, x in state.items()
        }

    def euler_tangent(self, state: Mapping, tangent: Mapping, a: float, ops, clamp: Mapping | None = None) -> dict:
        """The Euler map's Jacobian applied to ``tangent`` at ``state`` (for Lyapunov exponents):
        d(x')_L = dx_L + a (sum_pre (phi'(x_pre) dx_pre) P - dx_L); clamped layers have zero tangent."""
        clamp = clamp or {}
        xp = self.xp
        dact = {
            n: xp.zeros_like(x) if n in clamp else dynamics.tangent_activity(self.phi, xp, x, tangent[n])
            for n, x in state.items()
        }
        return {
            name: xp.zeros_like(dx) if name in clamp else dynamics.euler(dx, self.coupled_input(dact, name, ops), a)
            for name, dx in tangent.items()
        }

    def _run(self, state: dict, steps: int, a: float, clamp: dict, record: list[int] | None):
        """``steps`` Euler steps from ``state`` (not modified) in preallocated buffers: per step one phi pass
        per free layer (into its buffer), one GEMM per coupling (into the next state) and the in-place update
        of :func:`chaossim.dynamics.euler`. With ``record``, also the trajectory at those steps."""
        xp, phi = self.xp, self.phi
        ops = self.operators()
        free = [n for n in state if n not in clamp]
        act = {n: clamp[n] if n in clamp else xp.empty(state[n].shape, dtype=state[n].dtype) for n in state}
        scratch = {n: xp.empty(state[n].shape, dtype=state[n].dtype) for n in free if len(ops[n]) > 1}
        inputs = {n: [(act[pre], op) for pre, op in ops[n]] for n in free}
        bias = {n: self._bias(n) for n in free}
        pair: list[dict | None] = [None, None]

        def buffers(i: int) -> dict:
            if pair[i] is None:
                pair[i] = {n: xp.empty(x.shape, dtype=x.dtype) if n in free else x for n, x in state.items()}
            return pair[i]  # type: ignore[return-value]

        def step(cur: dict, nxt: dict) -> dict:
            for n in free:
                phi(xp, cur[n], out=act[n])
            for n in free:
                u = dynamics.drive(inputs[n], bias[n], xp, out=nxt[n], scratch=scratch.get(n))
                dynamics.euler(cur[n], u, a)
            return nxt

        if record is None:
            for s in range(steps):
                state = step(state, buffers(s % 2))
            return state
        k = self.record_axis
        traj = {n: xp.empty(x.shape[:k] + (len(record),) + x.shape[k:], dtype=x.dtype) for n, x in state.items()}
        slots = {s: (slice(None),) * k + (i,) for i, s in enumerate(record)}
        for s in range(steps + 1):
            if s in slots:
                for n, x in state.items():
                    traj[n][slots[s]] = x
            if s < steps:
                state = step(state, buffers(s % 2))
        return state, traj

    def relax_clamped(self, state: dict, clamp: dict, steps: int, dt: float, tau: float) -> dict:
        """Integrate the free layers for ``steps`` steps with ``clamp`` held fixed.

        When every input of every free layer is clamped, the dynamics is linear with a constant
        drive u and has the exact solution x(T) = x(0) e^{-T/tau} + u (1 - e^{-T/tau})
        (docs/model.md "Training", restricted clamped phase, paper Eq. (7); :func:`chaossim.dynamics.exact`);
        otherwise it is simulated with Euler steps.
        """
        free = [n for n in state if n not in clamp]
        ops = self.operators()
        if all(pre in clamp for n in free for pre, _ in ops[n]):
            decay = math.exp(-steps * dt / tau)
            out = dict(state)
            for n in free:
                out[n] = dynamics.exact(state[n], self.drive(clamp, n, ops), decay)
            return out
        return self._run(state, steps, dt / tau, clamp, None)

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
        """Euler-integrate ``steps`` steps from ``state`` (docs/model.md "Integration").

        ``state``: layer name -> :attr:`lead` + (batch, units) array. ``clamp``: layer name -> phi values held
        fixed (the layer's state is left as given). ``record``: step indices in [0, steps] (0 = the initial
        state) at which to keep the states; then ``(final_state, trajectory)`` is returned with
        ``trajectory[layer]`` of shape (len(record), batch, units), (R, len(record), batch, units) for an
        ensemble. Otherwise the final state.
        """
        dt, tau = model_dynamics(self, dt, tau, force)
        steps = check_size("steps", steps) if steps != 0 else 0
        state = self._as_state(state)
        clamp = self._as_clamp(clamp, next(iter(state.values())).shape[-2])
        return self._run(state, steps, dt / tau, clamp, check_record(record, steps))

    # ------------------------------------------------------------------ random states
    def random_state(self, n: int, layers: Sequence[str] | None = None, rng=None, *, spread: float = 1.0) -> dict:
        """i.i.d. N(0, 1) states (docs/model.md "Integration"), :attr:`lead` + (n, units): each member draws from
        its generator (``rng``: another one, or one per member) in layer order; ``spread`` < 1: one common start
        plus perturbations of that size (:func:`chaossim.models.starts.spread_starts`)."""
        layers = list(layers or self.sizes)
        spread = check_spread(spread, "spread")
        gens = self.generators() if rng is None else (list(rng) if self.stacked else [rng])
        per = [
            spread_starts(self.bk, g, {name: self.bk.normal(g, (n, self.sizes[name])) for name in layers}, spread)
            for g in gens
        ]
        return {name: self._combine([d[name] for d in per]) for name in layers}

    def initial_states(self, m: int, init: Mapping | None = None, *, check: bool = True) -> tuple[dict, dict]:
        """The (free, clamped) initial states of a training step, as backend arrays :attr:`lead` + (m, N).

        Given entries of ``init`` are checked (shapes; values too unless ``check=False``) and used as they
        are; the others are drawn N(0, 1) from each member's generator, free layers first, then the clamped
        phase's hidden layers (the engine's order, which the fast trainers follow too). With
        ``init_spread`` < 1 the drawn free states share one start (drawn after all of these, per layer;
        :func:`chaossim.models.starts.spread_starts`). Drawn states are not read back: no host synchronisation.
        """
        hidden = [n for n in self.sizes if n != self.visible]
        free_in, clamped_in = _split_init(init, list(self.sizes), hidden)
        per = []
        for g in self.generators():
            free_d = {n: self.bk.normal(g, (m, self.sizes[n])) for n in self.sizes if n not in free_in}
            clamped_d = {n: self.bk.normal(g, (m, self.sizes[n])) for n in hidden if n not in clamped_in}
            per.append((spread_starts(self.bk, g, free_d, self._init_spread), clamped_d))

        def given(part: str, n: str, value) -> Any:
            x = self.bk.asarray(value)
            return self._shaped(x, f"init[{part!r}][{n!r}]", self.sizes[n], batch=m, values=check)

        free = {
            n: given("free", n, free_in[n]) if n in free_in else self._combine([p[0][n] for p in per])
            for n in self.sizes
        }
        clamped = {
            n: given("clamped", n, clamped_in[n]) if n in clamped_in else self._combine([p[1][n] for p in per])
            for n in hidden
        }
        return free, clamped

    # ------------------------------------------------------------------ training
    def train_step(
        self,
        batch,
        dt: float | None = None,
        tau: float | None = None,
        T: float = 100.0,
        k: float = 0.01,
        init: Mapping | None = None,
        *,
        force: bool = False,
        check: bool = True,
    ) -> dict:
        """One contrastive Hebbian update (docs/model.md "Training") from a minibatch of data (M x Nv in the
        range of phi; an ensemble takes (R, M, Nv), member r learning from ``batch[r]``, or one (M, Nv) for all).

        ``init`` optionally gives the initial states: ``{"free": {layer: array}, "clamped": {hidden layer: array}}``;
        missing ones are drawn N(0, 1) from the generators (free layers first, then clamped hidden layers).
        ``check=False``: the caller has validated the values of ``batch`` and ``init`` (shapes are always
        checked); the step then reads nothing back from the device (no host synchronisation). With
        ``check=True`` each given array costs one.
        Returns the updates applied (device arrays, by parameter name).
        """
        dt, tau = model_dynamics(self, dt, tau, force)
        steps = steps_for(T, dt)
        batch = self.as_batches(batch, check=check)
        k = check_rate(k)
        free0, clamped0 = self.initial_states(batch.shape[-2], init, check=check)
        return self._train_step(batch, dt, tau, steps, k, free0, clamped0)

    def _train_step(self, batch, dt: float, tau: float, steps: int, k: float, free0: dict, clamped0: dict) -> dict:
        clamp = {self.visible: batch}
        clamped_state = self.relax_clamped({self.visible: batch, **clamped0}, clamp, steps, dt, tau)
        act_c = self.activity(clamped_state, clamp)
        free_state = self._run(free0, steps, dt / tau, {}, None)
        act_f = self.activity(free_state)
        return self.hebbian_update(act_c, act_f, k)

    def hebbian_update(self, act_clamped: Mapping, act_free: Mapping, k: float) -> dict:
        """Apply dP = k(<phi_a phi_b>_c - <phi_a phi_b>_f) and d bias = k(<phi>_c - <phi>_f) (docs/model.md "Training").

        Rank-generic: activities are (batch, N), or (R, batch, N) for an ensemble of R models.
        """
        m_c = next(iter(act_clamped.values())).shape[-2]
        m_f = next(iter(act_free.values())).shape[-2]
        deltas = {}
        for t in self.trained:
            corr = act_clamped[t.a].swapaxes(-1, -2) @ act_clamped[t.b]
            corr *= 1.0 / m_c
            corr -= (act_free[t.a].swapaxes(-1, -2) @ act_free[t.b]) * (1.0 / m_f)
            corr *= k
            deltas[t.name] = corr
        for layer in self.layers:
            d = act_clamped[layer.name].mean(axis=-2) - act_free[layer.name].mean(axis=-2)
            d *= k
            deltas[layer.bias] = d
        p = self._params
        for name, d in deltas.items():
            p.assign(name, p[name] + d, check=False)
        return deltas

    # ------------------------------------------------------------------ generation
    def generate(
        self, n: int, t, dt: float | None = None, tau: float | None = None, *, force: bool = False, spread: float = 1.0
    ):
        """phi(v(t)) of ``n`` free runs from N(0, 1) starts (docs/model.md "Integration"): (n, Nv), (R, n, Nv)
        for an ensemble.

        ``t`` a time, or a sequence of times all served by one run; then a times axis follows :attr:`lead`
        ((len(t), n, Nv)). ``spread`` < 1: the runs start from one common random state plus perturbations of
        size ``spread`` (:func:`chaossim.models.starts.spread_starts`; docs/chaos_study.md).
        """
        dt, tau = model_dynamics(self, dt, tau, force)
        n = check_size("n", n)
        scalar = np.ndim(t) == 0
        times = [t] if scalar else list(t)
        steps = [steps_for(x, dt) for x in times]
        uniq = sorted(set(steps))
        state = self.random_state(n, spread=spread)
        _, traj = self._run(state, max(steps), dt / tau, {}, uniq)
        order = {s: i for i, s in enumerate(uniq)}
        lead = (slice(None),) * self.record_axis
        out = self.phi(self.xp, traj[self.visible][lead + ([order[s] for s in steps],)])
        return out[lead + (0,)] if scalar else out


class Network(Engine):
    """One rate network of any architecture (:class:`~chaossim.archs.Architecture`): the engine plus its
    construction (fixed couplings drawn from the seed), its generator of random states and reconstruction.

    ``Network(64, 32, arch="my_arch:Chain4")`` or, for a subclass that sets ``architecture``
    (:class:`~chaossim.models.Unrestricted`, ``Restricted``, ``Deep``, a user's class, docs/extending.md),
    ``Restricted(64, 32)``. Sizes are positional in layer order or keywords (the architecture's size
    keywords, e.g. ``n_visible``, ``n_hidden``).
    """

    architecture: Architecture

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("architecture")
        if isinstance(own, Architecture):  # the class names its architecture too (Restricted.arch)
            cls.arch = own.name or f"{cls.__module__}:{cls.__qualname__}"

    def __init__(
        self,
        *sizes: int,
        arch: Architecture | str | None = None,
        g: float = 1.5,
        seed: int = 0,
        backend="numpy",
        dtype="float32",
        dt: float = 1.0,
        tau: float = 10.0,
        force: bool = False,
        init_spread: float = 1.0,
        phi: str | Nonlinearity = dynamics.DEFAULT_PHI,
        **size_kw: int,
    ):
        self.architecture = self._architecture(arch)
        self.arch, self.visible = self.architecture.name, self.architecture.visible
        self.sizes = self._sizes(sizes, size_kw)
        self.g = check_gain(g)
        self.seed = check_seed(seed)
        self.bk = get_backend(backend, dtype)
        self.force = bool(force)
        self.dt, self.tau = check_dynamics(dt, tau, force=force)
        self.init_spread = init_spread
        self.phi = dynamics.nonlinearity(phi)
        self._rng = None
        self.buffers: dict = {}
        self._params = Params(self.bk, self._initial_params())

    @classmethod
    def from_config(cls, arch: Architecture, config, n_visible: int) -> Network:
        """The model a run config describes (:func:`chaossim.runs.build.build_model`); couplings from ``model.seed``."""
        m, dyn, bk = config.model, config.dynamics, config.backend
        sizes: dict[str, Any] = arch.size_kwargs(m, n_visible)
        return cls(
            arch=arch,
            **sizes,
            g=m.g,
            dt=dyn.dt,
            tau=dyn.tau,
            force=bk.force,
            seed=m.seed,
            backend=bk.name,
            dtype=bk.dtype,
            init_spread=dyn.init_spread,
        )

    def _architecture(self, arch) -> Architecture:
        if arch is not None:
            return lookup(arch)
        cls = type(self)
        own = getattr(cls, "architecture", None)
        if not isinstance(own, Architecture):
            raise ConfigError(
                "a Network needs an architecture: Network(..., arch='restricted' or 'my_arch:Chain4'), or a "
                "subclass with an `architecture` attribute (docs/extending.md)."
            )
        if own.name:
            return own
        path = f"{cls.__module__}:{cls.__qualname__}"
        return dataclasses.replace(own, name=path, model=path)

    def _sizes(self, sizes: tuple, size_kw: dict) -> dict[str, int]:
        keys = self.architecture.size_keywords
        unknown = [k for k in size_kw if k not in keys]
        if len(sizes) > len(keys) or unknown:
            raise ConfigError(
                f"the {self.arch} architecture takes the sizes ({', '.join(keys)}), got {len(sizes)} positional "
                f"size(s){f' and the unknown keyword(s) {unknown}' if unknown else ''}."
            )
        given = dict(zip(keys, sizes))
        twice = [k for k in size_kw if k in given]
        if twice:
            raise ConfigError(f"sizes {twice} given both by position and by keyword.")
        given.update(size_kw)
        missing = [k for k in keys if k not in given]
        if missing:
            raise ConfigError(f"the {self.arch} architecture needs the sizes ({', '.join(keys)}); missing {missing}.")
        return {layer.name: check_size(layer.size, given[layer.size]) for layer in self.layers}

    @property
    def rng(self):
        """The model's generator of random states (created on first use from ``derive_seed(seed, streams.MODEL_RNG)``;
        re-key it with ``bk.reseed(model.rng, seed)``, replace it by assignment)."""
        if self._rng is None:
            self._rng = self.bk.rng(derive_seed(self.seed, RNG_STREAM))
        return self._rng

    @rng.setter
    def rng(self, gen):
        self._rng = gen

    def generators(self) -> list:
        return [self.rng]

    # ------------------------------------------------------------------ parameters
    def _initial_params(self) -> dict:
        """Fixed couplings N(0, gain g) drawn on the host from the seed (same network on every backend), a tied one
        the transpose of its partner; trained matrices and biases start at zero (docs/model.md "Notation")."""
        arrays = {}
        for i, c in enumerate(self.couplings):
            if c.tied:
                continue
            shape = (self.sizes[c.post], self.sizes[c.pre])
            std = math.sqrt(self.g) if c.gain == 1.0 else math.sqrt(c.gain * self.g)
            arrays[c.fixed] = self.bk.asarray(host_normal(self.seed, streams.network_init(i), shape, std))
        for c in self.couplings:  # symmetric couplings: the reverse direction's fixed matrix, transposed
            if c.tied:
                arrays[c.fixed] = self.xp.ascontiguousarray(arrays[c.tied].T)
        for t in self.trained:
            arrays[t.name] = self.bk.zeros((self.sizes[t.a], self.sizes[t.b]))
        for layer in self.layers:
            arrays[layer.bias] = self.bk.zeros((self.sizes[layer.name],))
        return arrays

    def size_kwargs(self) -> dict[str, int]:
        """The constructor's size keywords and their values."""
        return {layer.size: self.sizes[layer.name] for layer in self.layers}

    def describe(self) -> dict:
        """The constructor arguments, enough to rebuild this model (fixed couplings included, via the seed)."""
        return {
            "arch": self.arch,
            **self.size_kwargs(),
            "g": self.g,
            "seed": self.seed,
            "backend": self.bk.name,
            "dtype": np.dtype(self.bk.dtype).name,
            "dt": self.dt,
            "tau": self.tau,
            "init_spread": self.init_spread,
            "phi": self.phi.name,
        }

    def __repr__(self):
        kw = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "arch")
        return f"{type(self).__name__}({kw})"

    # ------------------------------------------------------------------ reconstruction
    def reconstruct(self, data, t, dt: float | None = None, tau: float | None = None, *, force: bool = False):
        """phi(v(t)) after clamping v to ``data``, taking the hidden states at t, clamping phi(hidden) to
        them and running v for t from N(0, 1) (docs/indices.md "E(R): reconstruction error")."""
        hidden = [n for n in self.sizes if n != self.visible]
        if not hidden:
            raise ConfigError(f"E(R) (reconstruction) is defined for models with hidden layers; {self.arch} has none.")
        dt, tau = model_dynamics(self, dt, tau, force)
        steps = steps_for(t, dt)
        data = check_array(self.bk.asarray(data), "data", width=self.n_visible, unit_range=True)
        m = data.shape[0]
        up = self.relax_clamped(
            {self.visible: data, **self.random_state(m, hidden)}, {self.visible: data}, steps, dt, tau
        )
        hclamp = {n: self.phi(self.xp, up[n]) for n in hidden}
        start = {self.visible: self.bk.normal(self.rng, (m, self.n_visible)), **{n: up[n] for n in hidden}}
        down = self.relax_clamped(start, hclamp, steps, dt, tau)
        return self.phi(self.xp, down[self.visible])
