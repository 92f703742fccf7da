"""Normalization: batch_norm, layer_norm, group_norm, instance_norm.

All four are one op, ``Normalize``: (x - mean) / sqrt(var + eps) * weight + bias with the
statistics taken over ``dims`` (batch norm: every dim but the channels; layer norm: the trailing
dims; instance norm: the spatial dims; group norm: the dims of a group, after a reshape), or in
eval mode read from the running statistics. What differs is which dims, and how the weight is
shaped to broadcast, which the functions below say.
"""

import math

from .. import dtypes
from ..function import Op, autocast_entry, same_dtype
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm"]


class Normalize(Op):
    """Saves x, the mean and 1/std (one value per normalised group) and the weight, as PyTorch does.
    In training, backward with ``create_graph`` recomputes the statistics from x with Tensor ops, so
    that the second derivative sees how they depend on x."""
    def forward(ctx, x, weight, bias, running_mean, running_var, dims, eps, training, momentum, stats_shape):
        xp = ctx.xp
        ctx.dims, ctx.eps, ctx.training = dims, eps, training
        # op math, as PyTorch: float16/bfloat16 statistics in float32 (saved so), the output rounded once
        xc = x.astype(xp.float32) if dtypes.is_low_precision(x.dtype) else x
        if training:  # sums / count: over nothing the statistics are nan without NumPy's warning
            count = math.prod(x.shape[d] for d in dims)
            mean = (xc.sum(axis=dims, keepdims=True) / count).astype(xc.dtype, copy=False)
            out = xc - mean
            var = ((out * out).sum(axis=dims, keepdims=True) / count).astype(xc.dtype, copy=False)
            if running_mean is not None:
                _update(running_mean, mean, momentum)
                _update(running_var, var * (count / (count - 1) if count > 1 else math.nan), momentum)  # unbiased
        else:  # eval: the running statistics, copied so a later training step can't change what is saved
            mean = running_mean.reshape(stats_shape).astype(xc.dtype, copy=True)
            var = running_var.reshape(stats_shape)
            out = xc - mean
        invstd = (1 / xp.sqrt(var + eps)).astype(xc.dtype, copy=False)
        ctx.save_for_backward(x, mean, invstd, weight if ctx.needs_input_grad[0] else None)
        out *= invstd
        if weight is not None:
            out *= weight
        if bias is not None:
            out += bias
        return same_dtype(out, x)
    def backward(ctx, grad):
        x, mean, invstd, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if not is_grad_enabled() and not dtypes.is_low_precision(x.dtype) and x.numel():  # first order: one op
            gx = NormalizeBackward.apply(grad, x, mean, invstd, weight, dims=ctx.dims, training=ctx.training) \
                if need_x else None
            gw = grad * ((x - mean) * invstd) if need_w else None
            return gx, gw, (grad if need_b else None), None, None
        if dtypes.is_low_precision(x.dtype):  # op math: the cancelling sums below in float32 (the engine
            x, grad = x.float(), grad.float()  # rounds the gradients back to each input's dtype)
            weight = weight.float() if weight is not None else None
        dims = ctx.dims
        if ctx.training and is_grad_enabled():  # create_graph: the statistics as functions of x
            mean = x.mean(dims, keepdim=True)
            var = ((x - mean) * (x - mean)).mean(dims, keepdim=True)
            invstd = 1 / (var + ctx.eps).sqrt()
        xhat = (x - mean) * invstd if (need_w or (need_x and ctx.training)) else None
        gx = None
        if need_x:
            g = grad * weight if weight is not None else grad
            if ctx.training:  # d xhat / dx, with the mean and the variance depending on x
                g = g - g.mean(dims, keepdim=True) - xhat * (g * xhat).mean(dims, keepdim=True)
            gx = g * invstd
        return gx, (grad * xhat if need_w else None), (grad if need_b else None), None, None


class NormalizeBackward(Op):
    """The input's gradient of Normalize, first order (backward with create_graph takes the Tensor ops above):
    its batch statistics, sum(g) and sum(g * xhat), in one op a backend can fuse. g = grad * weight;
    gx = (g - mean(g) - xhat * mean(g * xhat)) * invstd in training, g * invstd with fixed statistics."""
    differentiable = False
    def forward(ctx, grad, x, mean, invstd, weight, dims, training):
        g = grad * weight if weight is not None else grad
        if training:
            count = math.prod(x.shape[d] for d in dims)
            xhat = (x - mean) * invstd
            g = g - g.sum(axis=dims, keepdims=True) / count - xhat * ((g * xhat).sum(axis=dims, keepdims=True) / count)
        return same_dtype(g * invstd, x)


def _update(running, batch, momentum):
    """running = (1 - momentum) * running + momentum * batch, in place; the batch values of each
    channel are averaged first (instance norm has one per sample)."""
    rows = batch.reshape(-1, running.size)
    batch = (rows.sum(axis=0) / rows.shape[0]).reshape(running.shape).astype(running.dtype, copy=False)
    running *= 1 - momentum
    running += momentum * batch


# --- the functions -----------------------------------------------------------------------------------

def _check_input(op, x, min_dims=2):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(x).__name__}")
    if x.ndim < min_dims:
        raise RuntimeError(f"{op}: expected an input with at least {min_dims} dims (N, C, ...), got shape "
                           f"{tuple(x.shape)}; add a batch dim with x.unsqueeze(0)")
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating-point input, got {x.dtype}; convert it first, e.g. x.float()")


