"""A sweep point's run directory, on a file system or on an object store, and its one-file form once the point
is done (docs/sweeps.md "Run directories", docs/faults.md).

On a file system a point trains in ``PATH.zarr.runs/<point key>/`` itself (checkpoint, config.toml, meta.json,
history.csv: :mod:`chaossim.runs.rundir`). On an object store it trains in a working copy in the local cache folder
(:func:`chaossim.sweep.location.cache_dir`), fetched from ``PATH.zarr.runs/<point key>/`` on the object store
when the task starts (any worker, on any node, continues any point), and published there object by object: a
:class:`RunMirror` is the training's fence (called before each write into the run directory), so each call
first checks the task's lease and then uploads what the run wrote since the last call, every file complete
(the run writes each file atomically); the checkpoint goes before meta.json, so a published meta.json never
speaks of a checkpoint that is not there. A worker killed mid-point leaves the last published checkpoint, from
which the next task continues.

**One file per finished point.** Once a point is done and written to the store, its run directory is kept as
one uncompressed zip file ``PATH.zarr.runs/<point key>.zip`` holding its files unchanged (config.toml,
checkpoint.npz with the final parameters, buffers and history, meta.json, history.csv): what a re-run needs to
record the point again without training (a damaged chunk of the store) and what ``chaossim analyze`` and the
SVD analysis read (``unzip KEY.zip -d KEY`` gives the run directory back; :func:`unpack` does it in Python).
Run directories with snapshots or evaluation files, or a checkpoint over :data:`PACK_MAX_BYTES`, stay folders.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import time
import zipfile
from pathlib import Path

from .location import Target, cache_dir, target

PACK_MAX_BYTES = 64 * 2**20
"""Run directories whose files total more than this stay folders when their point is done."""
PACK_SUFFIX = ".zip"
ORDER = ("config.toml", "checkpoint.npz", "history.csv", "meta.json")
"""The order in which a run's files are published: the checkpoint before the meta.json that names its step."""


def packed(runs, key: str) -> Target:
    """The one-file form of the run directory ``key`` in the runs folder ``runs``."""
    return target(runs).child(key + PACK_SUFFIX)


