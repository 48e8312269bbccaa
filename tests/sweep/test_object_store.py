"""Sweep stores and run directories on an object store: a real S3-compatible server (moto in server mode) on
127.0.0.1, started by the tests; the endpoint and credentials from the standard AWS variables
(docs/sweeps.md "A cloud cluster without a shared file system")."""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from chaossim.errors import StoreError  # noqa: E402
from chaossim.sweep.lock import ObjectLock  # noqa: E402
from chaossim.sweep.store import RUN_VARIABLES  # noqa: E402

from .conftest import assert_same_results, run_in_process, tiny_spec, tiny_text  # noqa: E402


@pytest.fixture(scope="module")
def s3_endpoint():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch, tmp_path):
    """A fresh bucket; the AWS variables point at the local server; the cache folder inside tmp_path."""
    import boto3

    env = dict(AWS_ENDPOINT_URL=s3_endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    bucket = f"sweeps-{tmp_path.name.lower().replace('_', '-')[:40]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    from chaossim.sweep import location

    location._FILESYSTEMS.clear()
    return f"s3://{bucket}", env


def test_the_lease_is_a_conditional_object(s3):
    url, _ = s3
    first = ObjectLock(f"{url}/s.zarr").acquire()
    with pytest.raises(StoreError, match="in use by another chaossim sweep"):
        ObjectLock(f"{url}/s.zarr").acquire()
    fence = first.fence()
    fence()  # the lease is ours
    first.refresh()
    fence()
    first.release()
    from chaossim.errors import FencedError

    with pytest.raises(FencedError, match="released"):
        fence()
    ObjectLock(f"{url}/s.zarr").acquire().release()


def test_listings_and_reads_see_what_another_process_wrote_since(s3):
    """A listing of a run folder, then another process (here another s3fs instance) adds a checkpoint to one of
    its sub-folders: the next listing shows it and it can be read. s3fs kept the sub-folder's earlier listing,
    and sized the object from it: the object stayed unseen and unreadable for good (the kill-and-resume test
    below read no checkpoint for 120 s)."""
    import s3fs

    from chaossim.sweep.location import target

    url, env = s3
    runs = target(f"{url}/s.zarr.runs")
    runs.child("p0/meta.json").write_bytes(b"{}")
    assert runs.listing() == ["p0/meta.json"]
    other = s3fs.S3FileSystem(skip_instance_cache=True, endpoint_url=env["AWS_ENDPOINT_URL"])
    other.pipe_file(runs.key + "/p0/checkpoint.npz", b"step 50")
    assert sorted(runs.listing()) == ["p0/checkpoint.npz", "p0/meta.json"]
    assert runs.child("p0/checkpoint.npz").read_bytes() == b"step 50"


@pytest.mark.slow
def test_a_sweep_on_s3_runs_verifies_and_reads_back_equal_to_a_local_one(s3, tmp_path):
    """`chaossim sweep --store s3://...` with 2 local workers, then sweep-verify and sweep-report, and xarray:
    every variable equal to the bit to the same spec run locally (but the per-run bookkeeping), the finished
    run directories on the object store, nothing written on the local disk but the cache folder."""
    import s3fs
    import xarray as xr

    url, env = s3
    work = tmp_path / "work"
    work.mkdir()
    spec_file = work / "tiny.toml"
    spec_file.write_text(tiny_text())
    spec_file_text = spec_file.read_text()
    spec_file.unlink()  # the command gets the spec on stdin's copy in the cache: the folder stays empty
    spec_path = tmp_path / "cache" / "tiny.toml"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(spec_file_text)
    store = f"{url}/tiny.zarr"
    run_env = {**os.environ, **env, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "chaossim", *args], cwd=work, env=run_env, capture_output=True,
                              text=True, timeout=600)

    res = cli("sweep", str(spec_path), "--store", store, "--workers", "2", "--no-progress", "--no-report",
              "--dashboard", "none")
    assert res.returncode == 0, res.stderr
    res = cli("sweep-verify", store)
    assert res.returncode == 0 and "4 points, 4 done and intact, 0 damaged" in res.stdout, res.stdout + res.stderr
    res = cli("sweep-report", store, "--out", str(tmp_path / "cache" / "report"))
    assert res.returncode == 0, res.stderr
    assert list(work.iterdir()) == []  # nothing beside the command but what it was asked to write
    fs = s3fs.S3FileSystem()
    names = fs.find(url)
    runs = sorted(n.rsplit("/", 1)[1] for n in names if "tiny.zarr.runs/" in n)
    spec = tiny_spec()
    assert runs == sorted(spec.point_key(i) + ".zip" for i in range(4))
    assert not any(n.endswith("tiny.zarr.lock") for n in names)  # released
    ds = xr.open_zarr(store, storage_options={"endpoint_url": env["AWS_ENDPOINT_URL"]})
    assert ds.done.values.all() and ds.attrs["chaossim_sweep"] == 4
    local = tmp_path / "cache" / "local.zarr"
    run_in_process(spec, local)
    from chaossim.sweep.location import target

    assert_same_results(target(store), local, skip=RUN_VARIABLES)
    assert np.isfinite(ds.EAAI.values).all()


