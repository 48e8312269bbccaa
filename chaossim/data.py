"""Datasets as float32 arrays in [-1, 1] (docs/model.md, "Notation": data xi in [-1, 1]^Nv).

Grey images in [0, 255] are mapped by f(x) = 2x/255 - 1 (paper, Sec. III); plots use the inverse,
:meth:`Dataset.to_image`. Every loader returns a :class:`Dataset` whose ``train`` and ``test``
arrays are (samples x features) float32, checked by :func:`validate_data`.

Names understood by :func:`load_dataset`:

``"digits"``
    scikit-learn's bundled 8x8 digits (1797 images, values 0..16 mapped by 2x/16 - 1); works
    offline; seeded train/test split.
``"fashion-mnist"``
    IDX files ``train-images-idx3-ubyte[.gz]`` / ``t10k-images-idx3-ubyte[.gz]`` found in
    ``data_dir`` (or ``data_dir/fashion-mnist``), ``$CHAOSSIM_DATA`` (or
    ``$CHAOSSIM_DATA/fashion-mnist``), then Debian's ``/usr/share/datasets/fashion-mnist``
    (``apt-get install -y dataset-fashion-mnist``); official split. The decoded images of both IDX
    datasets are cached as ``.npy`` (:mod:`chaossim.decoded_cache`, ``~/.cache/chaossim/decoded``).
``"mnist"``
    same IDX files found in ``data_dir[/mnist]``, ``$CHAOSSIM_DATA[/mnist]``, the cache folder
    ``$XDG_CACHE_HOME/chaossim/mnist`` (default ``~/.cache/chaossim/mnist``), or downloaded into
    that cache from :data:`MNIST_MIRRORS` (override with ``$CHAOSSIM_MNIST_MIRRORS``, a comma or
    space separated list) and checked against :data:`MNIST_SHA256`; official split.
``"path/file.npy"``, ``"path/file.npz"``, ``"npy:path"``, ``"npz:path"``
    user arrays (samples x features, or samples x H x W images); ``value_range=(lo, hi)`` is
    required and mapped onto [-1, 1]. An npz holding ``train`` and ``test`` keeps that split; a
    single array gets the seeded split.

Subsets: ``n_train`` / ``n_test`` draw a seeded random subset (without replacement, kept in
file order) of the train / test part, so different seeds give different subsets. Seeded
splits and subsets use independent streams ``SeedSequence([seed, k])`` and are deterministic
for a given seed.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import streams
from .backend import to_numpy
from .errors import ConfigError, DataError
from .validation import check_seed

__all__ = [
    "Dataset",
    "load_dataset",
    "available_datasets",
    "seed_matters",
    "read_idx",
    "to_unit_range",
    "validate_data",
    "download_mnist",
    "mnist_cache_dir",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "FASHION_MNIST_SYSTEM_DIR",
]

log = logging.getLogger(__name__)

#: Public MNIST mirrors tried in order (each holds the four standard ``*.gz`` files).
MNIST_MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

#: SHA-256 of the four standard MNIST gz files, as listed in tensorflow/datasets
#: ``tensorflow_datasets/url_checksums/mnist.txt`` (sizes 9912422, 28881, 1648877, 4542 bytes).
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
DATA_ENV = "CHAOSSIM_DATA"
MIRRORS_ENV = "CHAOSSIM_MNIST_MIRRORS"
DOWNLOAD_TIMEOUT_S = 60.0

_IMAGE_FILES = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")
_BUILTIN = ("digits", "fashion-mnist", "mnist")
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist"}
_STREAM_SPLIT, _STREAM_TRAIN, _STREAM_TEST = streams.DATA_SPLIT, streams.DATA_TRAIN, streams.DATA_TEST

# IDX type byte -> big-endian dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


# --------------------------------------------------------------------------------------------
# The dataset object
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and held-out test points in [-1, 1] (docs/model.md, "Notation"; test points feed the
    accuracy indices, docs/indices.md)."""

    name: str
    train: np.ndarray
    test: np.ndarray
    image_shape: tuple[int, int] | None
    source: str

    @property
    def n_features(self) -> int:
        return int(self.train.shape[1])

    def to_image(self, x) -> np.ndarray:
        """Inverse of the data map: [-1, 1] -> [0, 1] grey, reshaped to ``(..., H, W)``.

        ``x`` has shape ``(..., n_features)`` and may be a NumPy or CuPy array.
        """
        if self.image_shape is None:
            raise DataError(
                f"dataset {self.name!r} has no image shape, so its points cannot be drawn as images; "
                "reshape the (n_features,) vectors yourself or load the data as samples x H x W."
            )
        a = np.asarray(to_numpy(x), dtype=np.float32)
        if a.ndim == 0 or a.shape[-1] != self.n_features:
            raise DataError(
                f"to_image expects an array of shape (..., {self.n_features}) for dataset {self.name!r}, "
                f"got shape {a.shape}; pass points of this dataset (one per row)."
            )
        img = np.clip((a + 1.0) * 0.5, 0.0, 1.0)
        return img.reshape(a.shape[:-1] + tuple(self.image_shape))

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={self.train.shape}, test={self.test.shape}, "
            f"image_shape={self.image_shape}, source={self.source!r})"
        )


