"""Dropout modules."""

__all__ = []
