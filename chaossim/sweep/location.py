"""Where a sweep's store lies: a local folder, or any fsspec URL (``s3://bucket/path.zarr``) on an object store
(docs/sweeps.md "A cloud cluster without a shared file system").

A :class:`Target` names a store (or one of its siblings: ``PATH.zarr.runs/``, ``.lock``, ``.log``) and the
storage options to reach it; it is small and picklable, so it travels to the workers with each task. On an
object store the credentials and the endpoint come from the standard AWS variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``; read by botocore on each node) or from
the storage options the user gives (``--storage-option endpoint_url=...``). Every object is written whole by
one PUT, so a reader sees an object's old or its new content, never a mix: that is what makes each write
atomic there, as renaming a temporary file does on a file system. Nothing is written to the local disk but
caches (:func:`cache_dir`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def is_url(value) -> bool:
    """Whether ``value`` names an fsspec URL other than a local file (``s3://...``, ``gs://...``, ``memory://``)."""
    text = str(value)
    return "://" in text and not text.startswith("file://")


@dataclass(frozen=True)
class Target:
    """A store's place: ``url`` (an absolute local path, or a URL) and its storage options as sorted pairs."""

    url: str
    options: tuple = ()

    @property
    def local(self) -> bool:
        return not is_url(self.url)

    @property
    def path(self) -> Path:
        return Path(self.url)

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def storage_options(self) -> dict:
        return {k: json.loads(v) for k, v in self.options}

    def fs(self):
        """The fsspec file system of the URL (one per process and options)."""
        return _filesystem(self.url.split("://", 1)[0] if not self.local else "file", self.options)

    @property
    def key(self) -> str:
        """The path inside the file system (``bucket/path.zarr``)."""
        return self.url.split("://", 1)[1] if not self.local else self.url

    def sibling(self, suffix: str) -> Target:
        """``PATH.zarr`` + ``suffix`` (``.runs``, ``.lock``, ``.log``), on the same store."""
        return Target(self.url.rstrip("/") + suffix, self.options)

    def child(self, name: str) -> Target:
        return Target(self.url.rstrip("/") + "/" + name, self.options)

    def __str__(self) -> str:
        return self.url

    def __fspath__(self) -> str:
        if self.local:
            return self.url
        raise TypeError(f"{self.url} is not a local path")

    # ------------------------------------------------------------------ objects
    def exists(self) -> bool:
        if self.local:
            return self.path.exists()
        self.fs().invalidate_cache(self.key)
        return bool(self.fs().exists(self.key))

    def read_bytes(self) -> bytes:
        if self.local:
            return self.path.read_bytes()
        fs = self.fs()
        fs.invalidate_cache(self.key)  # s3fs sizes the object from a cached listing of its folder, if any
        return fs.cat_file(self.key)

    def write_bytes(self, data: bytes) -> None:
        """Write the whole object at once (one PUT on an object store; atomic via a renamed temporary file on
        a file system)."""
        if self.local:
            from ..io import atomic_write_bytes

            atomic_write_bytes(self.path, data)
        else:
            self.fs().pipe_file(self.key, data)

    def remove(self, recursive: bool = False) -> None:
        fs = self.fs()
        try:
            fs.rm(self.key, recursive=recursive)
        except FileNotFoundError:
            pass

    def listing(self) -> list[str]:
        """Every object (file) under this prefix, as paths relative to it."""
        fs = self.fs()
        root = self.key.rstrip("/")
        _forget(fs, root)  # a listing is always fresh: other processes write there
        try:
            found = fs.find(root)
        except FileNotFoundError:
            return []
        return [p[len(root) + 1 :] for p in found if p.startswith(root + "/")]


def _forget(fs, root: str) -> None:
    """Drop what ``fs`` has cached of the listings of ``root``, its parents and everything under it: s3fs's
    ``invalidate_cache`` leaves the sub-folders, and its ``find`` does not refresh those already cached, so an
    object another process wrote there after an earlier listing would stay unseen (and unreadable)."""
    fs.invalidate_cache(root)
    cache = getattr(fs, "dircache", None)
    if cache is not None:
        for key in [k for k in cache if k.startswith(root + "/")]:
            cache.pop(key, None)


_FILESYSTEMS: dict = {}


def _filesystem(protocol: str, options: tuple):
    import fsspec

    key = (protocol, options)
    if key not in _FILESYSTEMS:
        _FILESYSTEMS[key] = fsspec.filesystem(protocol, **{k: json.loads(v) for k, v in options})
    return _FILESYSTEMS[key]


def target(store, storage_options: dict | None = None) -> Target:
    """The :class:`Target` of ``store`` (a path, a URL or a Target; a local path made absolute with its
    symbolic links resolved, so every way of naming one store meets the same lock and run directories)."""
    if isinstance(store, Target):
        if storage_options:
            return Target(store.url, _frozen(storage_options))
        return store
    text = str(store)
    if text.startswith("file://"):
        text = text[len("file://") :]
    if is_url(text):
        return Target(text.rstrip("/"), _frozen(storage_options or {}))
    return Target(os.path.realpath(os.path.abspath(text)), ())


def _frozen(options: dict) -> tuple:
    return tuple(sorted((str(k), json.dumps(v, sort_keys=True)) for k, v in options.items()))


def zarr_store(store, read_only: bool = False):
    """What zarr opens for ``store``: the local folder's path, or an ``FsspecStore`` of the URL."""
    t = target(store)
    if t.local:
        return str(t.path)
    from zarr.storage import FsspecStore

    return FsspecStore.from_url(t.url, storage_options=t.storage_options or None, read_only=read_only)


def cache_dir() -> Path:
    """The local cache folder of this process (``$XDG_CACHE_HOME/chaossim``, else ``~/.cache/chaossim``, else
    the temporary folder; as :mod:`chaossim.decoded_cache`): copies of user data given as URLs, and the working
    copies of run directories kept on an object store (:class:`chaossim.sweep.mirror.RunMirror`)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "chaossim"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return Path(tempfile.gettempdir()) / "chaossim-cache"


def url_stamp(url: str) -> tuple:
    """(url, ETag or size and modification time) of an object: changes when the object is replaced."""
    t = target(url)
    try:
        info: dict[str, Any] = t.fs().info(t.key)
    except (OSError, ValueError):
        return (url,)
    return (url, str(info.get("ETag") or ""), int(info.get("size") or 0), str(info.get("LastModified") or ""))


def local_copy(url: str) -> Path:
    """A local copy of the object ``url`` in the cache folder (fetched again when the object changed), with the
    URL's file name so that its suffix (``.npy``, ``.npz``) says how to read it."""
    stamp = url_stamp(url)
    digest = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]
    folder = cache_dir() / "data" / digest
    path = folder / target(url).name
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        from ..io import atomic_write_bytes

        atomic_write_bytes(path, target(url).read_bytes())
    return path