@pytest.mark.slow
def test_a_point_killed_mid_training_resumes_from_the_object_store(s3, tmp_path):
    """A worker process killed while it trains a point leaves the checkpoint it published; the next run (any
    worker, here another process with an empty cache) continues from it and ends equal to an uninterrupted run."""
    import io
    import signal
    import time

    from chaossim.sweep.location import target
    from chaossim.sweep.mirror import checkpoint_bytes, checkpoints
    from chaossim.sweep.store import create_store, runs_dir

    url, env = s3
    spec = tiny_spec(g="[1.0]", T="[10.0]", steps=400)
    store = f"{url}/k.zarr"
    create_store(target(store), spec)
    code = (
        "import sys; from chaossim.sweep.spec import parse_spec; from chaossim.sweep.point import run_point\n"
        f"spec = parse_spec({tiny_text(g='[1.0]', T='[10.0]', steps=400)!r}, 'tiny')\n"
        f"run_point(spec, 0, {store!r})\n"
    )
    # the first worker waits in its fence (the lease check, called before each write, and before the run mirror
    # publishes what was written since its last call) once its working copy's meta.json names the checkpoint at
    # step 75 (checkpoint_every = 25): the call before writing that checkpoint published the one at step 50, the
    # call that waits publishes nothing more. 400 tiny steps took 2 s, faster than the listings below could
    # catch a checkpoint on its way
    paused = code.replace(f"run_point(spec, 0, {store!r})", (
        "import json, time; from chaossim.sweep.mirror import RunMirror; from chaossim.sweep.store import runs_dir\n"
        f"meta = RunMirror(runs_dir({store!r}), spec.point_key(0)).dir / 'meta.json'\n"
        "def fence():\n"
        "    if meta.is_file() and json.loads(meta.read_text()).get('step', 0) >= 75:\n"
        "        time.sleep(600)\n"
        f"run_point(spec, 0, {store!r}, None, fence)"
    ))
    run_env = {**os.environ, **env, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(tmp_path / "cache-a")}
    proc = subprocess.Popen([sys.executable, "-c", paused], env=run_env)
    runs = runs_dir(target(store))
    deadline = time.time() + 120
    step = 0
    while time.time() < deadline:
        kept = checkpoints(runs)
        if kept:
            try:
                step = int(np.load(io.BytesIO(checkpoint_bytes(runs, *next(iter(kept.items())))))["step"])
            except FileNotFoundError:  # listed, then replaced by the next checkpoint
                continue
            if step >= 50:
                break
        time.sleep(0.2)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 50 <= step < 400, (step, "first worker running" if alive else f"first worker ended: {proc.returncode}",
                               sorted(runs.listing()))
    run_env["XDG_CACHE_HOME"] = str(tmp_path / "cache-b")  # another worker: nothing of the first one's cache
    done = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    local = tmp_path / "ref.zarr"
    run_in_process(spec, local)
    assert_same_results(target(store), local, skip=RUN_VARIABLES)
