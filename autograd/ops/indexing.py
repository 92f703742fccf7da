"""Shape and indexing ops beyond views and getitem: splits, flips, gathers, scatters, masks, triangles.

Most of them are compositions of the differentiable ops in shape.py: a gather is ``x[index tuple]``
(GetItem, whose backward is IndexAdd), a scatter is IndexPut, a scatter-add is IndexAdd, a split is
narrow. An op gets a class of its own only where no composition is as fast (flip, roll, diagonal).
"""

import itertools
import math
import numbers
import warnings

from .. import dtypes
from ..function import Op, linear_jvp
from ..grad_mode import is_grad_enabled
from ..keywords import numpy_keywords
from ..tensor import Size, Tensor, _device_backend, shape_tuple, zeros
from ._dims import normalize_dim, normalize_dims
from .arithmetic import where as _where3
from .inplace import apply_inplace
from .shape import (IndexAdd, IndexPut, _index, cat, expand, flatten, getitem, narrow, permute, reshape, select, stack,
                    transpose, unsqueeze)

__all__ = [
    "split", "chunk", "tensor_split", "unbind", "hsplit", "vsplit", "dsplit",
    "flip", "fliplr", "flipud", "roll", "rot90", "repeat", "tile", "repeat_interleave",
    "gather", "scatter", "scatter_", "scatter_add", "scatter_add_", "scatter_reduce", "scatter_reduce_",
    "take_along_dim", "take", "put", "put_",
    "index_select", "index_add", "index_add_", "index_copy", "index_copy_", "index_fill", "index_fill_",
    "index_put", "index_put_", "masked_fill", "masked_fill_", "masked_select", "masked_scatter",
    "masked_scatter_", "nonzero", "argwhere", "where",
    "tril", "tril_", "triu", "triu_", "tril_indices", "triu_indices",
    "diagonal", "diag", "diag_embed", "diagflat", "trace",
    "movedim", "moveaxis", "swapaxes", "swapdims", "unflatten", "ravel",
    "hstack", "vstack", "dstack", "column_stack", "row_stack", "atleast_1d", "atleast_2d", "atleast_3d",
    "meshgrid", "broadcast_tensors", "broadcast_shapes", "cartesian_prod", "combinations", "block_diag",
]
METHODS = (  # names in __all__ that are also Tensor methods (x.name(...) is name(x, ...))
    "split", "chunk", "tensor_split", "unbind", "hsplit", "vsplit", "dsplit",
    "flip", "fliplr", "flipud", "roll", "rot90", "repeat", "tile", "repeat_interleave",
    "gather", "scatter", "scatter_", "scatter_add", "scatter_add_", "scatter_reduce", "scatter_reduce_",
    "take_along_dim", "take", "put", "put_",
    "index_select", "index_add", "index_add_", "index_copy", "index_copy_", "index_fill", "index_fill_",
    "index_put", "index_put_", "masked_fill", "masked_fill_", "masked_select", "masked_scatter",
    "masked_scatter_", "nonzero", "argwhere",
    "tril", "tril_", "triu", "triu_", "diagonal", "diag", "diag_embed", "diagflat", "trace",
    "movedim", "moveaxis", "swapaxes", "swapdims", "unflatten", "ravel",
)


# --- the ops with kernels of their own -----------------------------------------------------------------

class Flip(Op):
    def forward(ctx, x, dims):
        ctx.dims = dims
        return ctx.xp.flip(x, dims).copy()  # NumPy's flip is a view; PyTorch's is a copy
    def backward(ctx, grad):
        return Flip.apply(grad, dims=ctx.dims)
    jvp = linear_jvp


class Roll(Op):
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return ctx.xp.roll(x, shifts, dims)
    def backward(ctx, grad):
        return Roll.apply(grad, shifts=tuple(-s for s in ctx.shifts), dims=ctx.dims)
    jvp = linear_jvp


class Diagonal(Op):
    """The diagonal at ``offset`` of the planes (dim1, dim2), as the last dim: a writable view (NumPy's
    diagonal is read-only, so it is a strided view of the corner where the diagonal starts)."""
    is_view = True
    def forward(ctx, x, offset, dim1, dim2):
        ctx.shape, ctx.where = x.shape, (offset, dim1, dim2)
        start1, start2 = max(-offset, 0), max(offset, 0)
        length = max(min(x.shape[dim1] - start1, x.shape[dim2] - start2), 0)
        corner = x[tuple(slice(start1, None) if d == dim1 else slice(start2, None) if d == dim2 else slice(None)
                         for d in range(x.ndim))]
        rest = [d for d in range(x.ndim) if d not in (dim1, dim2)]
        step = x.strides[dim1] + x.strides[dim2]  # one along both dims
        return ctx.xp.lib.stride_tricks.as_strided(corner, [x.shape[d] for d in rest] + [length],
                                                   [corner.strides[d] for d in rest] + [step])
    def backward(ctx, grad):
        return DiagonalScatter.apply(grad, shape=ctx.shape, offset=ctx.where[0], dim1=ctx.where[1],
                                     dim2=ctx.where[2])
    jvp = linear_jvp


class DiagonalScatter(Op):
    """Zeros of ``shape`` with ``values`` (last dim: along the diagonal) written on the diagonal at
    ``offset`` of the planes (dim1, dim2): diagonal's backward, and diag_embed."""
    def forward(ctx, values, shape, offset, dim1, dim2):
        ctx.where = (offset, dim1, dim2)
        xp = ctx.xp
        out = xp.zeros(shape, dtype=values.dtype)
        n = values.shape[-1]
        rows = xp.arange(n) + max(-offset, 0)
        planes = xp.moveaxis(out, (dim1, dim2), (-2, -1))  # a view: writes land in out
        planes[..., rows, rows + offset] = values
        return out
    def backward(ctx, grad):
        offset, dim1, dim2 = ctx.where
        return Diagonal.apply(grad, offset=offset, dim1=dim1, dim2=dim2)
    jvp = linear_jvp


# --- helpers ---------------------------------------------------------------------------------------------

def _xp(x, make):
    """``make(xp)``: an array made on x's device (inside its backend's context)."""
    with x._backend.errstate():
        return make(x._backend.xp)


_INDEX_DTYPES = (dtypes.int64, dtypes.int32)


