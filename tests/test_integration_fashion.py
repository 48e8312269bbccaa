"""Integration: the restricted model trained on a real FashionMNIST subset learns (paper eq. 6)."""
from pathlib import Path

import pytest

from chaossim.config import RunConfig
from chaossim.data import FASHION_MNIST_SYSTEM_DIR, load_dataset
from chaossim.runs.training import train

pytestmark = [pytest.mark.dataset, pytest.mark.skipif(not Path(FASHION_MNIST_SYSTEM_DIR).is_dir(),
                                                      reason="needs Debian's dataset-fashion-mnist")]


@pytest.mark.slow
def test_restricted_model_learns_fashion_mnist(tmp_path):
    data = load_dataset("fashion-mnist", n_train=5000, n_test=500, seed=0)
    cfg = RunConfig().replace(**{"model.arch": "restricted", "model.n_hidden": 100, "model.g": 1.5,
                                 "dynamics.T": 30.0, "training.steps": 300, "training.batch_size": 100,
                                 "training.k": 0.02, "training.log_every": 100, "training.n_eval": 500})
    h = train(cfg, tmp_path / "run", progress=False, dataset=data).history
    assert list(h["t_age"]) == [0, 100, 200, 300]
    assert h["E2"][-1] < 0.3 * h["E2"][0], h["E2"]
    assert h["EAAI"][0] > 0.24 and h["EAAI"][-1] < h["EAAI"][0] - 0.04, h["EAAI"]
