"""Build the documentation site: ``python docs/build.py`` (after ``pip install -e ".[docs]"``).

1. The gallery: runs the quickstart sweep (the README's first command) into ``build/docs/quickstart.zarr``,
   whose report is the gallery's phase diagram; trains three small runs (unrestricted, restricted, deep;
   digits, 300 steps) and draws every figure the package makes from them, each with the exact command (or
   Python code) shown on the gallery page.
2. Executes the notebooks of ``notebooks/`` against the quickstart store, keeping their outputs (notebook 04
   makes the reduced chaos study, which needs FashionMNIST: ``apt-get install -y dataset-fashion-mnist``).
3. Runs ``mkdocs build --strict`` into ``site/``: a broken link or API reference, or a page that would load
   anything from outside the site, fails the build.

Slow outputs are kept in ``build/cache/`` under a key made of their inputs (``docs/build_cache.py``): the
quickstart store, each executed notebook and the gallery. The test run stores the first two there
(``tests/test_notebooks.py``), so a build after the tests only draws the gallery and runs MkDocs.
Everything generated goes to ``build/`` (pages in ``build/docs/pages/``, added to the site by
``docs/hooks.py``); nothing is committed. ``--reuse`` keeps the generated pages of the previous build
and only reruns MkDocs (for editing the hand-written pages). Installs nothing; exits non-zero on any
failure, with the failing command's output.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import build_cache  # docs/build_cache.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "docs"
PAGES = WORK / "pages"
GALLERY = "build/docs/pages/gallery"     # as written in the commands (run from ROOT)
RUNS = "build/docs/runs"
STORE = "build/docs/quickstart.zarr"
NEEDS = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_jupyter", "nbclient",
         "nbformat", "ipykernel", "mathjax")


@dataclass
class Entry:
    """One gallery item: shell commands or Python code, run from the repository root, and the figures
    (stems in the gallery folder) they draw."""

    title: str
    text: str
    code: str
    figures: list[str] = field(default_factory=list)
    python: bool = False
    seconds: float = 0.0


TRAIN = ("chaossim train --run {run} --set model.arch={arch}{extra} --set dynamics.T=20 "
         "--set training.steps=300 --set training.batch_size=100 --set training.k=0.1 "
         "--set training.log_every=25 --set training.n_eval=359 --no-progress")
ARCHS = {
    "unrestricted": "",
    "restricted": " --set model.n_hidden=64 --set training.snapshot_every=25 --set training.chaos_every=50",
    "deep": " --set model.n_hidden=64 --set model.n_hidden2=32",
}
THREE = " ".join(f"{RUNS}/{a}" for a in ARCHS)


def entries() -> list[Entry]:
    res = f"{RUNS}/restricted"
    return [
        Entry("Phase diagram of a sweep",
              "The README's first command with the store and the report placed in the build folder: a g × T "
              "grid of the restricted model on the digits (1000 training steps per point). Each panel is one "
              "index at the last training step (lower is better). `chaossim sweep-report STORE --out DIR` "
              "redraws it from the store. The store is a copy of the quickstart store that the test run or an "
              "earlier build made (kept in `build/cache/` under a key of its inputs), so the command finds every "
              "point done and draws the report; on a new store it runs the 12 points first.",
              f"chaossim sweep sweeps/quickstart.toml --store {STORE} --out {GALLERY} --no-progress "
              "--dashboard none",
              ["phase_diagram"]),
        Entry("Training runs and their evaluation",
              "Three small runs (the digits, T = 20, 300 steps of k = 0.1) and, for each, the indices vs "
              "generation time t after training, the samples at t = T and the snapshots that the figures "
              "below read. No figure on this page is the paper's result: these are the package's outputs at "
              "a size that builds in seconds.",
              "\n".join([TRAIN.format(run=f"{RUNS}/{a}", arch=a, extra=x) for a, x in ARCHS.items()]
                        + [f"chaossim evaluate {RUNS}/{a}" for a in ARCHS])),
        Entry("Samples beside data (paper Fig. 2)",
              "Generated samples φ(v(T)) of each run, one row per run, beside held-out data.",
              f"chaossim plot samples {THREE} --out {GALLERY}", ["fig2_samples"]),
        Entry("Snapshots along generation time (paper Fig. 3a)",
              "One set of random starts followed in time, from t = 0 to 50 T: the samples form near t = T; "
              "long after T the dynamics falls onto a few learned fixed points.",
              f"chaossim plot snapshots {res} --out {GALLERY}", ["fig3a_snapshots"]),
        Entry("Indices vs generation time (paper Fig. 3b)",
              "The four indices along generation time t after training, from one set of random starts; the "
              "dashed line marks t = T.",
              f"chaossim plot indices-vs-t {THREE} --out {GALLERY}", ["fig3b_indices_vs_t"]),
        Entry("Receptive fields (paper Fig. 4)",
              "(W_ia + A_ia)/g of randomly chosen hidden units a of the restricted run, as images.",
              f"chaossim plot receptive-fields {res} --out {GALLERY}", ["fig4_receptive_fields"]),
        Entry("Receptive fields of the trained part A",
              "A_ia/g alone, on the scale of the figure above: at a small training budget the fixed W dominates "
              "(W + A)/g, and A shows what training planted.",
              f"chaossim plot receptive-fields {res} --part A --out {GALLERY}", ["fig4_receptive_fields_A"]),
        Entry("Samples at several generation times",
              "`chaossim sample` draws one set of random starts and keeps φ(v(t)) at several t (one column per "
              "t, one row per start); `chaossim plot generated` draws the file it wrote.",
              f"chaossim sample {res} -n 16 -t 10 20 1000\nchaossim plot generated {res} --out {GALLERY}",
              ["generated"]),
        Entry("Long-time states: fixed points and mode collapse",
              "Free runs followed far past T: how many distinct states they reach, which are fixed points, and "
              "the distinct states as images with the number of runs on each (`chaossim analyze`, which also "
              "writes analysis.json/.txt and the states).",
              f"chaossim analyze {res} --out {GALLERY}", ["long_time"]),
        Entry("Indices along training (paper Fig. 5)",
              "The four indices at T* = T vs training step t_age, one curve per run.",
              f"chaossim plot training {THREE} --out {GALLERY}", ["fig5_training"]),
        Entry("Singular values of A over training",
              "The SVD view of learning: the top singular values of the trained matrix A, read from the "
              "parameter snapshots the restricted run wrote every 25 steps (`training.snapshot_every`). The "
              "plotting functions return a matplotlib Figure (a notebook displays it); `save_figure` writes "
              "PNG and PDF.",
              f'from chaossim import analysis\n'
              f'from chaossim.plotting import plot_singular_values, save_figure\n\n'
              f'steps, S = analysis.singular_value_trajectories("{res}", which="A", k=8)\n'
              f'save_figure(plot_singular_values(steps, S, title="singular values of A"), "{GALLERY}/sv_A")',
              ["sv_A"], python=True),
        Entry("Top modes of A and the data projected on them",
              "The top left singular vectors of A (visible side) as images, and held-out data, generated "
              "samples at t = T and long-time states (t = 50 T) projected on the first two.",
              f'import chaossim as cs\nfrom chaossim import analysis\n'
              f'from chaossim.plotting import plot_modes, plot_projections, save_figure\n\n'
              f'config, model, _ = cs.load_run("{res}")\n'
              f'U, s, Vt = analysis.svd_modes(model.params["A"], 9)\n'
              f'save_figure(plot_modes(U, (8, 8), k=9, title="top left singular vectors of A"), "{GALLERY}/modes_A")\n'
              f'data = cs.load_dataset("digits", seed=config.model.seed)\n'
              f'model.rng = model.bk.rng(0)\n'
              f'generated = model.generate(300, config.dynamics.T)\n'
              f'late = analysis.fixed_points(model, 100, 50 * config.dynamics.T, seed=0)\n'
              f'fig = plot_projections(analysis.project(data.test[:300], U, 2), analysis.project(generated, U, 2),\n'
              f'                       analysis.project(late.points, U, 2))\n'
              f'save_figure(fig, "{GALLERY}/projections_A")',
              ["modes_A", "projections_A"], python=True),
        Entry("Chaos along training",
              "The largest Lyapunov exponent of the free dynamics (in units of 1/τ) and the variance of φ(v), "
              "recorded by the trainer every 50 steps (`training.chaos_every`) with a fixed budget of 8 "
              "replicas. How they move with t_age is the lens on how training reshapes the dynamics: the "
              "learned attractors make the free dynamics contract (a more negative exponent) while the activity "
              "takes on the data's contrast.",
              f'import numpy as np\nimport chaossim as cs\n'
              f'from chaossim.plotting import plot_chaos_vs_age, save_figure\n\n'
              f'config, model, checkpoint = cs.load_run("{res}")\n'
              f'chaos = checkpoint["chaos"]\n'
              f'fig = plot_chaos_vs_age(chaos["t_age"], np.asarray(chaos["lambda_max"]) * model.tau, chaos["activity_var"])\n'
              f'save_figure(fig, "{GALLERY}/chaos_vs_age")',
              ["chaos_vs_age"], python=True),
        Entry("Largest Lyapunov exponent of the untrained network vs g",
              "The unrestricted network with A = 0, b = 0 (N = 400, dt = 1, τ = 10), tangent method, 8 "
              "replicas of one network. Below g = 1 the exponent is that of the stable fixed point v = 0, the "
              "dashed curve (the circular law for the Euler map); above g = 1 it turns positive: chaos. Close to "
              "g = 1 a finite network's exponent stays near zero.",
              f'import numpy as np\nimport chaossim as cs\nfrom chaossim.chaos import lyapunov_max\n'
              f'from chaossim.plotting import plot_lyapunov_vs_g, save_figure\n\n'
              f'gs = [0.25, 0.5, 0.75, 1.25, 1.5, 2.0, 3.0, 4.0]\n'
              f'runs = [lyapunov_max(cs.Unrestricted(400, g=g, seed=1), t_burn=200.0, t_run=400.0) for g in gs]\n'
              f'a = 0.1  # dt / tau\n'
              f'low = np.linspace(0.05, 1.0, 40)\n'
              f'fig = plot_lyapunov_vs_g(gs, [r.value * 10 for r in runs], [r.stderr * 10 for r in runs],\n'
              f'                         linear_curve=(low, np.log(1 - a + a * np.sqrt(low)) / a))\n'
              f'save_figure(fig, "{GALLERY}/lyapunov_vs_g")',
              ["lyapunov_vs_g"], python=True),
    ]


# ---------------------------------------------------------------------------------------------- running
def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("NO_MKDOCS_2_WARNING", "1")  # Material's notice about its successor, printed on every build
    return env


def _chaossim_argv(line: str) -> list[str]:
    """The command line as run: ``chaossim`` is this environment's console script (or ``python -m chaossim``)."""
    argv = shlex.split(line)
    if argv[0] == "chaossim":
        script = Path(sys.executable).with_name("chaossim")
        argv = ([str(script)] if script.exists() else [sys.executable, "-m", "chaossim"]) + argv[1:]
    return argv