def _check_index(op, index, x, name="index", kinds=_INDEX_DTYPES, error=RuntimeError):
    """``index`` must be an integer Tensor (of one of ``kinds``) on x's device."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor of dtype {kinds[0]}, got {type(index).__name__}")
    if index.dtype not in kinds:
        allowed = " or ".join(str(k) for k in kinds)
        raise error(f"{op}(): Expected dtype {allowed} for {name}, got {index.dtype}; convert it with .long()")
    if index._backend is not x._backend:
        raise RuntimeError(f"{op}: expected {name} on the same device as the input, but got {index.device} and "
                           f"{x.device}; move it with .to('{x.device}')")
    return index


def _check_bounds(op, index, size, dim, negative_ok=False, error=RuntimeError):
    """Indices must lie in [0, size) (or [-size, size) where negative ones count from the end). Only
    on the CPU: on CUDA this would copy to the host and wait, so there (as PyTorch's CUDA kernels, which
    assert on the device) an out-of-range index is the caller's bug."""
    if index.device.type != "cpu" or index.numel() == 0:
        return
    low, high = int(index.array.min()), int(index.array.max())
    if high >= size or low < (-size if negative_ok else 0):
        bad = high if high >= size else low
        raise error(f"{op}: index {bad} is out of bounds for dimension {dim} with size {size}; indices must "
                    f"be in [{-size if negative_ok else 0}, {size - 1}]")


def _as_1d(x):
    return reshape(x, 1) if x.ndim == 0 else x


def _along(x, dim, index):
    """The advanced index tuple that picks, at every position of ``index``, the element of x at that
    position except that its ``dim`` coordinate is the index value (what gather and scatter address)."""
    ndim = index.ndim
    def make(xp):
        return tuple(index.array if d == dim else
                     xp.arange(index.shape[d]).reshape((1,) * d + (-1,) + (1,) * (ndim - d - 1))
                     for d in range(ndim))
    return _xp(x, make)


def _check_along(op, x, dim, index, src=None):
    """PyTorch's gather/scatter shape rules: same number of dims; index no larger than x in every dim
    but ``dim``, and no larger than src in any."""
    if max(index.ndim, 1) != max(x.ndim, 1) or (src is not None and max(src.ndim, 1) != max(index.ndim, 1)):
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as input tensor (input "
                           f"{tuple(x.shape)}, index {tuple(index.shape)}"
                           + (f", src {tuple(src.shape)})" if src is not None else ")")
                           + "; unsqueeze the index to the input's number of dims")
    ishape, xshape = _as_1d(index).shape, _as_1d(x).shape
    for d, (i, s) in enumerate(zip(ishape, xshape)):
        if d != dim and i > s:
            raise RuntimeError(f"{op}(): Size does not match at dimension {d}: index {tuple(index.shape)} must not "
                               f"be larger than input {tuple(x.shape)} apart from dimension {dim}; crop the index")
    if src is not None and any(i > s for i, s in zip(ishape, _as_1d(src).shape)):
        raise RuntimeError(f"{op}(): Expected index {tuple(index.shape)} to be smaller than src {tuple(src.shape)} "
                           f"in every dimension; pass a src at least as large as the index")


def _crop(src, shape):
    """The leading ``shape`` corner of ``src`` (the part a scatter reads)."""
    if tuple(src.shape) == tuple(shape):
        return src
    return getitem(src, tuple(slice(0, s) for s in shape))


def _value_like(op, value, x):
    """A scatter's/fill's value: a Python number, or a 0-d Tensor (which may carry a gradient)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"{op}: only supports a 0-dimensional value tensor, but got one of shape "
                               f"{tuple(value.shape)}")
        return value.to(x.dtype) if value.dtype != x.dtype else value
    return value


def _inplace(op, x, fn, other=None):
    return apply_inplace(x, lambda old, _: fn(old), other, op)


# --- splitting -----------------------------------------------------------------------------------------------

@numpy_keywords
def split(x, split_size_or_sections, dim=0):
    """Views of consecutive pieces along ``dim``: each of ``split_size`` (the last may be shorter), or
    of the listed sizes."""
    dim = normalize_dim("split", dim, x.shape)
    if x.ndim == 0:
        raise RuntimeError("split: a 0-d tensor (shape ()) has no dim to split; it needs at least one dim")
    size = x.shape[dim]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != size or any(s < 0 for s in sizes):
            raise RuntimeError(f"split: split_with_sizes expects split_sizes to sum exactly to {size} (the size of "
                               f"dim {dim} of shape {tuple(x.shape)}), but got split_sizes={sizes}; make the sizes, "
                               f"each >= 0, add up to {size}")
    else:
        step = int(split_size_or_sections)
        if step < 0 or (step == 0 and size != 0):
            raise RuntimeError(f"split: split_size can only be 0 if dimension size is 0, but got split_size={step} "
                               f"for dim {dim} of size {size}; pass a positive split size")
        sizes = [min(step, size - start) for start in range(0, size, step)] if step and size else [0]
    starts = itertools.accumulate([0] + sizes[:-1])
    return tuple(narrow(x, dim, start, length) for start, length in zip(starts, sizes))


@numpy_keywords
def chunk(x, chunks, dim=0):
    """At most ``chunks`` views of equal size (the last may be smaller) along ``dim``."""
    if chunks <= 0:
        raise RuntimeError(f"chunk: chunks must be greater than 0, got {chunks}")
    if x.ndim == 0:
        raise RuntimeError("chunk: a 0-d tensor (shape ()) has no dim to chunk; it needs at least one dim")
    dim = normalize_dim("chunk", dim, x.shape)
    size = x.shape[dim]
    if size == 0:  # every chunk is empty
        return split(x, [0] * chunks, dim)
    return split(x, -(-size // chunks), dim)  # ceil(size / chunks) each: fewer chunks where that covers it


@numpy_keywords
def tensor_split(x, indices_or_sections, dim=0):
    """Views along ``dim``: ``n`` sections as even as possible (the first ones one longer), or pieces
    between the listed indices (NumPy's array_split)."""
    if x.ndim == 0:
        raise RuntimeError("tensor_split: expected at least a 1-dimensional tensor, but got a 0-d one")
    dim = normalize_dim("tensor_split", dim, x.shape)
    size = x.shape[dim]
    if isinstance(indices_or_sections, Tensor):
        if indices_or_sections.dtype != dtypes.int64 or indices_or_sections.ndim > 1:
            raise RuntimeError(f"tensor_split: indices_or_sections must be a 0-d or 1-d int64 tensor, got "
                               f"{indices_or_sections.dtype} of shape {tuple(indices_or_sections.shape)}")
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, (list, tuple)):
        edges = [0] + [int(i) for i in indices_or_sections] + [size]  # slices: an index past the next gives empty
        return tuple(getitem(x, (slice(None),) * dim + (slice(a, b),)) for a, b in zip(edges, edges[1:]))
    n = int(indices_or_sections)
    if n <= 0:
        raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {n}")
    short, extra = divmod(size, n)
    return split(x, [short + 1] * extra + [short] * (n - extra), dim)


