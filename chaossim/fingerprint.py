"""What a run was trained on, as fingerprints: its settings and its data (docs/faults.md, "Runs bound to their
inputs").

A checkpoint records the settings it was trained under (every setting of the resolved config, except
``training.steps``, which a resume may raise, and ``backend.name``, which only says where the arrays live)
and a content hash of the data it was trained on (the train and test arrays as loaded: after the split,
the subsets and the map to [-1, 1]). Resuming compares both with the run's ``config.toml`` and the data
as they load now, so a run never continues on inputs that changed underneath it. A sweep point records
the same data fingerprint in the store, with the package versions it ran with.

Every function here is a plain function of the config and the arrays: the same in the client, in a Dask
worker and in ``chaossim train``. The data hash reads every byte once (SHA-256, about 1.3 GB/s: 0.17 s for
FashionMNIST's 70 000 x 784 float32 values) and is cached per :class:`~chaossim.data.Dataset` object.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import weakref
from typing import Any

import numpy as np

from ._version import __version__
from .config import RunConfig

__all__ = [
    "SETTINGS_NOT_BOUND",
    "array_fingerprint",
    "data_fingerprint",
    "data_shape",
    "package_versions",
    "run_fingerprint",
    "settings_differences",
    "settings_fingerprint",
    "settings_of",
]

SETTINGS_NOT_BOUND = ("training.steps", "backend.name")
"""Settings a run may change between sessions: the number of steps (a resume may train longer) and the array
backend (a sweep may finish on another device); every other setting is bound to the checkpoint."""

_DATA_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def settings_of(config: RunConfig) -> dict[str, Any]:
    """{"model.g": 1.5, ...}: every bound setting of the resolved config, as JSON values."""
    d = json.loads(json.dumps(config.resolved().to_dict()))
    flat = {f"{section}.{name}": value for section, values in d.items() for name, value in values.items()}
    return {k: v for k, v in sorted(flat.items()) if k not in SETTINGS_NOT_BOUND}


def settings_fingerprint(config: RunConfig) -> str:
    """A hash of :func:`settings_of` (16 hex digits)."""
    text = json.dumps(settings_of(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def settings_differences(recorded: dict, config: RunConfig) -> list[str]:
    """['model.g = 0.5 in the checkpoint, 1.5 in config.toml', ...] between a recorded :func:`settings_of` and
    a config (a setting the record lacks or has in excess counts as different)."""
    now = settings_of(config)
    out = []
    for key in sorted(set(recorded) | set(now)):
        a, b = recorded.get(key, "<absent>"), now.get(key, "<absent>")
        if a != b:
            out.append(f"{key} = {_show(a)} in the checkpoint, {_show(b)} in config.toml")
    return out


def _show(value) -> str:
    return json.dumps(value) if not isinstance(value, str) or value == "<absent>" else repr(value)


def array_fingerprint(*arrays) -> str:
    """A SHA-256 content hash (32 hex digits) of NumPy arrays: their dtypes, shapes and bytes, in order."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        if a.size:
            h.update(a.data.cast("B"))
    return h.hexdigest()[:32]


def data_fingerprint(dataset) -> str:
    """The content hash of a :class:`~chaossim.data.Dataset` (its train and test arrays), computed once per
    dataset object."""
    try:
        return _DATA_CACHE[dataset]
    except (KeyError, TypeError):
        pass
    fp = array_fingerprint(dataset.train, dataset.test)
    try:
        _DATA_CACHE[dataset] = fp
    except TypeError:  # an object that cannot be weakly referenced: not cached
        pass
    return fp


def data_shape(dataset) -> str:
    """'1437 train + 360 test points of 64 features', for messages."""
    return f"{len(dataset.train)} train + {len(dataset.test)} test points of {int(np.shape(dataset.train)[1])} features"


def run_fingerprint(config: RunConfig, dataset) -> dict[str, str]:
    """What a checkpoint records of the inputs of its run: the settings (JSON of :func:`settings_of`), their
    fingerprint, and the data's fingerprint and shape."""
    return {
        "settings": json.dumps(settings_of(config), sort_keys=True),
        "settings_fingerprint": settings_fingerprint(config),
        "data_fingerprint": data_fingerprint(dataset),
        "data_shape": data_shape(dataset),
    }


def package_versions() -> dict[str, str]:
    """The versions that decide a run's numbers: chaossim, NumPy, Python, and CuPy when it is loaded."""
    out = {"chaossim": __version__, "numpy": np.__version__, "python": platform.python_version()}
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        out["cupy"] = str(getattr(cupy, "__version__", "?"))
    return out
