"""Run configuration: frozen dataclasses, loadable from and saved to TOML.

A run is described by five sections, each a frozen dataclass; ``RunConfig`` holds them all::

    [model]     arch, n_hidden, n_hidden2, g, seed, persistent
    [dynamics]  dt, tau, T, init_spread
    [training]  steps, batch_size (M), k, log_every, checkpoint_every, n_eval (Ns), snapshot_every, chaos_every
    [data]      name, data_dir, n_train, n_test
    [backend]   name, dtype, force, trainer, tf32

Defaults are the paper's settings (docs/model.md "Training") except the dataset (the offline ``digits``)
and the number of steps. ``model.arch`` names an architecture of :mod:`chaossim.archs` (a built-in, or the
import path of your own, docs/extending.md). The learning rate ``training.k`` left unset takes the default of
the architecture (:attr:`chaossim.archs.Architecture.default_k`: the paper's 0.01 for the chaotic models, its
own for the RBM baseline), filled in by :meth:`RunConfig.resolved` before a run starts, so a run's
``config.toml`` always holds the k it used.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib
import tomli_w

from .archs import lookup
from .errors import ConfigError
from .validation import check_count, check_dynamics, check_gain, check_rate, check_seed, check_size, check_spread


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "restricted"
    n_hidden: int = 500
    n_hidden2: int = 100
    g: float = 1.5
    seed: int = 0
    persistent: bool = False  # RBM only: persistent chains (PCD) instead of random restarts

    def __post_init__(self):
        lookup(self.arch)  # a built-in name or an importable architecture (chaossim.archs)
        for name in ("n_hidden", "n_hidden2"):
            check_size(f"model.{name}", getattr(self, name))
        check_gain(self.g, "model.g")
        check_seed(self.seed, "model.seed")


@dataclass(frozen=True)
class DynamicsConfig:
    dt: float = 1.0
    tau: float = 10.0
    T: float = 100.0
    init_spread: float = 1.0  # free-run starts: 1 independent N(0,1); eps < 1 common start + eps perturbation

    def __post_init__(self):
        check_spread(self.init_spread, "dynamics.init_spread")
        check_dynamics(self.dt, self.tau, force=True, prefix="dynamics.")  # dt/tau > 1: refused by the model
        if not (math.isfinite(self.T) and self.T > 0):
            raise ConfigError(f"dynamics.T must be > 0, got {self.T!r}.")
        n = round(self.T / self.dt)
        if abs(n * self.dt - self.T) > 1e-6 * self.T:
            raise ConfigError(f"dynamics.T = {self.T} must be a multiple of dt = {self.dt}.")

    @property
    def steps(self) -> int:
        return round(self.T / self.dt)


@dataclass(frozen=True)
class TrainingConfig:
    steps: int = 1000
    batch_size: int = 500
    k: float | None = None  # None: the architecture's default_k (RunConfig.resolved)
    log_every: int = 100
    checkpoint_every: int = 100
    n_eval: int = 1000
    snapshot_every: int = 0  # save all parameters every n steps (0: never) for the SVD analysis
    chaos_every: int = 0  # record lambda_max and activity variance every n steps (0: never)

    def __post_init__(self):
        for name in ("steps", "batch_size", "log_every", "checkpoint_every", "n_eval"):
            check_size(f"training.{name}", getattr(self, name))
        for name in ("snapshot_every", "chaos_every"):
            check_count(f"training.{name}", getattr(self, name), note=" (0: never)")
        if self.k is not None:  # None: the architecture's default_k (RunConfig.resolved)
            check_rate(self.k, "training.k (the learning rate)")


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"
    data_dir: str = ""
    n_train: int = 0  # 0: all
    n_test: int = 0  # 0: all
    value_range: tuple = ()  # user .npy/.npz files: the declared [lo, hi] of the values, mapped to [-1, 1]

    def __post_init__(self):
        for name in ("n_train", "n_test"):
            check_count(f"data.{name}", getattr(self, name), note=" (0 = all)")
        vr = self.value_range
        if (
            not isinstance(vr, (list, tuple))
            or len(vr) not in (0, 2)
            or not (len(vr) == 0 or all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vr))
        ):
            raise ConfigError(f"data.value_range must be [lo, hi] (two numbers), got {vr!r}.")
        object.__setattr__(self, "value_range", tuple(float(x) for x in vr))


TRAINERS = ("auto", "engine", "fused")


@dataclass(frozen=True)
class BackendConfig:
    """Where and how the arrays are computed (docs/gpu.md).

    ``trainer``: which implementation runs the training step. ``"auto"``: the fused CUDA-graph step on CuPy
    when it can run (else the engine, with the reason recorded), the engine on NumPy; ``"engine"``: always
    the plain engine; ``"fused"``: the fused schedule or an error; on NumPy it runs on its host emulator
    (slow: for checking it against the engine). ``tf32``: TF32 tensor cores in the fused step's GEMMs
    (float32 only; changes the numbers: inputs rounded to a 10-bit mantissa).
    """

    name: str = "numpy"
    dtype: str = "float32"
    force: bool = False  # accept dt/tau > 1
    trainer: str = "auto"
    tf32: bool = False

    def __post_init__(self):
        if self.name not in ("numpy", "cupy", "auto", "strict"):
            raise ConfigError(
                f"backend.name must be 'numpy', 'cupy' or 'auto' ('strict': NumPy behind CuPy's "
                f"rules, for tests), got {self.name!r}."
            )
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"backend.dtype must be 'float32' or 'float64', got {self.dtype!r}.")
        if self.trainer not in TRAINERS:
            raise ConfigError(
                f"backend.trainer must be one of {TRAINERS} ('auto': the fused GPU step where it "
                f"runs, else the engine), got {self.trainer!r}."
            )
        if self.tf32 and self.dtype != "float32":
            raise ConfigError(
                "backend.tf32 = true applies to float32 only (TF32 rounds float32 GEMM inputs); set "
                "backend.dtype = 'float32' or leave tf32 off."
            )


SECTIONS = {
    "model": ModelConfig,
    "dynamics": DynamicsConfig,
    "training": TrainingConfig,
    "data": DataConfig,
    "backend": BackendConfig,
}


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    data: DataConfig = field(default_factory=DataConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)

    # ---------------------------------------------------------------- conversions
    def to_dict(self) -> dict:
        """The settings as nested dicts; an unset ``training.k`` (None) is left out (TOML has no None)."""
        d = dataclasses.asdict(self)
        if d["training"]["k"] is None:
            del d["training"]["k"]
        return d

    def resolved(self) -> RunConfig:
        """This config with every default that depends on other settings filled in: ``training.k`` unset takes
        the ``default_k`` of ``model.arch`` (:mod:`chaossim.archs`). Training runs on the resolved config and
        saves it."""
        if self.training.k is not None:
            return self
        k = lookup(self.model.arch).default_k
        return dataclasses.replace(self, training=dataclasses.replace(self.training, k=k))

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        unknown = set(d) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config section(s) {sorted(unknown)}; known: {sorted(SECTIONS)}.")
        return cls(**{name: _section(name, klass, d.get(name, {})) for name, klass in SECTIONS.items()})

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str) -> RunConfig:
        try:
            return cls.from_dict(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}") from None

    @classmethod
    def load(cls, path) -> RunConfig:
        """The config of a TOML file; errors name the file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist.")
        try:
            return cls.from_toml(path.read_text())
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the config file {path} ({exc}).") from None

    def save(self, path) -> None:
        from .io import atomic_write_text

        atomic_write_text(path, self.to_toml())

    def replace(self, **dotted: Any) -> RunConfig:
        """A copy with settings changed by dotted name, e.g. ``cfg.replace(**{"model.g": 2.0})``.

        A bare name that occurs in exactly one section also works (``g=2.0``, ``T=50``).
        """
        d = self.to_dict()
        for key, value in dotted.items():
            section, name = resolve_key(key)
            d[section][name] = value
        return RunConfig.from_dict(d)


