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

def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d cross-correlation: input (N, C_in, W), weight (C_out, C_in / groups, kW); ``padding`` may be
    an int, a tuple, "valid" or "same"."""
    return ops.conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d cross-correlation: input (N, C_in, H, W), weight (C_out, C_in / groups, kH, kW)."""
    return ops.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-d cross-correlation: input (N, C_in, D, H, W), weight (C_out, C_in / groups, kD, kH, kW)."""
    return ops.conv3d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-d convolution: input (N, C_in, W), weight (C_in, C_out / groups, kW)."""
    return ops.conv_transpose1d(input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-d convolution: input (N, C_in, H, W), weight (C_in, C_out / groups, kH, kW)."""
    return ops.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 3-d convolution: input (N, C_in, D, H, W), weight (C_in, C_out / groups, kD, kH, kW)."""
    return ops.conv_transpose3d(input, weight, bias, stride, padding, output_padding, groups, dilation)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of (N, C, H, W) as columns (N, C * kH * kW, L) (im2col)."""
    return ops.unfold(input, kernel_size, dilation, padding, stride)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Columns (N, C * kH * kW, L) summed back into (N, C, *output_size) (col2im; overlaps add up)."""
    return ops.fold(input, output_size, kernel_size, dilation, padding, stride)



# --- pooling -------------------------------------------------------------------------------------


# --- padding and resampling ----------------------------------------------------------------------


# --- normalization -------------------------------------------------------------------------------


# --- dropout -------------------------------------------------------------------------------------


# --- activations ---------------------------------------------------------------------------------


# --- losses --------------------------------------------------------------------------------------
