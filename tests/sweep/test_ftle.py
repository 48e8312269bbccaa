"""The finite-time exponent records of a sweep point (chaossim.sweep.ftle): their layout, the values each point
writes (the measures of chaossim.chaos.ftle on the untrained twin, the snapshots and the trained model, from the
point's streams), their spec keys, and a missing snapshot."""

import json

import numpy as np
import pytest

from chaossim.backend import derive_seed
from chaossim.chaos.ftle import asymptotic_exponent, finite_time_exponent, perturbation_growth
from chaossim.errors import ConfigError, StoreError
from chaossim.io import load_npz
from chaossim.runs.build import build_model
from chaossim.streams import SWEEP_ASYMPTOTIC, SWEEP_FTLE, SWEEP_GROWTH
from chaossim.sweep.ftle import growth_times, record
from chaossim.sweep.spec import FTLE_RECORD_KEYS, parse_spec
from chaossim.sweep.store import open_sweep, runs_dir, with_default_settings

from .conftest import run_in_process, tiny_text

RECORD = """ftle_starts = 4
asymptotic_burn = 20.0
asymptotic_window = 40.0
asymptotic_replicas = 3
growth_spreads = [0.001, 0.1]
growth_at = [0.5, 1.0, 6.0]
n_growth = 4
"""


def ftle_spec():
    text = tiny_text(g="[4.0]", T="[10.0, 15.0]", extra_grid='arch = ["restricted", "restricted-symmetric"]',
                     steps=10, backend='dtype = "float64"') + RECORD
    text = text.replace('arch = "restricted"\n', "").replace("[training]\n", "[training]\nsnapshot_every = 5\n")
    return parse_spec(text, default_name="ftle")


@pytest.fixture(scope="module")
def ftle_store(tmp_path_factory):
    spec = ftle_spec()
    store = tmp_path_factory.mktemp("ftle") / "f.zarr"
    run_in_process(spec, store)
    return spec, store


def test_the_store_holds_the_finite_time_records(ftle_store):
    _, store = ftle_store
    ds = open_sweep(store)
    assert ds["done"].values.all()
    assert ds["ftle"].dims == ("g", "T", "arch", "t_age_ftle") and list(ds["t_age_ftle"].values) == [0, 5, 10]
    assert ds["lyap_asym"].dims == ("g", "T", "arch", "twin") and list(ds["twin"].values) == ["trained", "untrained"]
    assert ds["growth"].dims == ("g", "T", "arch", "twin", "growth_spread", "growth_at")
    for name in ("ftle", "ftle_sd", "lyap_asym", "lyap_asym_se", "lyap_asym_half", "lyap_asym_converged", "growth"):
        assert np.isfinite(ds[name].values).all(), name
    assert set(np.unique(ds["lyap_asym_converged"].values)) <= {0.0, 1.0}
    assert ds.attrs["ftle"]["ftle_starts"] == 4 and ds.attrs["growth"]["n_growth"] == 4


def test_each_value_is_the_measure_of_its_model(ftle_store):
    """Step 0: the untrained twin (a fresh model of the seed); step 5: the snapshot in the point's run directory;
    the last step: the stored trained parameters. Each from the point's own streams."""
    spec, store = ftle_store
    ds = open_sweep(store)
    rec = spec.record
    for i in range(spec.n_points):
        cfg = spec.config(i)
        point = ds.sel(spec.point_values(i))
        seed, T = cfg.model.seed, cfg.dynamics.T
        untrained = build_model(cfg, int(ds.sizes["feature"]))
        snap = build_model(cfg, untrained.n_visible)
        snap.set_params(**load_npz(runs_dir(store) / spec.point_key(i) / "snapshots" / "step_0000005.npz"))
        trained = build_model(cfg, untrained.n_visible)
        trained.set_params(**{k: point[f"param_{k}"].values for k in trained.params})
        for step, m in ((0, untrained), (5, snap), (10, trained)):
            r = finite_time_exponent(m, T, n_starts=rec.ftle_starts, seed=derive_seed(seed, SWEEP_FTLE))
            assert float(point["ftle"].sel(t_age_ftle=step)) == pytest.approx(r.value, rel=1e-9, abs=1e-12)
            assert float(point["ftle_sd"].sel(t_age_ftle=step)) == pytest.approx(r.sd, rel=1e-9)
        for twin, m in (("untrained", untrained), ("trained", trained)):
            a = asymptotic_exponent(m, t_burn=rec.asymptotic_burn, t_window=rec.asymptotic_window,
                                    n_replicas=rec.asymptotic_replicas, seed=derive_seed(seed, SWEEP_ASYMPTOTIC))
            assert float(point["lyap_asym"].sel(twin=twin)) == pytest.approx(a.value, rel=1e-9, abs=1e-12)
            assert float(point["lyap_asym_half"].sel(twin=twin)) == pytest.approx(a.half, rel=1e-9, abs=1e-12)
            times = growth_times(rec, T, cfg.dynamics.dt)
            for j, eps in enumerate(rec.growth_spreads):
                g = perturbation_growth(m, times, eps, n=rec.n_growth, seed=derive_seed(seed, SWEEP_GROWTH, j))
                np.testing.assert_allclose(point["growth"].sel(twin=twin, growth_spread=eps).values, g["ratio"],
                                           rtol=1e-9)


def test_growth_times_are_multiples_of_the_points_t_on_the_dt_grid():
    rec = ftle_spec().record
    assert growth_times(rec, 15.0, 1.0) == [8.0, 15.0, 90.0]  # 7.5 rounds to the even 8 steps
    assert growth_times(rec, 1.0, 1.0) == [1.0, 1.0, 6.0]  # never below one step


def test_a_missing_snapshot_is_named_in_one_line(ftle_store, tmp_path):
    spec, store = ftle_store
    cfg = spec.config(0)
    model = build_model(cfg, int(open_sweep(store).sizes["feature"]))
    with pytest.raises(StoreError, match="step 5 .*snapshot") as err:
        record(spec, cfg, model, tmp_path)
    assert "\n" not in str(err.value)


def test_no_records_asked_none_made():
    spec = parse_spec(tiny_text())
    cfg = spec.config(0)
    assert record(spec, cfg, build_model(cfg, 4)) == {}


@pytest.mark.parametrize("line, what", [
    ("ftle_starts = 1", "ftle_starts"), ("ftle_starts = -2", "ftle_starts"), ("asymptotic_replicas = 1", "replicas"),
    ("asymptotic_window = 0.0", "asymptotic_window"), ("asymptotic_burn = -1.0", "asymptotic_burn"),
    ("growth_spreads = [0.0]", "growth_spreads"), ("growth_spreads = [0.1, 0.1]", "growth_spreads"),
    ("growth_spreads = 0.1", "growth_spreads"), ("growth_at = [2.0, 1.0]", "growth_at"),
    ("growth_at = []", "growth_at"),
    ("n_growth = 1", "n_growth"), ("ftle_starts = 4\nasymptotic_window = 30.0", "even number of tau"),
    ("ftle_starts = 4\nasymptotic_burn = 0.5", "multiple of dt"),
])
def test_bad_record_keys(line, what):
    with pytest.raises(ConfigError, match=what) as err:
        parse_spec(tiny_text() + line + "\n")
    assert "\n" not in str(err.value)


def test_a_spec_stored_before_the_finite_time_keys_reads_as_their_defaults():
    spec = parse_spec(tiny_text())
    old = json.loads(json.dumps(spec.canonical()))
    for key in FTLE_RECORD_KEYS:
        del old["record"][key]
    assert with_default_settings(old) == json.loads(json.dumps(spec.canonical()))
