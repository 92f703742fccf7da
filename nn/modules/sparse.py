"""Embedding and EmbeddingBag: lookup tables whose weight (num_embeddings, embedding_dim) starts N(0, 1),
with the padding_idx row zeroed, as in PyTorch."""

import autograd as ag

from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter

__all__ = ["Embedding", "EmbeddingBag"]


def _padding_idx(cls, padding_idx, num_embeddings):
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise AssertionError(f"{cls}: padding_idx must be within num_embeddings ({num_embeddings}), got "
                             f"{padding_idx}")
    return padding_idx % num_embeddings


def _make_weight(cls, _weight, num_embeddings, embedding_dim, device, dtype):
    if _weight is None:
        return Parameter(ag.empty(num_embeddings, embedding_dim, device=device, dtype=dtype)), True
    if tuple(_weight.shape) != (num_embeddings, embedding_dim):
        raise AssertionError(f"{cls}: shape of weight {tuple(_weight.shape)} does not match num_embeddings and "
                             f"embedding_dim ({num_embeddings}, {embedding_dim})")
    return Parameter(_weight), False


def _from_pretrained(cls, embeddings, freeze, **kwargs):
    if embeddings.ndim != 2:
        raise AssertionError(f"{cls.__name__}.from_pretrained: embeddings parameter is expected to be 2-dimensional, "
                             f"got shape {tuple(embeddings.shape)}")
    rows, cols = embeddings.shape
    module = cls(rows, cols, _weight=embeddings, **kwargs)
    module.weight.requires_grad = not freeze
    return module


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``; input indices (any shape) pick rows."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_idx("Embedding", padding_idx, num_embeddings)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        self.weight, fresh = _make_weight("Embedding", _weight, num_embeddings, embedding_dim, device, dtype)
        self.weight.requires_grad = not _freeze
        if fresh:
            self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self):
        if self.padding_idx is not None:
            with ag.no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse:
            text += ", sparse=True"
        return text

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        """An Embedding whose weight is ``embeddings`` (2-D); frozen (no gradient) unless ``freeze=False``."""
        return _from_pretrained(cls, embeddings, freeze, padding_idx=padding_idx, max_norm=max_norm,
                                norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


class EmbeddingBag(Module):
    """Sums, means or maxima over bags of embeddings (see F.embedding_bag), without the per-entry lookup."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None, device=None,
                 dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self.padding_idx = _padding_idx("EmbeddingBag", padding_idx, num_embeddings)
        self.weight, fresh = _make_weight("EmbeddingBag", _weight, num_embeddings, embedding_dim, device, dtype)
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset
        if fresh:
            self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with ag.no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                               self.mode, self.sparse, per_sample_weights, self.include_last_offset,
                               self.padding_idx)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        text += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        return text

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        return _from_pretrained(cls, embeddings, freeze, max_norm=max_norm, norm_type=norm_type,
                                scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=sparse,
                                include_last_offset=include_last_offset, padding_idx=padding_idx)
