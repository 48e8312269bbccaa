"""The shared input checks of chaossim.validation, and that they are not copied elsewhere."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import chaossim
from chaossim.errors import ConfigError
from chaossim.validation import check_count, check_rate, check_seed, model_dynamics


@pytest.mark.parametrize("value, expected", [(0, 0), (7, 7), (100.0, 100), (np.int64(3), 3)])
def test_check_count_accepts_non_negative_integers(value, expected):
    got = check_count("n", value)
    assert got == expected and type(got) is int


@pytest.mark.parametrize("value", [-1, 1.5, True, "3", None, math.nan, math.inf])
def test_check_count_refuses_the_rest_and_names_it(value):
    with pytest.raises(ConfigError, match=r"training\.chaos_every \(0: never\) must be a non-negative integer"):
        check_count("training.chaos_every", value, note=" (0: never)")


def test_check_seed_keeps_every_bit_of_a_derived_seed():
    """derive_seed gives 63-bit integers; through float64 (53-bit mantissa) they would change, and with them
    every draw of, e.g., the chaos probe of a training run."""
    from chaossim.backend import derive_seed

    s = derive_seed(0, 5, 0)
    assert s > 2 ** 53 and check_seed(s) == s and check_seed(np.uint64(s)) == s


def test_check_seed_and_rate():
    assert check_seed(5) == 5
    with pytest.raises(ConfigError, match="model.seed must be a non-negative integer"):
        check_seed(-2, "model.seed")
    assert check_rate(0.0) == 0.0
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ConfigError, match="learning rate k must be finite and >= 0"):
            check_rate(bad)


def test_model_dynamics_defaults_to_the_model_and_forces_as_told():
    model = SimpleNamespace(dt=1.0, tau=10.0, force=False)
    assert model_dynamics(model) == (1.0, 10.0)
    assert model_dynamics(model, dt=0.5) == (0.5, 10.0)
    with pytest.raises(ConfigError, match="dt/tau"):
        model_dynamics(model, dt=20.0)
    assert model_dynamics(model, dt=20.0, force=True) == (20.0, 10.0)
    assert model_dynamics(SimpleNamespace(dt=1.0, tau=10.0, force=True), dt=20.0) == (20.0, 10.0)


@pytest.mark.parametrize("text", ["must be a non-negative integer", "learning rate k must be finite",
                                  "self.dt if dt is None else dt"])
def test_no_copies_outside_the_validation_module(text):
    package = Path(chaossim.__file__).parent
    copies = [str(p.relative_to(package)) for p in package.rglob("*.py")
              if p.name != "validation.py" and text in p.read_text()]
    assert not copies, f"{text!r} is checked again in {copies}; use chaossim.validation"
