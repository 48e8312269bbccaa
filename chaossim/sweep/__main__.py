"""``python -m chaossim.sweep SPEC [--store PATH.zarr] ...`` (or ``python -m chaossim.sweep sweep-report PATH``)."""
from __future__ import annotations

import argparse
import sys

from .cli import add_parsers


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m chaossim.sweep")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    if not argv or argv[0] not in ("sweep", "sweep-report", "-h", "--help"):
        argv = ["sweep", *argv]
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
