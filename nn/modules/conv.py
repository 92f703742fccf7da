"""Convolution modules: Conv1d/2d/3d, ConvTranspose1d/2d, Unfold, Fold."""

__all__ = []
