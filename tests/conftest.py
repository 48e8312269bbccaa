import numpy as np
import pytest

from chaossim.backend import gpu_available

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)]


def pytest_addoption(parser):
    parser.addoption(
        "--full",
        action="store_true",
        default=False,
        help="chaossim: run the full suite, the slow tests too (what CI runs); by default `python -m pytest` "
        "runs the quick suite, without the tests marked slow. A -m expression given on the command line "
        "chooses instead (-m slow: the slow tests alone).",
    )


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--full") and not config.option.markexpr:
        quick = [item for item in items if "slow" not in item.keywords]
        if len(quick) < len(items):
            config.hook.pytest_deselected(items=[item for item in items if "slow" in item.keywords])
            items[:] = quick
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    if not config.getoption("--full") and not config.option.markexpr:
        return "chaossim: the quick suite (tests marked slow are deselected; --full runs them too)"
    return None


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


TINY_RUN = {"model.n_hidden": 16, "training.steps": 20, "training.batch_size": 50, "training.log_every": 10,
            "training.n_eval": 100, "dynamics.T": 10.0}


@pytest.fixture(scope="session")
def tiny_trained_run(tmp_path_factory):
    """A tiny restricted model trained on digits (TINY_RUN); copy it before writing into it."""
    from chaossim.config import RunConfig
    from chaossim.runs.training import train

    d = tmp_path_factory.mktemp("tiny") / "run"
    train(RunConfig().replace(**TINY_RUN), d, progress=False)
    return d


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
