"""The chaos study's sweep pieces: init_spread as a grid dimension (alone and grouped), the diversity records,
their spec keys, and the study tables and figures (chaossim.sweep.study, chaossim.plotting.study)."""
import json

import numpy as np
import pytest

from chaossim.errors import ConfigError
from chaossim.sweep.spec import parse_spec
from chaossim.sweep.store import open_sweep, with_default_settings
from chaossim.sweep.study import exponent_markdown, exponent_table, final_table, markdown_tables, write_report

from .conftest import max_difference, run_groups_in_process, run_in_process, tiny_text

RECORD = """spreads = [0.01, 1.0]
n_diversity = 4
t_long = 30.0
n_long = 5
ftle_starts = 3
asymptotic_burn = 20.0
asymptotic_window = 40.0
asymptotic_replicas = 2
growth_spreads = [0.01]
growth_at = [1.0, 6.0]
n_growth = 3
"""


def study_spec():
    text = tiny_text(g="[1.0, 3.0]", T="[10.0]", extra_grid="seed = [0, 1]\ninit_spread = [0.01, 1.0]", steps=10,
                     backend='dtype = "float64"') + RECORD
    text = text.replace("[training]\n", "[training]\nchaos_every = 5\nsnapshot_every = 5\n")
    return parse_spec(text, default_name="study")


@pytest.fixture(scope="module")
def study_store(tmp_path_factory):
    spec = study_spec()
    store = tmp_path_factory.mktemp("study") / "s.zarr"
    run_in_process(spec, store)
    return spec, store


def test_the_store_holds_the_diversity_records(study_store):
    spec, store = study_store
    ds = open_sweep(store)
    assert ds["done"].values.all()
    assert ds["div_distance"].dims == ("g", "T", "seed", "init_spread", "spread")
    assert ds["div_pr_t"].dims == ("g", "T", "seed", "init_spread", "spread", "t")
    assert list(ds["spread"].values) == [0.01, 1.0]
    for name in ("div_distance", "div_pr", "div_distinct", "div_distinct_long", "div_distance_t"):
        assert np.isfinite(ds[name].values).all(), name
    # at t = 0 the runs are their starts: n_diversity = 4 distinct ones, and spread 0.01 gives about 1 % of the
    # pairwise distance of independent starts (phi' <= 1 only shrinks differences)
    d0 = ds["div_distance_t"].sel(t=0.0)
    ratio = (d0.sel(spread=0.01) / d0.sel(spread=1.0)).values
    assert np.all(ratio < 0.02)
    assert np.all(ds["div_distinct_t"].sel(t=0.0, spread=1.0).values == 4)
    assert ds["lambda_max"].sizes["t_age_chaos"] == 3


def test_init_spread_changes_training(study_store):
    _, store = study_store
    ds = open_sweep(store)
    a = ds["param_A"].sel(init_spread=0.01).values
    b = ds["param_A"].sel(init_spread=1.0).values
    assert np.abs(a - b).max() > 0


@pytest.mark.slow
def test_grouped_sweep_with_init_spread_equals_points_alone(study_store, tmp_path):
    spec, store = study_store
    groups = run_groups_in_process(spec, tmp_path / "grouped.zarr")
    assert max(len(g) for g in groups) > 1
    assert max_difference(store, tmp_path / "grouped.zarr") <= 1e-12


def test_final_table_against_numpy(study_store):
    _, store = study_store
    ds = open_sweep(store)
    tab = final_table(ds)
    last = ds["E2"].isel(t_age=-1).values  # every point logged its last step
    axis = list(ds["E2"].dims).index("seed")
    for i_eps, eps in enumerate(ds["init_spread"].values):
        want_mean = last.mean(axis=axis)[..., i_eps]
        want_sd = last.std(axis=axis, ddof=1)[..., i_eps]
        got = tab.sel(init_spread=eps)
        np.testing.assert_allclose(got["E2_mean"].transpose("g", "T").values, want_mean, rtol=1e-12)
        np.testing.assert_allclose(got["E2_sd"].transpose("g", "T").values, want_sd, rtol=1e-12)
    text = markdown_tables(ds, indices=["E2"])
    assert text.count("| 1 |") == 2 and text.count("| 3 |") == 2 and "±" in text
    assert text.index("independent starts") < text.index("init_spread = 0.01")


def test_report_writes_tables_numbers_and_figures(study_store, tmp_path):
    _, store = study_store
    written = {p.name for p in write_report(store, tmp_path / "out")}
    assert {"tables.md", "numbers.json", "indices_vs_g.png", "control_vs_normal.png", "diversity_vs_lambda.png",
            "lambda_along_training.png", "ftle_along_training.png", "exponents.png", "detectability.png",
            "growth.png"} <= written
    numbers = json.loads((tmp_path / "out" / "numbers.json").read_text())
    assert numbers["points_done"] == 8
    assert set(numbers["E2"]) == {"0.01", "1"} and set(numbers["E2"]["1"]) == {"1", "3"}
    assert numbers["distance_ratio"]["1"]["1"]["3"]["10"] == pytest.approx(1.0)
    ds = open_sweep(store)
    want = ds["lyap_asym"].sel(init_spread=1.0, g=3.0, T=10.0, twin="untrained").mean("seed")
    assert numbers["lyap_asym"]["1"]["untrained"]["3"]["10"] == pytest.approx(float(want), rel=1e-12)
    text = (tmp_path / "out" / "tables.md").read_text()
    assert "**Lyapunov exponents at T = 10**" in text and "**Detectability**" in text


