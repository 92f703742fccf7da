"""In-place updates: the array changes, the version counter records it.

An in-place op is computed out of place and then written back. Without a graph the
result is copied into the tensor's own array (views see it). With a graph the tensor
takes the result's place in it (PyTorch "rebases" history the same way), and its old
version counter is bumped so any op that saved the old contents refuses to backward.
"""

from .. import dtypes
from ..grad_mode import is_grad_enabled


def check_leaf(t, op):
    if t.requires_grad and t.grad_fn is None and is_grad_enabled():
        raise RuntimeError(
            f"{op}: a leaf tensor that requires grad (shape {tuple(t.shape)}) is being used in an in-place "
            f"operation. Wrap the update in `with ag.no_grad():` (as optimizers do), or work on a copy: "
            f"t = t.clone()")


def inplace(t, result, op, bump=True):
    """Make ``result`` (computed out of place) the new contents of ``t``."""
    check_leaf(t, op)
    if result.shape != t.shape:
        raise RuntimeError(f"{op}: the result has shape {tuple(result.shape)} but an in-place op must keep the "
                           f"tensor's shape {tuple(t.shape)}; use the out-of-place op instead")
    if result.dtype != t.dtype:
        if dtypes.category(result.dtype) > dtypes.category(t.dtype):
            raise RuntimeError(f"{op}: result type {result.dtype} can't be cast to the tensor's dtype {t.dtype} "
                               f"in place; use the out-of-place op, or convert the tensor first (t.float())")
        result = result.to(t.dtype)
    if bump:
        t._version[0] += 1
    if result.grad_fn is None:
        t.array[...] = result.array
    else:
        t.array, t._version = result.array, result._version
        t.grad_fn, t._requires_grad = result.grad_fn, True
    return t


def apply_inplace(t, fn, other, op):
    # bump first: nodes that saved t before now refuse to backward, while the node fn records
    # (y.mul_(w) saves y) sees the version it really read. fn reads an alias of t, so what it
    # saves keeps the old array and node when t takes the result's place.
    check_leaf(t, op)
    t._version[0] += 1
    try:
        old = _alias(t)
        return inplace(t, fn(old, old if other is t else other), op, bump=False)  # y.mul_(y) too
    except Exception:
        t._version[0] -= 1  # refused before anything was changed
        raise


def _alias(t):
    """A tensor for t's current contents: same array, same node, same version counter."""
    from ..tensor import Tensor
    alias = Tensor._make(t.array, t._backend, t._requires_grad, t.grad_fn)
    alias._version = t._version
    return alias


def fill(t, value, op="fill_"):
    from .arithmetic import where
    from ..tensor import zeros
    if not (is_grad_enabled() and (t.requires_grad or getattr(value, "requires_grad", False))):
        check_leaf(t, op)
        t.array[...] = value.array if hasattr(value, "array") else value
        t._version[0] += 1
        return t
    # where(False, t, value): the data of value, a zero gradient for t's old contents
    return inplace(t, where(zeros(t.shape, dtype=dtypes.bool_, device=t.device), t, value), op)
