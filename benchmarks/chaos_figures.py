"""Chaos figures for the notes: lambda_max vs g (untrained) and lambda_max, Var phi(v) vs t_age (trained).

    python benchmarks/chaos_figures.py [--out figures] [--n 1000] [--steps 400] [--quick]

(a) ``lyapunov_vs_g``: the largest Lyapunov exponent of the Euler map (dt = 1, tau = 10, tangent method,
    8 replicas, burn-in 50 tau, measurement 200 tau) of the untrained unrestricted network vs g, with the
    exact linear-stability value of the fixed point 0 for g < 1 (finite-N eigenvalues of the Euler map's
    Jacobian, and the circular-law curve log(1 - a + a sqrt(g)) / a) and the DMFT prediction of SCS 1988
    (``chaossim.chaos.dmft.dmft_lyapunov``, continuous time, unverified by its author) for g > 1.
    A side table: lambda_max at g = 2 and 4 for N in --sizes (default 500, 1000) and three network seeds.
(b) ``chaos_vs_age``: a restricted model (Nh = 200, g = 1.5, T = 100, M = 500, k = 0.01) trained on the
    digits with ``training.chaos_every``; the probe's lambda_max and activity variance vs t_age; plus the
    singular values of A over training (``sv_A``) and its top left singular vectors as 8x8 images (``modes_A``).
Numbers are printed as tables (lambda in units of 1/tau) and saved to ``<out>/chaos_numbers.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from chaossim import (
    analysis,  # noqa: E402
    plotting,  # noqa: E402
)
from chaossim.chaos.lyapunov import lyapunov_max  # noqa: E402
from chaossim.models.architectures import Unrestricted  # noqa: E402


def linear_rate(model) -> float:
    """log of the largest eigenvalue modulus of the Euler map's Jacobian at 0, per unit time (float64)."""
    n = model.sizes["v"]
    a = model.dt / model.tau
    jac = (1 - a) * np.eye(n) + a * np.asarray(model.params["J"], np.float64) / math.sqrt(n)
    return float(np.log(np.abs(np.linalg.eigvals(jac)).max()) / model.dt)