@numpy_keywords
def unbind(x, dim=0):
    """Views of every slice along ``dim``, that dim removed."""
    if x.ndim == 0:
        raise IndexError("unbind: Dimension specified as 0 but tensor has no dimensions")
    dim = normalize_dim("unbind", dim, x.shape)
    return tuple(select(x, dim, i) for i in range(x.shape[dim]))


def _split_dim(op, x, indices_or_sections, dim, min_dims):
    if x.ndim < min_dims:
        raise RuntimeError(f"{op} requires a tensor with at least {min_dims} dimension, but got a tensor "
                           f"with {x.ndim} dimensions (shape {tuple(x.shape)})")
    if not isinstance(indices_or_sections, (list, tuple, Tensor)) and x.shape[dim] % int(indices_or_sections):
        raise RuntimeError(f"{op} attempted to split along dimension {dim}, but the size of the dimension "
                           f"{x.shape[dim]} is not divisible by the split_size {indices_or_sections}!")
    return tensor_split(x, indices_or_sections, dim)


def hsplit(x, indices_or_sections):
    return _split_dim("hsplit", x, indices_or_sections, 1 if x.ndim > 1 else 0, 1)


def vsplit(x, indices_or_sections):
    return _split_dim("vsplit", x, indices_or_sections, 0, 2)


def dsplit(x, indices_or_sections):
    return _split_dim("dsplit", x, indices_or_sections, 2, 3)


# --- flipping, rolling, repeating ------------------------------------------------------------------------------

def _dims_list(dims):
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        return tuple(dims[0])
    return tuple(dims)


def flip(x, *dims):
    """The order of the elements along ``dims`` reversed (a copy, as in PyTorch)."""
    axes = normalize_dims("flip", list(_dims_list(dims)), x.shape)
    return Flip.apply(x, dims=axes)


def fliplr(x):
    if x.ndim < 2:
        raise RuntimeError(f"fliplr: input must be >= 2-d, got shape {tuple(x.shape)}")
    return flip(x, 1)


def flipud(x):
    if x.ndim < 1:
        raise RuntimeError(f"flipud: input must be >= 1-d, got shape {tuple(x.shape)}")
    return flip(x, 0)


def roll(x, shifts, dims=None):
    """Elements shifted by ``shifts`` along ``dims`` (wrapping around); without dims, over the flattened tensor."""
    shifts = tuple(shifts) if isinstance(shifts, (list, tuple)) else (shifts,)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: shifts {list(shifts)} need as many dims; without dims only one shift is "
                               f"allowed (the flattened tensor is rolled)")
        return reshape(Roll.apply(reshape(x, -1), shifts=(int(shifts[0]),), dims=(0,)), x.shape)
    dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims: {len(dims)}")
    if x.ndim == 0:
        raise IndexError(f"roll: Dimension specified as {dims[0]} but tensor has no dimensions (a 0-d tensor); roll "
                         f"it without dims")
    dims = tuple(normalize_dim("roll", d, x.shape) for d in dims)
    return Roll.apply(x, shifts=tuple(map(int, shifts)), dims=dims)


def rot90(x, k=1, dims=(0, 1)):
    """Rotated by 90 degrees ``k`` times in the plane of ``dims``, from the first towards the second."""
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise RuntimeError(f"rot90: expected total dims >= 2, but got total dims = {x.ndim}")
    d0, d1 = (normalize_dim("rot90", d, x.shape) for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return transpose(flip(x, d1), d0, d1)
    if k == 2:
        return flip(x, d0, d1)
    if k == 3:
        return flip(transpose(x, d0, d1), d1)
    return x.clone()


def repeat(x, *sizes):
    """x tiled ``sizes`` times along each dim (leading sizes add new dims)."""
    sizes = shape_tuple(sizes, "repeat")
    if len(sizes) < x.ndim:
        raise RuntimeError(f"repeat: Number of dimensions of repeat dims ({len(sizes)}) can not be smaller than "
                           f"number of dimensions of tensor ({x.ndim}, shape {tuple(x.shape)})")
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"repeat: Trying to create tensor with negative dimension: repeats {list(sizes)}")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    pairs = [(1, s) for s in shape]
    out = expand(reshape(x, [n for p in pairs for n in p]), [n for r, s in zip(sizes, shape) for n in (r, s)])
    out = reshape(out, [r * s for r, s in zip(sizes, shape)])
    return out.clone() if out._view is not None else out  # all ones: still a view, but repeat always copies


def tile(x, *dims):
    dims = shape_tuple(dims, "tile")
    return repeat(x, *((1,) * (x.ndim - len(dims)) + dims))


def repeat_interleave(x, repeats=None, dim=None, *, output_size=None):
    """Each element repeated ``repeats`` times (an int, or a Tensor with one count per element) along
    ``dim`` (the flattened tensor by default). ``repeat_interleave(counts)`` repeats the indices."""
    if repeats is None:  # repeat_interleave(repeats): 0, 1, ... each repeated by its count
        counts = x
        if counts.ndim != 1 or dtypes.is_floating(counts.dtype):
            raise RuntimeError(f"repeat_interleave: repeats must be a 0-d or 1-d integer tensor, got "
                               f"{counts.dtype} of shape {tuple(counts.shape)}")
        return Tensor._make(_xp(counts, lambda xp: xp.repeat(xp.arange(counts.numel()), counts.array)),
                            counts._backend)
    if dim is None:
        x, dim = reshape(x, -1), 0
    dim = normalize_dim("repeat_interleave", dim, x.shape)
    x1 = _as_1d(x)
    size = x1.shape[dim]
    if isinstance(repeats, Tensor):
        if repeats.ndim > 1 or repeats.numel() not in (1, size) or dtypes.is_floating(repeats.dtype):
            raise RuntimeError(f"repeat_interleave: repeats must be 0-d or 1-d with one integer per element of dim "
                               f"{dim} (size {size}), got {repeats.dtype} of shape {tuple(repeats.shape)}")
        if repeats.numel() == 1:
            repeats = int(repeats.reshape(-1).array[0])
        else:
            if repeats.device.type == "cpu" and repeats.numel() and int(repeats.array.min()) < 0:
                raise RuntimeError("repeat_interleave: repeats can not be negative")
            index = Tensor._make(_xp(x, lambda xp: xp.repeat(xp.arange(size), repeats.array)), x._backend)
            return getitem(x1, (slice(None),) * dim + (index,))
    repeats = int(repeats)
    if repeats < 0:
        raise RuntimeError(f"repeat_interleave: repeats can not be negative, got {repeats}")
    shape = list(x1.shape)
    out = expand(unsqueeze(x1, dim + 1), shape[:dim + 1] + [repeats] + shape[dim + 1:])
    return flatten(out, dim, dim + 1)


