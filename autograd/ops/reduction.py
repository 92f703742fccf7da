"""Reductions over all elements or along ``dim`` (an int or a tuple), with ``keepdim``."""

import collections
import math

from .. import dtypes
from ..function import Op, linear_jvp
from ..tensor import Tensor
from ._dims import normalize_dims
from .shape import Expand
from ..keywords import numpy_keywords

MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])


def all_if_empty(dim):
    """An empty list of dims reduces over all of them, as in PyTorch (sum(x, dim=[]) is x.sum())."""
    return None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim


def kept_shape(shape, dims):
    """``shape`` with the reduced ``dims`` set to 1 (what keepdim=True gives)."""
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def spread(grad, shape, dims):
    """A reduction's gradient broadcast back over the reduced ``dims`` of ``shape``."""
    if grad.ndim and grad.ndim != len(shape):  # reduced without keepdim: put the dims back
        grad = grad.reshape(kept_shape(shape, dims))
    # straight to the op: the shapes agree by construction, so expand()'s argument checks have nothing to find
    return Expand.apply(grad, shape=tuple(shape)) if grad.array.shape != tuple(shape) else grad


class Sum(Op):
    def forward(ctx, x, dims, keepdim, dtype=None):
        ctx.shape, ctx.dims = x.shape, dims
        out_dtype = dtype or x.dtype
        if dtypes.is_low_precision(out_dtype):  # PyTorch adds float16/bfloat16 up in float32 and rounds once
            return x.sum(axis=dims, keepdims=keepdim, dtype=dtypes.float32).astype(out_dtype)
        return x.sum(axis=dims, keepdims=keepdim, dtype=dtype)
    def backward(ctx, grad):
        return spread(grad, ctx.shape, ctx.dims)
    jvp = linear_jvp


class Mean(Op):
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims = x.shape, dims
        ctx.count = 1
        for d in dims:
            ctx.count *= x.shape[d]
        # float16/bfloat16 add up in float32 (a float16 sum overflows past 65504); over nothing the
        # mean is 0/0 = nan, as in PyTorch, without NumPy's "mean of empty slice" warning
        accumulator = dtypes.float32 if dtypes.is_low_precision(x.dtype) else None
        total = x.sum(axis=dims, keepdims=keepdim, dtype=accumulator)
        return (total / ctx.count).astype(x.dtype, copy=False)
    def backward(ctx, grad):
        return spread(grad, ctx.shape, ctx.dims) / ctx.count
    jvp = linear_jvp


class Amax(Op):
    """Largest value; the gradient is shared evenly between tied maxima (as PyTorch's amax)."""
    def forward(ctx, x, dims, keepdim):
        out = x.max(axis=dims, keepdims=keepdim)
        ctx.dims = dims
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        return _spread_to_extremes(ctx, grad)
    def jvp(ctx, tangent):
        return _mean_at_extremes(ctx, tangent)


class Amin(Op):
    def forward(ctx, x, dims, keepdim):
        out = x.min(axis=dims, keepdims=keepdim)
        ctx.dims = dims
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        return _spread_to_extremes(ctx, grad)
    def jvp(ctx, tangent):
        return _mean_at_extremes(ctx, tangent)


def _spread_to_extremes(ctx, grad):
    x, out = ctx.saved_tensors
    shape = kept_shape(x.shape, ctx.dims)
    hits = (x == out.reshape(shape)).to(grad.dtype)
    return hits * (grad.reshape(shape) / hits.sum(ctx.dims, keepdim=True))


def _mean_at_extremes(ctx, tangent):
    """amax/amin's tangent: the mean of the tangent over the tied extremes (the same even split as the gradient)."""
    (x,), dims, keepdim = ctx.inputs, ctx.attrs["dims"], ctx.attrs["keepdim"]
    hits = (x == ctx.output.reshape(kept_shape(x.shape, dims))).to(tangent.dtype)
    return Sum.apply(hits * tangent, dims, keepdim) / Sum.apply(hits, dims, keepdim)


