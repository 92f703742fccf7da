"""Embeddings: embedding, embedding_bag, one_hot.

``embedding`` is one op: a row gather whose gradient is a scatter-add of the output gradient into a
zero weight-shaped array (``EmbeddingDense``), skipping ``padding_idx`` and, with
``scale_grad_by_freq``, dividing each row by how often its index occurs. ``embedding_bag`` gathers
the rows of every entry with it and reduces each bag (sum, mean, max) over a (bags, longest bag)
layout built from the offsets; ``one_hot`` makes integers and has no gradient.
"""

import math

from .. import dtypes
from ..function import Op, linear_jvp
from ..grad_mode import no_grad
from ..tensor import Tensor

__all__ = ["embedding", "embedding_bag", "one_hot"]


def _row_scale(xp, indices, num, padding_idx, by_freq, dtype):
    """Per entry of ``indices``: 0 at padding_idx, 1 / (count of its index) with ``by_freq``, else 1;
    None when every entry is 1."""
    if padding_idx is None and not by_freq:
        return None
    flat = indices.reshape(-1)
    scale = xp.ones(flat.shape, dtype)
    if by_freq:
        counts = xp.bincount(flat, minlength=num)
        scale = scale / counts[flat].astype(dtype)
    if padding_idx is not None:
        scale = xp.where(flat == padding_idx, xp.zeros((), dtype), scale)
    return scale.reshape(indices.shape + (1,))


class Embedding(Op):
    """weight[indices]; the weight's gradient goes through EmbeddingDense (a scatter-add)."""
    def forward(ctx, weight, indices, padding_idx, scale_grad_by_freq):
        ctx.num, ctx.padding_idx, ctx.by_freq = weight.shape[0], padding_idx, scale_grad_by_freq
        ctx.save_for_backward(indices)
        return weight[indices]
    def backward(ctx, grad):
        indices, = ctx.saved_tensors
        return EmbeddingDense.apply(grad, indices, num=ctx.num, padding_idx=ctx.padding_idx,
                                    scale_grad_by_freq=ctx.by_freq), None
    jvp = linear_jvp  # the rows of the tangent: padding_idx and scale_grad_by_freq shape only the gradient


class EmbeddingDense(Op):
    """Zeros (num, D) with each row of ``grad`` (..., D) added at its index (scaled, padding left out);
    its own gradient gathers the rows back with the same scale."""
    op = "embedding_dense_backward"
    def forward(ctx, grad, indices, num, padding_idx, scale_grad_by_freq):
        xp = ctx.xp
        ctx.padding_idx, ctx.by_freq = padding_idx, scale_grad_by_freq
        ctx.save_for_backward(indices)
        dim = grad.shape[-1]
        rows = grad.reshape(-1, dim)
        scale = _row_scale(xp, indices, num, padding_idx, scale_grad_by_freq, grad.dtype)
        if scale is not None:
            rows = rows * scale.reshape(-1, 1)
        out = xp.zeros((num, dim), grad.dtype)
        xp.add.at(out, indices.reshape(-1), rows)
        return out
    def backward(ctx, grad):
        indices, = ctx.saved_tensors
        rows = Embedding.apply(grad, indices, padding_idx=None, scale_grad_by_freq=False)
        scale = _row_scale(grad._backend.xp, indices.array, grad.shape[0], ctx.padding_idx, ctx.by_freq,
                           grad.dtype)
        return (rows if scale is None else rows * Tensor._make(scale, grad._backend)), None
    jvp = linear_jvp


def _check_indices(op, input, num):
    if not isinstance(input, Tensor) or input.dtype not in (dtypes.int64, dtypes.int32):
        got = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(f"{op}: expected indices of type int64 or int32, got {got}; convert them, e.g. "
                           f"input.long()")
    if input.numel() and input.device.type == "cpu":  # CUDA would have to synchronise to check
        low, high = int(input.array.min()), int(input.array.max())
        if low < 0 or high >= num:
            raise IndexError(f"{op}: index out of range in self: indices span [{low}, {high}] but the weight has "
                             f"{num} rows (valid: 0..{num - 1})")


