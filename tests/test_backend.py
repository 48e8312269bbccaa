"""The backend: the GPU probe and the 'auto' fallback, generators re-keyed in place, the strict backend.

CPU tests run the probe in a subprocess where CuPy cannot be imported; the GPU tests (marked gpu) check the
probe, the size of CuPy generators and their in-place re-keying on a real device.
"""
import subprocess
import sys

import numpy as np
import pytest

from chaossim import strict
from chaossim.backend import RNG_STATES, derive_seed, get_backend, gpu_available, gpu_status, to_numpy
from chaossim.config import RunConfig
from chaossim.errors import ConfigError
from chaossim.models import Restricted

NO_CUPY = "import sys; sys.modules['cupy'] = None\n"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_CUPY + code], capture_output=True, text=True, timeout=120)


def test_probe_without_cupy_says_why_and_how_to_fix():
    out = _run("from chaossim.backend import gpu_status\nok, why = gpu_status()\nassert not ok\nprint(why)")
    assert out.returncode == 0, out.stderr
    assert "CuPy is not importable" in out.stdout and "cupy-cuda12x[ctk]" in out.stdout and "cuda13" in out.stdout


def test_auto_falls_back_to_numpy_with_one_line():
    out = _run("from chaossim.backend import get_backend\n"
               "names = [get_backend('auto').name for _ in range(3)]\n"
               "print(names)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['numpy', 'numpy', 'numpy']"
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr  # said once per process, in one line
    assert lines[0].startswith("chaossim: backend 'auto' uses NumPy: CuPy is not importable")


def test_cupy_without_gpu_is_a_clear_error():
    out = _run("from chaossim.backend import get_backend\n"
               "try:\n    get_backend('cupy')\nexcept Exception as e:\n    print(type(e).__name__, e)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ConfigError") and "chaossim doctor" in out.stdout and "not importable" in out.stdout


def test_unknown_backend_and_config_names():
    with pytest.raises(ConfigError, match="'numpy', 'cupy', 'auto' or 'strict'"):
        get_backend("torch")
    assert RunConfig().replace(**{"backend.name": "strict"}).backend.name == "strict"
    with pytest.raises(ConfigError, match="backend.name"):
        RunConfig().replace(**{"backend.name": "jax"})


@pytest.mark.parametrize("name", ["numpy", "strict"])
def test_reseed_in_place_equals_a_fresh_generator(name):
    bk = get_backend(name, "float64")
    gen = bk.rng(1)
    gen.standard_normal(17)  # some history, which re-keying must erase
    same = bk.reseed(gen, derive_seed(5, 2, 9))
    assert same is gen
    fresh = bk.rng(derive_seed(5, 2, 9))
    np.testing.assert_array_equal(to_numpy(bk.normal(gen, (4, 3))), to_numpy(bk.normal(fresh, (4, 3))))
    # NumPy's stream is default_rng's (reproducibility numbers from before re-keying stay valid)
    np.testing.assert_array_equal(to_numpy(bk.rng(7).standard_normal(5)), np.random.default_rng(7).standard_normal(5))


def test_generators_are_created_once_per_model():
    with strict.record() as log:
        m = Restricted(8, 5, backend="strict")
        assert log.generators == 0  # lazily: a model that never draws owns no generator
        gen = m.rng
        for step in range(5):
            m.bk.reseed(m.rng, derive_seed(0, 2, step))
            m.train_step(np.tanh(np.random.default_rng(step).normal(size=(3, 8))), T=2, check=False)
        assert m.rng is gen
    assert log.generators == 1


def test_rng_states_is_a_whole_number_of_blocks():
    assert RNG_STATES % 256 == 0 and RNG_STATES * 64 <= 1 << 20


# ---------------------------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_probe_passes_on_a_gpu():
    ok, why = gpu_status()
    assert ok and why == "" and gpu_available()
    assert get_backend("auto").name == "cupy"


@pytest.mark.gpu
def test_cupy_generator_is_small_and_rekeyed_in_place():
    import cupy

    bk = get_backend("cupy", "float32")
    gen = bk.rng(3)
    bits = gen.bit_generator
    assert isinstance(bits, cupy.random.Philox4x3210)
    assert bits._state.nbytes == RNG_STATES * 64  # 512 KiB, not CuPy's default 2048 states per SM
    ptr = bits._state.data.ptr
    first = bk.normal(gen, (300, 70)).get()
    bk.reseed(gen, 3)
    assert gen.bit_generator is bits and bits._state.data.ptr == ptr  # no new state, no allocation
    np.testing.assert_array_equal(bk.normal(gen, (300, 70)).get(), first)
    bk.reseed(gen, derive_seed(4, 2, 1))
    np.testing.assert_array_equal(bk.normal(gen, (300, 70)).get(),
                                  bk.normal(bk.rng(derive_seed(4, 2, 1)), (300, 70)).get())
    draws = bk.normal(gen, (1000, 1000)).get().astype(np.float64)
    assert abs(draws.mean()) < 0.01 and abs(draws.std() - 1) < 0.01
