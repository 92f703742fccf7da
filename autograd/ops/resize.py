"""Padding and resampling: pad, interpolate, pixel_shuffle."""

from ..function import Op  # noqa: F401

__all__ = []
