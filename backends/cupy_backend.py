"""The CUDA backend: CuPy arrays, cuRAND generators, fused ElementwiseKernels.

This module is imported only when a CUDA device is first used; nothing on the CPU
path imports CuPy.
"""

from .base import Backend
from .device import Device

INSTALL_HINT = ("install CuPy for your CUDA version with the ndgrad extra: "
                "pip install 'ndgrad[cuda13]' (CUDA 13) or 'ndgrad[cuda12]' (CUDA 12)")


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
    return cupy


class CupyBackend(Backend):
    kernels = {}

    def __init__(self, device):
        self.device = Device(device)
        self.xp = cp = import_cupy(self.device)
        self.array_type = cp.ndarray
        self._cuda_device = cp.cuda.Device(self.device.index)
        with self._cuda_device:
            self.generator = cp.random.RandomState()
        from . import cupy_kernels  # noqa: F401  registers the fused kernels below

    def asarray(self, data, dtype=None):
        with self._cuda_device:
            return self.xp.asarray(data, dtype=dtype)

    def from_backend(self, array, source):
        with self._cuda_device:  # host-to-device or device-to-device, no detour through NumPy
            return self.xp.array(array, copy=True)

    def to_numpy(self, array):
        return self.xp.asnumpy(array)

    def is_array(self, obj):
        return isinstance(obj, self.xp.ndarray)

    def erf(self, array):
        from cupyx.scipy.special import erf
        with self._cuda_device:
            return erf(array).astype(array.dtype, copy=False)

    def seed(self, seed):
        with self._cuda_device:
            self.generator = self.xp.random.RandomState(seed)

    def rand(self, shape, dtype):
        with self._cuda_device:
            return self.generator.random_sample(shape, dtype=dtype)

    def randn(self, shape, dtype):
        with self._cuda_device:
            return self.generator.standard_normal(shape, dtype=dtype)

    def randint(self, low, high, shape, dtype):
        with self._cuda_device:
            return self.generator.randint(low, high, size=shape, dtype=dtype)

    def synchronize(self):
        self._cuda_device.synchronize()

    def device_name(self):
        name = self.xp.cuda.runtime.getDeviceProperties(self.device.index)["name"]
        return name.decode() if isinstance(name, bytes) else name

    def memory_stats(self):
        """Bytes in use and held by CuPy's default memory pool (all devices). CuPy records no peak; the
        pool keeps every block it was given until empty_cache(), so what it holds bounds the peak since."""
        pool = self.xp.get_default_memory_pool()
        held = pool.total_bytes()
        return {"allocated_bytes": pool.used_bytes(), "peak_bytes": held, "reserved_bytes": held}

    def empty_cache(self):
        self.xp.get_default_memory_pool().free_all_blocks()
