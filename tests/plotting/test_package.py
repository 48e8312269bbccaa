"""The plotting package's contract: every plot function returns a Figure and leaves matplotlib's global
state alone (the backend a notebook or script selected, pyplot's figures); pyplot is never even imported."""
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

import chaossim.plotting as plotting

from .test_sweep import sweep_dataset


def _calls():
    rng = np.random.default_rng(0)
    pts = lambda n: rng.uniform(-1, 1, (n, 16))  # noqa: E731
    res = {"t": np.array([1.0, 5.0, 20.0]), "E2": np.array([1e-3, 2e-3, 5e-4]), "Es": np.array([1.0, 2.0, 3.0]),
           "EAAI": np.array([0.1, 0.2, 0.1]), "ER": np.array([0.3, 0.2, 0.1]), "T": 5.0}
    hist = {"t_age": np.array([0, 10, 20]), **{k: res[k] for k in ("E2", "Es", "EAAI", "ER")}}
    params = {"W": rng.normal(size=(16, 6)), "A": rng.normal(size=(16, 6)), "b": np.zeros(16)}
    v = [0.5, 1.0, 2.0]
    return {
        "plot_samples": lambda: plotting.plot_samples(pts(6), pts(6), (4, 4)),
        "plot_snapshots": lambda: plotting.plot_snapshots(rng.uniform(-1, 1, (3, 2, 16)), [0, 5, 10], (4, 4), T=5),
        "plot_indices_vs_time": lambda: plotting.plot_indices_vs_time(res),
        "plot_training_curves": lambda: plotting.plot_training_curves(hist),
        "plot_receptive_fields": lambda: plotting.plot_receptive_fields(params, (4, 4), g=1.5, n=4),
        "plot_singular_values": lambda: plotting.plot_singular_values([1, 10, 100], rng.uniform(1, 2, (3, 2))),
        "plot_modes": lambda: plotting.plot_modes(rng.normal(size=(16, 4)), (4, 4), k=4),
        "plot_projections": lambda: plotting.plot_projections(rng.normal(size=(9, 2)), None, rng.normal(size=(3, 2))),
        "plot_lyapunov_vs_g": lambda: plotting.plot_lyapunov_vs_g(v, v, v, dmft_curve=(v, v), linear_curve=(v, v)),
        "plot_chaos_vs_age": lambda: plotting.plot_chaos_vs_age(v, v, v),
        "plot_long_time_states": lambda: plotting.plot_long_time_states(
            [10, 100], [8, 2], [0.0, 1.0], pts(2), np.array([5, 3]), (4, 4), n_runs=8),
        "plot_phase_diagram": lambda: plotting.plot_phase_diagram(
            sweep_dataset(rng, {"g": [1.0, 2.0], "T": [5.0, 10.0], "seed": [0, 1]})),
    }


def test_every_plot_function_is_covered_here():
    assert set(_calls()) == {n for n in plotting.__all__ if n.startswith("plot_")}


@pytest.fixture
def svg_backend():
    """A backend that is not Agg (importable everywhere), selected as a user would, and pyplot in use."""
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    plt.close("all")
    yield plt
    plt.close("all")
    matplotlib.use(before)


@pytest.mark.parametrize("name", sorted(_calls()))
def test_returns_a_figure_and_keeps_the_callers_backend(name, svg_backend):
    fig = _calls()[name]()
    assert isinstance(fig, Figure)
    assert matplotlib.get_backend() == "svg"
    assert svg_backend.get_fignums() == []  # nothing registered with pyplot
    fig.savefig(__import__("io").BytesIO(), format="png")  # and it draws
    assert matplotlib.get_backend() == "svg"


@pytest.mark.slow
def test_pyplot_is_never_imported(tmp_path):
    """Import the package, draw and save every figure, in a fresh interpreter: pyplot stays unimported."""
    code = (
        "import sys\n"
        "from tests.plotting.test_package import _calls\n"
        "from chaossim.plotting import save_figure\n"
        f"paths = [save_figure(f(), r'{tmp_path}/' + n) for n, f in _calls().items()]\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "print(len(paths))\n"
    )
    import os
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(len(_calls()))
    assert len(list(tmp_path.glob("*.png"))) == len(_calls()) == len(list(tmp_path.glob("*.pdf")))


def test_a_notebook_displays_the_figure_by_itself():
    """Jupyter shows a cell's value through _repr_png_ when no backend registered a display for figures."""
    png = _calls()["plot_chaos_vs_age"]()._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