# --------------------------------------------------------------------------------------------
# Value maps and checks
# --------------------------------------------------------------------------------------------
def to_unit_range(x, lo, hi) -> np.ndarray:
    """Affine map of [lo, hi] onto [-1, 1] as float32: y = 2 (x - lo) / (hi - lo) - 1.

    With (lo, hi) = (0, 255) this is the paper's f(x) = 2x/255 - 1 (Sec. III). Values must lie in [lo, hi]
    (a NaN or a value outside raises :class:`DataError`). The arithmetic is done in float64 and
    rounded once to float32, then clipped to [-1, 1] so rounding never leaves the interval.
    """
    lo_f, hi_f = float(lo), float(hi)
    if not (np.isfinite(lo_f) and np.isfinite(hi_f) and lo_f < hi_f):
        raise DataError(f"value range ({lo!r}, {hi!r}) is invalid; give finite numbers with lo < hi, e.g. (0, 255).")
    a = np.asarray(to_numpy(x))
    if a.dtype.kind not in "biuf":
        raise DataError(f"cannot map an array of dtype {a.dtype} to [-1, 1]; give numbers (int or float).")
    if a.size == 0:
        return a.astype(np.float32)
    if a.dtype == np.uint8:
        # Table lookup: exact, fast and light on memory for 8-bit images.
        lut = 2.0 * (np.arange(256, dtype=np.float64) - lo_f) / (hi_f - lo_f) - 1.0
        amin, amax = int(a.min()), int(a.max())
        _check_in_range(amin, amax, lo_f, hi_f)
        return np.clip(lut, -1.0, 1.0).astype(np.float32)[a]
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise DataError(
            f"data contain {int((~np.isfinite(a)).sum())} NaN/inf values; remove or impute them before loading."
        )
    _check_in_range(a.min(), a.max(), lo_f, hi_f)
    y = (a.astype(np.float64) - lo_f) * (2.0 / (hi_f - lo_f)) - 1.0
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _check_in_range(amin, amax, lo: float, hi: float) -> None:
    if float(amin) < lo or float(amax) > hi:
        raise DataError(
            f"data values span [{float(amin):g}, {float(amax):g}], outside the declared value_range "
            f"[{lo:g}, {hi:g}]; pass the true range of the data (e.g. value_range=({float(amin):g}, "
            f"{float(amax):g})) or clip the data first."
        )


