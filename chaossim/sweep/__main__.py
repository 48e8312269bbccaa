"""``python -m chaossim.sweep SPEC [--store PATH.zarr] ...`` (or ``... sweep-report PATH``, ``... sweep-verify PATH``).

Same exit statuses as ``chaossim`` (see ``chaossim --help``)."""
from __future__ import annotations

import argparse
import sys

from .cli import add_parsers


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m chaossim.sweep")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    if not argv or argv[0] not in ("sweep", "sweep-report", "sweep-verify", "-h", "--help"):
        argv = ["sweep", *argv]
    args = parser.parse_args(argv)
    from ..cli import run_command

    return run_command(args, f"chaossim {args.command}")


if __name__ == "__main__":
    sys.exit(main())
