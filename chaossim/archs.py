"""The architectures, each described once, and their registry (docs/model.md "The three architectures";
docs/extending.md: adding one).

An :class:`Architecture` declares its layers (the setting that sizes each, its bias, the name of its store
dimension), its couplings (a fixed random matrix N(0, gain g) plus a trained one, or the transpose of a
trained one: symmetric between the two directions or not), its trained matrices, its default learning rate
and its display name. Everything else is derived from it: the model's parameters and equations
(:class:`chaossim.models.network.Network`), the settings a run config checks and fills
(:mod:`chaossim.config`), the model a config builds (:mod:`chaossim.runs.build`), the cost and grouping of sweep
points, the store's dimension names, labels of figures, the doctor's checks and the command line's help.

The registry holds the built-in :data:`UNRESTRICTED`, :data:`RESTRICTED`, :data:`DEEP`, the :data:`RBM`
baseline and the symmetric control :data:`RESTRICTED_SYMMETRIC` under their names, and any other by import
path: ``model.arch = "my_arch:Chain4"`` imports the
module ``my_arch`` (from the current folder when it is not importable otherwise) and takes its ``Chain4``: an
:class:`Architecture`, or a model class with an ``architecture`` attribute (a
:class:`~chaossim.models.network.Network` subclass). Naming it by import path lets every process of a sweep
(Dask workers included) find it without registering anything.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import sys
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = [
    "DEEP",
    "RBM",
    "RESTRICTED",
    "RESTRICTED_SYMMETRIC",
    "UNRESTRICTED",
    "Architecture",
    "Coupling",
    "Layer",
    "Trained",
    "lookup",
    "names",
    "register",
    "resolve",
]


@dataclass(frozen=True)
class Layer:
    """A layer of units: its ``name`` (state key, e.g. "h1"), its ``bias`` parameter, the constructor keyword
    ``size`` of its number of units, the ``[model]`` ``setting`` that gives it in a run config ("" for the
    visible layer, whose size is the data's) and the store ``dim`` of its units (default: the size keyword)."""

    name: str
    bias: str
    size: str = "n_visible"
    setting: str = ""
    dim: str = ""

    @property
    def dimension(self) -> str:
        return self.dim or self.size


@dataclass(frozen=True)
class Coupling:
    """Input of layer ``post`` from layer ``pre`` through the matrix ``fixed + trained`` (N_post x N_pre;
    ``trained^T`` if ``transpose``: the reverse direction of a trained matrix shared by both). ``fixed`` is
    drawn N(0, gain g) from the model's seed (docs/model.md "Notation"), or, when ``tied`` names the fixed
    matrix of the reverse coupling, set to that matrix transposed (symmetric couplings, docs/model.md
    "Symmetric couplings: the non-chaotic control")."""

    post: str
    pre: str
    fixed: str
    trained: str
    transpose: bool = False
    gain: float = 1.0
    tied: str = ""


@dataclass(frozen=True)
class Trained:
    """A trained matrix of shape (N_a, N_b), updated with the correlation <phi_a phi_b> (docs/model.md "Training")."""

    name: str
    a: str
    b: str


@dataclass(frozen=True)
class Architecture:
    """One architecture (module docstring). ``name``: its registry key (a built-in name, or the import path it
    was found by; filled in by :func:`lookup`). ``model``: the import path of the class that builds its models
    (default: the generic :class:`chaossim.models.network.Network`, which builds any rate network from these
    tables). ``dynamics``: False for a model
    without continuous-time rate dynamics (the RBM baseline: no dt, tau, g, free runs or chaos probes; never
    trained as an ensemble)."""

    display: str
    layers: tuple[Layer, ...]
    couplings: tuple[Coupling, ...] = ()
    trained: tuple[Trained, ...] = ()
    default_k: float = 0.01
    name: str = ""
    model: str = "chaossim.models.network:Network"
    dynamics: bool = True

    def __post_init__(self) -> None:
        what = f"architecture {self.name or self.display!r}"
        if not self.layers:
            raise ConfigError(f"{what} has no layers.")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ConfigError(f"{what} repeats a layer name: {names}.")
        if self.layers[0].setting:
            raise ConfigError(f"{what}: the first layer is the visible one, sized by the data (setting '').")
        sizes = [layer.size for layer in self.layers]
        if len(set(sizes)) != len(sizes):
            raise ConfigError(f"{what} repeats a size keyword: {sizes}; give each layer its own.")
        for c in self.couplings:
            if c.pre not in names or c.post not in names:
                raise ConfigError(f"{what}: coupling {c.fixed} joins unknown layers ({c.pre} -> {c.post}).")
            if c.trained not in {t.name for t in self.trained}:
                raise ConfigError(f"{what}: coupling {c.fixed} uses {c.trained!r}, which is not a trained matrix.")
            if not (math.isfinite(c.gain) and c.gain >= 0):
                raise ConfigError(f"{what}: coupling {c.fixed} has gain {c.gain!r}; it must be finite and >= 0.")
        for t in self.trained:
            if t.a not in names or t.b not in names:
                raise ConfigError(f"{what}: trained matrix {t.name} joins unknown layers ({t.a}, {t.b}).")
        for c in self.couplings:  # the operator's shape N_post x N_pre: the trained matrix must fit
            t = next(t for t in self.trained if t.name == c.trained)
            if ((t.b, t.a) if c.transpose else (t.a, t.b)) != (c.post, c.pre):
                raise ConfigError(
                    f"{what}: coupling {c.fixed} ({c.pre} -> {c.post}) cannot use {t.name} ({t.a} x {t.b})"
                    f"{' transposed' if c.transpose else ''}; set transpose={not c.transpose}."
                )
        fixed = {c.fixed: c for c in self.couplings}
        for c in self.couplings:
            if not c.tied:
                continue
            other = fixed.get(c.tied)
            if other is None or other.tied or (other.post, other.pre) != (c.pre, c.post):
                raise ConfigError(
                    f"{what}: coupling {c.fixed} ({c.pre} -> {c.post}) is tied to {c.tied!r}, which must be the drawn "
                    f"fixed matrix of a coupling {c.post} -> {c.pre} (the reverse direction)."
                )
        params = [c.fixed for c in self.couplings] + [t.name for t in self.trained] + [x.bias for x in self.layers]
        if len(set(params)) != len(params):
            raise ConfigError(f"{what} repeats a parameter name: {params}.")
        if self.dynamics and self.layers[1:] and not self.couplings:
            raise ConfigError(f"{what} has hidden layers but no couplings.")
        if not (math.isfinite(self.default_k) and self.default_k >= 0):
            raise ConfigError(f"{what}: default_k must be finite and >= 0, got {self.default_k!r}.")

    # ------------------------------------------------------------------ derived
    @property
    def visible(self) -> str:
        return self.layers[0].name

    @property
    def settings(self) -> tuple[str, ...]:
        """The ``[model]`` settings that size the hidden layers (each once, in layer order)."""
        return tuple(dict.fromkeys(layer.setting for layer in self.layers if layer.setting))

    @property
    def size_keywords(self) -> tuple[str, ...]:
        """The constructor keywords of the layer sizes, in layer order."""
        return tuple(layer.size for layer in self.layers)

    def layer_dims(self) -> dict[str, str]:
        """Layer name -> the store dimension of its units."""
        return {layer.name: layer.dimension for layer in self.layers}

    def layer_sizes(self, model_config: Any, n_visible: int) -> dict[str, int]:
        """Layer name -> units, for a ``[model]`` section (:class:`chaossim.config.ModelConfig`) and data of
        ``n_visible`` features."""
        out = {}
        for layer in self.layers:
            if not layer.setting:
                out[layer.name] = int(n_visible)
                continue
            if not hasattr(model_config, layer.setting):
                raise ConfigError(
                    f"architecture {self.name!r} sizes layer {layer.name!r} with model.{layer.setting}, which is not "
                    "a setting of [model]; use model.n_hidden or model.n_hidden2."
                )
            out[layer.name] = int(getattr(model_config, layer.setting))
        return out

    def size_kwargs(self, model_config: Any, n_visible: int) -> dict[str, int]:
        """The constructor's size keywords for a ``[model]`` section and ``n_visible`` features."""
        sizes = self.layer_sizes(model_config, n_visible)
        return {layer.size: sizes[layer.name] for layer in self.layers}

    def gemm_pairs(self, sizes: dict[str, int]) -> int:
        """sum of N_post N_pre over the couplings: the multiply-adds per row of one Euler step (a model without
        couplings, the RBM, does one pass each way through every trained matrix per Gibbs sweep)."""
        if self.couplings:
            return sum(sizes[c.post] * sizes[c.pre] for c in self.couplings)
        return 2 * sum(sizes[t.a] * sizes[t.b] for t in self.trained)

    def param_layers(self) -> dict[str, tuple[str, ...]]:
        """Parameter name -> the layer each of its axes runs over."""
        out: dict[str, tuple[str, ...]] = {c.fixed: (c.post, c.pre) for c in self.couplings}
        out.update({t.name: (t.a, t.b) for t in self.trained})
        out.update({layer.bias: (layer.name,) for layer in self.layers})
        return out

    def model_class(self) -> Any:
        """The class that builds this architecture's models (its ``from_config`` builds one from a run config)."""
        return _import(self.model)


UNRESTRICTED = Architecture(
    name="unrestricted",
    display="Unrestricted",
    layers=(Layer("v", "b", dim="feature"),),
    couplings=(Coupling("v", "v", "J", "A"),),
    trained=(Trained("A", "v", "v"),),
    model="chaossim.models.architectures:Unrestricted",
)
"""One recurrent layer (paper eq. 2)."""

RESTRICTED = Architecture(
    name="restricted",
    display="Restricted",
    layers=(Layer("v", "b", dim="feature"), Layer("h", "c", "n_hidden", "n_hidden", "hidden")),
    couplings=(Coupling("v", "h", "W", "A"), Coupling("h", "v", "Wt", "A", transpose=True)),
    trained=(Trained("A", "v", "h"),),
    model="chaossim.models.architectures:Restricted",
)
"""Visible and hidden layers, no intra-layer links (paper eqs. 4-5)."""

RESTRICTED_SYMMETRIC = Architecture(
    name="restricted-symmetric",
    display="Restricted, symmetric",
    layers=RESTRICTED.layers,
    couplings=(Coupling("v", "h", "W", "A"), Coupling("h", "v", "Wt", "A", transpose=True, tied="W")),
    trained=RESTRICTED.trained,
    model="chaossim.models.architectures:RestrictedSymmetric",
)
"""The restricted network with symmetric couplings, W-tilde = W^T (A shared as in :data:`RESTRICTED`): the
non-chaotic control of docs/chaos_study.md. Its dynamics descends an energy function
(:func:`chaossim.chaos.energy.energy`; docs/model.md "Symmetric couplings: the non-chaotic control")."""

DEEP = Architecture(
    name="deep",
    display="Deep",
    layers=(
        Layer("v", "b", dim="feature"),
        Layer("h1", "c", "n_hidden1", "n_hidden", "hidden"),
        Layer("h2", "d", "n_hidden2", "n_hidden2", "hidden2"),
    ),
    couplings=(
        Coupling("v", "h1", "W1", "A1"),
        Coupling("h1", "v", "Wt1", "A1", transpose=True),
        Coupling("h1", "h2", "W2", "A2"),
        Coupling("h2", "h1", "Wt2", "A2", transpose=True),
    ),
    trained=(Trained("A1", "v", "h1"), Trained("A2", "h1", "h2")),
    model="chaossim.models.architectures:Deep",
)
"""Three layers v - h1 - h2 (paper eqs. 8-10)."""

RBM = Architecture(
    name="rbm",
    display="RBM",
    layers=(Layer("v", "b", dim="feature"), Layer("h", "c", "n_hidden", "n_hidden", "hidden")),
    trained=(Trained("W", "v", "h"),),
    default_k=0.003,
    model="chaossim.rbm:RBM",
    dynamics=False,
)
"""The short-run RBM baseline (docs/model.md "The RBM baseline"). Its default learning rate was chosen with
``benchmarks/rbm_lr.py`` (a grid of k at a fixed budget on digits and FashionMNIST, E(2) and E(AAI); too large a
k collapses the RBM onto one image, E(AAI) staying at its initial 0.25; benchmarks/README.md has the table)."""

_REGISTRY: dict[str, Architecture] = {a.name: a for a in (UNRESTRICTED, RESTRICTED, DEEP, RBM, RESTRICTED_SYMMETRIC)}


def names() -> tuple[str, ...]:
    """The names of the architectures registered in this process (the built-ins first)."""
    return tuple(_REGISTRY)


def register(arch: Architecture, name: str | None = None) -> Architecture:
    """Register ``arch`` under ``name`` (default: its own name); returns it with that name. For use within one
    process (a notebook, a test); a sweep's workers find an architecture by its import path instead."""
    if not isinstance(arch, Architecture):
        raise ConfigError(f"register takes a chaossim.archs.Architecture, got {type(arch).__name__}.")
    key = name or arch.name
    if not key:
        raise ConfigError("give the architecture a name (register(arch, 'chain4')).")
    arch = dataclasses.replace(arch, name=key)
    old = _REGISTRY.get(key)
    if old is not None and old != arch:
        raise ConfigError(f"an architecture named {key!r} is already registered; choose another name.")
    _REGISTRY[key] = arch
    return arch


def lookup(name: str) -> Architecture:
    """The architecture ``name``: a registered one, or ``"module:attribute"`` imported (module docstring).
    Raises a ConfigError saying what to do when there is none."""
    if isinstance(name, Architecture):
        return name
    if not isinstance(name, str) or not name:
        raise ConfigError(f"model.arch must be an architecture name, got {name!r}.")
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" not in name:
        raise ConfigError(
            f"model.arch must be one of {tuple(_REGISTRY)} or the import path of your own architecture "
            f"('my_arch:Chain4', docs/extending.md), got {name!r}."
        )
    arch = resolve(name)
    _REGISTRY[name] = arch
    return arch


def resolve(path: str) -> Architecture:
    """The architecture at import path ``"module:attribute"`` (not registered)."""
    obj = _import(path)
    if isinstance(obj, Architecture):
        return dataclasses.replace(obj, name=path)
    arch = getattr(obj, "architecture", None)
    if isinstance(obj, type) and isinstance(arch, Architecture):
        return dataclasses.replace(arch, name=path, model=path)
    raise ConfigError(
        f"{path} is a {type(obj).__name__}, not an architecture: point model.arch at a chaossim.archs.Architecture "
        "or at a model class with an `architecture` attribute (docs/extending.md)."
    )


def _import(path: str) -> Any:
    """The object at ``"module:attribute"``; the module is looked for in the current folder too."""
    module, _, attr = path.partition(":")
    if not module or not attr:
        raise ConfigError(f"an import path is 'module:attribute' (e.g. 'my_arch:Chain4'), got {path!r}.")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module.split(".")[0] or os.getcwd() in sys.path:
            raise ConfigError(f"cannot import {module!r} for {path!r}: {exc}.") from None
        sys.path.append(os.getcwd())  # a user's file in the folder the command runs from (docs/extending.md)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:
            raise ConfigError(
                f"cannot import the module {module!r} of {path!r}: no {module.replace('.', '/')}.py in the current "
                f"folder {os.getcwd()} or on the Python path; run from the folder holding it or add that folder "
                "to PYTHONPATH."
            ) from None
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"importing {module!r} for {path!r} failed: {type(exc).__name__}: {exc}") from None
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise ConfigError(f"{module!r} has no {attr!r} (model.arch = {path!r}).") from None
