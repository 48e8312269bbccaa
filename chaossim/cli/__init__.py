"""The ``chaossim`` command line (``chaossim <subcommand> --help`` for each; docs/faults.md for exit statuses).

``app``: the parser and the one error handler; ``train``: train; ``evaluate``: sample, evaluate, plot;
``analyze``: analyze; ``sweep``: sweep, sweep-report, sweep-verify; ``doctor``: doctor. The entry point is
:func:`main`.
"""

from __future__ import annotations

from .app import DESCRIPTION, EXIT_STATUS, build_parser, main, run_command, sweep_main

__all__ = ["DESCRIPTION", "EXIT_STATUS", "build_parser", "main", "run_command", "sweep_main"]