def part_a(out: str, n: int, quick: bool, sizes: tuple[int, ...]) -> dict:
    try:
        from chaossim.chaos.dmft import dmft_lyapunov
    except ImportError:
        dmft_lyapunov = None
    g_values = np.array([0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    t_burn, t_run = (200.0, 500.0) if quick else (500.0, 2000.0)
    rows = []
    print(f"(a) untrained unrestricted, N = {n}, dt = 1, tau = 10, 8 replicas, t_burn = {t_burn}, t_run = {t_run}")
    print(f"{'g':>5} {'lambda*tau':>11} {'stderr':>8} {'linear(N)':>10} {'circ.law':>9} {'DMFT':>8} {'s':>5}")
    for g in g_values:
        t0 = time.perf_counter()
        m = Unrestricted(n, g=float(g), seed=1)
        r = lyapunov_max(m, t_burn=t_burn, t_run=t_run, n_replicas=8, seed=0)
        lin = linear_rate(m) * m.tau if g < 1 else float("nan")
        circ = math.log(1 - 0.1 + 0.1 * math.sqrt(g)) / 0.1 if g < 1 else float("nan")
        dmft = dmft_lyapunov(float(g), 1.0) if dmft_lyapunov is not None else float("nan")
        rows.append(dict(g=float(g), lam=r.in_tau, err=r.stderr * m.tau, linear=lin, circular=circ, dmft=dmft))
        print(f"{g:5.2f} {r.in_tau:11.5f} {r.stderr * m.tau:8.5f} {lin:10.5f} {circ:9.5f} {dmft:8.4f} "
              f"{time.perf_counter() - t0:5.1f}")
    gl = np.linspace(0.05, 1.0, 60)
    gd = np.linspace(0.25, 4.0, 80)
    dmft_curve = (gd, [dmft_lyapunov(float(x), 1.0) for x in gd]) if dmft_lyapunov is not None else None
    fig = plotting.plot_lyapunov_vs_g(
        [r["g"] for r in rows], [r["lam"] for r in rows], [r["err"] for r in rows],
        dmft_curve=dmft_curve, linear_curve=(gl, np.log(1 - 0.1 + 0.1 * np.sqrt(gl)) / 0.1))
    paths = plotting.save_figure(fig, os.path.join(out, "lyapunov_vs_g"))
    print("wrote", *paths)

    side = []
    print("\nfinite-size table: lambda*tau (stderr over 8 replicas), three network seeds")
    for g in (2.0, 4.0):
        for nn in sizes:
            vals = []
            for seed in (1, 2, 3):
                r = lyapunov_max(Unrestricted(nn, g=g, seed=seed), t_burn=t_burn, t_run=t_run, n_replicas=8)
                vals.append((r.in_tau, r.stderr * 10.0))
            side.append(dict(g=g, n=nn, values=vals))
            print(f"g = {g}, N = {nn:5d}: " + ", ".join(f"{v:.4f} ({e:.4f})" for v, e in vals)
                  + (f"   DMFT {dmft_lyapunov(g, 1.0):.4f}" if dmft_lyapunov is not None else ""))
    return {"lambda_vs_g": rows, "finite_size": side, "figure": [str(p) for p in paths]}


def part_b(out: str, steps: int) -> dict:
    from chaossim.config import RunConfig
    from chaossim.runs.training import train

    every = max(steps // 20, 1)
    cfg = RunConfig().replace(**{"model.arch": "restricted", "model.n_hidden": 200, "model.g": 1.5,
                                 "training.steps": steps, "training.chaos_every": every,
                                 "training.snapshot_every": every, "training.log_every": steps,
                                 "training.checkpoint_every": steps, "training.n_eval": 359})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = train(cfg, os.path.join(tmp, "run"), progress=False)
        sv_steps, sv = analysis.singular_value_trajectories(os.path.join(tmp, "run"), which="A", k=8)
    print(f"\n(b) restricted, digits, Nh = 200, g = 1.5, {steps} steps ({time.perf_counter() - t0:.1f} s)")
    c = res.chaos
    tau = res.model.tau
    print(f"{'t_age':>6} {'lambda*tau':>11} {'Var phi(v)':>11}")
    for t, lam, var in zip(c["t_age"], c["lambda_max"], c["activity_var"]):
        print(f"{int(t):6d} {lam * tau:11.4f} {var:11.4f}")
    print("indices at the end:", {k: float(v[-1]) for k, v in res.history.items() if k != "t_age"})
    p1 = plotting.save_figure(plotting.plot_chaos_vs_age(c["t_age"], np.asarray(c["lambda_max"]) * tau,
                                                         c["activity_var"]), os.path.join(out, "chaos_vs_age"))
    p2 = plotting.save_figure(plotting.plot_singular_values(sv_steps, sv, title="singular values of A"),
                              os.path.join(out, "sv_A"))
    u, s, _ = analysis.svd_modes(res.model.params["A"], 9)
    p3 = plotting.save_figure(plotting.plot_modes(u, (8, 8), k=9, title="top left singular vectors of A"),
                              os.path.join(out, "modes_A"))
    lt = analysis.fixed_points(res.model, 200, 2000.0, seed=0)
    n_distinct, _ = analysis.count_distinct(lt.points, 0.1 * math.sqrt(64))
    print(f"long runs (t = 2000 = 200 tau, 200 starts): {n_distinct} distinct states (dist < 0.8), "
          f"fixed fraction {lt.fraction_fixed:.2f}, median speed*tau {np.median(lt.speed) * tau:.2e}")
    print("singular values of A at the end:", np.round(s, 3))
    for p in (p1, p2, p3):
        print("wrote", *p)
    return {"t_age": c["t_age"].tolist(), "lambda_tau": (np.asarray(c["lambda_max"]) * tau).tolist(),
            "activity_var": np.asarray(c["activity_var"]).tolist(), "sv_steps": sv_steps.tolist(),
            "sv": sv.tolist(), "n_distinct_long": n_distinct, "fraction_fixed_long": lt.fraction_fixed,
            "final_indices": {k: float(v[-1]) for k, v in res.history.items() if k != "t_age"}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="figures")
    ap.add_argument("--n", type=int, default=1000, help="units of the untrained network in (a)")
    ap.add_argument("--steps", type=int, default=400, help="training steps in (b)")
    ap.add_argument("--sizes", default="500,1000", help="network sizes of the finite-size table (e.g. 500,1000,2000)")
    ap.add_argument("--quick", action="store_true", help="shorter runs (smoke test)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    sizes = tuple(int(x) for x in args.sizes.split(","))
    numbers = {"a": part_a(args.out, args.n, args.quick, sizes), "b": part_b(args.out, args.steps)}
    with open(os.path.join(args.out, "chaos_numbers.json"), "w") as f:
        json.dump(numbers, f, indent=1)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