ADDED_SETTINGS = ("training.k", "dynamics.init_spread", "data.value_range", "backend.trainer", "backend.tf32")
"""Settings that a run's config.toml written by an earlier chaossim may lack: they were added to chaossim
later (or, ``training.k``, written only when set); such a run ran with their defaults."""


def missing_settings(raw: dict) -> list[str]:
    """The settings ('dynamics.T', ...) absent from the parsed TOML ``raw`` of a config: a run's config.toml
    holds every one of them (:meth:`RunConfig.to_toml` of the resolved config)."""
    out = []
    for section, klass in SECTIONS.items():
        values = raw.get(section)
        values = values if isinstance(values, dict) else {}
        out += [f"{section}.{f.name}" for f in fields(klass) if f.name not in values]
    return out


def resolve_key(key: str) -> tuple[str, str]:
    """('model', 'g') for 'model.g' or 'g'; a clear error for unknown or ambiguous names."""
    if "." in key:
        section, name = key.split(".", 1)
        if section not in SECTIONS or name not in {f.name for f in fields(SECTIONS[section])}:
            raise ConfigError(f"unknown setting {key!r}; see `chaossim train --help` for the settings.")
        return section, name
    hits = [s for s, klass in SECTIONS.items() if key in {f.name for f in fields(klass)}]
    if len(hits) != 1:
        what = "unknown" if not hits else f"ambiguous (in {hits})"
        raise ConfigError(f"setting {key!r} is {what}; write it as section.name, e.g. model.g or data.name.")
    return hits[0], key


def _section(name: str, klass, values: dict):
    if not isinstance(values, dict):
        raise ConfigError(f"[{name}] must be a table of settings.")
    known = {f.name: f for f in fields(klass)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)} in [{name}]; known: {sorted(known)}.")
    typed = {}
    for key, value in values.items():
        kind = known[key].type
        if kind in ("float", float, "int", int) and isinstance(value, bool):  # float(True) would be 1.0
            raise ConfigError(
                f"{name}.{key} must be a number ({getattr(kind, '__name__', kind)}), got the "
                f"boolean {str(value).lower()}."
            )
        try:
            if kind in ("float", float) or (kind == "float | None" and value is not None):
                value = float(value)
            elif kind in ("int", int):
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                value = int(value)
            elif kind in ("bool", bool):
                if not isinstance(value, bool):
                    raise ValueError
            elif kind in ("str", str):
                value = str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}.{key} must be of type {kind}, got {value!r}.") from None
        typed[key] = value
    return klass(**typed)


# ------------------------------------------------------------------------------------------ schedules
def log_steps(config: RunConfig) -> list[int]:
    """The training steps at which the indices are logged: 0, every ``training.log_every`` steps, and the
    last step. The training loop and a sweep store's ``t_age`` axis both come from here."""
    tc = config.training
    return [0] + [s for s in range(1, tc.steps + 1) if s % tc.log_every == 0 or s == tc.steps]


def probe_steps(config: RunConfig) -> list[int]:
    """The training steps with a chaos probe: 0 and every ``training.chaos_every`` steps (none when it is 0,
    nor for a model without continuous dynamics, the RBM). The loop and a sweep store's ``t_age_chaos`` axis
    both come from here."""
    tc = config.training
    if not tc.chaos_every or not lookup(config.model.arch).dynamics:
        return []
    return [0] + [s for s in range(1, tc.steps + 1) if s % tc.chaos_every == 0]
