"""Dropout: the mask is drawn from the input's device generator and saved; nothing else.

The mask is made by the function and handed to the op as an input, so the op is deterministic
and its backward is the op itself (the same mask, the same scale): double backward comes free.
Feature dropout (dropout1d/2d/3d, feature_alpha_dropout) draws one value per channel: a mask of
shape (N, C, 1, ...) that broadcasts over the spatial dims.
"""

import warnings

from .. import dtypes
from ..function import Op, diagonal_jvp
from ..tensor import Tensor
from .inplace import apply_inplace

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]

# selu's negative saturation value, -scale * alpha: what alpha dropout sets dropped elements to
_ALPHA_PRIME = -1.0507009873554804934193349852946 * 1.6732632423543772848170429916717


class Dropout(Op):
    """x * mask * scale; the gradient is grad * mask * scale."""
    def forward(ctx, x, mask, scale):
        ctx.scale = scale
        ctx.save_for_backward(mask)
        out = x * mask
        out *= ctx.xp.asarray(scale, out.dtype)
        return out
    def backward(ctx, grad):
        mask, = ctx.saved_tensors
        return Dropout.apply(grad, mask, scale=ctx.scale), None
    jvp = diagonal_jvp


class AlphaDropout(Op):
    """a * x + b where kept, a * alpha' + b where dropped: mean and variance stay those of the input
    (for selu networks)."""
    def forward(ctx, x, mask, a, b):
        ctx.a = a
        ctx.save_for_backward(mask)
        xp = ctx.xp
        return (xp.where(mask, x * a, a * _ALPHA_PRIME) + b).astype(x.dtype, copy=False)
    def backward(ctx, grad):
        mask, = ctx.saved_tensors
        return Dropout.apply(grad, mask, scale=ctx.a), None
    jvp = diagonal_jvp


# --- the functions -----------------------------------------------------------------------------------

def _check(op, input, p):
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")


def _feature_shape(op):
    """The mask shape of feature dropout: one value per channel, (N, C, 1, ...)."""
    def shape(x):
        if x.ndim < 2:
            raise RuntimeError(f"{op}: feature dropout needs an input with at least 2 dims (N, C, ...), got shape "
                               f"{tuple(x.shape)}; use dropout for element-wise dropout")
        return tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
    return shape


def _unbatched_feature_shape(x):
    """(C, 1, ...): the channels of an unbatched input are its first dim."""
    return (x.shape[0],) + (1,) * (x.ndim - 1) if x.ndim else ()


def _elementwise_shape(x):
    return tuple(x.shape)


def _run(op, x, p, training, inplace, mask_shape, alpha):
    """Nothing to do (p = 0, eval, no elements): the input itself, as PyTorch. p = 1: zeros. Otherwise
    a mask of ``mask_shape(x)`` (checked only then, as PyTorch does)."""
    if p == 0 or not training or x.numel() == 0:
        return x
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating-point input, got {x.dtype}; convert it first, e.g. x.float()")

    def drop(x):
        backend = x._backend
        if p == 1:  # everything dropped: zeros with a zero gradient, as PyTorch (alpha dropout too)
            mask = Tensor._make(backend.xp.zeros((1,) * x.ndim, dtypes.bool_), backend)
            return AlphaDropout.apply(x, mask, a=0.0, b=0.0) if alpha else Dropout.apply(x, mask, scale=0.0)
        mask = Tensor._make(backend.rand(mask_shape(x), dtypes.float32) >= p, backend)  # kept with prob. 1 - p
        if not alpha:
            return Dropout.apply(x, mask, scale=1.0 / (1.0 - p))
        a = ((1 - p) * (1 + p * _ALPHA_PRIME ** 2)) ** -0.5
        return AlphaDropout.apply(x, mask, a=a, b=-a * _ALPHA_PRIME * p)
    return apply_inplace(x, lambda old, _: drop(old), None, op + "_") if inplace else drop(x)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p), in training only."""
    _check("dropout", input, p)
    return _run("dropout", input, p, training, inplace, _elementwise_shape, alpha=False)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check("alpha_dropout", input, p)
    return _run("alpha_dropout", input, p, training, inplace, _elementwise_shape, alpha=True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check("feature_alpha_dropout", input, p)
    return _run("feature_alpha_dropout", input, p, training, inplace, _feature_shape("feature_alpha_dropout"),
                alpha=True)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or unbatched (C, L) inputs."""
    _check("dropout1d", input, p)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: expected a 2-d (C, L) or 3-d (N, C, L) input, got shape {tuple(input.shape)}")
    shape = _unbatched_feature_shape if input.ndim == 2 else _feature_shape("dropout1d")
    return _run("dropout1d", input, p, training, inplace, shape, alpha=False)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) inputs. A 3-d input is taken as (N, C, L), as PyTorch does for now."""
    _check("dropout2d", input, p)
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: got a {input.ndim}-d input (shape {tuple(input.shape)}); dropout2d is meant for "
                      f"(N, C, H, W) or (C, H, W) inputs and other ranks will become an error (as in PyTorch); "
                      f"use dropout for element-wise dropout", UserWarning, stacklevel=2)
    elif input.ndim == 3:
        warnings.warn("dropout2d: a 3-d input is taken as (N, C, L) and gets channel-wise 1-d dropout, as in PyTorch "
                      "(which will read it as an unbatched (C, H, W) in a future release); use dropout1d to keep "
                      "this behaviour", UserWarning, stacklevel=2)
    return _run("dropout2d", input, p, training, inplace, _feature_shape("dropout2d"), alpha=False)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or unbatched (C, D, H, W) inputs (any rank but 5 is read as
    unbatched, as PyTorch does)."""
    _check("dropout3d", input, p)
    if input.ndim not in (4, 5):
        warnings.warn(f"dropout3d: got a {input.ndim}-d input (shape {tuple(input.shape)}); dropout3d is meant for "
                      f"(N, C, D, H, W) or (C, D, H, W) inputs (as in PyTorch); use dropout for element-wise "
                      f"dropout", UserWarning, stacklevel=2)
    shape = _feature_shape("dropout3d") if input.ndim == 5 else _unbatched_feature_shape  # as PyTorch reads them
    return _run("dropout3d", input, p, training, inplace, shape, alpha=False)
