"""The CUDA backend: CuPy arrays, cuRAND generators, fused ElementwiseKernels.

This module is imported only when a CUDA device is first used; nothing on the CPU
path imports CuPy.
"""

import numpy as np

from .base import Backend
from .device import Device

INSTALL_HINT = ("install CuPy and the CUDA libraries it loads (NVRTC, cuRAND, cuBLAS) for your CUDA version with the "
                "ndgrad extra: pip install 'ndgrad[cuda13]' (CUDA 13) or 'ndgrad[cuda12]' (CUDA 12)")
_CURAND_FLOATS = (np.float32, np.float64)  # all cupy.random makes; float16/bfloat16 are rounded from float32


def missing_libraries(cupy):
    """The CUDA libraries that do not load, of those the first op needs: NVRTC compiles every CuPy
    kernel, cuRAND draws every random number. A driver-only machine has neither (CuPy's wheel ships
    without them), so a GPU would look usable and the first op fail."""
    missing = []
    for name in ("nvrtc", "curand"):
        try:
            getattr(cupy.cuda, name).getVersion()
        except Exception as e:  # ImportError or CuPy's own: the library file is not found
            missing.append(f"{name} ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    return missing


def import_cupy(device):
    """Import CuPy and check that ``device`` exists, or raise an error that says what to do."""
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(f"device {device} was requested but CuPy is not installed ({e}); {INSTALL_HINT}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no GPU: CuPy raises CUDARuntimeError
        raise RuntimeError(f"device {device} was requested but no CUDA GPU is usable: {e}. "
                           f"Use device='cpu', or run on a machine with an NVIDIA GPU and driver") from None
    if device.index >= count:
        raise RuntimeError(f"device {device} was requested but only {count} CUDA GPU(s) are visible; "
                           f"use an index below {count}")
    missing = missing_libraries(cupy)
    if missing:
        raise RuntimeError(f"device {device} was requested but CuPy cannot load {', '.join(missing)}; {INSTALL_HINT}")
    return cupy


_tf32 = {"allowed": False, "cupy": None}  # autograd.backends.cuda.matmul.allow_tf32 (off: PyTorch's); CuPy once used


def set_allow_tf32(allowed):
    """TF32 tensor cores for float32 matmuls on every GPU, or not. CuPy keeps the float32 GEMM compute type
    process-wide (what its CUPY_TF32 variable sets), so it is set once here, when the flag changes or CuPy
    starts, and a matmul pays nothing for it."""
    _tf32["allowed"] = bool(allowed)
    if _tf32["cupy"] is not None:
        _apply_tf32(_tf32["cupy"])


def _apply_tf32(cp):
    linalg = cp._core._routines_linalg
    linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_TF32 if _tf32["allowed"] else linalg.COMPUTE_TYPE_DEFAULT)


class _PeakTracker:
    """CuPy's allocator, wrapped to keep each GPU's high-water mark of the pool's bytes in use (CuPy records
    none). Use only grows at an allocation, so one comparison there gives the exact peak; frees cost nothing."""

    def __init__(self, cp):
        self.pool, self.allocate, self.peak = cp.get_default_memory_pool(), cp.cuda.get_allocator(), {}
        cp.cuda.set_allocator(self.malloc)

    def malloc(self, size):
        pointer = self.allocate(size)
        used = self.pool.used_bytes()  # the pool of the current device, where the block was just taken
        if used > self.peak.get(pointer.device_id, 0):
            self.peak[pointer.device_id] = used
        return pointer


_peaks = []  # the one _PeakTracker, made when the first GPU is used


_PIGGYBACK_BYTES = 1 << 16  # host copies up to this size bring the deferred checks' records along


def _raise_first(pending, records):
    """The first failed check of ``pending`` (key -> (error, record)) as its error, given the records on the host."""
    for (error, _), (count, low, high) in zip(pending.values(), records.tolist()):
        if count:
            raise error(count, low, high)


class CupyBackend(Backend):
    kernels = {}

    def __init__(self, device):
        self.device = Device(device)
        self.xp = cp = import_cupy(self.device)
        self.array_type = cp.ndarray
        self._cuda_device = cp.cuda.Device(self.device.index)
        with self._cuda_device:
            self.generator = cp.random.RandomState()
        if _tf32["cupy"] is None:  # off unless asked for, whatever CUPY_TF32 says
            _tf32["cupy"] = cp
            _apply_tf32(cp)
            _peaks.append(_PeakTracker(cp))
        self._deferred = {}  # check key -> (error, device record [count, low, high]): see check_range
        from . import cupy_kernels  # noqa: F401  registers the fused kernels below
        from . import cupy_optim_kernels  # noqa: F401  registers the fused optimizer updates

    def asarray(self, data, dtype=None):
        with self._cuda_device:
            return self.xp.asarray(data, dtype=dtype)

    def from_backend(self, array, source):
        with self._cuda_device:  # host-to-device or device-to-device, no detour through NumPy
            return self.xp.array(array, copy=True)

    def to_numpy(self, array):
        """A host copy: the host sync where the deferred checks (check_range) are read and reported. Their
        records ride in the same transfer as a small array (a loss's .item()), so the sync stays one copy."""
        if not self._deferred:
            return self.xp.asnumpy(array)
        if array.nbytes > _PIGGYBACK_BYTES:
            self.raise_deferred_errors()
            return self.xp.asnumpy(array)
        pending, self._deferred = self._deferred, {}
        cp = self.xp
        with self._cuda_device:
            records = cp.stack([record for _, record in pending.values()]).reshape(-1)
            data = cp.ascontiguousarray(array).reshape(-1).view(cp.uint8)
            host = cp.asnumpy(cp.concatenate((records.view(cp.uint8), data)))
        _raise_first(pending, host[:records.nbytes].view(np.int64).reshape(-1, 3))
        return host[records.nbytes:].view(array.dtype).reshape(array.shape)

    def is_array(self, obj):
        return isinstance(obj, self.xp.ndarray)

    def special(self, name):
        import cupyx.scipy.special
        fn = getattr(cupyx.scipy.special, name)

        def run(*args):
            with self._cuda_device:
                return fn(*args).astype(args[-1].dtype, copy=False)
        return run

    def scipy_linalg(self):
        from cupyx.scipy import linalg
        return linalg

    def errstate(self):
        """This GPU, current while a kernel runs: CuPy allocates and launches on the current device, so
        without it an op on cuda:1 would allocate on cuda:0. A fresh Device each time: a Device object
        keeps the devices to restore on a stack that concurrent threads must not share. (CuPy does not
        warn about inf and nan, so there is nothing to silence.)"""
        return self.xp.cuda.Device(self.device.index)

    def seed(self, seed):
        with self._cuda_device:
            self.generator = self.xp.random.RandomState(seed)

    def rand(self, shape, dtype):
        with self._cuda_device:
            if dtype in _CURAND_FLOATS:
                return self.generator.random_sample(shape, dtype=dtype)
            return self.generator.random_sample(shape, dtype=np.float32).astype(dtype)

    def randn(self, shape, dtype):
        with self._cuda_device:
            if dtype in _CURAND_FLOATS:
                return self.generator.standard_normal(shape, dtype=dtype)
            return self.generator.standard_normal(shape, dtype=np.float32).astype(dtype)

    def randint(self, low, high, shape, dtype):
        with self._cuda_device:
            if dtype == np.bool_:  # cupy.random has no bool (it checks bounds with iinfo): 0/1 as int8, then bool
                if not 0 <= low < high <= 2:
                    raise ValueError(f"randint: bounds [{low}, {high}) are out of range for dtype bool on {self.device}; "
                                     f"use low=0, high=2")
                return self.generator.randint(low, high, size=shape, dtype=np.int8).astype(np.bool_)
            return self.generator.randint(low, high, size=shape, dtype=dtype)

    def check_range(self, key, values, low, high, error, ignore=None):
        """Deferred, as CUDA's device asserts are in PyTorch: one pass marks the bad values, three reductions fold
        their count and range into a small record on this GPU without waiting for it, and the error is raised at
        the next host synchronisation (to_numpy: item, tolist, numpy, bool, a copy to the CPU; synchronize).
        Reading the answer now would stall every training step on a device-to-host copy."""
        if values.size == 0:
            return
        from .cupy_kernels import out_of_range_record
        cp = self.xp
        with self._cuda_device:
            record = out_of_range_record(values, low, high, ignore)
            old = self._deferred.get(key)
            if old is not None:
                old = old[1]
                record = cp.stack((old[0] + record[0], cp.minimum(old[1], record[1]), cp.maximum(old[2], record[2])))
        self._deferred[key] = (error, record)

    def raise_deferred_errors(self):
        if not self._deferred:
            return
        pending, self._deferred = self._deferred, {}
        with self._cuda_device:  # one copy to the host for all pending checks
            _raise_first(pending, self.xp.asnumpy(self.xp.stack([record for _, record in pending.values()])))

    def synchronize(self):
        self._cuda_device.synchronize()
        self.raise_deferred_errors()

    def device_name(self):
        name = self.xp.cuda.runtime.getDeviceProperties(self.device.index)["name"]
        return name.decode() if isinstance(name, bytes) else name

    def memory_stats(self):
        """Bytes in use, their peak since the last reset_peak_memory_stats() and what CuPy's pool holds on this GPU
        (the pool answers for the current device, so this one is made current)."""
        with self._cuda_device:
            pool = self.xp.get_default_memory_pool()
            used, held = pool.used_bytes(), pool.total_bytes()
        return {"allocated_bytes": used, "peak_bytes": max(used, _peaks[0].peak.get(self.device.index, 0)),
                "reserved_bytes": held}

    def reset_peak_memory_stats(self):
        with self._cuda_device:
            _peaks[0].peak[self.device.index] = self.xp.get_default_memory_pool().used_bytes()

    def empty_cache(self):
        with self._cuda_device:
            self.xp.get_default_memory_pool().free_all_blocks()
