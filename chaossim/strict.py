"""A strict array namespace: NumPy underneath, CuPy's rules on top, for proving GPU code on a CPU.

CuPy refuses several things NumPy silently allows, and a GPU pays for others that cost nothing on a CPU.
``get_backend("strict")`` (``backend.name = "strict"`` in a config) runs chaossim on this namespace so
that such code fails, or is counted, in the ordinary CPU test run:

- **implicit conversion** of a device array to NumPy (``numpy.asarray(a)``, matplotlib, a NumPy array
  method given a device array) raises ``TypeError`` with CuPy's message, and is counted as ``implicit``;
- a **NumPy array inside a device operation** (arithmetic, ufuncs, namespace functions other than the
  explicit uploads ``asarray``/``array``/``asanyarray``) raises ``TypeError``, as CuPy does;
- every **host synchronisation** is counted with its call site: ``float()``, ``int()``, ``complex()``,
  ``bool()``, ``.item()``, ``.tolist()``, ``repr``/``str``/``format`` of an array and ``.get()`` (the
  explicit copy to the host, which :func:`chaossim.backend.to_numpy` uses). On a GPU each of these
  waits for the device to finish all queued work;
- **uploads** (host data into ``asarray``/``array``, host index arrays, host values assigned into a device
  array) are counted separately: they are asynchronous on CuPy and do not synchronise;
- **generators** created with ``random.default_rng`` are counted (on CuPy each one allocates device state).

Numbers are NumPy's, bit for bit: a run on the strict backend equals the same run on NumPy, which the
tests use. The namespace mirrors NumPy's API; it does not check that CuPy implements every function.

Use::

    from chaossim import strict
    with strict.record() as log:
        model.train_step(batch, check=False)
    assert log.implicit == 0 and log.syncs == 0, log.report()
"""

from __future__ import annotations

import copy as _copy
import operator
import os
import sys
import types
from collections import Counter
from contextlib import contextmanager
from typing import Any

import numpy as np

SYNC_KINDS = ("float", "int", "complex", "bool", "item", "tolist", "repr", "format", "get", "pickle")
"""Operations that read device memory on the host (each waits for the device)."""

IMPLICIT_MESSAGE = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
    "NumPy array explicitly."
)  # CuPy's own message (cupy/_core/core.pyx, ndarray.__array__)

_HERE = os.path.abspath(__file__)
_PACKAGE = os.path.dirname(_HERE)
_SKIP_FILES = {_HERE, os.path.join(_PACKAGE, "backend.py")}


# ---------------------------------------------------------------------------------------------- the log
class Log:
    """Counts of what happened on strict arrays while the log was active (see :func:`record`).

    ``counts``: kind -> number; ``sites``: (kind, "file:line (function)") -> number.
    """

    def __init__(self):
        self.counts: Counter = Counter()
        self.sites: Counter = Counter()

    @property
    def syncs(self) -> int:
        """Host synchronisations (every kind in :data:`SYNC_KINDS`)."""
        return sum(self.counts[k] for k in SYNC_KINDS)

    @property
    def implicit(self) -> int:
        """Attempted implicit conversions to NumPy (each also raised ``TypeError``)."""
        return self.counts["implicit"]

    @property
    def mixed(self) -> int:
        """NumPy arrays given to device operations (each also raised ``TypeError``)."""
        return self.counts["mixed"]

    @property
    def uploads(self) -> int:
        return self.counts["upload"]

    @property
    def generators(self) -> int:
        return self.counts["generator"]

    def sync_sites(self) -> Counter:
        """Call site -> number of host synchronisations there."""
        out: Counter = Counter()
        for (kind, site), n in self.sites.items():
            if kind in SYNC_KINDS:
                out[site] += n
        return out

    def report(self) -> str:
        """A readable summary: the counts, then every call site."""
        head = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "nothing recorded"
        lines = [f"strict log: {head}"]
        for (kind, site), n in sorted(self.sites.items()):
            lines.append(f"  {kind:9s} x{n:<4d} {site}")
        return "\n".join(lines)


_ACTIVE: list[Log] = []


