"""Side-by-side: the restricted chaotic model and the short-run (Rdm) RBM on FashionMNIST.

Both are trained with the same data subset, minibatches and number of updates, each with its own learning
rate (``--k`` for the chaotic model; the RBM's default, chaossim.archs.RBM.default_k, unless ``--rbm-k``), at a
matched sampling length: T/dt Euler steps for the chaotic model, the same number of block-Gibbs sweeps
for the RBM. E(2), E(s), E(AAI) (and E(R)) on held-out data every ``--log-every`` steps.

    python benchmarks/compare_rbm.py --out figures/compare_rbm     # CPU subset, a few minutes
    python benchmarks/compare_rbm.py --full --backend cupy          # the full set on a GPU

Writes one run directory per model under --out, a table (stdout and table.txt) and fig_compare.{png,pdf}.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from chaossim.archs import RBM
from chaossim.config import RunConfig
from chaossim.plotting import plot_training_curves, save_figure
from chaossim.runs.training import load_data, train


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="figures/compare_rbm")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--n-hidden", type=int, default=200)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--k", type=float, default=0.02)
    p.add_argument("--T", type=float, default=50.0, help="chaotic generation time (dt = 1); RBM Gibbs sweeps = T")
    p.add_argument("--g", type=float, default=1.5)
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-eval", type=int, default=1000)
    p.add_argument("--full", action="store_true", help="all 60 000 training images, Ns = 10 000")
    p.add_argument("--backend", default="numpy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rbm-k", type=float, help="the RBM's learning rate (default: its own default, "
                                               "chaossim.archs.RBM.default_k, measured with benchmarks/rbm_lr.py)")
    args = p.parse_args(argv)
    out = Path(args.out)
    base = RunConfig().replace(**{
        "data.name": "fashion-mnist", "data.n_train": 0 if args.full else args.n_train,
        "data.n_test": 10000 if args.full else args.n_eval,
        "model.n_hidden": args.n_hidden, "model.g": args.g, "model.seed": args.seed,
        "dynamics.dt": 1.0, "dynamics.tau": 10.0, "dynamics.T": args.T,
        "training.steps": args.steps, "training.batch_size": args.batch, "training.k": args.k,
        "training.log_every": args.log_every, "training.checkpoint_every": args.log_every,
        "training.n_eval": 10000 if args.full else args.n_eval, "backend.name": args.backend})
    data = load_data(base)
    runs, rows = {}, []
    for arch in ("restricted", "rbm"):
        cfg = base.replace(**{"model.arch": arch})
        if arch == "rbm":
            cfg = cfg.replace(**{"training.k": args.rbm_k}).resolved()  # None: the RBM's default
        run_dir = out / arch
        t0 = time.perf_counter()
        res = train(cfg, run_dir, resume=run_dir.exists(), progress=True, dataset=data)
        runs[arch] = run_dir
        rows.append((arch, res.history, time.perf_counter() - t0))
    lines = [f"FashionMNIST subset: {len(data.train)} train, {base.training.n_eval} held-out; Nh={args.n_hidden}, "
             f"M={args.batch}, k={args.k}, T={args.T} (Euler steps, dt=1, tau=10) = {int(args.T)} Gibbs sweeps",
             f"{'model':<11}{'t_age':>7}{'E2':>11}{'Es':>10}{'EAAI':>8}{'ER':>8}"]
    for arch, h, secs in rows:
        for i in range(len(h["t_age"])):
            lines.append(f"{arch:<11}{int(h['t_age'][i]):>7}{h['E2'][i]:>11.3e}{h['Es'][i]:>10.3g}"
                         f"{h['EAAI'][i]:>8.3f}{h['ER'][i]:>8.3f}")
        k = (args.rbm_k if args.rbm_k is not None else RBM.default_k) if arch == "rbm" else args.k
        lines.append(f"{arch:<11} trained in {secs:.0f} s (k = {k})")
    table = "\n".join(lines)
    print(table)
    (out / "table.txt").write_text(table + "\n")
    histories = {arch: h for arch, h, _ in rows}
    fig = plot_training_curves([histories["restricted"], histories["rbm"]],
                               labels=["restricted chaotic", f"RBM (Rdm, {int(args.T)} sweeps)"])
    paths = save_figure(fig, out / "fig_compare")
    print("figure:", *paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