def validate_data(x, n_features: int | None = None, name: str = "data") -> np.ndarray:
    """Check that ``x`` is (samples x features), finite and within [-1, 1] (docs/model.md, "Notation").

    Values up to 1e-6 outside [-1, 1] are rounding and are clipped; anything further is an
    error. Returns a C-contiguous float32 NumPy array. Raises :class:`DataError` saying what
    is wrong and how to fix it.
    """
    a = np.asarray(to_numpy(x))
    if a.dtype.kind not in "biuf":
        raise DataError(f"{name} has dtype {a.dtype}; give a numeric array of samples x features.")
    if a.ndim != 2:
        hint = " (one sample: use x[None, :])" if a.ndim == 1 else " (images: use x.reshape(len(x), -1))"
        raise DataError(f"{name} must be 2-D (samples x features), got shape {a.shape}{hint}.")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {a.shape}); give at least one sample and one feature.")
    if n_features is not None and a.shape[1] != int(n_features):
        raise DataError(
            f"{name} has {a.shape[1]} features per sample but {int(n_features)} are expected (shape {a.shape}); "
            "use data with the same number of visible units as the model."
        )
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(
                f"{name} contains {int(bad.sum())} NaN/inf values (first at index {first}); "
                "remove or impute them before training."
            )
    lo, hi = float(a.min()), float(a.max())
    tol = 1e-6
    if lo < -1.0 - tol or hi > 1.0 + tol:
        raise DataError(
            f"{name} values span [{lo:g}, {hi:g}], outside [-1, 1]; map them with "
            f"to_unit_range(x, lo, hi) or load_dataset(..., value_range=(lo, hi))."
        )
    out = np.ascontiguousarray(a, dtype=np.float32)
    if lo < -1.0 or hi > 1.0:
        out = np.clip(out, -1.0, 1.0)
    return out


