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

def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) over the batch and spatial dims: the batch's statistics in training
    (updating the running ones, if given, in place), the running statistics otherwise."""
    return ops.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample over its spatial dims."""
    return ops.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims."""
    return ops.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each group of channels of each sample over the group's channels and spatial dims."""
    return ops.group_norm(input, num_groups, weight, bias, eps)


# --- dropout -------------------------------------------------------------------------------------

def dropout(input, p=0.5, training=True, inplace=False):
    """Zero elements with probability ``p`` and scale the rest by 1 / (1 - p), in training only."""
    return ops.dropout(input, p, training, inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    return ops.dropout1d(input, p, training, inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    return ops.dropout2d(input, p, training, inplace)


def dropout3d(input, p=0.5, training=True, inplace=False):
    return ops.dropout3d(input, p, training, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    return ops.alpha_dropout(input, p, training, inplace)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    return ops.feature_alpha_dropout(input, p, training, inplace)


# --- activations ---------------------------------------------------------------------------------

def gelu(input, approximate="none"):
    return ops.gelu(input, approximate)


def silu(input, inplace=False):
    return ops.silu(input, inplace)


def mish(input, inplace=False):
    return ops.mish(input, inplace)


def softplus(input, beta=1.0, threshold=20.0):
    return ops.softplus(input, beta, threshold)


def elu(input, alpha=1.0, inplace=False):
    return ops.elu(input, alpha, inplace)


def elu_(input, alpha=1.0):
    return ops.elu(input, alpha, True)


def selu(input, inplace=False):
    return ops.selu(input, inplace)


def selu_(input):
    return ops.selu(input, True)


def celu(input, alpha=1.0, inplace=False):
    return ops.celu(input, alpha, inplace)


def celu_(input, alpha=1.0):
    return ops.celu(input, alpha, True)


def relu_(input):
    return ops.relu_(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return ops.leaky_relu(input, negative_slope, inplace)


def leaky_relu_(input, negative_slope=0.01):
    return ops.leaky_relu(input, negative_slope, True)


def prelu(input, weight):
    return ops.prelu(input, weight)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    return ops.rrelu(input, lower, upper, training, inplace)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return ops.rrelu(input, lower, upper, training, True)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return ops.hardtanh(input, min_val, max_val, inplace)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return ops.hardtanh(input, min_val, max_val, True)


def relu6(input, inplace=False):
    return ops.relu6(input, inplace)


def hardsigmoid(input, inplace=False):
    return ops.hardsigmoid(input, inplace)


def hardswish(input, inplace=False):
    return ops.hardswish(input, inplace)


def logsigmoid(input):
    return ops.logsigmoid(input)


def softsign(input):
    return ops.softsign(input)


def tanhshrink(input):
    return ops.tanhshrink(input)


def softshrink(input, lambd=0.5):
    return ops.softshrink(input, lambd)


def hardshrink(input, lambd=0.5):
    return ops.hardshrink(input, lambd)


def threshold(input, threshold, value, inplace=False):
    return ops.threshold(input, threshold, value, inplace)


def threshold_(input, threshold, value):
    return ops.threshold(input, threshold, value, True)


def glu(input, dim=-1):
    return ops.glu(input, dim)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return ops.softmin(input, _implicit_dim("softmin", input, dim), dtype)


# --- losses --------------------------------------------------------------------------------------

# PyTorch's signatures, reductions, weights and checks live with the ops (autograd/ops/loss.py);
# these names are the ops themselves, so nothing is lost in between.
nll_loss = ops.nll_loss
cross_entropy = ops.cross_entropy
binary_cross_entropy = ops.binary_cross_entropy
binary_cross_entropy_with_logits = ops.binary_cross_entropy_with_logits
mse_loss = ops.mse_loss
l1_loss = ops.l1_loss
smooth_l1_loss = ops.smooth_l1_loss
huber_loss = ops.huber_loss
kl_div = ops.kl_div
poisson_nll_loss = ops.poisson_nll_loss
gaussian_nll_loss = ops.gaussian_nll_loss
margin_ranking_loss = ops.margin_ranking_loss
hinge_embedding_loss = ops.hinge_embedding_loss
soft_margin_loss = ops.soft_margin_loss
multilabel_soft_margin_loss = ops.multilabel_soft_margin_loss
multi_margin_loss = ops.multi_margin_loss
cosine_embedding_loss = ops.cosine_embedding_loss
triplet_margin_loss = ops.triplet_margin_loss
cosine_similarity = ops.cosine_similarity
pairwise_distance = ops.pairwise_distance


# --- embedding -----------------------------------------------------------------------------------

def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """The rows of ``weight`` at ``input``'s indices (padding_idx's row gets no gradient)."""
    return ops.embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sum, mean or max of each bag of embeddings (2-D input: one bag per row; 1-D: bags start at ``offsets``)."""
    return ops.embedding_bag(input, weight, offsets, max_norm, norm_type, scale_grad_by_freq, mode, sparse,
                             per_sample_weights, include_last_offset, padding_idx)


def one_hot(tensor, num_classes=-1):
    return ops.one_hot(tensor, num_classes)



# --- attention -----------------------------------------------------------------------------------

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ keyᵀ * scale + mask) @ value; a bool mask says which keys take part."""
    return ops.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


multi_head_attention_forward = ops.multi_head_attention_forward



# --- recurrent -----------------------------------------------------------------------------------
# The single cells (torch.rnn_tanh_cell, torch.lstm_cell, ... : PyTorch has no public F names for them).
rnn_tanh_cell = ops.rnn_tanh_cell
rnn_relu_cell = ops.rnn_relu_cell
lstm_cell = ops.lstm_cell
gru_cell = ops.gru_cell


def rnn_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman step with ``nonlinearity`` 'tanh' or 'relu' (what nn.RNNCell runs)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_cell: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
    cell = ops.rnn_tanh_cell if nonlinearity == "tanh" else ops.rnn_relu_cell
    return cell(input, hx, w_ih, w_hh, b_ih, b_hh)


def recurrent(mode, input, hx, weights, num_layers=1, dropout=0.0, training=False, bidirectional=False,
              batch_sizes=None):
    """A stack of recurrent layers over a time-major sequence (T, B, I): what nn.RNN/LSTM/GRU run.

    ``mode`` is 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'; ``hx`` is h0 (L * D, B, P), or (h0, c0) for the
    LSTM; ``weights`` holds (w_ih, w_hh, b_ih, b_hh, w_hr) per layer and direction (forward first).
    Each layer and direction is one fused op; dropout (training only) acts between layers.
    Returns (output (T, B, D * P), h_n) or (output, (h_n, c_n)) for the LSTM.
    """
    directions = 2 if bidirectional else 1
    h0, c0 = hx if mode == "LSTM" else (hx, None)
    h_n, c_n = [], []
    x = input
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            w_ih, w_hh, b_ih, b_hh, w_hr = weights[k]
            reverse = direction == 1
            if mode == "LSTM":
                out, h, c = ops.lstm_layer(x, (h0[k], c0[k]), w_ih, w_hh, b_ih, b_hh, w_hr, batch_sizes, reverse)
                c_n.append(c)
            elif mode == "GRU":
                out, h = ops.gru_layer(x, h0[k], w_ih, w_hh, b_ih, b_hh, batch_sizes, reverse)
            else:
                out, h = ops.rnn_layer(x, h0[k], w_ih, w_hh, b_ih, b_hh, "tanh" if mode == "RNN_TANH" else "relu",
                                       batch_sizes, reverse)
            outputs.append(out)
            h_n.append(h)
        x = outputs[0] if directions == 1 else ag.cat(outputs, dim=2)
        if dropout and training and layer < num_layers - 1:
            x = ops.dropout(x, dropout, True)
    h_n = ag.stack(h_n)
    return (x, (h_n, ag.stack(c_n))) if mode == "LSTM" else (x, h_n)
