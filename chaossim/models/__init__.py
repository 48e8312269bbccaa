"""The chaotic architectures (docs/model.md; paper Eqs. (2), (4)-(5), (8)-(10)), their common engine and the
model contract (:class:`chaossim.models.protocol.Model`)."""

from .architectures import Deep, Restricted, Unrestricted
from .network import Engine, ModelBase, Network, Params
from .protocol import Model, SingleModel

ARCHITECTURES = {"unrestricted": Unrestricted, "restricted": Restricted, "deep": Deep}

__all__ = [
    "ARCHITECTURES",
    "Deep",
    "Engine",
    "Model",
    "ModelBase",
    "Network",
    "Params",
    "Restricted",
    "SingleModel",
    "Unrestricted",
]
