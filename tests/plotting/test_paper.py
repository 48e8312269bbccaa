"""The paper's figures from arrays (chaossim.plotting.paper): what each panel shows is the input, rebuilt
here from its definition (images through the inverse data map, curves filtered as documented)."""
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from chaossim.errors import ConfigError, DataError
from chaossim.plotting import (
    mosaic,
    plot_indices_vs_time,
    plot_receptive_fields,
    plot_samples,
    plot_snapshots,
    plot_training_curves,
)
from chaossim.plotting.paper import ZERO_OFFSET

from .conftest import line_data, rendered


def _grey(points, shape):
    """(x + 1) / 2 clipped to [0, 1], reshaped: the inverse of the data map, written out here."""
    h, w = shape
    return np.clip((np.asarray(points, float) + 1) / 2, 0, 1).reshape(-1, h, w)


def test_samples_first_row_data_then_one_row_per_generated_set(rng):
    data = rng.uniform(-1, 1, (10, 12))
    gen = [rng.uniform(-1, 1, (8, 12)), rng.uniform(-1, 1, (9, 12))]
    fig = plot_samples(gen, data, (3, 4), labels=["a", "b"], n=20)
    axes = fig.axes
    assert len(axes) == 3
    n = 8  # capped by the smallest set
    for ax, points in zip(axes, [data, *gen]):
        shown = ax.images[0].get_array()
        want = mosaic(_grey(points[:n], (3, 4)), n)
        np.testing.assert_allclose(shown, want, atol=1e-6)
        assert shown.shape == (3, n * 4 + n - 1)
    assert [ax.get_ylabel() for ax in axes] == ["data", "a", "b"]
    one = plot_samples(gen[0], data, (3, 4), n=5)  # one array: one row, default label
    assert [ax.get_ylabel() for ax in one.axes] == ["data", "generated"]
    assert rendered(fig).shape[0] > rendered(one).shape[0]  # one more row of images
    with pytest.raises(ConfigError, match="one label per run"):
        plot_samples(gen, data, (3, 4), labels=["a"])
    with pytest.raises(DataError, match="image shape"):
        plot_samples(gen, data, (3, 3))


def test_snapshots_one_column_per_time_T_marked(rng):
    snaps = rng.uniform(-1, 1, (3, 4, 6))
    fig = plot_snapshots(snaps, [0.0, 5.0, 50.0], (2, 3), T=5.0)
    assert len(fig.axes) == 3
    for j, ax in enumerate(fig.axes):
        np.testing.assert_allclose(ax.images[0].get_array(), mosaic(_grey(snaps[j], (2, 3)), 1), atol=1e-6)
    assert [ax.get_title() for ax in fig.axes] == ["$t=0$", r"$t=5$$\,(T)$", "$t=50$"]
    assert "T=5" in fig.get_suptitle()
    rendered(fig)
    with pytest.raises(DataError, match="n_t"):
        plot_snapshots(np.zeros((3, 2, 6)), [0, 1], (2, 3))


def _result(t, T=None, er=True):
    t = np.asarray(t, float)
    out = {"t": t, "E2": 1e-3 * (1 + t), "Es": 2.0 + 0 * t, "EAAI": np.where(t > 5, 0.1, np.nan),
           "ER": 0.3 / (1 + t) if er else np.full(t.shape, np.nan)}
    return out | ({"T": T} if T is not None else {})


