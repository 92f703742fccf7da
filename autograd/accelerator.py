"""``autograd.accelerator``: PyTorch's device-agnostic question "is there something faster than the CPU?".
The one accelerator ndgrad drives is a CUDA GPU (through CuPy)."""

from backends import Device

from . import cuda


def is_available():
    return cuda.is_available()


def device_count():
    return cuda.device_count()


def current_accelerator(check_available=False):
    """Device('cuda') when a GPU is usable, else None (PyTorch's answer on a CPU-only machine)."""
    return Device("cuda") if cuda.is_available() else None