# --------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------
def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed, detected from its first bytes).

    Checks the magic number (two zero bytes, a known type byte, the number of dimensions), that
    the header is complete and that the data size is exactly prod(dims) * itemsize. Returns an
    array of shape ``dims`` in native byte order (read-only for uint8 files).
    """
    p = Path(path)
    try:
        blob = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file {p} does not exist; check the path or the data directory.") from None
    except OSError as e:
        raise DataError(f"cannot read IDX file {p}: {e}; check its permissions.") from None
    if blob[:2] == b"\x1f\x8b":
        try:
            blob = gzip.decompress(blob)
        except (EOFError, OSError, zlib.error) as e:
            raise DataError(
                f"{p} is a truncated or corrupt gzip file ({e}); delete it and download or copy it again."
            ) from None
    fix = "delete it and download or copy it again."
    if len(blob) < 4:
        raise DataError(f"{p} is truncated: {len(blob)} bytes, shorter than the 4-byte IDX magic number; {fix}")
    z0, z1, tcode, ndim = struct.unpack(">BBBB", blob[:4])
    if z0 != 0 or z1 != 0 or tcode not in _IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{p} is not an IDX file: bad magic number 0x{blob[:4].hex()} (expected 0x0000TTNN with type TT in "
            f"{{08, 09, 0b, 0c, 0d, 0e}} and NN >= 1 dimensions, e.g. 0x00000803 for images); {fix}"
        )
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise DataError(f"{p} is truncated inside its header ({len(blob)} of {header} bytes); {fix}")
    dims = struct.unpack(f">{ndim}I", blob[4:header])
    dtype = _IDX_DTYPES[tcode]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(blob) - header
    if got < expected:
        raise DataError(
            f"{p} is truncated: header says shape {dims} ({expected} data bytes) but only {got} follow; {fix}"
        )
    if got > expected:
        raise DataError(
            f"{p} has {got - expected} bytes after the data declared by its header (shape {dims}); "
            f"it is not a valid IDX file; {fix}"
        )
    arr = np.frombuffer(blob, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return arr.reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for fname in (stem + ".gz", stem):
        f = directory / fname
        if f.is_file():
            return f
    return None


def _read_image_idx(path: Path) -> np.ndarray:
    from .decoded_cache import cached

    arr = cached(path, read_idx)  # decoded once, then read from the user's cache (chaossim.decoded_cache)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[0] == 0:
        raise DataError(
            f"{path} holds an array of dtype {arr.dtype} and shape {arr.shape}, expected uint8 images "
            "(n, H, W) with n >= 1; is this an image file (not labels)?"
        )
    return arr


def _load_idx_pair(name: str, directory: Path) -> Dataset:
    files = [_find_idx(directory, stem) for stem in _IMAGE_FILES]
    missing = [stem for stem, f in zip(_IMAGE_FILES, files) if f is None]
    if missing:
        raise DataError(f"{name}: {', '.join(missing)} (or .gz) not found in {directory}.")
    train_img, test_img = (_read_image_idx(f) for f in files if f is not None)
    if train_img.shape[1:] != test_img.shape[1:]:
        raise DataError(
            f"{name} in {directory}: train images are {train_img.shape[1:]} but test images are "
            f"{test_img.shape[1:]}; the two files come from different datasets."
        )
    h, w = (int(s) for s in train_img.shape[1:])
    train = to_unit_range(train_img.reshape(len(train_img), h * w), 0, 255)
    test = to_unit_range(test_img.reshape(len(test_img), h * w), 0, 255)
    return Dataset(name, train, test, (h, w), str(directory))


# --------------------------------------------------------------------------------------------
# Where things are looked for
# --------------------------------------------------------------------------------------------
def mnist_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/chaossim/mnist``, or ``~/.cache/chaossim/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chaossim" / "mnist"


def _candidate_dirs(sub: str, data_dir) -> list[Path]:
    dirs: list[Path] = []
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        dirs += [d, d / sub]
    env = os.environ.get(DATA_ENV)
    if env:
        d = Path(env).expanduser()
        dirs += [d, d / sub]
    return dirs


def _looked(dirs: list[Path], data_dir) -> str:
    lines = [str(d) for d in dirs]
    if data_dir is None:
        lines.append("(no data_dir / --data-dir given)")
    if not os.environ.get(DATA_ENV):
        lines.append(f"(${DATA_ENV} not set)")
    return "\n  ".join(lines)


def _has_pair(d: Path) -> bool:
    return all(_find_idx(d, stem) is not None for stem in _IMAGE_FILES)


def _mirrors(mirrors=None) -> list[str]:
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV, "").replace(",", " ").split()
        mirrors = env if env else list(MNIST_MIRRORS)
    elif isinstance(mirrors, str):
        mirrors = mirrors.replace(",", " ").split()
    out = [str(m) if str(m).endswith("/") else str(m) + "/" for m in mirrors]
    if not out:
        raise ConfigError(f"the MNIST mirror list is empty; set {MIRRORS_ENV} or MNIST_MIRRORS to at least one URL.")
    return out


def _how_to_get_mnist(cache: Path, mirrors: list[str]) -> str:
    files = " ".join(f + ".gz" for f in _IMAGE_FILES)
    sums = "; ".join(f"{f}.gz {MNIST_SHA256.get(f + '.gz', '?')}" for f in _IMAGE_FILES)
    return (
        f"To get MNIST: load with download=True (mirrors: {', '.join(mirrors)}; set {MIRRORS_ENV} to use "
        f"others), or fetch {files} by hand from one of those mirrors (e.g. curl -O {mirrors[0]}"
        f"{_IMAGE_FILES[0]}.gz), check them with sha256sum (expected: {sums}) and put them in {cache} "
        f"or in a folder given with --data-dir / data_dir=... or ${DATA_ENV}."
    )


# --------------------------------------------------------------------------------------------
# MNIST download
# --------------------------------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch_verified(
    fname: str, expected: str, cache: Path, mirrors: list[str], timeout: float
) -> tuple[Path, list[str]]:
    """Download ``fname`` from the first mirror that serves it into ``cache``, verified.

    The bytes go to a temporary file in ``cache``, hashed while written; only a file whose
    SHA-256 equals ``expected`` is moved into place with ``os.replace``. Returns the path (or
    raises) and the list of mirror failures met on the way.
    """
    failures: list[str] = []
    for mirror in mirrors:
        url = mirror + fname
        fd, tmp_name = tempfile.mkstemp(prefix=f".{fname}.", suffix=".part", dir=cache)
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            try:
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                    for chunk in iter(lambda: resp.read(1 << 20), b""):
                        h.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, OSError, ValueError) as e:
                failures.append(f"{url}: {e}")
                log.info("MNIST mirror failed: %s: %s", url, e)
                continue
            actual = h.hexdigest()
            if actual != expected:
                raise DataError(
                    f"downloaded {fname} from mirror {mirror} has SHA-256 {actual}, expected {expected}; "
                    "the file was deleted and not cached. The mirror serves a corrupt or different file: "
                    f"try another mirror ({MIRRORS_ENV}) or get the file by hand."
                )
            dest = cache / fname
            os.replace(tmp, dest)
            log.info("downloaded %s from %s", fname, mirror)
            return dest, failures
        finally:
            if tmp.exists():
                tmp.unlink()
    raise _AllMirrorsFailed(failures)


class _AllMirrorsFailed(Exception):
    def __init__(self, failures: list[str]):
        super().__init__("; ".join(failures))
        self.failures = failures


def download_mnist(
    cache_dir=None, *, mirrors=None, sha256: dict[str, str] | None = None, timeout: float = DOWNLOAD_TIMEOUT_S
) -> Path:
    """Make sure the MNIST image files are in ``cache_dir`` (default :func:`mnist_cache_dir`).

    Cached files are re-hashed; a file whose hash is wrong is deleted and fetched again. Each
    missing file is fetched from ``mirrors`` (default ``$CHAOSSIM_MNIST_MIRRORS`` or
    :data:`MNIST_MIRRORS`) and verified against ``sha256`` (default :data:`MNIST_SHA256`).
    Returns the cache folder.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else mnist_cache_dir()
    table = MNIST_SHA256 if sha256 is None else sha256
    urls = _mirrors(mirrors)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"cannot create the MNIST cache folder {cache}: {e}; set XDG_CACHE_HOME to a writable folder."
        ) from None
    for stem in _IMAGE_FILES:
        fname = stem + ".gz"
        expected = table.get(fname)
        if not expected:
            raise ConfigError(f"no SHA-256 is known for {fname}; add it to MNIST_SHA256 (or pass sha256=...).")
        dest = cache / fname
        if dest.is_file():
            actual = _sha256_file(dest)
            if actual == expected:
                continue
            log.warning("cached %s has SHA-256 %s, expected %s: deleting and downloading again", dest, actual, expected)
            dest.unlink()
        try:
            _fetch_verified(fname, expected, cache, urls, timeout)
        except _AllMirrorsFailed as e:
            raise DataError(
                f"could not download {fname} from any MNIST mirror:\n  "
                + "\n  ".join(e.failures)
                + "\n"
                + _how_to_get_mnist(cache, urls)
            ) from None
    return cache


