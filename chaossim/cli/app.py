"""The ``chaossim`` parser and its one error handler (:func:`run_command`): every subcommand's errors map to the
exit statuses of :data:`EXIT_STATUS` (docs/faults.md)."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import warnings
from contextlib import contextmanager

from .. import interrupts
from .._version import __version__
from ..errors import ChaossimError, ChaossimWarning

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chaossim",
        description=DESCRIPTION,
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"chaossim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from . import analyze, doctor, evaluate, sweep, train

    train.add_parsers(sub)  # train
    evaluate.add_parsers(sub)  # sample, evaluate, plot
    analyze.add_parsers(sub)  # analyze
    sweep.add_parsers(sub)  # sweep, sweep-report, sweep-verify
    doctor.add_parsers(sub)  # doctor
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
    from ..fs import USER_ERRNOS, os_error_message

    if exc.errno not in USER_ERRNOS:
        return None
    step = getattr(exc, "checkpoint", None)
    kept = f"the checkpoint of step {step} is kept; " if step is not None else ""
    advice = _WRITE_ADVICE.get(args.command, "").format(run=shlex.quote(str(getattr(args, "run", ""))), kept=kept)
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
    defer = args.command in ("train", "sweep")  # training stops at a step boundary with a checkpoint
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
            what = (
                str(exc)
                if isinstance(exc, interrupts.Interrupted) and str(exc)
                else f"interrupted by {interrupts.signal_name(signum)}"
            )
            hint = (
                f"resume with `chaossim train --run {shlex.quote(str(args.run))} --resume`"
                if args.command == "train"
                else "finished checkpoints are kept; run the same command again to continue"
            )
            print(f"{prog}: {what}; {hint}.", file=sys.stderr)
            return 128 + int(signum)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_command(args, f"chaossim {args.command}")


def sweep_main(argv=None) -> int:
    """``python -m chaossim.sweep SWEEP.toml ...``: ``chaossim sweep SWEEP.toml ...`` (or ``... sweep-report PATH``,
    ``... sweep-verify PATH``) under the same error handler and exit statuses."""
    from . import sweep

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m chaossim.sweep")
    sweep.add_parsers(parser.add_subparsers(dest="command", required=True))
    if not argv or argv[0] not in ("sweep", "sweep-report", "sweep-verify", "-h", "--help"):
        argv = ["sweep", *argv]
    args = parser.parse_args(argv)
    return run_command(args, f"chaossim {args.command}")
