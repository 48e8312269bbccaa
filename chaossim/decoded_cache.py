"""A cache of decoded image files: the arrays of IDX files (FashionMNIST, MNIST) kept as ``.npy`` in the user's
cache folder, so that a process (every sweep worker, every ``chaossim`` command) skips the gzip and IDX decoding.

Where: ``$XDG_CACHE_HOME/chaossim/decoded/`` (default ``~/.cache/chaossim/decoded/``), never beside the source
files (``/usr/share/datasets`` is read-only). ``CHAOSSIM_CACHE=0`` turns the cache off.

Each entry is ``<file name>.<key>.npy`` with a ``.json`` beside it; the key is a hash of the source's absolute
path. The ``.json`` records the source's size and modification time (ns) and the array's shape, dtype and ``.npy``
size; an entry is used only when all of them still match, else the source is decoded again and the entry
rewritten. Both files are written atomically (temporary file, then rename; the ``.json`` last), so concurrent
processes and a crash mid-write leave either a complete entry or none. A cache that cannot be written (read-only
home, full disk) is skipped silently: loading never fails because of it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

CACHE_ENV = "CHAOSSIM_CACHE"
FORMAT = 1
_told = False  # the one line saying that the cache was written, once per process


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/chaossim/decoded``, or ``~/.cache/chaossim/decoded``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chaossim" / "decoded"


def enabled() -> bool:
    return os.environ.get(CACHE_ENV, "1").strip().lower() not in ("0", "no", "false", "off")


def _entry(source: Path) -> tuple[Path, Path]:
    key = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    stem = cache_dir() / f"{source.name}.{key}"
    return stem.with_suffix(stem.suffix + ".npy"), stem.with_suffix(stem.suffix + ".json")


def _stamp(source: Path) -> dict:
    st = source.stat()
    return {"source": str(source.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "format": FORMAT}


def _read(source: Path) -> np.ndarray | None:
    npy, meta_file = _entry(source)
    try:
        meta = json.loads(meta_file.read_text())
        stamp = _stamp(source)
        if {k: meta.get(k) for k in stamp} != stamp or npy.stat().st_size != meta.get("npy_bytes"):
            return None
        arr = np.load(npy, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if list(arr.shape) != meta.get("shape") or arr.dtype.str != meta.get("dtype"):
        return None
    return arr


def _write_atomic(path: Path, data: bytes) -> None:
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write(source: Path, arr: np.ndarray) -> bool:
    npy, meta_file = _entry(source)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    data = buf.getvalue()
    meta = {**_stamp(source), "shape": list(arr.shape), "dtype": arr.dtype.str, "npy_bytes": len(data)}
    try:
        npy.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(npy, data)
        _write_atomic(meta_file, (json.dumps(meta, indent=1) + "\n").encode())
    except OSError:
        return False
    return True


def cached(source, decode: Callable[[Path], np.ndarray]) -> np.ndarray:
    """``decode(source)``, from the cache when an entry for this exact source file is there (see the module
    docstring), else decoded and stored. Says once per process, in one line on stderr, that it wrote the cache."""
    global _told
    source = Path(source)
    if not enabled():
        return decode(source)
    arr = _read(source)
    if arr is not None:
        return arr
    arr = decode(source)
    if _write(source, arr) and not _told:
        _told = True
        print(
            f"chaossim: cached the decoded {source.name} as .npy in {cache_dir()} (later loads skip the gzip and "
            f"IDX decoding; {CACHE_ENV}=0 turns this off, deleting the folder drops it)",
            file=sys.stderr,
        )
    return arr