@pytest.mark.parametrize("line, what", [("spreads = [0.0]", "spreads"), ("spreads = [1.5]", "spreads"),
                                        ("spreads = [0.1, 0.1]", "spreads"), ("n_diversity = 1", "n_diversity"),
                                        ("t_long = -1.0", "t_long"), ("distinct_tol = 0", "distinct_tol"),
                                        ("spreads = 0.1", "spreads")])
def test_bad_record_keys(line, what):
    with pytest.raises(ConfigError, match=what):
        parse_spec(tiny_text() + line + "\n")


def test_bad_init_spread_on_the_grid_names_the_point():
    with pytest.raises(ConfigError, match="init_spread"):
        parse_spec(tiny_text(extra_grid="init_spread = [0.0, 1.0]"))


def test_a_spec_stored_before_the_new_keys_reads_as_their_defaults():
    spec = parse_spec(tiny_text())
    old = json.loads(json.dumps(spec.canonical()))
    for key in ("spreads", "n_diversity", "t_long", "n_long", "distinct_tol"):
        del old["record"][key]
    del old["base"]["dynamics"]["init_spread"]
    assert with_default_settings(old) == json.loads(json.dumps(spec.canonical()))


def test_exponent_table_against_numpy(study_store):
    """Trained: the finite-time exponent at the last step; untrained: at step 0; mean and sd over the seeds."""
    _, store = study_store
    ds = open_sweep(store)
    tab = exponent_table(ds)
    ftle = ds["ftle"].values  # (g, T, seed, init_spread, t_age_ftle)
    axis = list(ds["ftle"].dims).index("seed")
    for twin, k in (("trained", -1), ("untrained", 0)):
        got = tab.sel(twin=twin).transpose("init_spread", "g", "T")
        want = np.moveaxis(ftle[..., k], -1, 0)  # init_spread first
        np.testing.assert_allclose(got["ftle_mean"].values, want.mean(axis=axis + 1), rtol=1e-12)
        np.testing.assert_allclose(got["ftle_sd"].values, want.std(axis=axis + 1, ddof=1), rtol=1e-12)
        conv = np.moveaxis(ds["lyap_asym_converged"].sel(twin=twin).values, -1, 0).sum(axis=axis + 1)
        np.testing.assert_array_equal(got["converged"].values, conv)
    text = exponent_markdown(ds)
    assert text.count("| - | 1 |") == 1 and "FTLE untrained" in text
    row = [line for line in text.splitlines() if line.startswith("| - | 3 |")][0]
    mean = float(tab.sel(init_spread=1.0, g=3.0, T=10.0, twin="untrained")["ftle_mean"])
    assert f"{mean:+.3g}" in row


@pytest.mark.parametrize("name", ["indices_vs_g", "diversity_vs_lambda", "lambda_along_training", "detectability"])
def test_study_legends_sit_outside_the_panels_and_are_readable(study_store, name):
    """No legend covers a panel (the old diversity figure hid its curve under it) and none is tiny."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from chaossim.sweep.study import study_figures

    _, store = study_store
    fig = study_figures(store)[name]
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for leg in legends:
        box = leg.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), f"{name}: a legend covers a panel"
        assert min(t.get_fontsize() for t in leg.get_texts()) >= 7


def _page_rows(text: str, first: str, ncells: int) -> list[list[str]]:
    """The table rows of a docs page that start with ``| first |`` and have ``ncells`` cells (minus signs
    normalised)."""
    rows = []
    for line in text.replace("\u2212", "-").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith(f"| {first} |") and len(cells) == ncells:
            rows.append(cells)
    return rows


def test_the_study_page_quotes_its_stored_numbers():
    """docs/chaos_study.md quotes the exponents at T = 50 and the detectability table of the numbers.json that
    `python -m chaossim.sweep.study` wrote beside it: a page left behind by a new study run fails here."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    text = (docs / "chaos_study.md").read_text(encoding="utf-8")
    numbers = json.loads((docs / "chaos_study" / "numbers.json").read_text(encoding="utf-8"))
    arch = {"random": "restricted", "symmetric": "restricted-symmetric"}
    rows = [r for a in arch for r in _page_rows(text, a, 6)]
    assert len(rows) == 6, "the exponent table at T = 50 (random and symmetric couplings, 3 g each)"
    for couplings, g, *cells in rows:
        want = [numbers[key][arch[couplings]]["1"][twin][g]["50"] for key, twin in
                (("ftle", "untrained"), ("ftle", "trained"), ("lyap_asym", "untrained"), ("lyap_asym", "trained"))]
        got = [float(c.split("±")[0]) for c in cells]
        np.testing.assert_allclose(got, want, atol=5.1e-5, err_msg=f"{couplings}, g = {g}")
    rows = [r for a in arch for r in _page_rows(text, a, 7)]
    assert len(rows) == 18, "the detectability table (2 couplings x 3 g x 3 T)"
    for couplings, g, t, lt_untrained, lt_trained, small, large in rows:
        a = arch[couplings]
        got = [float(v.strip("*")) for v in [lt_untrained, lt_trained, *small.split(", "), *large.split(", ")]]
        want = [numbers["ftle_T"][a]["1"][twin][g][t] for twin in ("untrained", "trained")]
        want += [numbers["ln_growth_T"][a]["1"][twin][eps][g][t] for eps in ("0.001", "0.1")
                 for twin in ("untrained", "trained")]
        np.testing.assert_allclose(got, want, atol=5.1e-3, err_msg=f"{couplings}, g = {g}, T = {t}")
