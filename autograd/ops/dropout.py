"""Dropout: the mask is drawn from the device generator and saved; nothing else."""

from ..function import Op  # noqa: F401

__all__ = []
