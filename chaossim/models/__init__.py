"""The chaotic architectures (docs/model.md; paper Eqs. (2), (4)-(5), (8)-(10)), their common engine and the
model contract (:class:`chaossim.models.protocol.Model`). Architectures are described in :mod:`chaossim.archs`
(docs/extending.md: adding one)."""

from ..archs import Architecture, Coupling, Layer, Trained
from .architectures import Deep, Restricted, RestrictedSymmetric, Unrestricted
from .network import Engine, ModelBase, Network, Params
from .protocol import Model, SingleModel, Trainer

__all__ = [
    "Architecture",
    "Coupling",
    "Deep",
    "Engine",
    "Layer",
    "Model",
    "ModelBase",
    "Network",
    "Params",
    "Restricted",
    "RestrictedSymmetric",
    "SingleModel",
    "Trainer",
    "Trained",
    "Unrestricted",
]
