"""Reductions beyond sum/mean/max, scans, sorting and selection.

Sorting-based ops (sort, topk, kthvalue, median, quantile) find indices with one non-differentiable
kernel and take their values with ``TakeAlongDim``, so the gradient flows back to the picked elements.
Scans without a ``ufunc.accumulate`` on CuPy (cummax, logcumsumexp) are Hillis-Steele scans: log2(n)
steps of whole-array ops, the same on every device.
"""

import collections
import math

import numpy as np

from .. import dtypes
from ..function import Op, linear_jvp
from ..grad_mode import is_grad_enabled
from ..keywords import numpy_keywords
from ..tensor import Tensor
from ._dims import normalize_dim, normalize_dims
from . import reduction
from .arithmetic import where
from .reduction import Mean, TakeAlongDim, _reducible, all_if_empty, amax, amin, kept_shape, spread

__all__ = ["prod", "var", "std", "var_mean", "std_mean", "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp",
           "sort", "argsort", "msort", "topk", "kthvalue", "median", "nanmedian", "mode", "quantile", "nanquantile",
           "nansum", "nanmean", "count_nonzero", "aminmax", "unique", "unique_consecutive", "bincount", "histc",
           "searchsorted", "bucketize"]
METHODS = ("prod", "var", "std", "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "argsort", "msort",
           "topk", "kthvalue", "median", "nanmedian", "mode", "quantile", "nanquantile", "nansum", "nanmean",
           "count_nonzero", "aminmax", "unique", "unique_consecutive", "bincount", "histc", "cumsum_", "cumprod_")

# PyTorch's torch.return_types: named tuples with these type and field names
SortResult = collections.namedtuple("sort", ["values", "indices"])
TopkResult = collections.namedtuple("topk", ["values", "indices"])
KthvalueResult = collections.namedtuple("kthvalue", ["values", "indices"])
MedianResult = collections.namedtuple("median", ["values", "indices"])
NanmedianResult = collections.namedtuple("nanmedian", ["values", "indices"])
ModeResult = collections.namedtuple("mode", ["values", "indices"])
CummaxResult = collections.namedtuple("cummax", ["values", "indices"])
CumminResult = collections.namedtuple("cummin", ["values", "indices"])
AminmaxResult = collections.namedtuple("aminmax", ["min", "max"])


def _count(shape, dims):
    return math.prod(shape[d] for d in dims)


def _accumulator(dtype):
    """float16/bfloat16 add and multiply up in float32, as PyTorch does, and round once."""
    return dtypes.float32 if dtypes.is_low_precision(dtype) else dtype


# --- products ------------------------------------------------------------------------------------

class Prod(Op):
    def forward(ctx, x, dims, keepdim):
        ctx.dims = dims
        out = ctx.xp.asarray(x.prod(axis=dims, keepdims=keepdim, dtype=_accumulator(x.dtype)), dtype=x.dtype)
        ctx.save_for_backward(x, out)  # (asarray: NumPy's full reductions give scalars, and out must be the output)
        return out
    def backward(ctx, grad):
        # the product of the other elements: out / x, except at a zero of x, where it is the product of the
        # rest if that zero is the only one (else 0); no division by zero, so PyTorch's gradients at zeros
        x, out = ctx.saved_tensors
        dims = ctx.dims
        zero = x == 0
        only_zero = (zero.sum(dims, keepdim=True) == 1).to(x.dtype)
        rest = Prod.apply(where(zero, 1.0, x), dims=dims, keepdim=True) * only_zero
        others = where(zero, rest, spread(out, x.shape, dims) / where(zero, 1.0, x))
        return spread(grad, x.shape, dims) * others


class Cumsum(Op):
    """Running sums along ``dim``; ``reverse`` sums from the end (the gradient of a cumsum)."""
    def forward(ctx, x, dim, reverse=False):
        ctx.dim, ctx.reverse = dim, reverse
        xp = ctx.xp
        if reverse:
            x = xp.flip(x, axis=dim)
        out = xp.cumsum(x, axis=dim, dtype=_accumulator(x.dtype)).astype(x.dtype, copy=False)
        return xp.flip(out, axis=dim) if reverse else out
    def backward(ctx, grad):
        return Cumsum.apply(grad, dim=ctx.dim, reverse=not ctx.reverse)
    jvp = linear_jvp


