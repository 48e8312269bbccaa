"""The learning rate of the RBM baseline: a small grid of k at a fixed budget (digits, or a FashionMNIST subset).

The short-run (Rdm) RBM (chaossim.rbm) is trained for ``--steps`` updates of ``--batch`` points with each k of
``--ks``, at ``--T`` block-Gibbs sweeps per negative phase, for each seed; E(2) and E(AAI) on ``--n-eval``
held-out points (docs/indices.md) are printed at step 0 and at the end. E(AAI) staying at its initial 0.25
while E(2) does not fall means the RBM collapsed onto one image (too large a k). The default ``training.k`` of
``model.arch = "rbm"`` (``chaossim.archs.RBM.default_k``) was chosen from these tables (benchmarks/README.md).

    python benchmarks/rbm_lr.py --T 10              # digits, 7 k x 2 seeds: about 2 minutes on one core
    python benchmarks/rbm_lr.py --data fashion-mnist --n-train 5000 --n-eval 1000 --T 10 --seeds 0 \
        --ks 0.002 0.005 0.01 0.02 0.05

BLAS runs on one thread (threadpoolctl), so the times of the rows compare.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from chaossim.config import RunConfig
from chaossim.runs.training import load_data, train


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ks", type=float, nargs="+", default=[0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
    p.add_argument("--T", type=float, nargs="+", default=[10.0, 50.0], help="Gibbs sweeps per negative phase")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--n-hidden", type=int, default=64)
    p.add_argument("--data", default="digits", help="digits (default) or fashion-mnist")
    p.add_argument("--n-train", type=int, default=0, help="a seeded subset of the training points (0: all)")
    p.add_argument("--n-eval", type=int, default=359, help="Ns, held-out points of the indices (default 359)")
    args = p.parse_args(argv)
    base = RunConfig().replace(**{
        "model.arch": "rbm", "model.n_hidden": args.n_hidden, "data.name": args.data, "data.n_train": args.n_train,
        "data.n_test": args.n_eval if args.data != "digits" else 0,
        "training.steps": args.steps, "training.batch_size": args.batch, "training.log_every": args.steps,
        "training.checkpoint_every": args.steps, "training.n_eval": args.n_eval})
    data = load_data(base)
    print(f"RBM (Rdm) on {args.data}: {len(data.train)} train, {len(data.test)} held-out; Nh = {args.n_hidden}, "
          f"M = {args.batch}, {args.steps} steps; mean (min-max) over seeds {args.seeds}")
    print(f"{'T':>5} {'k':>7} {'E2 step 0':>10} {'E2 end':>18} {'EAAI step 0':>12} {'EAAI end':>18} {'s/run':>6}")
    best: dict[float, tuple[float, float]] = {}
    with threadpool_limits(1):
        for T in args.T:
            for k in args.ks:
                rows = []
                t0 = time.perf_counter()
                for seed in args.seeds:
                    cfg = base.replace(**{"training.k": k, "dynamics.T": T, "model.seed": seed})
                    h = train(cfg, None, progress=False, dataset=data).history
                    rows.append((h["E2"][0], h["E2"][-1], h["EAAI"][0], h["EAAI"][-1]))
                r = np.array(rows)
                secs = (time.perf_counter() - t0) / len(args.seeds)
                print(f"{T:>5g} {k:>7g} {r[:, 0].mean():>10.3e} {r[:, 1].mean():>9.3e} "
                      f"({r[:, 1].min():.1e}-{r[:, 1].max():.1e}) {r[:, 2].mean():>12.3f} {r[:, 3].mean():>7.3f} "
                      f"({r[:, 3].min():.3f}-{r[:, 3].max():.3f}) {secs:>6.1f}")
                if T not in best or r[:, 3].mean() < best[T][1]:
                    best[T] = (k, float(r[:, 3].mean()))
    for T, (k, e) in best.items():
        print(f"T = {T:g}: lowest mean E(AAI) at the end with k = {k:g} ({e:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
