"""Tests of chaossim.data against independent decodes and the paper's map f(x) = 2x/255 - 1."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

import chaossim.data as data
from chaossim.data import Dataset, available_datasets, load_dataset, read_idx, to_unit_range, validate_data
from chaossim.errors import ChaossimError, ConfigError, DataError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
TRAIN_GZ = "train-images-idx3-ubyte.gz"
TEST_GZ = "t10k-images-idx3-ubyte.gz"


# ---------------------------------------------------------------------------------- helpers
def idx_bytes(arr: np.ndarray) -> bytes:
    """IDX encoding written here from the format description, independently of read_idx."""
    codes = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B, np.dtype("i4"): 0x0C,
             np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}
    code = codes[arr.dtype]
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool) -> Path:
    blob = idx_bytes(arr)
    path.write_bytes(gzip.compress(blob) if gz else blob)
    return path


def spec_map(x, hi=255.0) -> np.ndarray:
    """The paper's map, generalised: f(x) = 2x/hi - 1, in float64, rounded once to float32."""
    return (2.0 * np.asarray(x, dtype=np.float64) / hi - 1.0).astype(np.float32)


def sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


def row_set(a: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in np.ascontiguousarray(a)}


def sklearn_digits_mapped() -> np.ndarray:
    from sklearn.datasets import load_digits

    return spec_map(load_digits().data, hi=16.0)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No user data folder, a private cache, no proxy for 127.0.0.1."""
    monkeypatch.delenv("CHAOSSIM_DATA", raising=False)
    monkeypatch.delenv("CHAOSSIM_MNIST_MIRRORS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    return tmp_path


# ---------------------------------------------------------------------------------- digits
def test_available_datasets_lists_builtins():
    assert set(available_datasets()) >= {"digits", "fashion-mnist", "mnist"}


def test_digits_shapes_range_and_union_equals_sklearn():
    ds = load_dataset("digits")
    assert isinstance(ds, Dataset)
    assert ds.name == "digits" and ds.source == "sklearn" and ds.image_shape == (8, 8)
    assert ds.train.dtype == np.float32 and ds.test.dtype == np.float32
    assert ds.n_features == 64 and ds.test.shape[1] == 64
    assert len(ds.train) + len(ds.test) == 1797
    assert abs(len(ds.test) - 0.2 * 1797) <= 0.5
    both = np.concatenate([ds.train, ds.test])
    assert both.min() == -1.0 and both.max() == 1.0
    # Train and test together are exactly the 1797 sklearn images (as a multiset), which also
    # means no image was used twice: the split is a partition.
    np.testing.assert_array_equal(sorted_rows(both), sorted_rows(sklearn_digits_mapped()))


def test_digits_split_is_deterministic_per_seed_and_differs_across_seeds():
    a = load_dataset("digits", seed=3)
    b = load_dataset("digits", seed=3)
    c = load_dataset("digits", seed=4)
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    assert a.test.shape == c.test.shape
    assert not np.array_equal(a.test, c.test)
    assert row_set(a.test) != row_set(c.test)


def test_digits_test_fraction_and_subsets():
    ds = load_dataset("digits", test_fraction=0.25, seed=1)
    assert abs(len(ds.test) - 0.25 * 1797) <= 0.5
    sub = load_dataset("digits", test_fraction=0.25, seed=1, n_train=100, n_test=40)
    assert sub.train.shape == (100, 64) and sub.test.shape == (40, 64)
    assert row_set(sub.train) <= row_set(ds.train)
    assert row_set(sub.test) <= row_set(ds.test)
    other = load_dataset("digits", test_fraction=0.25, seed=2, n_train=100)
    assert row_set(other.train) != row_set(sub.train)


@pytest.mark.parametrize("kwargs, err", [
    ({"test_fraction": 0.0}, ConfigError),
    ({"test_fraction": 1.0}, ConfigError),
    ({"n_train": 100000}, ConfigError),
    ({"n_test": 0}, ConfigError),
    ({"seed": -1}, ConfigError),
    ({"value_range": (0, 16)}, ConfigError),
])
def test_digits_bad_arguments(kwargs, err):
    with pytest.raises(err):
        load_dataset("digits", **kwargs)


def test_to_image_inverts_the_map():
    x = np.array([[-1.0, 0.0, 1.0, 0.5], [1.0, 1.0, -1.0, -0.5]], dtype=np.float32)
    ds = Dataset("toy", x, x, (2, 2), "test")
    img = ds.to_image(x)
    assert img.shape == (2, 2, 2)
    np.testing.assert_allclose(img[0], [[0.0, 0.5], [1.0, 0.75]])
    np.testing.assert_allclose(img[1], [[1.0, 1.0], [0.0, 0.25]])
    assert ds.to_image(x[0]).shape == (2, 2)
    with pytest.raises(DataError):
        ds.to_image(np.zeros((3, 5)))
    with pytest.raises(DataError, match="no image shape"):
        Dataset("flat", x, x, None, "test").to_image(x)


def test_digits_to_image_matches_sklearn_images():
    from sklearn.datasets import load_digits

    ds = load_dataset("digits")
    imgs16 = np.rint(ds.to_image(ds.test) * 16).astype(np.int64)
    assert imgs16.shape == (len(ds.test), 8, 8)
    ref = {im.astype(np.int64).tobytes() for im in load_digits().images}
    assert all(im.tobytes() in ref for im in imgs16)


# ---------------------------------------------------------------------------------- IDX reader
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("arr", [
    np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
    np.array([[-300, 7], [12, 32000]], dtype=np.int16),
    np.array([1.5, -2.25, 1e30], dtype=np.float32),
    np.array([[np.pi], [-1e-300]], dtype=np.float64),
    np.array([-5, 0, 2**30], dtype=np.int32),
], ids=["u8", "i16", "f32", "f64", "i32"])
def test_read_idx_roundtrip(tmp_path, arr, gz):
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), arr, gz)
    out = read_idx(path)
    assert out.shape == arr.shape
    assert out.dtype == arr.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    path = write_idx(tmp_path / "noext", arr, gz=True)
    np.testing.assert_array_equal(read_idx(path), arr)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_read_idx_truncated(tmp_path, gz):
    blob = idx_bytes(np.ones((4, 5, 5), dtype=np.uint8))
    if gz:
        comp = gzip.compress(blob)
        (tmp_path / "t").write_bytes(comp[: len(comp) // 2])
    else:
        (tmp_path / "t").write_bytes(blob[:-1])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "t")


@pytest.mark.parametrize("blob, match", [
    (b"\x01\x02\x08\x03" + b"\x00" * 12, "magic"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "magic"),  # unknown type byte 0x07
    (b"\x00\x00\x08\x00", "magic"),  # zero dimensions
    (b"\x00\x00", "truncated"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "header"),
], ids=["bad-zero-bytes", "bad-type", "ndim0", "short", "short-header"])
def test_read_idx_bad_header(tmp_path, blob, match):
    (tmp_path / "b").write_bytes(blob)
    with pytest.raises(DataError, match=match):
        read_idx(tmp_path / "b")


def test_read_idx_trailing_bytes_and_missing(tmp_path):
    (tmp_path / "c").write_bytes(idx_bytes(np.zeros((2, 2), np.uint8)) + b"\x00\x00")
    with pytest.raises(DataError, match="after the data"):
        read_idx(tmp_path / "c")
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "missing")
    assert issubclass(DataError, ChaossimError)


# ---------------------------------------------------------------------------------- IDX datasets from folders
def make_idx_pair(folder: Path, n_train=5, n_test=3, shape=(28, 28), gz=True, seed=0):
    rng = np.random.default_rng(seed)
    tr = rng.integers(0, 256, size=(n_train, *shape), dtype=np.uint8)
    te = rng.integers(0, 256, size=(n_test, *shape), dtype=np.uint8)
    tr.flat[0], tr.flat[1] = 0, 255  # make sure both ends are present
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(folder / ("train-images-idx3-ubyte" + suffix), tr, gz)
    write_idx(folder / ("t10k-images-idx3-ubyte" + suffix), te, gz)
    return tr, te


def test_fashion_mnist_from_data_dir(clean_env):
    tr, te = make_idx_pair(clean_env / "mine", shape=(4, 6))
    ds = load_dataset("fashion-mnist", data_dir=clean_env / "mine")
    assert ds.source == str(clean_env / "mine") and ds.image_shape == (4, 6)
    np.testing.assert_array_equal(ds.train, spec_map(tr.reshape(5, -1)))
    np.testing.assert_array_equal(ds.test, spec_map(te.reshape(3, -1)))
    assert ds.train.min() == -1.0 and ds.train.max() == 1.0


def test_decoded_images_are_cached_keyed_and_validated(clean_env, monkeypatch, capsys):
    from chaossim import decoded_cache

    monkeypatch.setattr(decoded_cache, "_told", False)
    tr, te = make_idx_pair(clean_env / "src", shape=(4, 6))
    first = load_dataset("fashion-mnist", data_dir=clean_env / "src")
    folder = clean_env / "xdg-cache" / "chaossim" / "decoded"
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".json", ".npy", ".npy"]
    err = capsys.readouterr().err
    assert err.count("chaossim: cached the decoded") == 1 and str(folder) in err  # said once, in one line
    assert err.count("\n") == 1

    decoded = []
    real = data.read_idx
    monkeypatch.setattr(data, "read_idx", lambda p: decoded.append(Path(p).name) or real(p))
    again = load_dataset("fashion-mnist", data_dir=clean_env / "src")
    assert decoded == [] and capsys.readouterr().err == ""  # both files from the cache, nothing said
    np.testing.assert_array_equal(again.train, first.train)
    np.testing.assert_array_equal(again.test, spec_map(te.reshape(3, -1)))

    # a changed source (same path, new content and mtime) is decoded again, never served stale
    new_tr = np.full((2, 4, 6), 7, dtype=np.uint8)
    write_idx(clean_env / "src" / "train-images-idx3-ubyte.gz", new_tr, True)
    stat = (clean_env / "src" / "train-images-idx3-ubyte.gz").stat()
    os.utime(clean_env / "src" / "train-images-idx3-ubyte.gz", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = load_dataset("fashion-mnist", data_dir=clean_env / "src")
    assert decoded == ["train-images-idx3-ubyte.gz"]
    np.testing.assert_array_equal(changed.train, spec_map(new_tr.reshape(2, -1)))

    # a damaged entry (truncated .npy) is decoded again and rewritten
    npy = next(p for p in folder.glob("t10k*.npy"))
    npy.write_bytes(npy.read_bytes()[:-10])
    decoded.clear()
    np.testing.assert_array_equal(load_dataset("fashion-mnist", data_dir=clean_env / "src").test, first.test)
    assert decoded == ["t10k-images-idx3-ubyte.gz"]
    decoded.clear()
    load_dataset("fashion-mnist", data_dir=clean_env / "src")
    assert decoded == []

    # off by CHAOSSIM_CACHE=0; a cache folder that cannot be written is skipped silently
    monkeypatch.setenv("CHAOSSIM_CACHE", "0")
    load_dataset("fashion-mnist", data_dir=clean_env / "src")
    assert len(decoded) == 2
    monkeypatch.setenv("CHAOSSIM_CACHE", "1")
    (clean_env / "blocked").write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(clean_env / "blocked"))
    np.testing.assert_array_equal(load_dataset("fashion-mnist", data_dir=clean_env / "src").test, first.test)


def test_fashion_mnist_from_env_subfolder_raw_files(clean_env, monkeypatch):
    tr, _ = make_idx_pair(clean_env / "store" / "fashion-mnist", gz=False)
    monkeypatch.setenv("CHAOSSIM_DATA", str(clean_env / "store"))
    ds = load_dataset("fashion-mnist")
    assert ds.source == str(clean_env / "store" / "fashion-mnist")
    np.testing.assert_array_equal(ds.train, spec_map(tr.reshape(5, -1)))


def test_missing_fashion_mnist_lists_every_place(clean_env, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIR", str(clean_env / "no-system-dir"))
    monkeypatch.setenv("CHAOSSIM_DATA", str(clean_env / "env-dir"))
    with pytest.raises(DataError) as ei:
        load_dataset("fashion-mnist", data_dir=clean_env / "arg-dir")
    msg = str(ei.value)
    for place in [clean_env / "arg-dir", clean_env / "arg-dir" / "fashion-mnist", clean_env / "env-dir",
                  clean_env / "env-dir" / "fashion-mnist", clean_env / "no-system-dir"]:
        assert str(place) in msg
    assert "apt-get install -y dataset-fashion-mnist" in msg
    assert "--data-dir" in msg and "CHAOSSIM_DATA" in msg


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="digits"):
        load_dataset("cifar-1000")


def test_idx_file_with_labels_instead_of_images(clean_env):
    d = clean_env / "labels"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte", np.zeros(5, np.uint8), gz=False)
    write_idx(d / "t10k-images-idx3-ubyte", np.zeros(5, np.uint8), gz=False)
    with pytest.raises(DataError, match="expected uint8 images"):
        load_dataset("fashion-mnist", data_dir=d)


# ---------------------------------------------------------------------------------- real FashionMNIST
def _decode_gz_images(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 2051
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)


@pytest.fixture(scope="module")
def fashion():
    if not (FASHION_DIR / TRAIN_GZ).is_file():
        pytest.skip(f"{FASHION_DIR} missing (apt-get install -y dataset-fashion-mnist)")
    old = os.environ.pop("CHAOSSIM_DATA", None)
    try:
        return load_dataset("fashion-mnist")
    finally:
        if old is not None:
            os.environ["CHAOSSIM_DATA"] = old


@pytest.mark.dataset
def test_fashion_mnist_full(fashion):
    assert fashion.train.shape == (60000, 784) and fashion.test.shape == (10000, 784)
    assert fashion.train.dtype == np.float32 and fashion.image_shape == (28, 28)
    assert fashion.source == str(FASHION_DIR)
    for part in (fashion.train, fashion.test):
        assert part.min() == -1.0 and part.max() == 1.0
    train_raw = _decode_gz_images(FASHION_DIR / TRAIN_GZ)
    test_raw = _decode_gz_images(FASHION_DIR / TEST_GZ)
    for i in (0, 1, 12345, 59999):
        np.testing.assert_allclose(fashion.train[i], 2.0 * train_raw[i] / 255 - 1, rtol=0, atol=1e-6)
    for i in (0, 4321, 9999):
        np.testing.assert_allclose(fashion.test[i], 2.0 * test_raw[i] / 255 - 1, rtol=0, atol=1e-6)
    img = fashion.to_image(fashion.train[:2])
    np.testing.assert_allclose(img.reshape(2, -1) * 255, train_raw[:2], atol=1e-3)


@pytest.mark.dataset
def test_fashion_mnist_subset_is_seeded_subset(fashion, monkeypatch):
    monkeypatch.delenv("CHAOSSIM_DATA", raising=False)
    sub = load_dataset("fashion-mnist", n_train=500, n_test=200, seed=5)
    assert sub.train.shape == (500, 784) and sub.test.shape == (200, 784)
    assert row_set(sub.train) <= row_set(fashion.train)
    assert row_set(sub.test) <= row_set(fashion.test)
    again = load_dataset("fashion-mnist", n_train=500, n_test=200, seed=5)
    np.testing.assert_array_equal(sub.train, again.train)


# ---------------------------------------------------------------------------------- MNIST download
class _Server(http.server.ThreadingHTTPServer):
    files: dict[str, bytes]
    requests: list[str]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.server.requests.append(self.path)
        mirror, _, name = self.path.strip("/").partition("/")
        body = self.server.files.get(name) if mirror == "good" else None
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests = {}, []
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def mnist_files(server, clean_env, monkeypatch):
    """Small IDX gz files on the local server, their SHA-256 installed in the public table."""
    rng = np.random.default_rng(11)
    tr = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    te = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    blobs = {TRAIN_GZ: gzip.compress(idx_bytes(tr)), TEST_GZ: gzip.compress(idx_bytes(te))}
    server.files.update(blobs)
    monkeypatch.setattr(data, "MNIST_SHA256", {k: hashlib.sha256(v).hexdigest() for k, v in blobs.items()})
    monkeypatch.setenv("CHAOSSIM_MNIST_MIRRORS", f"{server.url}/dead/, {server.url}/good/")
    cache = clean_env / "xdg-cache" / "chaossim" / "mnist"
    return tr, te, blobs, cache


def test_mnist_download_verifies_caches_and_falls_through(server, mnist_files):
    tr, te, blobs, cache = mnist_files
    ds = load_dataset("mnist")
    assert ds.name == "mnist" and ds.source == str(cache) and ds.image_shape == (28, 28)
    np.testing.assert_array_equal(ds.train, spec_map(tr.reshape(6, -1)))
    np.testing.assert_array_equal(ds.test, spec_map(te.reshape(4, -1)))
    # first mirror 404s, second serves: each file asked once from each, in that order
    for name in (TRAIN_GZ, TEST_GZ):
        assert server.requests.count(f"/dead/{name}") == 1
        assert server.requests.count(f"/good/{name}") == 1
        assert server.requests.index(f"/dead/{name}") < server.requests.index(f"/good/{name}")
    assert sorted(p.name for p in cache.iterdir()) == sorted(blobs)
    for name, blob in blobs.items():
        assert (cache / name).read_bytes() == blob
    n_requests = len(server.requests)
    again = load_dataset("mnist")
    assert len(server.requests) == n_requests
    np.testing.assert_array_equal(again.train, ds.train)


def test_mnist_corrupt_download_is_refused_and_not_cached(server, mnist_files):
    _, _, blobs, cache = mnist_files
    good_sha = hashlib.sha256(blobs[TRAIN_GZ]).hexdigest()
    bad = bytearray(blobs[TRAIN_GZ])
    bad[len(bad) // 2] ^= 0xFF
    server.files[TRAIN_GZ] = bytes(bad)
    with pytest.raises(DataError) as ei:
        load_dataset("mnist")
    msg = str(ei.value)
    assert TRAIN_GZ in msg and good_sha in msg
    assert hashlib.sha256(bytes(bad)).hexdigest() in msg
    assert f"{server.url}/good/" in msg
    assert not (cache / TRAIN_GZ).exists()
    assert [p.name for p in cache.iterdir()] == []  # no temporary files left either


def test_mnist_corrupt_cache_file_is_replaced(server, mnist_files):
    _, _, blobs, cache = mnist_files
    cache.mkdir(parents=True)
    (cache / TRAIN_GZ).write_bytes(b"garbage")
    (cache / TEST_GZ).write_bytes(blobs[TEST_GZ])
    ds = load_dataset("mnist")
    assert (cache / TRAIN_GZ).read_bytes() == blobs[TRAIN_GZ]
    assert server.requests.count(f"/good/{TRAIN_GZ}") == 1
    assert server.requests.count(f"/good/{TEST_GZ}") == 0
    assert ds.train.shape == (6, 784)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_mnist_all_mirrors_fail(server, mnist_files, monkeypatch):
    _, _, _, cache = mnist_files
    dead = f"{server.url}/dead/"
    closed = _closed_port_url()
    monkeypatch.setenv("CHAOSSIM_MNIST_MIRRORS", f"{dead} {closed}")
    with pytest.raises(DataError) as ei:
        load_dataset("mnist")
    msg = str(ei.value)
    assert dead in msg and closed in msg and str(cache) in msg
    assert "sha256sum" in msg and "--data-dir" in msg and "CHAOSSIM_DATA" in msg
    assert not any(cache.iterdir())


def test_mnist_no_download_does_not_touch_network(server, mnist_files):
    _, _, _, cache = mnist_files
    with pytest.raises(DataError) as ei:
        load_dataset("mnist", download=False)
    assert str(cache) in str(ei.value) and "download=True" in str(ei.value)
    assert server.requests == []


def test_mnist_from_data_dir_needs_no_server(server, mnist_files, clean_env):
    tr, _ = make_idx_pair(clean_env / "local" / "mnist", n_train=7, gz=False)
    ds = load_dataset("mnist", data_dir=clean_env / "local")
    assert ds.source == str(clean_env / "local" / "mnist")
    np.testing.assert_array_equal(ds.train, spec_map(tr.reshape(7, -1)))
    assert server.requests == []


def test_download_mnist_function_arguments(server, clean_env):
    rng = np.random.default_rng(2)
    blobs = {n: gzip.compress(idx_bytes(rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)))
             for n in (TRAIN_GZ, TEST_GZ)}
    server.files.update(blobs)
    table = {k: hashlib.sha256(v).hexdigest() for k, v in blobs.items()}
    out = data.download_mnist(clean_env / "c", mirrors=[f"{server.url}/good"], sha256=table)
    assert out == clean_env / "c"
    for name, blob in blobs.items():
        assert (out / name).read_bytes() == blob
    assert all(p.startswith("/good/") for p in server.requests)


def test_mnist_sha_table_is_complete():
    table = data.MNIST_SHA256
    assert set(table) == {TRAIN_GZ, TEST_GZ, "train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in table.values())


# ---------------------------------------------------------------------------------- user arrays
def test_npy_single_array_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(50, 12)).astype(np.float64)
    x[0, 0], x[1, 1] = 0, 255
    np.save(tmp_path / "x.npy", x)
    for name in (str(tmp_path / "x.npy"), "npy:" + str(tmp_path / "x.npy")):
        ds = load_dataset(name, value_range=(0, 255), test_fraction=0.2, seed=9)
        assert ds.source == str(tmp_path / "x.npy") and ds.image_shape is None
        assert len(ds.test) == 10 and len(ds.train) == 40
        both = np.concatenate([ds.train, ds.test])
        np.testing.assert_allclose(sorted_rows(both), sorted_rows(spec_map(x)), rtol=0, atol=1e-7)
        assert both.min() == -1.0 and both.max() == 1.0


def test_npz_train_test_kept_and_images_flattened(tmp_path):
    rng = np.random.default_rng(1)
    tr = rng.uniform(-3, 5, size=(20, 3, 4))
    te = rng.uniform(-3, 5, size=(6, 3, 4))
    np.savez(tmp_path / "d.npz", train=tr, test=te)
    ds = load_dataset("npz:" + str(tmp_path / "d.npz"), value_range=(-3, 5))
    assert ds.image_shape == (3, 4) and ds.n_features == 12
    np.testing.assert_allclose(ds.train, (2 * (tr.reshape(20, -1) + 3) / 8 - 1), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ds.test, (2 * (te.reshape(6, -1) + 3) / 8 - 1), rtol=0, atol=1e-6)
    assert ds.to_image(ds.train).shape == (20, 3, 4)


def test_user_file_relative_to_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "y.npy", np.linspace(0, 1, 40).reshape(10, 4))
    ds = load_dataset("y.npy", data_dir=tmp_path / "sub", value_range=(0, 1))
    assert len(ds.train) + len(ds.test) == 10


def test_user_array_errors(tmp_path):
    x = np.arange(40, dtype=np.float64).reshape(10, 4)
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError, match="value_range is required"):
        load_dataset(str(tmp_path / "x.npy"))
    with pytest.raises(DataError, match="outside the declared value_range"):
        load_dataset(str(tmp_path / "x.npy"), value_range=(0, 38))
    with pytest.raises(DataError, match="outside the declared value_range"):
        load_dataset(str(tmp_path / "x.npy"), value_range=(1, 100))
    x[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(DataError, match="NaN"):
        load_dataset(str(tmp_path / "nan.npy"), value_range=(0, 100))
    np.savez(tmp_path / "keys.npz", a=x, b=x)
    with pytest.raises(DataError, match="'train' and 'test'"):
        load_dataset(str(tmp_path / "keys.npz"), value_range=(0, 100))
    np.save(tmp_path / "vec.npy", np.zeros(5))
    with pytest.raises(DataError, match="shape"):
        load_dataset(str(tmp_path / "vec.npy"), value_range=(0, 1))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(str(tmp_path / "nope.npy"), value_range=(0, 1))
    with pytest.raises(DataError):
        load_dataset(str(tmp_path / "x.npy"), value_range=(5, 5))


# ---------------------------------------------------------------------------------- maps and checks
def test_to_unit_range_matches_affine_formula():
    rng = np.random.default_rng(3)
    x = rng.uniform(-7, 13, size=(30, 5))
    y = to_unit_range(x, -7, 13)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, 2 * (x + 7) / 20 - 1, rtol=0, atol=1e-6)
    u8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(to_unit_range(u8, 0, 255), spec_map(u8))
    assert to_unit_range(u8, 0, 255).min() == -1.0 and to_unit_range(u8, 0, 255).max() == 1.0
    with pytest.raises(DataError):
        to_unit_range(x, 1, 0)
    with pytest.raises(DataError):
        to_unit_range(u8, 0, 254)


def test_validate_data_accepts_and_clips_rounding():
    x = np.array([[1.0 + 5e-7, -1.0 - 5e-7, 0.25]])
    out = validate_data(x, n_features=3)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, [[1.0, -1.0, 0.25]])
    np.testing.assert_array_equal(validate_data(np.array([[1, 0, -1]])), [[1.0, 0.0, -1.0]])


@pytest.mark.parametrize("x, kw, match", [
    (np.zeros(4), {}, "2-D"),
    (np.zeros((2, 2, 2)), {}, "2-D"),
    (np.zeros((3, 4)), {"n_features": 5}, "5 are expected"),
    (np.array([[0.0, np.nan]]), {}, "NaN"),
    (np.array([[0.0, np.inf]]), {}, "NaN/inf"),
    (np.array([[0.0, 1.01]]), {}, "outside"),
    (np.array([[-1.5, 0.0]]), {}, "to_unit_range"),
    (np.zeros((0, 3)), {}, "empty"),
    (np.array([["a", "b"]]), {}, "dtype"),
])
def test_validate_data_errors(x, kw, match):
    with pytest.raises(DataError, match=match) as ei:
        validate_data(x, name="mydata", **kw)
    assert "mydata" in str(ei.value)


@pytest.mark.dataset
def test_seed_matters_only_where_the_data_depend_on_it(fashion):
    from chaossim.data import seed_matters

    assert seed_matters("digits") and seed_matters("x.npz") and seed_matters("fashion-mnist", n_train=100)
    assert not seed_matters("fashion-mnist") and not seed_matters("fmnist") and not seed_matters("mnist")
    d0, d1 = load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    assert not np.array_equal(d0.train, d1.train)  # a seeded split
    other = load_dataset("fashion-mnist", data_dir=str(FASHION_DIR), seed=7)
    assert np.array_equal(other.train, fashion.train) and np.array_equal(other.test, fashion.test)


def test_a_pair_with_a_missing_image_file_is_a_clear_error(tmp_path):
    """Only the train images present: the error names the missing file and the folder."""
    (tmp_path / "train-images-idx3-ubyte").write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, 1, 2, 2) + bytes(4))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte \(or \.gz\) not found in"):
        data._load_idx_pair("fashion-mnist", tmp_path)