class Cumprod(Op):
    def forward(ctx, x, dim):
        ctx.dim = dim
        out = ctx.xp.cumprod(x, axis=dim, dtype=_accumulator(x.dtype)).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        d = ctx.dim
        if is_grad_enabled():  # the gradient will be differentiated: the n x n form, right also at zeros
            return _cumprod_grad_twice_differentiable(x, grad, d)
        # d out[j] / d x[k] = prod(x[i] for i <= j, i != k). Before the first zero of a row that is out[j] / x[k];
        # at the first zero it is the running product with that zero left out; after it, 0 (PyTorch's rule)
        zero = x == 0
        zeros_so_far = Cumsum.apply(zero.long(), dim=d)
        before, first = zeros_so_far == 0, zero & (zeros_so_far == 1)
        from_before = Cumsum.apply(grad * out, dim=d, reverse=True) / where(before, x, 1.0)
        skipping_it = Cumprod.apply(where(first, 1.0, x), dim=d)
        at_first = Cumsum.apply(grad * skipping_it, dim=d, reverse=True)
        return where(before, from_before, where(first, at_first, 0.0))


def _cumprod_grad_twice_differentiable(x, grad, dim):
    """grad_x[k] = sum over j >= k of grad[j] * prod(x[i] for i <= j, i != k), from the running products
    of each row with its element k set to 1 (n x n per row: only when the gradient is differentiated again)."""
    from ..tensor import arange
    x, grad = x.transpose(dim, -1), grad.transpose(dim, -1)
    n = x.shape[-1]
    k = arange(n, device=x.device)
    diagonal, later = k.unsqueeze(1) == k, k.unsqueeze(1) <= k  # [k, j]: j == k, j >= k
    rows = where(diagonal, 1.0, x.unsqueeze(-2).expand(*x.shape[:-1], n, n))
    products = where(later, Cumprod.apply(rows, dim=x.ndim), 0.0)
    return (grad.unsqueeze(-2) * products).sum(-1).transpose(dim, -1)


def _prefix_scan(xp, arrays, axis, combine):
    """Inclusive scan of a tuple of arrays along ``axis``, ``combine(earlier, later)`` being associative:
    Hillis-Steele, log2(n) whole-array steps (CuPy's ufunc.accumulate only has add and multiply)."""
    n, step = arrays[0].shape[axis], 1
    head = (slice(None),) * axis
    while step < n:
        earlier = tuple(a[head + (slice(None, n - step),)] for a in arrays)
        later = tuple(a[head + (slice(step, None),)] for a in arrays)
        merged = combine(earlier, later)
        arrays = tuple(xp.concatenate([a[head + (slice(None, step),)], m], axis=axis) for a, m in zip(arrays, merged))
        step *= 2
    return arrays


class Logcumsumexp(Op):
    def forward(ctx, x, dim, reverse=False):
        xp = ctx.xp
        ctx.dim, ctx.reverse = dim, reverse
        work = x.astype(_accumulator(x.dtype), copy=False)
        if reverse:
            work = xp.flip(work, axis=dim)
        out, = _prefix_scan(xp, (work,), dim, lambda a, b: (xp.logaddexp(a[0], b[0]),))
        out = (xp.flip(out, axis=dim) if reverse else out).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        # grad_x[k] = sum over later j of grad[j] * exp(x[k] - out[j]), summed in log space for the positive
        # and the negative parts of grad apart (no overflow); the lowest finite number stands for log(0)
        x, out = ctx.saved_tensors
        lowest = float(_finfo(x.dtype).min)
        log_abs = grad.abs().log()
        parts = []
        for sign in (grad > 0, grad < 0):
            log_part = where(sign, log_abs, lowest) - out
            parts.append((Logcumsumexp.apply(log_part, dim=ctx.dim, reverse=not ctx.reverse) + x).exp())
        return parts[0] - parts[1]


def _finfo(dtype):
    if dtypes.bfloat16 is not None and dtype == dtypes.bfloat16:
        import ml_dtypes
        return ml_dtypes.finfo(dtype)
    return np.finfo(dtype)


def _sortable(x):
    """float16/bfloat16 sorted as float32 (exact): ml_dtypes' bfloat16 sort leaves NaN where it was."""
    return x.astype(dtypes.float32) if dtypes.is_low_precision(x.dtype) else x


def _argsort(xp, x, dim, descending):
    """The stable sorting order of ``x`` along ``dim`` (ties keep their order, also descending; NaN last, or first
    when descending: NaN counts as the largest value, as in PyTorch)."""
    if not descending:
        return xp.argsort(x, axis=dim, kind="stable")
    # sorting the reversed row ascending and reading it backwards keeps ties in their order
    order = xp.flip(xp.argsort(xp.flip(x, axis=dim), axis=dim, kind="stable"), axis=dim)
    return (x.shape[dim] - 1) - order


