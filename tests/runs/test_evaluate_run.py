"""Post-training evaluation of a run directory (chaossim.runs.evaluate_run): indices vs generation time t
checked against a recomputation with chaossim.metrics, stored samples, atomic files, table, CLI."""
import argparse
import math
import shutil

import numpy as np
import pytest

from chaossim.backend import derive_seed, to_numpy
from chaossim.cli.evaluate import add_parsers
from chaossim.errors import ConfigError, StoreError
from chaossim.metrics import aai_error, index_names, reconstruction_error, second_moment_error, spectrum_error
from chaossim.plotting.paper import ZERO_OFFSET
from chaossim.runs.build import load_data
from chaossim.runs.evaluate_run import (
    BASE_TIMES,
    INDEX_STREAM,
    N_SNAP,
    SAMPLE_STREAM,
    SNAPSHOT_STREAM,
    default_times,
    evaluate_run,
    format_table,
    snapshot_times,
)
from chaossim.runs.plots import figure_of_runs
from chaossim.runs.rundir import load_evaluation, load_run, load_samples


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_trained_run):
    d = tmp_path_factory.mktemp("evalrun") / "run"
    shutil.copytree(tiny_trained_run, d)
    return d


def test_indices_equal_recomputation_with_metrics(run_dir):
    times, seed, n = [1.0, 5.0, 50.0], 3, 80
    res = evaluate_run(run_dir, times=times, n_eval=n, seed=seed)
    np.testing.assert_array_equal(res["t"], [1.0, 5.0, 10.0, 50.0])  # T = 10 is always added

    config, model, _ = load_run(run_dir)
    data = load_data(config).test[:n]
    model.rng = model.bk.rng(derive_seed(seed, INDEX_STREAM))
    generated = model.generate(n, list(res["t"]))  # one set of random starts followed in time
    for i in range(len(res["t"])):
        g = generated[i]
        assert res["E2"][i] == pytest.approx(second_moment_error(data, g), rel=1e-12)
        assert res["Es"][i] == pytest.approx(spectrum_error(data, g), rel=1e-12)
        assert res["EAAI"][i] == pytest.approx(aai_error(data, g), rel=1e-12)
    # E(R) draws its random starts after the generation, time by time
    for i, t in enumerate(res["t"]):
        assert res["ER"][i] == pytest.approx(reconstruction_error(model, data, t), rel=1e-12)
    assert res["at_T"] == {k: res[k][2] for k in index_names()}
    assert res["n_eval"] == n and res["T"] == 10.0

    stored = load_evaluation(run_dir)
    for k in ("t", *index_names()):
        np.testing.assert_array_equal(stored[k], res[k])
    assert stored["T"] == 10.0 and stored["n_eval"] == n and stored["seed"] == seed
    rows = np.loadtxt(run_dir / "evaluation.csv", delimiter=",", skiprows=1)
    header = (run_dir / "evaluation.csv").read_text().splitlines()[0].split(",")
    assert header == ["t", *index_names()]
    np.testing.assert_allclose(rows, np.column_stack([res[k] for k in header]), rtol=1e-5)
    assert (run_dir / "evaluation.txt").read_text().strip() == format_table(res)


def test_stored_samples_follow_one_random_start(run_dir):
    evaluate_run(run_dir, times=[10.0], n_eval=50, seed=1)
    s = load_samples(run_dir)
    config, model, _ = load_run(run_dir)
    T = config.dynamics.T
    test = load_data(config).test
    assert s["T"] == T and s["image_shape"] == (8, 8)
    np.testing.assert_array_equal(s["data"], test[:50])
    assert s["generated"].shape == (50, 64)
    model.rng = model.bk.rng(derive_seed(1, SAMPLE_STREAM))
    np.testing.assert_array_equal(s["generated"], to_numpy(model.generate(50, T)))

    t = s["snapshot_t"]
    assert t[0] == 0 and T in t and t[-1] == 50 * T
    assert s["snapshots"].shape == (len(t), N_SNAP, 64)
    # the snapshots are phi(v(t)) of ONE set of N(0, 1) starts integrated with Euler steps
    model.rng = model.bk.rng(derive_seed(1, SNAPSHOT_STREAM))
    start = model.random_state(N_SNAP)
    np.testing.assert_array_equal(s["snapshots"][0], np.tanh(start["v"]))
    for j in (2, 4):
        steps = round(t[j] / config.dynamics.dt)
        v = model.run(start, steps)["v"]
        np.testing.assert_allclose(s["snapshots"][j], np.tanh(v), atol=1e-6)


