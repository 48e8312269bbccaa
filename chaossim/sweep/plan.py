"""A sweep's plan without training (``chaossim sweep SWEEP.toml --dry-run``, docs/sweeps.md "Checking a spec").

:func:`plan_sweep` checks everything a sweep would check before its first task, for the whole spec, and
writes nothing: the spec parses and every point is a valid run config (:func:`chaossim.sweep.spec.load_spec`);
every dataset of the grid loads and fits its points (minibatch size against the training points); the store is
laid out in a temporary folder (every dataset and every model shape read, as for the real store) and verified
against its schema record; the points are grouped as the sweep would group them. Given an existing store, it
also checks that a re-run would be accepted: same spec and grid order, intact metadata, the same data as the
done points and checkpoints. ``tests/sweep/test_plan.py`` runs it over every spec shipped in ``sweeps/``.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ChaossimWarning, ConfigError
from .spec import SweepSpec, with_backend


@dataclass
class SweepPlan:
    """What :func:`plan_sweep` found: lines for people, and the numbers behind them."""

    spec: SweepSpec
    datasets: list[str] = field(default_factory=list)  # one line per dataset
    groups: list[list[int]] = field(default_factory=list)
    n_arrays: int = 0
    store_bytes: int = 0  # uncompressed size of every array of the store
    point_memory: dict[int, int] = field(default_factory=dict)  # point -> bytes its training asks for
    existing: str = ""  # what a re-run of an existing store would do
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        spec = self.spec
        out = [f"sweep {spec.name}: {spec.n_points} points over {dict(zip(spec.dims, spec.shape))}"]
        out += [f"data: {d}" for d in self.datasets]
        n_grouped = sum(len(g) for g in self.groups if len(g) > 1)
        out.append(
            f"tasks: {len(self.groups)} ({n_grouped} points trained as ensembles)"
            if n_grouped
            else f"tasks: {len(self.groups)}, one point each"
        )
        if self.point_memory:
            big = max(self.point_memory, key=lambda i: self.point_memory[i])
            out.append(
                f"memory: training a point asks for up to {_size(self.point_memory[big])} "
                f"(point {big}: {spec.point_label(big)})"
            )
        out.append(f"store: {self.n_arrays} arrays, {_size(self.store_bytes)} uncompressed; laid out and verified")
        if self.existing:
            out.append(self.existing)
        out += [f"warning: {w}" for w in self.warnings]
        return out


def _size(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def plan_sweep(
    spec: SweepSpec,
    store=None,
    *,
    backend: str | None = None,
    ensembles: bool | None = None,
    group_size: int | None = None,
    n_workers: int = 1,
) -> SweepPlan:
    """Check the whole of ``spec`` and lay its store out in a temporary folder, writing nothing elsewhere (see the
    module docstring). ``store``: an existing store to check a re-run against (None, or a path that does not
    exist: nothing to check). Raises the error the sweep would raise, naming the point or the input."""
    from ..data import seed_matters
    from .groups import HOST_MAX_STEP_FLOPS, member_bytes, plan_groups
    from .store import create_store, dataset_for, plan_layout
    from .verify import verify_store

    spec = with_backend(spec, backend)
    plan = SweepPlan(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ChaossimWarning)
        listed: set = set()
        for i in range(spec.n_points):
            cfg = spec.config(i)
            data = dataset_for(cfg)  # loads and checks the data (value_range, shapes, finiteness)
            if cfg.data not in listed:
                listed.add(cfg.data)
                per_seed = " (split by seed)" if seed_matters(cfg.data.name, cfg.data.n_train, cfg.data.n_test) else ""
                plan.datasets.append(
                    f"{cfg.data.name}: {len(data.train)} train + {len(data.test)} test points of "
                    f"{data.n_features} features{per_seed}, from {data.source}"
                )
            tc = cfg.training
            if tc.batch_size > len(data.train):
                raise ConfigError(
                    f"grid point {i} ({spec.point_label(i)}): training.batch_size = {tc.batch_size} exceeds the "
                    f"{len(data.train)} training points of {data.name}; lower it or use more data."
                )
            if tc.n_eval > len(data.test):
                msg = (
                    f"training.n_eval = {tc.n_eval} exceeds the {len(data.test)} held-out points of {data.name}: "
                    f"the indices of its points use all {len(data.test)}"
                )
                if msg not in plan.warnings:
                    plan.warnings.append(msg)
            if cfg.model.arch != "rbm":
                plan.point_memory[i] = member_bytes(cfg, data.n_features)
        layout = plan_layout(spec)
        with tempfile.TemporaryDirectory(prefix="chaossim-plan-") as tmp:
            path = Path(tmp) / f"{spec.name}.zarr"
            create_store(path, spec, layout, backend=spec.base.backend.name)
            report = verify_store(path)
            if not report.ok:  # a layout that does not verify is a bug of chaossim, not of the spec
                raise AssertionError(f"the fresh layout of {spec.name} does not verify: {report.lines()[:3]}")
            plan.n_arrays = len(layout.variables) + len(layout.coords) + len(spec.grid)
    plan.warnings += [str(w.message) for w in caught if issubclass(w.category, ChaossimWarning)]
    for _name, (dims, dtype, _fill, _attrs) in layout.variables.items():
        sizes = [len(d.values) for d in spec.grid] + [layout.sizes[d] for d in dims[len(spec.grid) :]]
        plan.store_bytes += math.prod(sizes) * np.dtype(dtype).itemsize
    on_gpu = spec.base.backend.name == "cupy"
    grouped = ensembles if ensembles is not None else True
    plan.groups = (
        plan_groups(
            spec,
            range(spec.n_points),
            max_size=group_size,
            n_workers=n_workers,
            max_step_flops=None if (on_gpu or ensembles) else HOST_MAX_STEP_FLOPS,
        )
        if grouped
        else [[i] for i in range(spec.n_points)]
    )
    if store is not None and Path(store).exists():
        plan.existing = _check_existing(Path(store), spec)
    return plan


def _check_existing(store: Path, spec: SweepSpec) -> str:
    """What a re-run of ``store`` would do, read only; the refusal it would meet is raised."""
    from .cluster import check_inputs
    from .store import SCHEMA_VERSION, check_matches, open_sweep
    from .verify import verify_store

    ds = open_sweep(store, check=False)
    from .schema import schema_version

    if schema_version(ds.attrs, store) != SCHEMA_VERSION:
        from .store import open_or_create

        open_or_create(store, spec)  # raises the refusal of an older store
    check_matches(ds, spec, store)
    report = verify_store(store)
    repairs = len(report.metadata) + len(report.store_wide)
    if not (report.metadata or report.store_wide or report.attributes):
        check_inputs(store, spec, report)
    n_done = int(report.intact_done.sum())
    text = f"existing store {store}: {n_done} of {spec.n_points} points done and intact"
    if report.damaged_points:
        text += f", {len(report.damaged_points)} damaged (re-run)"
    if repairs:
        text += f", {repairs} metadata or store-wide problem(s) the re-run repairs"
    if report.attributes:
        text += f"; not resumable: {report.attributes[0]}"
    return text if report.attributes else text + "; a re-run would be accepted"
