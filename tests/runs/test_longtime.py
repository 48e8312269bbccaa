"""`chaossim analyze RUN`: the long-time states of a trained run (chaossim.runs.longtime) are those of the Python API
(chaossim.analysis), and the distinct states counted here by brute force (single linkage over all pairs)."""
import json
import math
import shutil

import numpy as np
import pytest

from chaossim.analysis import fixed_points
from chaossim.cli import main
from chaossim.errors import ConfigError
from chaossim.io import load_npz
from chaossim.runs.longtime import analyze_run
from chaossim.runs.rundir import load_run


def _clusters(points: np.ndarray, tol: float) -> list[int]:
    """Sizes of the single-linkage clusters (pairs closer than tol joined), by union-find over all pairs."""
    parent = list(range(len(points)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            if np.sqrt(((points[i] - points[j]) ** 2).sum()) < tol:
                parent[root(i)] = root(j)
    roots = [root(i) for i in range(len(points))]
    return sorted((roots.count(r) for r in set(roots)), reverse=True)


def test_analyze_command_writes_the_states_the_api_finds(tiny_trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_trained_run, run)
    out = tmp_path / "an"
    assert main(["analyze", str(run), "--t-long", "10", "200", "-n", "12", "--seed", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "distinct" in printed and f"{out / 'long_time.png'}" in printed
    res = json.loads((out / "analysis.json").read_text())
    assert res["t_long"] == [10.0, 200.0] and res["n"] == 12
    _, model, _ = load_run(run)
    for i, t in enumerate(res["t_long"]):
        lt = fixed_points(model, 12, t, 3, tol=1e-4)
        sizes = _clusters(lt.points, 1e-2 * math.sqrt(lt.points.shape[1]))
        assert res["n_distinct"][i] == len(sizes)
        assert res["n_fixed"][i] == int((lt.speed * model.tau < 1e-4).sum())
    assert sorted(res["counts"], reverse=True) == sizes  # the last t
    z = load_npz(out / "long_time_states.npz")
    assert z["states"].shape == (len(sizes), 64) and z["counts"].sum() == 12
    assert (out / "long_time.png").stat().st_size > 0 and (out / "long_time.pdf").is_file()
    assert "runs per state" in (out / "analysis.txt").read_text()


def test_analyze_defaults_and_refusals(tiny_trained_run):
    res = analyze_run(tiny_trained_run, n=4)
    assert res["t_long"].tolist() == [10.0, 100.0, 500.0]  # T, 10 T, 50 T of the run (T = 10)
    with pytest.raises(ConfigError, match="multiples of the time step"):
        analyze_run(tiny_trained_run, [10.5], n=4)
    with pytest.raises(ConfigError, match="n \\(free runs\\)"):
        analyze_run(tiny_trained_run, n=1)


def test_analyze_gives_the_exponents_of_the_run_and_its_untrained_twin(tiny_trained_run, tmp_path, capsys):
    from chaossim import streams
    from chaossim.backend import derive_seed
    from chaossim.chaos.ftle import asymptotic_exponent, finite_time_exponent, untrained_twin

    out = tmp_path / "an"
    args = ["analyze", str(tiny_trained_run), "--t-long", "10", "-n", "4", "--seed", "2", "--ftle-starts", "5",
            "--t-burn", "20", "--t-window", "40", "--out", str(out)]
    assert main(args) == 0
    assert "asymptotic" in capsys.readouterr().out
    ex = json.loads((out / "analysis.json").read_text())["exponents"]
    assert ex["ftle_starts"] == 5 and ex["t_burn"] == 20.0 and ex["t_window"] == 40.0
    config, model, _ = load_run(tiny_trained_run)
    seed = derive_seed(2, streams.ANALYSIS_FTLE)
    for name, m in (("trained", model), ("untrained", untrained_twin(model))):
        f = finite_time_exponent(m, config.dynamics.T, n_starts=5, seed=seed)
        a = asymptotic_exponent(m, t_burn=20.0, t_window=40.0, seed=seed)
        assert ex[name]["ftle"] == pytest.approx(f.value, rel=1e-12) and ex[name]["ftle_sd"] == pytest.approx(f.sd)
        assert ex[name]["asymptotic"] == pytest.approx(a.value, rel=1e-12)
        assert ex[name]["converged"] == a.converged
    assert "FTLE" in (out / "analysis.txt").read_text()
    assert "exponents" not in analyze_run(tiny_trained_run, [10.0], n=4, ftle_starts=0)
    for kw, match in ((dict(ftle_starts=1), "ftle_starts"), (dict(t_window=30.0), "even number")):
        with pytest.raises(ConfigError, match=match):
            analyze_run(tiny_trained_run, [10.0], n=4, **kw)