def test_files_are_written_atomically(run_dir, monkeypatch):
    evaluate_run(run_dir, times=[5.0], n_eval=40, seed=0)
    before = {name: (run_dir / name).read_bytes() for name in ("evaluation.npz", "evaluation.csv", "samples.npz")}

    def refuse(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr("chaossim.io.os.replace", refuse)
    with pytest.raises(OSError, match="simulated"):
        evaluate_run(run_dir, times=[2.0, 5.0], n_eval=60, seed=9)
    for name, blob in before.items():
        assert (run_dir / name).read_bytes() == blob, name
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_default_times_span_dt_to_20T_with_T():
    assert default_times(100.0, 1.0) == [float(b) for b in BASE_TIMES]
    for T, dt in [(10.0, 1.0), (50.0, 1.0), (20.0, 0.5), (7.0, 1.0)]:
        ts = default_times(T, dt)
        assert ts == sorted(set(ts))
        assert ts[0] == dt and math.isclose(ts[-1], 20 * T, rel_tol=0.05)
        assert T in ts
        assert all(abs(t / dt - round(t / dt)) < 1e-9 for t in ts)
        assert len(ts) >= 7
    snaps = snapshot_times(40.0, 1.0)
    assert snaps == [0.0, 10.0, 20.0, 40.0, 80.0, 200.0, 400.0, 2000.0]


def test_table_lists_every_index_and_time(run_dir):
    res = evaluate_run(run_dir, n_eval=50, seed=2, write=False)
    table = format_table(res)
    lines = table.splitlines()
    header = next(line for line in lines if line.split() and line.split()[0] == "t")
    assert header.split() == ["t", *index_names()]
    body = [line.split() for line in lines if line.split() and _is_number(line.split()[0])]
    assert [float(r[0]) for r in body] == list(res["t"])
    for r, i in zip(body, range(len(res["t"]))):
        for k, text in zip(index_names(), r[1:5]):
            assert float(text) == pytest.approx(res[k][i], rel=1e-3)
    marked = [r for r in body if "<-" in r]
    assert len(marked) == 1 and float(marked[0][0]) == 10.0


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_bad_input_is_refused(run_dir):
    with pytest.raises(ConfigError, match="multiples"):
        evaluate_run(run_dir, times=[2.5], n_eval=20, write=False)
    with pytest.raises(ConfigError, match=">= 0"):
        evaluate_run(run_dir, times=[-1.0], n_eval=20, write=False)
    with pytest.raises(ConfigError, match="n_eval"):
        evaluate_run(run_dir, n_eval=100000, write=False)
    with pytest.raises(StoreError, match="chaossim evaluate"):
        load_evaluation(run_dir.parent)


def test_missing_evaluation_names_the_command(run_dir, tmp_path):
    fresh = tmp_path / "fresh"
    shutil.copytree(run_dir, fresh, ignore=shutil.ignore_patterns("evaluation.*", "samples.npz"))
    for loader in (load_evaluation, load_samples):
        with pytest.raises(StoreError, match=f"run `chaossim evaluate {fresh}` first"):
            loader(fresh)


@pytest.mark.slow
def test_cli_evaluate_and_plot(run_dir, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="chaossim")
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", str(run_dir), "--times", "5", "20", "--n-eval", "40", "--seed", "4"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert all(k in out for k in index_names()) and "<- T" in out
    assert load_evaluation(run_dir)["seed"] == 4
    np.testing.assert_array_equal(load_evaluation(run_dir)["t"], [5.0, 10.0, 20.0])

    args = parser.parse_args(["plot", "receptive-fields", str(run_dir), "--out", str(tmp_path), "-n", "4"])
    assert args.func(args) == 0
    assert (tmp_path / "fig4_receptive_fields.png").stat().st_size > 0
    assert (tmp_path / "fig4_receptive_fields.pdf").stat().st_size > 0
    args = parser.parse_args(["plot", "receptive-fields", str(run_dir), "--out", str(tmp_path), "--part", "A"])
    assert args.func(args) == 0
    assert (tmp_path / "fig4_receptive_fields_A.png").stat().st_size > 0
    args = parser.parse_args(["plot", "training", str(run_dir), str(run_dir), "--out", str(tmp_path),
                              "--label", "a", "b"])
    assert args.func(args) == 0
    assert (tmp_path / "fig5_training.png").is_file()
    args = parser.parse_args(["plot"])
    assert args.func(args) == 2


# ---------------------------------------------------------------------------------------------- figures of runs
@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory, tiny_trained_run):
    d = tmp_path_factory.mktemp("figrun") / "run"
    shutil.copytree(tiny_trained_run, d)
    evaluate_run(d, n_eval=60, seed=0)
    return d


