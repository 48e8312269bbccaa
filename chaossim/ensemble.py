"""Ensembles: R models of one architecture and shape, differing in g and seed, integrated and trained together.

Member r of an ensemble IS the single model built with (g_r, seed_r): its fixed couplings are drawn
exactly as that model draws them (docs/model.md "Notation"), its trained parameters start at zero, and its
random initial states come from that model's generator in the same order. The parameters are stacked
along a leading axis R and every step is one batched matmul per coupling, ``xp.matmul`` on
(R, M, N_pre) x (R, N_pre, N_post), so on a GPU the R small products fill the card together.

The members are one more batch axis of the engine :class:`chaossim.models.network.Engine`: integration,
random states, training and generation are the single model's code, written once for both (docs/model.md
"Integration" and "Training"). This module only builds and takes apart the stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .archs import lookup
from .backend import get_backend
from .dynamics import DEFAULT_PHI, Nonlinearity
from .errors import ConfigError, DataError
from .models.network import Engine, Network, Params


class Ensemble(Engine):
    """R models of one architecture and shape, differing in (g, seed), trained together (docs/model.md "Training").

    ``Ensemble("restricted", (784, 500), gs=[1.2, 1.5], seeds=[0, 1])`` or ``Ensemble.from_models(models)``.
    ``arch``: an architecture name or import path (:func:`chaossim.archs.lookup`). ``sizes`` are the
    architecture's positional sizes (a sequence) or its size keywords (a mapping). A scalar ``gs`` or ``seeds``
    is repeated to the length of the other. Arrays carry a leading axis R: ``params[name]`` has shape (R, ...)
    and states, batches and outputs are (R, batch, units).
    """

    stacked = True
    record_axis = 1  # trajectories are (R, len(record), batch, units)

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
        init_spread: float = 1.0,
        phi: str | Nonlinearity = DEFAULT_PHI,
    ):
        try:
            architecture = lookup(arch)
        except ConfigError as exc:
            raise ConfigError(f"unknown architecture {arch!r}: {exc}") from None
        if not architecture.dynamics:
            raise ConfigError(f"the {arch} model has no rate dynamics and cannot be trained as an ensemble.")
        gs_l, seeds_l = _pairs(gs, seeds)
        bk = get_backend(backend, dtype)
        cls = architecture.model_class()
        args, kwargs = (tuple(sizes), {}) if not isinstance(sizes, Mapping) else ((), dict(sizes))
        opts = dict(backend=bk, dtype=bk.dtype, dt=dt, tau=tau, force=force, init_spread=init_spread, phi=phi)
        try:
            models = [cls(*args, **kwargs, arch=architecture, g=g, seed=s, **opts) for g, s in zip(gs_l, seeds_l)]
        except ConfigError as exc:
            if "sizes" not in str(exc):
                raise
            raise ConfigError(
                f"sizes {sizes!r} do not fit the {arch} architecture ({exc}); give its sizes in order, "
                f"({', '.join(architecture.size_keywords)})."
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
                raise ConfigError(f"member {i} is a {type(m).__name__}, not a chaossim rate network (a Network).")
            if m.architecture != first.architecture or m.sizes != first.sizes:
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
            if m.phi != first.phi:
                raise DataError(f"member {i} has phi = {m.phi.name} but member 0 has {first.phi.name}.")
        self._cls = type(first)
        self.architecture, self.arch = first.architecture, first.arch
        self.visible = first.visible
        self.sizes = dict(first.sizes)
        self._size_kw = first.size_kwargs()
        self.bk = first.bk
        self.dt, self.tau, self.force = first.dt, first.tau, first.force
        self.init_spread = first.init_spread
        self.phi = first.phi
        self.gs = tuple(m.g for m in models)
        self.seeds = tuple(m.seed for m in models)
        self.rngs = [m.rng for m in models]
        self.buffers: dict = {}
        xp = self.bk.xp
        self._params = Params(self.bk, {k: xp.stack([m.params[k] for m in models]) for k in first.params})

    # ------------------------------------------------------------------ members
    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def __len__(self) -> int:
        return self.n_members

    def generators(self) -> list:
        return list(self.rngs)

    def describe(self) -> dict:
        return {
            "arch": self.arch,
            **self._size_kw,
            "gs": list(self.gs),
            "seeds": list(self.seeds),
            "backend": self.bk.name,
            "dtype": np.dtype(self.bk.dtype).name,
            "dt": self.dt,
            "tau": self.tau,
            "init_spread": self.init_spread,
            "phi": self.phi.name,
        }

    def __repr__(self):
        kw = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "arch")
        return f"Ensemble({self.arch!r}, {kw})"

    def members(self) -> list[Network]:
        """The R single models, each with a copy of its slice of the stacked parameters and its generator."""
        out = []
        for r, (g, seed) in enumerate(zip(self.gs, self.seeds)):
            m = self._cls(
                **self._size_kw,
                arch=self.architecture,
                g=g,
                seed=seed,
                backend=self.bk,
                dtype=self.bk.dtype,
                dt=self.dt,
                tau=self.tau,
                force=self.force,
                init_spread=self.init_spread,
                phi=self.phi,
            )
            m.params = {k: v[r].copy() for k, v in self._params.items()}
            m.rng = self.rngs[r]
            out.append(m)
        return out


def _pairs(gs: Any, seeds: Any) -> tuple[list, list]:
    """(g, seed) per member; a scalar is repeated to the length of the other."""
    gs_many = isinstance(gs, Sequence) and not isinstance(gs, str)
    seeds_many = isinstance(seeds, Sequence) and not isinstance(seeds, str)
    gs_l = list(gs) if gs_many else None
    seeds_l = list(seeds) if seeds_many else None
    if gs_l is None and seeds_l is None:
        gs_l, seeds_l = [gs], [seeds]
    elif gs_l is None:
        gs_l = [gs] * len(seeds_l or [])
    elif seeds_l is None:
        seeds_l = [seeds] * len(gs_l)
    assert gs_l is not None and seeds_l is not None
    if len(gs_l) != len(seeds_l):
        raise ConfigError(
            f"gs and seeds must have the same length (one (g, seed) per member), got {len(gs_l)} and {len(seeds_l)}."
        )
    if not gs_l:
        raise ConfigError("an ensemble needs at least one member; pass non-empty gs and seeds.")
    return gs_l, seeds_l
