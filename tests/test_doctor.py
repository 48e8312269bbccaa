"""`chaossim doctor`: the CPU branch runs here (CuPy hidden, so the result does not depend on the machine);
the GPU branch runs on a GPU (marked gpu)."""
import io
import subprocess
import sys

import pytest

from chaossim.doctor import FAIL, PASS, Table


def _doctor(*args: str, hide_cupy: bool = True) -> subprocess.CompletedProcess:
    code = ("import sys\n" + ("sys.modules['cupy'] = None\n" if hide_cupy else "")
            + f"from chaossim.cli import main\nsys.exit(main(['doctor', *{list(args)!r}]))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


def test_cpu_branch_says_no_gpu_and_checks_the_numpy_side():
    out = _doctor()
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "INFO GPU" in text and "none: CuPy is not importable" in text and "cupy-cuda12x[ctk]" in text
    for line in ("host cuBLAS emulation vs definition", "fused programs race-free",
                 "strict namespace: steps issue no host sync", "NumPy engine time per step"):
        assert f"PASS {line}" in text, text
    for arch in ("unrestricted", "restricted", "deep"):
        for kind in ("single", "ensemble"):
            assert f"PASS fused schedule vs engine f64: {arch} {kind}" in text
    assert "FAIL" not in text and "all checks passed on the NumPy side (no GPU)" in text


def test_missing_gpu_fails_when_required():
    out = _doctor("--require-gpu")
    assert out.returncode == 1
    assert "FAIL GPU" in out.stdout and "1 check(s) FAILED: GPU" in out.stdout


def test_a_failing_check_is_a_fail_line_and_the_others_still_run():
    buf = io.StringIO()
    table = Table(buf)
    table.check("broken", lambda: 1 / 0)
    table.check("wrong value", lambda: (_ for _ in ()).throw(AssertionError("max |diff| 3 > 1e-12")))
    table.check("fine", lambda: "ok")
    assert [r.status for r in table.rows] == [FAIL, FAIL, PASS]
    assert "ZeroDivisionError" in table.rows[0].detail and "test_doctor.py" in table.rows[0].detail
    assert table.rows[1].detail == "max |diff| 3 > 1e-12"
    assert len(table.failed) == 2 and "FAIL broken" in buf.getvalue()


def test_help():
    """Issue 22: the description comes from a reST docstring; --help shows it without ``markup``."""
    out = subprocess.run([sys.executable, "-m", "chaossim", "doctor", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "--require-gpu" in out.stdout and "exit status" in out.stdout
    assert "`" not in out.stdout and ":mod:" not in out.stdout
    assert "Without a GPU the table says why and the NumPy side is checked. --require-gpu makes" in out.stdout


@pytest.mark.gpu
def test_gpu_branch_passes():
    out = _doctor("--require-gpu", hide_cupy=False)
    assert out.returncode == 0, out.stdout + out.stderr
    for line in ("backend probe", "libcublas", "cublasSgemm_v2 vs host emulation",
                 "cublasDgemmStridedBatched vs host emulation", "element-wise kernels float32 graphed",
                 "two-stream capture", "cuRAND generators", "fast trainer vs NumPy engine f64: deep ensemble",
                 "float32 / TF32 closeness", "TF32 rounding measured", "ms/step fast fp32", "ms/step fast TF32"):
        assert f"PASS {line}" in out.stdout, out.stdout