def test_figures_of_runs_draw_the_stored_arrays(evaluated_run):
    """Each figure of `chaossim plot` shows what the run directory holds (the loaders' arrays)."""
    from chaossim.plotting import mosaic, to_grey
    from chaossim.runs.rundir import load_checkpoint

    samples = load_samples(evaluated_run)
    fig = figure_of_runs("samples", [evaluated_run, evaluated_run], labels=["a", "b"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["data", "a", "b"]
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(),
                               mosaic(to_grey(samples["generated"][:12], (8, 8)), 12), atol=1e-6)
    assert [ax.get_ylabel() for ax in figure_of_runs("samples", [evaluated_run]).axes] == ["data", "Restricted (run)"]

    snap = figure_of_runs("snapshots", [evaluated_run])
    assert len(snap.axes) == len(samples["snapshot_t"]) and "T=10" in snap.get_suptitle()

    ev = load_evaluation(evaluated_run)
    ivt = figure_of_runs("indices-vs-t", [evaluated_run])
    (x, y), = [(ln.get_xdata(), ln.get_ydata()) for ln in ivt.axes[2].get_lines() if ln.get_linestyle() == "-"]
    np.testing.assert_array_equal(x, ev["t"][ev["t"] > 0])
    np.testing.assert_allclose(y, ev["EAAI"][ev["t"] > 0])

    hist = load_checkpoint(evaluated_run)["history"]
    tr = figure_of_runs("training", [evaluated_run])
    (x, y), = [(ln.get_xdata(), ln.get_ydata()) for ln in tr.axes[0].get_lines()]
    ages = np.asarray(hist["t_age"], float)  # step 0 (before training) drawn at the left edge of the log axis
    np.testing.assert_allclose(x, np.where(ages == 0, ages[ages > 0].min() / ZERO_OFFSET, ages))

    params = load_checkpoint(evaluated_run)["params"]
    rf = figure_of_runs("receptive-fields", [evaluated_run], n=4, seed=2)
    shown = [ax for ax in rf.axes if ax.images]
    assert len(shown) == 4 and rf.get_suptitle() == "Restricted (run): receptive fields"
    a = int(shown[0].get_title().strip("$a="))
    g = 1.5  # the default config's g
    np.testing.assert_allclose(shown[0].images[0].get_array(),
                               ((params["W"].astype(float) + params["A"])[:, a] / g).reshape(8, 8), rtol=1e-6)


def test_figures_of_runs_errors(evaluated_run, tmp_path):
    fresh = tmp_path / "fresh"
    shutil.copytree(evaluated_run, fresh, ignore=shutil.ignore_patterns("evaluation.*", "samples.npz"))
    for figure in ("samples", "snapshots", "indices-vs-t"):
        with pytest.raises(StoreError, match=f"run `chaossim evaluate {fresh}` first"):
            figure_of_runs(figure, [fresh])
    # receptive fields and training curves need only the checkpoint
    figure_of_runs("receptive-fields", [fresh])
    figure_of_runs("training", [fresh])
    with pytest.raises(ConfigError, match="one label per run"):
        figure_of_runs("training", [fresh], labels=["x", "y"])
    with pytest.raises(ConfigError, match="draws one run"):
        figure_of_runs("snapshots", [fresh, fresh])
    with pytest.raises(ConfigError, match="unknown figure"):
        figure_of_runs("fig9", [fresh])
    with pytest.raises(StoreError, match="no config.toml"):
        figure_of_runs("receptive-fields", [tmp_path])
