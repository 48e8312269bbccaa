"""One sweep client per store, and fenced writers: the lease ``PATH.zarr.lock`` (docs/faults.md).

What a sweep needs of its lock is the small interface :class:`Lease`: ``take`` / ``refresh`` / ``release``
a lease on the store, whose holder record names the owner (user), host, pid and start time; and
``fence()``, a small picklable callable (:class:`Fence`) that every task calls before each write into the
store or into a point's run directory. The fence raises :class:`chaossim.errors.FencedError` once the lease
the task was started under is released, taken over or no longer renewed: a task whose client has gone (the
scheduler was lost, the client was killed) writes nothing more. :class:`StoreLock` implements it on a file
system; another store (an object store with conditional writes, or a lease object) can implement the same
interface without changing its callers.

The lock file lies beside the store's *real* path (symbolic links resolved), so two clients given the
same store through different paths meet at the same lock. It appears atomically with its full content
(written to a temporary file, then hard-linked to its name, which fails if the name exists; ``O_EXCL``
where hard links are not supported), so a second client either creates it or reads who holds it. Its
content holds a random token; its modification time is the lease's heartbeat, renewed every
:data:`LEASE_REFRESH_S` seconds by the holder (:meth:`StoreLock.keep_alive`). A fence passes while the
file holds its token and was renewed within :data:`LEASE_TTL_S` seconds.

A lock whose holder ran on this host and is gone (its pid is dead or reused, or the machine rebooted) is
stale: it is broken and taken over, with a notice. A stale lock that this user may not remove (another
user's file in a sticky folder such as /tmp) and a lock held from another host, which cannot be checked
from here, are refused with the holder, its age and how to take it over.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import FencedError, StoreError
from ..fs import os_error_message
from ..process import describe, is_alive, this_process

#: an unreadable (empty) lock younger than this is being written right now; older, it is debris of a crash
TORN_LOCK_AGE_S = 30.0
#: how often the holder renews its lease (the lock file's modification time)
LEASE_REFRESH_S = 10.0
#: a lease not renewed for this long has lost its client: its tasks' fences refuse to write. Long against the
#: renewal, so that workers whose clocks differ from the store's file system by a few minutes are not fenced by
#: mistake; a client that ends releases its lease at once, and a client that takes a store over gives its own
#: token, which fences the tasks of the previous one at once.
LEASE_TTL_S = 300.0


def real_path(store) -> Path:
    """The store's path with symbolic links resolved (the lock, the run directories and the log lie beside it)."""
    return Path(os.path.realpath(store))


def lock_path(store) -> Path:
    store = real_path(store)
    return store.with_name(store.name + ".lock")


class Fence(Protocol):
    """Called by a task before each write; raises :class:`chaossim.errors.FencedError` when the lease it was
    started under is gone. Picklable (it travels to the workers with the task)."""

    def __call__(self) -> None: ...


class Lease(Protocol):
    """A client's hold on a store (see the module docstring)."""

    record: dict | None

    def take(self) -> Lease: ...

    def refresh(self) -> None: ...

    def release(self) -> None: ...

    def fence(self) -> Fence: ...


@dataclass(frozen=True)
class FileFence:
    """The fence of a :class:`StoreLock`: the lock file must exist, hold ``token`` and have been renewed within
    ``ttl`` seconds."""

    lock: str
    token: str
    ttl: float = LEASE_TTL_S

    def __call__(self) -> None:
        path = Path(self.lock)
        store = path.with_name(path.name[: -len(".lock")])
        try:
            age = time.time() - path.stat().st_mtime
            rec = json.loads(path.read_text())
        except FileNotFoundError:
            raise FencedError(
                f"the lease on {store} was released: the sweep client that started this task has gone, so the "
                "task writes nothing more"
            ) from None
        except (OSError, ValueError) as exc:
            raise FencedError(f"the lease {path} cannot be read ({exc}); the task writes nothing more") from None
        if not isinstance(rec, dict) or rec.get("token") != self.token:
            who = describe(rec) if isinstance(rec, dict) else "?"
            raise FencedError(
                f"the lease on {store} was taken over by another client ({who}); this task writes nothing more"
            )
        if age > self.ttl:
            raise FencedError(
                f"the lease on {store} was not renewed for {age:.0f} s (its client renews it every "
                f"{LEASE_REFRESH_S:.0f} s): the client has gone or stalled, so this task writes nothing more"
            )