class TakeAlongDim(Op):
    """values[i] = x[..., index[i], ...] along ``dim``; ``index`` is an int64 tensor. With ``repeats`` the
    indices may repeat (cummax, quantile) and the gradient adds up; without, it is put back in one pass."""
    def forward(ctx, x, index, dim, repeats=False):
        ctx.shape, ctx.dim, ctx.repeats = x.shape, dim, repeats
        ctx.save_for_backward(index)
        return ctx.xp.take_along_axis(x, index, axis=dim)
    def backward(ctx, grad):
        index, = ctx.saved_tensors
        back = AddAlongDim if ctx.repeats else PutAlongDim
        return back.apply(grad, index, shape=ctx.shape, dim=ctx.dim), None
    jvp = linear_jvp


class PutAlongDim(Op):
    """Zeros of ``shape`` with ``values`` put at ``index`` along ``dim`` (indices must not repeat)."""
    def forward(ctx, values, index, shape, dim):
        ctx.dim = dim
        ctx.save_for_backward(index)
        out = ctx.xp.zeros(shape, dtype=values.dtype)
        ctx.xp.put_along_axis(out, index, values, axis=dim)
        return out
    def backward(ctx, grad):
        index, = ctx.saved_tensors
        return TakeAlongDim.apply(grad, index, dim=ctx.dim), None
    jvp = linear_jvp


class AddAlongDim(Op):
    """Zeros of ``shape`` with ``values`` added at ``index`` along ``dim``; repeated indices add up."""
    def forward(ctx, values, index, shape, dim):
        xp = ctx.xp
        ctx.dim = dim
        ctx.save_for_backward(index)
        n = shape[dim]
        index, values = xp.moveaxis(index, dim, -1), xp.moveaxis(values, dim, -1)
        rows = index.shape[:-1]
        flat = (index + xp.arange(math.prod(rows)).reshape(rows + (1,)) * n).reshape(-1)
        out = xp.zeros(math.prod(rows) * n, dtype=dtypes.float32 if dtypes.is_low_precision(values.dtype)
                       else values.dtype)  # CuPy's add.at has no float16/bfloat16 loop on every build
        xp.add.at(out, flat, values.reshape(-1).astype(out.dtype, copy=False))
        return xp.moveaxis(out.reshape(rows + (n,)), -1, dim).astype(values.dtype)
    def backward(ctx, grad):
        index, = ctx.saved_tensors
        return TakeAlongDim.apply(grad, index, dim=ctx.dim, repeats=True), None
    jvp = linear_jvp

class Logsumexp(Op):
    def forward(ctx, x, dims, keepdim):
        xp = ctx.xp
        m = max_or_zero(x, dims)
        m = xp.where(xp.isfinite(m), m, 0)  # rows of -inf stay -inf instead of nan
        out = xp.log(xp.exp(x - m).sum(axis=dims, keepdims=True)) + m
        ctx.dims = dims
        if not keepdim:
            out = out.squeeze(dims)
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        shape = kept_shape(x.shape, ctx.dims)
        return grad.reshape(shape) * (x - out.reshape(shape)).exp()
    def jvp(ctx, tangent):  # the softmax-weighted sum of the tangent
        x, dims = ctx.inputs[0], ctx.attrs["dims"]
        shape = kept_shape(x.shape, dims)
        return Sum.apply(tangent * (x - ctx.output.reshape(shape)).exp(), dims, ctx.attrs["keepdim"])


def max_or_zero(x, axis):
    """The max to subtract before exp (softmax, logsumexp); zeros for an empty ``x``, where NumPy has no
    max and nothing needs shifting (PyTorch gives an empty softmax and a logsumexp of -inf)."""
    return x.max(axis=axis, keepdims=True) if x.size else x.sum(axis=axis, keepdims=True)


@numpy_keywords
def sum(x, dim=None, keepdim=False, dtype=None):
    dims = normalize_dims("sum", all_if_empty(dim), x.shape)
    dtype = dtypes.to_dtype(dtype)
    if dtype is None and not dtypes.is_floating(x.dtype):
        dtype = dtypes.int64  # PyTorch sums integers and bools into int64
    return Sum.apply(x, dims=dims, keepdim=keepdim, dtype=dtype)


