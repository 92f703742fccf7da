"""Normalization: batch_norm, layer_norm, group_norm, instance_norm."""

from ..function import Op  # noqa: F401

__all__ = []
