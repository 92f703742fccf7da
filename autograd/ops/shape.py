"""Shape and indexing: reshape, permute, expand, sum_to_shape, cat, indexing, and friends."""

import math
import numbers

from .. import dtypes
from ..function import Op, linear_jvp
from ..keywords import numpy_keywords
from ..tensor import Tensor, shape_tuple, zeros_like
from ._dims import normalize_dim, normalize_dims


class Reshape(Op):
    is_view = True  # when NumPy can reshape without copying
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)
    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape)
    jvp = linear_jvp


class Permute(Op):
    is_view = True
    def forward(ctx, x, dims):
        ctx.dims = dims
        return ctx.xp.transpose(x, dims)
    def backward(ctx, grad):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return grad.permute(*inverse)
    jvp = linear_jvp


class Expand(Op):
    is_view = True
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return ctx.xp.broadcast_to(x, shape)
    def backward(ctx, grad):
        return grad.sum_to_shape(ctx.in_shape)
    jvp = linear_jvp


class SumToShape(Op):
    """Sum ``x`` down to ``shape``: undoes broadcasting (the engine's one place for it)."""
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        lead = x.ndim - len(shape)
        dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
        return x.sum(axis=dims, keepdims=True).reshape(shape) if dims else x.reshape(shape)
    def backward(ctx, grad):
        return grad.expand(ctx.in_shape)
    jvp = linear_jvp


class Cat(Op):
    def forward(ctx, *xs, dim):
        ctx.dim, ctx.sizes = dim, [x.shape[dim] for x in xs]
        return ctx.xp.concatenate(xs, axis=dim)
    def backward(ctx, grad):
        grads, start = [], 0
        for size, need in zip(ctx.sizes, ctx.needs_input_grad):
            index = (slice(None),) * ctx.dim + (slice(start, start + size),)
            grads.append(grad[index] if need else None)
            start += size
        return tuple(grads)
    jvp = linear_jvp


class GetItem(Op):
    is_view = True  # basic indexing (ints, slices, None): advanced indexing copies
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        if not is_advanced(index) and not any(i is Ellipsis for i in index):
            index = index + (Ellipsis,)  # x[0] of a 1-d array: a 0-d view, not a NumPy scalar copy
        return x[index]
    def backward(ctx, grad):
        return IndexAdd.apply(grad, shape=ctx.shape, index=ctx.index)
    jvp = linear_jvp


class IndexAdd(Op):
    """Zeros of ``shape`` with ``values`` added at ``index``; repeated indices add up (scatter-add)."""
    def forward(ctx, values, shape, index):
        ctx.index = index
        out = ctx.xp.zeros(shape, dtype=values.dtype)
        if is_advanced(index):
            ctx.xp.add.at(out, index, values)
        else:
            out[index] = values
        return out
    def backward(ctx, grad):
        return grad[ctx.index]
    jvp = linear_jvp


class IndexPut(Op):
    """A copy of ``x`` with ``x[index] = value``; what ``x[index] = value`` records in a graph."""
    def forward(ctx, x, value, index):
        ctx.index = index
        out = x.copy()
        out[index] = value
        return out
    def backward(ctx, grad):
        grad_x = IndexPut.apply(grad, 0.0, index=ctx.index) if ctx.needs_input_grad[0] else None
        return grad_x, (grad[ctx.index] if ctx.needs_input_grad[1] else None)
    def jvp(ctx, tangent_x, tangent_value):  # a constant value has tangent zero there
        x, value = ctx.inputs
        tangent_value = tangent_value if tangent_value is not None else 0.0
        return IndexPut.apply(tangent_x if tangent_x is not None else zeros_like(x), tangent_value, **ctx.attrs)


class Clone(Op):
    def forward(ctx, x):
        return x.copy()
    def backward(ctx, grad):
        return grad
    jvp = linear_jvp


class Cast(Op):
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)
    def backward(ctx, grad):
        return grad.to(ctx.in_dtype)
    jvp = linear_jvp


class ToDevice(Op):
    moves_device = True
    def forward(ctx, x, backend):
        return backend.from_backend(x, ctx.backend)  # ctx.backend: the input's device
    def backward(ctx, grad):
        return ToDevice.apply(grad, backend=ctx.backend)  # the gradient goes back where x lives
    jvp = linear_jvp


def is_advanced(index):
    """True when ``index`` holds an integer or bool array (NumPy's advanced indexing)."""
    return any(hasattr(i, "shape") for i in index)


