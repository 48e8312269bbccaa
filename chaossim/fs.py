"""Operating-system errors as one clear line, and checks that a folder can be written before any work.

Full disks, read-only mounts and permission errors are not bugs of chaossim: the user needs the path,
the cause and what to do, not a traceback (docs/faults.md). :func:`os_error_message` turns an
``OSError`` into that line; :func:`check_writable` refuses an output folder before anything is
computed or written into it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import StoreError

_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
if hasattr(errno, "EDQUOT"):
    _CAUSES[errno.EDQUOT] = "the disk quota is exceeded"

#: errno values that are about the place written to (the user can act on them), not a bug.
USER_ERRNOS = frozenset(_CAUSES) | {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY}


def cause(exc: OSError) -> str:
    """Short cause of an OSError ('the disk is full', 'permission denied', ...)."""
    known = _CAUSES.get(exc.errno) if exc.errno is not None else None
    return known or exc.strerror or type(exc).__name__


def os_error_message(exc: OSError, advice: str = "") -> str:
    """One line: what could not be done to which path, why, and ``advice`` (what to do).

    Without ``advice`` a default is chosen from the errno: free space, or choose a writable place.
    """
    path = exc.filename or ""
    where = f" {path}" if path else ""
    if not advice:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            advice = "free some space (or use another disk) and run the command again"
        elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            advice = "choose a writable location or fix the folder's permissions"
    text = f"cannot write{where}: {cause(exc)} ([Errno {exc.errno}] {exc.strerror})"
    return f"{text}; {advice}." if advice else f"{text}."


def check_writable(folder, what: str, advice: str) -> Path:
    """Refuse (StoreError) when ``folder`` (or, if it does not exist yet, its nearest existing parent)
    cannot be written; nothing is created. ``what`` names the folder for the user ("the run directory"),
    ``advice`` says what to do ("give --out DIR elsewhere")."""
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise StoreError(f"{what} {folder} cannot be created: {probe} is a file, not a folder; {advice}.")
    if not os.access(probe, os.W_OK | os.X_OK):
        reason = "the file system is read-only" if _read_only_mount(probe) else "permission denied"
        raise StoreError(f"cannot write into {what} {folder}: {reason}; {advice}.")
    return folder


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # pragma: no cover - statvfs missing on some platforms
        return False


def remove_orphan_temporaries(folder, names=None) -> list[Path]:
    """Delete ``.NAME.*.tmp`` files that :func:`chaossim.io.atomic_write_bytes` leaves behind when its
    process is killed mid-write (``names``: only those targets; default all). Returns what was removed."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in folder.glob(".*.tmp"):
        target = p.name[1:].rsplit(".", 2)[0]
        if p.is_file() and (names is None or target in names):
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
    return removed
