"""``chaossim analyze RUN``: the long-time states of a trained run (:mod:`chaossim.runs.longtime`; docs/indices.md)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..runs.longtime import analyze_run, format_table, write_analysis


def cmd_analyze(args) -> int:
    from ..fs import check_writable
    from ..runs.progress import summary

    check_writable(args.out, "the output folder", "give --out DIR in a writable place")
    res = analyze_run(
        args.run,
        args.t_long,
        n=args.n,
        seed=args.seed,
        dist_tol=args.dist_tol,
        speed_tol=args.speed_tol,
        backend=args.backend,
        ftle_starts=args.ftle_starts,
        t_burn=args.t_burn,
        t_window=args.t_window,
    )
    from ..plotting import save_figure
    from ..runs.plots import long_time_figure

    print(format_table(res))
    paths = write_analysis(res, args.out)
    paths += save_figure(long_time_figure(res), Path(args.out) / "long_time")
    run, out = shlex.quote(str(args.run)), shlex.quote(str(args.out))
    print(summary(paths, None, [f"chaossim plot snapshots {run} --out {out}  (after chaossim evaluate)"]))
    return 0


def add_parsers(subparsers) -> None:
    """Register ``analyze`` on the ``chaossim`` command line."""
    p = subparsers.add_parser(
        "analyze",
        help="long-time states of a trained run: fixed points, distinct states, mode collapse",
        description="Follow N free runs of a trained run from random starts to long times t (default T, 10 T and "
        "50 T) and report at each t how many distinct states they are in and how many are fixed points "
        "(mode collapse: many runs, few fixed states); and the Lyapunov exponents of the trained model and its "
        "untrained twin: finite-time over [0, T] from random starts, asymptotic with a convergence check "
        "(docs/chaos_study.md). Writes analysis.json, analysis.txt, "
        "long_time_states.npz and the figure long_time.png/.pdf into --out.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  chaossim analyze runs/r1 --t-long 50 500 5000 -n 200 --out figures/",
    )
    p.add_argument("run", help="run directory made by `chaossim train`")
    p.add_argument(
        "--t-long",
        type=float,
        nargs="+",
        metavar="T",
        help="long times, multiples of dt (default: T, 10 T and 50 T of the run)",
    )
    p.add_argument("-n", type=int, default=100, help="number of free runs (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts (default 0)")
    p.add_argument(
        "--dist-tol",
        type=float,
        default=1e-2,
        help="states closer than DIST_TOL x sqrt(Nv) count as one (default 0.01)",
    )
    p.add_argument(
        "--speed-tol",
        type=float,
        default=1e-4,
        help="a state is a fixed point when its speed x tau < SPEED_TOL (default 1e-4)",
    )
    p.add_argument(
        "--ftle-starts",
        type=int,
        default=32,
        help="starts of the finite-time Lyapunov exponent over [0, T], trained and untrained (default 32; 0: none)",
    )
    p.add_argument("--t-burn", type=float, help="burn-in of the asymptotic exponent (default 50 tau; a multiple of dt)")
    p.add_argument(
        "--t-window",
        type=float,
        help="window of the asymptotic exponent, checked against its first half (default 400 tau; even in tau)",
    )
    p.add_argument("--backend", choices=["numpy", "cupy", "auto"], help="array backend (default: the run's)")
    p.add_argument("--out", default="figures", help="output folder (default ./figures)")
    p.set_defaults(func=cmd_analyze)
