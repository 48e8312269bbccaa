"""Who is running: a record of this process (host, pid, start time) and whether a recorded one still runs.

Used by the sweep store's lock and by a run directory's ``meta.json`` to tell a crashed writer from a
live one (docs/faults.md). On the same host a process is dead when its pid is gone, when the pid now
belongs to a process started at another time (pid reuse, Linux ``/proc``), or when the machine has
rebooted since (Linux boot id). On another host nothing can be known.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_start(pid: int) -> str:
    """Start time of ``pid`` in clock ticks after boot (field 22 of /proc/PID/stat), '' if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat[stat.rfind(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[19] if len(fields) > 19 else ""


def hostname() -> str:
    return socket.gethostname()


def this_process() -> dict:
    """{host, pid, started, boot_id, proc_start, command} of the calling process."""
    pid = os.getpid()
    return {
        "host": hostname(),
        "pid": pid,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "boot_id": _boot_id(),
        "proc_start": _proc_start(pid),
        "command": _command(),
    }


def _command() -> str:
    """The command line, as typed: ``chaossim sweep ...`` or ``python -m chaossim.sweep ...``."""
    if not sys.argv or not sys.argv[0]:
        return ""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name.endswith(".__main__"):
        head = f"python -m {spec.name.removesuffix('.__main__')}"
    else:
        head = Path(sys.argv[0]).name
    return " ".join([head, *sys.argv[1:]])[:500]


def is_alive(record: dict) -> bool | None:
    """Whether the process described by ``record`` (see :func:`this_process`) still runs: True, False,
    or None when it ran on another host (unknowable from here)."""
    if record.get("host") != hostname():
        return None
    try:
        pid = int(record["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    boot = record.get("boot_id") or ""
    if boot and _boot_id() and boot != _boot_id():
        return False  # the machine rebooted since: every process of that time is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    started = record.get("proc_start") or ""
    now = _proc_start(pid)
    if started and now and started != now:
        return False  # the pid was reused by a newer process
    return True


def describe(record: dict) -> str:
    """'pid 123 on host h (started 2026-01-01T10:00:00+0000: chaossim sweep ...)'."""
    what = f"pid {record.get('pid', '?')} on host {record.get('host', '?')}"
    extra = [x for x in (record.get("started"), record.get("command")) if x]
    return what + (f" (started {': '.join(extra)})" if extra else "")
