"""Time one contrastive Hebbian training step (paper eqs. 3, 6, 11-15) on the current device, all architectures.

    python benchmarks/bench_training.py [--device cpu|gpu|auto] [--size paper|small|auto] [--repeats N]
                                        [--archs restricted,deep,unrestricted] [--ensembles 8,32] [--json PATH]

Rows (float32 unless marked; TF32 rows on the GPU only):
  plain         an independent implementation written one operator at a time, recomputing everything each
                Euler step, e.g. v = v + dt/tau * (-v + tanh(h) @ (W + A).T / sqrt(Nh) + b)  (NumPy or CuPy)
  engine        chaossim's model.train_step (operators formed once per run, in-place Euler updates)
  fast fp32/tf32  chaossim.kernels.fast_trainer: fused kernels + direct cuBLAS + one CUDA graph per step (GPU)
  fused (host)  the same fused schedule on its NumPy executor HostOps (CPU): the GPU path's reference, which is
                why chaossim.runs.training.train keeps the engine on NumPy
  ensemble R    chaossim.ensemble.Ensemble.train_step: R models (different g and seed) with batched matmuls,
                and on the GPU the fast trainer on the ensemble (strided-batched GEMMs)
  torch eager / torch graph (fp32, tf32)   the same step in PyTorch, only if torch is importable
Times: median over --repeats steps after warm-up (GPU: cupyx.profiler.benchmark device times; CPU:
time.perf_counter). Each timed step includes drawing its random initial states.
FLOPs counted (GEMMs only, 2 * M * N_in * N_out each), per model and step:
  free phase     steps * sum over couplings c of 2 M N_pre(c) N_post(c)
  clamped phase  restricted: sum over couplings into h of 2 M N_pre N_post (exact solution, once);
                 deep: steps * sum over couplings into hidden layers; unrestricted: 0
  update         2 phases * sum over trained matrices t of 2 M N_a(t) N_b(t)
"TFLOP/s" = FLOPs per model-step * R / time; "x plain" = plain ms per model-step / row ms per model-step;
"%ceil" = TFLOP/s / the measured GEMM ceiling (a big square GEMM: fp32 rows against fp32, TF32 against TF32).
On a busy CPU (other jobs running) the numbers are noisy: medians, and the spread (IQR / median) is printed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from chaossim.archs import lookup  # noqa: E402
from chaossim.backend import gpu_available, to_numpy  # noqa: E402
from chaossim.ensemble import Ensemble  # noqa: E402

SIZES = {
    "paper": dict(nv=784, nh=500, nh2=100, M=500, T=100.0),
    "small": dict(nv=196, nh=128, nh2=32, M=128, T=20.0),
}
DT, TAU, K, G = 1.0, 10.0, 0.01, 1.5


def arch_sizes(arch: str, s: dict) -> tuple:
    return {"unrestricted": (s["nv"],), "restricted": (s["nv"], s["nh"]), "deep": (s["nv"], s["nh"], s["nh2"])}[arch]


def flops_per_model_step(model, M: int, steps: int) -> int:
    sz, vis = model.sizes, model.visible
    free = steps * sum(2 * M * sz[c.pre] * sz[c.post] for c in model.couplings)
    into_hidden = [c for c in model.couplings if c.post != vis]
    if not into_hidden:
        clamped = 0
    elif all(c.pre == vis for c in into_hidden):
        clamped = sum(2 * M * sz[c.pre] * sz[c.post] for c in into_hidden)
    else:
        clamped = steps * sum(2 * M * sz[c.pre] * sz[c.post] for c in into_hidden)
    update = 2 * sum(2 * M * sz[t.a] * sz[t.b] for t in model.trained)
    return free + clamped + update


# ---------------------------------------------------------------------------------------------- plain reference
def plain_step(xp, arch: str, P: dict, batch, dt: float, tau: float, T: float, k: float, init: dict):
    """One training step written operator by operator, straight from the paper's eqs. 2-15 (parameters
    updated in place in the dict P). ``init``: initial states {"v", "h"...} (free) and {"hc"...} (clamped)."""
    n = round(T / dt)
    a = dt / tau
    M = batch.shape[0]
    tanh, sqrt = xp.tanh, math.sqrt
    if arch == "unrestricted":
        J, A, b = P["J"], P["A"], P["b"]
        nv = J.shape[0]
        v = init["v"]
        for _ in range(n):
            v = v + a * (-v + tanh(v) @ (J + A).T / sqrt(nv) + b)
        pv = tanh(v)
        P["A"] = A + k * (batch.T @ batch / M - pv.T @ pv / M)
        P["b"] = b + k * (batch.mean(0) - pv.mean(0))
    elif arch == "restricted":
        W, Wt, A, b, c = P["W"], P["Wt"], P["A"], P["b"], P["c"]
        nv, nh = W.shape
        e = math.exp(-n * dt / tau)
        hc = init["hc"] * e + (batch @ (Wt + A.T).T / sqrt(nv) + c) * (1 - e)
        v, h = init["v"], init["h"]
        for _ in range(n):
            v, h = (v + a * (-v + tanh(h) @ (W + A).T / sqrt(nh) + b),
                    h + a * (-h + tanh(v) @ (Wt + A.T).T / sqrt(nv) + c))
        pv, ph, phc = tanh(v), tanh(h), tanh(hc)
        P["A"] = A + k * (batch.T @ phc / M - pv.T @ ph / M)
        P["b"] = b + k * (batch.mean(0) - pv.mean(0))
        P["c"] = c + k * (phc.mean(0) - ph.mean(0))
    elif arch == "deep":
        W1, Wt1, A1, W2, Wt2, A2 = P["W1"], P["Wt1"], P["A1"], P["W2"], P["Wt2"], P["A2"]
        b, c, d = P["b"], P["c"], P["d"]
        nv, n1 = W1.shape
        n2 = W2.shape[1]
        h1, h2 = init["h1c"], init["h2c"]
        for _ in range(n):
            h1, h2 = (h1 + a * (-h1 + batch @ (Wt1 + A1.T).T / sqrt(nv) + tanh(h2) @ (W2 + A2).T / sqrt(n2) + c),
                      h2 + a * (-h2 + tanh(h1) @ (Wt2 + A2.T).T / sqrt(n1) + d))
        p1c, p2c = tanh(h1), tanh(h2)
        v, h1, h2 = init["v"], init["h1"], init["h2"]
        for _ in range(n):
            v, h1, h2 = (v + a * (-v + tanh(h1) @ (W1 + A1).T / sqrt(n1) + b),
                         h1 + a * (-h1 + tanh(v) @ (Wt1 + A1.T).T / sqrt(nv) + tanh(h2) @ (W2 + A2).T / sqrt(n2) + c),
                         h2 + a * (-h2 + tanh(h1) @ (Wt2 + A2.T).T / sqrt(n1) + d))
        pv, p1, p2 = tanh(v), tanh(h1), tanh(h2)
        P["A1"] = A1 + k * (batch.T @ p1c / M - pv.T @ p1 / M)
        P["A2"] = A2 + k * (p1c.T @ p2c / M - p1.T @ p2 / M)
        P["b"] = b + k * (batch.mean(0) - pv.mean(0))
        P["c"] = c + k * (p1c.mean(0) - p1.mean(0))
        P["d"] = d + k * (p2c.mean(0) - p2.mean(0))
    return P


def plain_init(xp, arch: str, sizes: tuple, M: int, rng, dtype):
    names = {"unrestricted": ["v"], "restricted": ["v", "h", "hc"], "deep": ["v", "h1", "h2", "h1c", "h2c"]}[arch]
    width = {"v": sizes[0], "h": sizes[-1], "hc": sizes[-1], "h1": sizes[1] if len(sizes) > 1 else 0,
             "h1c": sizes[1] if len(sizes) > 1 else 0, "h2": sizes[-1], "h2c": sizes[-1]}
    return {n: rng.standard_normal((M, width[n]), dtype=dtype) for n in names}


def check_reference() -> float:
    """The plain reference and the engine agree in float64 from the same initial states (like with like)."""
    worst = 0.0
    rng = np.random.default_rng(0)
    for arch in ("unrestricted", "restricted", "deep"):
        sizes = {"unrestricted": (12,), "restricted": (12, 8), "deep": (12, 8, 5)}[arch]
        model = lookup(arch).model_class()(*sizes, g=G, seed=1, dtype="float64")
        P = {k: np.array(v) for k, v in model.params.items()}
        batch = np.tanh(rng.normal(size=(6, 12)))
        init = plain_init(np, arch, sizes, 6, rng, np.float64)
        hidden = [n for n in model.sizes if n != "v"]
        free = {n: init[n] for n in model.sizes}
        clamped = {n: init[n + "c"] for n in hidden}
        plain_step(np, arch, P, batch, DT, TAU, 7.0, 0.1, init)
        model.train_step(batch, DT, TAU, 7.0, 0.1, init={"free": free, "clamped": clamped})
        worst = max(worst, max(float(np.abs(P[k] - model.params[k]).max()) for k in P))
    return worst


# ---------------------------------------------------------------------------------------------- timing
def time_cpu(fn, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def time_gpu(fn, repeats: int, warmup: int) -> list[float]:
    from cupyx.profiler import benchmark

    res = benchmark(fn, n_repeat=repeats, n_warmup=warmup)
    return [float(t) for t in np.asarray(res.gpu_times)[0]]


def gemm_ceiling_cpu(n: int = 1024, repeats: int = 7) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    ts = time_cpu(lambda: a @ b, repeats, 2)
    return 2 * n ** 3 / float(np.median(ts)) / 1e12


# ---------------------------------------------------------------------------------------------- torch (optional)
def torch_rows(arch, model, s, repeats, warmup, on_gpu, tf32_ok):
    """PyTorch eager (and on a GPU, CUDA-graphed fp32 and TF32) versions of the engine's step."""
    import torch

    dev = "cuda" if on_gpu else "cpu"
    M, steps = s["M"], round(s["T"] / DT)
    a = DT / TAU
    sz, vis = model.sizes, model.visible
    hidden = [n for n in sz if n != vis]
    p0 = {k: torch.as_tensor(to_numpy(v), device=dev) for k, v in model.params.items()}
    bias_of = {layer.name: layer.bias for layer in model.layers}
    into_hidden = [c for c in model.couplings if c.post != vis]
    exact = all(c.pre == vis for c in into_hidden)

    def make(p, st):
        def step():
            with torch.no_grad():
                ops = {n: [] for n in sz}
                for c in model.couplings:
                    tr = p[c.trained].T if c.transpose else p[c.trained]
                    ops[c.post].append((c.pre, (p[c.fixed] + tr).T / math.sqrt(sz[c.pre])))

                def drive(act, n):
                    out = p[bias_of[n]].expand(M, -1).clone()
                    for pre, op in ops[n]:
                        out.addmm_(act[pre], op)
                    return out

                batch = st["batch"]
                if hidden and exact:
                    e = math.exp(-steps * a)
                    xc = {n: st["c_" + n] * e + drive({vis: batch}, n) * (1 - e) for n in hidden}
                else:
                    xc = {n: st["c_" + n] for n in hidden}
                    for _ in range(steps):
                        act = {vis: batch, **{n: torch.tanh(xc[n]) for n in hidden}}
                        xc = {n: xc[n] + a * (drive(act, n) - xc[n]) for n in hidden}
                actc = {vis: batch, **{n: torch.tanh(xc[n]) for n in hidden}}
                x = {n: st["f_" + n] for n in sz}
                for _ in range(steps):
                    act = {n: torch.tanh(v) for n, v in x.items()}
                    x = {n: x[n] + a * (drive(act, n) - x[n]) for n in sz}
                actf = {n: torch.tanh(v) for n, v in x.items()}
                for t in model.trained:
                    p[t.name].add_(K / M * (actc[t.a].T @ actc[t.b] - actf[t.a].T @ actf[t.b]))
                for layer in model.layers:
                    p[layer.bias].add_(K * (actc[layer.name].mean(0) - actf[layer.name].mean(0)))
        return step

    def statics():
        st = {"batch": torch.tanh(torch.randn(M, sz[vis], device=dev))}
        st.update({"f_" + n: torch.randn(M, sz[n], device=dev) for n in sz})
        st.update({"c_" + n: torch.randn(M, sz[n], device=dev) for n in hidden})
        return st

    def refill(st):
        for key, t in st.items():
            if key != "batch":
                t.normal_()

    rows = []
    torch.backends.cuda.matmul.allow_tf32 = False
    p, st = {k: v.clone() for k, v in p0.items()}, statics()
    step = make(p, st)
    eager = lambda: (refill(st), step())
    rows.append(("torch eager", "fp32", (time_gpu if on_gpu else time_cpu)(eager, repeats, warmup)))
    if on_gpu:
        for prec in (["fp32", "tf32"] if tf32_ok else ["fp32"]):
            torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
            p, st = {k: v.clone() for k, v in p0.items()}, statics()
            step = make(p, st)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):
                    step()
            torch.cuda.current_stream().wait_stream(side)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                step()
            rows.append(("torch graph", prec, time_gpu(lambda: (refill(st), g.replay()), repeats, warmup)))
        torch.backends.cuda.matmul.allow_tf32 = False
    return rows