def _cache_is_valid(cache: Path) -> bool:
    for stem in _IMAGE_FILES:
        f = cache / (stem + ".gz")
        if not f.is_file() or _sha256_file(f) != MNIST_SHA256.get(f.name):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------
def _load_fashion_mnist(data_dir) -> Dataset:
    dirs = _candidate_dirs("fashion-mnist", data_dir) + [Path(FASHION_MNIST_SYSTEM_DIR)]
    for d in dirs:
        if _has_pair(d):
            return _load_idx_pair("fashion-mnist", d)
    raise DataError(
        "FashionMNIST not found. Looked for train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz] in:\n  "
        + _looked(dirs, data_dir)
        + f"\nTo get it: apt-get install -y dataset-fashion-mnist (installs {FASHION_MNIST_SYSTEM_DIR}), or put the "
        f"files in a folder and pass it with --data-dir / data_dir=... or set ${DATA_ENV}."
    )


def _load_mnist(data_dir, download: bool) -> Dataset:
    dirs = _candidate_dirs("mnist", data_dir)
    for d in dirs:
        if _has_pair(d):
            return _load_idx_pair("mnist", d)
    cache = mnist_cache_dir()
    if _cache_is_valid(cache):
        return _load_idx_pair("mnist", cache)
    mirrors = _mirrors()
    looked = _looked(dirs + [cache], data_dir)
    if not download:
        raise DataError(
            "MNIST not found (download=False). Looked for train-images-idx3-ubyte[.gz] and "
            f"t10k-images-idx3-ubyte[.gz] in:\n  {looked}\n" + _how_to_get_mnist(cache, mirrors)
        )
    try:
        download_mnist(cache, mirrors=mirrors)
    except DataError as e:
        raise DataError(f"MNIST not found locally (looked in:\n  {looked}\n) and the download failed: {e}") from None
    return _load_idx_pair("mnist", cache)


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    x = load_digits().data  # (1797, 64) float64 with integer values 0..16
    return Dataset("digits", to_unit_range(x, 0, 16), np.empty((0, 64), np.float32), (8, 8), "sklearn")


def _user_path(name: str, data_dir) -> tuple[str, Path] | None:
    low = name.lower()
    for prefix in ("npz:", "npy:"):
        if low.startswith(prefix):
            return prefix[:3], Path(name[4:]).expanduser()
    if low.endswith(".npz") or low.endswith(".npy"):
        return low[-3:], Path(name).expanduser()
    return None


