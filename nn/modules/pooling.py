"""Pooling modules: MaxPool, AvgPool, adaptive pools, MaxUnpool."""

__all__ = []
