"""Grouping the grid points of a sweep into ensembles (docs/sweeps.md, "Ensembles").

Points whose run configs are equal up to ``model.g`` and ``model.seed`` (same architecture and sizes,
dt, tau, T, data settings, training schedule, k, batch size, dtype, backend; see
:func:`chaossim.ensemble_training.group_key`) can be trained as one :class:`~chaossim.ensemble.Ensemble`,
in ONE Dask task (:func:`chaossim.sweep.point.run_group`). :func:`plan_groups` forms the groups:

1. points are sorted into classes by that key (an RBM point is always alone; by default on NumPy, so is a
   point whose model is large, :data:`HOST_MAX_STEP_FLOPS`);
2. a class is cut into groups of at most ``max_size`` points (default: :func:`default_group_size`, from a
   memory budget of :data:`GROUP_MEMORY_BYTES` per group, at most :data:`MAX_GROUP_SIZE`);
3. groups are cut further, the most expensive first, while there are fewer groups than workers or one group
   costs more than the whole sweep divided by the number of workers (so the workers stay busy);
4. groups are returned most expensive first (the order in which they are submitted).

Each group's points are consecutive in the class's index order; cuts keep sizes within one of each other.
The cost of a point is its number of Euler steps times its GEMM size (training.steps * T/dt * M * the sum of
its couplings' sizes).
"""

from __future__ import annotations

import math

from ..archs import lookup
from ..ensemble_training import group_key
from .spec import SweepSpec

MAX_GROUP_SIZE = 128
"""The most points one group may hold (by default; ``--group-size`` sets another cap)."""

GROUP_MEMORY_BYTES = 4 * 2**30
"""Device memory the training of one group may take (about: its states, operators and parameters)."""

HOST_MAX_STEP_FLOPS = 2e7
"""On NumPy a sweep groups points by default only where one Euler step of one member costs at most this many
GEMM FLOPs (2 M sum N_pre N_post, :func:`step_flops`): there the batched step of an ensemble saves the
per-call overhead of many small matmuls, while for large models NumPy's time is in the GEMMs themselves.
Measured on one core (OpenBLAS, float32, restricted, R = 4, the ensemble's step against 4 single steps):
1.18x faster at 64 x 64, M = 100 (1.6 MFLOP); 1.06x at 196 x 128, M = 128 (12.8 MFLOP); 0.97x at 784 x 500,
M = 500 (784 MFLOP); the quickstart sweep ran 1.15 to 1.23x faster grouped (``benchmarks/bench_sweep.py``)."""


def _sizes(config, n_visible: int) -> tuple[int, int]:
    """(N_tot, sum over couplings of N_pre N_post) of the model a config describes (:mod:`chaossim.archs`)."""
    arch = lookup(config.model.arch)
    sizes = arch.layer_sizes(config.model, n_visible)
    return sum(sizes.values()), arch.gemm_pairs(sizes)


def member_bytes(config, n_visible: int) -> int:
    """Device memory one member of an ensemble needs while it trains: the packed states (X, ACT and their
    clamped copies, and the engine's temporaries: about 6 M N_tot numbers) and the coupling operators
    (fixed, trained, formed and stacked copies: about 5 per coupling element)."""
    ntot, pairs = _sizes(config, n_visible)
    item = 8 if config.backend.dtype == "float64" else 4
    return item * (6 * config.training.batch_size * ntot + 5 * pairs + 4 * ntot)


def default_group_size(config, n_visible: int) -> int:
    """The largest group that fits :data:`GROUP_MEMORY_BYTES`, at most :data:`MAX_GROUP_SIZE`."""
    return max(1, min(MAX_GROUP_SIZE, GROUP_MEMORY_BYTES // member_bytes(config, n_visible)))


def step_flops(config, n_visible: int) -> float:
    """GEMM FLOPs of one Euler step of one point: 2 M sum over couplings of N_pre N_post."""
    return 2.0 * config.training.batch_size * _sizes(config, n_visible)[1]


def point_cost(config, n_visible: int) -> float:
    """Relative cost of training a point: Euler steps times GEMM work per step."""
    _, pairs = _sizes(config, n_visible)
    return float(config.training.steps) * config.dynamics.steps * config.training.batch_size * pairs


def plan_groups(
    spec: SweepSpec,
    pending,
    *,
    backend: str | None = None,
    max_size: int | None = None,
    n_workers: int = 1,
    n_visible=None,
    max_step_flops: float | None = None,
) -> list[list[int]]:
    """The pending points of ``spec`` as groups to train together (lists of point indices; see the module
    docstring). ``max_size``: most points per group (None: :func:`default_group_size`); ``n_workers``: how
    many tasks can run at once; ``n_visible``: function config -> number of visible units (default: from
    the config's dataset); ``max_step_flops``: points whose Euler step costs more (:func:`step_flops`) stay
    alone (None: no limit; a sweep on NumPy passes :data:`HOST_MAX_STEP_FLOPS`)."""
    from ..errors import ConfigError

    if max_size is not None and (isinstance(max_size, bool) or int(max_size) != max_size or max_size < 1):
        raise ConfigError(f"the group size must be a positive integer, got {max_size!r}.")
    if n_visible is None:
        from .store import dataset_for

        n_visible = lambda cfg: dataset_for(cfg).n_features  # noqa: E731
    classes: dict = {}  # key -> point indices
    info: dict = {}  # key -> (cost of one point, group size cap)
    alone = []  # (cost, [index]) of points that cannot be grouped
    for i in pending:
        cfg = spec.config(int(i), backend)
        key = group_key(cfg)
        if key is not None and max_step_flops is not None and step_flops(cfg, n_visible(cfg)) > max_step_flops:
            key = None
        if key is None:
            alone.append((point_cost(cfg, n_visible(cfg)), [int(i)]))
            continue
        if key not in info:
            nv = n_visible(cfg)
            info[key] = (point_cost(cfg, nv), max_size or default_group_size(cfg, nv))
        classes.setdefault(key, []).append(int(i))
    cuts = {key: math.ceil(len(members) / info[key][1]) for key, members in classes.items()}
    cost_of = {key: info[key][0] for key in classes}
    total = sum(cost_of[k] * len(m) for k, m in classes.items()) + sum(c for c, _ in alone)
    target = total / max(1, n_workers)

    def biggest():
        """The class whose groups cost most, among those that can still be cut."""
        cands = [(cost_of[k] * math.ceil(len(m) / cuts[k]), k) for k, m in classes.items() if cuts[k] < len(m)]
        return max(cands, key=lambda c: c[0], default=(0.0, None))

    while True:
        n_groups = sum(cuts.values()) + len(alone)
        group_cost, key = biggest()
        if key is None or (n_groups >= n_workers and group_cost <= target):
            break
        cuts[key] += 1
    groups = []
    for key, members in classes.items():
        n, k = len(members), cuts[key]
        bounds = [round(j * n / k) for j in range(k + 1)]
        for a, b in zip(bounds, bounds[1:]):
            groups.append((cost_of[key] * (b - a), members[a:b]))
    groups += alone
    groups.sort(key=lambda cg: (-cg[0], cg[1][0]))
    return [g for _, g in groups]


__all__ = [
    "GROUP_MEMORY_BYTES",
    "HOST_MAX_STEP_FLOPS",
    "MAX_GROUP_SIZE",
    "default_group_size",
    "member_bytes",
    "plan_groups",
    "point_cost",
    "step_flops",
]
