"""Devices and their backends: the only package that knows NumPy from CuPy."""


from .base import Backend
from .device import Device
from .numpy_backend import NumpyBackend

_backends = {}
_seed = None       # the last manual_seed: devices first used later start from it
_cuda_seed = None  # the last cuda.manual_seed_all, for GPUs only (None: they follow _seed)


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
            seed = _cuda_seed if device.type == "cuda" and _cuda_seed is not None else _seed
            if seed is not None:
                backend.seed(seed)
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
    global _seed, _cuda_seed
    _seed, _cuda_seed = int(seed), None
    get_backend("cpu")
    for backend in set(_backends.values()):
        backend.seed(_seed)


def manual_seed_cuda(seed):
    """Seed every GPU's generator (torch.cuda.manual_seed_all), now and of GPUs first used later;
    the CPU's generator is left as it is."""
    global _cuda_seed
    _cuda_seed = int(seed)
    for backend in set(_backends.values()):
        if backend.device.type == "cuda":
            backend.seed(_cuda_seed)


def cuda_device_count():
    """How many GPUs CuPy sees: 0 without CuPy, a driver or a GPU."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount()
    except Exception:
        return 0


def cuda_is_available():
    """True when CuPy imports, sees at least one GPU and loads the libraries the first op needs (NVRTC, cuRAND)."""
    if cuda_device_count() == 0:
        return False
    import cupy
    from .cupy_backend import missing_libraries
    return not missing_libraries(cupy)


__all__ = ["Backend", "Device", "NumpyBackend", "get_backend", "backend_of", "manual_seed", "manual_seed_cuda",
           "cuda_device_count", "cuda_is_available"]
