"""Forward-mode AD with dual numbers, PyTorch's ``torch.autograd.forward_ad``::

    with forward_ad.dual_level():
        x = forward_ad.make_dual(primal, tangent)     # x = primal + tangent * eps, eps ** 2 = 0
        y = f(x)
        jvp = forward_ad.unpack_dual(y).tangent       # J_f(primal) @ tangent, in one forward pass

A tangent lives in its tensor's ``_tangent`` slot as ``(level, tangent)``. While a level is open,
``Op.apply`` hands every op to ``function.dual_apply``, which runs the op on the primals and its
``jvp`` rule on the tangents; with no level open that costs one check of ``function.jvp_hook``.
As in PyTorch, one level at a time (no nesting); leaving it forgets every tangent made in it.
"""

import functools
from collections import namedtuple

from . import dtypes, function
from .tensor import Tensor

_level = None   # the open dual level, or None
_count = 0      # levels opened so far: each gets a new number, so old tangents never come back

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])


def enter_dual_level():
    """Open a dual level and return its number (``dual_level()`` is the context manager form)."""
    global _level, _count
    if _level is not None:
        raise RuntimeError("enter_dual_level: nested forward mode AD is not supported (a dual level is already "
                           "open); leave it with exit_dual_level() first")
    _count += 1
    _level = _count
    function.jvp_hook = functools.partial(function.dual_apply, level=_level)
    return _level


def exit_dual_level(*, level=None):
    """Close the open dual level; the tangents made in it are forgotten."""
    global _level
    if _level is None or (level is not None and level != _level):
        raise RuntimeError(f"exit_dual_level: trying to exit dual level {level}, but the open level is {_level}; "
                           f"levels are left in the order they were entered")
    _level = None
    function.jvp_hook = None


class dual_level:
    """Context manager (and decorator) for a dual level: ``with dual_level(): ...``."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def inside(*args, **kwargs):
            with dual_level():
                return fn(*args, **kwargs)
        return inside


def _check_level(name, level):
    if _level is None:
        raise RuntimeError(f"{name}: trying to create a dual tensor for forward AD but no dual level is open; "
                           f"use `with forward_ad.dual_level():` (or enter_dual_level()) first")
    if level is not None and level != _level:
        raise RuntimeError(f"{name}: level {level} is not the open dual level {_level}")


def _plain_alias(tensor):
    """A view of ``tensor`` (differentiable in reverse mode) that carries no tangent."""
    hook, function.jvp_hook = function.jvp_hook, None
    try:
        return tensor.view_as(tensor)
    finally:
        function.jvp_hook = hook


def make_dual(tensor, tangent, *, level=None):
    """A view of ``tensor`` carrying ``tangent`` as its forward gradient (same shape, floating)."""
    _check_level("make_dual", level)
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError(f"make_dual: expected two Tensors, got {type(tensor).__name__} and "
                        f"{type(tangent).__name__}")
    if not dtypes.is_floating(tensor.dtype) or not dtypes.is_floating(tangent.dtype):
        raise ValueError(f"make_dual: expected primal and tangent of floating point dtype, but got {tensor.dtype} "
                         f"and {tangent.dtype}; convert them first, e.g. x.double()")
    if tuple(tensor.shape) != tuple(tangent.shape):
        raise RuntimeError(f"make_dual: the tangent must have the primal's size, but the primal is of size "
                           f"{list(tensor.shape)} and the tangent of size {list(tangent.shape)}")
    if tangent.device != tensor.device:
        raise RuntimeError(f"make_dual: the tangent is on {tangent.device} but the primal on {tensor.device}; "
                           f"move it first, e.g. tangent.to('{tensor.device}')")
    dual = _plain_alias(tensor)
    dual._tangent = (_level, tangent if tangent.dtype == tensor.dtype else tangent.to(tensor.dtype))
    return dual


def unpack_dual(tensor, *, level=None):
    """``(primal, tangent)``: a view of ``tensor`` without its tangent, and the tangent of the open
    level (None outside a level or for a tensor that has none)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"unpack_dual: expected a Tensor, got {type(tensor).__name__}")
    level = _level if level is None else level
    entry = tensor._tangent
    tangent = entry[1] if entry is not None and level is not None and entry[0] == level else None
    return UnpackedDualTensor(_plain_alias(tensor), tangent)


def has_native_jvp(op):
    """Whether a built-in op (class or registry name) has a forward rule of its own, rather than
    the double-backward fallback (``function.jvp_from_vjp``)."""
    cls = function.registry[op] if isinstance(op, str) else op
    return cls.jvp is not function.Op.jvp


def jvp_summary():
    """Registry names of the differentiable built-in ops, split into those with a native rule and
    those using the double-backward fallback: ``{"native": [...], "fallback": [...]}``."""
    ops = sorted((name, cls) for name, cls in function.registry.items()
                 if issubclass(cls, function.Op) and cls.differentiable)
    return {"native": [n for n, c in ops if has_native_jvp(c)],
            "fallback": [n for n, c in ops if not has_native_jvp(c)]}
