"""How close the CPU training step is to its floor: the engine's step against its GEMMs alone, interleaved.

    python benchmarks/bench_step_floor.py [--size paper|small] [--pairs N] [--threads 1] [--json PATH]
                                          [--compare DIR]

The restricted model (paper eq. 4-5) at the paper's size (Nv 784, Nh 500, M 500, dt 1, tau 10, T 100:
100 Euler steps per phase), float32, BLAS pinned to ``--threads`` threads with threadpoolctl. Rows:

  gemms alone     exactly the GEMMs of one training step and nothing else, into preallocated buffers:
                  the clamped phase's exact solution (one M x Nv x Nh product), 100 Euler steps of the free
                  phase (two products each) and the Hebbian update (two Nv x M x Nh products). The floor.
  gemms + phi     the same plus NumPy's phi (np.tanh, into a buffer) of both layers at every Euler step: the
                  floor of any step that evaluates phi with NumPy on one thread. The states phi is applied to
                  are those of the engine's model after a free run of T (the time np.tanh takes depends on its
                  inputs: 1.7 ms for 642 000 values of std 0.1, 3.1 for std 1, 5.8 for std 3, on the machine
                  of benchmarks/README.md).
  engine          chaossim's ``model.train_step`` (random starts drawn, operators formed, checks, update).
  engine (DIR)    with ``--compare DIR``: the same step of the chaossim package in DIR (another checkout, e.g. the
                  commit before a change), loaded beside this one and timed in the same rounds.

Timing: the rows run one after the other in each of ``--pairs`` rounds (the order rotated every round), so a
load change on a shared machine hits all rows alike; the table gives each row's median time, the median over
rounds of its ratio to ``gemms alone`` in the same round with the spread of that ratio (IQR), and the ratio of
the fastest times (the least disturbed run of each row: on a busy machine the steadier estimate).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import sys
import time

import numpy as np

SIZES = {"paper": dict(nv=784, nh=500, M=500, T=100.0), "small": dict(nv=196, nh=128, M=128, T=20.0)}
DT, TAU, K, G = 1.0, 10.0, 0.01, 1.5


def gemm_rows(states: dict, steps: int, rng, with_phi: bool):
    """A callable doing the step's GEMMs (and phi when ``with_phi``) on preallocated float32 buffers; ``states``:
    the visible and hidden states phi is applied to."""
    f32 = np.float32
    v, h = np.asarray(states["v"], dtype=f32), np.asarray(states["h"], dtype=f32)
    (M, nv), nh = v.shape, h.shape[1]
    av, ah = np.tanh(v), np.tanh(h)  # values a step sees (no NaN or denormal garbage in the buffers)
    # the operators as the engine holds them: the transpose of the coupling K (N_post x N_pre, C order)
    p_vh = (rng.standard_normal((nv, nh), dtype=f32) * f32(0.04)).T  # h -> v: (Nh x Nv), a transposed view
    p_hv = (rng.standard_normal((nh, nv), dtype=f32) * f32(0.04)).T  # v -> h: (Nv x Nh)
    batch = np.tanh(rng.standard_normal((M, nv), dtype=f32))
    hc, dv, dh = np.empty_like(h), np.empty_like(v), np.empty_like(h)
    upd = np.empty((nv, nh), dtype=f32)

    def step():
        np.matmul(batch, p_hv, out=hc)  # clamped phase: the exact solution's drive
        for _ in range(steps):
            if with_phi:
                np.tanh(v, out=av)
                np.tanh(h, out=ah)
            np.matmul(ah, p_vh, out=dv)
            np.matmul(av, p_hv, out=dh)
        np.matmul(batch.T, hc, out=upd)  # <phi_v phi_h>_clamped
        np.matmul(av.T, ah, out=upd)  # <phi_v phi_h>_free

    return step


def _package(path: str | None, name: str):
    """chaossim from this checkout (``path`` None) or the package directory ``path`` loaded as module ``name``."""
    if path is None:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        import chaossim

        return chaossim
    init = os.path.join(os.path.abspath(path), "__init__.py")
    if not os.path.isfile(init):
        raise SystemExit(f"--compare {path}: not a package directory (no __init__.py); give .../chaossim")
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[os.path.dirname(init)])
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def engine_row(pkg, nv: int, nh: int, M: int, T: float, rng):
    """The engine's training step, and the states of its model after a free run of T from random starts."""
    model = pkg.models.Restricted(nv, nh, g=G, seed=1, dt=DT, tau=TAU)
    batch = np.tanh(rng.standard_normal((M, nv))).astype(np.float32)
    dev = model.bk.asarray(batch)

    def step():
        model.train_step(dev, DT, TAU, T, K, check=False)

    states = model.run(model.random_state(M), round(T / DT))
    return step, {k: np.asarray(v) for k, v in states.items()}  # NumPy backend


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="paper")
    ap.add_argument("--pairs", type=int, default=9, help="rounds of interleaved timings (default 9)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (threadpoolctl; default 1)")
    ap.add_argument("--json", default=None, help="write the rows and raw times here")
    ap.add_argument("--compare", default=None, metavar="DIR", help="also time the chaossim package in DIR")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=args.threads)
    s = SIZES[args.size]
    nv, nh, M, T = s["nv"], s["nh"], s["M"], s["T"]
    steps = round(T / DT)
    rng = np.random.default_rng(0)
    pkg = _package(None, "chaossim")
    where = os.path.dirname(pkg.__file__)
    engine, states = engine_row(pkg, nv, nh, M, T, rng)
    rows = {
        "gemms alone": gemm_rows(states, steps, rng, False),
        "gemms + phi": gemm_rows(states, steps, rng, True),
        "engine": engine,
    }
    if args.compare:
        other = _package(args.compare, "chaossim_compare")
        rows[f"engine ({args.compare})"] = engine_row(other, nv, nh, M, T, rng)[0]
    for fn in rows.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in rows}
    names = list(rows)
    for r in range(args.pairs):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            rows[name]()
            times[name].append(time.perf_counter() - t0)
    blas = ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()) or "no BLAS found"
    base = np.asarray(times["gemms alone"])
    print(
        f"restricted {nv} x {nh}, M {M}, T {T:g} ({steps} Euler steps per phase), float32; "
        f"BLAS threads: {blas}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
        f"{platform.processor() or platform.machine()}, NumPy {np.__version__}; chaossim from {where}; "
        f"{args.pairs} interleaved rounds"
    )
    print()
    print("| row | ms/step (median) | x gemms alone (median of rounds) | ratio IQR | x gemms alone (fastest) "
          "| BLAS threads |")
    print("|---|---|---|---|---|---|")
    out = []
    for name in names:
        t = np.asarray(times[name])
        ratio = t / base
        q1, q3 = np.percentile(ratio, [25, 75])
        med = float(np.median(ratio))
        fastest = float(t.min() / base.min())
        ms = 1e3 * float(np.median(t))
        print(f"| {name} | {ms:.0f} | {med:.3f} | {q3 - q1:.3f} | {fastest:.3f} | {args.threads} |")
        out.append({"row": name, "ms": [1e3 * x for x in t], "ratio": ratio.tolist(), "ratio_median": med,
                    "ratio_fastest": fastest})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": s, "threads": args.threads, "blas": blas, "rows": out, "chaossim": where}, f, indent=1)
    return 0 if all(math.isfinite(r["ratio_median"]) for r in out) else 1


if __name__ == "__main__":
    sys.exit(main())
