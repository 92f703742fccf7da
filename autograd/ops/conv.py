"""Convolution: conv1d/2d/3d, conv_transpose1d/2d, unfold/fold (im2col + one GEMM)."""

from ..function import Op  # noqa: F401

__all__ = []