# --- the functions ----------------------------------------------------------------------------

def reshape(x, *shape):
    shape = shape_tuple(shape)
    if shape == x.array.shape:
        return Reshape.apply(x, shape=shape)
    known = 1
    for s in shape:
        known *= s if s != -1 else 1
    if shape.count(-1) > 1 or (-1 not in shape and known != x.numel()) or (-1 in shape and (known == 0 or x.numel() % known)):
        raise RuntimeError(f"reshape: shape {list(shape)} is invalid for input of size {x.numel()} "
                           f"(shape {tuple(x.shape)}); the sizes must multiply to {x.numel()}, with at most one -1")
    return Reshape.apply(x, shape=shape)


def view(x, *shape):
    """reshape that never copies: refused, as in PyTorch, when the memory layout (after .T,
    permute or a strided slice) cannot be read as the new shape."""
    out = reshape(x, *shape)
    if out.numel() and not x._backend.xp.may_share_memory(out.array, x.array):
        raise RuntimeError(f"view: a tensor of shape {tuple(x.shape)} with strides {x.array.strides} (not "
                           f"contiguous, e.g. after .T, permute or a step slice) can't be viewed as shape "
                           f"{tuple(out.shape)} without copying; use .reshape(...), which copies when it must, "
                           f"or .contiguous().view(...)")
    return out


def select(x, dim, index):
    """x[..., index, ...] at ``dim``: a view with that dim removed."""
    if x.ndim == 0:
        raise IndexError("select: a 0-d tensor (shape ()) has no dim to select from; index it with x[()]")
    dim = normalize_dim("select", dim, x.shape)
    size = x.shape[dim]
    if not -size <= index < size:
        raise IndexError(f"select: index {index} is out of range for dim {dim} of size {size} (shape "
                         f"{tuple(x.shape)})")
    return getitem(x, (slice(None),) * dim + (index,))


def narrow(x, dim, start, length):
    """The slice start:start+length of ``dim``: a view."""
    if x.ndim == 0:
        raise RuntimeError("narrow: a 0-d tensor (shape ()) has no dim to narrow; it needs at least one dim")
    dim = normalize_dim("narrow", dim, x.shape)
    size = x.shape[dim]
    start = start + size if start < 0 else start
    if not (0 <= start <= size and 0 <= length <= size - start):
        raise IndexError(f"narrow: start {start} and length {length} do not fit dim {dim} of size {size} "
                         f"(shape {tuple(x.shape)}); need 0 <= start and start + length <= {size}")
    return getitem(x, (slice(None),) * dim + (slice(start, start + length),))


def permute(x, *dims):
    dims = shape_tuple(dims, "permute")
    if len(dims) != x.ndim:
        raise RuntimeError(f"permute: dims {list(dims)} are not a permutation of the {x.ndim} dims of shape "
                           f"{tuple(x.shape)}: pass each dim once")
    axes = tuple(normalize_dim("permute", d, x.shape) for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"permute: dims {list(dims)} are not a permutation of the {x.ndim} dims of shape "
                           f"{tuple(x.shape)}: duplicate dims are not allowed")
    return Permute.apply(x, dims=axes)


def t(x):
    """The transpose of a matrix; 0-d and 1-d tensors come back as they are (PyTorch's t())."""
    if x.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dims, but this one has shape {tuple(x.shape)}; use "
                           f"transpose(dim0, dim1) or .mT for batches of matrices")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    dim0, dim1 = normalize_dim("transpose", dim0, x.shape), normalize_dim("transpose", dim1, x.shape)
    if not dims:  # a 0-d tensor: dims 0 and -1 name the tensor itself, as in PyTorch
        return permute(x)
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, *dims)


def expand(x, *shape):
    shape = shape_tuple(shape)
    in_shape = x.array.shape
    lead = len(shape) - len(in_shape)
    if lead < 0:
        raise RuntimeError(f"expand: the target shape {list(shape)} has fewer dims than the input {in_shape}")
    if -1 in shape:
        shape = tuple(in_shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    for i, s in enumerate(in_shape):
        if s != 1 and s != shape[lead + i]:
            raise RuntimeError(f"expand: the input's size {s} at dim {i} (shape {tuple(x.shape)}) must match the "
                               f"target size {shape[lead + i]} (target {list(shape)}) or be 1")
    return Expand.apply(x, shape=shape) if shape != x.array.shape else x


def sum_to_shape(x, shape):
    shape = tuple(shape)
    return SumToShape.apply(x, shape=shape) if shape != x.array.shape else x


@numpy_keywords
def squeeze(x, dim=None):
    dims = normalize_dims("squeeze", dim, x.shape)
    shape = tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1))
    return reshape(x, shape)


