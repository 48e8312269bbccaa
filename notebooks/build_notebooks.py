"""Writes the four notebooks from the cell sources below (run: python notebooks/build_notebooks.py).

The notebooks read a sweep store (default ../quickstart.zarr, the README's first command; override with
the CHAOSSIM_STORE environment variable) and call chaossim's functions; no physics is written inside them.
The figures of chaossim.plotting are returned as matplotlib Figures: a cell that ends with one displays it.
Notebook 03 needs no store. Notebook 04 (the chaos study, docs/chaos_study.md) reads the store named by
CHAOSSIM_STUDY_STORE, default ../chaos_study_ci.zarr, which it makes with sweeps/chaos_study_ci.toml when it
does not exist (that needs FashionMNIST). What is missing is said in the notebook, with the command that
brings it; the README's "Notebooks" section lists the order and what each needs.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

OPEN = '''import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

store = os.environ.get("CHAOSSIM_STORE", "../quickstart.zarr")   # made by the README's first command
if not (Path(store) / "zarr.json").is_file():
    raise SystemExit(f"No sweep store at {store}. Make it in the repository's root (about 2 min on 2 CPU cores):\\n"
                     "    chaossim sweep sweeps/quickstart.toml --store quickstart.zarr\\n"
                     "or set CHAOSSIM_STORE to the path of another sweep store before starting Jupyter.")
ds = xr.open_zarr(store)
indices = list(ds.attrs["index_names"])
others = [d for d in ds.attrs["grid_dims"] if d not in ("g", "T")]   # e.g. seed: averaged over below
ds'''

PHASE = [
    new_markdown_cell("# 1. A sweep store: phase diagrams over (g, T) and training curves\n\n"
                      "`xarray.open_zarr` is all it takes. Each index is at T* = T along training (`t_age`); "
                      "lower is better."),
    new_code_cell(OPEN),
    new_code_cell('''print(ds.status.to_series().value_counts())
from chaossim.sweep.report import best_points_table
print(best_points_table(ds))'''),
    new_markdown_cell("## Phase diagram of each index at the last training step\n\n"
                      "The figure `chaossim sweep-report` saves, drawn from the dataset (seeds averaged over)."),
    new_code_cell('''from chaossim.plotting import plot_phase_diagram

plot_phase_diagram(ds)'''),
    new_markdown_cell("## Training curves: each index vs t_age, one line per g, for each T"),
    new_code_cell('''curves = ds[indices].mean(others) if others else ds[indices]
fig, axes = plt.subplots(len(ds["T"]), len(indices), figsize=(4.2 * len(indices), 2.8 * len(ds["T"])),
                         constrained_layout=True, squeeze=False)
for row, T in enumerate(ds["T"].values):
    for ax, name in zip(axes[row], indices):
        curves[name].sel(T=T).plot.line(ax=ax, x="t_age", hue="g", add_legend=(ax is axes[row][0]))
        ax.set_title(f"{name}, T = {T:g}")
        if name in ("E2", "Es"):
            ax.set_yscale("log")
plt.show()'''),
]

ONE = [
    new_markdown_cell("# 2. One trained model: samples over time, receptive fields, indices vs t\n\n"
                      "We take the point with the lowest E(AAI) at the last training step."),
    new_code_cell(OPEN),
    new_code_cell('''from chaossim.sweep import point_model

final = ds["EAAI"].isel(t_age=-1).where(ds["done"]).compute()
where = final.argmin(dim=list(ds.attrs["grid_dims"]))
coords = {d: ds[d].values[int(where[d])].item() for d in ds.attrs["grid_dims"]}
print("best point:", coords)
model, config = point_model(store, **coords)
point = ds.sel(coords)
image_shape = tuple(ds.attrs["image_shape"])
model'''),
    new_markdown_cell("## Samples over generation time t (stored trajectories), data for comparison"),
    new_code_cell('''from chaossim.plotting import mosaic, to_grey

traj = point["trajectory"].values                      # (traj_sample, traj_time, feature)
times = point["traj_time"].values
pick = np.linspace(0, len(times) - 1, 9).astype(int)
frames = to_grey(traj[:, pick].reshape(-1, traj.shape[-1]), image_shape)
plt.figure(figsize=(9, 4.5))
plt.imshow(mosaic(frames, n_cols=len(pick)), cmap="gray_r", vmin=0, vmax=1)
plt.title("rows: free runs; columns: t = " + ", ".join(f"{t:g}" for t in times[pick]))
plt.axis("off"); plt.show()
plt.figure(figsize=(9, 1.5))
plt.imshow(mosaic(to_grey(ds["data_samples"].values, image_shape), n_cols=16), cmap="gray_r", vmin=0, vmax=1)
plt.title("held-out data"); plt.axis("off"); plt.show()'''),
    new_markdown_cell("## Long after T the dynamics falls onto a few fixed points (the model regenerated from the store)"),
    new_code_cell('''T = config.dynamics.T
model.rng = model.bk.rng(0)
late = model.generate(12, [T, 10 * T, 40 * T])
plt.figure(figsize=(9, 2.5))
plt.imshow(mosaic(to_grey(late.reshape(-1, late.shape[-1]), image_shape), n_cols=12), cmap="gray_r", vmin=0, vmax=1)
plt.title(f"rows: t = {T:g}, {10 * T:g}, {40 * T:g}"); plt.axis("off"); plt.show()'''),
    new_markdown_cell("## Receptive fields (W + A)/g of 9 hidden units (paper Fig. 4)"),
    new_code_cell('''from chaossim.plotting import plot_receptive_fields

plot_receptive_fields(model.params, image_shape, g=model.g, n=9)'''),
    new_markdown_cell("## The indices vs generation time t (paper Fig. 3b): best near t = T"),
    new_code_cell('''fig, axes = plt.subplots(1, len(indices), figsize=(4.2 * len(indices), 3.2), constrained_layout=True)
for ax, name in zip(axes, indices):
    series = point[f"{name}_t"]
    ax.plot(series["t"].values[1:], series.values[1:], "o-")
    ax.axvline(T, ls="--", c="k"); ax.set_xscale("log"); ax.set_xlabel("t"); ax.set_title(name)
plt.show()'''),
]

CHAOS = [
    new_markdown_cell("# 3. Chaos and learning\n\nThe untrained unrestricted network against dynamical "
                      "mean-field theory, and how training suppresses chaos \"just enough\"."),
    new_code_cell('''import os, tempfile
import matplotlib.pyplot as plt
import numpy as np

import chaossim as cs
from chaossim.chaos import dmft_phi_variance, dmft_variance, lyapunov_max'''),
    new_markdown_cell("## Stationary variance of v: simulation (N = 1000) vs DMFT; it vanishes below g = 1"),
    new_code_cell('''gs = [0.5, 0.8, 1.5, 2.0, 3.0]
sim = []
for g in gs:
    m = cs.Unrestricted(1000, g=g, seed=1, dtype="float64", dt=1.0, tau=10.0)
    _, traj = m.run(m.random_state(8), 1500, record=range(500, 1501, 10))
    sim.append(float(traj["v"].var()))
grid = np.linspace(0.3, 3.2, 60)
plt.plot(grid, [dmft_variance(g) for g in grid], label="DMFT $\\\\Delta_0$")
plt.plot(gs, sim, "o", label="simulation, N = 1000")
plt.xlabel("g"); plt.ylabel("stationary variance of v"); plt.legend(); plt.show()
print({g: (round(s, 4), round(dmft_variance(g), 4)) for g, s in zip(gs, sim)})'''),
    new_markdown_cell("## Largest Lyapunov exponent vs g (negative below the transition at g = 1)"),
    new_code_cell('''gl = [0.5, 0.8, 1.2, 2.0, 4.0]
lam = [lyapunov_max(cs.Unrestricted(400, g=g, seed=0), t_run=300.0, n_replicas=4) for g in gl]
plt.errorbar(gl, [r.value * 10 for r in lam], [r.stderr * 10 for r in lam], fmt="o-", label="simulation")
low = np.linspace(0.3, 1.0, 30)
plt.plot(low, np.sqrt(low) - 1, "--", label="linear stability of v = 0: $\\\\sqrt{g} - 1$")
plt.axhline(0, c="k", lw=0.5); plt.xlabel("g"); plt.ylabel("$\\\\lambda_{max}\\\\,\\\\tau$"); plt.legend(); plt.show()'''),
    new_markdown_cell("## Over training: lambda_max, activity variance and singular values of A vs t_age\n\n"
                      "A short restricted run on digits that records the chaos probe and parameter snapshots; "
                      "everything below reads that run directory."),
    new_code_cell('''run = tempfile.mkdtemp(prefix="chaossim-nb3-")
cfg = cs.RunConfig().replace(**{"model.n_hidden": 64, "model.g": 1.5, "dynamics.T": 30.0, "training.steps": 200,
                                "training.batch_size": 200, "training.k": 0.05, "training.log_every": 100,
                                "training.n_eval": 300, "training.chaos_every": 20, "training.snapshot_every": 20})
result = cs.train(cfg, run, progress=False)
_, _, ck = cs.load_run(run)
chaos = ck["chaos"]
from chaossim.plotting import plot_chaos_vs_age

plot_chaos_vs_age(chaos["t_age"], np.asarray(chaos["lambda_max"]) * cfg.dynamics.tau, chaos["activity_var"])'''),
    new_code_cell('''from chaossim.analysis import singular_value_trajectories, svd_modes
from chaossim.plotting import plot_modes, plot_singular_values

steps, S = singular_value_trajectories(run, which="A", k=8)
display(plot_singular_values(steps, S, title="singular values of A"))
U, s, Vt = svd_modes(result.model.params["A"], 6)
plot_modes(U, (8, 8), k=6, title="top left singular vectors of A")'''),
]

STUDY = [
    new_markdown_cell("# 4. Where does chaos matter? The g x T chaos study\n\n"
                      "Reads a store of `sweeps/chaos_study.toml` (the full study: set `CHAOSSIM_STUDY_STORE`) or, "
                      "by default, of its reduced version `sweeps/chaos_study_ci.toml`, made here if absent. "
                      "`init_spread` is the control: the free runs of every training step start from one shared "
                      "random state plus perturbations of that size (1: independent starts). See the docs page "
                      "*The chaos study* for the question and the answer."),
    new_code_cell('''import os
import shlex
import subprocess
import sys
from pathlib import Path

from chaossim.data import load_dataset
from chaossim.errors import DataError

store = Path(os.environ.get("CHAOSSIM_STUDY_STORE", "../chaos_study_ci.zarr"))
if not store.exists():   # the reduced study, about a minute on 2 CPU cores
    try:   # it trains on FashionMNIST
        load_dataset("fashion-mnist", n_train=200, n_test=50)
    except DataError as exc:
        raise SystemExit(f"This notebook makes the reduced chaos study (sweeps/chaos_study_ci.toml) into {store}, "
                         f"which trains on FashionMNIST. {exc}\\nOr set CHAOSSIM_STUDY_STORE to a store made by "
                         "sweeps/chaos_study.toml or sweeps/chaos_study_ci.toml.") from None
    command = [sys.executable, "-m", "chaossim", "sweep", "../sweeps/chaos_study_ci.toml", "--store", str(store),
               "--no-progress", "--no-report", "--dashboard", "none"]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode != 0:
        said = [line for line in lines if "error" in line] or lines[-3:]
        raise SystemExit(f"The sweep that makes {store} stopped (exit status {done.returncode}):\\n"
                         + "\\n".join(said) + "\\nThe command, to run in a terminal from this folder:\\n"
                         + shlex.join(command[2:]))
    print(f"made {store.name}:", lines[-1].split("; store:")[0] if lines else "")

from chaossim.sweep import open_sweep
from chaossim.sweep import study

ds = open_sweep(store)
print(ds.attrs["name"], dict(ds.sizes))
print(ds.status.to_series().value_counts())'''),
    new_markdown_cell("## The indices at the end of training over g x T (mean ± sd over seeds)\n\n"
                      "With independent starts (`init_spread = 1`) and with the shared-start control."),
    new_code_cell('''from IPython.display import Markdown

Markdown(study.markdown_tables(ds))'''),
    new_markdown_cell("## Indices vs g at each T, with the seed spread"),
    new_code_cell('''from chaossim.plotting import study as study_plots

final = study.final_table(ds)
study_plots.plot_indices_vs_g(final)'''),
    new_markdown_cell("## The control against normal training\n\n"
                      "Points on the diagonal: training from one shared start learned as well as from "
                      "independent starts."),
    new_code_cell('''study_plots.plot_control_vs_normal(final)'''),
    new_markdown_cell("## Diversity vs lambda_max\n\n"
                      "Free runs of the trained model from one start plus a tiny perturbation: only dynamics "
                      "that amplify differences make them as different as runs from independent starts."),
    new_code_cell('''study_plots.plot_diversity_vs_lambda(study.point_table(ds))'''),
    new_code_cell('''Markdown(study.diversity_markdown(ds))'''),
    new_markdown_cell("## lambda_max along training"),
    new_code_cell('''study_plots.plot_lambda_along_training(study.chaos_table(ds))'''),
    new_markdown_cell("## Chaos where the samples are made\n\n"
                      "The finite-time exponent over the generation window [0, T] and the asymptotic exponent, "
                      "of the trained models and of their untrained twins, random against symmetric couplings; "
                      "then the detectability line: a perturbation of size eps of a shared start reaches O(1) "
                      "by t = T only where lambda T >= ln(1/eps)."),
    new_code_cell('''Markdown(study.exponent_markdown(ds) + "\\n" + study.detectability_markdown(ds))'''),
    new_code_cell('''points = study.point_table(ds)
display(study_plots.plot_ftle_along_training(study.ftle_table(ds)))
study_plots.plot_detectability(points)'''),
]


def main():
    for name, cells in (("01_sweep_phase_diagram", PHASE), ("02_one_trained_model", ONE),
                        ("03_chaos_and_learning", CHAOS), ("04_chaos_study", STUDY)):
        nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"}})
        nbformat.write(nb, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
