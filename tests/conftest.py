import numpy as np
import pytest

from chaossim.backend import gpu_available

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)]


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


TINY_RUN = {"model.n_hidden": 16, "training.steps": 20, "training.batch_size": 50, "training.log_every": 10,
            "training.n_eval": 100, "dynamics.T": 10.0}


@pytest.fixture(scope="session")
def tiny_trained_run(tmp_path_factory):
    """A tiny restricted model trained on digits (TINY_RUN); copy it before writing into it."""
    from chaossim.config import RunConfig
    from chaossim.training import train

    d = tmp_path_factory.mktemp("tiny") / "run"
    train(RunConfig().replace(**TINY_RUN), d, progress=False)
    return d


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
