"""A stored point's model equals the model trained alone with the same settings."""
import numpy as np
import pytest

from chaossim.errors import StoreError
from chaossim.runs.training import train
from chaossim.sweep import point_model


def test_point_model_is_the_trained_model(tiny_store):
    spec, store = tiny_store
    model, config = point_model(store, g=2.0, T=10.0)
    assert config == spec.config(2)
    alone = train(config, progress=False).model
    for name, value in alone.params.items():
        np.testing.assert_array_equal(np.asarray(model.params[name]), value, err_msg=name)


def test_point_model_refuses_bad_selection(tiny_store):
    _, store = tiny_store
    with pytest.raises(StoreError, match="select one value"):
        point_model(store, g=2.0)
    with pytest.raises(StoreError, match="not on the grid"):
        point_model(store, g=3.0, T=10.0)
    with pytest.raises(StoreError, match="not grid dimensions"):
        point_model(store, g=2.0, T=10.0, k=0.1)
