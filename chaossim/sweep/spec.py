"""Sweep specifications: a grid over RunConfig settings, fixed settings and what to record.

A spec is a TOML file::

    [sweep]
    name = "quickstart"          # optional; defaults to the file's stem
    [grid]                        # every combination is one point
    g = [0.5, 1.0, 1.5, 2.0]      # bare names when unambiguous ...
    "dynamics.T" = [10.0, 20.0]   # ... or dotted section.name
    seed = [0]
    [model]                       # fixed settings: the sections of a run config
    arch = "restricted"
    [record]                      # what each point stores after training
    times = [0, 5, 10, 20, 50]    # generation times t of the indices vs t
    n_samples = 16                # samples phi(v(T)) stored per point
    n_trajectories = 4            # samples whose trajectories phi(v(t)) are stored
    trajectory_every = 5          # one recorded frame every n Euler steps (of the fixed dt)
    trajectory_t_max = 200.0
    n_data_samples = 16           # held-out data points stored once, for plots

Grid dimension names are the settings' short names (``g``, ``T``, ``seed``, ``arch``...), except
``data.name``, whose dimension is ``dataset`` (``dataset`` is also accepted as a grid key).
Points are numbered in C order over the grid dimensions, in the order the grid lists them; that order is
part of the spec's identity (:meth:`SweepSpec.canonical`), so a store refuses the same grid listed in
another order, whose points would get other numbers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

from ..config import SECTIONS, RunConfig, resolve_key
from ..errors import ChaossimError, ConfigError
from ..validation import check_dynamics, check_spread, steps_for

DIM_ALIASES = {("data", "name"): "dataset"}
KEY_ALIASES = {"dataset": "data.name"}
RECORD_DEFAULTS: dict[str, Any] = {
    "times": (0.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0),
    "n_samples": 16,
    "n_trajectories": 4,
    "trajectory_every": 5,
    "trajectory_t_max": 200.0,
    "n_data_samples": 16,
    "spreads": (),
    "n_diversity": 64,
    "t_long": 1000.0,
    "n_long": 64,
    "distinct_tol": 0.05,
    "ftle_starts": 0,
    "asymptotic_burn": 500.0,
    "asymptotic_window": 4000.0,
    "asymptotic_replicas": 8,
    "growth_spreads": (),
    "growth_at": (0.25, 0.5, 1.0, 2.0, 4.0, 6.0),
    "n_growth": 16,
}
FTLE_RECORD_KEYS = (
    "ftle_starts",
    "asymptotic_burn",
    "asymptotic_window",
    "asymptotic_replicas",
    "growth_spreads",
    "growth_at",
    "n_growth",
)
"""[record] keys of the finite-time exponent records (:mod:`chaossim.sweep.ftle`)."""
ADDED_RECORD_KEYS = ("spreads", "n_diversity", "t_long", "n_long", "distinct_tol") + FTLE_RECORD_KEYS
"""[record] keys added after stores were made (a stored spec without them ran with their defaults)."""


@dataclass(frozen=True)
class RecordSpec:
    """What a point stores after training (see the module docstring)."""

    times: tuple[float, ...] = RECORD_DEFAULTS["times"]
    n_samples: int = 16
    n_trajectories: int = 4
    trajectory_every: int = 5
    trajectory_t_max: float = 200.0
    n_data_samples: int = 16
    spreads: tuple[float, ...] = ()  # generation spreads of the diversity diagnostics (docs/chaos_study.md)
    n_diversity: int = 64  # free runs per spread, followed along `times` and to T
    t_long: float = 1000.0  # the long time at which distinct states are counted
    n_long: int = 64  # free runs per spread for the count at t_long
    distinct_tol: float = 0.05  # two states are the same when their rms difference per unit is below this
    ftle_starts: int = 0  # starts of the finite-time exponent over [0, T] along training (0: none; sweep.ftle)
    asymptotic_burn: float = 500.0  # burn-in of the asymptotic exponent (with ftle_starts)
    asymptotic_window: float = 4000.0  # its window (an even number of tau)
    asymptotic_replicas: int = 8
    growth_spreads: tuple[float, ...] = ()  # perturbation sizes of d(t)/d(0), trained and untrained
    growth_at: tuple[float, ...] = RECORD_DEFAULTS["growth_at"]  # its times in units of the point's T
    n_growth: int = 16  # runs per perturbation size

    def __post_init__(self):
        if not self.times:
            raise ConfigError("[record] times must list at least one generation time, e.g. times = [0, 10, 100].")
        if any(not math.isfinite(t) or t < 0 for t in self.times):
            raise ConfigError(f"[record] times must be finite and >= 0, got {list(self.times)}.")
        if len(set(self.times)) != len(self.times):
            raise ConfigError(f"[record] times has duplicates: {list(self.times)}; list each time once.")
        for name in ("n_samples", "n_trajectories", "n_data_samples"):
            self._check_integer(name, 0)
        if (
            isinstance(self.trajectory_every, bool)
            or int(self.trajectory_every) != self.trajectory_every
            or self.trajectory_every <= 0
        ):
            raise ConfigError(
                f"[record] trajectory_every must be a positive integer (Euler steps), got {self.trajectory_every!r}."
            )
        if not (math.isfinite(self.trajectory_t_max) and self.trajectory_t_max >= 0):
            raise ConfigError(f"[record] trajectory_t_max must be finite and >= 0, got {self.trajectory_t_max!r}.")
        for e in self.spreads:
            check_spread(e, "[record] spreads")
        if len(set(self.spreads)) != len(self.spreads):
            raise ConfigError(
                f"[record] spreads must be distinct numbers in (0, 1] (1: independent starts), got "
                f"{list(self.spreads)}."
            )
        for name in ("n_diversity", "n_long"):
            self._check_integer(name, 2, " (free runs compared)")
        if not (math.isfinite(self.t_long) and self.t_long > 0):
            raise ConfigError(f"[record] t_long must be a time > 0, got {self.t_long!r}.")
        if not (math.isfinite(self.distinct_tol) and self.distinct_tol > 0):
            raise ConfigError(f"[record] distinct_tol must be > 0, got {self.distinct_tol!r}.")
        self._check_ftle_keys()

    def _check_integer(self, name: str, low: int, note: str = "") -> None:
        v = getattr(self, name)
        if isinstance(v, bool) or int(v) != v or v < low:
            raise ConfigError(f"[record] {name} must be an integer >= {low}{note}, got {v!r}.")

    def _check_ftle_keys(self) -> None:
        """The keys of the finite-time records (:mod:`chaossim.sweep.ftle`)."""
        for name, low in (("ftle_starts", 0), ("asymptotic_replicas", 2), ("n_growth", 2)):
            self._check_integer(name, low)
        if self.ftle_starts == 1:
            raise ConfigError("[record] ftle_starts must be 0 (none) or >= 2 (their spread is stored), got 1.")
        for name in ("asymptotic_burn", "asymptotic_window"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0) or (name == "asymptotic_window" and v == 0):
                raise ConfigError(f"[record] {name} must be a time > 0 (>= 0 for the burn-in), got {v!r}.")
        for e in self.growth_spreads:
            check_spread(e, "[record] growth_spreads")
        if len(set(self.growth_spreads)) != len(self.growth_spreads):
            raise ConfigError(
                f"[record] growth_spreads must be distinct numbers in (0, 1], got {list(self.growth_spreads)}."
            )
        at = list(self.growth_at)
        if not at or any(not (math.isfinite(f) and f > 0) for f in at) or at != sorted(set(at)):
            raise ConfigError(
                f"[record] growth_at must list increasing multiples of T > 0 (e.g. [0.5, 1, 2, 6]), got {at}."
            )

    def trajectory_times(self, dt: float) -> tuple[float, ...]:
        """Recorded times k * trajectory_every * dt up to trajectory_t_max (dt: the spec's fixed dt)."""
        if self.n_trajectories == 0:
            return ()
        step = self.trajectory_every * dt
        n = int(math.floor(self.trajectory_t_max / step + 1e-9))
        return tuple(round(i * step, 12) for i in range(n + 1))


@dataclass(frozen=True)
class GridDim:
    """One grid dimension: its name, the (section, setting) it sets and its values."""

    name: str
    section: str
    setting: str
    values: tuple

    @property
    def key(self) -> str:
        return f"{self.section}.{self.setting}"


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, validated sweep: ``grid`` dimensions, a ``base`` RunConfig and a ``record`` spec."""

    name: str
    grid: tuple[GridDim, ...]
    base: RunConfig
    record: RecordSpec
    text: str = field(default="", compare=False)  # the TOML source, kept for the store's attributes

    # ---------------------------------------------------------------- grid
    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.grid)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(d.values) for d in self.grid)

    @property
    def n_points(self) -> int:
        return math.prod(self.shape)

    def coords(self) -> dict[str, list]:
        return {d.name: list(d.values) for d in self.grid}

    def multi_index(self, index: int) -> tuple[int, ...]:
        if isinstance(index, bool) or not 0 <= int(index) < self.n_points:
            raise ConfigError(
                f"point index {index!r} is outside the grid of {self.n_points} points (0..{self.n_points - 1})."
            )
        return tuple(int(i) for i in _unravel(int(index), self.shape))

    def point_values(self, index: int) -> dict:
        """{dimension name: value} of point ``index``."""
        return {d.name: d.values[i] for d, i in zip(self.grid, self.multi_index(index))}

    def point_label(self, index: int) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.point_values(index).items())

    def point_key(self, index: int) -> str:
        """A file-system-safe, unique name of point ``index``, e.g. ``p0003_g1.0_T20.0_seed0``."""
        parts = [f"p{index:04d}"] + [f"{k}{v}" for k, v in self.point_values(index).items()]
        return re.sub(r"[^A-Za-z0-9._=-]+", "-", "_".join(parts))[:200]

    def config(self, index: int, backend: str | None = None) -> RunConfig:
        """The RunConfig of point ``index`` (``backend`` overrides backend.name, e.g. "cupy")."""
        values = {d.key: d.values[i] for d, i in zip(self.grid, self.multi_index(index))}
        if backend is not None:
            values["backend.name"] = backend
        try:
            return self.base.replace(**values)
        except ChaossimError as exc:
            raise ConfigError(
                f"grid point {index} ({self.point_label(index)}) is not a valid run config: {exc}"
            ) from None

    def configs(self, backend: str | None = None):
        return [self.config(i, backend) for i in range(self.n_points)]

    def multi_indices(self, indices=None):
        """The grid position of each point of ``indices`` (default: every point), as an int64 array of shape
        (points, grid dimensions): vectorised, no config is built."""
        import numpy as np

        flat = np.arange(self.n_points) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        return np.stack(np.unravel_index(flat, self.shape), axis=-1).astype(np.int64)

    def representatives(self, free=()) -> dict[tuple, int]:
        """One point per combination of the values of the grid dimensions whose setting is not in ``free``,
        the free ones at their first value: {position along the kept dimensions: flat index}. Whatever depends
        only on the kept settings is computed once per entry instead of once per point (a grid of 10^5 points
        over g, T and seed has one entry for ``free = ("model.g", "dynamics.T", "model.seed")``)."""
        kept = [k for k, d in enumerate(self.grid) if d.key not in free]
        out: dict[tuple, int] = {}
        for combo in itertools.product(*(range(self.shape[k]) for k in kept)):
            position = [0] * len(self.grid)
            for k, j in zip(kept, combo):
                position[k] = j
            flat = 0
            for j, n in zip(position, self.shape):
                flat = flat * n + j
            out[combo] = flat
        return out

    def kept_position(self, free=()):
        """For every point, its position along the grid dimensions not in ``free`` (the keys of
        :meth:`representatives`), as an int64 array (points, kept dimensions)."""
        kept = [k for k, d in enumerate(self.grid) if d.key not in free]
        return self.multi_indices()[:, kept]

    # ---------------------------------------------------------------- identity
    def canonical(self) -> dict:
        """What defines the sweep's numbers and the numbering of its points: the grid as a list of
        [setting, values] pairs in the spec's order (points are numbered in C order over it), the fixed
        settings (backend.name excluded: a sweep may finish on another device) and the record."""
        base = self.base.resolved().to_dict()  # an unset k counts as the value it takes
        base["backend"].pop("name")
        return {
            "grid": [[d.key, list(d.values)] for d in self.grid],
            "base": base,
            "record": {k: list(v) if isinstance(v, tuple) else v for k, v in self.record.__dict__.items()},
        }

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()[:16]


def _unravel(index: int, shape) -> list[int]:
    out = []
    for n in reversed(shape):
        index, r = divmod(index, n)
        out.append(r)
    return out[::-1]


# -------------------------------------------------------------------- parsing
def load_spec(path) -> SweepSpec:
    """Parse and validate the sweep spec TOML file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"sweep spec {path} does not exist; give the path of a TOML file (e.g. sweeps/quickstart.toml)."
        )
    return parse_spec(path.read_text(), default_name=path.stem)


