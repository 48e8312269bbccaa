"""``chaossim sample``, ``chaossim evaluate`` and ``chaossim plot FIGURE``: generate from, evaluate and draw
trained runs (:mod:`chaossim.runs.evaluate_run`, :mod:`chaossim.plotting`; docs/indices.md)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..runs.evaluate_run import evaluate_run, format_table
from ..runs.plots import PLOTS, figure_of_runs, generated_figure


def cmd_sample(args) -> int:
    import numpy as np

    from ..backend import to_numpy
    from ..fs import check_writable
    from ..io import atomic_savez
    from ..runs.rundir import load_run

    config, model, ck = load_run(args.run, backend=args.backend)
    out = Path(args.out) if args.out else Path(args.run) / "generated.npz"
    check_writable(
        out.parent, "the run directory" if not args.out else "the folder", "give --out FILE.npz in a writable place"
    )
    times = args.t or [config.dynamics.T]
    model.rng = model.bk.rng(args.seed)
    samples = to_numpy(model.generate(args.n, times, spread=args.spread))
    atomic_savez(out, {"t": np.asarray(times, dtype=float), "samples": samples})
    from ..runs.progress import index_changes, summary

    print(
        summary(
            [out],
            index_changes(ck["history"]),
            [f"chaossim plot generated {shlex.quote(str(out))} --out figures/"],
            title=f"{samples.shape[1]} samples at t = {times} (array 'samples': t x n x Nv, values phi(v) in [-1, 1])",
        )
    )
    return 0


def cmd_evaluate(args) -> int:
    res = evaluate_run(
        args.run, times=args.times, n_eval=args.n_eval, seed=args.seed, backend=args.backend, out_dir=args.out
    )
    print(format_table(res))
    from ..runs.evaluate_run import EVALUATION_FILE, SAMPLES_FILE
    from ..runs.progress import index_changes, summary
    from ..runs.rundir import load_checkpoint

    where = Path(args.out or args.run)
    quoted = shlex.quote(str(where))
    print(
        summary(
            [where / n for n in (EVALUATION_FILE, "evaluation.csv", "evaluation.txt", SAMPLES_FILE)],
            index_changes(load_checkpoint(args.run)["history"]),
            [f"chaossim plot {f} {quoted} --out figures/" for f in ("indices-vs-t", "samples", "snapshots")],
        )
    )
    return 0


def cmd_plot(args) -> int:
    from ..fs import check_writable
    from ..plotting import save_figure

    stem, many, _ = PLOTS[args.figure]
    check_writable(args.out, "the output folder", "give --out DIR in a writable place")
    if many:
        fig = figure_of_runs(args.figure, args.run, labels=args.label)
    elif args.figure == "generated":
        fig = generated_figure(args.run)
    elif args.figure == "receptive-fields":
        fig = figure_of_runs(args.figure, [args.run], n=args.n, seed=args.seed, part=args.part)
        stem += "_A" if args.part == "A" else ""
    else:
        fig = figure_of_runs(args.figure, [args.run])
    for p in save_figure(fig, Path(args.out) / stem):
        print(f"wrote {p}")
    return 0


def add_parsers(subparsers) -> None:
    """Register ``sample``, ``evaluate`` and ``plot <figure>`` on the ``chaossim`` command line."""
    sub = subparsers
    p = sub.add_parser(
        "sample",
        help="generate samples phi(v(t)) from a trained run",
        description="Generate samples phi(v(t)) from random starts with a trained model; "
        "several times t are served by one run.",
    )
    p.add_argument("run", help="run directory made by `chaossim train`")
    p.add_argument("-n", type=int, default=16, help="number of samples (default 16)")
    p.add_argument("-t", type=float, nargs="+", help="generation time(s) (default: the run's T)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts")
    p.add_argument(
        "--spread",
        type=float,
        default=1.0,
        metavar="EPS",
        help="start every run from one common random state plus a perturbation of size EPS in (0, 1] "
        "(default 1: independent N(0, 1) starts; docs/chaos_study.md)",
    )
    p.add_argument("--out", help="output .npz (default RUN/generated.npz)")
    p.add_argument("--backend", choices=["numpy", "cupy", "auto"], help="array backend")
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser(
        "evaluate",
        help="indices vs generation time t of a trained run, and the samples the figures need",
        description="Evaluate a trained run: follow one set of random starts in time and compute the four "
        "accuracy indices (E2, Es, EAAI, ER; lower is better) against held-out data at each "
        "generation time t (paper Fig. 3b). Also stores samples at t = T (Fig. 2) and snapshots at "
        "t = 0 .. 50 T (Fig. 3a). Writes evaluation.npz/.csv/.txt and samples.npz into the run "
        "directory (or --out DIR) and prints the table.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  chaossim evaluate runs/r1 --times 10 50 100 500 --n-eval 1000",
    )
    p.add_argument("run", help="run directory made by `chaossim train`")
    p.add_argument(
        "--times",
        type=float,
        nargs="+",
        metavar="T",
        help="generation times, multiples of dt (default: log-spaced from dt to 20 T, T included)",
    )
    p.add_argument(
        "--n-eval", type=int, help="Ns: held-out and generated points per index (default: the run's training.n_eval)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts (default 0)")
    p.add_argument("--backend", choices=["numpy", "cupy", "auto"], help="array backend (default: the run's)")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="folder of the files (default: the run directory); the plot commands then take DIR in place of the run",
    )
    p.set_defaults(func=cmd_evaluate)

    plot = subparsers.add_parser(
        "plot",
        help="draw the paper's figures from stored results",
        description="Draw one of the paper's figures from stored results (run directories); nothing is trained. "
        "Each writes a PNG and a PDF into --out. samples, snapshots and indices-vs-t need "
        "`chaossim evaluate RUN` first.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  chaossim plot samples runs/unres runs/res runs/deep --out figures/\n"
        "  chaossim plot training runs/unres runs/res runs/deep --out figures/",
    )
    plot.set_defaults(func=lambda args: (plot.print_help(), 2)[1])
    figs = plot.add_subparsers(dest="figure", metavar="FIGURE")
    for name, (stem, many, text) in PLOTS.items():
        q = figs.add_parser(name, help=text, description=f"{text} Writes OUT/{stem}.png and OUT/{stem}.pdf.")
        if many:
            q.add_argument("run", nargs="+", help="run directories (one curve or row each)")
            q.add_argument("--label", nargs="+", help="legend labels, one per run (default: arch and directory name)")
        else:
            q.add_argument(
                "run",
                help="run directory" + (" (or the .npz of `chaossim sample --out`)" if name == "generated" else ""),
            )
        if name == "receptive-fields":
            q.add_argument("-n", type=int, default=9, help="number of hidden units (default 9, as in the paper)")
            q.add_argument("--seed", type=int, default=0, help="seed of the random choice of hidden units")
            q.add_argument(
                "--part",
                choices=("W+A", "A"),
                default="W+A",
                help="W+A: the whole coupling (Fig. 4, default); A: the trained part alone, which shows "
                "what training planted while the fixed W dominates (file fig4_receptive_fields_A)",
            )
        q.add_argument("--out", default="figures", help="output folder (default ./figures)")
        q.set_defaults(func=cmd_plot)
