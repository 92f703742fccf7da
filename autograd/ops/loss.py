"""Losses, each with reduction none/mean/sum."""

from ..function import Op  # noqa: F401

__all__ = []