def parse_spec(text: str, default_name: str = "sweep") -> SweepSpec:
    """Parse and validate a sweep spec from TOML text (see the module docstring for the format)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the sweep spec is not valid TOML: {exc}") from None
    allowed = {"sweep", "grid", "record", *SECTIONS}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"unknown table(s) {unknown} in the sweep spec; allowed: {sorted(allowed)}.")
    meta = raw.get("sweep", {})
    _table(meta, "sweep")
    extra = sorted(set(meta) - {"name"})
    if extra:
        raise ConfigError(f"unknown key(s) {extra} in [sweep]; only 'name' is allowed.")
    name = str(meta.get("name", default_name))
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ConfigError(f"[sweep] name {name!r} may contain only letters, digits, '.', '_' and '-'.")

    fixed = {s: raw.get(s, {}) for s in SECTIONS}
    for s, v in fixed.items():
        _table(v, s)
    try:
        base = RunConfig.from_dict(fixed)
    except ConfigError as exc:
        raise ConfigError(f"fixed settings of the sweep: {exc}") from None

    grid = _parse_grid(raw.get("grid", {}), fixed)
    record = _parse_record(raw.get("record", {}))
    spec = SweepSpec(name=name, grid=grid, base=base, record=record, text=text)
    _validate_points(spec)
    return spec


def _table(v, name):
    if not isinstance(v, dict):
        raise ConfigError(f"[{name}] must be a table (a [{name}] header followed by key = value lines).")


def _parse_grid(table: dict, fixed: dict) -> tuple[GridDim, ...]:
    _table(table, "grid")
    if not table:
        raise ConfigError("[grid] is empty; give at least one setting with a list of values, e.g. g = [0.5, 1.5].")
    dims: list = []
    seen_keys: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for key, values in table.items():
        section, setting = resolve_key(KEY_ALIASES.get(key, key))
        dotted = f"{section}.{setting}"
        if dotted in seen_keys:
            raise ConfigError(f"[grid] sets {dotted} twice (as {seen_keys[dotted]!r} and {key!r}); keep one.")
        seen_keys[dotted] = key
        if setting in fixed.get(section, {}):
            raise ConfigError(f"{dotted} is both on the grid and fixed in [{section}]; remove one of them.")
        if dotted == "backend.name":
            raise ConfigError("backend.name cannot be a grid dimension; choose it with --backend or --gpus.")
        dim = DIM_ALIASES.get((section, setting), setting)
        if dim in seen_names:
            raise ConfigError(
                f"[grid] keys {seen_names[dim]!r} and {key!r} would both be dimension {dim!r}; sweep one of them only."
            )
        seen_names[dim] = key
        if not isinstance(values, list):
            values = [values]
        if not values:
            raise ConfigError(f"[grid] {key} is an empty list; give at least one value.")
        _check_grid_kinds(key, dotted, section, setting, values)
        kinds = {type(v) for v in values}
        if kinds <= {int, float} and (bool not in kinds):
            if float in kinds:
                values = [float(v) for v in values]
        elif len(kinds) != 1 or not kinds <= {str, bool, int, float}:
            raise ConfigError(
                f"[grid] {key} mixes value types {sorted(k.__name__ for k in kinds)}; "
                "use one type (numbers, strings or booleans)."
            )
        if len(set(values)) != len(values):
            dup = sorted({v for v in values if values.count(v) > 1}, key=str)
            raise ConfigError(f"[grid] {key} lists {dup} more than once; list each value once.")
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise ConfigError(f"[grid] {key} contains a non-finite number; use finite values.")
        dims.append(GridDim(dim, section, setting, tuple(values)))
    return tuple(dims)


_NUMBER_KINDS = {"float": "a number", "float | None": "a number", "int": "an integer"}


def _check_grid_kinds(key: str, dotted: str, section: str, setting: str, values: list) -> None:
    """A numeric setting takes numbers on the grid: text (``"0.8"``) or booleans would make a text or boolean
    coordinate (``ds.sel(g=0.8)`` would find nothing) even though each point's config converts them."""
    kind = {f.name: f.type for f in fields(SECTIONS[section])}[setting]
    what = _NUMBER_KINDS.get(kind if isinstance(kind, str) else getattr(kind, "__name__", ""))
    if what is None:
        return
    bad = [v for v in values if isinstance(v, (str, bool))]
    if not bad:
        return
    shown = ", ".join(json.dumps(v) for v in values)
    line = f"[grid] {key}: {dotted} is {what}, got {json.dumps(bad[0])} in [{shown}]"
    try:
        fixed = ", ".join(str(v) if isinstance(v, str) else json.dumps(v) for v in values if float(v) == float(v))
    except (TypeError, ValueError):
        fixed = ""
    if fixed and not any(isinstance(v, bool) for v in values):
        name = json.dumps(key) if "." in key else key  # a dotted TOML key needs its quotes
        raise ConfigError(f"{line}; write the numbers without quotes: {name} = [{fixed}].")
    raise ConfigError(f"{line}; give numbers.")


