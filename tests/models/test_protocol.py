"""The model contract (chaossim.models.protocol.Model), the shared bases, and parameter assignment."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import chaossim
from chaossim import RBM, Deep, Ensemble, Restricted, Unrestricted
from chaossim.errors import DataError
from chaossim.models import Engine, Model, ModelBase, Network


def _models():
    return [Unrestricted(6), Restricted(6, 4), Deep(6, 4, 3), RBM(6, 4),
            Ensemble("restricted", (6, 4), gs=[1.2, 1.5], seeds=[0, 1])]


def test_every_model_satisfies_the_protocol():
    for m in _models():
        assert isinstance(m, Model), type(m).__name__
        assert isinstance(m, ModelBase)


def test_a_plain_object_does_not():
    assert not isinstance(object(), Model)


def test_ensemble_inherits_the_engine_instead_of_borrowing_network_methods():
    assert issubclass(Ensemble, Engine) and issubclass(Network, Engine)
    for name in ("activity", "drive", "coupled_input", "euler_step", "relax_clamped", "_run", "_train_step",
                 "hebbian_update", "_bias", "run", "generate", "train_step", "random_state", "initial_states"):
        assert name not in vars(Ensemble) and name not in vars(Network), name
        assert getattr(Ensemble, name) is getattr(Engine, name)


def test_model_answers_what_callers_used_to_probe():
    unres, res, deep, rbm, ens = _models()
    assert [m.reconstructs for m in (unres, res, deep, rbm, ens)] == [False, True, True, True, False]
    assert [m.n_members for m in (unres, ens)] == [1, 2] and ens.stacked and not res.stacked
    # each parameter's axes run over layers of the stated sizes
    for m in (unres, res, deep, rbm, ens):
        for name, axes in m.param_layers().items():
            shape = m.params[name].shape[1:] if m.stacked else m.params[name].shape
            assert shape == tuple(m.sizes[a] for a in axes), (type(m).__name__, name)


def test_set_params_checks_and_assign_unchecked_keeps_the_shape_check():
    m = Restricted(6, 4)
    m.set_params(b=np.full(6, 0.5))
    assert np.allclose(chaossim.to_numpy(m.params["b"]), 0.5)
    with pytest.raises(DataError, match="NaN"):
        m.set_params(b=np.full(6, np.nan))
    with pytest.raises(DataError, match="shape"):
        m.params.assign("b", m.bk.zeros((5,)), check=False)
    new = m.bk.zeros((6,)) + 2.0
    m.params.assign("b", new, check=False)
    assert m.params["b"] is new  # no copy, no conversion
    with pytest.raises(KeyError):
        m.params.assign("nope", new, check=False)


def test_no_module_reaches_into_params_storage():
    package = Path(chaossim.__file__).parent
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if re.search(r"params\._d\b", p.read_text())]
    assert not offenders, f"use Params.assign / set_params instead of Params._d in {offenders}"