class Files:
    """Every file of a store, listed once (one listing on an object store), and their contents read in bulk:
    what :func:`chaossim.sweep.verify.verify_store` and :func:`chaossim.sweep.schema.check_metadata` read instead
    of walking folders array by array."""

    def __init__(self, store):
        self.target = target(store)
        self.names = set(self.target.listing())
        self._cache: dict[str, bytes | None] = {}

    def has(self, name: str) -> bool:
        return name in self.names

    def arrays(self) -> list[str]:
        """The top-level nodes with their own metadata (``NAME/zarr.json``)."""
        return sorted({n.split("/")[0] for n in self.names if n.count("/") == 1 and n.endswith("/zarr.json")})

    def chunk_keys(self, array: str) -> set[str]:
        """The chunk keys (``c/0/1/0``) of ``array`` (zarr's half-written ``.partial`` files left out)."""
        head = array + "/"
        return {n[len(head) :] for n in self.names if n.startswith(head + "c/") and not n.endswith(".partial")}

    def prefetch(self, names) -> None:
        """Read the files ``names`` at once (concurrently on an object store)."""
        wanted = [n for n in names if n not in self._cache]
        if not wanted:
            return
        if self.target.local:
            for n in wanted:
                try:
                    self._cache[n] = (self.target.path / n).read_bytes()
                except OSError:
                    self._cache[n] = None
            return
        fs = self.target.fs()
        keys = {self.target.key + "/" + n: n for n in wanted}
        got = fs.cat(list(keys), on_error="return")
        for k, n in keys.items():
            v = got.get(k)
            self._cache[n] = v if isinstance(v, bytes) else None

    def read_json(self, name: str) -> dict:
        """A metadata file as JSON (FileNotFoundError when it is missing, ValueError when it is not JSON)."""
        self.prefetch([name])
        data = self._cache.get(name)
        if data is None:
            raise FileNotFoundError(name)
        obj = json.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        return obj