def _parse_record(table: dict) -> RecordSpec:
    _table(table, "record")
    unknown = sorted(set(table) - set(RECORD_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in [record]; known: {sorted(RECORD_DEFAULTS)}.")
    kw = dict(table)
    try:
        if "times" in kw:
            if not isinstance(kw["times"], list):
                raise ConfigError("[record] times must be a list of numbers, e.g. times = [0, 10, 100].")
            kw["times"] = tuple(float(t) for t in kw["times"])
        for key, example in (("spreads", "[1e-3, 1.0]"), ("growth_spreads", "[1e-3, 0.1]"), ("growth_at", "[1, 6]")):
            if key in kw:
                if not isinstance(kw[key], list):
                    raise ConfigError(f"[record] {key} must be a list of numbers, e.g. {key} = {example}.")
                kw[key] = tuple(float(e) for e in kw[key])
        for key in ("trajectory_t_max", "t_long", "distinct_tol", "asymptotic_burn", "asymptotic_window"):
            if key in kw:
                kw[key] = float(kw[key])
    except (TypeError, ValueError):
        raise ConfigError(f"[record] times and trajectory_t_max must be numbers, got {table}.") from None
    return RecordSpec(**kw)


INDEPENDENT_SETTINGS = ("model.g", "model.seed")
"""Grid settings whose values are checked one by one (each at the first value of the others): a run config's
validity never depends on g or the seed together with another setting. Every combination of the other grid
settings is checked."""


def checked_points(spec: SweepSpec) -> list[int]:
    """The points whose configs, checked, check every point of the grid (:data:`INDEPENDENT_SETTINGS`)."""
    points = set(spec.representatives(INDEPENDENT_SETTINGS).values())
    for k, d in enumerate(spec.grid):
        if d.key in INDEPENDENT_SETTINGS:
            stride = math.prod(spec.shape[k + 1 :])
            points.update(j * stride for j in range(len(d.values)))
    return sorted(points)


def _validate_points(spec: SweepSpec) -> None:
    """Every grid point must give a valid RunConfig whose dt divides the recorded times (checked on
    :func:`checked_points`: g and the seed value by value, every combination of the other settings)."""
    traj_times = spec.record.trajectory_times(spec.base.dynamics.dt)
    for i in checked_points(spec):
        cfg = spec.config(i)  # raises ConfigError naming the point
        try:
            check_dynamics(cfg.dynamics.dt, cfg.dynamics.tau, force=cfg.backend.force)
        except ConfigError as exc:
            raise ConfigError(f"grid point {i} ({spec.point_label(i)}): {exc}") from None
        try:
            for t in spec.record.times + traj_times:
                steps_for(t, cfg.dynamics.dt)
            if spec.record.spreads:
                steps_for(spec.record.t_long, cfg.dynamics.dt)
        except ConfigError as exc:
            raise ConfigError(
                f"grid point {i} ({spec.point_label(i)}): a recorded time is not a multiple of its "
                f"dt = {cfg.dynamics.dt} ({exc}); change [record] times / trajectory_every."
            ) from None
        if spec.record.ftle_starts:
            try:
                _check_asymptotic(spec.record, cfg.dynamics.dt, cfg.dynamics.tau)
            except ConfigError as exc:
                raise ConfigError(f"grid point {i} ({spec.point_label(i)}): {exc}") from None


def _check_asymptotic(rec: RecordSpec, dt: float, tau: float) -> None:
    """The asymptotic exponent's burn-in is a multiple of dt, its window an even number of renormalisation
    intervals (tau rounded to dt; :func:`chaossim.chaos.ftle.asymptotic_exponent`)."""
    steps_for(rec.asymptotic_burn, dt)
    per = max(1, round(tau / dt))
    n = steps_for(rec.asymptotic_window, dt)
    if n % (2 * per):
        raise ConfigError(
            f"[record] asymptotic_window = {rec.asymptotic_window} must be an even number of tau = {per * dt} "
            f"(the renormalisation interval), e.g. {2 * per * dt * max(1, round(n / (2 * per)))}."
        )


def with_backend(spec: SweepSpec, backend: str | None) -> SweepSpec:
    """The same spec with backend.name set (backend.name never changes the store's identity)."""
    if backend is None:
        return spec
    base = spec.base.replace(**{"backend.name": backend})
    return SweepSpec(spec.name, spec.grid, base, spec.record, spec.text)


def spec_differences(stored: dict, given: dict) -> list[str]:
    """Human-readable differences between two canonical spec dicts."""
    out = []

    def walk(a, b, prefix):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{prefix}.{k}" if prefix else k)
        elif a != b:
            out.append(f"{prefix}: store has {a!r}, spec has {b!r}")

    walk(stored, given, "")
    return out


def grid_points(spec: SweepSpec):
    """(index, {dim: value}) for every point, in store order."""
    for i, combo in enumerate(itertools.product(*(d.values for d in spec.grid))):
        yield i, dict(zip(spec.dims, combo))
