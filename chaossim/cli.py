"""The ``chaossim`` command line: ``chaossim <subcommand> --help`` for each."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import ChaossimError

DESCRIPTION = """\
Simulate, train and study high-dimensional chaotic recurrent networks used as generative models
(Fournier & Urbani, "Generative modeling through internal high-dimensional chaotic activity").

Typical use:
  chaossim sweep sweeps/quickstart.toml --store quickstart.zarr   # a g x T grid on the bundled digits
  chaossim train --set model.g=1.5 --set dynamics.T=50 --run runs/r1
  chaossim evaluate runs/r1 && chaossim plot indices-vs-t runs/r1 --out figures/
"""


def _parse_value(text: str):
    from .config import tomllib

    try:
        return tomllib.loads(f"x = {text}")["x"]
    except tomllib.TOMLDecodeError:
        return text


def _config_from_args(args):
    from .config import RunConfig

    config = RunConfig.load(args.config) if args.config else RunConfig()
    overrides = {}
    for item in args.set or []:
        if "=" not in item:
            raise ChaossimError(f"--set expects NAME=VALUE (e.g. model.g=1.5), got {item!r}.")
        key, value = item.split("=", 1)
        overrides[key.strip()] = _parse_value(value.strip())
    if args.backend:
        overrides["backend.name"] = args.backend
    if args.dtype:
        overrides["backend.dtype"] = args.dtype
    if args.force:
        overrides["backend.force"] = True
    return config.replace(**overrides) if overrides else config


def cmd_train(args) -> int:
    from .config import RunConfig
    from .training import train

    run_dir = Path(args.run)
    if args.resume and (run_dir / "config.toml").exists():
        config = RunConfig.load(run_dir / "config.toml")
        if args.steps:
            config = config.replace(**{"training.steps": args.steps})
    else:
        config = _config_from_args(args)
        if args.steps:
            config = config.replace(**{"training.steps": args.steps})
    if args.print_config:
        print(config.to_toml())
        return 0
    result = train(config, run_dir, resume=args.resume, progress=not args.no_progress)
    h = result.history
    print(f"trained {config.model.arch} to step {result.step} in {run_dir}")
    if len(h["t_age"]):
        print("last indices at T: " + ", ".join(f"{k}={h[k][-1]:.4g}" for k in ("E2", "Es", "EAAI", "ER")))
    return 0


def cmd_sample(args) -> int:
    import numpy as np

    from .backend import to_numpy
    from .io import atomic_savez
    from .training import load_run

    config, model, _ = load_run(args.run, backend=args.backend)
    times = args.t or [config.dynamics.T]
    model.rng = model.bk.rng(args.seed)
    samples = to_numpy(model.generate(args.n, times))
    out = Path(args.out) if args.out else Path(args.run) / "generated.npz"
    atomic_savez(out, {"t": np.asarray(times, dtype=float), "samples": samples})
    print(f"wrote {samples.shape[1]} samples at t = {times} to {out} (array 'samples': t x n x Nv, values phi(v) in [-1, 1])")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chaossim", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"chaossim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train one model (contrastive Hebbian learning) into a run directory",
                       description="Train one model. Settings come from --config (TOML) and --set overrides; "
                                   "the run directory keeps the exact config, checkpoints and the indices vs t_age.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="settings (section.name=value):\n"
                              "  model.arch (unrestricted|restricted|deep|rbm), model.n_hidden, model.n_hidden2, model.g, model.seed\n"
                              "  dynamics.dt, dynamics.tau, dynamics.T\n"
                              "  training.steps, training.batch_size (M), training.k, training.log_every,\n"
                              "  training.checkpoint_every, training.n_eval (Ns), training.snapshot_every, training.chaos_every\n"
                              "  data.name (digits|fashion-mnist|mnist|file.npy), data.data_dir, data.n_train, data.n_test, data.value_range\n"
                              "  backend.name (numpy|cupy|auto), backend.dtype (float32|float64)\n"
                              "example:\n  chaossim train --run runs/r1 --set model.g=1.5 --set training.steps=2000")
    p.add_argument("--run", required=True, help="run directory (created; holds config.toml, checkpoint.npz, history.csv)")
    p.add_argument("--config", help="TOML file with [model], [dynamics], [training], [data], [backend] tables")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override one setting (repeatable)")
    p.add_argument("--steps", type=int, help="number of training steps (overrides training.steps)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run from its last checkpoint")
    p.add_argument("--backend", choices=["numpy", "cupy", "auto"], help="array backend")
    p.add_argument("--dtype", choices=["float32", "float64"], help="floating-point precision")
    p.add_argument("--force", action="store_true", help="accept dt/tau > 1 (unstable Euler integration)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="generate samples phi(v(t)) from a trained run",
                       description="Generate samples phi(v(t)) from random starts with a trained model; "
                                   "several times t are served by one run.")
    p.add_argument("run", help="run directory made by `chaossim train`")
    p.add_argument("-n", type=int, default=16, help="number of samples (default 16)")
    p.add_argument("-t", type=float, nargs="+", help="generation time(s) (default: the run's T)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts")
    p.add_argument("--out", help="output .npz (default RUN/generated.npz)")
    p.add_argument("--backend", choices=["numpy", "cupy", "auto"], help="array backend")
    p.set_defaults(func=cmd_sample)

    from .doctor import add_parser as add_doctor_parser
    from .evaluate_run import add_parsers as add_evaluation_parsers
    from .sweep.cli import add_parsers as add_sweep_parsers

    add_evaluation_parsers(sub)
    add_sweep_parsers(sub)
    add_doctor_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except ChaossimError as exc:
        print(f"chaossim {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"chaossim {args.command}: interrupted; finished checkpoints are kept (use --resume).", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
