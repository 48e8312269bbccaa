"""A trained model back from one point of a sweep store, to generate or analyse after the fact."""

from __future__ import annotations

import numpy as np

from ..archs import lookup
from ..errors import StoreError
from ..runs.build import build_model
from .spec import parse_spec
from .store import open_sweep


def point_model(path, backend: str | None = None, **coords):
    """(model, config) of the grid point selected by ``coords`` (e.g. ``g=1.5, T=50.0, seed=0``).

    The fixed couplings are re-drawn from the point's seed (same network on every backend), the trained
    parameters come from the store's ``param_<name>`` variables (NaN padding stripped).
    """
    ds = open_sweep(path)
    spec = parse_spec(ds.attrs["spec_toml"], ds.attrs.get("name", "sweep"))
    unknown = set(coords) - set(spec.dims)
    if unknown:
        raise StoreError(f"{sorted(unknown)} are not grid dimensions of {path}; they are {list(spec.dims)}.")
    missing = [d for d in spec.dims if d not in coords and len(ds[d]) > 1]
    if missing:
        raise StoreError(f"select one value of {missing} too (the grid has several).")
    position = []
    for dim in spec.grid:
        value = coords.get(dim.name, dim.values[0])
        if value not in dim.values:
            raise StoreError(f"{dim.name}={value!r} is not on the grid; values are {list(dim.values)}.")
        position.append(list(dim.values).index(value))
    index = int(np.ravel_multi_index(position, spec.shape))
    point = ds.isel({d: i for d, i in zip(spec.dims, position)})
    if not bool(point["done"].values):
        raise StoreError(
            f"point {spec.point_label(index)} is not finished (status {point['status'].values!s}); "
            "run the sweep again to complete it."
        )
    config = spec.config(index, backend)
    visible_bias = f"param_{lookup(config.model.arch).layers[0].bias}"
    model = build_model(config, int(np.count_nonzero(np.isfinite(point[visible_bias].values))))
    for name, current in model.params.items():
        var = f"param_{name}"
        if var not in point:
            continue
        stored = point[var].values
        model.params[name] = stored[tuple(slice(0, n) for n in current.shape)]
    return model, config
