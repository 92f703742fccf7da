"""Utilities with PyTorch's names: ``autograd.utils.data`` is ``torch.utils.data``."""

from . import checkpoint, data
