"""Upsample and PixelShuffle."""

__all__ = []