def _load_user(kind: str, path: Path, data_dir, value_range) -> tuple[Dataset, bool]:
    """Returns the dataset (train/test already mapped) and whether it still needs a seeded split."""
    if not path.is_file() and data_dir is not None and not path.is_absolute():
        path = Path(data_dir).expanduser() / path
    if not path.is_file():
        raise DataError(
            f"data file {path} does not exist; check the path (relative paths are tried in the "
            "current folder, then in data_dir)."
        )
    if value_range is None:
        raise DataError(
            f"value_range is required for user arrays ({path}): pass value_range=(lo, hi), the range the "
            "values are declared to span, e.g. (0, 255) for 8-bit grey images or (-1, 1) if already mapped."
        )
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ConfigError(f"value_range must be a pair of numbers (lo, hi), got {value_range!r}.") from None
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:  # ValueError (pickled object arrays), OSError, zipfile errors, ...
        raise DataError(
            f"cannot read {path} as a NumPy {kind} file ({e}); save it with numpy.save / numpy.savez."
        ) from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            if "train" in keys and "test" in keys:
                arrays, split = [loaded["train"], loaded["test"]], False
            elif len(keys) == 1:
                arrays, split = [loaded[keys[0]]], True
            else:
                raise DataError(
                    f"{path} holds arrays {keys}; expected keys 'train' and 'test', or a single array "
                    "(split with the seeded test_fraction). Re-save with numpy.savez(path, train=..., test=...)."
                )
    else:
        arrays, split = [loaded], True
    image_shape = None
    flat = []
    for part, a in zip(("train", "test"), arrays):
        if a.ndim == 3:
            shape = (int(a.shape[1]), int(a.shape[2]))
            if image_shape is not None and shape != image_shape:
                raise DataError(f"{path}: train images are {image_shape} but test images are {shape}.")
            image_shape = shape
            a = a.reshape(len(a), -1)
        elif a.ndim != 2:
            raise DataError(
                f"{path}: the {part} array has shape {a.shape}; expected samples x features (2-D) or "
                "samples x H x W images (3-D)."
            )
        flat.append(to_unit_range(a, lo, hi))
    _check_range_used(path, arrays, lo, hi)  # after the map, which refuses values outside [lo, hi]
    if len(flat) == 2 and flat[0].shape[1] != flat[1].shape[1]:
        raise DataError(f"{path}: train has {flat[0].shape[1]} features but test has {flat[1].shape[1]}.")
    test = flat[1] if len(flat) == 2 else np.empty((0, flat[0].shape[1]), np.float32)
    return Dataset(str(path.stem), flat[0], test, image_shape, str(path)), split


RANGE_USE_WARNING = 0.01
"""A user array whose values span less than this fraction of its declared ``value_range`` gets a warning."""


def _check_range_used(path: Path, arrays, lo: float, hi: float) -> None:
    """Warn when the values use less than :data:`RANGE_USE_WARNING` of the declared [lo, hi]: after the map to
    [-1, 1] they would crowd into a sliver of it (values in [0, 1] declared as [0, 255] land in [-1, -0.992])."""
    import warnings

    from .errors import ChaossimWarning

    parts = [a for a in arrays if a.size and a.dtype.kind in "biuf"]
    if not parts:
        return
    amin = min(float(np.nanmin(a)) for a in parts)
    amax = max(float(np.nanmax(a)) for a in parts)
    if not (np.isfinite(amin) and np.isfinite(amax)) or amax - amin >= RANGE_USE_WARNING * (hi - lo):
        return
    m_lo, m_hi = (2.0 * (v - lo) / (hi - lo) - 1.0 for v in (amin, amax))
    warnings.warn(
        ChaossimWarning(
            f"the values of {path} span [{amin:g}, {amax:g}], {100 * (amax - amin) / (hi - lo):.2g}% of the declared "
            f"value_range [{lo:g}, {hi:g}]: mapped to [-1, 1] they fill only [{m_lo:.4g}, {m_hi:.4g}]. If "
            f"[{amin:g}, {amax:g}] is the range the values are meant to span, declare it (data.value_range = "
            f"[{amin:g}, {amax:g}])."
        ),
        stacklevel=4,
    )


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), stream]))


