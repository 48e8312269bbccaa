"""chaossim: generative modeling with internal high-dimensional chaotic activity.

Models (SPEC.md "The three architectures"): :class:`Unrestricted`, :class:`Restricted`, :class:`Deep`.
"""
from .backend import get_backend, gpu_available, to_numpy
from .errors import ChaossimError, ConfigError, DataError, DivergenceError, StoreError
from .models import Deep, Restricted, Unrestricted

__version__ = "0.1.0"

__all__ = [
    "ChaossimError", "ConfigError", "DataError", "Deep", "DivergenceError", "Restricted", "StoreError",
    "Unrestricted", "__version__", "get_backend", "gpu_available", "to_numpy",
]
