"""Pooling: max/avg/adaptive pools and max_unpool."""

from ..function import Op  # noqa: F401

__all__ = []