class Argsort(Op):
    """The order that sorts ``x`` along ``dim``, stably."""
    differentiable = False
    def forward(ctx, x, dim, descending):
        return _argsort(ctx.xp, _sortable(x), dim, descending)


class TopkIndex(Op):
    """Where the k largest (or smallest) values along ``dim`` are, in order. A partition finds them in linear
    time and only those k are sorted (a full sort of a long row costs ~30x more); NaN counts as the largest."""
    differentiable = False
    def forward(ctx, x, k, dim, largest):
        xp, x = ctx.xp, _sortable(x)
        n = x.shape[dim]
        if 4 * k >= n:  # most of the row: sorting it all is as cheap
            return xp.take(_argsort(xp, x, dim, largest), xp.arange(k), axis=dim)
        part = xp.argpartition(x, n - k if largest else k - 1, axis=dim)
        chosen = xp.take(part, xp.arange(n - k, n) if largest else xp.arange(k), axis=dim)
        order = _argsort(xp, xp.take_along_axis(x, chosen, axis=dim), dim, largest)
        return xp.take_along_axis(chosen, order, axis=dim)


class CumExtremeIndex(Op):
    """Where the running max (``largest``) or min along ``dim`` was last reached: ties and NaN move the index
    on, as in PyTorch's cummax/cummin."""
    differentiable = False
    def forward(ctx, x, dim, largest):
        xp = ctx.xp
        shape = [1] * x.ndim
        shape[dim] = x.shape[dim]
        index = xp.broadcast_to(xp.arange(x.shape[dim]).reshape(shape), x.shape)
        better = xp.greater_equal if largest else xp.less_equal
        floating = dtypes.is_floating(x.dtype)

        def combine(earlier, later):
            (v0, i0), (v1, i1) = earlier, later
            take_later = better(v1, v0)
            if floating:  # a NaN wins over anything before it, and nothing after it wins over it
                take_later = (take_later & ~xp.isnan(v0)) | xp.isnan(v1)
            return xp.where(take_later, v1, v0), xp.where(take_later, i1, i0)
        return _prefix_scan(xp, (x, index), dim, combine)[1]


class MedianIndex(Op):
    """The index of the median along ``dim`` (kept as a dim of size 1): the lower of the two middle values;
    a row holding NaN has a NaN median (the first NaN), unless ``ignore_nan`` (nanmedian) leaves NaN out."""
    differentiable = False
    def forward(ctx, x, dim, ignore_nan):
        xp, x = ctx.xp, _sortable(x)
        order = xp.argsort(x, axis=dim, kind="stable")  # NaN last, in the order they came
        nans = (x != x).sum(axis=dim, keepdims=True)
        n = x.shape[dim]
        if ignore_nan:
            position = xp.maximum((n - nans - 1) // 2, 0)
        else:
            position = xp.where(nans > 0, n - nans, (n - 1) // 2)
        return xp.take_along_axis(order, position, axis=dim)


class SelectSpread(Op):
    """The element of flat ``x`` at ``index`` (a 0-d result); its gradient is shared evenly between all
    elements equal to it (NaN counting as equal to NaN): PyTorch's rule for median() over all elements."""
    def forward(ctx, x, index):
        out = x.reshape(-1)[index.reshape(-1)].reshape(())
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        hits = ((x == out) | ((x != x) & (out != out))).to(grad.dtype)
        return hits * (grad / hits.sum()), None


class ModeIndex(Op):
    """The index of the most frequent value along ``dim`` (kept as a dim of size 1): among equally frequent
    values the smallest, and of its occurrences the last one (as PyTorch's CPU kernel). The sorted row's
    runs of equal values are found by a max-scan of where they start and a min-scan of where they end."""
    differentiable = False
    def forward(ctx, x, dim):
        xp, x = ctx.xp, _sortable(x)
        order = xp.argsort(x, axis=dim, kind="stable")
        s = xp.take_along_axis(x, order, axis=dim)
        n = s.shape[dim]
        shape = [1] * s.ndim
        shape[dim] = n
        position = xp.broadcast_to(xp.arange(n).reshape(shape), s.shape)
        head = (slice(None),) * dim
        changes = s[head + (slice(1, None),)] != s[head + (slice(None, -1),)]
        edge = xp.ones(s.shape[:dim] + (1,) + s.shape[dim + 1:], dtype=dtypes.bool_)
        starts, ends = xp.concatenate([edge, changes], axis=dim), xp.concatenate([changes, edge], axis=dim)
        start, = _prefix_scan(xp, (xp.where(starts, position, 0),), dim, lambda a, b: (xp.maximum(a[0], b[0]),))
        end, = _prefix_scan(xp, (xp.flip(xp.where(ends, position, n), axis=dim),), dim,
                            lambda a, b: (xp.minimum(a[0], b[0]),))
        end = xp.flip(end, axis=dim)
        best = xp.expand_dims(xp.argmax(end - start, axis=dim), dim)  # the first longest run: the smallest value
        return xp.take_along_axis(order, xp.take_along_axis(end, best, axis=dim), axis=dim)  # its last element


# --- functions -----------------------------------------------------------------------------------

def _floating_only(op, x):
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: not implemented for {x.dtype} inputs (shape {tuple(x.shape)}), as in PyTorch; "
                           f"call .float() first")
    return x


def _no_bool(op, x):
    if x.dtype == dtypes.bool_:
        raise RuntimeError(f"{op}: not implemented for bool inputs (shape {tuple(x.shape)}), as in PyTorch; call "
                           f".long() or .float() first")
    return x


def _cast(x, dtype):
    dtype = dtypes.to_dtype(dtype)
    if dtype is not None:
        return x.to(dtype)
    return x if dtypes.is_floating(x.dtype) else x.to(dtypes.int64)  # integers and bools multiply up in int64


def _along(op, x, dim, fn):
    """Apply ``fn(x, dim)`` along one dim; a 0-d tensor is treated as one element along dim 0."""
    d = normalize_dim(op, dim, x.shape)
    if x.ndim:
        return fn(x, d)
    out = fn(x.reshape(1), 0)
    return tuple(o.reshape(()) for o in out) if isinstance(out, tuple) else out.reshape(())


@numpy_keywords
def prod(x, dim=None, keepdim=False, *, dtype=None):
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"prod: dim must be one int, got {dim!r} (PyTorch's prod reduces one dim or all of them); "
                        f"apply prod once per dim")
    x = _cast(x, dtype)
    return Prod.apply(x, dims=normalize_dims("prod", dim, x.shape), keepdim=keepdim)