# ---------------------------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cpu", "gpu", "auto"], default="auto")
    ap.add_argument("--size", choices=["paper", "small", "auto"], default="auto",
                    help="paper: Nv=784 Nh=500 (Nh2=100) M=500 T=100; small: Nv=196 Nh=128 (Nh2=32) M=128 T=20; "
                         "auto: paper on the GPU, small on the CPU")
    ap.add_argument("--repeats", type=int, default=None, help="timed steps per row (default 20 GPU, 7 CPU)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--archs", default="restricted,deep,unrestricted")
    ap.add_argument("--ensembles", default="8,32", help="ensemble sizes R (comma-separated; empty for none)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows even if torch is importable")
    ap.add_argument("--json", default=None, help="also save the rows and the setup as JSON")
    args = ap.parse_args(argv)

    on_gpu = args.device == "gpu" or (args.device == "auto" and gpu_available())
    if on_gpu and not gpu_available():
        ap.error("--device gpu but CuPy or a CUDA device is not available")
    size = args.size if args.size != "auto" else ("paper" if on_gpu else "small")
    s = SIZES[size]
    repeats = args.repeats or (20 if on_gpu else 7)
    R_list = [int(r) for r in args.ensembles.split(",") if r.strip()]
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    backend = "cupy" if on_gpu else "numpy"
    timer = time_gpu if on_gpu else time_cpu
    M, steps = s["M"], round(s["T"] / DT)

    if on_gpu:
        import cupy as xp

        from chaossim.backend import get_backend
        from chaossim.kernels import fast_trainer
        from chaossim.kernels.cupy_fast import gemm_ceiling

        device = get_backend("cupy").device
        ceiling = {"fp32": gemm_ceiling(8192), "tf32": gemm_ceiling(8192, tf32=True)}
    else:
        xp = np
        device = f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
        ceiling = {"fp32": gemm_ceiling_cpu()}
    ref_err = check_reference()

    try:
        import torch  # noqa: F401

        have_torch = not args.no_torch
    except Exception:
        have_torch = False

    print(f"device: {device}; size {size}: {s}; dt={DT} tau={TAU} k={K} g={G}; repeats {repeats} (median), "
          f"warm-up {args.warmup}")
    print("env: " + ", ".join(f"{k}={os.environ[k]}" for k in sorted(os.environ) if k.startswith(("OPENBLAS", "OMP_",
                                                                                                     "MKL_")))
          if any(k.startswith(("OPENBLAS", "OMP_", "MKL_")) for k in os.environ) else "env: (no BLAS variables)")
    print("GEMM ceiling: " + ", ".join(f"{k} {v:.3f} TFLOP/s" for k, v in ceiling.items())
          + f"; plain reference vs engine (float64, tiny): max |diff| = {ref_err:.1e}")
    rows = []
    hdr = f"{'arch':<13}{'impl':<22}{'R':>4} {'prec':<5}{'ms/step':>10}{'ms/model':>10}{'spread':>8}" \
          f"{'TFLOP/s':>10}{'x plain':>9}{'%ceil':>7}"
    print(hdr)
    print("-" * len(hdr))
    data_rng = np.random.default_rng(0)
    for arch in archs:
        sizes = arch_sizes(arch, s)
        cls = lookup(arch).model_class()
        model = cls(*sizes, g=G, seed=0, backend=backend)
        fl = flops_per_model_step(model, M, steps)
        batch = xp.asarray(np.tanh(data_rng.normal(size=(M, sizes[0]))).astype(np.float32))
        plain_ms = None

        def record(impl, R, prec, times):
            nonlocal plain_ms
            med = float(np.median(times))
            q1, q3 = np.percentile(times, [25, 75])
            per_model = med / R
            if impl == "plain":
                plain_ms = per_model
            tfl = fl * R / med / 1e12
            row = dict(arch=arch, impl=impl, R=R, precision=prec, ms_per_step=med * 1e3,
                       ms_per_model_step=per_model * 1e3, spread=float((q3 - q1) / med),
                       tflops=tfl, gflop_per_model_step=fl / 1e9,
                       x_plain=(plain_ms / per_model) if plain_ms else None,
                       frac_ceiling=tfl / ceiling.get(prec, ceiling["fp32"]), times_s=[float(t) for t in times])
            rows.append(row)
            print(f"{arch:<13}{impl:<22}{R:>4} {prec:<5}{row['ms_per_step']:>10.3f}{row['ms_per_model_step']:>10.3f}"
                  f"{row['spread']:>8.2f}{tfl:>10.4f}{(row['x_plain'] or float('nan')):>9.2f}"
                  f"{100 * row['frac_ceiling']:>6.1f}%", flush=True)

        # plain reference (its own copy of the parameters and its own generator)
        P = {k: xp.array(v) for k, v in model.params.items()}
        prng = xp.random.default_rng(1)
        record("plain", 1, "fp32", timer(lambda: plain_step(xp, arch, P, batch, DT, TAU, s["T"], K,
                                                            plain_init(xp, arch, sizes, M, prng, xp.float32)),
                                         repeats, args.warmup))
        m1 = cls(*sizes, g=G, seed=0, backend=backend)
        # check=False: the batch is known to be valid; no host synchronisation inside the timed steps
        record("engine", 1, "fp32", timer(lambda: m1.train_step(batch, DT, TAU, s["T"], K, check=False), repeats,
                                          args.warmup))
        if on_gpu:
            for prec in ("fp32", "tf32"):
                m2 = cls(*sizes, g=G, seed=0, backend=backend)
                tr = fast_trainer(m2, tf32=prec == "tf32", require=True)
                record(f"fast ({tr.mode})", 1, prec,
                       timer(lambda: tr.train_step(batch, DT, TAU, s["T"], K, check=False), repeats, args.warmup))
        else:  # the fused schedule on its NumPy executor: why train keeps the engine on NumPy
            from chaossim.kernels import HostOps, ScheduledTrainer

            tr = ScheduledTrainer(cls(*sizes, g=G, seed=0, backend=backend), HostOps(np.float32, streams=2))
            record("fused (host)", 1, "fp32",
                   timer(lambda: tr.train_step(batch, DT, TAU, s["T"], K, check=False), max(3, repeats // 2),
                         args.warmup))
        for R in R_list:
            gs = list(np.linspace(1.2, 2.0, R))
            ens = Ensemble(arch, sizes, gs, list(range(R)), backend=backend)
            batches = xp.asarray(np.tanh(data_rng.normal(size=(R, M, sizes[0]))).astype(np.float32))
            reps = max(3, repeats // (2 if R > 8 and not on_gpu else 1))
            record("ensemble engine", R, "fp32",
                   timer(lambda: ens.train_step(batches, DT, TAU, s["T"], K, check=False), reps, args.warmup))
            if on_gpu:
                for prec in ("fp32", "tf32"):
                    ens2 = Ensemble(arch, sizes, gs, list(range(R)), backend=backend)
                    tr = fast_trainer(ens2, tf32=prec == "tf32", require=True)
                    record(f"ensemble fast ({tr.mode})", R, prec,
                           timer(lambda: tr.train_step(batches, DT, TAU, s["T"], K, check=False), reps, args.warmup))
            ens = None  # free its memory before the next R
        if have_torch:
            try:
                for impl, prec, times in torch_rows(arch, model, s, repeats, args.warmup, on_gpu, True):
                    record(impl, 1, prec, times)
            except Exception as exc:  # the benchmark goes on without the optional rows
                print(f"{arch:<13}torch rows failed: {type(exc).__name__}: {exc}")
    if args.json:
        meta = dict(device=device, size=size, sizes=s, dt=DT, tau=TAU, k=K, g=G, repeats=repeats, warmup=args.warmup,
                    ceiling_tflops=ceiling, reference_check_max_diff=ref_err, python=platform.python_version(),
                    numpy=np.__version__, env={k: v for k, v in os.environ.items()
                                               if k.startswith(("OPENBLAS", "OMP_", "MKL_"))},
                    flop_formula=__doc__[__doc__.index("FLOPs counted"):__doc__.index('"TFLOP/s"')].strip())
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
        print(f"saved {args.json}")
    return rows


if __name__ == "__main__":
    main()
