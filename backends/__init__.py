"""Devices and their backends: the only package that knows NumPy from CuPy."""


from .base import Backend
from .device import Device
from .numpy_backend import NumpyBackend

_backends = {}
_seed = None


def get_backend(device="cpu"):
    """The Backend for ``device`` (created on first use; CuPy is imported only for CUDA)."""
    backend = _backends.get(device)
    if backend is None:
        spec, device = device, Device(device)
        backend = _backends.get(device)
        if backend is None:
            if device.type == "cpu":
                backend = NumpyBackend()
            else:
                from .cupy_backend import CupyBackend
                backend = CupyBackend(device)
            if _seed is not None:
                backend.seed(_seed)
            _backends[device] = backend
        if isinstance(spec, str):
            _backends[spec] = backend  # so "cuda" and "cuda:0" are found without parsing again
    return backend


def backend_of(array):
    """The Backend that owns ``array`` (a NumPy or CuPy ndarray)."""
    if type(array).__module__ == "numpy":
        return get_backend("cpu")
    return get_backend(Device("cuda", array.device.id))


def manual_seed(seed):
    """Seed the random generator of every device, now and of devices first used later."""
    global _seed
    _seed = int(seed)
    get_backend("cpu")
    for backend in set(_backends.values()):
        backend.seed(_seed)


def cuda_is_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


__all__ = ["Backend", "Device", "NumpyBackend", "get_backend", "backend_of", "manual_seed", "cuda_is_available"]