@numpy_keywords
def unsqueeze(x, dim):
    dim = normalize_dim("unsqueeze", dim, x.shape, new=True)
    shape = list(x.shape)
    shape.insert(dim, 1)
    return reshape(x, shape)


def flatten(x, start_dim=0, end_dim=-1):
    start, end = normalize_dim("flatten", start_dim, x.shape), normalize_dim("flatten", end_dim, x.shape)
    if start > end:
        raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {tuple(x.shape)}); "
                           f"start_dim cannot come after end_dim")
    if x.ndim == 0:
        return reshape(x, 1)
    return reshape(x, x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:])


@numpy_keywords
def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    dtype = dtypes.result_type(*tensors)
    tensors = [t.to(dtype) for t in tensors]
    ndim = tensors[0].ndim
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"cat: zero-dimensional tensor (at position {i}, shape ()) cannot be concatenated; "
                               f"use stack, or unsqueeze it first")
    dim = normalize_dim("cat", dim, tensors[0].shape)
    for t in tensors:
        if t.ndim != ndim or t.shape[:dim] + t.shape[dim + 1:] != tensors[0].shape[:dim] + tensors[0].shape[dim + 1:]:
            raise RuntimeError(f"cat: sizes must match except in dim {dim}, got shapes "
                               f"{[tuple(x.shape) for x in tensors]}")
    return Cat.apply(*tensors, dim=dim)


@numpy_keywords
def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"stack: expects each tensor to be equal size, got shapes {[tuple(t.shape) for t in tensors]}")
    dim = normalize_dim("stack", dim, tensors[0].shape, new=True)
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def _index(x, index):
    """A NumPy/CuPy index from a Python one: Tensors become arrays on x's device."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            if i.dtype.kind not in "biu":
                raise IndexError(f"getitem: tensors used as indices must be integer or bool, got {i.dtype}")
            i = i.array if i._backend is x._backend else x._backend.asarray(i._backend.to_numpy(i.array))
        elif isinstance(i, (list, tuple)) or (hasattr(i, "shape") and not isinstance(i, Tensor)):
            i = x._backend.asarray(i)
        out.append(i)
    return tuple(out)


def getitem(x, index):
    index = _index(x, index)
    try:
        return GetItem.apply(x, index=index)
    except IndexError as e:
        raise IndexError(f"getitem: {e} (tensor of shape {tuple(x.shape)})") from None


def setitem_(x, index, value):
    from .inplace import inplace, check_leaf, check_writable
    index = _index(x, index)
    if isinstance(value, Tensor) and value._backend is not x._backend:
        raise RuntimeError(f"setitem: the value is on {value.device} but the tensor is on {x.device}; "
                           f"move it with .to('{x.device}')")
    if not isinstance(value, (Tensor, numbers.Number)):  # host data (a list, a NumPy array): CuPy takes only its own
        value = x._backend.asarray(value, x.dtype)
    recording = is_grad_enabled() and (x.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
    # forward AD: a tangent is written too (not under no_grad, where embedding renormalises its weight)
    dual = is_grad_enabled() and (x._tangent is not None or (isinstance(value, Tensor) and value._tangent is not None))
    if not recording and not dual:  # plain data: write straight into the array
        check_leaf(x, "setitem")
        check_writable(x, "setitem")
        try:
            x.array[index] = value.array if isinstance(value, Tensor) else value
        except IndexError as e:
            raise IndexError(f"setitem: {e} (tensor of shape {tuple(x.shape)})") from None
        x._version[0] += 1
        return x
    if isinstance(value, Tensor) and value.dtype != x.dtype:
        value = value.to(x.dtype)
    try:
        result = IndexPut.apply(x, value, index=index)
    except IndexError as e:
        raise IndexError(f"setitem: {e} (tensor of shape {tuple(x.shape)})") from None
    return inplace(x, result, "setitem")


def clone(x):
    return Clone.apply(x)


def cast(x, dtype):
    if x.requires_grad and not dtypes.is_floating(dtype):
        return Tensor._make(x.array.astype(dtype), x._backend)  # integer results leave the graph
    return Cast.apply(x, dtype=dtype)


def to_device(x, backend):
    return ToDevice.apply(x, backend=backend)


from ..grad_mode import is_grad_enabled  # noqa: E402
