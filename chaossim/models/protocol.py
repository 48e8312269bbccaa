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

__all__ = ["Model", "SingleModel"]


@runtime_checkable
class Model(Protocol):
    """A generative model chaossim can train, evaluate and store.

    ``arch``: "unrestricted", "restricted", "deep" or "rbm". ``sizes``: units per layer name, the visible
    layer (``visible``) first. ``bk``: the array backend. ``params``: the parameters by name
    (:class:`chaossim.models.network.Params`; assign with :meth:`set_params`). ``buffers``: extra state a
    checkpoint keeps (the RBM's persistent chains). ``n_members``: 1, or R for an ensemble whose arrays carry
    a leading axis R (``stacked``). Single models also have ``rng``, their generator of random starts (an
    ensemble has one per member, ``rngs``); the rate networks and ensembles add the engine's ``run``,
    ``random_state``, ``dt``, ``tau`` (:class:`chaossim.models.network.Engine`), which the RBM, having no
    continuous dynamics, does not have; models that ``reconstructs`` have ``reconstruct(data, t)`` (E(R)).
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
