"""The CPU backend: NumPy arrays, a NumPy Generator, and a few in-place kernels."""

import functools
import os
import platform
import tracemalloc

import numpy as np

from .base import Backend
from .device import Device

try:  # NumPy 2 keeps its error state in a context variable; setting it directly costs a quarter of np.errstate
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj
    _IGNORE_ALL = _make_extobj(all="ignore")
except ImportError:  # another NumPy: the public (slower) context manager
    _extobj_contextvar = None


class _IgnoreFloatErrors:
    """np.errstate(all="ignore"), made fresh for each use so nested and concurrent kernels are safe."""
    __slots__ = ("token",)

    def __enter__(self):
        self.token = _extobj_contextvar.set(_IGNORE_ALL)

    def __exit__(self, *exc):
        _extobj_contextvar.reset(self.token)


class NumpyBackend(Backend):
    xp = np
    array_type = np.ndarray
    kernels = {}

    def __init__(self):
        self.device = Device("cpu")
        self.generator = np.random.default_rng()
        from . import cpu_allocator
        cpu_allocator.apply_default()  # large freed temporaries stay in the heap (NDGRAD_CPU_ALLOCATOR=system: not)

    def asarray(self, data, dtype=None):
        return np.asarray(data, dtype=dtype)


    def to_numpy(self, array):
        return np.asarray(array)

    def is_array(self, obj):
        return isinstance(obj, np.ndarray)

    def errstate(self):
        return _IgnoreFloatErrors() if _extobj_contextvar is not None else np.errstate(all="ignore")

    if _extobj_contextvar is not None:
        def run(self, kernel, ctx, arrays, attrs):
            """Backend.run with the error state set straight in NumPy's context variable: no context-manager
            object per op (about half a microsecond of every op's overhead)."""
            token = _extobj_contextvar.set(_IGNORE_ALL)
            try:
                return kernel(ctx, *arrays, **attrs)
            finally:
                _extobj_contextvar.reset(token)

    def special(self, name):
        return _scipy_special(name)

    def scipy_linalg(self):
        import scipy.linalg  # imported on first use: only the triangular and LU solves need it
        return scipy.linalg

    def seed(self, seed):
        self.generator = np.random.default_rng(seed)

    def rand(self, shape, dtype):
        return self.generator.random(shape, dtype=dtype if dtype in (np.float32, np.float64) else np.float64).astype(dtype, copy=False)

    def randn(self, shape, dtype):
        if dtype in (np.float32, np.float64):
            return self.generator.standard_normal(shape, dtype=dtype)
        return self.generator.standard_normal(shape).astype(dtype)

    def randint(self, low, high, shape, dtype):
        return self.generator.integers(low, high, size=shape, dtype=dtype)

    def synchronize(self):
        pass  # NumPy calls return when their work is done

    def memory_stats(self):
        """Bytes NumPy has allocated, as seen by tracemalloc (only while it is tracing)."""
        if not tracemalloc.is_tracing():
            return {"allocated_bytes": None, "peak_bytes": None}
        current, peak = tracemalloc.get_traced_memory()
        return {"allocated_bytes": current, "peak_bytes": peak}

    def device_name(self):
        try:
            with open("/proc/cpuinfo") as f:
                model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
        except (OSError, StopIteration):
            model = platform.processor() or platform.machine()
        return f"{model} ({os.cpu_count()} cores)"


# --- kernel overrides: NumPy `out=` variants that skip temporaries -------------

@NumpyBackend.register_kernel("sigmoid")
def _sigmoid(ctx, x):
    """1 / (1 + exp(-x)) computed in one buffer instead of four."""
    out = np.negative(x, out=np.empty_like(x))  # out= keeps a 0-d result an array
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)
    ctx.save_for_backward(out)
    return out


_MASK_CHUNK = 1 << 16  # elements per slice of an in-place threshold_backward: a 64 KiB bool mask at most


@NumpyBackend.register_kernel("threshold_backward")
def _threshold_backward(ctx, grad, out, in_place=False):
    """grad where out > 0 else 0: the mask is written as 1.0/0.0 straight into the result
    buffer, then multiplied in place (no bool temporary, one buffer). In place (the engine's
    own gradient buffer), the mask is made a slice at a time, so nothing of the array's size is allocated."""
    ctx.save_for_backward(out)
    if in_place and grad.flags.c_contiguous and out.flags.c_contiguous:  # strided: a new buffer, below
        flat_grad, flat_out = grad.reshape(-1), out.reshape(-1)
        mask = np.empty(min(_MASK_CHUNK, flat_grad.size), dtype=bool)
        for start in range(0, flat_grad.size, _MASK_CHUNK):
            part = flat_grad[start:start + _MASK_CHUNK]
            m = mask[:part.size]
            np.greater(flat_out[start:start + _MASK_CHUNK], 0, out=m)
            np.multiply(part, m, out=part)
        return grad
    result = np.greater(out, 0, out=np.empty_like(grad))
    result *= grad
    return result


@functools.lru_cache(maxsize=None)
def _scipy_special(name):
    """SciPy's special function ``name``, giving arrays in its last argument's dtype."""
    import scipy.special  # imported on first use: only special functions need SciPy
    fn = getattr(scipy.special, name)

    def run(*args):  # asarray: a 0-d result stays an array
        return np.asarray(fn(*args)).astype(args[-1].dtype, copy=False)
    return run
