"""The ``chaossim`` command line: ``chaossim <subcommand> --help`` for each."""
from __future__ import annotations

import argparse
import signal
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from . import __version__, interrupts
from .errors import ChaossimError, ChaossimWarning

DESCRIPTION = """\
Simulate, train and study high-dimensional chaotic recurrent networks used as generative models
(Fournier & Urbani, "Generative modeling through internal high-dimensional chaotic activity").

Typical use:
  chaossim sweep sweeps/quickstart.toml --store quickstart.zarr   # a g x T grid on the bundled digits
  chaossim train --set model.g=1.5 --set dynamics.T=50 --run runs/r1
  chaossim evaluate runs/r1 && chaossim plot indices-vs-t runs/r1 --out figures/
"""

EXIT_STATUS = """\
exit status (every subcommand):
  0    success
  1    error, reported in one line on stderr as "chaossim COMMAND: error: ...": bad settings or input,
       a run directory or sweep store that is refused or damaged, a full disk, a read-only folder;
       also: sweep points that failed, damage found by sweep-verify
  2    the command line itself is wrong (unknown option, missing argument)
  130  interrupted by Ctrl-C (SIGINT), 143 by SIGTERM: finished checkpoints are kept, resume with
       the same command (train: --resume)
"""


def _parse_value(text: str):
    from .config import tomllib

    try:
        return tomllib.loads(f"x = {text}")["x"]
    except tomllib.TOMLDecodeError:
        return text


def _config_from_args(args, base=None):
    from .config import RunConfig

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
    from .errors import ConfigError
    from .rundir import config_differences, resume_config

    stored = resume_config(run_dir)
    given = _config_from_args(args, base=stored)
    if args.steps:
        given = given.replace(**{"training.steps": args.steps})
    diff = config_differences(stored, given)
    if diff:
        raise ConfigError(f"--resume cannot honour settings that differ from the run's config.toml (only "
                          f"training.steps may change on resume): {'; '.join(diff)}. Nothing was written. Leave "
                          "them out to continue the run as it was, or start a new run with them in another directory.")
    return stored.replace(**{"training.steps": given.training.steps})


def cmd_train(args) -> int:
    from .training import train

    if args.run is None and not (args.print_config and not args.resume):
        args._parser.error("the following arguments are required: --run (only --print-config works without it)")
    run_dir = Path(args.run) if args.run is not None else None
    if args.resume:
        config = _resume_config(args, run_dir)
    else:
        config = _config_from_args(args)
        if args.steps:
            config = config.replace(**{"training.steps": args.steps})
    if args.print_config:
        print(config.resolved().to_toml())
        return 0
    result = train(config, run_dir, resume=args.resume, progress=not args.no_progress)
    from .progress import index_changes, run_files, summary

    print(summary(run_files(run_dir), index_changes(result.history),
                  [f"chaossim evaluate {run_dir}", f"chaossim plot training {run_dir} --out figures/"],
                  title=f"trained {config.model.arch} to step {result.step} in {run_dir} ({result.train_path}: "
                        f"{result.train_path_reason})"))
    return 0


