"""Arguments shared by the spatial ops (convolution, pooling, padding): PyTorch's "an int or a
tuple of n ints" for kernel_size, stride, padding and dilation."""

import operator


def ntuple(op, name, value, n):
    """``value`` as a tuple of ``n`` ints: an int is repeated, a sequence must have ``n`` entries."""
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            value = tuple(value) * n
        if len(value) != n:
            raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {tuple(value)}")
        return tuple(_int(op, name, v) for v in value)
    return (_int(op, name, value),) * n


def _int(op, name, v):
    if isinstance(v, bool) or not hasattr(type(v), "__index__"):
        raise TypeError(f"{op}: {name} must contain ints, got {type(v).__name__} {v!r}")
    return operator.index(v)
