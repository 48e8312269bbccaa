"""The model contract: what training, evaluation and sweeps need from a model (docs/architecture.md).

:class:`Model` is a :class:`typing.Protocol`: :class:`chaossim.models.Unrestricted`, ``Restricted``,
``Deep``, :class:`chaossim.ensemble.Ensemble` and :class:`chaossim.rbm.RBM` satisfy it, all through the
common base :class:`chaossim.models.network.ModelBase` (parameters, sizes, backend); the three rate
networks and the ensemble also share the engine :class:`chaossim.models.network.Engine` (the Euler
step and the contrastive Hebbian update, paper Eqs. (2)-(15), docs/model.md). Code that takes a
model types it ``Model`` and asks it, instead of testing for attributes or architecture names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ..backend import Backend

__all__ = ["Model", "SingleModel", "Trainer"]


@runtime_checkable
class Model(Protocol):
    """A generative model chaossim can train, evaluate and store.

    ``arch``: the architecture's name in :mod:`chaossim.archs` ("unrestricted", "restricted", "deep", "rbm" or
    an import path such as "my_arch:Chain4"). ``sizes``: units per layer name, the visible layer (``visible``)
    first. ``bk``: the array backend. ``params``: the parameters by name
    (:class:`chaossim.models.network.Params`; assign with :meth:`set_params`). ``buffers``: extra state a
    checkpoint keeps (the RBM's persistent chains). ``n_members``: 1, or R for an ensemble whose arrays carry
    a leading axis R (``stacked``). Single models also have ``rng``, their generator of random starts (an
    ensemble has one per member, ``rngs``); the rate networks and ensembles add the engine's ``run``,
    ``random_state``, ``dt``, ``tau`` (:class:`chaossim.models.network.Engine`), which the RBM, having no
    continuous dynamics, does not have. ``reconstruct(data, t)`` (E(R)) is defined where ``reconstructs``.
    """

    arch: str
    visible: str
    sizes: dict[str, int]
    bk: Backend
    buffers: dict
    stacked: bool
    params: Any  # a Params mapping; assigning a mapping assigns each entry (checked)

    @property
    def xp(self) -> Any: ...

    @property
    def n_visible(self) -> int: ...

    @property
    def n_members(self) -> int: ...

    @property
    def has_hidden(self) -> bool: ...

    @property
    def reconstructs(self) -> bool: ...

    def set_params(self, **arrays) -> None: ...

    def param_layers(self) -> dict[str, tuple[str, ...]]: ...

    def describe(self) -> dict: ...

    def generate(self, n: int, t, *args, **kwargs) -> Any: ...

    def reconstruct(self, data, t: Any = ..., *args, **kwargs) -> Any: ...

    def train_step(
        self,
        batch,
        dt=None,
        tau=None,
        T: float = ...,
        k: float = ...,
        init: Mapping | None = None,
        *,
        force: bool = False,
        check: bool = True,
    ) -> dict: ...


@runtime_checkable
class SingleModel(Model, Protocol):
    """A :class:`Model` that is one model (not an ensemble): it has ``rng``, the generator of its random starts
    (re-keyed with ``model.bk.reseed(model.rng, seed)``; docs/reproducibility.md)."""

    rng: Any


@runtime_checkable
class Trainer(Protocol):
    """What runs a model's training steps (docs/gpu.md, "What train and sweep use"): the engine
    (:class:`chaossim.kernels.PlainTrainer`) or the fused schedule (:class:`chaossim.kernels.ScheduledTrainer`).

    ``model``: the model it trains. ``mode``: "plain" (the engine), "host" (the schedule on its NumPy
    executor), "eager" or "graph" (on CuPy, kernels issued one by one or captured as a CUDA graph).
    ``reason``: why this trainer runs ("" when chosen); ``graph_error``: why a graph capture failed (None
    when none did). ``rebind(model)``: the same kind of trainer for another model of the same backend (an
    ensemble re-stacked from other members), keeping what can be kept (executors, compiled kernels).
    """

    model: Any

    @property
    def mode(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def graph_error(self) -> str | None: ...

    def rebind(self, model: Any) -> Trainer: ...

    def train_step(
        self,
        batch,
        dt=None,
        tau=None,
        T: float = ...,
        k: float = ...,
        init: Mapping | None = None,
        *,
        force: bool = False,
        check: bool = True,
    ) -> Any: ...
