"""Embeddings: embedding, embedding_bag, one_hot."""

from ..function import Op  # noqa: F401

__all__ = []