def _check_per_channel(op, x, channels, **tensors):
    for name, t in tensors.items():
        if t is None:
            continue
        if t.numel() != channels:
            raise RuntimeError(f"{op}: {name} should contain {channels} elements (one per channel of the input of "
                               f"shape {tuple(x.shape)}), not {t.numel()} (shape {tuple(t.shape)})")
        if t.dtype != x.dtype:
            raise RuntimeError(f"{op}: {name} has dtype {t.dtype} but the input has {x.dtype}; all must share one "
                               f"dtype: convert the module or the input (.to({x.dtype}))")


def _bump(*tensors):
    for t in tensors:  # the running statistics were written in place: saved copies of them are stale
        if t is not None:
            t._version[0] += 1


def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


@autocast_entry
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) over the batch and the spatial dims. In training, with the batch's
    biased variance, and the running statistics (if given) move towards the batch's mean and unbiased
    variance by ``momentum``; in eval, with the running statistics."""
    _check_input("batch_norm", input)
    channels = input.shape[1]
    _check_per_channel("batch_norm", input, channels, running_mean=running_mean, running_var=running_var,
                       weight=weight, bias=bias)
    if momentum is None:
        raise TypeError("batch_norm: momentum must be a float; the cumulative average (momentum=None) is "
                        "nn.BatchNorm's, which passes 1 / num_batches_tracked")
    if training:
        if math.prod(input.shape) // channels == 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of shape "
                             f"{tuple(input.shape)}; use a larger batch, or eval() mode")
    elif running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var must be given in evaluation mode "
                           "(training=False); pass training=True to normalise with the batch's statistics")
    shape = _channel_shape(input)
    update = training and running_mean is not None and input.numel() > 0  # PyTorch leaves them as they are
    out = Normalize.apply(input, _reshaped(weight, shape), _reshaped(bias, shape),
                          running_mean if update or not training else None,
                          running_var if update or not training else None,
                          dims=(0,) + tuple(range(2, input.ndim)), eps=eps, training=bool(training),
                          momentum=momentum, stats_shape=shape)
    if update:
        _bump(running_mean, running_var)
    return out


@autocast_entry
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample over its spatial dims."""
    _check_input("instance_norm", input)
    channels = input.shape[1]
    _check_per_channel("instance_norm", input, channels, running_mean=running_mean, running_var=running_var,
                       weight=weight, bias=bias)
    if use_input_stats:
        if math.prod(input.shape[2:]) == 1:
            raise ValueError(f"instance_norm: expected more than 1 spatial element when training, got input of "
                             f"shape {tuple(input.shape)}")
    elif running_mean is None or running_var is None:
        raise RuntimeError("instance_norm: running_mean and running_var must be given when use_input_stats is "
                           "False")
    shape = _channel_shape(input)
    weight_shape = (channels,) + (1,) * (input.ndim - 2)
    out = Normalize.apply(input, _reshaped(weight, weight_shape), _reshaped(bias, weight_shape), running_mean,
                          running_var, dims=tuple(range(2, input.ndim)), eps=eps, training=bool(use_input_stats),
                          momentum=momentum, stats_shape=shape)
    if use_input_stats:
        _bump(running_mean, running_var)
    return out


@autocast_entry
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing dims given by ``normalized_shape``; weight and bias have that shape."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not normalized_shape:
        raise RuntimeError("layer_norm: normalized_shape must have at least one dim, got (); e.g. "
                           "normalized_shape=x.shape[-1:]")
    _check_input("layer_norm", input, min_dims=0)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape or input.ndim < k:
        raise RuntimeError(f"layer_norm: normalized_shape={list(normalized_shape)} expects an input of shape "
                           f"[*, {', '.join(map(str, normalized_shape))}], but got shape {tuple(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != normalized_shape:
            raise RuntimeError(f"layer_norm: {name} must have the shape normalized_shape={list(normalized_shape)}, "
                               f"got {tuple(t.shape)}")
        if t is not None and t.dtype != input.dtype:
            raise RuntimeError(f"layer_norm: {name} has dtype {t.dtype} but the input has {input.dtype}; convert one "
                               f"of them")
    return Normalize.apply(input, weight, bias, None, None, dims=tuple(range(input.ndim - k, input.ndim)), eps=eps,
                           training=True, momentum=None, stats_shape=None)


@autocast_entry
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Split the channels into ``num_groups`` groups; normalise each group of each sample over its
    channels and spatial dims; weight and bias are per channel."""
    _check_input("group_norm", input)
    n, channels, spatial = input.shape[0], input.shape[1], tuple(input.shape[2:])
    if num_groups <= 0 or channels % num_groups:
        raise RuntimeError(f"group_norm: the number of channels ({channels}, input of shape {tuple(input.shape)}) "
                           f"must be divisible by num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.numel() != channels):
            raise RuntimeError(f"group_norm: {name} must be a vector of {channels} values, one per channel of the "
                               f"input of shape {tuple(input.shape)}; got shape {tuple(t.shape)}")
    per_group = channels // num_groups
    grouped = input.reshape((n, num_groups, per_group) + spatial)
    weight_shape = (num_groups, per_group) + (1,) * len(spatial)
    out = Normalize.apply(grouped, _reshaped(weight, weight_shape), _reshaped(bias, weight_shape), None, None,
                          dims=tuple(range(2, grouped.ndim)), eps=eps, training=True, momentum=None, stats_shape=None)
    return out.reshape(input.shape)


def _reshaped(t, shape):
    return None if t is None else t.reshape(shape)
