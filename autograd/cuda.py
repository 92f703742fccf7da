"""``autograd.cuda``: the GPU questions scripts ask before anything else, with torch.cuda's names.

Without a usable GPU the answers are torch.cuda's on a CPU-only machine: ``is_available()`` is
False, ``device_count()`` 0, the memory counters 0, seeding is kept for later; what needs a GPU
(``current_device``, ``get_device_name``, ``synchronize`` ...) raises an error that says what to
install or fix. ndgrad has no "current GPU" switch: ``"cuda"`` is ``cuda:0``.
"""

import backends
from backends import Device, get_backend


def is_available():
    return backends.cuda_is_available()


def device_count():
    return backends.cuda_device_count()


def _gpu(fn, device=None):
    """The backend of GPU ``device`` (an index, a name or a Device; None: cuda:0), or an error naming ``fn``."""
    device = Device("cuda", device) if isinstance(device, int) else Device(device or "cuda")
    if device.type != "cuda":
        raise ValueError(f"cuda.{fn}: expected a CUDA device, got {device!r}; use 'cuda' or 'cuda:N'")
    try:
        return get_backend(device)
    except RuntimeError as err:  # no CuPy, no driver, no such GPU: the message says which and what to do
        raise RuntimeError(f"cuda.{fn}: {err}") from None


def current_device():
    return _gpu("current_device").device.index


def get_device_name(device=None):
    return _gpu("get_device_name", device).device_name()


def synchronize(device=None):
    """Wait for every kernel queued on ``device`` to finish (timings need it; training steps don't)."""
    _gpu("synchronize", device).synchronize()


def _memory(fn, stat, device):
    return _gpu(fn, device).memory_stats()[stat] if is_available() else 0


def memory_allocated(device=None):
    """Bytes held by live tensors on ``device`` (an index, a name, a Device or a tensor's ``.device``; None:
    cuda:0); 0 without a GPU, as in PyTorch."""
    return _memory("memory_allocated", "allocated_bytes", device)


def max_memory_allocated(device=None):
    """The peak of memory_allocated(device) since the GPU was first used or reset_peak_memory_stats(device)."""
    return _memory("max_memory_allocated", "peak_bytes", device)


def memory_reserved(device=None):
    """Bytes CuPy's memory pool holds on ``device``: in use, or cached for reuse until empty_cache()."""
    return _memory("memory_reserved", "reserved_bytes", device)


def empty_cache():
    """Give the pool's cached, unused blocks back to the driver on every GPU in use (tensors keep theirs)."""
    if is_available():
        for backend in set(backends._backends.values()):
            if backend.device.type == "cuda":
                backend.empty_cache()


def reset_peak_memory_stats(device=None):
    """Restart max_memory_allocated(device) from what is in use now."""
    _gpu("reset_peak_memory_stats", device).reset_peak_memory_stats()


def manual_seed(seed):
    """Seed the GPUs' generators (all of them, as manual_seed_all); the CPU's is left alone."""
    backends.manual_seed_cuda(seed)


def manual_seed_all(seed):
    backends.manual_seed_cuda(seed)
