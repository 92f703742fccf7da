"""Transformer encoder/decoder layers and stacks (MultiheadAttention lives in activation.py, as in PyTorch)."""

__all__ = []