# --- gathering and scattering along a dim -----------------------------------------------------------------------

def gather(x, dim, index, *, sparse_grad=False):
    """out[i][j][k] = x[index[i][j][k]][j][k] (for dim 0): values picked along ``dim``."""
    _check_index("gather", index, x)
    dim = normalize_dim("gather", dim, x.shape)
    _check_along("gather", x, dim, index)
    _check_bounds("gather", index, _as_1d(x).shape[dim], dim)
    if x.ndim == 0 or index.ndim == 0:
        return reshape(gather(_as_1d(x), 0, _as_1d(index)), index.shape)
    return getitem(x, _along(x, dim, index))  # GetItem: its backward is IndexAdd, a scatter-add


def take_along_dim(x, indices, dim=None):
    """gather with ``indices`` broadcast against x (all dims but ``dim``); without dim, on the flattened x."""
    _check_index("take_along_dim", indices, x, "indices", kinds=(dtypes.int64,))
    if dim is None:
        return gather(reshape(x, -1), 0, reshape(indices, -1))
    dim = normalize_dim("take_along_dim", dim, x.shape)
    if x.ndim != indices.ndim:
        raise RuntimeError(f"take_along_dim: input and indices should have the same number of dimensions, but got "
                           f"{x.ndim} dimensions for input {tuple(x.shape)}, and {indices.ndim} dimensions for "
                           f"indices {tuple(indices.shape)}; unsqueeze the indices to match")
    shape_x, shape_i = list(x.shape), list(indices.shape)
    shape_x[dim] = shape_i[dim] = 1
    common = broadcast_shapes(shape_x, shape_i)
    x_shape, i_shape = list(common), list(common)
    x_shape[dim], i_shape[dim] = x.shape[dim], indices.shape[dim]
    return gather(expand(x, x_shape), dim, expand(indices, i_shape))


def _scatter_args(op, x, dim, index, src):
    _check_index(op, index, x)
    dim = normalize_dim(op, dim, x.shape)
    _check_along(op, x, dim, index, src if isinstance(src, Tensor) else None)
    _check_bounds(op, index, _as_1d(x).shape[dim], dim)
    if isinstance(src, Tensor):
        if src.dtype != x.dtype:
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype, got {x.dtype} and "
                               f"{src.dtype}; convert src with .to({x.dtype})")
        if src._backend is not x._backend:
            raise RuntimeError(f"{op}: expected src on {x.device}, got {src.device}; move it with .to('{x.device}')")
    return dim


