"""The cost of a sweep, estimated from step times measured here on one of its points (docs/chaos_study.md).

    python benchmarks/cost_estimate.py sweeps/chaos_paper.toml [--backend numpy|cupy] [--repeats 3] [--threads 1]

For each distinct cost signature of the spec (architecture, sizes, T, minibatch; g and the seed do not change the
arithmetic) one point's model is built on the backend and the following are timed (median of --repeats after a
warm-up; BLAS threads pinned with threadpoolctl on the CPU, device synchronised on the GPU):

  train step       one training step on the path `chaossim train` takes (engine on NumPy, fused on CuPy)
  evaluation       the four indices at T on training.n_eval held-out points (a logged step)
  euler(b)         one free Euler step of b runs, for each batch b the records use
  tangent(b)       one Euler step of b runs with their tangent vectors (finite-time and asymptotic exponents,
                   the chaos probe)

The cost of a point is then counted from the spec: training steps x train step, logged steps x evaluation, the
chaos probes, and the records after training ([record]: indices along t, samples, diversity runs, finite-time
exponents at every snapshot, asymptotic exponents and perturbation growth of the trained model and its untrained
twin), each as a number of Euler steps x the measured time of its batch. The indices along t are counted as one
free run of n_eval to the last time plus one evaluation per time (an upper bound). Printed: the measured times,
the cost of one point by part, and the total for the spec's points run one after the other on this device.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from chaossim.chaos.probe import N_REPLICAS, T_BURN, T_MEASURE  # noqa: E402
from chaossim.config import log_steps, probe_steps  # noqa: E402
from chaossim.evaluation import indices_at  # noqa: E402
from chaossim.runs.build import build_model  # noqa: E402
from chaossim.runs.train_path import choose_trainer  # noqa: E402
from chaossim.sweep.ftle import ftle_steps, growth_times  # noqa: E402
from chaossim.sweep.spec import load_spec  # noqa: E402
from chaossim.sweep.store import dataset_for  # noqa: E402


def _sync(bk) -> None:
    if bk.name == "cupy":
        import cupy

        cupy.cuda.runtime.deviceSynchronize()


def _median_time(fn, bk, repeats: int) -> float:
    fn()
    _sync(bk)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(bk)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(config, rec, repeats: int, n_steps: int = 20) -> dict:
    """Measured seconds of the pieces of a point of ``config`` with the records ``rec`` (module docstring)."""
    data = dataset_for(config)
    model = build_model(config, data.n_features)
    bk, dyn, tc = model.bk, config.dynamics, config.resolved().training
    path = choose_trainer(model, config.backend)
    batch = bk.asarray(data.train[: tc.batch_size])
    out = {"path": path.name, "device": str(bk.device)}
    out["train step"] = _median_time(
        lambda: path.trainer.train_step(batch, dyn.dt, dyn.tau, dyn.T, tc.k, check=False), bk, repeats
    )
    test = bk.asarray(data.test[: tc.n_eval])
    out["evaluation"] = _median_time(lambda: indices_at(model, test, dyn.T, seed=0), bk, max(1, repeats // 2))
    a, ops = dyn.dt / dyn.tau, model.operators()
    for b in sorted({tc.n_eval, rec.n_diversity, rec.n_long, rec.n_growth, max(rec.n_samples, 1)}):
        state = model.random_state(b)
        out[f"euler({b})"] = _median_time(lambda s=state: model._run(s, n_steps, a, {}, None), bk, repeats) / n_steps
    for b in sorted({max(rec.ftle_starts, 2), rec.asymptotic_replicas, N_REPLICAS}):
        state = model.random_state(b)
        u = model.random_state(b)

        def tangent(s=state, u=u):
            x, v = s, u
            for _ in range(n_steps):
                v = model.euler_tangent(x, v, a, ops)
                x = model.euler_step(x, a, ops)

        out[f"tangent({b})"] = _median_time(tangent, bk, repeats) / n_steps
    return out


def point_cost(spec, config, m: dict) -> dict:
    """Seconds of each part of a point of ``config``, counted from the spec and the measured times ``m``."""
    rec, dyn = spec.record, config.dynamics
    tc = config.resolved().training
    n = lambda t: round(t / dyn.dt)  # noqa: E731
    tau_steps = round(dyn.tau / dyn.dt)
    cost = {
        "training": tc.steps * m["train step"],
        "evaluations": len(log_steps(config)) * m["evaluation"],
        "chaos probes": len(probe_steps(config)) * (T_BURN + T_MEASURE) * tau_steps * m[f"tangent({N_REPLICAS})"],
        "indices along t": n(max(rec.times)) * m[f"euler({tc.n_eval})"] + len(rec.times) * m["evaluation"],
        "samples": n(dyn.T) * m[f"euler({max(rec.n_samples, 1)})"] if rec.n_samples else 0.0,
    }
    if rec.spreads:
        per = n(max([*rec.times, dyn.T])) * m[f"euler({rec.n_diversity})"] + n(rec.t_long) * m[f"euler({rec.n_long})"]
        cost["diversity"] = len(rec.spreads) * per
    if rec.ftle_starts:
        cost["FTLE along training"] = len(ftle_steps(config)) * n(dyn.T) * m[f"tangent({rec.ftle_starts})"]
        burn_window = n(rec.asymptotic_burn) + n(rec.asymptotic_window)
        cost["asymptotic (2 twins)"] = 2 * burn_window * m[f"tangent({rec.asymptotic_replicas})"]
    if rec.growth_spreads:
        t_max = max(growth_times(rec, dyn.T, dyn.dt))
        cost["growth (2 twins)"] = 2 * len(rec.growth_spreads) * n(t_max) * m[f"euler({rec.n_growth})"]
    return cost


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="a sweep spec, e.g. sweeps/chaos_paper.toml")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads on the CPU (default 1, as a sweep worker)")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    signatures: dict = {}
    for i in range(spec.n_points):
        c = spec.config(i, args.backend)
        key = (c.model.arch, c.model.n_hidden, c.model.n_hidden2, c.dynamics.T, c.training.batch_size)
        signatures.setdefault(key, []).append(c)
    from threadpoolctl import threadpool_info, threadpool_limits

    total = 0.0
    with threadpool_limits(args.threads if args.backend == "numpy" else None):
        blas = [f"{i.get('internal_api')} {i.get('version')} x{i.get('num_threads')}" for i in threadpool_info()]
        cpu = platform.processor() or platform.machine()
        print(
            f"# {spec.name}: {spec.n_points} points; backend {args.backend}; {cpu}; BLAS {', '.join(blas)}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        for key, configs in signatures.items():
            m = measure(configs[0], spec.record, args.repeats)
            print(
                f"\n## {len(configs)} points like {key} (arch, n_hidden, n_hidden2, T, M) on {m['device']}, "
                f"training path {m['path']}"
            )
            print("| measured | seconds |\n|---|---|")
            for k, v in m.items():
                if isinstance(v, float):
                    print(f"| {k} | {v:.4g} |")
            cost = point_cost(spec, configs[0], m)
            print("\n| part of one point | hours |\n|---|---|")
            for k, v in cost.items():
                print(f"| {k} | {v / 3600:.3g} |")
            one = sum(cost.values())
            print(f"| **one point** | **{one / 3600:.3g}** |")
            total += one * len(configs)
    print(
        f"\n**{spec.n_points} points, one after the other on this device: {total / 3600:.3g} hours "
        f"({total / 86400:.3g} days)**"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
