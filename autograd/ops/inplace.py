"""In-place updates: the memory changes, the version counter records it.

An in-place op is computed out of place and its result written into the tensor's own
memory, so every view of that memory sees it. With a graph, the tensor takes the
result's history (PyTorch "rebases" it the same way); a view's base gets a
``CopySlices`` node instead, which routes the gradient of the written region to the
new values and the rest to the base's old history. Bumping the shared version counter
makes every op that saved the old contents refuse to backward.
"""

import numbers

from .. import dtypes
from ..function import Op, linear_jvp
from ..grad_mode import is_grad_enabled, no_grad


class CopySlices(Op):
    """The base after an in-place op on one of its views: ``base`` with the view's elements
    (at flat ``positions``) replaced by ``value``. The data is already in place; this node
    only records where the gradient goes."""
    def forward(ctx, base, value, positions):
        ctx.positions, ctx.shape = positions, base.shape
        return base
    def backward(ctx, grad):
        flat = grad.reshape(-1)
        index = (ctx.positions,)
        grad_base = IndexPut.apply(flat, 0.0, index=index).reshape(ctx.shape) if ctx.needs_input_grad[0] else None
        return grad_base, (GetItem.apply(flat, index=index) if ctx.needs_input_grad[1] else None)
    jvp = linear_jvp


def check_leaf(t, op):
    if not is_grad_enabled():
        return
    if t.requires_grad and t.grad_fn is None:
        raise RuntimeError(
            f"{op}: a leaf tensor that requires grad (shape {tuple(t.shape)}) is being used in an in-place "
            f"operation. Wrap the update in `with ag.no_grad():` (as optimizers do), or work on a copy: "
            f"t = t.clone()")
    base = t._view[0] if t._view is not None else None
    if base is not None and base.requires_grad and base.grad_fn is None:
        raise RuntimeError(
            f"{op}: a view (shape {tuple(t.shape)}) of a leaf tensor that requires grad (shape "
            f"{tuple(base.shape)}) is being used in an in-place operation. Wrap the update in "
            f"`with ag.no_grad():`, or clone the leaf first: t = leaf.clone()")


def check_writable(t, op):
    """Refuse to write where several elements share one memory location (an expanded tensor)."""
    if t.array.size <= 1:
        return
    for size, stride in zip(t.array.shape, t.array.strides):
        if stride == 0 and size > 1:
            raise RuntimeError(
                f"{op}: more than one element of the written-to tensor (shape {tuple(t.shape)}, made by expand "
                f"or broadcast_to) refers to a single memory location; .clone() the tensor before writing to it")


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
    check_writable(t, op)
    if bump:
        t._version[0] += 1
    t.array[...] = result.array
    if result._tangent is not None or t._tangent is not None:  # forward-mode AD: the tangent is written too
        _write_tangent(t, result)
    if result.grad_fn is not None:
        if t._view is None:
            t.grad_fn, t._requires_grad, t._output_nr = result.grad_fn, True, result._output_nr
        else:
            _rewrite_base_history(t, result)
    return t


def _write_tangent(t, result):
    """The in-place result's tangent becomes t's; through a view, it is written into the base's
    tangent at the view's elements too (PyTorch keeps a view's tangent a view of its base's)."""
    t._tangent = result._tangent
    if t._view is None:
        return
    base = t._view[0]
    level = (result._tangent or base._tangent)[0]
    new = result._tangent[1] if result._tangent is not None else zeros_like(result)
    old = base._tangent[1] if base._tangent is not None else zeros_like(base)
    with no_grad():
        positions = t._view[1](arange(base.numel(), device=base.device).reshape(base.shape)).array
    base._tangent = (level, IndexPut.apply(old.reshape(-1), new.reshape(-1), index=(positions.reshape(-1),))
                     .reshape(base.shape))


def _rewrite_base_history(view, result):
    """PyTorch's CopySlices: the view's base now comes from CopySlices(old base, result)."""
    base, make, _ = view._view
    with no_grad():  # where the view's elements sit in the base, found by viewing their flat indices
        positions = make(arange(base.numel(), device=base.device).reshape(base.shape)).array
    new_base = CopySlices.apply(_alias(base), result, positions=positions)
    base.grad_fn, base._requires_grad, base._output_nr = new_base.grad_fn, True, 0
    view._refresh_view()


def apply_inplace(t, fn, other, op):
    """``t = fn(t, other)`` in place. When a graph may record ``fn``, it reads a private copy of
    t's old contents: what it saves for backward must not change when the result is written
    into t's memory (PyTorch saves "original self" the same way)."""
    check_leaf(t, op)
    if t._view is not None and is_grad_enabled():
        t._refresh_view()
    recording = is_grad_enabled() and (t.requires_grad or getattr(other, "requires_grad", False))
    old = _alias(t, copy=recording)
    return inplace(t, fn(old, old if other is t else other), op)  # y.mul_(y) too


def _alias(t, copy=False):
    """A tensor for t's current contents and history (its own memory when ``copy``)."""
    alias = Tensor._make(t.array.copy() if copy else t.array, t._backend, t._requires_grad, t.grad_fn)
    alias._output_nr = t._output_nr
    if not copy:
        alias._version = t._version
    alias._tangent = t._tangent
    return alias


def fill(t, value, op="fill_"):
    from .arithmetic import where
    dual = is_grad_enabled() and (t._tangent is not None or getattr(value, "_tangent", None) is not None)
    if not (is_grad_enabled() and (t.requires_grad or getattr(value, "requires_grad", False))) and not dual:
        check_leaf(t, op)
        check_writable(t, op)
        if not hasattr(value, "array") and not isinstance(value, numbers.Number):
            value = t._backend.asarray(value, t.dtype)  # host data (copy_(np.ones(3))): CuPy takes only its own
        t.array[...] = value.array if hasattr(value, "array") else value
        t._version[0] += 1
        return t
    # where(False, t, value): the data of value, a zero gradient for t's old contents
    return inplace(t, where(zeros(t.shape, dtype=dtypes.bool_, device=t.device), t, value), op)


from ..tensor import Tensor, arange, zeros, zeros_like  # noqa: E402
from .shape import GetItem, IndexPut  # noqa: E402