def test_indices_vs_time_curves_scales_and_T_lines():
    a, b = _result([0.0, 1.0, 10.0, 100.0], T=10.0), _result([2.0, 20.0], T=20.0, er=False)
    fig = plot_indices_vs_time([a, b], labels=["u", "r"])
    axes = fig.axes
    assert [ax.get_yscale() for ax in axes] == ["log", "log", "linear", "linear"]
    assert all(ax.get_xscale() == "log" for ax in axes)
    for ax, key in zip(axes, ("E2", "Es", "EAAI", "ER")):
        lines = line_data(ax)
        for res in (a, b):
            keep = (res["t"] >= 0) & np.isfinite(res[key])  # t = 0 (the random start) drawn at the left edge
            t_drawn = np.where(res["t"] == 0, 1.0 / ZERO_OFFSET, res["t"])[keep]
            if keep.any():
                assert any(x.shape == t_drawn.shape and np.allclose(x, t_drawn) and np.allclose(y, res[key][keep])
                           for x, y in lines)
        vlines = [ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        assert sorted(vlines) == [10.0, 20.0]
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["u", "r"]
    single = plot_indices_vs_time(_result([1.0, 3.0], er=False))  # one dict, no T, E(R) undefined
    assert [t.get_text() for t in single.axes[3].texts] == ["not defined:\nno hidden layer"]
    assert [t.get_text() for t in single.axes[0].get_legend().get_texts()] == ["run 1"]
    rendered(fig)


def test_training_curves_show_step_zero_at_the_left_edge():
    hist = {"t_age": np.array([0, 10, 100]), "E2": np.array([1.0, 0.1, 0.01]), "Es": np.array([5.0, 2.0, 1.0]),
            "EAAI": np.array([0.5, 0.3, 0.2]), "ER": np.array([0.9, 0.5, 0.4])}
    fig = plot_training_curves([hist, hist], labels=["x", "y"])
    x0 = 10 / ZERO_OFFSET
    for ax, key in zip(fig.axes, ("E2", "Es", "EAAI", "ER")):
        (x1, y1), (x2, y2) = line_data(ax)
        np.testing.assert_allclose(x1, [x0, 10, 100])  # the step-0 value is on the curve, at the left edge
        np.testing.assert_array_equal(y1, hist[key])
        assert ax.get_xlim()[0] < x0
        ticks, labels = ax.get_xticks(), [t.get_text() for t in ax.get_xticklabels()]
        assert np.isclose(ticks[0], x0) and labels[0] == "0" and "0" not in labels[1:]
        marks = [c.get_offsets() for c in ax.collections]  # the open squares of step 0, one per run
        assert len(marks) == 2 and all(np.allclose(m, [[x0, hist[key][0]]]) for m in marks)
    assert fig.axes[0].get_xlabel() == r"$t_{\rm age}$"
    assert "step 0" in fig.get_suptitle()
    rendered(fig)
    no_zero = plot_training_curves({k: v[1:] for k, v in hist.items()})  # no step 0 logged: nothing at the edge
    assert "step 0" not in no_zero.get_suptitle() and not no_zero.axes[0].collections
    with pytest.raises(ConfigError, match="one label per run"):
        plot_training_curves([hist], labels=["x", "y"])
    with pytest.raises(DataError, match="no logged indices"):
        plot_training_curves({"t_age": np.array([]), "E2": [], "Es": [], "EAAI": [], "ER": []})


def _overlaps(fig) -> list[str]:
    """Pairs of tick labels whose drawn boxes intersect, on any axis of any panel."""
    canvas = FigureCanvasAgg(fig)  # a renderer to measure the drawn text with
    canvas.draw()
    renderer = canvas.get_renderer()
    found = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            k = 1 if axis is ax.yaxis else 0
            labels = [t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text()
                      and lo <= t.get_position()[k] <= hi]  # the labels drawn
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    if boxes[i][1].overlaps(boxes[j][1]):
                        found.append(f"{boxes[i][0]!r} and {boxes[j][0]!r}")
    return found


@pytest.mark.parametrize("t_age, e2", [
    (np.linspace(100, 1000, 10), np.linspace(1e-3, 2e-4, 10)),  # overlapped before: '0.001' and '0.0009'
    (np.linspace(200, 1000, 10), np.linspace(1e-3, 3e-4, 10)),  # overlapped before: '1e+03' and '900'
    (np.arange(0, 1001, 50), 1e-3 * (1 + 0.2 * np.cos(np.arange(21)))),  # E2 within one decade
    (np.array([600, 700, 800, 900]), np.array([0.0012, 0.0011, 0.0009, 0.00085])),  # x and y within one decade
    (np.array([0, 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000]), np.logspace(0, -8, 9)),  # many decades
])
def test_training_curve_tick_labels_do_not_overlap(t_age, e2):
    n = len(t_age)
    hist = {"t_age": t_age, "E2": e2, "Es": np.linspace(3, 2.5, n), "EAAI": np.linspace(0.5, 0.3, n),
            "ER": np.linspace(0.9, 0.8, n)}
    fig = plot_training_curves(hist)
    assert _overlaps(fig) == []
    for ax in fig.axes:  # and every log axis keeps at least two labelled ticks
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                shown = [t for t in axis.get_ticklabels() if t.get_text()]
                lo, hi = sorted(axis.get_view_interval())
                assert sum(lo <= t.get_position()[axis is ax.yaxis] <= hi for t in shown) >= 2


def test_receptive_fields_show_couplings_over_g(rng):
    w, a = rng.normal(size=(12, 5)), rng.normal(size=(12, 5))
    params = {"W": w, "A": a, "Wt": rng.normal(size=(5, 12)), "b": np.zeros(12), "c": np.zeros(5)}
    fig = plot_receptive_fields(params, (3, 4), g=2.0, units=[4, 0, 2])
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 3
    vmax = max(np.abs((w + a)[:, u] / 2.0).max() for u in (4, 0, 2))
    for ax, unit in zip(image_axes, (4, 0, 2)):
        np.testing.assert_allclose(ax.images[0].get_array(), ((w + a)[:, unit] / 2.0).reshape(3, 4))
        assert ax.get_title() == f"$a={unit}$"
        assert ax.images[0].get_clim() == pytest.approx((-vmax, vmax))  # one shared scale centred at 0
    assert fig.axes[-1].get_ylabel() == r"$(W_{ia}+A_{ia})/g$"  # the colour bar
    four = plot_receptive_fields(params, (3, 4), g=1.0, n=4, seed=1, title="t")
    assert sum(1 for ax in four.axes if ax.images) == 4 and four.get_suptitle() == "t"
    rendered(fig)
    deep = {"W1": w, "A1": a, "b": np.zeros(12)}
    assert plot_receptive_fields(deep, (3, 4), g=1.0, n=2).axes[-1].get_ylabel() == r"$(W^{(1)}_{ia}+A^{(1)}_{ia})/g$"
    with pytest.raises(ConfigError, match="unrestricted"):
        plot_receptive_fields({"J": w, "A": a}, (3, 4), g=1.0)