def scatter(x, dim, index, src=None, *, value=None, reduce=None):
    """A copy of x with x[index[i][j][k]][j][k] = src[i][j][k] (for dim 0); ``value`` writes one number;
    ``reduce`` ("add" or "multiply") combines with what is there instead of writing."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter() needs src (a tensor) or value (a number)")
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise RuntimeError(f"scatter: reduce argument must be either add or multiply, got {reduce!r}")
        if is_grad_enabled() and (x.requires_grad or getattr(src, "requires_grad", False)):
            raise RuntimeError(f"scatter: reduce={reduce!r} has no derivative (PyTorch's backward raises \"derivative "
                               f"for aten::scatter is not implemented\"); use scatter_reduce(dim, index, src, "
                               f"{'sum' if reduce == 'add' else 'prod'!r}), which has one, or call it under "
                               f"no_grad()")
        if isinstance(src, Tensor):
            warnings.warn("scatter: the reduce argument with a Tensor src is deprecated (as in PyTorch); use "
                          "scatter_reduce, which also has sum, prod, mean, amax and amin", UserWarning, stacklevel=2)
        else:
            src = _full(x, index.shape, src)
        return scatter_reduce(x, dim, index, src, "sum" if reduce == "add" else "prod")
    dim = _scatter_args("scatter", x, dim, index, src)
    if x.ndim == 0 or index.ndim == 0:
        src1 = _as_1d(src) if isinstance(src, Tensor) else src
        return reshape(scatter(_as_1d(x), 0, _as_1d(index), src1), x.shape)
    return IndexPut.apply(x, _crop(src, index.shape) if isinstance(src, Tensor) else src, index=_along(x, dim, index))


def _full(x, shape, value):
    return Tensor._make(_xp(x, lambda xp: xp.full(shape, value, dtype=x.dtype)), x._backend)


def scatter_(x, dim, index, src=None, *, value=None, reduce=None):
    return _inplace("scatter_", x, lambda old: scatter(old, dim, index, src, value=value, reduce=reduce), src)


def scatter_add(x, dim, index, src):
    """x with src[i][j][k] added at [index[i][j][k]][j][k] (for dim 0); repeated indices add up."""
    dim = _scatter_args("scatter_add", x, dim, index, src)
    if x.ndim == 0 or index.ndim == 0:
        return reshape(scatter_add(_as_1d(x), 0, _as_1d(index), _as_1d(src)), x.shape)
    added = IndexAdd.apply(_crop(src, index.shape), shape=tuple(x.shape), index=_along(x, dim, index))
    return x + added


def scatter_add_(x, dim, index, src):
    return _inplace("scatter_add_", x, lambda old: scatter_add(old, dim, index, src), src)


class ScatterReduce(Op):
    """x with each src element combined into its target along ``dim`` by ``reduce`` (sum, prod, mean, amax,
    amin), with or without the target's own value (``include_self``). Accumulates in float32 for
    float16/bfloat16 and rounds once; uses only add.at, maximum.at and minimum.at (CuPy has no multiply.at:
    a product is its sign times exp of the summed logs, with zeros counted apart)."""
    def forward(ctx, x, src, index, reduce, include_self):
        xp = ctx.xp
        ctx.index, ctx.reduce, ctx.include_self = index, reduce, include_self
        wide = dtypes.float32 if dtypes.is_low_precision(x.dtype) else \
            x.dtype if dtypes.is_floating(x.dtype) else dtypes.float64  # integers: exact in float64 up to 2**53
        out, src = x.astype(wide, copy=True), src.astype(wide, copy=False)
        hit = xp.zeros(x.shape, dtype=dtypes.bool_)
        hit[index] = True
        count = xp.zeros(x.shape, dtype=wide)  # how many src values land on each target
        xp.add.at(count, index, xp.ones(src.shape, dtype=wide))
        if reduce in ("amax", "amin"):
            if not include_self:
                out[index] = -xp.inf if reduce == "amax" else xp.inf
            (xp.maximum if reduce == "amax" else xp.minimum).at(out, index, src)
        elif reduce == "prod":
            logs, zero_count, negatives = (xp.zeros(x.shape, dtype=wide) for _ in range(3))
            xp.add.at(logs, index, xp.log(xp.abs(xp.where(src == 0, 1, src))))
            xp.add.at(zero_count, index, (src == 0).astype(wide))
            xp.add.at(negatives, index, (src < 0).astype(wide))
            product = xp.where(negatives % 2 == 1, -1, 1) * xp.exp(logs) * (zero_count == 0)
            out = xp.where(hit, (out if include_self else 1) * product, out)
            if not dtypes.is_floating(x.dtype):
                out = xp.rint(out)  # exp(sum of logs) of integers is off by rounding
        else:  # sum, mean
            if not include_self:
                out[index] = 0
            xp.add.at(out, index, src)
            if reduce == "mean":
                out = xp.where(hit, out / (count + include_self), out)
        out = out.astype(x.dtype, copy=False)
        ctx.save_for_backward(x, src.astype(x.dtype, copy=False), out, hit, count.astype(x.dtype, copy=False))
        return out
    def backward(ctx, grad):
        x, src, out, hit, count = ctx.saved_tensors
        index, reduce, keep = ctx.index, ctx.reduce, ctx.include_self
        if reduce in ("sum", "mean"):
            share = grad / (count + keep).clamp(min=1) if reduce == "mean" else grad
            grad_x, grad_src = share, share[index]
        elif reduce == "prod":  # d out / d v = the product of the others: out / v, with zeros handled apart
            def product(x, src):
                return ScatterReduce.apply(x, src, index=index, reduce="prod", include_self=keep)
            nonzero_x = _where3(x == 0, 1.0, x)
            grad_x = grad * product(nonzero_x, src) / nonzero_x
            src_zero = src == 0  # a lone zero among a target's inputs: the others' product; two or more: 0
            zeros = IndexAdd.apply(src_zero.to(grad.dtype), shape=tuple(out.shape), index=index)
            lone_zero = src_zero & (zeros[index] == 1)
            grad_src = _where3(lone_zero, (grad * product(x, _where3(lone_zero, 1.0, src)))[index],
                               (grad * out)[index] / _where3(src_zero, 1.0, src))
        else:  # amax/amin: shared evenly by x's value and the src values equal to the result (PyTorch's rule)
            self_ties = (x == out).to(grad.dtype)
            src_ties = (src == out[index]).to(grad.dtype)
            share = grad / (self_ties + IndexAdd.apply(src_ties, shape=tuple(out.shape), index=index))
            grad_x, grad_src = self_ties * share, share[index] * src_ties
        if not keep:  # the targets' own values were overwritten
            grad_x = _where3(hit, 0.0, grad_x)
        return grad_x, grad_src


def scatter_reduce(x, dim, index, src, reduce, *, include_self=True):
    """x with src's values combined into x at index along ``dim``: "sum", "prod", "mean", "amax" or "amin";
    without ``include_self`` the targets' own values are left out of the combination."""
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)  # PyTorch takes the old names too
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(f"scatter_reduce(): reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce!r}")
    dim = _scatter_args("scatter_reduce", x, dim, index, src)
    if x.ndim == 0 or index.ndim == 0:
        return reshape(scatter_reduce(_as_1d(x), 0, _as_1d(index), _as_1d(src), reduce, include_self=include_self),
                       x.shape)
    if reduce == "sum" and include_self:
        return scatter_add(x, dim, index, src)
    if not dtypes.is_floating(x.dtype) and reduce == "mean":
        raise NotImplementedError("scatter_reduce: reduce='mean' of integer tensors is not supported; use a "
                                  "floating dtype")
    return ScatterReduce.apply(x, _crop(src, index.shape), index=_along(x, dim, index), reduce=reduce,
                               include_self=include_self)


def scatter_reduce_(x, dim, index, src, reduce, *, include_self=True):
    return _inplace("scatter_reduce_", x,
                    lambda old: scatter_reduce(old, dim, index, src, reduce, include_self=include_self), src)


def take(x, index):
    """Elements of the flattened x at ``index`` (negative indices count from the end), in index's shape."""
    _check_index("take", index, x, kinds=(dtypes.int64,))
    _check_bounds("take", index, x.numel(), 0, negative_ok=True, error=IndexError)
    return getitem(reshape(x, -1), (index,))


def put(x, index, source, accumulate=False):
    """A copy of x with source's elements written (or added) at the flat positions ``index``."""
    _check_index("put", index, x, kinds=(dtypes.int64,))
    if index.numel() != source.numel():
        raise IndexError(f"put_(): Expected source and index to have the same number of elements, but got "
                         f"source.numel() = {source.numel()}, index.numel() = {index.numel()}")
    if source.dtype != x.dtype:
        raise RuntimeError(f"put_(): self and source expected to have the same dtype, but got self.dtype = "
                           f"{x.dtype} and source.dtype = {source.dtype}; convert source with .to({x.dtype})")
    _check_bounds("put", index, x.numel(), 0, negative_ok=True, error=IndexError)
    flat, values, where_ = reshape(x, -1), reshape(source, -1), (reshape(index, -1).array,)
    if accumulate:
        return reshape(flat + IndexAdd.apply(values, shape=(x.numel(),), index=where_), x.shape)
    return reshape(IndexPut.apply(flat, values, index=where_), x.shape)


def put_(x, index, source, accumulate=False):
    return _inplace("put_", x, lambda old: put(old, index, source, accumulate), source)


