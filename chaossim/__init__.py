"""chaossim: generative modeling with internal high-dimensional chaotic activity.

Models (docs/model.md; paper Eqs. (2), (4)-(5), (8)-(10)): :class:`Unrestricted`, :class:`Restricted`, :class:`Deep`,
the symmetric control :class:`RestrictedSymmetric`, trained together as an :class:`Ensemble`; the baseline
:class:`RBM`. Training: :func:`train` with a
:class:`RunConfig`. Indices: :mod:`chaossim.metrics`. Chaos diagnostics and DMFT: :mod:`chaossim.chaos`.
SVD view of learning: :mod:`chaossim.analysis`. Figures (from arrays, returned as matplotlib Figures):
:mod:`chaossim.plotting`. Sweeps (Dask, zarr): :mod:`chaossim.sweep`.
"""

from ._version import __version__
from .backend import get_backend, gpu_available, to_numpy
from .config import RunConfig
from .data import Dataset, available_datasets, load_dataset
from .ensemble import Ensemble
from .errors import ChaossimError, ConfigError, DataError, DivergenceError, StoreError
from .metrics import aai_error, reconstruction_error, second_moment_error, spectrum_error
from .models import Deep, Restricted, RestrictedSymmetric, Unrestricted
from .rbm import RBM
from .runs.rundir import load_run
from .runs.training import train

__all__ = [
    "RBM",
    "ChaossimError",
    "ConfigError",
    "DataError",
    "Dataset",
    "Deep",
    "DivergenceError",
    "Ensemble",
    "Restricted",
    "RestrictedSymmetric",
    "RunConfig",
    "StoreError",
    "Unrestricted",
    "__version__",
    "aai_error",
    "available_datasets",
    "get_backend",
    "gpu_available",
    "load_dataset",
    "load_run",
    "reconstruction_error",
    "second_moment_error",
    "spectrum_error",
    "to_numpy",
    "train",
]
