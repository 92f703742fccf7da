"""Neural-network ops: linear, softmax, log_softmax (the losses are in loss.py)."""

import math

from .. import dtypes
from ..function import Op, autocast_entry, same_dtype, sum_terms
from ..keywords import numpy_keywords
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
        if need_w and grad.ndim == 2:  # the usual (batch, features): no reshapes, two ops fewer per layer
            gw = grad.T @ x
        elif need_w:  # rows counted, not -1: with no features (nn.Linear(0, n)) -1 is ambiguous
            rows = math.prod(grad.shape[:-1])
            gw = grad.reshape(rows, grad.shape[-1]).T @ x.reshape(rows, x.shape[-1])
        return gx, gw, grad
    def jvp(ctx, tangent_x, tangent_w, tangent_b):  # the product rule, and the bias's tangent added
        x, weight = ctx.inputs[:2]
        terms = [Linear.apply(tangent_x, weight) if tangent_x is not None else None,
                 Linear.apply(x, tangent_w) if tangent_w is not None else None, tangent_b]
        return sum_terms(terms, ctx.output)


def _shifted(xp, x, dim):
    """x - max(x) along dim in a new buffer of x's dtype (out=: a 0-d input gives a 0-d array, not a scalar)."""
    return xp.subtract(x, max_or_zero(x, dim), out=xp.empty_like(x))


class Softmax(Op):
    def forward(ctx, x, dim):
        out = _shifted(ctx.xp, x, dim)  # exp and the division in place: one buffer, no temporaries
        ctx.xp.exp(out, out=out)
        out /= out.sum(axis=dim, keepdims=True)
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return SoftmaxBackward.apply(grad, out, dim=ctx.dim)
    def jvp(ctx, tangent):  # softmax's Jacobian is symmetric: the same formula as backward
        return SoftmaxBackward.apply(tangent, ctx.output, dim=ctx.attrs["dim"])


class SoftmaxBackward(Op):
    """out * (grad - sum(grad * out)) over dim: softmax's backward as an op of its own, so backends can fuse it."""
    def forward(ctx, grad, out, dim):
        ctx.dim = dim
        ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, out)
        # grad * out, then grad - its sum written over it, then times out: one buffer
        result = ctx.xp.multiply(grad, out, out=ctx.xp.empty_like(out, dtype=ctx.xp.result_type(grad, out)))
        ctx.xp.subtract(grad, result.sum(axis=dim, keepdims=True), out=result)
        result *= out
        return result
    def backward(ctx, grad_grad):
        grad, out = ctx.saved_tensors
        gg = SoftmaxBackward.apply(grad_grad, out, dim=ctx.dim) if ctx.needs_input_grad[0] else None
        if not ctx.needs_input_grad[1]:
            return gg, None
        s = (grad * out).sum(ctx.dim, keepdim=True)
        return gg, grad_grad * (grad - s) - grad * (grad_grad * out).sum(ctx.dim, keepdim=True)


class LogSoftmax(Op):
    def forward(ctx, x, dim):
        out = _shifted(ctx.xp, x, dim)  # the log-sum-exp subtracted in place: exp's buffer is the one temporary
        out -= ctx.xp.log(ctx.xp.exp(out).sum(axis=dim, keepdims=True))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return LogSoftmaxBackward.apply(grad, out, dim=ctx.dim)
    def jvp(ctx, tangent):  # t - sum(softmax * t) over dim
        dim = ctx.attrs["dim"]
        if dim is None:  # a 0-d input: log_softmax is 0 everywhere
            return tangent * 0
        return tangent - (tangent * ctx.output.exp()).sum(dim, keepdim=True)


class LogSoftmaxBackward(Op):
    """grad - exp(out) * sum(grad) over dim: log_softmax's backward as an op of its own, so backends can fuse it."""
    def forward(ctx, grad, out, dim):
        ctx.dim = dim
        ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, out)
        result = ctx.xp.exp(out, out=ctx.xp.empty_like(out, dtype=ctx.xp.result_type(grad, out)))  # one buffer
        result *= grad.sum(axis=dim, keepdims=True)
        return ctx.xp.subtract(grad, result, out=result)
    def backward(ctx, grad_grad):
        grad, out = ctx.saved_tensors
        e = out.exp()
        gg = grad_grad - (grad_grad * e).sum(ctx.dim, keepdim=True) if ctx.needs_input_grad[0] else None
        return gg, (-grad_grad * e * grad.sum(ctx.dim, keepdim=True) if ctx.needs_input_grad[1] else None)


@autocast_entry
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