def _seeded_split(x: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(x)
    if n < 2:
        raise DataError(f"cannot split {n} sample(s) into train and test; give at least 2 samples.")
    n_test = min(max(int(round(test_fraction * n)), 1), n - 1)
    perm = _rng(seed, _STREAM_SPLIT).permutation(n)
    return x[np.sort(perm[n_test:])], x[np.sort(perm[:n_test])]


def _subset(x: np.ndarray, n: int | None, seed: int, stream: int, what: str, name: str) -> np.ndarray:
    if n is None:
        return x
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ConfigError(f"{what} must be a positive integer or None, got {n!r}.")
    n = int(n)
    if n > len(x):
        raise ConfigError(f"{what}={n} but {name} has only {len(x)} {what[2:]} points; ask for at most {len(x)}.")
    if n == len(x):
        return x
    idx = np.sort(_rng(seed, stream).choice(len(x), size=n, replace=False))
    return x[idx]


def seed_matters(name: str, n_train: int | None = 0, n_test: int | None = 0) -> bool:
    """Whether :func:`load_dataset` returns different data for different seeds: seeded splits (digits, a
    single user array) and ``n_train`` / ``n_test`` subsets do; the official split of FashionMNIST and MNIST
    taken whole does not (so runs with different seeds may share one copy of it)."""
    if n_train or n_test or not isinstance(name, str):
        return True
    key = _ALIASES.get(name.lower(), name.lower())
    return _user_path(name, None) is not None or key not in ("fashion-mnist", "mnist")


def available_datasets() -> list[str]:
    """Names of the built-in datasets. User arrays are loaded by path: ``"file.npy"``, ``"npz:path"``."""
    return list(_BUILTIN)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    download: bool = True,
    value_range: tuple[float, float] | None = None,
) -> Dataset:
    """Load a dataset as float32 (samples x features) arrays in [-1, 1] (docs/model.md, "Notation").

    See the module docstring for names and search order. ``test_fraction`` and ``seed`` set
    the seeded split of datasets without an official one (digits, a single user array);
    ``n_train`` / ``n_test`` then take a seeded random subset of each part. ``download``
    allows fetching MNIST. ``value_range`` is required for user arrays and refused for the
    built-in datasets, whose ranges are known.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"dataset name must be a non-empty string, got {name!r}; one of {available_datasets()} "
            "or a path to a .npy/.npz file."
        )
    tf = float(test_fraction)
    if not 0.0 < tf < 1.0:
        raise ConfigError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}.")
    seed = check_seed(seed)

    user = _user_path(name, data_dir)
    key = _ALIASES.get(name.lower(), name.lower())
    if user is None and key in _BUILTIN and value_range is not None:
        raise ConfigError(
            f"value_range is only for user arrays; {key!r} has a known range and is mapped by its own rule "
            "(docs/model.md). "
            "Leave value_range unset."
        )
    needs_split = False
    if user is not None:
        ds, needs_split = _load_user(user[0], user[1], data_dir, value_range)
    elif key == "digits":
        ds, needs_split = _load_digits(), True
    elif key == "fashion-mnist":
        ds = _load_fashion_mnist(data_dir)
    elif key == "mnist":
        ds = _load_mnist(data_dir, bool(download))
    else:
        raise DataError(
            f"unknown dataset {name!r}; use one of {available_datasets()}, or a user array "
            "'path/file.npy', 'path/file.npz', 'npy:path', 'npz:path' with value_range=(lo, hi)."
        )

    train, test = ds.train, ds.test
    if needs_split:
        train, test = _seeded_split(train, tf, seed)
    train = _subset(train, n_train, seed, _STREAM_TRAIN, "n_train", ds.name)
    test = _subset(test, n_test, seed, _STREAM_TEST, "n_test", ds.name)
    train = validate_data(train, name=f"{ds.name} train")
    if len(test) == 0:
        raise DataError(
            f"{ds.name} has no test points; the accuracy indices need held-out data. "
            "Give a test array or a single array to split."
        )
    test = validate_data(test, n_features=train.shape[1], name=f"{ds.name} test")
    return Dataset(ds.name, train, test, ds.image_shape, ds.source)