# --- indexing along one dim ---------------------------------------------------------------------------------------

def _dim_index(op, x, dim, index, kinds=_INDEX_DTYPES, error=RuntimeError):
    _check_index(op, index, x, kinds=kinds, error=error)
    if index.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector (0-d or 1-d), got shape {tuple(index.shape)}")
    dim = normalize_dim(op, dim, x.shape)
    _check_bounds(op, index, _as_1d(x).shape[dim], dim)
    return dim, (slice(None),) * dim + (_as_1d(index).array,)


def index_select(x, dim, index):
    """The slices of x along ``dim`` at the positions in the 1-d ``index`` (repeats allowed)."""
    dim, where_ = _dim_index("index_select", x, dim, index)
    if x.ndim == 0:
        return reshape(getitem(reshape(x, 1), where_), ())
    return getitem(x, where_)


def index_add(x, dim, index, source, *, alpha=1):
    """x with source's slices (times alpha) added to x's slices at ``index`` along ``dim``."""
    dim, where_ = _dim_index("index_add", x, dim, index)
    _check_source("index_add", x, dim, index, source)
    if alpha != 1:
        source = source * alpha
    if x.ndim == 0:
        return reshape(index_add(reshape(x, 1), 0, index, reshape(source, 1)), ())
    return x + IndexAdd.apply(source, shape=tuple(x.shape), index=where_)


def index_add_(x, dim, index, source, *, alpha=1):
    return _inplace("index_add_", x, lambda old: index_add(old, dim, index, source, alpha=alpha), source)


def _check_source(op, x, dim, index, source):
    expected = list(_as_1d(x).shape)
    expected[dim] = _as_1d(index).numel()
    if list(_as_1d(source).shape) != expected or (source.ndim != x.ndim and source.numel() != 1):
        raise RuntimeError(f"{op}(): source {tuple(source.shape)} must have the shape of self {tuple(x.shape)} with "
                           f"dim {dim} of the index's length {index.numel()}: {tuple(expected)}")
    if source.dtype != x.dtype:
        raise RuntimeError(f"{op}(): self ({x.dtype}) and source ({source.dtype}) must have the same scalar type; "
                           f"convert source with .to({x.dtype})")


def index_copy(x, dim, index, source):
    """x with its slices at ``index`` along ``dim`` replaced by source's."""
    dim, where_ = _dim_index("index_copy", x, dim, index, kinds=(dtypes.int64,))
    _check_source("index_copy", x, dim, index, source)
    if x.ndim == 0:
        return reshape(IndexPut.apply(reshape(x, 1), reshape(source, 1), index=where_), ())
    return IndexPut.apply(x, source, index=where_)


def index_copy_(x, dim, index, source):
    return _inplace("index_copy_", x, lambda old: index_copy(old, dim, index, source), source)


def index_fill(x, dim, index, value):
    """x with its slices at ``index`` along ``dim`` set to ``value`` (a number or a 0-d tensor)."""
    dim, where_ = _dim_index("index_fill", x, dim, index, kinds=(dtypes.int64,), error=IndexError)
    value = _value_like("index_fill", value, x)
    if isinstance(value, Tensor):  # each slice filled once: a repeated index must not count value's gradient twice
        where_ = where_[:-1] + (_xp(x, lambda xp: xp.unique(where_[-1])),)
    if x.ndim == 0:
        return reshape(IndexPut.apply(reshape(x, 1), value, index=where_), ())
    return IndexPut.apply(x, value, index=where_)


def index_fill_(x, dim, index, value):
    return _inplace("index_fill_", x, lambda old: index_fill(old, dim, index, value), value)


def index_put(x, indices, values, accumulate=False):
    """A copy of x with x[indices] = values (or += with ``accumulate``, repeated indices adding up)."""
    indices = tuple(indices)
    if len(indices) > x.ndim:
        raise IndexError(f"index_put: too many indices for tensor of dimension {x.ndim} (got {len(indices)})")
    for i in indices:
        if not isinstance(i, Tensor) or not (i.dtype in (dtypes.int64, dtypes.int32, dtypes.bool_, dtypes.uint8)):
            raise IndexError(f"index_put: tensors used as indices must be long, int, byte or bool tensors, got "
                             f"{getattr(i, 'dtype', type(i).__name__)}")
    if values.dtype != x.dtype:
        raise RuntimeError(f"index_put: Index put requires the source and destination dtypes match, got {x.dtype} "
                           f"for the destination and {values.dtype} for the source; convert with .to({x.dtype})")
    where_ = _index(x, indices)  # index tensors on another device are copied over, as x[indices] does
    if accumulate:
        picked = getitem(x, indices)  # also checks the indices, as x[indices] would
        return x + IndexAdd.apply(values.expand(picked.shape), shape=tuple(x.shape), index=where_)
    try:  # the op x[indices] = values records
        return IndexPut.apply(x, values, index=where_)
    except IndexError as e:
        raise IndexError(f"index_put: {e} (tensor of shape {tuple(x.shape)})") from None


def index_put_(x, indices, values, accumulate=False):
    return _inplace("index_put_", x, lambda old: index_put(old, indices, values, accumulate), values)


# --- masks -----------------------------------------------------------------------------------------------------------

def _check_mask(op, mask, x):
    if not isinstance(mask, Tensor) or mask.dtype != dtypes.bool_:
        raise RuntimeError(f"{op}: expected mask to be a bool tensor, got "
                           f"{mask.dtype if isinstance(mask, Tensor) else type(mask).__name__}; use mask.bool()")
    if mask._backend is not x._backend:
        raise RuntimeError(f"{op}: expected the mask on {x.device}, got {mask.device}; move it with "
                           f".to('{x.device}')")


def masked_fill(x, mask, value):
    """x with ``value`` (a number or a 0-d tensor) where ``mask`` (broadcast against x) is True."""
    _check_mask("masked_fill", mask, x)
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s)")
    if isinstance(value, Tensor):
        value = value.to(x.dtype) if value.dtype != x.dtype else value
    elif isinstance(value, float) and not dtypes.is_floating(x.dtype) and not value.is_integer():
        value = int(value)
    if not isinstance(value, Tensor):
        value = Tensor._make(_xp(x, lambda xp: xp.asarray(value, dtype=x.dtype)), x._backend)
    return _where3(mask, value, x)


