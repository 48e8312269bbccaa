"""``python -m chaossim.sweep SWEEP.toml [--store PATH.zarr] ...``: an alias of ``chaossim sweep`` (also
``... sweep-report PATH``, ``... sweep-verify PATH``), with the same exit statuses (``chaossim --help``)."""

from __future__ import annotations

import sys

from ..cli.app import sweep_main as main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