def _user(uid: int | None = None) -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid() if uid is None else uid).pw_name
    except (ImportError, KeyError):
        return str(os.getuid() if uid is None else uid)


def age_text(seconds: float) -> str:
    """'45 s', '12 min', '3 h 12 min', '2 days 4 h'."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days {s % 86400 // 3600} h"


class _Renewed:
    """What the two leases share: a daemon thread that renews the lease (:meth:`refresh`) until :meth:`release`."""

    _stop: threading.Event | None = None

    def refresh(self) -> None:
        raise NotImplementedError

    def keep_alive(self, every: float = LEASE_REFRESH_S) -> None:
        """Renew the lease every ``every`` seconds until :meth:`release` (a daemon thread)."""
        if self._stop is not None:
            return
        self._stop = stop = threading.Event()

        def beat():
            while not stop.wait(every):
                self.refresh()

        threading.Thread(target=beat, name="chaossim-lease", daemon=True).start()

    def _stop_renewing(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None


class StoreLock(_Renewed):
    """``with StoreLock(store) as lock:`` holds the store's lease (:class:`Lease` on a file system);
    ``lock.broke`` is the record of a stale lock it replaced (None if there was none); ``lock.fence()`` is
    what its tasks check before writing; :meth:`keep_alive` renews the lease in a background thread."""

    def __init__(self, store, ttl: float = LEASE_TTL_S):
        self.store = real_path(store)
        self.path = lock_path(self.store)
        self.ttl = ttl
        self.record: dict | None = None
        self.broke: dict | None = None
        self.lost: str | None = None  # why the lease was lost while held (taken over), or None
        self._stop: threading.Event | None = None

    # ------------------------------------------------------------------ the Lease interface
    def take(self) -> StoreLock:
        return self.acquire()

    def fence(self) -> FileFence:
        if self.record is None:
            raise StoreError("the store's lease is not held; take it first.")
        return FileFence(str(self.path), self.record["token"], self.ttl)

    def refresh(self) -> None:
        """Renew the lease (the lock file's modification time) if it is still ours; else note it was lost."""
        if self.record is None:
            return
        current = self._read(self.path)
        if current is None or current.get("token") != self.record["token"]:
            self.lost = f"taken over by {describe(current)}" if current else "the lock file was removed"
            return
        try:
            os.utime(self.path)
        except OSError:  # e.g. a full disk: the next renewal tries again
            pass

    # ------------------------------------------------------------------ acquiring
    def acquire(self) -> StoreLock:
        record = {**this_process(), "user": _user(), "store": str(self.store), "token": uuid.uuid4().hex}
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

    def _owner(self, holder: dict) -> str:
        if holder.get("user"):
            return str(holder["user"])
        try:
            return _user(self.path.stat().st_uid)
        except OSError:
            return "?"

    def _who(self, holder: dict) -> str:
        """'pid 123 on host h (user bob; started ...: chaossim sweep ...; last renewed 3 h 12 min ago)'."""
        what = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
        extra = [f"user {self._owner(holder)}"]
        if holder.get("started"):
            extra.append(f"started {holder['started']}")
        if holder.get("command"):
            extra.append(str(holder["command"]))
        extra.append(f"last renewed {age_text(self._age())} ago")
        return f"{what} ({'; '.join(extra)})"

    def _break(self, holder: dict) -> None:
        """Move a stale lock aside atomically (one breaker wins); put back a live lock moved by mistake."""
        aside = self.path.with_name(f".{self.path.name}.stale-{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another client broke it first
        except OSError as exc:
            raise StoreError(self._cannot_break(holder, exc)) from None
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

    def _cannot_break(self, holder: dict, exc: OSError) -> str:
        owner = self._owner(holder)
        sticky = False
        try:
            sticky = bool(self.path.parent.stat().st_mode & 0o1000)
        except OSError:
            pass
        why = (
            f"{self.path.parent} is a sticky folder, where only the file's owner ({owner}) or root may remove it"
            if sticky and exc.errno in (errno.EPERM, errno.EACCES)
            else f"{os.strerror(exc.errno or 0).lower()}"
        )
        return (
            f"the sweep store {self.store} is locked by a stale lock: {self._who(holder)}, a process that is no "
            f"longer running. It cannot be taken over by user {_user()}: {why}. To take it over, have {owner} or "
            f"root delete it (rm {self.path}) and run the same command again, or give another --store."
        )

    def _refusal(self, holder: dict, alive) -> str:
        who = self._who(holder)
        if alive is None:
            stale = (
                f" It was last renewed {age_text(self._age())} ago, and a running sweep renews it every "
                f"{LEASE_REFRESH_S:.0f} s: it looks stale."
                if self._age() > self.ttl
                else ""
            )
            return (
                f"the sweep store {self.store} is locked by {who}, another machine, which cannot be checked "
                f"from here. Two clients on one store would run the same points twice.{stale} If that sweep is "
                f"still running, wait for it; if it is not (e.g. its machine crashed), take the lock over: delete "
                f"{self.path} and run again."
            )
        return (
            f"the sweep store {self.store} is in use by another chaossim sweep: {who}. Two clients on one "
            "store would run the same points twice. Wait for it to finish or stop it (kill "
            f"{holder.get('pid')}), then run again; reading the store meanwhile (sweep-report, sweep-verify, "
            "xarray.open_zarr) is safe."
        )

    # ------------------------------------------------------------------ releasing
    def release(self) -> None:
        """Stop renewing, and remove the lock if it is still ours: every fence of this lease then refuses."""
        self._stop_renewing()
        if self.record is None:
            return
        current = self._read(self.path)
        if current is not None and current.get("token") == self.record.get("token"):
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


# ---------------------------------------------------------------------------------------------- object stores
def _s3_call(t, method: str, **kwargs):
    """One S3 request on the object ``t`` (a :class:`chaossim.sweep.location.Target`), through s3fs's client."""
    bucket, _, key = t.key.partition("/")
    return t.fs().call_s3(method, Bucket=bucket, Key=key, **kwargs)


def _s3_get(t) -> tuple[dict, str, float]:
    """(record, ETag, age in seconds by the store's clock) of the lease object ``t``; FileNotFoundError."""
    fs = t.fs()
    fs.invalidate_cache(t.key)
    info = fs.info(t.key)
    rec = json.loads(fs.cat_file(t.key))
    modified = info.get("LastModified")
    age = time.time() - modified.timestamp() if hasattr(modified, "timestamp") else 0.0
    return (rec if isinstance(rec, dict) else {}), str(info.get("ETag") or ""), age


def _precondition_failed(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    if isinstance(exc, FileExistsError) or "pre-condition" in text.lower():  # s3fs's translation of HTTP 412
        return True
    return "PreconditionFailed" in text or "412" in text or "ConditionalRequestConflict" in text


@dataclass(frozen=True)
class ObjectFence:
    """The fence of an :class:`ObjectLock`: the lease object must exist, hold ``token`` and have been renewed
    (its LastModified, the object store's own clock) within ``ttl`` seconds."""

    lock: Any  # Target of the lease object
    token: str
    ttl: float = LEASE_TTL_S

    def __call__(self) -> None:
        store = self.lock.url[: -len(".lock")]
        try:
            rec, _, age = _s3_get(self.lock)
        except FileNotFoundError:
            raise FencedError(
                f"the lease on {store} was released: the sweep client that started this task has gone, so the "
                "task writes nothing more"
            ) from None
        except Exception as exc:  # noqa: BLE001 - no answer from the store is no lease
            if "NoSuchKey" in f"{type(exc).__name__} {exc}":
                raise FencedError(
                    f"the lease on {store} was released: the sweep client that started this task has gone, so "
                    "the task writes nothing more"
                ) from None
            raise FencedError(
                f"the lease {self.lock.url} cannot be read ({exc}); the task writes nothing more"
            ) from None
        if not isinstance(rec, dict) or rec.get("token") != self.token:
            who = describe(rec) if isinstance(rec, dict) else "?"
            raise FencedError(
                f"the lease on {store} was taken over by another client ({who}); this task writes nothing more"
            )
        if age > self.ttl:
            raise FencedError(
                f"the lease on {store} was not renewed for {age:.0f} s (its client renews it every "
                f"{LEASE_REFRESH_S:.0f} s): the client has gone or stalled, so this task writes nothing more"
            )


class ObjectLock(_Renewed):
    """The lease of a store on an S3-compatible object store: the object ``PATH.zarr.lock``, created with a
    conditional write (``If-None-Match: *``: it fails when the object exists, so one client wins) and renewed
    with another (``If-Match`` its ETag: it fails once another client replaced it). What the store must support:
    conditional PUTs (AWS S3 since 2024, MinIO, Ceph RGW, moto). The holder record is that of :class:`StoreLock`;
    the age of a lease is its object's LastModified on the store's clock. A lease not renewed for
    :data:`LEASE_TTL_S` is stale and taken over (the takeover is itself a conditional write on the stale ETag),
    with a notice; a live one is refused with its holder."""

    def __init__(self, store, ttl: float = LEASE_TTL_S):
        from .location import target

        self.store = target(store)
        self.path = self.store.sibling(".lock")
        self.ttl = ttl
        self.record: dict | None = None
        self.broke: dict | None = None
        self.lost: str | None = None
        self._etag: str | None = None
        self._stop: threading.Event | None = None

    def take(self) -> ObjectLock:
        return self.acquire()

    def fence(self) -> ObjectFence:
        if self.record is None:
            raise StoreError("the store's lease is not held; take it first.")
        return ObjectFence(self.path, self.record["token"], self.ttl)

    def _put(self, record: dict, **condition) -> str:
        body = (json.dumps(record, indent=2) + "\n").encode()
        return str(_s3_call(self.path, "put_object", Body=body, **condition)["ETag"])

    def acquire(self) -> ObjectLock:
        record = {**this_process(), "user": _user(), "store": self.store.url, "token": uuid.uuid4().hex}
        for _ in range(10):
            try:
                self._etag = self._put(record, IfNoneMatch="*")
                self.record = record
                return self
            except Exception as exc:  # noqa: BLE001
                if not _precondition_failed(exc):
                    raise StoreError(
                        f"cannot write the lease {self.path.url} ({type(exc).__name__}: {exc}); the sweep needs "
                        "conditional writes (If-None-Match) on the object store and write access to the bucket"
                    ) from None
            try:
                holder, etag, age = _s3_get(self.path)
            except Exception:  # noqa: BLE001 - released meanwhile: try again
                continue
            if age > self.ttl or (holder.get("host") == this_process().get("host") and is_alive(holder) is False):
                try:
                    self._etag = self._put(record, IfMatch=etag)
                except Exception as exc:  # noqa: BLE001 - another client took it over first
                    if _precondition_failed(exc):
                        continue
                    raise
                self.record, self.broke = record, holder
                return self
            raise StoreError(
                f"the sweep store {self.store.url} is in use by another chaossim sweep: pid {holder.get('pid')} on "
                f"host {holder.get('host')} (user {holder.get('user', '?')}; started {holder.get('started', '?')}; "
                f"last renewed {age_text(age)} ago). Two clients on one store would run the same points twice. "
                f"Wait for it to finish; if it is dead, its lease expires {age_text(self.ttl)} after its last "
                f"renewal (or delete {self.path.url})."
            )
        raise StoreError(f"could not take the lease {self.path.url}: other clients keep taking it.")

    def refresh(self) -> None:
        if self.record is None:
            return
        try:
            self._etag = self._put(self.record, IfMatch=self._etag)
        except Exception as exc:  # noqa: BLE001
            if _precondition_failed(exc) or "NoSuchKey" in str(exc):
                self.lost = "taken over by another client, or the lease object was removed"

    def release(self) -> None:
        self._stop_renewing()
        if self.record is None:
            return
        try:
            if _s3_get(self.path)[0].get("token") == self.record.get("token"):
                self.path.fs().rm(self.path.key)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.record = None

    def __enter__(self) -> ObjectLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lease_for(store):
    """The lease of ``store``: :class:`StoreLock` on a file system, :class:`ObjectLock` on an object store."""
    from .location import target

    t = target(store)
    if t.local:
        return StoreLock(t.path)
    if not t.url.startswith(("s3://", "s3a://")):
        raise StoreError(
            f"{t.url}: the sweep's lease needs conditional writes, which chaossim uses on S3-compatible stores "
            "(s3://); give an s3:// URL (or a store on a file system all workers see)."
        )
    return ObjectLock(t)
