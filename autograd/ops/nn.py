"""Neural-network ops: linear, softmax, log_softmax, cross_entropy, mse_loss."""

import math

from .. import dtypes
from ..function import Op, same_dtype
from ..keywords import numpy_keywords
from ..tensor import Tensor
from ._dims import normalize_dim
from .reduction import max_or_zero


class Linear(Op):
    """x @ weight.T + bias in one node (PyTorch's addmm); the engine sums the bias gradient."""
    def forward(ctx, x, weight, bias=None):
        need_x, need_w = ctx.needs_input_grad[:2]
        ctx.save_for_backward(x if need_w else None, weight if need_x else None)
        out = same_dtype(ctx.xp.matmul(x, weight.T), x)
        if bias is not None:
            out += bias
        return out
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[:2]
        gx = grad @ weight if need_x else None
        gw = None
        if need_w:  # rows counted, not -1: with no features (nn.Linear(0, n)) -1 is ambiguous
            rows = math.prod(grad.shape[:-1])
            gw = grad.reshape(rows, grad.shape[-1]).T @ x.reshape(rows, x.shape[-1])
        return gx, gw, grad


class Softmax(Op):
    def forward(ctx, x, dim):
        e = ctx.xp.exp(x - max_or_zero(x, dim))
        out = e / e.sum(axis=dim, keepdims=True)
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return out * (grad - (grad * out).sum(ctx.dim, keepdim=True))


class LogSoftmax(Op):
    def forward(ctx, x, dim):
        shifted = x - max_or_zero(x, dim)
        out = shifted - ctx.xp.log(ctx.xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad - out.exp() * grad.sum(ctx.dim, keepdim=True)


class CrossEntropy(Op):
    """-log_softmax(logits)[target] for class-index targets, reduced by mean, sum or none."""
    def forward(ctx, logits, target, reduction, ignore_index):
        xp = ctx.xp
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
        valid = target != ignore_index
        safe_target = xp.where(valid, target, 0)
        losses = -xp.take_along_axis(log_probs, safe_target[..., None], axis=-1)[..., 0] * valid
        ctx.reduction = reduction
        ctx.save_for_backward(logits, safe_target, valid)
        if reduction == "none":
            return losses
        total = losses.sum()
        return total / valid.sum().astype(total.dtype) if reduction == "mean" else total
    def backward(ctx, grad):
        logits, target, valid = ctx.saved_tensors
        weight = valid.to(logits.dtype) * grad  # d loss_i / d logits_i = softmax_i - onehot_i
        if ctx.reduction == "mean":
            weight = weight / valid.sum().to(logits.dtype).clamp(min=1)  # all ignored: zero grad, as PyTorch
        onehot = OneHot.apply(target, num_classes=logits.shape[-1], dtype=logits.dtype)
        return (logits.softmax(-1) - onehot) * weight.unsqueeze(-1), None


class OneHot(Op):
    differentiable = False
    def forward(ctx, index, num_classes, dtype):
        return (index[..., None] == ctx.xp.arange(num_classes)).astype(dtype)


def linear(x, weight, bias=None):
    if x.ndim == 0 or weight.ndim == 0:
        raise RuntimeError(f"linear: both arguments to linear need to be at least 1D, but they are {x.ndim}D and "
                           f"{weight.ndim}D (input shape {tuple(x.shape)}, weight shape {tuple(weight.shape)}); give "
                           f"the input a feature dim, e.g. x.reshape(1) or x.reshape(batch, in_features)")
    if x.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"linear: input of shape {tuple(x.shape)} has {x.shape[-1]} features but the weight of "
                           f"shape {tuple(weight.shape)} expects {weight.shape[-1]} (weight is out_features x "
                           f"in_features)")
    if x.dtype != weight.dtype:
        raise RuntimeError(f"linear: input dtype {x.dtype} does not match weight dtype {weight.dtype}; convert the "
                           f"input (x.to({weight.dtype})) or the module (.to(dtype))")
    return Linear.apply(x, weight, bias)


@numpy_keywords
def softmax(x, dim):
    dim = normalize_dim("softmax", dim, x.shape)
    return Softmax.apply(x if dtypes.is_floating(x.dtype) else x.float(), dim=dim if x.ndim else None)


@numpy_keywords
def log_softmax(x, dim):
    dim = normalize_dim("log_softmax", dim, x.shape)
    return LogSoftmax.apply(x if dtypes.is_floating(x.dtype) else x.float(), dim=dim if x.ndim else None)


def cross_entropy(logits, target, reduction="mean", ignore_index=-100):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not isinstance(target, Tensor) or target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must be a tensor of class indices (int64), got "
                        f"{target.dtype if isinstance(target, Tensor) else type(target).__name__}; "
                        f"probability targets are not supported yet")
    if logits.ndim not in (1, 2) or tuple(target.shape) != tuple(logits.shape[:-1]):
        raise RuntimeError(f"cross_entropy: expected logits of shape (N, C) with target (N,), or (C,) with a 0-d "
                           f"target; got logits {tuple(logits.shape)} and target {tuple(target.shape)}")
    classes = logits.shape[-1]
    bad = ((target < 0) | (target >= classes)) & (target != ignore_index)
    if bad.any().item():  # one host sync; a wrong class index must not pass silently
        first = target.array[bad.array].ravel()[:5].tolist()
        raise IndexError(f"cross_entropy: target values must be class indices in [0, {classes - 1}] "
                         f"(logits shape {tuple(logits.shape)}), found {first}")
    return CrossEntropy.apply(logits, target, reduction=reduction, ignore_index=ignore_index)


def mse_loss(input, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if tuple(input.shape) != tuple(getattr(target, "shape", input.shape)):
        raise RuntimeError(f"mse_loss: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} "
                           f"differ; they must match (PyTorch would broadcast with a warning)")
    squared = (input - target) ** 2
    return squared.mean() if reduction == "mean" else squared.sum() if reduction == "sum" else squared
