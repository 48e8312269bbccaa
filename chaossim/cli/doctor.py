"""``chaossim doctor``: the checks live in :mod:`chaossim.doctor`; this registers the subcommand."""

from __future__ import annotations


def add_parsers(sub) -> None:
    """Register ``doctor`` on the ``chaossim`` command line."""
    from ..doctor import add_parser

    add_parser(sub)
