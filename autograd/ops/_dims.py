"""Dim arguments: the one normaliser every op that takes a dim goes through.

PyTorch's rules: negative dims count from the end; a 0-d tensor accepts 0 and -1; a dim
out of range raises IndexError with "Dimension out of range (expected to be in range of
[-2, 1], but got 2)", which here is prefixed with the op and followed by the shape.
"""

import operator


def normalize_dim(op, dim, shape, new=False):
    """``dim`` as an axis in [0, ndim). With ``new`` it is the position of a dim being
    inserted (unsqueeze, stack), so it may also be ndim."""
    if type(dim) is not int:
        dim = _as_int(op, dim)
    ndim = len(shape)
    size = ndim + 1 if new else max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-size}, {size - 1}], but got "
                         f"{dim}) for the {ndim} dims of shape {tuple(shape)}; negative dims count from the end")
    return dim % size


def normalize_dims(op, dim, shape):
    """``dim`` (None, an int or a sequence of ints) as a sorted tuple of axes; None means all.
    A 0-d tensor has nothing to reduce: its (valid) dims give ()."""
    if dim is None:
        return tuple(range(len(shape)))
    dims = (dim,) if not isinstance(dim, (tuple, list)) else dim
    axes = [normalize_dim(op, d, shape) for d in dims]
    if len(set(axes)) != len(axes):
        repeated = next(d for d in axes if axes.count(d) > 1)
        raise RuntimeError(f"{op}: dim {repeated} appears multiple times in the list of dims {list(dims)} (shape "
                           f"{tuple(shape)}); list each dim once")
    return tuple(sorted(axes)) if shape else ()


def _as_int(op, dim):
    # a Python int, a NumPy integer or a one-element integer Tensor; bool and float are refused, as in PyTorch
    if isinstance(dim, bool) or not hasattr(type(dim), "__index__"):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__} {dim!r}")
    return operator.index(dim)
