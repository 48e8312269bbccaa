"""One sweep client per store: the lock file ``PATH.zarr.lock`` beside the store (docs/faults.md).

The file names the holder (host, pid, start time, command line). It appears atomically with its full
content (written to a temporary file, then hard-linked to its name, which fails if the name exists;
``O_EXCL`` where hard links are not supported), so a second client either creates it or reads who
holds it. A lock whose holder ran on this host and is gone (its pid is dead or reused, or the machine
rebooted) is stale: it is broken and taken over, with a notice. A lock held from another host cannot
be checked from here; the refusal says how to proceed.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from ..errors import StoreError
from ..fs import os_error_message
from ..process import describe, is_alive, this_process

#: an unreadable (empty) lock younger than this is being written right now; older, it is debris of a crash
TORN_LOCK_AGE_S = 30.0


def lock_path(store) -> Path:
    store = Path(store)
    return store.with_name(store.name + ".lock")


class StoreLock:
    """``with StoreLock(store) as lock:`` holds the store's lock; ``lock.broke`` is the record of a stale
    lock it replaced (None if there was none)."""

    def __init__(self, store):
        self.store = Path(store)
        self.path = lock_path(self.store)
        self.record: dict | None = None
        self.broke: dict | None = None

    # ------------------------------------------------------------------ acquiring
    def acquire(self) -> StoreLock:
        record = {**this_process(), "store": str(self.store)}
        payload = (json.dumps(record, indent=2) + "\n").encode()
        for _ in range(50):
            try:
                created = self._create(payload)
            except OSError as exc:
                raise StoreError(
                    os_error_message(
                        exc,
                        f"the sweep needs to write its lock, store and checkpoints "
                        f"in {self.path.parent}; give a --store in a writable place "
                        "with free space",
                    )
                ) from None
            if created:
                self.record = record
                return self
            holder = self._read(self.path)
            if holder is None:
                if self._age() < TORN_LOCK_AGE_S:  # being written by another client right now
                    time.sleep(0.1)
                    continue
                holder = {"host": "?", "pid": "?", "torn": True}
            alive = False if holder.get("torn") else is_alive(holder)
            if alive is False:
                self._break(holder)
                continue
            raise StoreError(self._refusal(holder, alive))
        raise StoreError(
            f"could not take the lock {self.path}: other clients keep taking it; run one client per store."
        )

    def _create(self, payload: bytes) -> bool:
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            try:
                os.link(tmp, self.path)  # atomic, and fails if the lock exists
                return True
            except FileExistsError:
                return False
            except OSError:  # no hard links here (some network or FUSE file systems): exclusive create
                try:
                    fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    return False
                with os.fdopen(fd, "wb") as fh:
                    fh.write(payload)
                return True
        finally:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass

    @staticmethod
    def _read(path: Path) -> dict | None:
        try:
            rec = json.loads(path.read_text())
            return rec if isinstance(rec, dict) else None
        except (OSError, ValueError):
            return None

    def _age(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def _break(self, holder: dict) -> None:
        """Move a stale lock aside atomically (one breaker wins); put back a live lock moved by mistake."""
        aside = self.path.with_name(f".{self.path.name}.stale-{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another client broke it first
        moved = self._read(aside)
        if not holder.get("torn") and moved != holder:  # a new holder took it between our read and rename
            try:
                os.link(aside, self.path)
            except OSError:
                pass
        else:
            self.broke = holder
        try:
            aside.unlink()
        except FileNotFoundError:
            pass

    def _refusal(self, holder: dict, alive) -> str:
        who = describe(holder)
        if alive is None:
            return (
                f"the sweep store {self.store} is locked by {who}, another machine, which cannot be checked "
                "from here. Two clients on one store would run the same points twice. If that sweep is still "
                f"running, wait for it; if it is not (e.g. its machine crashed), delete {self.path} and run "
                "again."
            )
        return (
            f"the sweep store {self.store} is in use by another chaossim sweep: {who}. Two clients on one "
            "store would run the same points twice. Wait for it to finish or stop it (kill "
            f"{holder.get('pid')}), then run again; reading the store meanwhile (sweep-report, sweep-verify, "
            "xarray.open_zarr) is safe."
        )

    # ------------------------------------------------------------------ releasing
    def release(self) -> None:
        """Remove the lock if it is still ours."""
        if self.record is None:
            return
        current = self._read(self.path)
        if current is not None and all(
            current.get(k) == self.record.get(k) for k in ("host", "pid", "started", "proc_start")
        ):
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        self.record = None

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def holder_of(store) -> tuple[dict | None, bool | None]:
    """(record, alive) of the lock of ``store``; (None, None) when it is not locked."""
    rec = StoreLock._read(lock_path(store))
    if rec is None:
        return None, None
    return rec, is_alive(rec)
