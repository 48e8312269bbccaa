"""The strict namespace itself: CuPy's refusals reproduced on NumPy, every host synchronisation counted.

The rules are CuPy's (cupy/_core/core.pyx: ``ndarray.__array__`` raises TypeError, ``__float__``/``__int__``/
``__bool__``/``__repr__``/``__format__`` call ``.get()``; kernels refuse ``numpy.ndarray`` arguments); the
numbers must be NumPy's bit for bit.
"""
import pickle

import numpy as np
import pytest

from chaossim import strict
from chaossim.backend import array_module, get_backend, is_device_array, to_numpy
from chaossim.strict import IMPLICIT_MESSAGE, StrictArray, xp


@pytest.fixture
def a():
    return xp.asarray(np.arange(12.0).reshape(3, 4))


def test_implicit_conversion_raises_and_is_counted(a):
    with strict.record() as log:
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
            np.asarray(a)
        with pytest.raises(TypeError, match="Implicit conversion"):
            np.array([a[0], a[1]])
        with pytest.raises(TypeError, match="Implicit conversion"):
            np.zeros(4)[...] = a[0]
    assert log.implicit == 3
    assert IMPLICIT_MESSAGE.startswith("Implicit conversion")


def test_matplotlib_refuses_device_arrays(a):
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    with strict.record() as log, pytest.raises(TypeError, match="Implicit conversion"):
        ax.plot(a[0])
    assert log.implicit >= 1
    ax.plot(to_numpy(a[0]))  # the explicit copy is fine


def test_host_arrays_in_device_operations_are_refused(a):
    host = np.ones(4)
    with strict.record() as log:
        for op in (lambda: a + host, lambda: host + a, lambda: a * host, lambda: xp.maximum(a, host),
                   lambda: xp.stack([a[0], host]), lambda: np.tanh(host) + a):
            with pytest.raises(TypeError, match="NumPy array was given to a device operation"):
                op()
    assert log.mixed == 6 and log.syncs == 0
    # scalars (Python and NumPy) are fine, as in CuPy
    assert isinstance(a * 2.0 + np.float32(1.0), StrictArray)


def test_explicit_uploads_are_allowed_and_counted(a):
    host = np.arange(4.0)
    with strict.record() as log:
        b = xp.asarray(host)
        c = a[np.array([0, 2])]          # host index arrays (CuPy uploads them)
        a[1] = host                      # host values assigned into a device array
    assert log.uploads == 3 and log.syncs == 0
    host[0] = 99.0
    assert float(b[0]) == 0.0            # an upload copies: device memory never aliases host memory
    assert c.shape == (2, 4) and float(a[1, 3]) == 3.0


@pytest.mark.parametrize("kind,op", [
    ("float", lambda a: float(a[0, 0])), ("int", lambda a: int(a[0, 1])), ("bool", lambda a: bool(a.all())),
    ("item", lambda a: a[0, 0].item()), ("tolist", lambda a: a.tolist()), ("get", lambda a: a.get()),
    ("get", lambda a: to_numpy(a)), ("format", lambda a: f"{a[0, 0]:.3f}"), ("repr", lambda a: repr(a)),
    ("complex", lambda a: complex(a[0, 0])), ("pickle", lambda a: pickle.dumps(a)),
])
def test_every_host_synchronisation_is_counted(a, kind, op):
    with strict.record() as log:
        op(a)
    assert log.counts[kind] == 1 and log.syncs == 1, log.report()
    site = next(iter(log.sync_sites()))
    assert "test_strict.py" in site  # the call site, not the wrapper


def test_device_work_is_not_counted(a):
    with strict.record() as log:
        b = xp.tanh(a) @ a.T
        b += 1.0
        c = np.tanh(b)                   # NumPy ufuncs dispatch to the device array (as with CuPy)
        d = np.mean(c, axis=0)           # and so do NumPy functions (__array_function__)
        e = c.sum(axis=1).astype(xp.float32)
        f = xp.where(c > 0.5, c, 0.0)[:, ::2].copy()
        g = xp.linalg.svd(a, compute_uv=False)
        h = xp.fft.rfft(a, axis=0)
        s = a.sum()                      # reductions return 0-d device arrays, not host scalars
    for x in (b, c, d, e, f, g, h, s):
        assert isinstance(x, StrictArray)
    assert s.ndim == 0
    assert log.syncs == 0 and log.implicit == 0, log.report()


def test_numbers_are_numpys(a):
    host = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(to_numpy(xp.tanh(a) @ a.T), np.tanh(host) @ host.T)
    np.testing.assert_array_equal(to_numpy(xp.linalg.svd(a, compute_uv=False)), np.linalg.svd(host, compute_uv=False))
    gen, ref = xp.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(to_numpy(gen.standard_normal((3, 2), dtype=np.float32)),
                                  ref.standard_normal((3, 2), dtype=np.float32))


def test_in_place_operations_and_views_write_through(a):
    v = a[1:, :2]
    v *= 10.0
    a[0] += 1.0
    np.testing.assert_array_equal(to_numpy(a)[1:, :2], np.arange(12.0).reshape(3, 4)[1:, :2] * 10)
    assert float(a[0, 0]) == 1.0
    flat = xp.zeros(8)
    view = xp.lib.stride_tricks.as_strided(flat[2:], shape=(2, 2), strides=(8, 16))
    view[...] = xp.asarray(np.ones((2, 2)))
    np.testing.assert_array_equal(to_numpy(flat), [0, 0, 1, 1, 1, 1, 0, 0])


def test_no_host_view_leaks(a):
    for name in ("__array_interface__", "__array_struct__", "data", "ctypes", "tobytes"):
        with pytest.raises(AttributeError, match="no host view"):
            getattr(a, name)
    with pytest.raises(TypeError):
        memoryview(a)
    with pytest.raises(TypeError):
        range(a[0, 0])  # CuPy arrays have no __index__


def test_backend_and_helpers_recognise_strict_arrays(a):
    bk = get_backend("strict", "float64")
    assert bk.name == "strict" and bk.xp is xp and bk.on_device and bk.device == "cpu (strict)"
    assert is_device_array(a) and not is_device_array(np.ones(2))
    assert array_module(a) is xp and array_module(np.ones(2)) is np
    host = to_numpy(a)
    assert type(host) is np.ndarray
    host[0, 0] = -5.0
    assert float(a[0, 0]) == 0.0  # .get() copies


def test_logs_nest_and_report_sites(a):
    with strict.record() as outer:
        float(a[0, 0])
        with strict.record() as inner:
            bool(a.any())
    assert outer.syncs == 2 and inner.syncs == 1
    assert "bool" in inner.report() and "test_strict.py" in inner.report()