@numpy_keywords
def cumsum(x, dim, *, dtype=None):
    return _along("cumsum", _cast(x, dtype), dim, lambda t, d: Cumsum.apply(t, dim=d))


@numpy_keywords
def cumprod(x, dim, *, dtype=None):
    return _along("cumprod", _cast(x, dtype), dim, lambda t, d: Cumprod.apply(t, dim=d))


def cumsum_(x, dim, *, dtype=None):
    from .inplace import apply_inplace
    return apply_inplace(x, lambda t, _: cumsum(t, dim, dtype=dtype), None, "cumsum_")


def cumprod_(x, dim, *, dtype=None):
    from .inplace import apply_inplace
    return apply_inplace(x, lambda t, _: cumprod(t, dim, dtype=dtype), None, "cumprod_")


@numpy_keywords
def logcumsumexp(x, dim):
    return _along("logcumsumexp", _floating_only("logcumsumexp", x), dim, lambda t, d: Logcumsumexp.apply(t, dim=d))


def _cum_extreme(op, x, dim, largest, result):
    def run(t, d):
        index = CumExtremeIndex.apply(t, dim=d, largest=largest)
        return TakeAlongDim.apply(t, index, dim=d, repeats=True), index
    return result(*_along(op, x, dim, run))


@numpy_keywords
def cummax(x, dim):
    return _cum_extreme("cummax", x, dim, True, CummaxResult)


@numpy_keywords
def cummin(x, dim):
    return _cum_extreme("cummin", x, dim, False, CumminResult)


# --- variance and standard deviation ---------------------------------------------------------------

class Var(Op):
    def forward(ctx, x, dims, correction, keepdim):
        ctx.dims = dims
        ctx.divisor = max(0, _count(x.shape, dims) - correction)  # 0 or less: inf or nan, as in PyTorch
        work = x.astype(_accumulator(x.dtype), copy=False)
        deviation = work - work.sum(axis=dims, keepdims=True) / max(_count(x.shape, dims), 1)
        ctx.save_for_backward(x)
        return ctx.xp.asarray((deviation * deviation).sum(axis=dims, keepdims=keepdim) / ctx.divisor, dtype=x.dtype)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return spread(grad, x.shape, ctx.dims) * _deviation(x, ctx.dims) * (2 / ctx.divisor if ctx.divisor
                                                                               else math.inf)
    def jvp(ctx, tangent):  # 2 / divisor * sum((x - mean) * t)
        return _variance_jvp(ctx, tangent) * 2


