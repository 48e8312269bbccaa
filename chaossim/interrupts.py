"""Ctrl-C and SIGTERM: stop at the next safe point, keep what is done, record why (docs/faults.md).

The command line installs :func:`deferred` around long work. The first SIGINT or SIGTERM only sets a
flag; loops that can stop cleanly (the training loop, between two steps) poll :func:`requested`,
write their checkpoint and raise :class:`Interrupted`. A second signal raises at once. Code that never
polls (and library use without the command line) gets Python's usual ``KeyboardInterrupt``.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

_requested: int | None = None


class Interrupted(KeyboardInterrupt):
    """Work stopped on a signal at a safe point; ``signum`` is the signal (SIGINT or SIGTERM), ``checkpoint`` the
    step whose checkpoint is kept (None when unknown or none was written)."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message or f"interrupted by {signal_name(signum)}")
        self.signum = signum
        self.checkpoint: int | None = None  # the step whose checkpoint is kept (set by the loop that stopped)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # pragma: no cover
        return f"signal {signum}"


def requested() -> int | None:
    """The signal number of a pending stop request, or None."""
    return _requested


def clear() -> None:
    global _requested
    _requested = None


def request(signum: int) -> None:
    """Ask the loops of this process to stop at their next safe point, as a first SIGINT or SIGTERM would
    (a sweep's client relays its Ctrl-C to the worker processes this way, :mod:`chaossim.sweep.live`)."""
    global _requested
    _requested = int(signum)


def _defer(signum, frame):
    global _requested
    if _requested is not None:  # second signal: stop now
        raise Interrupted(signum)
    _requested = signum
    sys.stderr.write(
        f"\n{signal_name(signum)}: stopping after the current step with a checkpoint (send it again to stop at once)\n"
    )


def _raise_now(signum, frame):
    raise Interrupted(signum)


@contextmanager
def deferred(defer: bool = True):
    """Within the block, SIGINT and SIGTERM request a stop (``defer=True``: the first one only sets
    :func:`requested`; ``False``: both raise :class:`Interrupted` at once, so SIGTERM acts like Ctrl-C).
    Outside the main thread nothing is installed. The previous handlers come back on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = _defer if defer else _raise_now
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    clear()
    try:
        for s in old:
            signal.signal(s, handler)
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        clear()