@contextmanager
def record():
    """Context manager yielding a :class:`Log` of everything done on strict arrays inside it."""
    log = Log()
    _ACTIVE.append(log)
    try:
        yield log
    finally:
        _ACTIVE.remove(log)


def _site() -> str:
    f: types.FrameType | None = sys._getframe(2)
    while f is not None and os.path.abspath(f.f_code.co_filename) in _SKIP_FILES:
        f = f.f_back
    if f is None:
        return "?"
    path = os.path.abspath(f.f_code.co_filename)
    root = os.path.dirname(_PACKAGE)
    name = os.path.relpath(path, root) if path.startswith(root + os.sep) else os.path.basename(path)
    return f"{name}:{f.f_lineno} ({f.f_code.co_name})"


def _note(kind: str) -> None:
    if _ACTIVE:
        site = _site()
        for log in _ACTIVE:
            log.counts[kind] += 1
            log.sites[(kind, site)] += 1


# ---------------------------------------------------------------------------------------------- wrapping
_SCALARS = (bool, int, float, complex, np.generic)


def _wrap(x):
    """NumPy results as strict arrays (scalars become 0-d arrays, as CuPy's reductions return)."""
    if isinstance(x, np.ndarray):
        return StrictArray(x)
    if isinstance(x, np.generic):
        return StrictArray(np.asarray(x))
    if isinstance(x, tuple):
        items = [_wrap(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else tuple(items)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _mixed(x) -> TypeError:
    _note("mixed")
    return TypeError(
        f"Unsupported type {type(x)}: a NumPy array was given to a device operation (CuPy refuses "
        "this); move it to the device with xp.asarray first."
    )


def _unwrap(x, upload: bool = False):
    """Strict arrays -> their NumPy arrays, recursively; NumPy arrays are uploads if ``upload`` else refused."""
    if isinstance(x, StrictArray):
        return x._a
    if isinstance(x, np.ndarray):
        if not upload:
            raise _mixed(x)
        _note("upload")
        return x
    if isinstance(x, (list, tuple)):
        items = [_unwrap(v, upload) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    if isinstance(x, dict):
        return {k: _unwrap(v, upload) for k, v in x.items()}
    return x


def _operand(x):
    """An operand of arithmetic: strict arrays and scalars; anything else is refused as CuPy refuses it."""
    if isinstance(x, StrictArray):
        return x._a
    if isinstance(x, _SCALARS):
        return x
    if isinstance(x, np.ndarray):
        raise _mixed(x)
    return NotImplemented


def _index(key):
    """Indices: strict arrays, and host arrays (CuPy uploads those)."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, StrictArray):
        return key._a
    if isinstance(key, np.ndarray):
        _note("upload")
        return key
    if isinstance(key, list) and any(isinstance(k, (StrictArray, np.ndarray)) for k in key):
        return [_index(k) for k in key]
    return key


def _binary(op, reflected=False):
    def method(self, other):
        o = _operand(other)
        if o is NotImplemented:
            return NotImplemented
        return _wrap(op(o, self._a) if reflected else op(self._a, o))

    return method


def _inplace(op):
    def method(self, other):
        o = _operand(other)
        if o is NotImplemented:
            return NotImplemented
        op(self._a, o)
        return self

    return method


class StrictArray:
    """A device-like array backed by a NumPy array (see the module docstring for the rules)."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100  # as cupy.ndarray
    __hash__ = None  # type: ignore[assignment]  # unhashable, as numpy and cupy arrays
    _chaossim_device = True  # chaossim.backend treats it as a device array

    def __init__(self, a):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"StrictArray wraps a NumPy array, got {type(a).__name__}; use strict.xp.asarray.")
        self._a = a

    # ------------------------------------------------------------------ what CuPy refuses
    def __array__(self, dtype=None, copy=None):
        _note("implicit")
        raise TypeError(IMPLICIT_MESSAGE)

    def __getattr__(self, name):
        if name in (
            "__array_interface__",
            "__array_struct__",
            "__buffer__",
            "data",
            "ctypes",
            "tobytes",
            "tofile",
            "dumps",
            "dump",
        ):
            raise AttributeError(
                f"strict arrays have no host view {name!r}; copy to the host with .get() "
                "(chaossim.backend.to_numpy) first."
            )
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):

            def method(*args, **kwargs):
                return _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))

            method.__name__ = name
            return method
        return _wrap(attr)

    # ------------------------------------------------------------------ host synchronisations
    def get(self, stream=None, order="C", out=None, blocking=True):
        """The explicit copy to the host (counted as a synchronisation); a new NumPy array."""
        _note("get")
        return np.array(self._a, order=order, copy=True)

    def __float__(self):
        _note("float")
        return float(self._a)

    def __int__(self):
        _note("int")
        return int(self._a)

    def __complex__(self):
        _note("complex")
        return complex(self._a)

    def __bool__(self):
        _note("bool")
        return bool(self._a)

    def item(self, *args):
        _note("item")
        return self._a.item(*args)

    def tolist(self):
        _note("tolist")
        return self._a.tolist()

    def __repr__(self):
        _note("repr")
        return "strict." + repr(self._a)

    def __str__(self):
        _note("repr")
        return str(self._a)

    def __format__(self, spec):
        _note("format")
        return format(self._a, spec)

    def __reduce__(self):
        _note("pickle")
        return (StrictArray, (self._a.copy(),))

    # ------------------------------------------------------------------ array protocol (no host access)
    def __array_namespace__(self, api_version=None):
        return xp

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        ins = []
        for x in inputs:
            o = _operand(x)
            if o is NotImplemented:
                return NotImplemented
            ins.append(o)
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(o) for o in kwargs["out"])
        kwargs = {k: (_unwrap(v) if k != "out" else v) for k, v in kwargs.items()}
        return _wrap(getattr(ufunc, method)(*ins, **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # ------------------------------------------------------------------ attributes
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    dtype = property(lambda self: self._a.dtype)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StrictArray(self._a.T))
    mT = property(lambda self: StrictArray(np.swapaxes(self._a, -1, -2)))
    real = property(lambda self: StrictArray(self._a.real))
    imag = property(lambda self: StrictArray(self._a.imag))

    # ------------------------------------------------------------------ container
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._a.shape[0]))

    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        if isinstance(value, StrictArray):
            value = value._a
        elif isinstance(value, np.ndarray):
            _note("upload")
        self._a[_index(key)] = value

    def __copy__(self):
        return StrictArray(self._a.copy())

    def __deepcopy__(self, memo):
        return StrictArray(_copy.deepcopy(self._a, memo))

    # ------------------------------------------------------------------ arithmetic
    __add__, __radd__ = _binary(operator.add), _binary(operator.add, True)
    __sub__, __rsub__ = _binary(operator.sub), _binary(operator.sub, True)
    __mul__, __rmul__ = _binary(operator.mul), _binary(operator.mul, True)
    __truediv__, __rtruediv__ = _binary(operator.truediv), _binary(operator.truediv, True)
    __floordiv__, __rfloordiv__ = _binary(operator.floordiv), _binary(operator.floordiv, True)
    __mod__, __rmod__ = _binary(operator.mod), _binary(operator.mod, True)
    __pow__, __rpow__ = _binary(operator.pow), _binary(operator.pow, True)
    __matmul__, __rmatmul__ = _binary(operator.matmul), _binary(operator.matmul, True)
    __and__, __rand__ = _binary(operator.and_), _binary(operator.and_, True)
    __or__, __ror__ = _binary(operator.or_), _binary(operator.or_, True)
    __xor__, __rxor__ = _binary(operator.xor), _binary(operator.xor, True)
    __lshift__, __rlshift__ = _binary(operator.lshift), _binary(operator.lshift, True)
    __rshift__, __rrshift__ = _binary(operator.rshift), _binary(operator.rshift, True)
    __lt__, __le__ = _binary(operator.lt), _binary(operator.le)
    __gt__, __ge__ = _binary(operator.gt), _binary(operator.ge)
    __eq__, __ne__ = _binary(operator.eq), _binary(operator.ne)
    __iadd__, __isub__ = _inplace(operator.iadd), _inplace(operator.isub)
    __imul__, __itruediv__ = _inplace(operator.imul), _inplace(operator.itruediv)
    __ifloordiv__, __imod__ = _inplace(operator.ifloordiv), _inplace(operator.imod)
    __ipow__, __imatmul__ = _inplace(operator.ipow), _inplace(operator.imatmul)
    __iand__, __ior__, __ixor__ = _inplace(operator.iand), _inplace(operator.ior), _inplace(operator.ixor)

    def __neg__(self):
        return StrictArray(-self._a)

    def __pos__(self):
        return StrictArray(+self._a)

    def __abs__(self):
        return StrictArray(abs(self._a))

    def __invert__(self):
        return StrictArray(~self._a)