def unpack(data: bytes, dest) -> None:
    """Extract a packed run directory (its zip file's bytes) into the folder ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if "/" in name or name.startswith("."):
                continue
            from ..io import atomic_write_bytes

            atomic_write_bytes(dest / name, z.read(name))


class RunMirror:
    """The run directory of one point of a sweep (see the module docstring). ``dir``: where training writes;
    ``where``: its place beside the store (a folder or an object prefix); ``fence``: the task's lease check."""

    def __init__(self, runs, key: str, fence=None):
        runs = target(runs)
        self.runs, self.key, self.lease = runs, key, fence
        self.where = runs.child(key)
        if runs.local:
            self.dir = runs.path / key
        else:
            digest = hashlib.sha256(runs.url.encode()).hexdigest()[:16]
            self.dir = cache_dir() / "runs" / digest / key
        self._sent: dict[str, tuple] = {}

    @property
    def remote(self) -> bool:
        return not self.runs.local

    # ------------------------------------------------------------------ the fence of the run directory
    def __call__(self) -> None:
        if self.lease is not None:
            self.lease()
        if self.remote:
            self._publish()

    def _unpack(self) -> str:
        """Unpack the one-file form into ``dir``; a damaged one is moved aside (``KEY.damaged-<time>.zip``) and the
        point starts from scratch. Returns where it was moved, or ''."""
        zipped = packed(self.runs, self.key)
        data = zipped.read_bytes()
        try:
            unpack(data, self.dir)
            return ""
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            if self.lease is not None:
                self.lease()
            shutil.rmtree(self.dir, ignore_errors=True)
            aside = self.runs.child(f"{self.key}.damaged-{time.strftime('%Y%m%dT%H%M%S')}{PACK_SUFFIX}")
            aside.write_bytes(data)
            zipped.remove()
            return aside.url

    def fetch(self) -> str:
        """Make ``dir`` the point's run directory as last published: unpacked from its one-file form (a done
        point run again), or, on an object store, fetched into the working copy. Returns where a damaged
        one-file form was set aside ('' if none)."""
        if not self.remote:
            zipped = packed(self.runs, self.key)
            if not self.dir.exists() and zipped.path.is_file():
                return self._unpack()
            return ""
        if self.dir.exists():
            shutil.rmtree(self.dir)
        fs = self.runs.fs()
        names = [n for n in self.where.listing() if "/" not in n]
        if names:
            self.dir.mkdir(parents=True, exist_ok=True)
            from ..io import atomic_write_bytes

            for name in names:
                atomic_write_bytes(self.dir / name, fs.cat_file(self.where.key + "/" + name))
        elif packed(self.runs, self.key).exists():
            aside = self._unpack()
            if aside:
                return aside
        self._sent = {name: self._stamp(name) for name in self._files()}
        return ""

    def _files(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        here = [p.name for p in self.dir.iterdir() if p.is_file() and not p.name.startswith(".")]
        return sorted(here, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))

    def _stamp(self, name: str) -> tuple:
        st = (self.dir / name).stat()
        return (st.st_size, st.st_mtime_ns)

    def _publish(self) -> None:
        fs = self.runs.fs()
        for name in self._files():
            stamp = self._stamp(name)
            if self._sent.get(name) != stamp:
                fs.pipe_file(self.where.key + "/" + name, (self.dir / name).read_bytes())
                self._sent[name] = stamp

    def push(self) -> None:
        """Publish what the run wrote (object store; nothing to do on a file system), after the lease check."""
        if self.remote:
            self()

    def set_aside(self) -> str:
        """Move a run directory that cannot be continued to ``<key>.damaged-<time>``; returns its new place."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        if not self.remote:
            aside = self.dir.with_name(f"{self.dir.name}.damaged-{stamp}")
            shutil.move(str(self.dir), str(aside))
            return str(aside)
        aside = self.runs.child(f"{self.key}.damaged-{stamp}")
        fs = self.runs.fs()
        for name in self.where.listing():
            fs.copy(self.where.key + "/" + name, aside.key + "/" + name)
        self.where.remove(recursive=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self._sent = {}
        return aside.url

    def pack(self) -> bool:
        """Keep the finished run directory as one file (module docstring); False when it stays as it is."""
        names = self._files()
        if not names or "checkpoint.npz" not in names:
            return False
        if any(p.is_dir() for p in self.dir.iterdir()):  # snapshots/: the run keeps its folder
            return False
        if sum((self.dir / n).stat().st_size for n in names) > PACK_MAX_BYTES:
            return False
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
            for name in names:
                z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), (self.dir / name).read_bytes())
        if self.lease is not None:
            self.lease()
        packed(self.runs, self.key).write_bytes(buf.getvalue())
        if self.remote:
            self.where.remove(recursive=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        return True


class GroupFence:
    """The fence of an ensemble's run directories: the lease checked once, then each member's run published."""

    def __init__(self, runs: list[RunMirror], lease=None):
        self.runs, self.lease = runs, lease

    def __call__(self) -> None:
        if self.lease is not None:
            self.lease()
        for run in self.runs:
            if run.remote:
                run._publish()


def checkpoints(runs) -> dict[str, str]:
    """Point key -> how its checkpoint is kept in the runs folder ``runs`` ("dir": in its run directory,
    "zip": in its one-file form), listed in one pass (one listing on an object store)."""
    runs = target(runs)
    out: dict[str, str] = {}
    if runs.local:
        if not runs.path.is_dir():
            return out
        for entry in runs.path.iterdir():
            if entry.name.endswith(PACK_SUFFIX):
                out.setdefault(entry.name[: -len(PACK_SUFFIX)], "zip")
            elif (entry / "checkpoint.npz").is_file():
                out[entry.name] = "dir"
        return out
    for name in runs.listing():
        if name.endswith("/checkpoint.npz") and name.count("/") == 1:
            out[name.split("/")[0]] = "dir"
        elif "/" not in name and name.endswith(PACK_SUFFIX):
            out.setdefault(name[: -len(PACK_SUFFIX)], "zip")
    return out


def checkpoint_bytes(runs, key: str, kept: str) -> bytes:
    """The bytes of point ``key``'s checkpoint.npz, kept as :func:`checkpoints` says."""
    runs = target(runs)
    if kept == "zip":
        with zipfile.ZipFile(io.BytesIO(packed(runs, key).read_bytes())) as z:
            return z.read("checkpoint.npz")
    return runs.child(key).child("checkpoint.npz").read_bytes()


def binding(runs, key: str, kept: str) -> dict:
    """What point ``key``'s checkpoint records of its inputs (:func:`chaossim.runs.rundir.checkpoint_binding`)."""
    import numpy as np

    try:
        with np.load(io.BytesIO(checkpoint_bytes(runs, key, kept)), allow_pickle=False) as z:
            return {k.split("/", 1)[1]: str(z[k]) for k in z.files if k.startswith("run/")}
    except Exception:  # noqa: BLE001 - a damaged checkpoint is reported where it is loaded
        return {}