class Std(Op):
    def forward(ctx, x, dims, correction, keepdim):
        ctx.dims = dims
        ctx.divisor = max(0, _count(x.shape, dims) - correction)
        out = ctx.xp.asarray(ctx.xp.sqrt(Var.forward(ctx, x, dims, correction, keepdim)))
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        # d std = d var / (2 std); where std is 0 the gradient is 0 (PyTorch's choice), not 0/0
        x, out = ctx.saved_tensors
        zero = out == 0
        scaled = where(zero, 0.0, grad / where(zero, 1.0, out))
        return spread(scaled, x.shape, ctx.dims) * _deviation(x, ctx.dims) * (1 / ctx.divisor if ctx.divisor
                                                                               else math.inf)
    def jvp(ctx, tangent):  # d var / (2 std), 0 where std is 0 (as the gradient)
        zero = ctx.output == 0
        return where(zero, 0.0, _variance_jvp(ctx, tangent) / where(zero, 1.0, ctx.output))


def _variance_jvp(ctx, tangent):
    """Half the tangent of var: sum((x - mean) * t) / divisor over the reduced dims."""
    x, (dims, correction, keepdim) = ctx.inputs[0], (ctx.attrs[k] for k in ("dims", "correction", "keepdim"))
    divisor = max(0, _count(x.shape, dims) - correction)
    total = (_deviation(x, dims) * tangent).sum(dims, keepdim=keepdim)
    return total * (1 / divisor if divisor else math.inf)


def _deviation(x, dims):
    return x - Mean.apply(x, dims=dims, keepdim=True)


def _var_args(op, x, dim, unbiased, correction):
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: std and var only support floating point dtypes, got {x.dtype} (shape "
                           f"{tuple(x.shape)}); call .float() first")
    if isinstance(dim, bool):  # var(x, True): the old unbiased= positional form
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: pass either unbiased= or correction=, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return normalize_dims(op, all_if_empty(dim), x.shape), correction


@numpy_keywords
def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dims, correction = _var_args("var", x, dim, unbiased, correction)
    return Var.apply(x, dims=dims, correction=correction, keepdim=keepdim)


@numpy_keywords
def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dims, correction = _var_args("std", x, dim, unbiased, correction)
    return Std.apply(x, dims=dims, correction=correction, keepdim=keepdim)


@numpy_keywords
def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dims, correction = _var_args("var_mean", x, dim, unbiased, correction)
    return Var.apply(x, dims=dims, correction=correction, keepdim=keepdim), Mean.apply(x, dims=dims, keepdim=keepdim)


@numpy_keywords
def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dims, correction = _var_args("std_mean", x, dim, unbiased, correction)
    return Std.apply(x, dims=dims, correction=correction, keepdim=keepdim), Mean.apply(x, dims=dims, keepdim=keepdim)


# --- NaN-aware reductions ------------------------------------------------------------------------------

def _is_nan(x):
    return x != x


@numpy_keywords
def nansum(x, dim=None, keepdim=False, *, dtype=None):
    if dtypes.is_floating(x.dtype):
        x = where(_is_nan(x), 0.0, x)
    return reduction.sum(x, dim, keepdim, dtype=dtype)


@numpy_keywords
def nanmean(x, dim=None, keepdim=False, *, dtype=None):
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"nanmean: expected a floating point input, got {x.dtype} (shape {tuple(x.shape)}); "
                           f"call .float() first")
    x = _cast(x, dtype)
    return nansum(x, dim, keepdim) / reduction.sum(~_is_nan(x), dim, keepdim)


@numpy_keywords
def count_nonzero(x, dim=None):
    return reduction.sum(x != 0, dim)


@numpy_keywords
def aminmax(x, *, dim=None, keepdim=False):
    _reducible("aminmax", x, dim)
    return AminmaxResult(amin(x, dim, keepdim), amax(x, dim, keepdim))


# --- sorting and selection -------------------------------------------------------------------------

@numpy_keywords
def argsort(x, dim=-1, descending=False, stable=False):
    return _along("argsort", x, dim, lambda t, d: Argsort.apply(t, dim=d, descending=descending))


@numpy_keywords
def sort(x, dim=-1, descending=False, stable=False):
    """Sorted values and where they came from; always stable (ties keep their order), which PyTorch's
    stable=False allows."""
    def run(t, d):
        index = Argsort.apply(t, dim=d, descending=descending)
        return TakeAlongDim.apply(t, index, dim=d), index
    return SortResult(*_along("sort", x, dim, run))


def msort(x):
    return sort(x, dim=0).values


