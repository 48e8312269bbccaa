"""The chaotic architectures (SPEC "The three architectures") and a builder from a config."""
from .architectures import Deep, Restricted, Unrestricted
from .network import Network, Params

ARCHITECTURES = {"unrestricted": Unrestricted, "restricted": Restricted, "deep": Deep}

__all__ = ["ARCHITECTURES", "Deep", "Network", "Params", "Restricted", "Unrestricted"]
