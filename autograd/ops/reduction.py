"""Reductions over all elements or along ``dim`` (an int or a tuple), with ``keepdim``."""

import builtins
import collections

from .. import dtypes
from ..function import Op
from ..keywords import numpy_keywords

MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])


def normalize_dims(op, dim, ndim):
    """``dim`` as a sorted tuple of non-negative axes (None: all of them)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if ndim == 0:  # a 0-d tensor accepts dim 0 or -1, and nothing is reduced
        return normalize_dims(op, dims, 1) and ()
    result = []
    for d in dims:
        size = builtins.max(ndim, 1)
        if not -size <= d < size:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dims "
                             f"(expected a value in [{-size}, {size - 1}])")
        result.append(d % ndim if ndim else 0)
    return tuple(sorted(set(result)))


def kept_shape(shape, dims):
    """``shape`` with the reduced ``dims`` set to 1 (what keepdim=True gives)."""
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def spread(grad, shape, dims):
    """A reduction's gradient broadcast back over the reduced ``dims`` of ``shape``."""
    if grad.ndim and grad.ndim != len(shape):  # reduced without keepdim: put the dims back
        grad = grad.reshape(kept_shape(shape, dims))
    return grad.expand(shape)


class Sum(Op):
    def forward(ctx, x, dims, keepdim, dtype=None):
        ctx.shape, ctx.dims = x.shape, dims
        return x.sum(axis=dims, keepdims=keepdim, dtype=dtype)
    def backward(ctx, grad):
        return spread(grad, ctx.shape, ctx.dims)


class Mean(Op):
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims = x.shape, dims
        ctx.count = 1
        for d in dims:
            ctx.count *= x.shape[d]
        return x.mean(axis=dims, keepdims=keepdim)
    def backward(ctx, grad):
        return spread(grad, ctx.shape, ctx.dims) / ctx.count


class Amax(Op):
    """Largest value; the gradient is shared evenly between tied maxima (as PyTorch's amax)."""
    def forward(ctx, x, dims, keepdim):
        out = x.max(axis=dims, keepdims=keepdim)
        ctx.dims = dims
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        return _spread_to_extremes(ctx, grad)


class Amin(Op):
    def forward(ctx, x, dims, keepdim):
        out = x.min(axis=dims, keepdims=keepdim)
        ctx.dims = dims
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        return _spread_to_extremes(ctx, grad)


def _spread_to_extremes(ctx, grad):
    x, out = ctx.saved_tensors
    shape = kept_shape(x.shape, ctx.dims)
    hits = (x == out.reshape(shape)).to(grad.dtype)
    return hits * (grad.reshape(shape) / hits.sum(ctx.dims, keepdim=True))


class TakeAlongDim(Op):
    """values[i] = x[..., index[i], ...] along ``dim``; ``index`` is an int64 tensor."""
    def forward(ctx, x, index, dim):
        ctx.shape, ctx.dim = x.shape, dim
        ctx.save_for_backward(index)
        return ctx.xp.take_along_axis(x, index, axis=dim)
    def backward(ctx, grad):
        index, = ctx.saved_tensors
        return PutAlongDim.apply(grad, index, shape=ctx.shape, dim=ctx.dim), None


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


class Logsumexp(Op):
    def forward(ctx, x, dims, keepdim):
        xp = ctx.xp
        m = x.max(axis=dims, keepdims=True)
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


@numpy_keywords
def sum(x, dim=None, keepdim=False, dtype=None):
    dims = normalize_dims("sum", dim, x.ndim)
    dtype = dtypes.to_dtype(dtype)
    if dtype is None and not dtypes.is_floating(x.dtype):
        dtype = dtypes.int64  # PyTorch sums integers and bools into int64
    return Sum.apply(x, dims=dims, keepdim=keepdim, dtype=dtype)


@numpy_keywords
def mean(x, dim=None, keepdim=False):
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"mean: input dtype should be floating point, got {x.dtype}; call .float() first")
    return Mean.apply(x, dims=normalize_dims("mean", dim, x.ndim), keepdim=keepdim)


@numpy_keywords
def amax(x, dim=None, keepdim=False):
    _check_nonempty("amax", x)
    return Amax.apply(x, dims=normalize_dims("amax", dim, x.ndim), keepdim=keepdim)


@numpy_keywords
def amin(x, dim=None, keepdim=False):
    _check_nonempty("amin", x)
    return Amin.apply(x, dims=normalize_dims("amin", dim, x.ndim), keepdim=keepdim)


@numpy_keywords
def max(x, dim=None, keepdim=False):
    """Without dim: the largest element. With dim: (values, indices), as ``torch.max``."""
    if dim is None:
        return amax(x)
    if not isinstance(dim, int):  # torch.max(a, b) is the elementwise maximum
        from .arithmetic import maximum
        return maximum(x, dim)
    return _extreme_along(x, dim, keepdim, "argmax", MaxResult)


@numpy_keywords
def min(x, dim=None, keepdim=False):
    if dim is None:
        return amin(x)
    if not isinstance(dim, int):
        from .arithmetic import minimum
        return minimum(x, dim)
    return _extreme_along(x, dim, keepdim, "argmin", MinResult)


def _extreme_along(x, dim, keepdim, arg_fn, result):
    _check_nonempty(arg_fn[3:], x)
    dims = normalize_dims(arg_fn[3:], dim, x.ndim)  # checks dim; () for a 0-d tensor
    if x.ndim == 0:
        return result(x, argmax(x))
    (d,) = dims
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
    _check_nonempty(fn, x)
    if dim is not None:
        (dim,) = normalize_dims(fn, dim, x.ndim) or (None,)  # a 0-d tensor: its one element
        if dim is None:
            return NonDifferentiable.apply(x.reshape(1), fn=fn, axis=0).reshape(())
    elif keepdim:
        raise ValueError(f"{fn}: keepdim=True needs a dim")
    return NonDifferentiable.apply(x, fn=fn, axis=dim, keepdims=keepdim) if dim is not None else \
        NonDifferentiable.apply(x, fn=fn)


@numpy_keywords
def any(x, dim=None, keepdim=False):
    from .arithmetic import NonDifferentiable
    return NonDifferentiable.apply(x, fn="any", axis=normalize_dims("any", dim, x.ndim), keepdims=keepdim)


@numpy_keywords
def all(x, dim=None, keepdim=False):
    from .arithmetic import NonDifferentiable
    return NonDifferentiable.apply(x, fn="all", axis=normalize_dims("all", dim, x.ndim), keepdims=keepdim)


@numpy_keywords
def logsumexp(x, dim, keepdim=False):
    if not dtypes.is_floating(x.dtype):
        x = x.float()
    return Logsumexp.apply(x, dims=normalize_dims("logsumexp", dim, x.ndim), keepdim=keepdim)


def _check_nonempty(op, x):
    if x.numel() == 0:
        raise RuntimeError(f"{op}: expected a non-empty tensor, got shape {tuple(x.shape)}")