@numpy_keywords
def topk(x, k, dim=-1, largest=True, sorted=True):
    """The k largest (or smallest) along dim, in order (also when sorted=False, which PyTorch allows)."""
    _no_bool("topk", x)
    def run(t, d):
        if not 0 <= k <= t.shape[d]:
            raise RuntimeError(f"topk: selected index k={k} out of range for dim {dim} of size {t.shape[d]} (shape "
                               f"{tuple(x.shape)}); pick k between 0 and {t.shape[d]}")
        index = TopkIndex.apply(t, k=k, dim=d, largest=largest)
        return TakeAlongDim.apply(t, index, dim=d), index
    return TopkResult(*_along("topk", x, dim, run))


def _pick(op, x, dim, keepdim, index_fn, result):
    """Values and indices of one element per row along ``dim``, picked by ``index_fn(x, d)`` (kept dims)."""
    def run(t, d):
        index = index_fn(t, d)
        values = TakeAlongDim.apply(t, index, dim=d)
        return (values, index) if keepdim or not x.ndim else (values.squeeze(d), index.squeeze(d))
    return result(*_along(op, x, dim, run))


@numpy_keywords
def kthvalue(x, k, dim=-1, keepdim=False):
    _no_bool("kthvalue", x)
    def index(t, d):
        if not 1 <= k <= t.shape[d]:
            raise RuntimeError(f"kthvalue: selected number k={k} out of range for dim {dim} of size {t.shape[d]} "
                               f"(shape {tuple(x.shape)}); k counts from 1 to the dim's size")
        return Argsort.apply(t, dim=d, descending=False).narrow(d, k - 1, 1)
    return _pick("kthvalue", x, dim, keepdim, index, KthvalueResult)


def _median(op, x, dim, keepdim, ignore_nan, result):
    _no_bool(op, x)
    if dim is None:  # over all elements: the value only, its gradient shared by its ties
        if x.numel() == 0:
            return Tensor._make(x._backend.xp.full((), math.nan, dtype=x.dtype), x._backend)
        flat = x.reshape(-1)
        return SelectSpread.apply(x, MedianIndex.apply(flat, dim=0, ignore_nan=ignore_nan))
    _reducible(op, x, (dim,))
    return _pick(op, x, dim, keepdim, lambda t, d: MedianIndex.apply(t, dim=d, ignore_nan=ignore_nan), result)


@numpy_keywords
def median(x, dim=None, keepdim=False):
    """The lower of the two middle values (not their mean), as PyTorch; NaN if a row holds NaN."""
    return _median("median", x, dim, keepdim, False, MedianResult)


@numpy_keywords
def nanmedian(x, dim=None, keepdim=False):
    return _median("nanmedian", x, dim, keepdim, True, NanmedianResult)


@numpy_keywords
def mode(x, dim=-1, keepdim=False):
    if x.ndim:
        _reducible("mode", x, (dim,))
    return _pick("mode", x, dim, keepdim, lambda t, d: ModeIndex.apply(t, dim=d), ModeResult)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op, x, q, dim, keepdim, interpolation, ignore_nan):
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError(f"{op}: input tensor must be either float or double dtype, got {x.dtype} (shape "
                           f"{tuple(x.shape)}); call .float() first")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{op}: interpolation must be one of {', '.join(_INTERPOLATIONS)}, got {interpolation!r}")
    scalar_q = not isinstance(q, Tensor)
    q = Tensor._make(x._backend.asarray(q, x.dtype), x._backend) if scalar_q else q
    if q.ndim > 1 or q.dtype != x.dtype:
        raise RuntimeError(f"{op}: q must be a scalar or a 1D tensor of the input's dtype {x.dtype}, got shape "
                           f"{tuple(q.shape)} {q.dtype}")
    if q.numel() and bool(((q < 0) | (q > 1)).any()):  # a host sync on CUDA, as in PyTorch
        raise RuntimeError(f"{op}: q values must be in the range [0, 1], got {q.tolist()}")
    if x.numel() == 0:
        raise RuntimeError(f"{op}: input tensor must be non-empty (shape {tuple(x.shape)})")
    if dim is None:
        rows, reduced = x.reshape(-1), tuple(range(x.ndim))
    else:  # the reduced dim last, the others in their order
        d = normalize_dim(op, dim, x.shape)
        rows = x.permute(*[i for i in range(x.ndim) if i != d], d) if x.ndim else x.reshape(1)
        reduced = (d,)
    values = sort(rows, dim=-1).values  # NaN last
    low, high, weight = QuantileRanks.apply(rows, q.reshape(-1), ignore_nan=ignore_nan, interpolation=interpolation)
    low_values = TakeAlongDim.apply(values, low, dim=-1, repeats=True)
    out = low_values + (TakeAlongDim.apply(values, high, dim=-1, repeats=True) - low_values) * weight
    out = out.permute(out.ndim - 1, *range(out.ndim - 1))  # the quantiles first
    if keepdim:
        out = out.reshape(out.shape[0], *kept_shape(x.shape, reduced))
    return out[0] if scalar_q else out


