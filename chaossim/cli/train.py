"""``chaossim train``: settings from --config and --set, a new run or --resume (docs/reproducibility.md)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from .. import archs
from ..errors import ChaossimError


def _parse_value(text: str):
    from ..config import tomllib

    try:
        return tomllib.loads(f"x = {text}")["x"]
    except tomllib.TOMLDecodeError:
        return text


def _config_from_args(args, base=None):
    from ..config import RunConfig

    config = RunConfig.load(args.config) if args.config else (base or RunConfig())
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


def _resume_config(args, run_dir: Path):
    """The stored config of the run to resume, with the new training.steps; every other requested change
    is refused, listed (resume continues the run as it was trained)."""
    from ..errors import ConfigError
    from ..runs.rundir import config_differences, resume_config

    stored = resume_config(run_dir)
    given = _config_from_args(args, base=stored)
    if args.steps:
        given = given.replace(**{"training.steps": args.steps})
    diff = config_differences(stored, given)
    if diff:
        raise ConfigError(
            f"--resume cannot honour settings that differ from the run's config.toml (only "
            f"training.steps may change on resume): {'; '.join(diff)}. Nothing was written. Leave "
            "them out to continue the run as it was, or start a new run with them in another directory."
        )
    return stored.replace(**{"training.steps": given.training.steps})


def cmd_train(args) -> int:
    from ..runs.training import train

    if args.run is None and not (args.print_config and not args.resume):
        args._parser.error("the following arguments are required: --run (only --print-config works without it)")
    run_dir = Path(args.run) if args.run is not None else None
    if args.resume:
        if run_dir is None:  # the parser has refused this above; kept explicit for callers that bypass it
            raise ChaossimError("--resume needs --run: the run directory to continue.")
        config = _resume_config(args, run_dir)
    else:
        config = _config_from_args(args)
        if args.steps:
            config = config.replace(**{"training.steps": args.steps})
    if args.print_config:
        print(config.resolved().to_toml())
        return 0
    result = train(config, run_dir, resume=args.resume, progress=not args.no_progress)
    from ..runs.progress import index_changes, run_files, summary

    quoted = shlex.quote(str(run_dir))

    print(
        summary(
            run_files(run_dir),
            index_changes(result.history),
            [f"chaossim evaluate {quoted}", f"chaossim plot training {quoted} --out figures/"],
            title=f"trained {config.model.arch} to step {result.step} in {run_dir} ({result.train_path}: "
            f"{result.train_path_reason})",
        )
    )
    return 0


def add_parsers(sub) -> None:
    """Register ``train`` on the ``chaossim`` command line."""
    p = sub.add_parser(
        "train",
        help="train one model (contrastive Hebbian learning) into a run directory",
        description="Train one model. Settings come from --config (TOML) and --set overrides; "
        "the run directory keeps the exact config, checkpoints and the indices vs t_age.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="settings (section.name=value):\n"
        f"  model.arch ({'|'.join(archs.names())}, or your own as module:Class, docs/extending.md),\n"
        "  model.n_hidden, model.n_hidden2, model.g, model.seed\n"
        "  dynamics.dt, dynamics.tau, dynamics.T,\n"
        "  dynamics.init_spread (free-run starts: 1 independent, eps < 1 one common start\n"
        "    + eps perturbations; docs/chaos_study.md)\n"
        "  training.steps, training.batch_size (M), training.k (default: the architecture's, "
        + ", ".join(f"{n} {archs.lookup(n).default_k:g}" for n in archs.names())
        + "),\n"
        "  training.log_every, training.checkpoint_every, training.n_eval (Ns),\n"
        "  training.snapshot_every, training.chaos_every\n"
        "  data.name (digits|fashion-mnist|mnist|file.npy), data.data_dir, data.n_train, data.n_test,\n"
        "  data.value_range\n"
        "  backend.name (numpy|cupy|auto), backend.dtype (float32|float64),\n"
        "  backend.trainer (auto|engine|fused: the fused CUDA-graph step on CuPy by default),\n"
        "  backend.tf32 (false|true: TF32 GEMMs in the fused step; changes the numbers)\n"
        "example:\n  chaossim train --run runs/r1 --set model.g=1.5 --set training.steps=2000",
    )
    p.add_argument(
        "--run",
        help="run directory (created; holds config.toml, checkpoint.npz, history.csv); required "
        "except with --print-config",
    )
    p.add_argument("--config", help="TOML file with [model], [dynamics], [training], [data], [backend] tables")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override one setting (repeatable)")
    p.add_argument("--steps", type=int, help="number of training steps (overrides training.steps)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --run from its last checkpoint, with its stored config.toml (only "
        "--steps / training.steps may change; a missing directory or config.toml is refused)",
    )
    p.add_argument("--backend", choices=["numpy", "cupy", "auto"], help="array backend")
    p.add_argument("--dtype", choices=["float32", "float64"], help="floating-point precision")
    p.add_argument("--force", action="store_true", help="accept dt/tau > 1 (unstable Euler integration)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=cmd_train, _parser=p)
