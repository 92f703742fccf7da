"""Functions with PyTorch's ``torch.nn.functional`` names, as thin wrappers over autograd's ops.

``import nn.functional as F``; every function takes and returns ndgrad Tensors.
"""

import warnings

import autograd as ag
from autograd import ops


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``; weight has shape (out_features, in_features)."""
    return ops.linear(input, weight, bias)


def relu(input):
    return ops.relu(input)


def sigmoid(input):
    return ops.sigmoid(input)


def tanh(input):
    return ops.tanh(input)


def softmax(input, dim=None):
    return ops.softmax(input, _implicit_dim("softmax", input, dim))


def log_softmax(input, dim=None):
    return ops.log_softmax(input, _implicit_dim("log_softmax", input, dim))


def _implicit_dim(name, input, dim):
    """PyTorch's legacy rule for dim=None, with its deprecation warning: dim 0 for 0-, 1- and 3-d
    inputs, else dim 1 (the class dim of a batch)."""
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  f"as an argument.", UserWarning, stacklevel=3)
    return 0 if input.ndim in (0, 1, 3) else 1


def flatten(input, start_dim=0, end_dim=-1):
    return ops.flatten(input, start_dim, end_dim)


def cross_entropy(input, target, reduction="mean", ignore_index=-100):
    """Cross entropy between logits ``input`` (N, C) and class indices ``target`` (N,)."""
    return ops.cross_entropy(input, target, reduction=reduction, ignore_index=ignore_index)


def mse_loss(input, target, reduction="mean"):
    """Mean (or summed, or element-wise) squared error; ``input`` and ``target`` have the same shape."""
    if not isinstance(target, ag.Tensor):
        target = ag.as_tensor(target, dtype=input.dtype, device=input.device)
    return ops.mse_loss(input, target, reduction=reduction)


# --- convolution ---------------------------------------------------------------------------------


# --- pooling -------------------------------------------------------------------------------------

def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over windows of the last dim of (N, C, L) or (C, L); with ``return_indices`` also where (flat, int64)."""
    return ops.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over windows of the last two dims of (N, C, H, W) or (C, H, W); stride defaults to kernel_size."""
    return ops.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return ops.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return ops.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return ops.avg_pool1d(input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over windows; ``count_include_pad`` counts the zero padding in the divisor, ``divisor_override``
    replaces the divisor."""
    return ops.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def adaptive_avg_pool1d(input, output_size):
    return ops.adaptive_avg_pool1d(input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Mean over PyTorch's adaptive windows, so the output has ``output_size`` (None keeps that dim)."""
    return ops.adaptive_avg_pool2d(input, output_size)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return ops.adaptive_max_pool1d(input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return ops.adaptive_max_pool2d(input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    return ops.adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return ops.adaptive_max_pool2d(input, output_size, True)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return ops.max_unpool1d(input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool2d's selection: ``input`` put back at ``indices``, zeros elsewhere."""
    return ops.max_unpool2d(input, indices, kernel_size, stride, padding, output_size)


# --- padding and resampling ----------------------------------------------------------------------

def pad(input, pad, mode="constant", value=None):
    """Pads (before, after) from the last dim backwards; modes constant (negative pads crop), reflect,
    replicate, circular."""
    return ops.pad(input, pad, mode, value)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resample (N, C, *spatial) to ``size`` or by ``scale_factor``: nearest, nearest-exact, linear,
    bilinear (``align_corners``) or area."""
    return ops.interpolate(input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.",
                  UserWarning, stacklevel=2)
    return ops.interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  UserWarning, stacklevel=2)
    return ops.interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  UserWarning, stacklevel=2)
    return ops.interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def pixel_shuffle(input, upscale_factor):
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r)."""
    return ops.pixel_shuffle(input, upscale_factor)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W)."""
    return ops.pixel_unshuffle(input, downscale_factor)


# --- normalization -------------------------------------------------------------------------------


# --- dropout -------------------------------------------------------------------------------------


# --- activations ---------------------------------------------------------------------------------


# --- losses --------------------------------------------------------------------------------------