class QuantileRanks(Op):
    """Where each quantile ``q`` falls in the sorted rows (the last dim): the sorted positions below and
    above it and the interpolation weight between them. A row holding NaN has the NaN at its end as
    quantile, unless ``ignore_nan`` (nanquantile) counts only the other values."""
    differentiable = False
    def forward(ctx, rows, q, ignore_nan, interpolation):
        xp = ctx.xp
        n = rows.shape[-1]
        nans = (rows != rows).sum(axis=-1, keepdims=True)
        if ignore_nan:
            rank = q * xp.maximum(n - 1 - nans, 0).astype(q.dtype)
        else:
            rank = xp.where(nans > 0, q.dtype.type(n - 1), q * (n - 1))
        rank = {"lower": xp.floor, "higher": xp.ceil, "nearest": xp.round}.get(interpolation, lambda r: r)(rank)
        low, high = xp.floor(rank), xp.ceil(rank)
        weight = xp.full_like(rank, 0.5) if interpolation == "midpoint" else rank - low
        return low.astype(dtypes.int64), high.astype(dtypes.int64), weight


@numpy_keywords
def quantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile("quantile", x, q, dim, keepdim, interpolation, False)


@numpy_keywords
def nanquantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile("nanquantile", x, q, dim, keepdim, interpolation, True)


# --- distinct values, counting and bucketing (no gradients) -----------------------------------------

class Unique(Op):
    """Sorted distinct values of ``x`` (of its slices along ``dim``), each element's (slice's) position among
    them and their counts. How many there are decides the output's shape: read on the host, as PyTorch."""
    differentiable = False
    def forward(ctx, x, dim):
        xp = ctx.xp
        values, inverse, counts = xp.unique(_sortable(x), return_inverse=True, return_counts=True, axis=dim,
                                            equal_nan=False)  # each NaN its own value, as in PyTorch
        return values.astype(x.dtype, copy=False), inverse.reshape(x.shape if dim is None else -1), counts


class UniqueConsecutive(Op):
    """One element (slice along ``dim``) of each run of equal consecutive ones, where each came from, run lengths."""
    differentiable = False
    def forward(ctx, x, dim):
        xp = ctx.xp
        runs = x.reshape(-1) if dim is None else xp.moveaxis(x, dim, 0)  # runs along the first axis
        changed = (runs[1:] != runs[:-1]).any(axis=tuple(range(1, runs.ndim)))
        starts = xp.concatenate([xp.ones(min(len(runs), 1), dtype=dtypes.bool_), changed])
        positions = xp.nonzero(starts)[0]
        counts = xp.diff(xp.concatenate([positions, xp.full(1, len(runs), dtype=positions.dtype)]))
        values = runs[starts] if dim is None else xp.moveaxis(runs[starts], 0, dim)
        inverse = xp.cumsum(starts) - 1
        return values, inverse.reshape(x.shape if dim is None else -1).astype(dtypes.int64), counts


class Bincount(Op):
    differentiable = False
    def forward(ctx, x, weights, minlength, dtype):
        return ctx.xp.bincount(x, weights=weights, minlength=minlength).astype(dtype)


class Histc(Op):
    """Counts of ``x`` in ``bins`` equal bins over [low, high] (the data's range when both are 0); values
    outside are left out, ``high`` itself goes in the last bin."""
    differentiable = False
    def forward(ctx, x, bins, low, high):
        xp = ctx.xp
        if low == high:  # the data's own range, widened by 1 on each side when it is a single value
            low, high = (x.min(), x.max()) if x.size else (xp.zeros((), x.dtype), xp.zeros((), x.dtype))
            same = low == high
            low, high = xp.where(same, low - 1, low), xp.where(same, high + 1, high)
        index = xp.floor((x - low) * bins / (high - low))
        index = xp.where(x == high, bins - 1, index)
        index = xp.where((x >= low) & (x <= high), index, bins).astype(dtypes.int64)  # outside (and NaN): dropped
        return xp.bincount(index.reshape(-1), minlength=bins + 1)[:bins].astype(x.dtype)


