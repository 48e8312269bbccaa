"""Chaos drawn (chaossim.plotting.chaos): measured points with error bars, reference curves, two panels."""
import numpy as np
import pytest

from chaossim.errors import DataError
from chaossim.plotting import plot_chaos_vs_age, plot_lyapunov_vs_g

from .conftest import line_data, rendered


def test_lyapunov_vs_g_points_errors_and_reference_curves():
    g, lam, err = [0.5, 1.0, 2.0], [-0.3, 0.0, 0.1], [0.01, 0.02, 0.01]
    low = np.linspace(0.1, 1.0, 5)
    fig = plot_lyapunov_vs_g(g, lam, err, dmft_curve=([1, 2], [0, 0.1]), linear_curve=(low, np.sqrt(low) - 1),
                             units="1/tau")
    (ax,) = fig.axes
    lines = line_data(ax)
    assert any(np.array_equal(x, low) and np.allclose(y, np.sqrt(low) - 1) for x, y in lines)
    assert any(np.array_equal(x, [1, 2]) and np.allclose(y, [0, 0.1]) for x, y in lines)
    assert any(np.array_equal(x, g) and np.allclose(y, lam) for x, y in lines)  # the measured points
    bars = ax.collections[0].get_segments()  # the error bars: (g, lam - err) -> (g, lam + err)
    np.testing.assert_allclose([s[:, 1] for s in bars], np.c_[np.subtract(lam, err), np.add(lam, err)])
    assert ax.get_ylabel() == "lambda_max [1/tau]"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["linear stability of v = 0", "DMFT (SCS 1988)", "simulation (Euler map)"]
    rendered(fig)
    with pytest.raises(DataError, match="equal lengths"):
        plot_lyapunov_vs_g(g, lam[:2], err)


def test_chaos_vs_age_two_panels():
    t, lam, var = [0, 10, 20], [0.1, 0.05, -0.01], [0.3, 0.2, 0.1]
    fig = plot_chaos_vs_age(t, lam, var)
    top, bottom = fig.axes
    np.testing.assert_allclose(line_data(top)[0][1], lam)
    np.testing.assert_allclose(line_data(bottom)[0][1], var)
    assert bottom.get_xlabel() == "training step t_age"
    rendered(fig)
    with pytest.raises(DataError, match="empty"):
        plot_chaos_vs_age([], [], [])
    with pytest.raises(DataError, match="equal lengths"):
        plot_chaos_vs_age(t, lam, var[:1])