# ---------------------------------------------------------------------------------------------- namespace
class _Function:
    """A NumPy function (or ufunc) on strict arrays: arguments unwrapped (NumPy arrays refused unless the
    function is an explicit upload), results wrapped."""

    __slots__ = ("_f", "_upload", "__name__")

    def __init__(self, f, upload: bool = False):
        self._f, self._upload, self.__name__ = f, upload, getattr(f, "__name__", "function")

    def __call__(self, *args, **kwargs):
        return _wrap(self._f(*_unwrap(args, self._upload), **_unwrap(kwargs, self._upload)))

    def __getattr__(self, name):  # ufunc methods: reduce, outer, at, ...
        attr = getattr(self._f, name)
        return _Function(attr) if callable(attr) else attr

    def __repr__(self):
        return f"<strict {self.__name__}>"


def _upload(a, dtype=None, copy=None, order=None, **_):
    """``asarray``/``array``: host data are copied (uploads never alias host memory, as on a GPU)."""
    if isinstance(a, StrictArray):
        out = np.asarray(a._a, dtype=dtype, order=order)
        return StrictArray(out.copy() if copy else out)
    if isinstance(a, (list, tuple)) and any(isinstance(v, StrictArray) for v in a):
        return StrictArray(np.array(_unwrap(a), dtype=dtype, order=order))
    _note("upload")
    return StrictArray(np.array(a, dtype=dtype, order=order, copy=True))


