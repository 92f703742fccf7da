"""Normalization modules: BatchNorm, LayerNorm, GroupNorm, InstanceNorm."""

__all__ = []
