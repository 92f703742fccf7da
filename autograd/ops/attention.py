"""Attention: scaled_dot_product_attention and multi_head_attention_forward."""

from ..function import Op  # noqa: F401

__all__ = []