def masked_fill_(x, mask, value):
    if tuple(broadcast_shapes(mask.shape, x.shape)) != tuple(x.shape):
        raise RuntimeError(f"masked_fill_: the mask {tuple(mask.shape)} must broadcast to the tensor's shape "
                           f"{tuple(x.shape)}")
    return _inplace("masked_fill_", x, lambda old: masked_fill(old, mask, value), value)


def masked_select(x, mask):
    """The elements of x where ``mask`` (broadcast with x) is True, as a 1-d tensor."""
    _check_mask("masked_select", mask, x)
    shape = broadcast_shapes(x.shape, mask.shape)
    return getitem(expand(x, shape), (expand(mask, shape).array,))


def masked_scatter(x, mask, source):
    """x with the elements where ``mask`` is True replaced by source's first elements, in order."""
    _check_mask("masked_scatter", mask, x)
    if source.dtype != x.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have the same dtype, got {x.dtype} and "
                           f"{source.dtype}")
    shape = broadcast_shapes(x.shape, mask.shape)
    picked = expand(mask, shape).array
    count = int(picked.sum())  # the mask's True count comes to the host (PyTorch reads it too)
    if count > source.numel():
        raise RuntimeError(f"masked_scatter: expected source to have at least {count} elements (the mask's "
                           f"True count), got {source.numel()}")
    values = narrow(reshape(source, -1), 0, 0, count)
    return IndexPut.apply(expand(x, shape), values, index=(picked,))


def masked_scatter_(x, mask, source):
    return _inplace("masked_scatter_", x, lambda old: masked_scatter(old, mask, source), source)


def nonzero(x, *, as_tuple=False):
    """The indices of the non-zero elements: an (n, ndim) int64 tensor, or one 1-d tensor per dim."""
    coords = _xp(x, lambda xp: xp.nonzero(x.array if x.ndim else x.array.reshape(1)))
    coords = [c.astype(dtypes.int64, copy=False) for c in coords]
    if as_tuple:
        return tuple(Tensor._make(c, x._backend) for c in coords)
    if x.ndim == 0:
        return Tensor._make(_xp(x, lambda xp: xp.zeros((len(coords[0]), 0), dtype=dtypes.int64)), x._backend)
    return Tensor._make(_xp(x, lambda xp: xp.stack(coords, axis=1)), x._backend)


def argwhere(x):
    return nonzero(x)


def where(condition, input=None, other=None):
    """``where(condition, input, other)``: elements of input where condition holds, else other's;
    ``where(condition)`` is ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    return _where3(condition, input, other)


# --- triangles and diagonals ---------------------------------------------------------------------------------------

def _triangle(op, x, diagonal, lower):
    if x.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions, got shape {tuple(x.shape)}")
    n, m = x.shape[-2:]
    keep = _xp(x, lambda xp: xp.tri(n, m, diagonal if lower else diagonal - 1, dtype=dtypes.bool_))
    keep = Tensor._make(keep if lower else ~keep, x._backend)
    zero = Tensor._make(_xp(x, lambda xp: xp.zeros((), dtype=x.dtype)), x._backend)
    return _where3(keep, x, zero)


def tril(x, diagonal=0):
    """The lower triangle of the last two dims (on and below ``diagonal``); the rest zero."""
    return _triangle("tril", x, diagonal, True)


def triu(x, diagonal=0):
    """The upper triangle of the last two dims (on and above ``diagonal``); the rest zero."""
    return _triangle("triu", x, diagonal, False)


def tril_(x, diagonal=0):
    return _inplace("tril_", x, lambda old: tril(old, diagonal))


def triu_(x, diagonal=0):
    return _inplace("triu_", x, lambda old: triu(old, diagonal))


def _triangle_indices(op, row, col, offset, dtype, device, lower):
    dtype = dtypes.to_dtype(dtype) or dtypes.int64
    if dtype not in (dtypes.int64, dtypes.int32):
        raise RuntimeError(f"{op}: dtype must be int64 or int32, got {dtype}")
    if row < 0 or col < 0:
        raise RuntimeError(f"{op}: row and col must be non-negative, got row={row}, col={col}")
    backend = _device_backend(device)
    with backend.errstate():
        xp = backend.xp
        rows, cols = (xp.tril_indices if lower else xp.triu_indices)(row, offset, col)
        return Tensor._make(xp.stack((rows, cols)).astype(dtype), backend)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (row, col) coordinates of the lower triangle of a row x col matrix, as a (2, n) tensor."""
    return _triangle_indices("tril_indices", row, col, offset, dtype, device, True)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _triangle_indices("triu_indices", row, col, offset, dtype, device, False)


def _plane(op, x, dim1, dim2, new=False):
    shape = tuple(x.shape) + ((1,) if new else ())
    d1, d2 = normalize_dim(op, dim1, shape), normalize_dim(op, dim2, shape)
    if d1 == d2:
        raise RuntimeError(f"{op}: diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


def diagonal(x, offset=0, dim1=0, dim2=1):
    """A view of the diagonal at ``offset`` of the planes (dim1, dim2), appended as the last dim."""
    d1, d2 = _plane("diagonal", x, dim1, dim2)  # a 0-d or 1-d x has no dim 1: IndexError, as in PyTorch
    return Diagonal.apply(x, offset=int(offset), dim1=d1, dim2=d2)


def diag_embed(x, offset=0, dim1=-2, dim2=-1):
    """Matrices (in the planes dim1, dim2 of the result) with x's last dim on the diagonal at ``offset``."""
    d1, d2 = _plane("diag_embed", x, dim1, dim2, new=True)
    if x.ndim == 0:
        raise RuntimeError("diag_embed: input must have at least 1 dimension, got a 0-d tensor")
    n = x.shape[-1] + abs(offset)
    shape = list(x.shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, n)
    return DiagonalScatter.apply(x, shape=tuple(shape), offset=int(offset), dim1=d1, dim2=d2)


def diag(x, diagonal=0):
    """A 1-d x as the diagonal of a square matrix; of a 2-d x, its diagonal (as a 1-d tensor)."""
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim == 2:
        return x.diagonal(diagonal).clone()  # a copy, as PyTorch's diag (the method: the argument hides the function)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D (shape {tuple(x.shape)})")


def diagflat(x, offset=0):
    return diag_embed(reshape(x, -1), offset)


def trace(x):
    """The sum of the main diagonal of a matrix."""
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim} (shape {tuple(x.shape)})")
    return diagonal(x).sum()


