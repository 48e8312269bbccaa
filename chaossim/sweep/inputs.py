"""The data of a sweep's points, loaded once per distinct data setting per process (docs/sweeps.md).

A worker runs many points, a client lays out and plans grids of 10^5 points: each dataset is loaded once per
process and served from a cache bounded by memory (:data:`CACHE_BYTES`), not by a number of entries (a grid of
10 seeds of a dataset split by seed has 10 entries; an entry-bounded cache of 8 would reload them for every
point). A user file changed on disk, or an object replaced on an object store, is loaded again. User data given
as a URL (``data.name = "s3://bucket/x.npy"``, any fsspec URL) is copied once into the local cache folder
(:func:`chaossim.sweep.location.cache_dir`) and loaded from there.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

CACHE_BYTES = 2 * 2**30
"""The most bytes of datasets one process keeps (the least recently used ones are dropped first)."""

_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()
stats = {"hits": 0, "misses": 0}


def _nbytes(data) -> int:
    return int(sum(getattr(getattr(data, k, None), "nbytes", 0) for k in ("train", "test")))


def cache_clear() -> None:
    """Forget every cached dataset (tests; a notebook after replacing data in place)."""
    with _lock:
        _cache.clear()
        stats.update(hits=0, misses=0)


def _stamp(d) -> tuple:
    """(path, size, mtime) of a user data file, or (url, etag) of a user object, so that data replaced on disk
    are loaded again, not served from the cache of a long-lived process (a worker, a notebook)."""
    from ..data import _user_path
    from .location import is_url, url_stamp

    if isinstance(d.name, str) and is_url(d.name):
        return url_stamp(d.name)
    user = _user_path(d.name, d.data_dir or None)
    if user is None:
        return ()
    path = user[1]
    if not path.is_file() and d.data_dir and not path.is_absolute():
        path = Path(d.data_dir).expanduser() / path
    try:
        st = path.stat()
    except OSError:
        return ()
    return (str(path), st.st_size, st.st_mtime_ns)


def _load(config, seed: int):
    from ..runs.build import load_data
    from .location import is_url, local_copy

    d = config.data
    if isinstance(d.name, str) and is_url(d.name):
        config = config.replace(**{"data.name": str(local_copy(d.name))})
    return load_data(config.replace(**{"model.seed": seed}))


def dataset_for(config):
    """The config's dataset, loaded once per process, and once for all seeds when the seed does not change it
    (:func:`chaossim.data.seed_matters`): the points of an ensemble on FashionMNIST share one copy."""
    from ..config import RunConfig
    from ..data import seed_matters

    d = config.data
    seed = config.model.seed if seed_matters(d.name, d.n_train, d.n_test) else 0
    key = (RunConfig(data=d).to_toml(), seed, _stamp(d))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            stats["hits"] += 1
            return _cache[key]
    data = _load(RunConfig(data=d), seed)
    with _lock:
        stats["misses"] += 1
        _cache[key] = data
        while len(_cache) > 1 and sum(_nbytes(v) for v in _cache.values()) > CACHE_BYTES:
            _cache.popitem(last=False)
    return data


def data_keys(spec, indices) -> dict[tuple, list[int]]:
    """The points ``indices`` grouped by what decides their data: the grid values of ``data.*`` and of
    ``model.seed`` (a point's config is built once per group, not once per point: stores of many points)."""
    import numpy as np

    indices = np.asarray(list(indices), dtype=np.int64)
    decide = [k for k, d in enumerate(spec.grid) if d.section == "data" or d.key == "model.seed"]
    groups: dict[tuple, list[int]] = {}
    if not len(indices):
        return groups
    pos = spec.multi_indices(indices)[:, decide]
    keys, inverse = np.unique(pos, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
    for j, row in enumerate(keys):
        key = tuple(spec.grid[k].values[int(v)] for k, v in zip(decide, row))
        groups[key] = [int(i) for i in indices[order[bounds[j] : bounds[j + 1]]]]
    return dict(sorted(groups.items(), key=lambda kv: kv[1][0]))
