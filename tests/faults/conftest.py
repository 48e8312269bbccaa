"""Fault injection for real: read-only mounts, small full tmpfs disks, an unprivileged user, killed processes.

Mounting needs root (CI runs as root); where it is not permitted the tests that need it skip with the
reason, and read-only folders fall back to chmod (which binds a non-root user). Every mount is
unmounted in the fixture's teardown.
"""
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

#: a tiny run: 16 hidden units on digits, checkpoints every 5 steps
RUN_SETTINGS = ["--set", "model.n_hidden=16", "--set", "training.batch_size=50", "--set", "training.log_every=5",
                "--set", "training.checkpoint_every=5", "--set", "training.n_eval=100", "--set", "dynamics.T=10",
                "--no-progress"]


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (e.get("PYTHONPATH", ""), str(ROOT)) if p)
    e.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    return e


def chaossim(*args, cwd=None, timeout=300, preexec=None, module="chaossim", **kw):
    """Run ``python -m chaossim ARGS`` (or another module) in a subprocess (``preexec``: run in the child
    before it starts, e.g. :func:`drop_dac_override`)."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env(), capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec, **kw)


def drop_dac_override() -> None:
    """In a child process of root: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the capability bounding
    set, so that after exec root obeys file permission bits like any user (prctl PR_CAPBSET_DROP)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def snapshot(folder) -> dict:
    """relative path -> bytes of every file under ``folder`` (to show nothing changed)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(res, prog):
    """The command failed with status 1 and said so in exactly one line, without a traceback."""
    assert res.returncode == 1, (res.returncode, res.stdout[-2000:], res.stderr[-3000:])
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith(f"{prog}: error:")]
    assert len(lines) == 1, res.stderr
    return lines[0]


def _run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


@contextmanager
def read_only(folder):
    """``folder`` read-only for real: a read-only bind mount onto itself (root), else chmod (non-root)."""
    folder = Path(folder)
    if IS_ROOT:
        r = _run(["mount", "--bind", str(folder), str(folder)])
        if r.returncode != 0:
            pytest.skip(f"bind mounts are not permitted here ({r.stderr.strip()})")
        try:
            r = _run(["mount", "-o", "remount,bind,ro", str(folder)])
            if r.returncode != 0:
                pytest.skip(f"read-only remounts are not permitted here ({r.stderr.strip()})")
            yield folder
        finally:
            _run(["umount", "-l", str(folder)])
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if p.is_dir()}
        for p in modes:
            p.chmod(0o555)
        try:
            yield folder
        finally:
            for p, m in modes.items():
                p.chmod(m)


@pytest.fixture
def tmpfs(tmp_path):
    """A function mounting a small tmpfs of ``size`` bytes at a new folder (unmounted at teardown)."""
    mounted = []

    def mount(size: int, name="disk") -> Path:
        if not IS_ROOT:
            pytest.skip("mounting a small tmpfs needs root")
        point = tmp_path / name
        point.mkdir()
        r = _run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)])
        if r.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here ({r.stderr.strip()})")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        _run(["umount", "-l", str(point)])


def fill_disk(folder, leave: int = 0) -> Path:
    """Fill the file system of ``folder`` with one file until ENOSPC, then give back ``leave`` bytes."""
    filler = Path(folder) / "filler.bin"
    block = b"\0" * 65536
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(block)
                fh.flush()
        except OSError:
            pass
    size = filler.stat().st_size
    with open(filler, "r+b") as fh:
        fh.truncate(max(0, size - leave))
    return filler


def permission_bits_bind_root() -> bool:
    """Whether a child of root that called :func:`drop_dac_override` is denied writing a 0555 folder."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "locked"
        target.mkdir(mode=0o555)
        code = f"open({str(target / 'x')!r}, 'w')"
        try:
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(),
                               preexec_fn=drop_dac_override)
        except (OSError, subprocess.SubprocessError):
            return False
        return r.returncode != 0 and "PermissionError" in r.stderr


def copy_store(src, dst):
    """Copy a sweep store with its run directories (checkpoints)."""
    from chaossim.sweep.store import runs_dir

    shutil.copytree(src, dst)
    if runs_dir(src).exists():
        shutil.copytree(runs_dir(src), runs_dir(dst))
    return dst


def params_of(run_dir):
    from chaossim.runs.rundir import load_checkpoint

    return load_checkpoint(run_dir)["params"]


def assert_same_params(a, b):
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