def run_entry(entry: Entry) -> None:
    started = time.perf_counter()
    if entry.python:
        namespace = {"__name__": "__gallery__"}
        exec(compile(entry.code, f"<gallery: {entry.title}>", "exec"), namespace)
    else:
        for line in entry.code.splitlines():
            done = subprocess.run(_chaossim_argv(line), cwd=ROOT, env=_env(), capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"docs build: this gallery command failed (exit {done.returncode}):\n  {line}\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    entry.seconds = time.perf_counter() - started
    for stem in entry.figures:
        if not (PAGES / "gallery" / f"{stem}.png").is_file():
            raise SystemExit(f"docs build: '{entry.title}' ran but did not draw gallery/{stem}.png.")


def gallery_page(items: list[Entry]) -> str:
    out = ["# Gallery", "",
           "Every figure below was drawn while this site was built, by the command or the Python code shown "
           "above it, run from the repository's root in the order of this page (the commands write into "
           "`build/docs/`). Each figure is also saved as PDF. The runs are small (the bundled 8×8 digits, a "
           "few hundred training steps), so the figures show what the package draws, not the paper's results; "
           "`sweeps/paper.toml` runs the paper's settings.", ""]
    for e in items:
        out += [f"## {e.title}", "", e.text, "", f"```{'python' if e.python else 'bash'}", e.code, "```", "",
                f"<small>{e.seconds:.0f} s on the machine that built this page.</small>", ""]
        for stem in e.figures:
            out += [f"![{e.title}](gallery/{stem}.png)", "", f"[PDF](gallery/{stem}.pdf)", ""]
    return "\n".join(out)


def _sweep_into(folder: Path) -> None:
    """The quickstart sweep, run into ``folder/quickstart.zarr`` (a cache entry, see docs/build_cache.py)."""
    line = (f"chaossim sweep {build_cache.QUICKSTART_SPEC.relative_to(ROOT)} --store {folder / 'quickstart.zarr'} "
            "--no-progress --dashboard none")
    done = subprocess.run(_chaossim_argv(line), cwd=ROOT, env=_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"docs build: the quickstart sweep failed (exit {done.returncode}):\n  {line}\n"
                         f"{done.stderr[-5000:]}")


def quickstart_store() -> Path:
    """The store of sweeps/quickstart.toml: from the cache (made by an earlier build or the test run), else
    made now."""
    folder = build_cache.get_or_make(build_cache.quickstart_entry(), _sweep_into, WORK / "quickstart-made")
    return folder / "quickstart.zarr"


def draw_gallery() -> str:
    """Runs the gallery's entries, or takes the gallery from the cache; returns what was done."""
    items = entries()
    entry = "gallery-" + build_cache.key(build_cache.QUICKSTART_SPEC, *(e.title + "\0" + e.code for e in items))
    found = build_cache.lookup(entry)
    if found is not None:
        shutil.copytree(found / "gallery", PAGES / "gallery", dirs_exist_ok=True)
        shutil.copy2(found / "gallery.md", PAGES / "gallery.md")
        shutil.copytree(found / "runs", ROOT / RUNS, dirs_exist_ok=True)
        return f"gallery from the cache ({found.relative_to(ROOT) if found.is_relative_to(ROOT) else found})"
    # The phase diagram's command resumes the quickstart store: a copy of the cached one has every point done.
    source = quickstart_store()
    for suffix in ("", ".runs"):
        shutil.copytree(source.with_name(source.name + suffix), ROOT / (STORE + suffix))
    for e in items:
        print(f"[docs] {e.title} ...", flush=True)
        run_entry(e)
        print(f"[docs]   {e.seconds:.1f} s", flush=True)
    (PAGES / "gallery.md").write_text(gallery_page(items))

    def keep(folder: Path) -> None:
        shutil.copytree(PAGES / "gallery", folder / "gallery")
        shutil.copy2(PAGES / "gallery.md", folder / "gallery.md")
        shutil.copytree(ROOT / RUNS, folder / "runs")

    build_cache.store(entry, keep)
    return "gallery drawn"


def execute_notebooks() -> list[tuple[str, float, str]]:
    """Each notebook executed (or taken from the cache) into build/docs/pages/notebooks/: (name, seconds,
    "executed" or "cached")."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    target = PAGES / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    times = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        started = time.perf_counter()
        entry = build_cache.notebook_entry(path)
        found = build_cache.lookup(entry)
        if found is not None:
            shutil.copy2(found / path.name, target / path.name)
            times.append((path.name, time.perf_counter() - started, "from the cache"))
            continue
        os.environ["CHAOSSIM_STORE"] = str(quickstart_store())
        os.environ["CHAOSSIM_STUDY_STORE"] = str(WORK / "chaos_study_ci.zarr")  # notebook 04 makes it (CI spec)
        mpl = os.environ.pop("MPLBACKEND", None)  # the kernel draws inline
        nb = nbformat.read(path, as_version=4)
        try:
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except CellExecutionError as exc:
            raise SystemExit(f"docs build: notebook {path.name} stopped with {exc.ename}: {exc.evalue}") from None
        finally:
            if mpl is not None:
                os.environ["MPLBACKEND"] = mpl
        nbformat.write(nb, target / path.name)
        build_cache.store(entry, lambda folder, p=path: shutil.copy2(target / p.name, folder / p.name))
        times.append((path.name, time.perf_counter() - started, "executed"))
    return times


def check_tools() -> None:
    import importlib.util

    missing = [m for m in NEEDS if importlib.util.find_spec(m.split(".")[0]) is None
               or importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(f"docs build: missing {', '.join(missing)}; install the docs extra: "
                         f"python -m pip install -e \".[docs]\"")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reuse", action="store_true",
                    help="keep the generated pages of the previous build (build/docs/pages) and only run MkDocs")
    ap.add_argument("--site-dir", default="site", help="output folder (default: site/)")
    args = ap.parse_args(argv)
    check_tools()
    t0 = time.perf_counter()
    if not (args.reuse and (PAGES / "gallery.md").is_file()):
        shutil.rmtree(WORK, ignore_errors=True)
        (PAGES / "gallery").mkdir(parents=True)
        started = time.perf_counter()
        what = draw_gallery()
        print(f"[docs] {what}: {time.perf_counter() - started:.1f} s", flush=True)
        print("[docs] the notebooks ...", flush=True)
        for name, seconds, how in execute_notebooks():
            print(f"[docs]   {name}: {how}, {seconds:.1f} s", flush=True)
    print("[docs] mkdocs build --strict ...", flush=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", args.site_dir],
                          cwd=ROOT, env=_env())
    if done.returncode != 0:
        print("docs build: mkdocs build --strict failed (see its messages above).", file=sys.stderr)
        return done.returncode
    print(f"[docs]   {time.perf_counter() - started:.1f} s; site in {ROOT / args.site_dir}")
    print(f"[docs] total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