def _padding(op, padding_idx, num):
    if padding_idx is None:
        return None
    if not -num <= padding_idx < num:
        raise AssertionError(f"{op}: padding_idx must be within num_embeddings ({num}), got {padding_idx}")
    return padding_idx % num


def _check_weight(op, weight):
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise RuntimeError(f"{op}: 'weight' must be 2-D (num_embeddings, embedding_dim), got {shape}")


def _renorm_(weight, input, max_norm, norm_type):
    """Rows of ``weight`` looked up by ``input`` whose norm exceeds ``max_norm`` are scaled down to it, in
    place and outside the graph (PyTorch's embedding_renorm_)."""
    xp = weight._backend.xp
    rows = xp.unique(input.array.reshape(-1))
    with no_grad():
        picked = weight.array[rows]
        norms = (xp.abs(picked) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), xp.ones((), norms.dtype))
        weight[Tensor._make(rows, weight._backend)] = Tensor._make((picked * scale[:, None]).astype(weight.dtype),
                                                                   weight._backend)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """The rows of ``weight`` (num_embeddings, D) at ``input``'s indices: shape input.shape + (D,).

    ``padding_idx``: that row gets no gradient. ``max_norm``: looked-up rows with a larger norm are
    renormalised in place first. ``scale_grad_by_freq``: each row's gradient divided by how often its
    index occurs in ``input``."""
    op = "embedding"
    _check_weight(op, weight)
    _check_indices(op, input, weight.shape[0])
    if sparse:
        raise NotImplementedError(f"{op}: sparse gradients are not supported (ndgrad has no sparse tensors); "
                                  f"use sparse=False (a dense gradient)")
    padding_idx = _padding(op, padding_idx, weight.shape[0])
    if max_norm is not None:
        _renorm_(weight, input, max_norm, norm_type)
    return Embedding.apply(weight, input, padding_idx=padding_idx, scale_grad_by_freq=bool(scale_grad_by_freq))


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of embeddings, without making the (entries, D) lookup a user sees.

    ``input`` 2-D (B, N): B bags of N entries. ``input`` 1-D with ``offsets`` (B,): bag b is
    input[offsets[b]:offsets[b+1]] (the last runs to the end, or ``include_last_offset``: offsets has
    B + 1 entries). Entries equal to ``padding_idx`` are left out of their bag; an empty bag gives
    zeros. ``per_sample_weights`` (mode "sum" only) scale each entry."""
    op = "embedding_bag"
    from .reduction import amax, sum as reduce_sum
    from .arithmetic import where
    _check_weight(op, weight)
    _check_indices(op, input, weight.shape[0])
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    if sparse:
        raise NotImplementedError(f"{op}: sparse gradients are not supported (ndgrad has no sparse tensors); "
                                  f"use sparse=False")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"{op}: embedding_bag: per_sample_weights was not None. per_sample_weights is "
                                      f"only supported for mode='sum' (got mode='{mode}'). Please open a feature "
                                      f"request on GitHub.")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"{op}: per_sample_weights (shape {tuple(per_sample_weights.shape)}) must have the "
                             f"shape of input ({tuple(input.shape)})")
    if scale_grad_by_freq and mode == "max":
        raise ValueError(f"{op}: max mode does not support scaling the gradient by the frequency")
    xp, backend = weight._backend.xp, weight._backend
    padding_idx = _padding(op, padding_idx, weight.shape[0])
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: if input is 2-D, then offsets has to be None, as input is treated as a "
                             f"mini-batch of fixed length sequences; got offsets of shape {tuple(offsets.shape)}")
        index, present = input, xp.ones(tuple(input.shape), bool)
        psw = per_sample_weights
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError(f"{op}: offsets has to be a 1-D tensor but got None (input is 1-D)")
        if offsets.ndim != 1:
            raise ValueError(f"{op}: offsets has to be a 1-D tensor but got shape {tuple(offsets.shape)}")
        starts = [int(o) for o in offsets.array.tolist()]  # the layout is decided on the host
        n = input.shape[0]
        if starts and starts[0] != 0:
            raise ValueError(f"{op}: offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to "
                             f"start from position 0. However, got {starts[0]}")
        if any(b < a for a, b in zip(starts, starts[1:])) or (starts and starts[-1] > n):
            raise ValueError(f"{op}: offsets must be non-decreasing and at most the input length {n}, got {starts}")
        ends = starts[1:] + ([] if include_last_offset else [n])
        if include_last_offset:
            starts = starts[:-1]
        longest = max([e - s for s, e in zip(starts, ends)], default=0)
        pos = xp.arange(longest)[None, :] + xp.asarray(starts, dtypes.int64)[:, None]
        present = pos < xp.asarray(ends, dtypes.int64)[:, None]
        pos = xp.where(present, pos, 0) if n else xp.zeros(pos.shape, dtypes.int64)
        gather = Tensor._make(pos, backend)
        index = Tensor._make(input.array[pos] if n else xp.zeros(pos.shape, input.dtype), backend)
        psw = per_sample_weights[gather] if per_sample_weights is not None and n else per_sample_weights
        if psw is not None and not n:
            psw = Tensor._make(xp.zeros(pos.shape, per_sample_weights.dtype), backend)
    else:
        raise ValueError(f"{op}: input has to be 1-D or 2-D, got shape {tuple(input.shape)}")
    if max_norm is not None:
        _renorm_(weight, input, max_norm, norm_type)
    if padding_idx is not None:
        present = present & (index.array != padding_idx)
    if scale_grad_by_freq and input.ndim == 1:  # counted over the real entries (not the layout's fillers)
        rows = Embedding.apply(weight, input, padding_idx=None, scale_grad_by_freq=True)[gather]
    else:
        rows = Embedding.apply(weight, index, padding_idx=None, scale_grad_by_freq=bool(scale_grad_by_freq))
    keep = Tensor._make(present[..., None], backend)
    if mode == "max":
        minus_inf = Tensor._make(xp.asarray(-math.inf, weight.dtype), backend)
        top = amax(where(keep, rows, minus_inf), dim=1)
        count = Tensor._make(present.sum(axis=1)[:, None] > 0, backend)
        return where(count, top, Tensor._make(xp.zeros((), weight.dtype), backend))
    weights = Tensor._make(present[..., None].astype(weight.dtype), backend)
    if psw is not None:
        weights = weights * psw.unsqueeze(-1)
    total = reduce_sum(rows * weights, dim=1)
    if mode == "sum":
        return total
    count = xp.maximum(present.sum(axis=1), 1).astype(weight.dtype)[:, None]
    return total / Tensor._make(count, backend)


def one_hot(tensor, num_classes=-1):
    """(..., num_classes) int64 with a one at each value of ``tensor`` (int64); num_classes=-1: max + 1."""
    op = "one_hot"
    if not isinstance(tensor, Tensor) or tensor.dtype != dtypes.int64:
        got = tensor.dtype if isinstance(tensor, Tensor) else type(tensor).__name__
        raise RuntimeError(f"{op}: one_hot is only applicable to index tensors of type int64, got {got}; convert "
                           f"with .long()")
    xp, a = tensor._backend.xp, tensor.array
    if num_classes == -1:
        if a.size == 0:
            raise RuntimeError(f"{op}: can not infer total number of classes from empty tensor; pass num_classes")
        num_classes = int(a.max()) + 1
    if a.size and tensor.device.type == "cpu":
        if int(a.min()) < 0:
            raise RuntimeError(f"{op}: class values must be non-negative, got a minimum of {int(a.min())}")
        if int(a.max()) >= num_classes:
            raise RuntimeError(f"{op}: class values must be smaller than num_classes ({num_classes}), got "
                               f"{int(a.max())}")
    out = (a[..., None] == xp.arange(num_classes)).astype(dtypes.int64)
    return Tensor._make(out, tensor._backend)