def cmd_sample(args) -> int:
    import numpy as np

    from .backend import to_numpy
    from .fs import check_writable
    from .io import atomic_savez
    from .training import load_run

    config, model, ck = load_run(args.run, backend=args.backend)
    out = Path(args.out) if args.out else Path(args.run) / "generated.npz"
    check_writable(out.parent, "the run directory" if not args.out else "the folder", "give --out FILE.npz in a "
                   "writable place")
    times = args.t or [config.dynamics.T]
    model.rng = model.bk.rng(args.seed)
    samples = to_numpy(model.generate(args.n, times))
    atomic_savez(out, {"t": np.asarray(times, dtype=float), "samples": samples})
    from .progress import index_changes, summary

    print(summary([out], index_changes(ck["history"]), [f"chaossim plot generated {out} --out figures/"],
                  title=f"{samples.shape[1]} samples at t = {times} (array 'samples': t x n x Nv, values phi(v) in "
                        "[-1, 1])"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chaossim", description=DESCRIPTION, epilog=EXIT_STATUS,
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
                              "  training.steps, training.batch_size (M), training.k (default 0.01; rbm: its own),\n"
                              "  training.log_every, training.checkpoint_every, training.n_eval (Ns), training.snapshot_every,\n"
                              "  training.chaos_every\n"
                              "  data.name (digits|fashion-mnist|mnist|file.npy), data.data_dir, data.n_train, data.n_test, data.value_range\n"
                              "  backend.name (numpy|cupy|auto), backend.dtype (float32|float64),\n"
                              "  backend.trainer (auto|engine|fused: the fused CUDA-graph step on CuPy by default),\n"
                              "  backend.tf32 (false|true: TF32 GEMMs in the fused step; changes the numbers)\n"
                              "example:\n  chaossim train --run runs/r1 --set model.g=1.5 --set training.steps=2000")
    p.add_argument("--run", help="run directory (created; holds config.toml, checkpoint.npz, history.csv); required "
                                 "except with --print-config")
    p.add_argument("--config", help="TOML file with [model], [dynamics], [training], [data], [backend] tables")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override one setting (repeatable)")
    p.add_argument("--steps", type=int, help="number of training steps (overrides training.steps)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --run from its last checkpoint, with its stored config.toml (only "
                        "--steps / training.steps may change; a missing directory or config.toml is refused)")
    p.add_argument("--backend", choices=["numpy", "cupy", "auto"], help="array backend")
    p.add_argument("--dtype", choices=["float32", "float64"], help="floating-point precision")
    p.add_argument("--force", action="store_true", help="accept dt/tau > 1 (unstable Euler integration)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=cmd_train, _parser=p)

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
    from .longtime import add_parser as add_analyze_parser

    add_analyze_parser(sub)
    add_sweep_parsers(sub)
    add_doctor_parser(sub)
    return parser


#: what to do when a command cannot write (full disk, read-only folder), by subcommand
_WRITE_ADVICE = {
    "train": "{kept}free some space or fix the folder, then continue with `chaossim train --run {run} --resume`",
    "sample": "give --out FILE.npz in a writable place with free space",
    "evaluate": "give --out DIR in a writable place with free space",
    "plot": "give --out DIR in a writable place with free space",
    "analyze": "give --out DIR in a writable place with free space",
    "sweep": "completed points are kept; free some space or fix the folder, then run the same command again",
    "sweep-report": "give --out DIR in a writable place with free space",
}


def _os_error_line(exc: OSError, args) -> str | None:
    from .fs import USER_ERRNOS, os_error_message

    if exc.errno not in USER_ERRNOS:
        return None
    step = getattr(exc, "checkpoint", None)
    kept = f"the checkpoint of step {step} is kept; " if step is not None else ""
    advice = _WRITE_ADVICE.get(args.command, "").format(run=getattr(args, "run", ""), kept=kept)
    return os_error_message(exc, advice)


@contextmanager
def _warnings_as_lines(prog: str):
    """chaossim's own warnings as one line each ("chaossim train: warning: ..."), not Python's format."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, ChaossimWarning):
            print(f"{prog}: warning: {message}", file=sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


def run_command(args, prog: str) -> int:
    """Run a parsed subcommand under the exit-status convention of :data:`EXIT_STATUS`."""
    defer = args.func is cmd_train  # training stops at a step boundary with a checkpoint
    with interrupts.deferred(defer=defer), _warnings_as_lines(prog):
        try:
            return args.func(args) or 0
        except ChaossimError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            line = _os_error_line(exc, args)
            if line is None:
                raise
            print(f"{prog}: error: {line}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", signal.SIGINT)
            what = str(exc) if isinstance(exc, interrupts.Interrupted) and str(exc) else \
                f"interrupted by {interrupts.signal_name(signum)}"
            hint = (f"resume with `chaossim train --run {args.run} --resume`" if args.command == "train" else
                    "finished checkpoints are kept; run the same command again to continue")
            print(f"{prog}: {what}; {hint}.", file=sys.stderr)
            return 128 + int(signum)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_command(args, f"chaossim {args.command}")


if __name__ == "__main__":
    sys.exit(main())