# --- moving and merging dims ------------------------------------------------------------------------------------------

def movedim(x, source, destination):
    """x with the dims ``source`` moved to positions ``destination`` (the others keep their order): a view."""
    src = tuple(source) if isinstance(source, (list, tuple)) else (source,)
    dst = tuple(destination) if isinstance(destination, (list, tuple)) else (destination,)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
                           f"contain the same number of dims as destination ({list(dst)} dims)")
    src = [normalize_dim("movedim", d, x.shape) for d in src]
    dst = [normalize_dim("movedim", d, x.shape) for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in source {list(src)} or destination {list(dst)}")
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, *order) if x.ndim else permute(x)


moveaxis = movedim


def swapaxes(x, axis0, axis1):
    return transpose(x, axis0, axis1)


swapdims = swapaxes


def unflatten(x, dim, sizes):
    """``dim`` split into the dims ``sizes`` (one may be -1)."""
    dim = normalize_dim("unflatten", dim, x.shape)
    sizes = tuple(sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    if x.ndim == 0:
        raise RuntimeError("unflatten: a 0-d tensor has no dim to unflatten")
    known = math.prod(s for s in sizes if s != -1)
    if sizes.count(-1) > 1 or (-1 not in sizes and known != x.shape[dim]) or \
            (-1 in sizes and (known == 0 or x.shape[dim] % known)):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
                           f"({x.shape[dim]}) in the input tensor")
    sizes = tuple(x.shape[dim] // known if s == -1 else s for s in sizes)  # resolved here: other dims may be 0
    return reshape(x, x.shape[:dim] + sizes + x.shape[dim + 1:])


def ravel(x):
    return reshape(x, -1)


# --- stacking -------------------------------------------------------------------------------------------------

def atleast_1d(*tensors):
    return _atleast(tensors, lambda t: reshape(t, 1) if t.ndim == 0 else t)


def atleast_2d(*tensors):
    return _atleast(tensors, lambda t: reshape(t, (1,) * (2 - t.ndim) + tuple(t.shape)) if t.ndim < 2 else t)


def atleast_3d(*tensors):
    def three(t):
        if t.ndim == 0:
            return reshape(t, 1, 1, 1)
        if t.ndim == 1:
            return reshape(t, 1, -1, 1)
        return unsqueeze(t, -1) if t.ndim == 2 else t
    return _atleast(tensors, three)


def _atleast(tensors, fn):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(fn(t) for t in tensors[0])
    return fn(tensors[0]) if len(tensors) == 1 else tuple(fn(t) for t in tensors)


def hstack(tensors):
    tensors = atleast_1d(list(tensors))
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat(atleast_2d(list(tensors)), 0)


row_stack = vstack


def dstack(tensors):
    return cat(atleast_3d(list(tensors)), 2)


def column_stack(tensors):
    return cat([reshape(t, -1, 1) if t.ndim <= 1 else t for t in tensors], 1)


# --- broadcasting and products of index sets -------------------------------------------------------------------

def broadcast_shapes(*shapes):
    """The shape the given shapes broadcast to (PyTorch's rules), as a Size."""
    shapes = [(s,) if isinstance(s, numbers.Integral) else tuple(s) for s in shapes]
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s, ndim - len(s)):
            if n < 0:
                raise RuntimeError(f"broadcast_shapes: Trying to create tensor with negative dimension {n}: {list(s)}")
            if n != 1 and out[i] not in (1, n):
                raise RuntimeError(f"shape mismatch: objects cannot be broadcast to a single shape: {shapes}; the "
                                   f"sizes {out[i]} and {n} at dim {i} differ and neither is 1")
            out[i] = n if n != 1 else out[i]
    return Size(out)


def broadcast_tensors(*tensors):
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-d tensors: "ij" (matrix) or "xy" (Cartesian: the first two dims swapped)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"meshgrid: indexing must be one of 'xy' or 'ij', but received: {indexing}")
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"meshgrid: Expected 0D or 1D tensor in the tensor list but got shape "
                               f"{tuple(t.shape)}")
        if t.dtype != tensors[0].dtype or t.device != tensors[0].device:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype and device")
    ts = [reshape(t, -1) for t in tensors]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = [t.shape[0] for t in ts]
    grids = [expand(reshape(t, [-1 if i == j else 1 for j in range(len(ts))]), shape) for i, t in enumerate(ts)]
    if swap:  # the grids of the swapped inputs, back in the order given
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cartesian_prod(*tensors):
    """Every combination of one element from each 1-d tensor, as rows (itertools.product's order)."""
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"cartesian_prod: Expect a 1D vector, but got shape {tuple(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([reshape(g, -1) for g in meshgrid(*tensors, indexing="ij")], 1)


def combinations(x, r=2, with_replacement=False):
    """The length-``r`` combinations of a 1-d tensor's elements (itertools' order), as rows."""
    if x.ndim != 1:
        raise RuntimeError(f"combinations: Expect a 1D vector, but got shape {tuple(x.shape)}")
    if r < 0:
        raise RuntimeError(f"combinations: Expect a non-negative number, but got {r}")
    if r == 0:
        return Tensor._make(_xp(x, lambda xp: xp.zeros((0,), dtype=x.dtype)), x._backend)
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = list(pick(range(x.shape[0]), r))
    if not rows:
        return Tensor._make(_xp(x, lambda xp: xp.zeros((0, r), dtype=x.dtype)), x._backend)
    index = Tensor._make(_xp(x, lambda xp: xp.asarray(rows, dtype=dtypes.int64)), x._backend)
    return getitem(x, (index.array,))


def block_diag(*tensors):
    """The tensors (0-d, 1-d as rows, 2-d) as the blocks of a block-diagonal matrix, zeros elsewhere."""
    if not tensors:  # no blocks: a 1 x 0 matrix, as in PyTorch
        return zeros(1, 0)
    blocks = []
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                               f"{t.ndim} dimensions")
        blocks.append(reshape(t, (1,) * (2 - t.ndim) + tuple(t.shape)))
    dtype = dtypes.result_type(*blocks)
    blocks = [b.to(dtype) for b in blocks]
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:  # each block between zeros to its left and right
        def pad(n, b=b):
            return Tensor._make(_xp(b, lambda xp: xp.zeros((b.shape[0], n), dtype=dtype)), b._backend)
        rows.append(cat([pad(left), b, pad(width - left - b.shape[1])], 1))
        left += b.shape[1]
    return cat(rows, 0)
