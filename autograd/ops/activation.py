"""Activations beyond relu/sigmoid/tanh: gelu, silu, softplus, elu, leaky_relu, ..."""

from ..function import Op  # noqa: F401

__all__ = []
