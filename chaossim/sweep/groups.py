"""Grouping the grid points of a sweep into ensembles (docs/sweeps.md, "Ensembles").

Points whose run configs are equal up to ``model.g`` and ``model.seed`` (same architecture and sizes,
dt, tau, T, data settings, training schedule, k, batch size, dtype, backend; see
:func:`chaossim.runs.ensemble_training.group_key`) can be trained as one :class:`~chaossim.ensemble.Ensemble`,
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

import numpy as np

from ..archs import lookup
from ..runs.ensemble_training import group_key
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


GROUP_FREE = ("model.g", "model.seed")
"""The settings in which the points of one class (one ensemble) may differ
(:func:`chaossim.runs.ensemble_training.group_key`)."""


def plan_groups(
    spec: SweepSpec,
    pending,
    *,
    backend: str | None = None,
    max_size: int | None = None,
    n_workers: int = 1,
    n_visible=None,
    max_step_flops: float | None = None,
    chunks=None,
) -> list[list[int]]:
    """The pending points of ``spec`` as groups to train together (lists of point indices; see the module
    docstring). ``max_size``: most points per group (None: :func:`default_group_size`); ``n_workers``: how
    many tasks can run at once; ``n_visible``: function config -> number of visible units (default: from
    the config's dataset); ``max_step_flops``: points whose Euler step costs more (:func:`step_flops`) stay
    alone (None: no limit; a sweep on NumPy passes :data:`HOST_MAX_STEP_FLOPS`); ``chunks``: the store's chunk
    shape along the grid: cuts fall on chunk boundaries where the class has one (:func:`plan_tasks`).

    One config is built per class (per combination of the grid settings other than g and the seed), not per
    point: the points are sorted into classes by their grid positions."""
    from ..errors import ConfigError

    if max_size is not None and (isinstance(max_size, bool) or int(max_size) != max_size or max_size < 1):
        raise ConfigError(f"the group size must be a positive integer, got {max_size!r}.")
    if n_visible is None:
        from .inputs import dataset_for

        n_visible = lambda cfg: dataset_for(cfg).n_features  # noqa: E731
    pending = np.unique(np.asarray([int(i) for i in pending], dtype=np.int64))
    if not len(pending):
        return []
    reps = spec.representatives(GROUP_FREE)
    kept = spec.kept_position(GROUP_FREE)[pending] if reps else np.zeros((len(pending), 0), np.int64)
    rows, inverse = np.unique(kept, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(rows) + 1))
    chunk_of = _chunk_ids(spec, chunks)
    classes: dict = {}  # class -> point indices
    info: dict = {}  # class -> (cost of one point, group size cap)
    alone = []  # (cost, [index]) of points that cannot be grouped
    for j, row in enumerate(rows):
        members = [int(i) for i in pending[order[bounds[j] : bounds[j + 1]]]]
        cfg = spec.config(reps[tuple(int(x) for x in row)], backend)
        nv = n_visible(cfg)
        key = group_key(cfg)
        if key is not None and max_step_flops is not None and step_flops(cfg, nv) > max_step_flops:
            key = None
        cost = point_cost(cfg, nv)
        if key is None:
            alone += [(cost, [i]) for i in members]
            continue
        classes[j] = members
        info[j] = (cost, max_size or default_group_size(cfg, nv))
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
        edges = _snapped([round(j * n / k) for j in range(k + 1)], members, chunk_of)
        for a, b in zip(edges, edges[1:]):
            groups.append((cost_of[key] * (b - a), members[a:b]))
    groups += alone
    groups.sort(key=lambda cg: (-cg[0], cg[1][0]))
    return [g for _, g in groups]


def _chunk_ids(spec: SweepSpec, chunks):
    """The store chunk of every point (None: no chunking given)."""
    if chunks is None:
        return None
    pos = spec.multi_indices() // np.asarray(chunks, dtype=np.int64)
    cshape = tuple(-(-n // c) for n, c in zip(spec.shape, chunks))
    return np.ravel_multi_index(tuple(pos.T), cshape) if len(cshape) else np.zeros(spec.n_points, np.int64)


def _snapped(edges: list[int], members: list[int], chunk_of) -> list[int]:
    """``edges`` (cut positions in ``members``) moved to the nearest chunk boundary (where the chunk changes),
    so that a chunk's points fall in one group whenever the class allows it."""
    if chunk_of is None or len(edges) <= 2:
        return edges
    ids = chunk_of[np.asarray(members)]
    changes = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    if not len(changes):
        return [edges[0], edges[-1]]
    inner = {int(changes[np.argmin(np.abs(changes - e))]) for e in edges[1:-1]}
    return [edges[0], *sorted(inner), edges[-1]]


def plan_tasks(
    spec: SweepSpec, pending, *, chunks=None, groups=None, starters: int | None = None, **kwargs
) -> list[list[list[int]]]:
    """The Dask tasks of a sweep: each a list of groups (:func:`plan_groups`, ``kwargs`` passed on; or
    ``groups`` as given, e.g. one point each) trained one after the other. Groups that share a store chunk
    (``chunks``: its shape along the grid) are in the same task, so that every chunk is written by one task
    only: two processes writing parts of one chunk at once would each write back the chunk they read, and one's
    points would be lost. Tasks are returned most expensive first (a task's cost: its number of points, as the
    groups are already balanced).

    The first ``starters`` tasks (default: ``n_workers`` of ``kwargs``, the tasks the workers start with) train
    the points of their first chunk as a group of their own before the rest of their first group, so that the
    first points are stored after one chunk's training, not a whole task's (a task writes each group's points
    as soon as the group is trained; it owns their chunks, so no other process writes them meanwhile)."""
    formed = groups is None
    if groups is None:
        groups = plan_groups(spec, pending, chunks=chunks, **kwargs)
    if chunks is None or all(c == 1 for c in chunks):
        return [[g] for g in groups]
    chunk_of = _chunk_ids(spec, chunks)
    parent = list(range(len(groups)))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    owner: dict[int, int] = {}
    for gi, g in enumerate(groups):
        for c in {int(x) for x in chunk_of[np.asarray(g)]}:
            if c in owner:
                parent[root(gi)] = root(owner[c])
            else:
                owner[c] = gi
    by_root: dict[int, list[list[int]]] = {}
    for gi, g in enumerate(groups):
        by_root.setdefault(root(gi), []).append(g)
    tasks = sorted(by_root.values(), key=lambda t: (-sum(len(g) for g in t), t[0][0]))
    if formed:
        n_first = kwargs.get("n_workers", 1) if starters is None else starters
        for task in tasks[:n_first]:
            first = task[0]
            same = chunk_of[np.asarray(first)] == chunk_of[first[0]]
            if not same.all():
                task[0:1] = [[i for i, s in zip(first, same) if s], [i for i, s in zip(first, same) if not s]]
    return tasks


__all__ = [
    "GROUP_MEMORY_BYTES",
    "HOST_MAX_STEP_FLOPS",
    "MAX_GROUP_SIZE",
    "default_group_size",
    "member_bytes",
    "plan_groups",
    "plan_tasks",
    "point_cost",
    "step_flops",
]