class StrictGenerator:
    """``numpy.random.Generator`` whose draws are strict arrays; ``bit_generator`` is the NumPy one."""

    def __init__(self, gen: np.random.Generator):
        self._gen = gen

    @property
    def bit_generator(self):
        return self._gen.bit_generator

    def __getattr__(self, name):
        attr = getattr(self._gen, name)
        return _Function(attr) if callable(attr) else attr

    def __repr__(self):
        return f"StrictGenerator({self._gen!r})"


class _Namespace:
    """A module of NumPy seen through strict arrays: functions wrapped, submodules wrapped, types and
    constants as they are."""

    _UPLOADS = {"asarray": _upload, "array": _upload, "asanyarray": _upload}

    def __init__(self, module, name: str):
        self._module = module
        self.__name__ = name

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value: Any
        if name == "ndarray" and self._module is np:
            value = StrictArray
        elif name in self._UPLOADS and self._module is np:
            value = self._UPLOADS[name]
        elif name == "default_rng" and self._module is np.random:
            value = _default_rng
        else:
            obj = getattr(self._module, name)
            if isinstance(obj, types.ModuleType):
                value = _Namespace(obj, f"{self.__name__}.{name}")
            elif isinstance(obj, type):
                value = obj  # dtypes (float32, ...), errstate, finfo: as they are
            elif callable(obj):
                value = _Function(obj)
            else:
                value = obj
        setattr(self, name, value)
        return value

    def __repr__(self):
        return f"<strict namespace {self.__name__} over {self._module.__name__}>"


def _default_rng(seed=None):
    _note("generator")
    return StrictGenerator(np.random.default_rng(seed))


xp = _Namespace(np, "strict")
"""The strict namespace (use as ``xp``; ``get_backend("strict").xp`` is this object)."""


def is_strict(a) -> bool:
    return isinstance(a, StrictArray)


__all__ = ["IMPLICIT_MESSAGE", "Log", "SYNC_KINDS", "StrictArray", "StrictGenerator", "is_strict", "record", "xp"]
