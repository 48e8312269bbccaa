"""The cache of the documentation build: slow outputs kept in ``build/cache/``, each under a key made of its inputs.

Three kinds of entry, each a folder named ``KIND-KEY``:

* ``quickstart-KEY/quickstart.zarr`` (with its ``.runs/`` and ``.report/``): the store of
  ``sweeps/quickstart.toml``;
* ``notebook-NAME-KEY/NAME.ipynb``: a notebook of ``notebooks/`` executed against that store;
* ``gallery-KEY/``: the gallery page, its figures and the runs they were drawn from.

KEY is a hash of everything the output is computed from: chaossim's source (every ``chaossim/**/*.py``), the
versions of Python and of the packages that compute and store the numbers, and the entry's own inputs (the
sweep specs, the notebook's file, the gallery's commands). A changed input gives a new key, so an entry is
never reused for other inputs; older entries of the same kind are removed when a new one is stored. The test
run (``tests/test_notebooks.py``) stores the quickstart store and the executed notebooks here and
``python docs/build.py`` reuses them, and the other way round. ``CHAOSSIM_DOCS_CACHE=0`` turns the cache off;
``CHAOSSIM_DOCS_CACHE=DIR`` moves it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE_ENV = "CHAOSSIM_DOCS_CACHE"
#: the packages whose versions can change the stored numbers or the executed notebooks' outputs
PACKAGES = ("numpy", "scipy", "scikit-learn", "xarray", "zarr", "dask", "distributed", "matplotlib", "nbclient",
            "ipykernel")
QUICKSTART_SPEC = ROOT / "sweeps" / "quickstart.toml"
STUDY_SPEC = ROOT / "sweeps" / "chaos_study_ci.toml"


def cache_root() -> Path | None:
    """The cache folder (``build/cache/`` by default), or None when ``CHAOSSIM_DOCS_CACHE=0``."""
    value = os.environ.get(CACHE_ENV, "")
    if value == "0":
        return None
    return Path(value) if value else ROOT / "build" / "cache"


@lru_cache(maxsize=1)
def source_digest() -> str:
    """What every entry depends on: chaossim's source files and the versions of Python and of PACKAGES."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "chaossim").rglob("*.py")):
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name in PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{name}={version}\0".encode())
    h.update(f"python={platform.python_version()}".encode())
    return h.hexdigest()


def key(*inputs: str | bytes | Path) -> str:
    """A 16-hex-digit key of the source digest and ``inputs`` (a Path counts by its content)."""
    h = hashlib.sha256(source_digest().encode())
    for item in inputs:
        data = item.read_bytes() if isinstance(item, Path) else item.encode() if isinstance(item, str) else item
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


def quickstart_entry() -> str:
    return f"quickstart-{key(QUICKSTART_SPEC)}"


def notebook_entry(notebook: Path) -> str:
    """The entry of an executed notebook: its file and both stores' specs (01-03 read the quickstart's, 04
    makes the reduced chaos study's)."""
    return f"notebook-{notebook.stem}-{key(notebook, QUICKSTART_SPEC, STUDY_SPEC)}"


def lookup(entry: str) -> Path | None:
    """The folder of ``entry`` if it is in the cache."""
    root = cache_root()
    folder = root / entry if root is not None else None
    return folder if folder is not None and folder.is_dir() else None


def store(entry: str, make: Callable[[Path], None]) -> Path | None:
    """Run ``make(folder)`` into a temporary folder and move it into the cache as ``entry``; returns the entry's
    folder (None when the cache is off: then ``make`` does not run). If another process stored the same entry
    meanwhile, its folder is kept (same inputs, same output). Older entries of the same kind are removed."""
    root = cache_root()
    if root is None:
        return None
    root.mkdir(parents=True, exist_ok=True)
    final = root / entry
    tmp = root / f".tmp-{entry}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        make(tmp)
        try:
            tmp.rename(final)
        except OSError:  # stored meanwhile by another process
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    kind = entry.rsplit("-", 1)[0]
    for old in root.glob(f"{kind}-*"):
        if old != final and old.name.rsplit("-", 1)[0] == kind:
            shutil.rmtree(old, ignore_errors=True)
    return final


def get_or_make(entry: str, make: Callable[[Path], None], fallback: Path) -> Path:
    """The folder of ``entry``: from the cache, else made by ``make`` (into the cache; into ``fallback`` when
    the cache is off)."""
    found = lookup(entry)
    if found is not None:
        return found
    stored = store(entry, make)
    if stored is not None:
        return stored
    fallback.mkdir(parents=True, exist_ok=True)
    make(fallback)
    return fallback
