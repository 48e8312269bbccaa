"""A layered rate network integrated with Euler steps and trained by contrastive Hebbian learning.

One generic engine serves the three architectures of docs/model.md ("The three architectures"):
a model is a list of layers, a list of couplings between them and the trained matrices.
For a layer L with state x_L (batch x N_L) the dynamics is

    tau dx_L/dt = -x_L + sum_{couplings pre -> L} phi(x_pre) K^T / sqrt(N_pre) + bias_L,

with K = fixed + trained (or trained^T) the N_L x N_pre coupling, and the Euler step
(docs/model.md "Integration") updates every layer from the same old state:

    x_L <- x_L + (dt/tau) (drive_L - x_L).

Training (docs/model.md "Training") changes each trained matrix P (shape N_a x N_b, pairing layers a, b)
by k (<phi_a phi_b>_clamped - <phi_a phi_b>_free) and each bias by k (<phi_L>_clamped - <phi_L>_free).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import streams
from ..backend import Backend, derive_seed, get_backend, host_normal, to_numpy
from ..errors import ConfigError, DataError
from ..validation import (
    check_array,
    check_dynamics,
    check_gain,
    check_rate,
    check_record,
    check_seed,
    check_size,
    model_dynamics,
    steps_for,
)
from .starts import check_spread, spread_starts

PHI = "tanh"

# Generator streams derived from the model seed (derive_seed(seed, stream)).
RNG_STREAM = streams.MODEL_RNG


@dataclass(frozen=True)
class Layer:
    name: str
    size: int
    bias: str


@dataclass(frozen=True)
class Coupling:
    """Input of layer ``post`` from layer ``pre`` through ``fixed + trained`` (``trained^T`` if ``transpose``)."""

    post: str
    pre: str
    fixed: str
    trained: str
    transpose: bool = False


@dataclass(frozen=True)
class Trained:
    """A trained matrix of shape (N_a, N_b) updated with the correlation <phi_a phi_b>."""

    name: str
    a: str
    b: str


def _split_init(init: Mapping | None, layers: list, hidden: list) -> tuple[dict, dict]:
    """The given free and clamped initial states of ``init`` (see ``Network.train_step``), names checked."""
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


ParamsOwner = ModelBase  # the name before issue 14


class Engine(ModelBase):
    """The engine common to :class:`Network` (states (batch, N)) and :class:`chaossim.ensemble.Ensemble`
    (states (R, batch, N)), written once and rank-generically: the Euler step (paper Eqs. (2), (4)-(5),
    (8)-(10); docs/model.md "Integration"), the clamped relaxation, the contrastive Hebbian update
    (Eqs. (3), (6), (11)-(15); docs/model.md "Training").

    A subclass gives the tables (``layers``, ``couplings``, ``trained``, ``visible``), ``sizes``, ``bk``,
    ``dt``, ``tau``, ``force``, ``buffers``, :meth:`operators` at its rank and ``record_axis``.
    """

    layers: tuple[Layer, ...]
    couplings: tuple[Coupling, ...]
    trained: tuple[Trained, ...]
    dt: float
    tau: float
    force: bool
    record_axis = 0  # where the time axis goes in recorded trajectories (after any leading model axis)

    def operators(self) -> dict[str, list[tuple[str, object]]]:
        """For each layer, its inputs as (pre layer, P), P = K^T / sqrt(N_pre) at the subclass's rank."""
        raise NotImplementedError

    def param_layers(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {c.fixed: (c.post, c.pre) for c in self.couplings}
        out.update({t.name: (t.a, t.b) for t in self.trained})
        out.update({layer.bias: (layer.name,) for layer in self.layers})
        return out

    def activity(self, state: Mapping, clamp: Mapping | None = None) -> dict:
        """phi of every layer, with clamped layers replaced by their clamped values."""
        clamp = clamp or {}
        return {name: clamp[name] if name in clamp else self.xp.tanh(x) for name, x in state.items()}

    def drive(self, act: Mapping, layer: str, ops) -> Any:
        """The input of ``layer``: bias plus the sum of its couplings' contributions."""
        out = self.coupled_input(act, layer, ops)
        out += self._params[self._bias_of(layer)][..., None, :]  # rank-generic: also (R, batch, N) ensembles
        return out

    def coupled_input(self, act: Mapping, layer: str, ops) -> Any:
        """sum over the couplings into ``layer`` of act[pre] @ P: the drive without the bias. With ``act`` the
        activities this is the recurrent input; with their variations, its linearisation."""
        inputs = ops[layer]
        out = act[inputs[0][0]] @ inputs[0][1]
        for pre, op in inputs[1:]:
            out += act[pre] @ op
        return out

    def _bias_of(self, layer: str) -> str:
        return next(l.bias for l in self.layers if l.name == layer)

    def euler_step(self, state: Mapping, a: float, ops, clamp: Mapping | None = None) -> dict:
        """One Euler step x <- x + a (drive - x), a = dt/tau, all layers from the same old state."""
        clamp = clamp or {}
        act = self.activity(state, clamp)
        new = {}
        for name, x in state.items():
            if name in clamp:
                new[name] = x
                continue
            d = self.drive(act, name, ops)
            d -= x
            d *= a
            d += x
            new[name] = d
        return new

    def _run(self, state: dict, steps: int, a: float, clamp: dict, record: list[int] | None):
        ops = self.operators()
        if record is None:
            for _ in range(steps):
                state = self.euler_step(state, a, ops, clamp)
            return state
        k = self.record_axis
        traj = {n: self.xp.empty(x.shape[:k] + (len(record),) + x.shape[k:], dtype=x.dtype) for n, x in state.items()}
        slots = {s: (slice(None),) * k + (i,) for i, s in enumerate(record)}
        for step in range(steps + 1):
            if step in slots:
                for n, x in state.items():
                    traj[n][slots[step]] = x
            if step < steps:
                state = self.euler_step(state, a, ops, clamp)
        return state, traj

    def relax_clamped(self, state: dict, clamp: dict, steps: int, dt: float, tau: float) -> dict:
        """Integrate the free layers for ``steps`` steps with ``clamp`` held fixed.

        When every input of every free layer is clamped, the dynamics is linear with a constant
        drive u and has the exact solution x(T) = x(0) e^{-T/tau} + u (1 - e^{-T/tau})
        (docs/model.md "Training", restricted clamped phase, paper Eq. (7)); otherwise it is simulated with Euler steps.
        """
        free = [n for n in state if n not in clamp]
        ops = self.operators()
        if all(pre in clamp for n in free for pre, _ in ops[n]):
            decay = math.exp(-steps * dt / tau)
            act = dict(clamp)
            out = dict(state)
            for n in free:
                u = self.drive(act, n, ops)
                u *= 1.0 - decay
                u += decay * state[n]
                out[n] = u
            return out
        return self._run(state, steps, dt / tau, clamp, None)

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


class Network(Engine):
    """Engine common to :class:`Unrestricted`, :class:`Restricted` and :class:`Deep`.

    Subclasses describe their layers, couplings and trained matrices; everything else
    (integration, clamping, training, generation, reconstruction) is written once here.
    """

    arch: str = "network"
    layers: tuple[Layer, ...]
    couplings: tuple[Coupling, ...]
    trained: tuple[Trained, ...]

    def __init__(
        self,
        *,
        g: float = 1.5,
        seed: int = 0,
        backend="numpy",
        dtype="float32",
        dt: float = 1.0,
        tau: float = 10.0,
        force: bool = False,
    ):
        self.g = check_gain(g)
        self.seed = check_seed(seed)
        self.bk = get_backend(backend, dtype)
        self.force = bool(force)
        self.dt, self.tau = check_dynamics(dt, tau, force=force)
        self.sizes = {layer.name: layer.size for layer in self.layers}
        self._rng = None
        self.buffers: dict = {}
        self._params = Params(self.bk, self._initial_params())

    _init_spread = 1.0

    @property
    def init_spread(self) -> float:
        """eps of the training steps' free-run starts (``dynamics.init_spread``, :mod:`chaossim.models.starts`):
        1 (default) independent N(0, 1) starts, eps < 1 one common start plus perturbations of size eps."""
        return self._init_spread

    @init_spread.setter
    def init_spread(self, eps):
        self._init_spread = check_spread(eps, "init_spread")

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

    # ------------------------------------------------------------------ parameters
    def _fixed_shapes(self) -> dict[str, tuple[int, int]]:
        return {c.fixed: (self.sizes[c.post], self.sizes[c.pre]) for c in self.couplings}

    def _initial_params(self) -> dict:
        """Fixed couplings N(0, g) drawn on the host from the seed (same network on every backend);
        trained matrices and biases start at zero (docs/model.md "Notation")."""
        arrays = {}
        for i, (name, shape) in enumerate(self._fixed_shapes().items()):
            arrays[name] = self.bk.asarray(host_normal(self.seed, streams.network_init(i), shape, math.sqrt(self.g)))
        for t in self.trained:
            arrays[t.name] = self.bk.zeros((self.sizes[t.a], self.sizes[t.b]))
        for layer in self.layers:
            arrays[layer.bias] = self.bk.zeros((layer.size,))
        return arrays

    def describe(self) -> dict:
        """The constructor arguments, enough to rebuild this model (fixed couplings included, via the seed)."""
        return {
            "arch": self.arch,
            **self._size_kwargs(),
            "g": self.g,
            "seed": self.seed,
            "backend": self.bk.name,
            "dtype": np.dtype(self.bk.dtype).name,
            "dt": self.dt,
            "tau": self.tau,
        }

    def _size_kwargs(self) -> dict:
        raise NotImplementedError

    def __repr__(self):
        kw = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "arch")
        return f"{type(self).__name__}({kw})"

    # ------------------------------------------------------------------ dynamics
    def operators(self) -> dict[str, list[tuple[str, object]]]:
        """For each layer, its inputs as (pre layer, P) with P = K^T / sqrt(N_pre) of shape N_pre x N_post.

        K is fixed during a run, so P is formed once per run and each Euler step is one GEMM per coupling.
        """
        p = self._params
        ops: dict[str, list] = {layer.name: [] for layer in self.layers}
        for c in self.couplings:
            trained = p[c.trained].T if c.transpose else p[c.trained]
            k = p[c.fixed] + trained
            ops[c.post].append((c.pre, k.T * (1.0 / math.sqrt(self.sizes[c.pre]))))
        return ops

    def euler_tangent(self, state: Mapping, tangent: Mapping, a: float, ops, clamp: Mapping | None = None) -> dict:
        """The Euler map's Jacobian applied to ``tangent`` at ``state`` (for Lyapunov exponents).

        d(x')_L = dx_L + a (sum_pre (phi'(x_pre) dx_pre) P - dx_L), phi' = 1 - tanh^2; clamped layers have zero tangent.
        """
        clamp = clamp or {}
        xp = self.xp
        dact = {n: (xp.zeros_like(x) if n in clamp else (1 - xp.tanh(x) ** 2) * tangent[n]) for n, x in state.items()}
        out = {}
        for name, dx in tangent.items():
            if name in clamp:
                out[name] = xp.zeros_like(dx)
                continue
            out[name] = dx + a * (self.coupled_input(dact, name, ops) - dx)
        return out

    def _check_state(self, state: Mapping, clamp: Mapping) -> dict:
        if not isinstance(state, Mapping):
            raise DataError(f"state must be a mapping layer -> array, with layers {list(self.sizes)}.")
        missing = [n for n in self.sizes if n not in state]
        if missing:
            raise DataError(f"state lacks layer(s) {missing}; {self.arch} needs {list(self.sizes)}.")
        extra = [n for n in state if n not in self.sizes]
        if extra:
            raise DataError(f"state has unknown layer(s) {extra}; {self.arch} has {list(self.sizes)}.")
        out, batch = {}, None
        for name, size in self.sizes.items():
            x = self.bk.asarray(state[name])
            check_array(x, f"state[{name!r}]", width=size)
            if batch is None:
                batch = x.shape[0]
            elif x.shape[0] != batch:
                raise DataError(
                    f"all layers of the state need the same batch size; {name!r} has {x.shape[0]}, expected {batch}."
                )
            out[name] = x
        for name in clamp:
            if name not in self.sizes:
                raise DataError(f"cannot clamp unknown layer {name!r}; layers are {list(self.sizes)}.")
        return out

    def _check_clamp(self, clamp: Mapping | None, batch: int | None = None) -> dict:
        out = {}
        for name, value in (clamp or {}).items():
            v = self.bk.asarray(value)
            if v.ndim == 1:
                v = self.xp.broadcast_to(v, (batch or 1, v.shape[0]))
            check_array(v, f"clamp[{name!r}]", width=self.sizes.get(name), unit_range=True)
            if batch is not None and v.shape[0] != batch:
                raise DataError(f"clamp[{name!r}] has {v.shape[0]} rows but the state has batch {batch}.")
            out[name] = v
        return out

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

        ``state``: layer name -> (batch x units) array. ``clamp``: layer name -> phi values held fixed
        (the layer's state is left as given). ``record``: step indices in [0, steps] (0 = the initial
        state) at which to keep the states; then ``(final_state, trajectory)`` is returned with
        ``trajectory[layer]`` of shape (len(record), batch, units). Otherwise the final state.
        """
        dt, tau = model_dynamics(self, dt, tau, force)
        steps = check_size("steps", steps) if steps != 0 else 0
        state = self._check_state(state, clamp or {})
        batch = next(iter(state.values())).shape[0]
        clamp = self._check_clamp(clamp, batch)
        return self._run(state, steps, dt / tau, clamp, check_record(record, steps))

    def random_state(self, n: int, layers: Sequence[str] | None = None, rng=None, *, spread: float = 1.0) -> dict:
        """i.i.d. N(0, 1) states (docs/model.md "Integration"), drawn from the model's generator in layer order;
        ``spread`` < 1: one common start plus perturbations of that size
        (:func:`chaossim.models.starts.spread_starts`)."""
        rng = self.rng if rng is None else rng
        draws = {name: self.bk.normal(rng, (n, self.sizes[name])) for name in (layers or list(self.sizes))}
        return spread_starts(self.bk, rng, draws, spread)

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
        """One contrastive Hebbian update (docs/model.md "Training") from a minibatch of data (M x Nv, in [-1, 1]).

        ``init`` optionally gives the initial states: ``{"free": {layer: array}, "clamped": {hidden layer: array}}``;
        missing ones are drawn N(0, 1) from the model's generator (free layers first, then clamped hidden layers).
        ``check=False``: the caller has validated the values of ``batch`` and ``init`` (shapes are always
        checked); the step then reads nothing back from the device (no host synchronisation). With
        ``check=True`` each given array costs one.
        Returns the updates applied (device arrays, by parameter name).
        """
        dt, tau = model_dynamics(self, dt, tau, force)
        steps = steps_for(T, dt)
        batch = check_array(
            self.bk.asarray(batch), "batch", width=self.n_visible, unit_range=True, values=check, min_rows=1
        )
        k = check_rate(k)
        free0, clamped0 = self.initial_states(batch.shape[0], init, check=check)
        return self._train_step(batch, dt, tau, steps, k, free0, clamped0)

    def initial_states(self, m: int, init: Mapping | None = None, *, check: bool = True) -> tuple[dict, dict]:
        """The (free, clamped) initial states of a training step, as backend arrays of shape (m, N).

        Given entries of ``init`` are checked (shapes; values too unless ``check=False``) and used as they
        are; the others are drawn N(0, 1) from the model's generator, free layers first, then the clamped
        phase's hidden layers (the engine's order, which the fast trainers follow too). With
        ``init_spread`` < 1 the drawn free states share one start (drawn after all of these, per layer;
        :func:`chaossim.models.starts.spread_starts`). Drawn states are not read back: no host synchronisation.
        """
        free_in, clamped_in = _split_init(init, list(self.sizes), [n for n in self.sizes if n != self.visible])
        free, clamped = {}, {}
        for n in self.sizes:
            free[n] = self._given_or_drawn(free_in, "free", n, m, check)
        for n in self.sizes:
            if n != self.visible:
                clamped[n] = self._given_or_drawn(clamped_in, "clamped", n, m, check)
        drawn = {n: free[n] for n in self.sizes if n not in free_in}
        free.update(spread_starts(self.bk, self.rng, drawn, self._init_spread))
        return free, clamped

    def _given_or_drawn(self, given: Mapping, part: str, n: str, m: int, check: bool):
        if n not in given:
            return self.bk.normal(self.rng, (m, self.sizes[n]))
        x = check_array(self.bk.asarray(given[n]), f"init[{part!r}][{n!r}]", width=self.sizes[n], values=check)
        if x.shape[0] != m:
            raise DataError(
                f"init[{part!r}][{n!r}] has {x.shape[0]} rows but the batch has {m}; give one initial "
                "state per batch row."
            )
        return x

    # ------------------------------------------------------------------ generation
    def generate(
        self, n: int, t, dt: float | None = None, tau: float | None = None, *, force: bool = False, spread: float = 1.0
    ):
        """phi(v(t)) of ``n`` free runs from N(0, 1) starts (docs/model.md "Integration").

        ``t`` a time, or a sequence of times all served by one run; then the result has shape (len(t), n, Nv).
        ``spread`` < 1: the runs start from one common random state plus perturbations of size ``spread``
        (:func:`chaossim.models.starts.spread_starts`; docs/chaos_study.md).
        """
        dt, tau = model_dynamics(self, dt, tau, force)
        n = check_size("n", n)
        scalar = np.ndim(t) == 0
        times = [t] if scalar else list(t)
        steps = [steps_for(x, dt) for x in times]
        state = self.random_state(n, spread=check_spread(spread, "spread"))
        _, traj = self._run(state, max(steps), dt / tau, {}, sorted(set(steps)))
        order = {s: i for i, s in enumerate(sorted(set(steps)))}
        v = traj[self.visible]
        out = self.xp.tanh(v[[order[s] for s in steps]])
        return out[0] if scalar else out

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
        hclamp = {n: self.xp.tanh(up[n]) for n in hidden}
        start = {self.visible: self.bk.normal(self.rng, (m, self.n_visible)), **{n: up[n] for n in hidden}}
        down = self.relax_clamped(start, hclamp, steps, dt, tau)
        return self.xp.tanh(down[self.visible])