@numpy_keywords
def mean(x, dim=None, keepdim=False):
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"mean: input dtype should be floating point, got {x.dtype}; call .float() first")
    return Mean.apply(x, dims=normalize_dims("mean", all_if_empty(dim), x.shape), keepdim=keepdim)


@numpy_keywords
def amax(x, dim=None, keepdim=False):
    dims = _reducible("amax", x, all_if_empty(dim))
    return Amax.apply(x, dims=dims, keepdim=keepdim)


@numpy_keywords
def amin(x, dim=None, keepdim=False):
    dims = _reducible("amin", x, all_if_empty(dim))
    return Amin.apply(x, dims=dims, keepdim=keepdim)


@numpy_keywords
def max(x, dim=None, keepdim=False):
    """Without dim: the largest element. With dim: (values, indices), as ``torch.max``."""
    if dim is None:
        _reducible("max", x, None)
        return amax(x)
    if isinstance(dim, Tensor):  # torch.max(a, b) is the elementwise maximum
        from .arithmetic import maximum
        return maximum(x, dim)
    return _extreme_along(x, dim, keepdim, "argmax", MaxResult)


@numpy_keywords
def min(x, dim=None, keepdim=False):
    if dim is None:
        _reducible("min", x, None)
        return amin(x)
    if isinstance(dim, Tensor):
        from .arithmetic import minimum
        return minimum(x, dim)
    return _extreme_along(x, dim, keepdim, "argmin", MinResult)


def _extreme_along(x, dim, keepdim, arg_fn, result):
    (d,) = _reducible(arg_fn[3:], x, (dim,)) or (None,)  # a 0-d tensor: nothing to reduce
    if d is None:
        return result(x, argmax(x))
    indices = _arg(arg_fn, x, d, keepdim=True)
    values = TakeAlongDim.apply(x, indices, dim=d)
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return result(values, indices)


@numpy_keywords
def argmax(x, dim=None, keepdim=False):
    return _arg("argmax", x, dim, keepdim)


@numpy_keywords
def argmin(x, dim=None, keepdim=False):
    return _arg("argmin", x, dim, keepdim)


def _arg(fn, x, dim, keepdim):
    from .arithmetic import NonDifferentiable
    if dim is None and keepdim:
        raise ValueError(f"{fn}: keepdim=True needs a dim")
    dims = _reducible(fn, x, None if dim is None else (dim,))
    if dim is None or not dims:  # over all elements, or along the one "dim" of a 0-d tensor
        return NonDifferentiable.apply(x, fn=fn)
    return NonDifferentiable.apply(x, fn=fn, axis=dims[0], keepdims=keepdim)


def _reducible(op, x, dim):
    """The normalised dims of a reduction that has no value over nothing (max, argmax...):
    like PyTorch, it refuses a reduced dim of size 0, and an empty tensor without a dim."""
    dims = normalize_dims(op, dim, x.shape)
    if x.numel() != 0:
        return dims
    if dim is None:
        error = IndexError if op.startswith("arg") else RuntimeError  # PyTorch's types
        raise error(f"{op}: Expected reduction dim to be specified for input.numel() == 0 (shape "
                    f"{tuple(x.shape)}); pass a dim whose size is not 0")
    for d in dims:
        if x.shape[d] == 0:
            raise IndexError(f"{op}: Expected reduction dim {d} to have non-zero size (shape {tuple(x.shape)}): "
                             f"there is no {op} of nothing; reduce over a dim whose size is not 0")
    return dims


@numpy_keywords
def any(x, dim=None, keepdim=False):
    from .arithmetic import NonDifferentiable
    return NonDifferentiable.apply(x, fn="any", axis=normalize_dims("any", dim, x.shape), keepdims=keepdim)


@numpy_keywords
def all(x, dim=None, keepdim=False):
    from .arithmetic import NonDifferentiable
    return NonDifferentiable.apply(x, fn="all", axis=normalize_dims("all", dim, x.shape), keepdims=keepdim)


@numpy_keywords
def logsumexp(x, dim, keepdim=False):
    if not dtypes.is_floating(x.dtype):
        x = x.float()
    return Logsumexp.apply(x, dims=normalize_dims("logsumexp", dim, x.shape), keepdim=keepdim)