class SearchSorted(Op):
    """Where each value would go in the sorted last dim of ``boundaries`` to keep it sorted (before equal
    boundaries for side="left", after them for "right")."""
    differentiable = False
    def forward(ctx, boundaries, values, side, dtype):
        xp = ctx.xp
        boundaries, values = _sortable(boundaries), _sortable(values)
        if boundaries.ndim == 1:
            return xp.asarray(xp.searchsorted(boundaries, values, side=side)).astype(dtype)
        # one row of boundaries per row of values: count the boundaries below each value
        below = xp.less if side == "left" else xp.less_equal
        return below(xp.expand_dims(boundaries, -2), xp.expand_dims(values, -1)).sum(axis=-1).astype(dtype)


def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """Distinct values, always sorted (PyTorch allows that for sorted=False)."""
    if dim is not None:
        dim = normalize_dim("unique", dim, x.shape)
        if x.ndim == 0:
            raise IndexError(f"unique: dim {dim} given for a 0-d tensor, which has no dims; leave dim out")
        if any(size == 0 for d, size in enumerate(x.shape) if d != dim):
            raise RuntimeError(f"unique: there are 0 sized dims other than dim {dim} (shape {tuple(x.shape)}), so "
                               f"its slices along dim {dim} are empty and cannot be compared")
    values, inverse, counts = Unique.apply(x, dim=dim)
    extra = ((inverse,) if return_inverse else ()) + ((counts,) if return_counts else ())
    return (values, *extra) if extra else values


def unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    if dim is not None:
        dim = normalize_dim("unique_consecutive", dim, x.shape)
    if dim is not None and x.ndim == 0:
        raise IndexError(f"unique_consecutive: dim {dim} given for a 0-d tensor, which has no dims; leave dim out")
    values, inverse, counts = UniqueConsecutive.apply(x, dim=dim)
    extra = ((inverse,) if return_inverse else ()) + ((counts,) if return_counts else ())
    return (values, *extra) if extra else values


def bincount(x, weights=None, minlength=0):
    if x.ndim != 1 or dtypes.is_floating(x.dtype) or x.dtype == dtypes.bool_:
        raise RuntimeError(f"bincount: only 1-d non-negative integral inputs are supported, got shape "
                           f"{tuple(x.shape)} {x.dtype}")
    if minlength < 0:
        raise RuntimeError(f"bincount: minlength should be >= 0, got {minlength}")
    if x.numel() and bool((x < 0).any()):  # a host sync on CUDA, as in PyTorch
        raise RuntimeError(f"bincount: input must hold no negative values (shape {tuple(x.shape)})")
    if weights is not None and tuple(weights.shape) != tuple(x.shape):
        raise RuntimeError(f"bincount: weights should be 1-d and have the same length as input, got "
                           f"{tuple(weights.shape)} for input {tuple(x.shape)}")
    dtype = dtypes.int64 if weights is None else weights.dtype if dtypes.is_floating(weights.dtype) else \
        dtypes.float64
    return Bincount.apply(x, weights, minlength=minlength, dtype=dtype)


def histc(x, bins=100, min=0, max=0):
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"histc: not implemented for {x.dtype} inputs (shape {tuple(x.shape)}); call .float() "
                           f"first")
    if bins <= 0:
        raise RuntimeError(f"histc: bins must be > 0, got {bins}")
    if min > max:
        raise RuntimeError(f"histc: max must be larger than min, got min={min}, max={max}")
    return Histc.apply(x, bins=int(bins), low=min, high=max)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    if side is not None and side not in ("left", "right"):
        raise RuntimeError(f"searchsorted: side can only be 'left' or 'right', got {side!r}")
    if side == "left" and right:
        raise RuntimeError("searchsorted: side='left' and right=True contradict each other; pass one of them")
    side = side or ("right" if right else "left")
    _no_bool("searchsorted", sorted_sequence)
    values = input if isinstance(input, Tensor) else Tensor._make(
        sorted_sequence._backend.asarray(input, sorted_sequence.dtype), sorted_sequence._backend)
    if sorted_sequence.ndim > 1 and tuple(sorted_sequence.shape[:-1]) != tuple(values.shape[:-1]):
        raise RuntimeError(f"searchsorted: boundaries {tuple(sorted_sequence.shape)} and input "
                           f"{tuple(values.shape)} must have the same dims but the last, or boundaries must be 1-d")
    if sorter is not None:
        sorted_sequence = TakeAlongDim.apply(sorted_sequence, sorter, dim=sorted_sequence.ndim - 1)
    return SearchSorted.apply(sorted_sequence, values, side=side,
                              dtype=dtypes.int32 if out_int32 else dtypes.int64)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-d, got shape {tuple(boundaries.shape)}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)
