"""What a sweep says at the end (chaossim.summary): last finite values, the phase diagram's axes, the
grid reduced to them; against loops written out here."""
import math

import numpy as np

from chaossim.metrics import index_names
from chaossim.summary import final_indices, phase_axes, reduce_for_plot

from .plotting.test_sweep import sweep_dataset


def test_final_indices_take_each_points_last_finite_step(rng):
    ds = sweep_dataset(rng, {"g": [1.0, 2.0], "T": [5.0, 10.0]}, n_age=4)
    a = ds["Es"].values
    a[0, 0, 2:] = np.nan      # stopped after two steps
    a[1, 1, :] = np.nan       # never logged
    a[0, 1, 1] = np.nan       # a gap before the last step does not matter
    finals = final_indices(ds)
    assert set(finals) == set(index_names())
    assert finals["Es"][0, 0] == a[0, 0, 1] and finals["Es"][0, 1] == a[0, 1, 3] and finals["Es"][1, 0] == a[1, 0, 3]
    assert math.isnan(finals["Es"][1, 1])


def test_phase_axes(rng):
    assert phase_axes(sweep_dataset(rng, {"seed": [0, 1], "T": [1.0, 2.0], "k": [1, 2], "g": [1.0, 2.0]})) == ("g", "T")
    assert phase_axes(sweep_dataset(rng, {"seed": [0, 1], "k": [1, 2], "M": [10, 20, 30], "g": [1.0]})) == ("k", "M")
    assert phase_axes(sweep_dataset(rng, {"arch": ["deep", "restricted"], "T": [1.0, 2.0]})) == ("T",)
    assert phase_axes(sweep_dataset(rng, {"seed": [0, 1, 2], "g": [1.5]})) == ()


def test_reduce_for_plot_averages_seeds_fixes_others_and_orders_axes(rng):
    ds = sweep_dataset(rng, {"T": [1.0, 2.0, 3.0], "seed": [0, 1], "k": [0.5, 0.7], "g": [1.0, 2.0]})
    values = rng.normal(size=(3, 2, 2, 2))
    values[1, 0, 0, 1] = np.nan
    arr, notes = reduce_for_plot(ds, values, ("g", "T"))
    want = np.empty((2, 3))
    for gi in range(2):
        for ti in range(3):
            seeds = [values[ti, s, 0, gi] for s in range(2) if not math.isnan(values[ti, s, 0, gi])]
            want[gi, ti] = sum(seeds) / len(seeds)
    np.testing.assert_allclose(arr, want, rtol=1e-12)
    assert notes == ["k=0.5", "mean over 2 seeds"]
