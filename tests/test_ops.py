"""The op table: every op, checked against PyTorch, finite differences and itself on every device.

One row per op (or per way of calling it): a name, ``fn(lib, *inputs)`` that applies it with
``lib`` being ``autograd`` or ``torch`` (the APIs match, so one lambda serves both),
and input generators. Floating inputs require grad; integer and bool inputs (targets, masks)
are passed as they are. Adding an op means adding a row: the parametrised tests below then
check its forward and gradients against PyTorch in float64 and float32, its gradients
against central differences, its double backward, on the CPU and (marked) on CUDA.
"""

import operator
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import autograd as ag
from autograd import ops as agops
from conftest import assert_close, to_numpy, examples
from optable import *  # noqa: F401,F403  (generators, helpers, Op, op)
import rows_pointwise, rows_reduction, rows_indexing, rows_linalg  # noqa: E401
import test_pointwise


OPS = [
    # arithmetic (broadcasting, 0-d operands, Python scalars on either side)
    op("add", lambda lib, x, y: x + y, randn(3, 1), randn(4)),
    op("add_0d", lambda lib, x, y: x + y, randn(), randn(2, 3)),
    op("add_scalar", lambda lib, x: 2.5 + x, randn(2, 3)),
    op("sub", lambda lib, x, y: x - y, randn(2, 3, 4), randn(3, 1)),
    op("sub_rscalar", lambda lib, x: 1.5 - x, randn(3)),
    op("mul", lambda lib, x, y: x * y, randn(2, 1, 4), randn(3, 1)),
    op("mul_scalar", lambda lib, x: x * -3, randn(2, 3)),
    op("div", lambda lib, x, y: x / y, randn(3, 4), away(4, gap=0.5)),
    op("div_rscalar", lambda lib, x: 2.0 / x, away(3, 2, gap=0.5)),
    op("div_scalar", lambda lib, x: x / 4, randn(5)),
    op("neg", lambda lib, x: -x, randn(2, 3)),
    op("reciprocal", lambda lib, x: lib.reciprocal(x), away(3, 4, gap=0.5)),
    op("pow_scalar", lambda lib, x: x ** 2.5, positive(3, 4)),
    op("pow_neg_scalar", lambda lib, x: x ** -1.5, positive(5)),
    op("pow_int_scalar", lambda lib, x: x ** 3, randn(2, 3)),
    op("pow_method", lambda lib, x: x.pow(0.5), positive(4)),
    op("pow_tensor", lambda lib, x, p: x ** p, positive(3, 1), randn(4)),
    op("rpow_scalar", lambda lib, x: 2.0 ** x, randn(2, 3)),
    # at a zero base PyTorch's gradient for the exponent is 0 (x ** p is 0 there for p > 0); its own
    # double backward gives nan there, so that is not compared
    op("pow_tensor_zero_base", lambda lib, x, p: x ** p, with_zeros(3, 4), uniform(2.5, 3.5, 4), gradcheck=False,
       double=False),
    op("rpow_zero_base", lambda lib, x: 0.0 ** x, positive(2, 3), double=False),
    # unary math
    op("exp", lambda lib, x: x.exp(), randn(3, 4)),
    op("log", lambda lib, x: x.log(), positive(3, 4)),
    op("sqrt", lambda lib, x: lib.sqrt(x), positive(3, 4)),
    op("sin", lambda lib, x: lib.sin(x), randn(3, 4)),
    op("cos", lambda lib, x: x.cos(), randn(3, 4)),
    op("tan", lambda lib, x: x.tan(), uniform(-1.2, 1.2, 3, 4)),
    op("tanh", lambda lib, x: lib.tanh(x), randn(3, 4)),
    op("sigmoid", lambda lib, x: x.sigmoid(), randn(3, 4, scale=3)),
    op("sigmoid_fn", lambda lib, x: lib.sigmoid(x), randn(5)),
    op("relu", lambda lib, x: x.relu(), away(3, 4)),
    op("relu_fn", lambda lib, x: lib.relu(x), away(2, 5)),
    op("abs", lambda lib, x: x.abs(), away(3, 4)),
    op("abs_builtin", lambda lib, x: abs(x), away(6)),
    op("clamp_min", lambda lib, x: x.clamp(min=-0.5), away(3, 4, kinks=(-0.5,))),
    op("clamp_max", lambda lib, x: x.clamp(max=0.3), away(3, 4, kinks=(0.3,))),
    op("clamp_both", lambda lib, x: lib.clamp(x, -0.5, 0.3), away(3, 4, kinks=(-0.5, 0.3), gap=0.05)),
    op("maximum", lambda lib, x, y: lib.maximum(x, y), on_grid(3, 1), on_grid(4, offset=0.1)),
    op("minimum", lambda lib, x, y: x.minimum(y), on_grid(2, 3), on_grid(2, 1, 3, offset=0.1)),
    op("maximum_ties", lambda lib, x, y: lib.maximum(x, y), ties(4, 5), ties(5), gradcheck=False),
    op("minimum_ties", lambda lib, x, y: lib.minimum(x, y), ties(4, 5), ties(4, 1), gradcheck=False),
    op("where", lambda lib, c, x, y: lib.where(c, x, y), mask(3, 1), randn(3, 4), randn(4)),
    op("where_scalar", lambda lib, c, x: lib.where(c, x, 0.5), mask(2, 3), randn(2, 3)),
    op("where_method", lambda lib, c, x, y: x.where(c, y), mask(4), randn(2, 4), randn(2, 1)),
    # matmul: every rank combination, batch dims broadcast
    op("matmul_1d_1d", lambda lib, x, y: x @ y, randn(4), randn(4)),
    op("matmul_1d_2d", lambda lib, x, y: x @ y, randn(4), randn(4, 3)),
    op("matmul_2d_1d", lambda lib, x, y: x @ y, randn(3, 4), randn(4)),
    op("matmul_2d_2d", lambda lib, x, y: lib.matmul(x, y), randn(3, 4), randn(4, 2)),
    op("matmul_batched", lambda lib, x, y: x @ y, randn(2, 3, 4), randn(2, 4, 5)),
    op("matmul_batch_broadcast", lambda lib, x, y: x @ y, randn(2, 1, 3, 4), randn(5, 4, 2)),
    op("matmul_2d_batched", lambda lib, x, y: x @ y, randn(3, 4), randn(2, 4, 5)),
    op("matmul_1d_batched", lambda lib, x, y: x @ y, randn(4), randn(2, 4, 3)),
    op("matmul_batched_1d", lambda lib, x, y: x @ y, randn(2, 3, 4), randn(4)),
    # reductions
    op("sum", lambda lib, x: x.sum(), randn(3, 4)),
    op("sum_dim", lambda lib, x: x.sum(dim=1), randn(2, 3, 4)),
    op("sum_dims_keepdim", lambda lib, x: lib.sum(x, dim=(0, 2), keepdim=True), randn(2, 3, 4)),
    op("sum_neg_dim", lambda lib, x: x.sum(-1), randn(2, 3, 4)),
    op("mean", lambda lib, x: x.mean(), randn(3, 4)),
    op("mean_dim_keepdim", lambda lib, x: x.mean(dim=0, keepdim=True), randn(3, 4)),
    op("mean_dims", lambda lib, x: lib.mean(x, dim=(-1, 0)), randn(2, 3, 4)),
    op("max", lambda lib, x: x.max(), distinct(3, 4)),
    op("max_dim", lambda lib, x: x.max(dim=1), distinct(3, 4, 2)),
    op("max_dim_keepdim", lambda lib, x: lib.max(x, dim=-1, keepdim=True), distinct(3, 4)),
    op("min", lambda lib, x: lib.min(x), distinct(3, 4)),
    op("min_dim", lambda lib, x: x.min(0), distinct(3, 4)),
    op("min_dim_keepdim", lambda lib, x: x.min(dim=2, keepdim=True), distinct(2, 3, 4)),
    op("max_dim_0d", lambda lib, x: x.max(0), randn()),
    op("min_dim_0d_keepdim", lambda lib, x: lib.min(x, -1, keepdim=True), randn()),
    op("max_ties", lambda lib, x: x.max(), ties(3, 4), gradcheck=False),
    op("amax", lambda lib, x: x.amax(), distinct(3, 4)),
    op("amax_dim", lambda lib, x: lib.amax(x, dim=1), distinct(3, 4, 2)),
    op("amax_dims_keepdim", lambda lib, x: x.amax(dim=(0, 2), keepdim=True), distinct(3, 4, 2)),
    op("amin", lambda lib, x: x.amin(dim=-1), distinct(3, 4)),
    op("amin_dims", lambda lib, x: lib.amin(x, dim=(0, 1)), distinct(3, 4, 2)),
    op("amax_ties", lambda lib, x: x.amax(dim=1), ties(3, 6), gradcheck=False),
    op("amin_ties", lambda lib, x: x.amin(dim=(0, 1), keepdim=True), ties(3, 4, 2), gradcheck=False),
    op("logsumexp", lambda lib, x: x.logsumexp(dim=1), randn(3, 4)),
    op("logsumexp_dims_keepdim", lambda lib, x: lib.logsumexp(x, dim=(0, 2), keepdim=True), randn(2, 3, 4)),
    op("logsumexp_large", lambda lib, x: x.logsumexp(-1), uniform(500, 510, 3, 4)),
    op("softmax", lambda lib, x: x.softmax(-1), randn(3, 4, scale=2)),
    op("softmax_dim0", lambda lib, x: F(lib).softmax(x, dim=0), randn(3, 4, 2)),
    op("log_softmax", lambda lib, x: x.log_softmax(dim=-1), randn(3, 4, scale=2)),
    op("log_softmax_dim1", lambda lib, x: F(lib).log_softmax(x, dim=1), randn(2, 3, 4)),
    # shapes
    op("reshape", lambda lib, x: x.reshape(3, -1), randn(2, 3, 4)),
    op("reshape_tuple", lambda lib, x: lib.reshape(x, (4, 6)), randn(2, 3, 4)),
    op("reshape_flat", lambda lib, x: x.reshape(-1), randn(2, 3)),
    op("view", lambda lib, x: x.view(6, 2, 2), randn(2, 3, 4)),
    op("view_merge_split", lambda lib, x: x.view(3, 8).view(2, 3, 2, 2), randn(2, 3, 4)),
    op("view_as", lambda lib, x, y: x.view_as(y) * y, randn(2, 6), randn(3, 4)),
    op("select", lambda lib, x: x.select(1, -2), randn(3, 4, 2)),
    op("narrow", lambda lib, x: x.narrow(-1, 1, 2), randn(3, 4)),
    op("transpose", lambda lib, x: x.transpose(0, 2), randn(2, 3, 4)),
    op("transpose_neg", lambda lib, x: lib.transpose(x, -1, -2), randn(2, 3, 4)),
    op("permute", lambda lib, x: x.permute(2, 0, 1), randn(2, 3, 4)),
    op("permute_tuple", lambda lib, x: lib.permute(x, (1, 2, 0)), randn(2, 3, 4)),
    op("T", lambda lib, x: x.T, randn(3, 4)),
    op("mT", lambda lib, x: x.mT, randn(2, 3, 4)),
    op("expand", lambda lib, x: x.expand(2, 3, 4), randn(3, 1)),
    op("expand_minus_one", lambda lib, x: x.expand(-1, 4), randn(3, 1)),
    op("broadcast_to", lambda lib, x: x.broadcast_to((2, 3, 4)), randn(4)),
    op("expand_as", lambda lib, x, y: x.expand_as(y) * y, randn(1, 4), randn(3, 4)),
    op("squeeze", lambda lib, x: x.squeeze(), randn(3, 1, 4, 1)),
    op("squeeze_dim", lambda lib, x: x.squeeze(1), randn(3, 1, 4, 1)),
    op("squeeze_neg_dim", lambda lib, x: lib.squeeze(x, -1), randn(3, 1, 4, 1)),
    op("unsqueeze", lambda lib, x: x.unsqueeze(0), randn(3, 4)),
    op("unsqueeze_neg", lambda lib, x: lib.unsqueeze(x, -1), randn(3, 4)),
    op("flatten", lambda lib, x: x.flatten(), randn(2, 3, 4)),
    op("flatten_start", lambda lib, x: lib.flatten(x, 1), randn(2, 3, 4)),
    op("flatten_range", lambda lib, x: x.flatten(0, 1), randn(2, 3, 4)),
    op("cat", lambda lib, x, y, z: lib.cat([x, y, z], dim=1), randn(2, 3), randn(2, 1), randn(2, 4)),
    op("cat_neg_dim", lambda lib, x, y: lib.cat((x, y), -1), randn(2, 3, 2), randn(2, 3, 1)),
    op("cat_1d", lambda lib, x, y: lib.cat([x, y]), randn(3), randn(2)),
    op("stack", lambda lib, x, y: lib.stack([x, y]), randn(2, 3), randn(2, 3)),
    op("stack_dim", lambda lib, x, y, z: lib.stack([x, y, z], dim=1), randn(2, 3), randn(2, 3), randn(2, 3)),
    op("stack_neg_dim", lambda lib, x, y: lib.stack((x, y), dim=-1), randn(4), randn(4)),
    op("clone", lambda lib, x: x.clone() * x, randn(3, 4)),
    op("cast", lambda lib, x: x.float(), randn(3, 4), gradcheck=False),
    # indexing
    op("getitem_int", lambda lib, x: x[1], randn(4, 5, 3)),
    op("getitem_ints", lambda lib, x: x[-1, 2], randn(4, 5, 3)),
    op("getitem_slices_step", lambda lib, x: x[1:4:2, ::2], randn(4, 5, 3)),
    op("getitem_none_ellipsis", lambda lib, x: x[None, ..., 1], randn(4, 5, 3)),
    op("getitem_ellipsis_slice", lambda lib, x: x[..., 0:2, None], randn(4, 5, 3)),
    op("getitem_int_slice_none", lambda lib, x: x[2, None, 1:], randn(4, 5, 3)),
    op("getitem_array_repeats", lambda lib, x: x[[0, 2, 0, 3, 0]], randn(4, 5, 3)),
    op("getitem_two_arrays", lambda lib, x: x[[0, 2, 0], [1, 1, 4]], randn(4, 5, 3)),
    op("getitem_slice_array", lambda lib, x: x[1:, [0, 0, 2]], randn(4, 5, 3)),
    op("getitem_int_tensor", lambda lib, x, i: x[i], randn(4, 3), ints(0, 4, 2, 3)),
    op("getitem_mask", lambda lib, x, m: x[m], randn(4, 5, 3), mask(4, 5)),
    op("getitem_mask_full", lambda lib, x, m: x[m], randn(4, 3), mask(4, 3)),
    op("setitem", lambda lib, x, v: setitem(x, (1, slice(None, 2)), v), randn(3, 4), randn(2)),
    op("setitem_scalar", lambda lib, x: setitem(x, (slice(None), 0), 0.5), randn(3, 4)),
    op("inplace_mul_into_view", lambda lib, x, v: mul_into_view(x, v), randn(4, 3), randn(2, 3)),
    op("inplace_add_into_view_of_view", lambda lib, x, v: add_into_view_of_view(x, v), randn(3, 4), randn(3)),
    op("inplace_copy_into_constant", copy_into_constant, randn(3)),
    op("inplace_other_view_sees_it", lambda lib, x: other_view_sees_the_write(x), randn(4, 2)),
    op("inplace_base_change_seen_by_view", lambda lib, x: view_sees_base_change(x), randn(3, 2)),
    op("inplace_setitem_into_view", lambda lib, x, v: setitem_into_view(x, v), randn(3, 4), randn(2)),
    # nn ops and losses
    op("cross_entropy", lambda lib, x, t: F(lib).cross_entropy(x, t), randn(4, 5), targets(5, 4)),
    op("cross_entropy_sum", lambda lib, x, t: F(lib).cross_entropy(x, t, reduction="sum"), randn(4, 5),
       targets(5, 4)),
    op("cross_entropy_none", lambda lib, x, t: F(lib).cross_entropy(x, t, reduction="none"), randn(4, 5),
       targets(5, 4)),
    op("cross_entropy_ignore", lambda lib, x, t: F(lib).cross_entropy(x, t), randn(6, 3), targets(3, 6, ignore=-100)),
    op("cross_entropy_ignore_custom", lambda lib, x, t: F(lib).cross_entropy(x, t, ignore_index=2), randn(6, 4),
       targets(4, 6, ignore=2)),
    op("cross_entropy_ignore_sum", lambda lib, x, t: F(lib).cross_entropy(x, t, reduction="sum", ignore_index=0),
       randn(6, 3), targets(3, 6, ignore=0)),
    op("cross_entropy_ignore_none", lambda lib, x, t: F(lib).cross_entropy(x, t, reduction="none"), randn(5, 3),
       targets(3, 5, ignore=-100)),
    # every target ignored: the mean is 0/0 = nan, the gradient is zero (as in PyTorch)
    op("cross_entropy_all_ignored", lambda lib, x, t: F(lib).cross_entropy(x, t), randn(3, 4),
       lambda rng: np.full(3, -100), gradcheck=False,
       jvp=False),  # a nan loss: torch's forward mode gives nan, the gradient convention 0
    op("cross_entropy_unbatched", lambda lib, x, t: F(lib).cross_entropy(x, t), randn(5), targets(5)),
    op("mse_loss", lambda lib, x, y: F(lib).mse_loss(x, y), randn(3, 4), randn(3, 4)),
    op("mse_loss_sum", lambda lib, x, y: F(lib).mse_loss(x, y, reduction="sum"), randn(5), randn(5)),
    op("mse_loss_none", lambda lib, x, y: F(lib).mse_loss(x, y, reduction="none"), randn(2, 3), randn(2, 3)),
    op("linear", lambda lib, x, w, b: F(lib).linear(x, w, b), randn(4, 3), randn(5, 3), randn(5)),
    op("linear_no_bias", lambda lib, x, w: F(lib).linear(x, w), randn(4, 3), randn(5, 3)),
    op("linear_batched", lambda lib, x, w, b: F(lib).linear(x, w, b), randn(2, 4, 3), randn(5, 3), randn(5)),
    op("linear_1d", lambda lib, x, w, b: F(lib).linear(x, w, b), randn(3), randn(2, 3), randn(2)),
    # --- convolution
    op("conv2d", lambda lib, x, w, b: F(lib).conv2d(x, w, b), randn(2, 3, 6, 5), randn(4, 3, 3, 3), randn(4)),
    op("conv2d_no_bias", lambda lib, x, w: F(lib).conv2d(x, w), randn(2, 3, 5, 5), randn(2, 3, 2, 3)),
    op("conv2d_stride_padding", lambda lib, x, w, b: F(lib).conv2d(x, w, b, stride=2, padding=1), randn(2, 2, 7, 6),
       randn(3, 2, 3, 3), randn(3)),
    op("conv2d_tuples", lambda lib, x, w, b: F(lib).conv2d(x, w, b, (2, 1), (1, 2), (2, 1)), randn(2, 2, 7, 5),
       randn(3, 2, 3, 2), randn(3)),
    op("conv2d_stride_over_kernel", lambda lib, x, w: F(lib).conv2d(x, w, stride=3), randn(1, 2, 8, 7),
       randn(2, 2, 2, 2)),  # some inputs are never read: their gradient is zero
    op("conv2d_dilation", lambda lib, x, w, b: F(lib).conv2d(x, w, b, dilation=2, padding=1), randn(2, 2, 7, 7),
       randn(3, 2, 3, 3), randn(3)),
    op("conv2d_groups", lambda lib, x, w, b: F(lib).conv2d(x, w, b, groups=2, padding=1), randn(2, 4, 5, 5),
       randn(6, 2, 3, 3), randn(6)),
    op("conv2d_depthwise", lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=1, groups=3), randn(2, 3, 5, 6),
       randn(6, 1, 3, 3), randn(6)),
    op("conv2d_same", lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding="same"), randn(2, 2, 5, 6),
       randn(3, 2, 3, 3), randn(3)),
    op("conv2d_same_even_kernel_dilated", lambda lib, x, w: F(lib).conv2d(x, w, padding="same", dilation=(2, 1)),
       randn(1, 2, 6, 5), randn(3, 2, 3, 4)),  # the odd unit of padding goes on the high side
    op("conv2d_valid", lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding="valid"), randn(2, 2, 5, 4),
       randn(3, 2, 3, 2), randn(3)),
    op("conv2d_pointwise", lambda lib, x, w, b: F(lib).conv2d(x, w, b), randn(2, 3, 4, 3), randn(5, 3, 1, 1), randn(5)),
    # padding beyond the kernel's reach: the input gradient goes through col2im, not a correlation
    op("conv2d_padding_over_reach", lambda lib, x, w: F(lib).conv2d(x, w, padding=(1, 2)), randn(2, 2, 3, 4),
       randn(3, 2, 1, 2)),
    op("conv2d_unbatched", lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=1), randn(2, 4, 5), randn(3, 2, 3, 3),
       randn(3)),
    op("conv1d", lambda lib, x, w, b: F(lib).conv1d(x, w, b), randn(2, 3, 8), randn(4, 3, 3), randn(4)),
    op("conv1d_stride_dilation_groups", lambda lib, x, w, b: F(lib).conv1d(x, w, b, 2, 2, 2, 2), randn(2, 4, 11),
       randn(6, 2, 3), randn(6)),
    op("conv1d_same", lambda lib, x, w: F(lib).conv1d(x, w, padding="same"), randn(2, 2, 7), randn(3, 2, 4)),
    op("conv1d_unbatched", lambda lib, x, w: F(lib).conv1d(x, w, stride=2), randn(3, 9), randn(2, 3, 3)),
    op("conv3d", lambda lib, x, w, b: F(lib).conv3d(x, w, b, padding=1), randn(1, 2, 4, 3, 4), randn(3, 2, 3, 2, 3),
       randn(3)),
    op("conv3d_stride_dilation_groups", lambda lib, x, w: F(lib).conv3d(x, w, stride=(1, 2, 1), dilation=(2, 1, 1),
                                                                       groups=2), randn(2, 4, 5, 5, 3),
       randn(2, 2, 2, 2, 2)),
    op("conv_transpose2d", lambda lib, x, w, b: F(lib).conv_transpose2d(x, w, b), randn(2, 3, 4, 3),
       randn(3, 2, 3, 3), randn(2)),
    op("conv_transpose2d_stride_output_padding", lambda lib, x, w, b: F(lib).conv_transpose2d(
        x, w, b, stride=2, padding=1, output_padding=1), randn(2, 2, 3, 4), randn(2, 3, 3, 3), randn(3)),
    op("conv_transpose2d_groups_dilation", lambda lib, x, w, b: F(lib).conv_transpose2d(
        x, w, b, stride=(2, 1), padding=(0, 1), groups=2, dilation=(1, 2)), randn(2, 4, 3, 4), randn(4, 3, 2, 3),
       randn(6)),
    op("conv_transpose2d_dilation_output_padding", lambda lib, x, w: F(lib).conv_transpose2d(
        x, w, dilation=2, output_padding=1), randn(1, 2, 3, 3), randn(2, 2, 2, 2)),  # output_padding < dilation
    op("conv_transpose2d_no_bias_unbatched", lambda lib, x, w: F(lib).conv_transpose2d(x, w, stride=2), randn(2, 3, 3),
       randn(2, 2, 2, 2)),
    op("conv_transpose1d", lambda lib, x, w, b: F(lib).conv_transpose1d(x, w, b, stride=3, padding=1,
                                                                         output_padding=2), randn(2, 3, 5),
       randn(3, 2, 4), randn(2)),
    op("conv_transpose1d_groups", lambda lib, x, w: F(lib).conv_transpose1d(x, w, groups=3), randn(2, 3, 4),
       randn(3, 1, 3)),
    op("conv_transpose3d", lambda lib, x, w, b: F(lib).conv_transpose3d(x, w, b, stride=(1, 2, 1), padding=(0, 1, 0),
                                                                         output_padding=(0, 1, 0)),
       randn(1, 2, 2, 3, 2), randn(2, 2, 2, 3, 2), randn(2)),
    op("unfold", lambda lib, x: F(lib).unfold(x, 2), randn(2, 3, 4, 5)),
    op("unfold_geometry", lambda lib, x: F(lib).unfold(x, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
       randn(2, 2, 5, 6)),
    op("unfold_unbatched", lambda lib, x: F(lib).unfold(x, 3, padding=1, stride=2), randn(2, 5, 4)),
    op("fold", lambda lib, x: F(lib).fold(x, (4, 5), 2), randn(2, 12, 12)),  # overlapping blocks add up
    op("fold_geometry", lambda lib, x: F(lib).fold(x, (5, 6), (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
       randn(2, 12, 15)),
    op("fold_unbatched", lambda lib, x: F(lib).fold(x, 4, 3, padding=1, stride=2), randn(9, 4)),

    # --- pooling
    op("max_pool2d", lambda lib, x: F(lib).max_pool2d(x, 2), distinct(2, 3, 6, 6)),
    op("max_pool2d_odd_size", lambda lib, x: F(lib).max_pool2d(x, 2), distinct(2, 2, 5, 7)),
    op("max_pool2d_stride_pad", lambda lib, x: F(lib).max_pool2d(x, 3, stride=2, padding=1), distinct(2, 2, 7, 7)),
    op("max_pool2d_overlap", lambda lib, x: F(lib).max_pool2d(x, 3, stride=1), distinct(1, 2, 5, 6)),
    op("max_pool2d_dilation", lambda lib, x: F(lib).max_pool2d(x, (2, 3), stride=1, dilation=2), distinct(1, 2, 7, 8)),
    op("max_pool2d_dilation_pad", lambda lib, x: F(lib).max_pool2d(x, 2, stride=(1, 2), padding=1, dilation=(2, 1)),
       distinct(1, 2, 6, 7)),
    op("max_pool2d_rect", lambda lib, x: F(lib).max_pool2d(x, (2, 3), stride=(1, 2), padding=(1, 1)),
       distinct(2, 2, 5, 6)),
    op("max_pool2d_ceil", lambda lib, x: F(lib).max_pool2d(x, 2, ceil_mode=True), distinct(1, 2, 5, 7)),
    op("max_pool2d_ceil_pad", lambda lib, x: F(lib).max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
       distinct(1, 2, 6, 8)),
    op("max_pool2d_unbatched", lambda lib, x: F(lib).max_pool2d(x, 2, stride=1), distinct(3, 4, 5)),
    op("max_pool2d_indices", lambda lib, x: F(lib).max_pool2d(x, 3, stride=2, padding=1, return_indices=True),
       distinct(2, 2, 7, 6)),
    op("max_pool2d_indices_ceil_dilation", lambda lib, x: F(lib).max_pool2d(x, 2, stride=2, dilation=2,
                                                                            ceil_mode=True, return_indices=True),
       distinct(1, 2, 7, 8)),
    op("max_pool2d_indices_2x2", lambda lib, x: F(lib).max_pool2d(x, 2, return_indices=True), distinct(2, 2, 4, 6)),
    # ties: the first max of each window takes the whole gradient, in both libraries
    op("max_pool2d_ties", lambda lib, x: F(lib).max_pool2d(x, 3, stride=2, padding=1), ties(2, 2, 6, 6),
       gradcheck=False),
    op("max_pool2d_indices_ties", lambda lib, x: F(lib).max_pool2d(x, 2, stride=1, return_indices=True),
       ties(1, 2, 5, 5), gradcheck=False),
    # max-pool's gradient as a function of the output gradient v (grad mode on, also inside gradcheck):
    # its own gradient is a gather
    op("max_pool2d_gradient", lambda lib, x, v: lib.enable_grad()(lambda: (
        torch.autograd.grad if lib is torch else ag.grad)(F(lib).max_pool2d(x, 3, stride=2, padding=1), x, v,
                                                          create_graph=True)[0])(),
       distinct(1, 2, 5, 6), randn(1, 2, 3, 3)),
    op("max_pool1d", lambda lib, x: F(lib).max_pool1d(x, 2), distinct(2, 3, 8)),
    op("max_pool1d_options", lambda lib, x: F(lib).max_pool1d(x, 3, stride=2, padding=1, dilation=2, ceil_mode=True),
       distinct(2, 2, 10)),
    op("max_pool1d_indices_unbatched", lambda lib, x: F(lib).max_pool1d(x, 3, stride=2, return_indices=True),
       distinct(3, 9)),
    op("avg_pool2d", lambda lib, x: F(lib).avg_pool2d(x, 2), randn(2, 3, 6, 6)),
    op("avg_pool2d_odd_size", lambda lib, x: F(lib).avg_pool2d(x, (2, 3)), randn(2, 2, 5, 7)),
    op("avg_pool2d_stride_pad", lambda lib, x: F(lib).avg_pool2d(x, 3, stride=2, padding=1), randn(2, 2, 7, 6)),
    op("avg_pool2d_exclude_pad", lambda lib, x: F(lib).avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
       randn(2, 2, 7, 6)),
    op("avg_pool2d_ceil", lambda lib, x: F(lib).avg_pool2d(x, 2, ceil_mode=True), randn(1, 2, 5, 7)),
    op("avg_pool2d_ceil_pad", lambda lib, x: F(lib).avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
       randn(1, 2, 6, 8)),
    op("avg_pool2d_ceil_pad_exclude", lambda lib, x: F(lib).avg_pool2d(x, (3, 2), stride=2, padding=1,
                                                                       ceil_mode=True, count_include_pad=False),
       randn(1, 2, 6, 7)),
    op("avg_pool2d_divisor", lambda lib, x: F(lib).avg_pool2d(x, 3, stride=2, padding=1, divisor_override=5),
       randn(1, 2, 6, 6)),
    op("avg_pool2d_overlap", lambda lib, x: F(lib).avg_pool2d(x, 3, stride=1), randn(1, 2, 5, 6)),
    op("avg_pool2d_unbatched", lambda lib, x: F(lib).avg_pool2d(x, 2, stride=(1, 2)), randn(3, 4, 6)),
    op("avg_pool1d", lambda lib, x: F(lib).avg_pool1d(x, 2), randn(2, 3, 8)),
    op("avg_pool1d_options", lambda lib, x: F(lib).avg_pool1d(x, 3, stride=2, padding=1, ceil_mode=True,
                                                              count_include_pad=False), randn(2, 2, 10)),
    op("adaptive_avg_pool2d_global", lambda lib, x: F(lib).adaptive_avg_pool2d(x, 1), randn(2, 3, 5, 4)),
    op("adaptive_avg_pool2d_odd", lambda lib, x: F(lib).adaptive_avg_pool2d(x, (3, 4)), randn(2, 2, 7, 9)),
    op("adaptive_avg_pool2d_tiles", lambda lib, x: F(lib).adaptive_avg_pool2d(x, (2, 3)), randn(2, 2, 4, 6)),
    op("adaptive_avg_pool2d_none_upsample", lambda lib, x: F(lib).adaptive_avg_pool2d(x, (None, 5)), randn(3, 4, 3)),
    op("adaptive_avg_pool1d", lambda lib, x: F(lib).adaptive_avg_pool1d(x, 3), randn(2, 3, 7)),
    op("adaptive_max_pool2d", lambda lib, x: F(lib).adaptive_max_pool2d(x, (3, 4)), distinct(2, 2, 7, 9)),
    op("adaptive_max_pool2d_indices", lambda lib, x: F(lib).adaptive_max_pool2d(x, (4, 2), return_indices=True),
       distinct(2, 2, 5, 5)),
    op("adaptive_max_pool2d_global_unbatched", lambda lib, x: F(lib).adaptive_max_pool2d(x, 1), distinct(3, 4, 5)),
    op("adaptive_max_pool2d_ties", lambda lib, x: F(lib).adaptive_max_pool2d(x, 3, return_indices=True),
       ties(1, 2, 5, 5), gradcheck=False),
    op("adaptive_max_pool1d", lambda lib, x: F(lib).adaptive_max_pool1d(x, 4, return_indices=True), distinct(2, 3, 7)),
    op("max_unpool2d", lambda lib, x: F(lib).max_unpool2d(*F(lib).max_pool2d(x, 2, return_indices=True), 2),
       distinct(2, 2, 4, 6)),
    op("max_unpool2d_output_size", lambda lib, x: F(lib).max_unpool2d(
        *F(lib).max_pool2d(x, 3, stride=3, padding=1, return_indices=True), 3, stride=3, padding=1,
        output_size=(7, 6)), distinct(1, 2, 7, 6)),
    # overlapping windows repeat indices: unpool writes each once, but its gradient (a gather, as
    # PyTorch's) reads every repeat, so finite differences disagree with both libraries
    op("max_unpool2d_overlapping", lambda lib, x: F(lib).max_unpool2d(
        *F(lib).max_pool2d(x, 3, stride=2, padding=1, return_indices=True), 3, stride=2, padding=1,
        output_size=(7, 6)), distinct(1, 2, 7, 6), gradcheck=False),
    op("max_unpool2d_values", lambda lib, x, y: F(lib).max_unpool2d(
        y, F(lib).max_pool2d(x, 2, return_indices=True)[1], 2), distinct(2, 2, 4, 4), randn(2, 2, 2, 2)),
    op("max_unpool1d", lambda lib, x: F(lib).max_unpool1d(*F(lib).max_pool1d(x, 2, return_indices=True), 2),
       distinct(2, 2, 6)),

    # --- padding and resampling
    op("pad_constant", lambda lib, x: F(lib).pad(x, (1, 2)), randn(2, 3, 4)),
    op("pad_constant_value", lambda lib, x: F(lib).pad(x, (1, 0, 2, 1), value=1.5), randn(2, 3, 4)),
    op("pad_constant_crop", lambda lib, x: F(lib).pad(x, (-1, 2, 1, -2)), randn(2, 4, 5)),
    op("pad_constant_three_dims", lambda lib, x: F(lib).pad(x, (1, 1, 0, 2, 1, 0), "constant", -2.0),
       randn(2, 2, 3, 4)),
    op("pad_reflect_1d", lambda lib, x: F(lib).pad(x, (2, 1), mode="reflect"), randn(2, 3, 5)),
    op("pad_reflect_2d", lambda lib, x: F(lib).pad(x, (1, 2, 2, 1), mode="reflect"), randn(1, 2, 4, 5)),
    op("pad_reflect_crop", lambda lib, x: F(lib).pad(x, (-1, 3, 2, -1), mode="reflect"), randn(1, 2, 4, 5)),
    op("pad_reflect_unbatched", lambda lib, x: F(lib).pad(x, (1, 1, 1, 1), mode="reflect"), randn(2, 3, 4)),
    op("pad_replicate_1d", lambda lib, x: F(lib).pad(x, (3, 1), mode="replicate"), randn(2, 4)),
    op("pad_replicate_2d", lambda lib, x: F(lib).pad(x, (2, 5, 1, 0), mode="replicate"), randn(2, 2, 3, 4)),
    op("pad_replicate_crop", lambda lib, x: F(lib).pad(x, (3, -2, -1, 1), mode="replicate"), randn(1, 2, 4, 5)),
    op("pad_circular_1d", lambda lib, x: F(lib).pad(x, (2, 3), mode="circular"), randn(2, 2, 4)),
    op("pad_circular_2d", lambda lib, x: F(lib).pad(x, (1, 4, 2, 1), mode="circular"), randn(1, 2, 3, 4)),
    op("pad_circular_crop", lambda lib, x: F(lib).pad(x, (-2, 3, 1, -1), mode="circular"), randn(1, 2, 4, 5)),
    op("interpolate_nearest_scale", lambda lib, x: F(lib).interpolate(x, scale_factor=2), randn(2, 2, 3, 4)),
    op("interpolate_nearest_size", lambda lib, x: F(lib).interpolate(x, size=(5, 7)), randn(2, 2, 3, 4)),
    op("interpolate_nearest_down", lambda lib, x: F(lib).interpolate(x, size=(2, 3), mode="nearest"),
       randn(1, 2, 5, 7)),
    op("interpolate_nearest_fraction", lambda lib, x: F(lib).interpolate(x, scale_factor=(1.5, 0.7)),
       randn(1, 2, 4, 6)),
    op("interpolate_nearest_1d", lambda lib, x: F(lib).interpolate(x, size=7), randn(2, 3, 3)),
    op("interpolate_nearest_exact", lambda lib, x: F(lib).interpolate(x, size=(5, 3), mode="nearest-exact"),
       randn(1, 2, 3, 7)),
    op("interpolate_nearest_exact_scale", lambda lib, x: F(lib).interpolate(x, scale_factor=1.7, mode="nearest-exact"),
       randn(1, 2, 3, 4)),
    op("interpolate_bilinear", lambda lib, x: F(lib).interpolate(x, size=(5, 7), mode="bilinear"), randn(2, 2, 3, 4)),
    op("interpolate_bilinear_align", lambda lib, x: F(lib).interpolate(x, size=(5, 7), mode="bilinear",
                                                                       align_corners=True), randn(2, 2, 3, 4)),
    op("interpolate_bilinear_scale", lambda lib, x: F(lib).interpolate(x, scale_factor=2, mode="bilinear"),
       randn(1, 2, 3, 4)),
    op("interpolate_bilinear_scale_fraction", lambda lib, x: F(lib).interpolate(
        x, scale_factor=(1.5, 0.6), mode="bilinear"), randn(1, 2, 3, 5)),
    op("interpolate_bilinear_recompute", lambda lib, x: F(lib).interpolate(
        x, scale_factor=1.7, mode="bilinear", recompute_scale_factor=True), randn(1, 2, 3, 4)),
    op("interpolate_bilinear_down_align", lambda lib, x: F(lib).interpolate(x, size=(2, 3), mode="bilinear",
                                                                            align_corners=True), randn(1, 2, 5, 7)),
    op("interpolate_bilinear_down", lambda lib, x: F(lib).interpolate(x, size=(2, 3), mode="bilinear"),
       randn(1, 2, 5, 7)),
    op("interpolate_bilinear_to_one", lambda lib, x: F(lib).interpolate(x, size=(1, 3), mode="bilinear",
                                                                        align_corners=True), randn(1, 2, 4, 3)),
    op("interpolate_linear", lambda lib, x: F(lib).interpolate(x, scale_factor=2.5, mode="linear"), randn(2, 3, 4)),
    op("interpolate_linear_align", lambda lib, x: F(lib).interpolate(x, size=6, mode="linear", align_corners=True),
       randn(2, 3, 4)),
    op("interpolate_area", lambda lib, x: F(lib).interpolate(x, size=(2, 3), mode="area"), randn(1, 2, 5, 7)),
    # reshaped to a fixed shape, so the empty sample family is refused by both: torch 2.13's backward of
    # pixel_(un)shuffle on an empty tensor returns a wrongly shaped gradient (tests/test_nn_pooling.py
    # checks the empty forward)
    op("pixel_shuffle", lambda lib, x: F(lib).pixel_shuffle(x.reshape(2, 8, 3, 2), 2), randn(2, 8, 3, 2)),
    op("pixel_shuffle_unbatched", lambda lib, x: F(lib).pixel_shuffle(x.reshape(9, 2, 2), 3), randn(9, 2, 2)),
    op("pixel_unshuffle", lambda lib, x: F(lib).pixel_unshuffle(x.reshape(2, 2, 4, 6), 2), randn(2, 2, 4, 6)),
    op("pixel_unshuffle_5d", lambda lib, x: F(lib).pixel_unshuffle(x.reshape(2, 1, 2, 3, 6), 3),
       randn(2, 1, 2, 3, 6)),

    # --- normalization
    # training: the batch's statistics (running statistics, when given, are updated: see test_nn_normalization)
    op("batch_norm_train", lambda lib, x, w, b: F(lib).batch_norm(x, None, None, w, b, training=True),
       randn(4, 3), uniform(0.5, 1.5, 3), randn(3)),
    op("batch_norm_train_2d", lambda lib, x, w, b: F(lib).batch_norm(x, None, None, w, b, True, 0.1, 1e-3),
       randn(2, 3, 4, 5), uniform(0.5, 1.5, 3), randn(3)),
    op("batch_norm_train_1d_running", lambda lib, x: F(lib).batch_norm(x, lib.zeros(3, dtype=x.dtype, device=x.device),
                                                                          lib.ones(3, dtype=x.dtype, device=x.device), training=True),
       randn(2, 3, 4, scale=2)),
    op("batch_norm_train_3d", lambda lib, x, w: F(lib).batch_norm(x, None, None, w, training=True),
       randn(2, 2, 3, 2, 2), uniform(0.5, 1.5, 2)),
    # eval: the running statistics (constants, made in the row so they get no gradient)
    op("batch_norm_eval", lambda lib, x, w, b: F(lib).batch_norm(
        x, lib.linspace(-0.5, 0.5, 3, dtype=x.dtype, device=x.device), lib.linspace(0.7, 1.5, 3, dtype=x.dtype, device=x.device), w, b),
       randn(4, 3, 2), uniform(0.5, 1.5, 3), randn(3)),
    op("batch_norm_eval_no_affine", lambda lib, x: F(lib).batch_norm(
        x, lib.linspace(-0.5, 0.5, 3, dtype=x.dtype, device=x.device), lib.linspace(0.7, 1.5, 3, dtype=x.dtype, device=x.device), eps=0.1),
       randn(2, 3, 2, 2)),
    op("layer_norm", lambda lib, x, w, b: F(lib).layer_norm(x, (4,), w, b), randn(3, 4), uniform(0.5, 1.5, 4),
       randn(4)),
    op("layer_norm_2dims", lambda lib, x, w, b: F(lib).layer_norm(x, (3, 4), w, b, eps=1e-3), randn(2, 3, 4),
       uniform(0.5, 1.5, 3, 4), randn(3, 4)),
    op("layer_norm_no_affine", lambda lib, x: F(lib).layer_norm(x, [5]), randn(2, 3, 5)),
    op("group_norm", lambda lib, x, w, b: F(lib).group_norm(x, 2, w, b), randn(2, 4, 3), uniform(0.5, 1.5, 4),
       randn(4)),
    op("group_norm_2d", lambda lib, x, w, b: F(lib).group_norm(x, 3, w, b, eps=1e-3), randn(2, 6, 2, 3),
       uniform(0.5, 1.5, 6), randn(6)),
    op("group_norm_no_affine", lambda lib, x: F(lib).group_norm(x, 1), randn(3, 2, 4)),
    op("instance_norm", lambda lib, x: F(lib).instance_norm(x), randn(2, 3, 5)),
    op("instance_norm_affine_2d", lambda lib, x, w, b: F(lib).instance_norm(x, weight=w, bias=b),
       randn(2, 3, 3, 2), uniform(0.5, 1.5, 3), randn(3)),
    op("instance_norm_running", lambda lib, x: F(lib).instance_norm(x, lib.zeros(3, dtype=x.dtype, device=x.device),
                                                                     lib.ones(3, dtype=x.dtype, device=x.device)), randn(2, 3, 4)),
    op("instance_norm_eval", lambda lib, x: F(lib).instance_norm(
        x, lib.linspace(-0.5, 0.5, 3, dtype=x.dtype, device=x.device), lib.linspace(0.7, 1.5, 3, dtype=x.dtype, device=x.device),
        use_input_stats=False), randn(2, 3, 4)),

    # --- dropout (deterministic pieces: p=0, eval)
    op("dropout_eval", lambda lib, x: F(lib).dropout(x, 0.5, training=False) * 2, randn(3, 4)),
    op("dropout_p0", lambda lib, x: F(lib).dropout(x, 0.0) * 2, randn(3, 4)),
    op("dropout_p1", lambda lib, x: F(lib).dropout(x, 1.0), randn(3, 4)),  # every element dropped: zeros
    op("dropout1d_p1", lambda lib, x: F(lib).dropout1d(x, 1.0), randn(2, 3, 4)),
    op("dropout2d_p1", lambda lib, x: F(lib).dropout2d(x, 1.0), randn(2, 3, 2, 2)),
    op("dropout2d_eval", lambda lib, x: F(lib).dropout2d(x, 0.3, training=False) * 2, randn(2, 3, 2, 2)),
    op("alpha_dropout_eval", lambda lib, x: F(lib).alpha_dropout(x, 0.5) * 2, randn(3, 4)),
    op("alpha_dropout_p1", lambda lib, x: F(lib).alpha_dropout(x, 1.0, training=True), randn(3, 4)),
    op("feature_alpha_dropout_p0", lambda lib, x: F(lib).feature_alpha_dropout(x, 0.0, training=True) * 2,
       randn(2, 3, 4)),

    # --- activations
    op("erf", lambda lib, x: (torch.erf if lib is torch else agops.erf)(x), randn(3, 4)),
    op("gelu", lambda lib, x: F(lib).gelu(x), randn(3, 4, scale=2)),
    op("gelu_tanh", lambda lib, x: F(lib).gelu(x, approximate="tanh"), randn(3, 4, scale=2)),
    op("silu", lambda lib, x: F(lib).silu(x), randn(3, 4, scale=2)),
    op("mish", lambda lib, x: F(lib).mish(x), randn(3, 4, scale=2)),
    op("softplus", lambda lib, x: F(lib).softplus(x), randn(3, 4, scale=3)),
    # beta * x crosses the threshold: the identity there (kept away from the cut-off)
    op("softplus_beta_threshold", lambda lib, x: F(lib).softplus(x, beta=2.0, threshold=1.0),
       away(3, 4, kinks=(0.5,), gap=0.1)),
    op("logsigmoid", lambda lib, x: F(lib).logsigmoid(x), randn(3, 4, scale=3)),
    op("logsigmoid_large", lambda lib, x: F(lib).logsigmoid(x), uniform(-40, 40, 6)),
    op("elu", lambda lib, x: F(lib).elu(x), away(3, 4)),
    op("elu_alpha", lambda lib, x: F(lib).elu(x, alpha=0.5), away(3, 4)),
    op("selu", lambda lib, x: F(lib).selu(x), away(3, 4)),
    op("celu", lambda lib, x: F(lib).celu(x, alpha=2.0), away(3, 4)),
    op("leaky_relu", lambda lib, x: F(lib).leaky_relu(x), away(3, 4)),
    op("leaky_relu_slope", lambda lib, x: F(lib).leaky_relu(x, 0.2), away(2, 3, 4)),
    op("prelu", lambda lib, x, w: F(lib).prelu(x, w), away(2, 3, 4), uniform(0.1, 0.5, 3)),
    op("prelu_single", lambda lib, x, w: F(lib).prelu(x, w), away(2, 3), uniform(0.1, 0.5, 1)),
    op("rrelu_eval", lambda lib, x: F(lib).rrelu(x, 0.1, 0.3), away(3, 4)),
    op("hardtanh", lambda lib, x: F(lib).hardtanh(x), away(3, 4, kinks=(-1.0, 1.0))),
    op("hardtanh_bounds", lambda lib, x: F(lib).hardtanh(x, -0.5, 0.3), away(3, 4, kinks=(-0.5, 0.3), gap=0.05)),
    # scaled inputs reach the saturated sides; the samples stay away from the kinks
    op("relu6", lambda lib, x: F(lib).relu6(x * 4), away(3, 4, kinks=(0.0, 1.5))),
    # PyTorch has no double backward for hardsigmoid (ndgrad's is the exact zero)
    op("hardsigmoid", lambda lib, x: F(lib).hardsigmoid(x * 3), away(3, 4, kinks=(-1.0, 1.0)), double=False),
    op("hardswish", lambda lib, x: F(lib).hardswish(x * 3), away(3, 4, kinks=(-1.0, 1.0))),
    op("softsign", lambda lib, x: F(lib).softsign(x), away(3, 4)),
    op("tanhshrink", lambda lib, x: F(lib).tanhshrink(x), randn(3, 4)),
    op("softshrink", lambda lib, x: F(lib).softshrink(x), away(3, 4, kinks=(-0.5, 0.5))),
    op("softshrink_lambd", lambda lib, x: F(lib).softshrink(x, 1.0), away(3, 4, kinks=(-1.0, 1.0))),
    op("hardshrink", lambda lib, x: F(lib).hardshrink(x), away(3, 4, kinks=(-0.5, 0.5))),
    op("threshold", lambda lib, x: F(lib).threshold(x, 0.1, -2.0), away(3, 4, kinks=(0.1,))),
    op("glu", lambda lib, x: F(lib).glu(x), randn(3, 4)),
    op("glu_dim", lambda lib, x: F(lib).glu(x, dim=0), randn(4, 3)),
    op("softmin", lambda lib, x: F(lib).softmin(x, dim=1), randn(3, 4)),

    # --- losses
    # class indices: constant class weights (PyTorch refuses a gradient for them), ignore_index,
    # K-dim inputs (N, C, d1, ...)
    op("nll_loss", lambda lib, x, t: F(lib).nll_loss(x, t), randn(4, 5), targets(5, 4)),
    op("nll_loss_sum", lambda lib, x, t: F(lib).nll_loss(x, t, reduction="sum"), randn(4, 5), targets(5, 4)),
    op("nll_loss_none", lambda lib, x, t: F(lib).nll_loss(x, t, reduction="none"), randn(4, 5), targets(5, 4)),
    op("nll_loss_unbatched", lambda lib, x, t: F(lib).nll_loss(x, t), randn(5), targets(5)),
    op("nll_loss_weight_ignore", lambda lib, x, t: F(lib).nll_loss(x, t, weight=x.new_tensor([0.5, 1.5, 1.0, 2.0])),
       randn(6, 4),
       targets(4, 6, ignore=-100)),
    op("nll_loss_weight_ignore_custom_none", lambda lib, x, t: F(lib).nll_loss(
        x, t, weight=x.new_tensor([0.5, 1.5, 1.0, 2.0]), ignore_index=1, reduction="none"), randn(6, 4),
       targets(4, 6, ignore=1)),
    # (on log_softmax's output: PyTorch's nll_loss2d refuses a transposed input in backward)
    op("nll_loss_kdim", lambda lib, x, t: F(lib).nll_loss(x.log_softmax(1), t), randn(2, 4, 3, 2),
       targets(4, 2, 3, 2)),
    op("nll_loss_kdim_weight_none", lambda lib, x, t: F(lib).nll_loss(
        x, t, weight=x.new_tensor([0.5, 1.5, 1.0, 2.0]), reduction="none"),
       randn(3, 4, 5), targets(4, 3, 5, ignore=-100)),
    op("cross_entropy_weight", lambda lib, x, t: F(lib).cross_entropy(
        x, t, weight=x.new_tensor([0.5, 1.5, 1.0, 2.0])), randn(5, 4),
       targets(4, 5)),
    op("cross_entropy_weight_ignore_sum", lambda lib, x, t: F(lib).cross_entropy(
        x, t, weight=x.new_tensor([0.5, 1.5, 1.0, 2.0]), reduction="sum"), randn(6, 4), targets(4, 6, ignore=-100)),
    op("cross_entropy_kdim", lambda lib, x, t: F(lib).cross_entropy(x, t), randn(2, 3, 4), targets(3, 2, 4)),
    op("cross_entropy_kdim_none", lambda lib, x, t: F(lib).cross_entropy(x, t, reduction="none"), randn(2, 3, 2, 2),
       targets(3, 2, 2, 2, ignore=-100)),
    op("cross_entropy_smoothing", lambda lib, x, t: F(lib).cross_entropy(x, t, label_smoothing=0.2), randn(4, 5),
       targets(5, 4)),
    op("cross_entropy_smoothing_none", lambda lib, x, t: F(lib).cross_entropy(
        x, t, label_smoothing=0.1, reduction="none"), randn(5, 3), targets(3, 5, ignore=-100)),
    op("cross_entropy_smoothing_weight_ignore", lambda lib, x, t: F(lib).cross_entropy(
        x, t, weight=x.new_tensor([0.5, 1.5, 1.0, 2.0]), label_smoothing=0.3), randn(6, 4), targets(4, 6, ignore=-100)),
    op("cross_entropy_smoothing_weight_kdim_sum", lambda lib, x, t: F(lib).cross_entropy(
        x, t, weight=x.new_tensor([2.0, 0.25, 1.0]), label_smoothing=0.25, reduction="sum", ignore_index=0),
       randn(2, 3, 4),
       targets(3, 2, 4, ignore=0)),
    op("cross_entropy_smoothing_unbatched", lambda lib, x, t: F(lib).cross_entropy(x, t, label_smoothing=0.5),
       randn(5), targets(5)),
    # class probabilities: a float target of the input's shape (it gets a gradient too)
    op("cross_entropy_probs", lambda lib, x, p: F(lib).cross_entropy(x, p), randn(4, 5), positive(4, 5)),
    op("cross_entropy_probs_none", lambda lib, x, p: F(lib).cross_entropy(x, p, reduction="none"), randn(3, 4),
       positive(3, 4)),
    op("cross_entropy_probs_weight_smoothing", lambda lib, x, p: F(lib).cross_entropy(
        x, p, weight=x.new_tensor([2.0, 0.25, 1.0]), label_smoothing=0.2), randn(4, 3), positive(4, 3)),
    op("cross_entropy_probs_kdim_sum", lambda lib, x, p: F(lib).cross_entropy(x, p, reduction="sum"),
       randn(2, 3, 4), positive(2, 3, 4)),
    op("cross_entropy_probs_unbatched", lambda lib, x, p: F(lib).cross_entropy(x, p), randn(5), positive(5)),
    # binary cross entropy
    op("binary_cross_entropy", lambda lib, x, t: F(lib).binary_cross_entropy(x, t), uniform(0.05, 0.95, 3, 4),
       uniform(0, 1, 3, 4)),
    op("binary_cross_entropy_weight_none", lambda lib, x, t: F(lib).binary_cross_entropy(
        x, t, weight=x.new_tensor([0.5, 1.5, 1.0, 2.0]), reduction="none"), uniform(0.05, 0.95, 3, 4),
       uniform(0, 1, 3, 4)),
    op("binary_cross_entropy_weight_sum", lambda lib, x, t: F(lib).binary_cross_entropy(
        x, t, weight=x.new_tensor([0.5, 1.5, 1.0, 2.0])[:, None], reduction="sum"), uniform(0.05, 0.95, 4, 2),
       uniform(0, 1, 4, 2)),
    op("binary_cross_entropy_with_logits", lambda lib, x, t: F(lib).binary_cross_entropy_with_logits(x, t),
       randn(3, 4, scale=3), uniform(0, 1, 3, 4)),
    op("binary_cross_entropy_with_logits_pos_weight", lambda lib, x, t: F(lib).binary_cross_entropy_with_logits(
        x, t, pos_weight=x.new_tensor([0.5, 1.5, 1.0, 2.0])), randn(3, 4, scale=3), uniform(0, 1, 3, 4)),
    op("binary_cross_entropy_with_logits_weights_none", lambda lib, x, t: F(
        lib).binary_cross_entropy_with_logits(x, t, weight=x.new_tensor([2.0, 0.25, 1.0])[:, None],
                                              pos_weight=x.new_tensor([0.25, 3.0]), reduction="none"),
       randn(3, 2), uniform(0, 1, 3, 2)),
    op("binary_cross_entropy_with_logits_sum", lambda lib, x, t: F(lib).binary_cross_entropy_with_logits(
        x, t, reduction="sum"), randn(6, scale=3), uniform(0, 1, 6)),
    # regression: broadcasting targets (with PyTorch's warning), beta/delta, weights
    op("mse_loss_broadcast", lambda lib, x, y: F(lib).mse_loss(x, y), randn(3, 4), randn(4)),
    op("mse_loss_broadcast_up_none", lambda lib, x, y: F(lib).mse_loss(x, y, reduction="none"), randn(4), randn(2, 4)),
    op("l1_loss", lambda lib, x, y: F(lib).l1_loss(x, y), randn(3, 4), randn(3, 4)),
    op("l1_loss_none_broadcast", lambda lib, x, y: F(lib).l1_loss(x, y, reduction="none"), randn(3, 4), randn(3, 1)),
    op("l1_loss_sum", lambda lib, x, y: F(lib).l1_loss(x, y, reduction="sum"), randn(5), randn(5)),
    op("smooth_l1_loss", lambda lib, x, y: F(lib).smooth_l1_loss(x, y), randn(4, 5, scale=2), randn(4, 5)),
    op("smooth_l1_loss_beta_none", lambda lib, x, y: F(lib).smooth_l1_loss(x, y, reduction="none", beta=0.5),
       randn(3, 4), randn(3, 4)),
    op("smooth_l1_loss_beta0_sum", lambda lib, x, y: F(lib).smooth_l1_loss(x, y, reduction="sum", beta=0.0),
       randn(6), randn(6)),
    op("huber_loss", lambda lib, x, y: F(lib).huber_loss(x, y), randn(4, 5, scale=2), randn(4, 5)),
    op("huber_loss_delta_sum", lambda lib, x, y: F(lib).huber_loss(x, y, reduction="sum", delta=0.7), randn(3, 4),
       randn(4)),
    op("huber_loss_weight_none", lambda lib, x, y, w: F(lib).huber_loss(x, y, reduction="none", delta=1.5, weight=w),
       randn(3, 4, scale=2), randn(3, 4), positive(3, 4)),
    # divergences and likelihoods
    op("kl_div", lambda lib, x, t: F(lib).kl_div(x, t), randn(3, 4), positive(3, 4)),
    op("kl_div_batchmean", lambda lib, x, t: F(lib).kl_div(x, t, reduction="batchmean"), randn(3, 4),
       positive(3, 4)),
    op("kl_div_log_target_sum", lambda lib, x, t: F(lib).kl_div(x, t, reduction="sum", log_target=True),
       randn(3, 4), randn(3, 4)),
    op("kl_div_none", lambda lib, x, t: F(lib).kl_div(x, t, reduction="none"), randn(2, 3), positive(2, 3)),
    # 0 log 0 = 0 (the target's gradient there is infinite: PyTorch's nan, not compared)
    op("kl_div_zero_target", lambda lib, x, t: F(lib).kl_div(x, t.detach(), reduction="sum"), randn(6),
       lambda rng: np.array([0.0, 0.5, 0.0, 1.2, 0.3, 0.0]), gradcheck=False),
    op("poisson_nll_loss", lambda lib, x, t: F(lib).poisson_nll_loss(x, t), randn(3, 4), uniform(0, 3, 3, 4)),
    op("poisson_nll_loss_no_log_none", lambda lib, x, t: F(lib).poisson_nll_loss(
        x, t, log_input=False, reduction="none"), positive(3, 4), uniform(0, 3, 3, 4)),
    op("poisson_nll_loss_full_sum", lambda lib, x, t: F(lib).poisson_nll_loss(x, t, full=True, reduction="sum"),
       randn(8), lambda rng: np.array([0.1, 0.5, 1.5, 2.0, 3.5, 0.2, 4.0, 1.3])),
    op("gaussian_nll_loss", lambda lib, x, t, v: F(lib).gaussian_nll_loss(x, t, v), randn(3, 4), randn(3, 4),
       positive(3, 4)),
    op("gaussian_nll_loss_homoscedastic_full", lambda lib, x, t, v: F(lib).gaussian_nll_loss(
        x, t, v, full=True, reduction="sum"), randn(3, 4), randn(3, 4), positive(3)),
    op("gaussian_nll_loss_one_dim_none", lambda lib, x, t, v: F(lib).gaussian_nll_loss(x, t, v, reduction="none"),
       randn(2, 3, 4), randn(2, 3, 4), positive(2, 1, 4)),
    # var below eps is clamped, its gradient passes the clamp unchanged (as PyTorch): not finite differences
    op("gaussian_nll_loss_clamped_eps", lambda lib, x, t, v: F(lib).gaussian_nll_loss(x, t, v, eps=0.3), randn(6),
       randn(6), uniform(0.01, 0.6, 6), gradcheck=False,
       jvp=False),  # the clamp's gradient convention is not the clamp's derivative
    # margins and embeddings (targets of +-1)
    op("margin_ranking_loss", lambda lib, a, b, y: F(lib).margin_ranking_loss(a, b, y, margin=0.3), randn(6),
       randn(6), lambda rng: rng.choice([-1.0, 1.0], 6)),
    op("margin_ranking_loss_none", lambda lib, a, b, y: F(lib).margin_ranking_loss(a, b, y, reduction="none"),
       randn(2, 3), randn(2, 3), lambda rng: rng.choice([-1.0, 1.0], (2, 3))),
    op("hinge_embedding_loss", lambda lib, x, y: F(lib).hinge_embedding_loss(x, y), randn(3, 4),
       lambda rng: rng.choice([-1.0, 1.0], (3, 4))),
    op("hinge_embedding_loss_margin_sum", lambda lib, x, y: F(lib).hinge_embedding_loss(
        x, y, margin=0.5, reduction="sum"), randn(6), lambda rng: rng.choice([-1.0, 1.0], 6)),
    # PyTorch has no gradient for soft_margin_loss's target (and refuses one that requires it): integer targets
    op("soft_margin_loss", lambda lib, x, y: F(lib).soft_margin_loss(x, y), randn(3, 4),
       lambda rng: rng.choice([-1, 1], (3, 4))),
    op("soft_margin_loss_none", lambda lib, x, y: F(lib).soft_margin_loss(x, y, reduction="none"), randn(5),
       ints(-1, 2, 5)),
    op("multilabel_soft_margin_loss", lambda lib, x, y: F(lib).multilabel_soft_margin_loss(x, y), randn(3, 4),
       uniform(0, 1, 3, 4)),
    op("multilabel_soft_margin_loss_weight_none", lambda lib, x, y, w: F(lib).multilabel_soft_margin_loss(
        x, y, weight=w, reduction="none"), randn(3, 4), uniform(0, 1, 3, 4), positive(4)),
    # PyTorch has no double backward for multi_margin_loss, and its loss of an empty batch is uninitialised memory
    op("multi_margin_loss", lambda lib, x, t: F(lib).multi_margin_loss(x, t, reduction="sum"), distinct(4, 5),
       targets(5, 4), double=False, torch_defects=(("empty", "torch sums an empty batch into uninitialised memory"),)),
    op("multi_margin_loss_p2_weight_none", lambda lib, x, t: F(lib).multi_margin_loss(
        x, t, p=2, margin=0.7, weight=x.new_tensor([2.0, 0.25, 1.0]), reduction="none"), distinct(4, 3),
       targets(3, 4), double=False),
    op("multi_margin_loss_unbatched", lambda lib, x, t: F(lib).multi_margin_loss(x, t), distinct(5), targets(5),
       double=False),
    op("cosine_embedding_loss", lambda lib, a, b, y: F(lib).cosine_embedding_loss(a, b, y, margin=0.2), randn(4, 3),
       randn(4, 3), lambda rng: np.array([1, -1, 1, -1])),
    op("cosine_embedding_loss_unbatched_none", lambda lib, a, b, y: F(lib).cosine_embedding_loss(
        a, b, y, reduction="none"), randn(5), randn(5), lambda rng: np.array(-1)),
    op("triplet_margin_loss", lambda lib, a, p, n: F(lib).triplet_margin_loss(a, p, n), randn(4, 3), randn(4, 3),
       randn(4, 3)),
    op("triplet_margin_loss_p1_swap_none", lambda lib, a, p, n: F(lib).triplet_margin_loss(
        a, p, n, margin=2.0, p=1, swap=True, reduction="none"), randn(5, 3), randn(5, 3), randn(5, 3)),
    op("cosine_similarity", lambda lib, a, b: F(lib).cosine_similarity(a, b), randn(3, 4), randn(3, 4)),
    op("cosine_similarity_broadcast_dim", lambda lib, a, b: F(lib).cosine_similarity(a, b, dim=-1), randn(2, 3, 4),
       randn(3, 4)),
    op("cosine_similarity_eps", lambda lib, a, b: F(lib).cosine_similarity(a, b, dim=0, eps=0.5),
       randn(3, 4, scale=0.1), randn(3, 4), gradcheck=False,  # the clamped norm's gradient passes the clamp
       jvp=False),  # (a convention of the gradient, not the derivative forward mode gives)
    op("pairwise_distance", lambda lib, a, b: F(lib).pairwise_distance(a, b), randn(4, 3), randn(4, 3)),
    op("pairwise_distance_p3_keepdim", lambda lib, a, b: F(lib).pairwise_distance(a, b, p=3, keepdim=True),
       randn(4, 3), randn(3)),
    op("pairwise_distance_inf", lambda lib, a, b: F(lib).pairwise_distance(a, b, p=float("inf")), distinct(2, 4),
       distinct(2, 4)),

    # --- embedding
    op("embedding", lambda lib, w, i: F(lib).embedding(i, w), randn(6, 3), ints(0, 6, 2, 4)),
    op("embedding_1d_int32", lambda lib, w, i: F(lib).embedding(i, w), randn(5, 4), lambda rng: rng.integers(
        0, 5, 7).astype(np.int32)),
    op("embedding_padding_idx", lambda lib, w, i: F(lib).embedding(i, w, padding_idx=1), randn(4, 3),
       lambda rng: np.array([[1, 0, 1], [3, 1, 2]]), gradcheck=False),
    op("embedding_padding_idx_negative", lambda lib, w, i: F(lib).embedding(i, w, padding_idx=-1), randn(4, 3),
       lambda rng: np.array([3, 0, 3, 2]), gradcheck=False),
    op("embedding_scale_grad_by_freq", lambda lib, w, i: F(lib).embedding(i, w, scale_grad_by_freq=True),
       randn(5, 2), lambda rng: np.array([[0, 2, 2], [4, 2, 0]]), gradcheck=False),
    op("embedding_scale_grad_by_freq_padding", lambda lib, w, i: F(lib).embedding(
        i, w, padding_idx=2, scale_grad_by_freq=True), randn(5, 2), lambda rng: np.array([0, 2, 2, 4, 0, 0]),
       gradcheck=False),
    # padding_idx and scale_grad_by_freq change the gradient on purpose (not a derivative: no gradcheck);
    # max_norm renormalises the looked-up rows in place first, outside the graph
    op("embedding_max_norm", lambda lib, w, i: F(lib).embedding(i, w * 1, max_norm=1.0), randn(5, 3, scale=2),
       lambda rng: np.array([[0, 2], [2, 4]]), gradcheck=False),
    op("embedding_max_norm_p1", lambda lib, w, i: F(lib).embedding(i, w * 1, max_norm=0.5, norm_type=1.0),
       randn(4, 3), lambda rng: np.array([1, 3, 1]), gradcheck=False),
    op("embedding_bag_sum", lambda lib, w, i: F(lib).embedding_bag(i, w, mode="sum"), randn(6, 3),
       ints(0, 6, 2, 4)),
    op("embedding_bag_mean", lambda lib, w, i: F(lib).embedding_bag(i, w), randn(6, 3), ints(0, 6, 3, 2)),
    op("embedding_bag_max", lambda lib, w, i: F(lib).embedding_bag(i, w, mode="max"), distinct(6, 3),
       lambda rng: rng.permutation(6)[:4].reshape(2, 2)),
    op("embedding_bag_offsets_sum", lambda lib, w, i: F(lib).embedding_bag(
        i, w, lib.tensor([0, 2, 2, 5], device=w.device), mode="sum"), randn(6, 3), ints(0, 6, 7)),
    op("embedding_bag_offsets_mean", lambda lib, w, i: F(lib).embedding_bag(
        i, w, lib.tensor([0, 3, 3], device=w.device)), randn(6, 3), ints(0, 6, 5)),
    op("embedding_bag_offsets_max_last", lambda lib, w, i: F(lib).embedding_bag(
        i, w, lib.tensor([0, 1, 1, 5], device=w.device), mode="max", include_last_offset=True), distinct(7, 2),
       lambda rng: rng.permutation(7)[:5]),
    op("embedding_bag_per_sample_weights", lambda lib, w, i, p: F(lib).embedding_bag(
        i, w, lib.tensor([0, 2], device=w.device), mode="sum", per_sample_weights=p), randn(5, 3), ints(0, 5, 5),
       randn(5), double=False),
    op("embedding_bag_per_sample_weights_2d", lambda lib, w, i, p: F(lib).embedding_bag(
        i, w, mode="sum", per_sample_weights=p), randn(5, 3), ints(0, 5, 2, 3), randn(2, 3),
       double=False),
    op("embedding_bag_padding_idx_mean", lambda lib, w, i: F(lib).embedding_bag(i, w, padding_idx=0), randn(5, 3),
       lambda rng: np.array([[0, 1, 2], [0, 0, 0], [3, 0, 4]])),
    op("embedding_bag_padding_idx_max", lambda lib, w, i: F(lib).embedding_bag(
        i, w, lib.tensor([0, 2, 4], device=w.device), mode="max", padding_idx=1), distinct(5, 3),
       lambda rng: np.array([1, 2, 1, 1, 3, 4])),
    op("one_hot", lambda lib, x, t: (F(lib).one_hot(t, 5), x * F(lib).one_hot(t, 5)), randn(3, 5), ints(0, 5, 3)),
    op("one_hot_infer", lambda lib, x, t: (F(lib).one_hot(t), x * F(lib).one_hot(t)), randn(2, 3, 4),
       lambda rng: np.array([[0, 3, 1], [2, 2, 3]])),
    # --- attention
    # (double=False below: torch's CPU flash-attention kernel, which it picks without a mask, has no double
    # backward; ndgrad's is the same op as in the masked rows. PyTorch has none for per_sample_weights either)
    op("sdpa", lambda lib, q, k, v: F(lib).scaled_dot_product_attention(q, k, v), randn(2, 3, 4, 5),
       randn(2, 3, 6, 5), randn(2, 3, 6, 4)),
    op("sdpa_3d", lambda lib, q, k, v: F(lib).scaled_dot_product_attention(q, k, v), randn(2, 4, 3),
       randn(2, 5, 3), randn(2, 5, 2)),
    op("sdpa_unbatched", lambda lib, q, k, v: F(lib).scaled_dot_product_attention(q, k, v), randn(4, 3),
       randn(5, 3), randn(5, 2)),
    op("sdpa_scale", lambda lib, q, k, v: F(lib).scaled_dot_product_attention(q, k, v, scale=0.3),
       randn(2, 4, 3), randn(2, 5, 3), randn(2, 5, 3)),
    op("sdpa_bool_mask", lambda lib, q, k, v, m: F(lib).scaled_dot_product_attention(q, k, v, attn_mask=m),
       randn(2, 2, 4, 3), randn(2, 2, 5, 3), randn(2, 2, 5, 2), lambda rng: rng.random((4, 5)) < 0.7),
    op("sdpa_bool_mask_batched", lambda lib, q, k, v, m: F(lib).scaled_dot_product_attention(q, k, v, attn_mask=m),
       randn(2, 2, 4, 3), randn(2, 2, 5, 3), randn(2, 2, 5, 2), lambda rng: rng.random((2, 1, 4, 5)) < 0.7),
    # a row whose keys are all left out gives zeros (PyTorch's safe softmax), and zero gradients
    op("sdpa_bool_mask_empty_row", lambda lib, q, k, v, m: F(lib).scaled_dot_product_attention(q, k, v, attn_mask=m),
       randn(3, 4, 3), randn(3, 5, 3), randn(3, 5, 2),
       lambda rng: np.array([[True, False, True, True, False], [False] * 5, [True] * 5, [False] * 4 + [True]])),
    op("sdpa_float_mask", lambda lib, q, k, v, m: F(lib).scaled_dot_product_attention(q, k, v, attn_mask=m),
       randn(2, 2, 4, 3), randn(2, 2, 5, 3), randn(2, 2, 5, 2), randn(4, 5)),
    op("sdpa_float_mask_batched", lambda lib, q, k, v, m: F(lib).scaled_dot_product_attention(q, k, v, attn_mask=m),
       randn(2, 4, 3), randn(2, 5, 3), randn(2, 5, 2), randn(2, 4, 5)),
    op("sdpa_float_mask_inf", lambda lib, q, k, v, m: F(lib).scaled_dot_product_attention(
        q, k, v, attn_mask=lib.where(m > 0.8, float("-inf"), m)), randn(3, 4, 3), randn(3, 5, 3), randn(3, 5, 2),
       lambda rng: np.where(np.arange(5) == 0, 2.0, rng.standard_normal((4, 5)))),
    op("sdpa_causal", lambda lib, q, k, v: F(lib).scaled_dot_product_attention(q, k, v, is_causal=True),
       randn(2, 2, 4, 3), randn(2, 2, 4, 3), randn(2, 2, 4, 3), double=False),
    op("sdpa_causal_rect", lambda lib, q, k, v: F(lib).scaled_dot_product_attention(q, k, v, is_causal=True),
       randn(2, 5, 3), randn(2, 3, 3), randn(2, 3, 2)),
    op("sdpa_gqa", lambda lib, q, k, v: F(lib).scaled_dot_product_attention(q, k, v, enable_gqa=True),
       randn(2, 4, 3, 5), randn(2, 2, 6, 5), randn(2, 2, 6, 4)),
    op("sdpa_gqa_mask_scale", lambda lib, q, k, v, m: F(lib).scaled_dot_product_attention(
        q, k, v, attn_mask=m, scale=0.5, enable_gqa=True), randn(6, 3, 2), randn(2, 4, 2), randn(2, 4, 3),
       lambda rng: rng.random((3, 4)) < 0.7),
    op("sdpa_broadcast_heads", lambda lib, q, k, v: F(lib).scaled_dot_product_attention(q, k, v),
       randn(2, 3, 4, 3), randn(2, 1, 5, 3), randn(2, 1, 5, 2)),
    op("mha_self", lambda lib, x, w, b, ow, ob: F(lib).multi_head_attention_forward(
        x, x, x, 4, 2, w, b, None, None, False, 0.0, ow, ob, training=False), randn(3, 2, 4), randn(12, 4),
       randn(12), randn(4, 4), randn(4)),
    op("mha_self_per_head_no_bias", lambda lib, x, w, ow: F(lib).multi_head_attention_forward(
        x, x, x, 4, 2, w, None, None, None, False, 0.0, ow, None, average_attn_weights=False), randn(3, 2, 4),
       randn(12, 4), randn(4, 4)),
    # the next rows run in float32 when given bfloat16: this deep a composition rounds in other places than
    # PyTorch's fused kernels, and the two land ~2-3% of the scale apart (each as far from float64)
    op("mha_cross_no_weights", lambda lib, *xs: (lambda q, kv, w, b, ow, ob: F(lib).multi_head_attention_forward(
        q, kv, kv, 4, 2, w, b, None, None, False, 0.0, ow, ob, need_weights=False)[0])(*[x.float() if x.dtype == lib.bfloat16 else x for x in xs]),
       randn(3, 2, 4), randn(5, 2, 4), randn(12, 4), randn(12), randn(4, 4), randn(4), double=False),
    op("mha_separate_masks", lambda lib, *xs: (lambda q, k, v, w, b, ow, ob, m, kpm: F(
        lib).multi_head_attention_forward(q, k, v, 4, 2, w, b, None, None, False, 0.0, ow, ob, key_padding_mask=kpm,
                                          attn_mask=m))(*[x.float() if x.dtype == lib.bfloat16 else x for x in xs]),
       randn(3, 2, 4), randn(5, 2, 4), randn(5, 2, 4), randn(12, 4), randn(12), randn(4, 4), randn(4),
       lambda rng: rng.random((3, 5)) < 0.3, lambda rng: np.array([[False] * 4 + [True], [False] * 5])),
    op("mha_bias_kv_zero_attn", lambda lib, *xs: (lambda x, w, b, ow, ob, bk, bv: F(lib).multi_head_attention_forward(
        x, x, x, 4, 2, w, b, bk, bv, True, 0.0, ow, ob))(*[x.float() if x.dtype == lib.bfloat16 else x for x in xs]), randn(3, 2, 4), randn(12, 4),
       randn(12), randn(4, 4), randn(4), randn(1, 1, 4), randn(1, 1, 4)),
    op("mha_separate_proj_unbatched", lambda lib, *xs: (lambda q, k, v, wq, wk, wv, b, ow: F(
        lib).multi_head_attention_forward(q, k, v, 4, 2, None, b, None, None, False, 0.0, ow, None,
                                          use_separate_proj_weight=True, q_proj_weight=wq, k_proj_weight=wk,
                                          v_proj_weight=wv))(*[x.float() if x.dtype == lib.bfloat16 else x for x in xs]),
       randn(3, 4), randn(5, 3), randn(5, 2), randn(4, 4), randn(4, 3), randn(4, 2), randn(12), randn(4, 4)),
    # --- recurrent
    # x (T, B, I), h0 (B, H) [, c0], w_ih, w_hh, b_ih, b_hh; T=4, B=3, I=3, H=2. Each layer is one fused op;
    # its double backward recomputes the layer from the cells (differentiable ops) and is checked here.
    op("lstm_layer", lambda lib, *a: rnn_layer_row("lstm", lib, *a), small(4, 3, 3), small(3, 2), small(3, 2),
       small(8, 3), small(8, 2), small(8), small(8)),
    op("lstm_layer_proj", lambda lib, x, h, c, wi, wh, bi, bh, wr: (
        agops.lstm_layer(x, (h, c), wi, wh, bi, bh, wr) if lib is ag else
        (lambda o: (o[0], o[1][0], o[2][0]))(torch._VF.lstm(x, (h[None], c[None]), [wi, wh, bi, bh, wr], True, 1,
                                                            0.0, False, False, False))),
       small(4, 3, 3), small(3, 1), small(3, 2), small(8, 3), small(8, 1), small(8), small(8), small(1, 2)),
    op("lstm_bidirectional_packed", lambda lib, *a: rnn_layer_row("lstm", lib, *a, packed=True, bidirectional=True),
       small(4, 3, 3), small(2, 3, 2), small(2, 3, 2), small(8, 3), small(8, 2), small(8), small(8), small(8, 3),
       small(8, 2), small(8), small(8)),
    op("gru_layer", lambda lib, *a: rnn_layer_row("gru", lib, *a), small(4, 3, 3, scale=0.3),
       small(3, 2, scale=0.3), small(6, 3, scale=0.3), small(6, 2, scale=0.3), small(6, scale=0.3),
       small(6, scale=0.3)),
    op("gru_bidirectional_packed", lambda lib, *a: rnn_layer_row("gru", lib, *a, packed=True, bidirectional=True),
       small(4, 3, 3), small(2, 3, 2), small(6, 3), small(6, 2), small(6), small(6), small(6, 3), small(6, 2),
       small(6), small(6)),
    op("rnn_layer_tanh", lambda lib, *a: rnn_layer_row("rnn", lib, *a), small(4, 3, 3), small(3, 2), small(2, 3),
       small(2, 2), small(2), small(2)),
    op("rnn_relu_bidirectional_packed", lambda lib, *a: rnn_layer_row("rnn", lib, *a, packed=True,
                                                                       bidirectional=True, nonlinearity="relu"),
       small(4, 3, 3), small(2, 3, 2), small(2, 3), small(2, 2), small(2), small(2), small(2, 3), small(2, 2),
       small(2), small(2)),
    op("lstm_cell", lambda lib, *a: rnn_cell_row("lstm_cell", lib, *a), small(3, 3), small(3, 2), small(3, 2),
       small(8, 3), small(8, 2), small(8), small(8)),
    op("gru_cell", lambda lib, *a: rnn_cell_row("gru_cell", lib, *a), small(3, 3), small(3, 2), small(6, 3),
       small(6, 2), small(6), small(6)),
    op("rnn_tanh_cell", lambda lib, *a: rnn_cell_row("rnn_tanh_cell", lib, *a), small(3, 3), small(3, 2),
       small(2, 3), small(2, 2), small(2), small(2)),
    op("rnn_relu_cell_no_bias", lambda lib, *a: rnn_cell_row("rnn_relu_cell", lib, *a), small(3, 3), small(3, 2),
       small(2, 3), small(2, 2)),

    # --- everyday surface: comparisons, casts, argmax, in-place methods and activations, pool indices
    op("eq_ne", lambda lib, x, y: (x.eq(y), x.ne(y), x == y), ints(0, 3, 3, 4), ints(0, 3, 4), gradcheck=False),
    op("lt_le_gt_ge", lambda lib, x, y: (x.lt(y), x.le(y), x.gt(y), x.ge(y)), on_grid(3, 4), on_grid(4, offset=0.1),
       gradcheck=False),
    op("argmax_argmin", lambda lib, x: (lib.argmax(x, 1), lib.argmin(x), x.argmax(), x.argmin(0, keepdim=True)),
       distinct(3, 4), gradcheck=False),
    op("casts", lambda lib, x: (x.double().float() * 2, x.half().float(), x.long(), x.int(), x.bool()), randn(3, 4),
       gradcheck=False),
    op("type_as", lambda lib, x, y: x.type_as(y) * y, randn(3), randn(3)),
    op("arithmetic_methods", lambda lib, x, y: (x.add(y, alpha=2), x.sub(y, alpha=0.5), x.mul(y), x.div(y), x.neg()),
       randn(3, 4), away(4, gap=0.5)),
    op("any_all", lambda lib, m: (m.any(), m.all(dim=1), lib.any(m, 0), lib.all(m)), mask(3, 4), gradcheck=False),
    op("clip", lambda lib, x: lib.clip(x, -0.5, 0.4), away(3, 4, kinks=(-0.5, 0.4), gap=0.05)),
    op("contiguous_t_reshape_as", lambda lib, x, y: x.t().contiguous().reshape_as(y) * y, randn(3, 4), randn(2, 6)),
    op("inplace_sub_div", lambda lib, x, y: (x * 1).sub_(y, alpha=2).div_(y + 3), randn(3, 4), uniform(0.5, 1, 4)),
    op("inplace_zero_fill", lambda lib, x: ((x * 1)[0].zero_(), (x * 1)[:, 1].fill_(0.5)), randn(3, 4)),
    op("inplace_activations", lambda lib, x: (NF(lib).relu_(x * 1), NF(lib).elu_(x * 1), NF(lib).selu_(x * 1),
                                              NF(lib).celu_(x * 1), NF(lib).leaky_relu_(x * 1, 0.2),
                                              NF(lib).hardtanh_(x * 1), NF(lib).threshold_(x * 1, 0.1, 2.0),
                                              NF(lib).rrelu_(x * 1)), away(3, 4, kinks=(0.0, 1.0, -1.0, 0.1))),
    op("max_pool_with_indices", lambda lib, x: (*NF(lib).max_pool1d_with_indices(x, 2),
                                                *NF(lib).max_pool2d_with_indices(x[None], 2)), distinct(2, 4, 6)),
    op("adaptive_max_pool_with_indices", lambda lib, x: (*NF(lib).adaptive_max_pool1d_with_indices(x, 3),
                                                         *NF(lib).adaptive_max_pool2d_with_indices(x[None], 2)),
       distinct(2, 4, 6)),
    op("dropout3d_p1", lambda lib, x: NF(lib).dropout3d(x, 1.0), randn(2, 3, 2, 2, 2)),
    op("upsample", lambda lib, x: (NF(lib).upsample(x, scale_factor=2), NF(lib).upsample_nearest(x, size=(5, 4)),
                                   NF(lib).upsample_bilinear(x, scale_factor=2)), randn(1, 2, 3, 2)),
]
# the families added since, one module each (rows_<family>.py)
OPS += rows_pointwise.OPS + rows_reduction.OPS + rows_indexing.OPS + rows_linalg.OPS

ROWS = [pytest.param(o, id=o.name) for o in OPS]
assert len({o.name for o in OPS}) == len(OPS), "op names must be unique"


# --- running a row with either library ------------------------------------------------------------

def _rng(*salt):
    return np.random.default_rng(zlib.crc32("/".join(map(str, salt)).encode()))


def _make_inputs(lib, arrays, device, dtype):
    """Tensors of ``lib`` holding the same data; floating ones get ``dtype`` and require grad."""
    xs = []
    for a in arrays:
        floating = a.dtype.kind == "f"
        a = a.astype(dtype) if floating else a
        if lib is torch:
            xs.append(torch.from_numpy(a.copy()).requires_grad_(floating))
        else:
            xs.append(ag.tensor(a, device=device, requires_grad=floating))
    return xs


def _as_list(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _grad(lib, outputs, inputs, grad_outputs=None, **kwargs):
    fn = torch.autograd.grad if lib is torch else ag.grad
    return fn(outputs, inputs, grad_outputs, **kwargs)


def _like(lib, array, device):
    array = np.array(array)  # a copy, and an ndarray even for 0-d data
    return torch.from_numpy(array) if lib is torch else ag.tensor(array, device=device)


def _numpy_or_zeros(grads, inputs):
    return [np.zeros(tuple(x.shape), to_numpy(x).dtype) if g is None else to_numpy(g) for g, x in zip(grads, inputs)]


def forward_backward(o, lib, device="cpu", dtype=np.float64, create_graph=False):
    """The row's outputs and the gradients of (outputs . v) for random v, as NumPy arrays.

    The same seed gives both libraries the same inputs and the same v. With ``create_graph``
    the gradients are differentiated once more, with respect to (grads . w) for random w.
    """
    rng = _rng(o.name, np.dtype(dtype).name)
    xs = _make_inputs(lib, o.sample(rng), device, dtype)
    outs = _as_list(o.apply(lib, *xs))
    wrt = [x for x in xs if x.requires_grad]
    diff_outs = [y for y in outs if y.is_floating_point()]
    vs = [_like(lib, rng.standard_normal(tuple(y.shape)).astype(to_numpy(y).dtype), device) for y in diff_outs]
    grads = _grad(lib, diff_outs, wrt, vs, create_graph=create_graph, allow_unused=True) if wrt else []
    result = [to_numpy(y) for y in outs], _numpy_or_zeros(grads, wrt)
    if not create_graph:
        return result
    ws = [rng.standard_normal(tuple(x.shape)).astype(to_numpy(x).dtype) for x in wrt]
    terms = [(g * _like(lib, w, device)).sum() for g, w in zip(grads, ws) if g is not None and g.requires_grad]
    if not terms:  # the gradient does not depend on the inputs: the second derivative is zero
        return result + ([np.zeros_like(w) for w in ws],)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return result + (_numpy_or_zeros(_grad(lib, total, wrt, allow_unused=True), wrt),)


def _compare(name, got, expected, rtol, atol):
    for kind, g_list, e_list in zip(("output", "grad"), got, expected):
        assert len(g_list) == len(e_list), f"{name}: {len(g_list)} {kind}s, torch has {len(e_list)}"
        for i, (g, e) in enumerate(zip(g_list, e_list)):
            assert_close(g, e, rtol=rtol, atol=atol, msg=f"{name} {kind} {i}:")


# --- the checks every row gets ----------------------------------------------------------------------

@pytest.mark.parametrize("o", ROWS)
def test_float64_against_torch(o, device):
    _compare(o.name, forward_backward(o, ag, device), forward_backward(o, torch), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("o", ROWS)
def test_float32_against_torch(o, device):
    got = forward_backward(o, ag, device, np.float32)
    rtol, atol = o.float32_tol
    _compare(o.name, got, forward_backward(o, torch, dtype=np.float32), rtol=rtol, atol=atol)
    outputs, grads = got
    assert all(y.dtype == np.float32 for y in outputs if y.dtype.kind == "f"), \
        f"{o.name}: float32 inputs gave outputs of dtypes {[y.dtype for y in outputs]}"
    assert all(g.dtype == np.float32 for g in grads)


@pytest.mark.parametrize("o", [r for r in ROWS if r.values[0].gradcheck])
def test_gradcheck(o, device):
    arrays = o.sample(_rng(o.name, "gradcheck"))
    xs = _make_inputs(ag, arrays, device, np.float64)

    def flat_outputs(*xs):
        outs = [y.reshape(-1) for y in _as_list(o.apply(ag, *xs)) if y.is_floating_point()]
        return outs[0] if len(outs) == 1 else ag.cat(outs)

    assert ag.gradcheck(flat_outputs, xs)


@pytest.mark.parametrize("o", [r for r in ROWS if r.values[0].double])
def test_double_backward_against_torch(o, device):
    got = forward_backward(o, ag, device, create_graph=True)
    expected = forward_backward(o, torch, create_graph=True)
    _compare(o.name, got[:2], expected[:2], rtol=1e-10, atol=1e-12)
    for i, (g, e) in enumerate(zip(got[2], expected[2])):
        assert_close(g, e, rtol=1e-9, atol=1e-11, msg=f"{o.name} second-order grad {i}:")


def _jvp_outputs(o, lib, arrays, tangents):
    """The row's floating outputs and their tangents (float64, CPU) for these inputs and tangents."""
    if lib is torch:
        xs = [torch.from_numpy(a.copy()) for a in arrays]
        wrt = [i for i, t in enumerate(tangents) if t is not None]

        def fn(*primals):
            args = list(xs)
            for i, p in zip(wrt, primals):
                args[i] = p
            return tuple(y for y in _as_list(o.apply(torch, *args)) if y.is_floating_point())
        outs, tans = torch.func.jvp(fn, tuple(xs[i] for i in wrt), tuple(torch.from_numpy(tangents[i]) for i in wrt))
        return [to_numpy(y) for y in outs], [to_numpy(t) for t in tans]
    with ag.forward_ad.dual_level():
        xs = [ag.tensor(a) if t is None else ag.forward_ad.make_dual(ag.tensor(a), ag.tensor(t))
              for a, t in zip(arrays, tangents)]
        outs = [y for y in _as_list(o.apply(ag, *xs)) if y.is_floating_point()]
        tans = [ag.forward_ad.unpack_dual(y).tangent for y in outs]
    return [to_numpy(y) for y in outs], [np.zeros(tuple(y.shape)) if t is None else to_numpy(t)
                                         for y, t in zip(outs, tans)]


def _central_differences(o, arrays, tangents, eps=1e-6):
    """(f(x + eps t) - f(x - eps t)) / 2 eps with torch's forward, per floating output."""
    def outputs(sign):
        xs = [torch.from_numpy(np.asarray(a if t is None else a + sign * eps * t)) for a, t in zip(arrays, tangents)]
        with torch.no_grad():
            return [to_numpy(y) for y in _as_list(o.apply(torch, *xs)) if y.is_floating_point()]
    return [(u - d) / (2 * eps) for u, d in zip(outputs(1), outputs(-1))]


def _close(a, b, rtol, atol):
    return all(np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True) for x, y in zip(a, b))


@pytest.mark.parametrize("o", ROWS)
def test_jvp_against_torch(o):
    """Forward mode: each row's output tangents (native rules and the double-backward fallback alike)
    against torch.func.jvp in float64 for random tangents; on every fifth row, and wherever torch's
    forward mode disagrees with its own central differences (then those are the reference), against
    central differences too."""
    if not o.jvp:
        pytest.skip("no forward-mode check for this row")
    rng = _rng(o.name, "jvp")
    arrays = o.sample(rng)
    tangents = [rng.standard_normal(a.shape) if a.dtype.kind == "f" else None for a in arrays]
    if all(t is None for t in tangents):
        pytest.skip("no floating input")
    try:
        expected = _jvp_outputs(o, torch, arrays, tangents)
    except (NotImplementedError, RuntimeError) as e:  # torch has no forward rule here: ours must still be finite
        try:
            _, tans = _jvp_outputs(o, ag, arrays, tangents)
        except (NotImplementedError, RuntimeError):
            return
        assert all(np.isfinite(t).all() for t in tans), f"{o.name}: torch.func.jvp refused ({e}); ours is not finite"
        return
    got = _jvp_outputs(o, ag, arrays, tangents)
    reference = expected[1]
    check_differences = o.gradcheck and zlib.crc32(o.name.encode()) % 5 == 0
    if not _close(got[1], expected[1], 1e-9, 1e-11):
        differences = _central_differences(o, arrays, tangents)
        if not _close(expected[1], differences, 1e-4, 1e-5):  # torch's forward mode is off here, not only ours
            reference, check_differences = differences, False
    for kind, g_list, e_list, rtol, atol in (("output", got[0], expected[0], 1e-10, 1e-12),
                                             ("tangent", got[1], reference, 1e-9, 1e-11)):
        if reference is not expected[1] and kind == "tangent":
            rtol, atol = 1e-4, 1e-5
        assert len(g_list) == len(e_list), f"{o.name}: {len(g_list)} {kind}s, torch has {len(e_list)}"
        for i, (g, e) in enumerate(zip(g_list, e_list)):
            assert_close(g, e, rtol=rtol, atol=atol, msg=f"{o.name} {kind} {i}:")
    if check_differences:
        differences = _central_differences(o, arrays, tangents)
        if _close(expected[1], differences, 1e-4, 1e-5):  # where torch's own tangents are smooth enough to check
            for i, (g, d) in enumerate(zip(got[1], differences)):
                assert_close(g, d, rtol=1e-4, atol=1e-5, msg=f"{o.name} tangent {i} vs central differences:")


@pytest.mark.parametrize("with_mask", [False, True])
def test_gradcheck_catches_a_wrong_gradient(with_mask, monkeypatch):
    """The checker the table relies on fails for a gradient 1% off (also next to a bool input)."""
    from autograd.ops.unary import Exp
    monkeypatch.setattr(Exp, "backward", lambda ctx, grad: grad * ctx.saved_tensors[0] * 1.01)
    x = ag.tensor(np.array([0.3, -1.2, 0.7]), requires_grad=True)
    m = ag.tensor(np.array([True, False, True]))
    fn, inputs = ((lambda t, m: t.exp()[m]), (x, m)) if with_mask else ((lambda t: t.exp()), (x,))
    with pytest.raises(AssertionError, match="Jacobian mismatch"):
        ag.gradcheck(fn, inputs)


def test_every_op_has_a_row():
    """Every differentiable op in autograd.ops shows up in the graphs the table builds
    (its forward or backward), so a new op cannot go unchecked."""
    seen = set()

    def walk(t):
        stack = [t.grad_fn] if t is not None and t.grad_fn is not None else []
        while stack:
            node = stack.pop()
            if node is None or node in seen or not hasattr(node, "op"):
                continue
            seen.add(node)
            stack.extend(next_node for next_node, _ in node.next_functions)

    for o in OPS:
        xs = _make_inputs(ag, o.sample(_rng(o.name)), "cpu", np.float64)
        outs = [y for y in _as_list(o.apply(ag, *xs)) if y.is_floating_point()]
        # cotangents that require grad make the gradient graphs record every backward op too
        vs = [ag.ones(y.shape, dtype=y.dtype, requires_grad=True) for y in outs]
        for y in outs:
            walk(y)
        wrt = [x for x in xs if x.requires_grad]
        for g in ag.grad(outs, wrt, vs, create_graph=True, allow_unused=True) if wrt else ():
            walk(g)
    covered = {type(node).op for node in seen}
    elsewhere = {"to_device"}  # crosses devices: test_to_device_gradient below (CUDA only)
    from autograd.function import registry
    ops = {name for name, cls in registry.items()
           if cls.__module__.startswith("autograd.ops") and cls.differentiable}
    assert ops - covered - elsewhere == set(), "ops without a row in the op table"



# public ops checked by tests of their own rather than by a row, each with the reason
ELSEWHERE = {
    **dict.fromkeys(["arange", "as_tensor", "empty", "empty_like", "eye", "from_numpy", "full", "full_like",
                     "ones_like", "zeros_like", "new_empty", "new_full", "new_ones", "new_zeros"],
                    "factories: tests/test_tensor.py and tests/test_surface.py, against torch"),
    **dict.fromkeys(["rand", "rand_like", "randn", "randn_like", "randint", "randperm", "normal", "normal_",
                     "uniform_", "bernoulli", "bernoulli_", "exponential_", "random_", "multinomial"],
                    "random sampling: distributions and generators in tests/test_surface.py and test_tensor.py"),
}
ELSEWHERE.update(dict.fromkeys([method for method, _, _ in test_pointwise.INPLACE],
                               "in-place math: test_pointwise.test_inplace_variant_matches_torch, values and gradients"))
ELSEWHERE.update(dict.fromkeys(["allclose", "equal"], "Python bools, not tensors: test_pointwise.test_isclose_allclose_"
                                                      "equal_at_edge_values"))


def test_every_public_op_is_called_by_a_row(monkeypatch):
    """Every public function and Tensor method (optable.public_ops) is called directly by some row of the
    table, or is listed in ELSEWHERE with the tests that check it: nothing public ships unchecked."""
    import inspect
    import sys

    import nn.functional as nnF
    from optable import public_ops

    called = set()
    row_files = ("test_ops.py", "optable.py") + tuple(f"{m.__name__}.py" for m in
                                                     (rows_pointwise, rows_reduction, rows_indexing, rows_linalg))

    def recording(name, fn):
        def call(*args, **kwargs):
            if sys._getframe(1).f_code.co_filename.endswith(row_files):  # called by a row, not by another op
                called.add(name)
            return fn(*args, **kwargs)
        return call

    for namespace, prefix in ((ag, ""), (agops, ""), (nnF, ""), (ag.linalg, "linalg."), (ag.special, "special.")):
        for name, obj in list(vars(namespace).items()):
            if not name.startswith("_") and inspect.isfunction(obj):
                monkeypatch.setattr(namespace, name, recording(prefix + name, obj))
    for name, obj in list(vars(ag.Tensor).items()):
        if not name.startswith("_") and inspect.isfunction(obj):
            monkeypatch.setattr(ag.Tensor, name, recording(name, obj))
    for o in OPS:
        o.apply(ag, *_make_inputs(ag, o.sample(_rng(o.name)), "cpu", np.float64))
    unchecked = public_ops() - called - set(ELSEWHERE)
    assert not unchecked, f"public ops that no row calls: {sorted(unchecked)}; add rows (or list them in ELSEWHERE)"

# --- sample families: every row again on 0-d, empty, transposed and strided inputs -------------------

def _zero_d(a):
    return a.reshape(-1)[:1].reshape(()) if a.size else a


def _empty(a):
    return a[:0] if a.ndim else a


FAMILIES = {"zero_d": _zero_d, "empty": _empty}


def _run_or_error(fn):
    try:
        return fn(), None
    except Exception as e:  # noqa: BLE001  (whatever torch raises, ndgrad must refuse too)
        return None, e


def _family_inputs(lib, arrays, layout):
    """Leaves holding the data and what the op sees: the leaf itself, its transpose (the leaf holds
    the transposed data, so the op sees the original values through a non-contiguous view), or every
    other element of a leaf twice as long (a strided view)."""
    leaves, seen = [], []
    for a in arrays:
        floating = a.dtype.kind == "f"
        stored = a
        if floating and layout == "transposed" and a.ndim >= 2:
            stored = np.ascontiguousarray(np.swapaxes(a, -1, -2))
        elif floating and layout == "strided" and a.ndim >= 1:
            stored = np.repeat(a, 2, axis=0)
        leaf = torch.from_numpy(stored.copy()) if lib is torch else ag.tensor(stored)
        leaf.requires_grad_(floating)
        view = leaf
        if stored is not a:
            view = leaf.transpose(-1, -2) if layout == "transposed" else leaf[::2]
        leaves.append(leaf)
        seen.append(view)
    return leaves, seen


def _outputs_and_grads(o, lib, arrays, layout="plain"):
    leaves, seen = _family_inputs(lib, arrays, layout)
    outs = _as_list(o.apply(lib, *seen))
    wrt = [x for x in leaves if x.requires_grad]
    diff = [y for y in outs if y.is_floating_point() and y.requires_grad]
    rng = np.random.default_rng(0)
    vs = [_like(lib, rng.standard_normal(tuple(y.shape)), "cpu") for y in diff]
    grads = _grad(lib, diff, wrt, vs, allow_unused=True) if diff and wrt else [None] * len(wrt)
    return [to_numpy(y) for y in outs], _numpy_or_zeros(grads, wrt)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("o", ROWS)
def test_sample_family_against_torch(o, family):
    """0-d and empty versions of every row's inputs: ndgrad gives torch's results, or refuses
    where torch refuses. Every array handed back is a real ndarray (never a NumPy scalar)."""
    arrays = [FAMILIES[family](a) for a in o.sample(_rng(o.name, family))]
    if family in dict(o.torch_defects):  # no reference: ndgrad must still give finite results
        outputs, grads = _outputs_and_grads(o, ag, arrays)
        assert all(np.isfinite(a).all() for a in outputs + grads), f"{o.name}: {family} gives non-finite values"
        return
    expected, torch_error = _run_or_error(lambda: _outputs_and_grads(o, torch, arrays))
    got, error = _run_or_error(lambda: _outputs_and_grads(o, ag, arrays))
    if torch_error is not None:
        assert error is not None, f"{o.name}: torch refuses {family} inputs ({torch_error}) but ndgrad does not"
        return
    assert error is None, f"{o.name}: ndgrad refuses {family} inputs that torch accepts: {error!r}"
    _compare(o.name, got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layout", ["transposed", "strided"])
@pytest.mark.parametrize("o", ROWS)
def test_non_contiguous_views_of_leaves(o, layout):
    """The op reads its inputs through views (a transpose, a step slice) of leaves: the same
    outputs as torch, and the gradients reach the leaves."""
    arrays = o.sample(_rng(o.name, layout))
    expected, torch_error = _run_or_error(lambda: _outputs_and_grads(o, torch, arrays, layout))
    got, error = _run_or_error(lambda: _outputs_and_grads(o, ag, arrays, layout))
    if torch_error is not None:  # view() of memory that can't be viewed: both refuse
        assert error is not None, f"{o.name}: torch refuses {layout} inputs ({torch_error}) but ndgrad does not"
        return
    assert error is None, f"{o.name}: ndgrad refuses {layout} inputs that torch accepts: {error!r}"
    _compare(o.name, got, expected, rtol=1e-10, atol=1e-12)


LOW_PRECISION = ["float16"] + (["bfloat16"] if ag.bfloat16 is not None else [])


def _low_precision_outputs_and_grads(o, lib, arrays, dtype_name):
    """Every floating input made in float32 and cast to ``dtype_name`` (torch can't read ml_dtypes
    arrays); outputs and gradients handed back in float32 for comparison."""
    dtype = getattr(torch if lib is torch else ag, dtype_name)
    leaves = []
    for a in arrays:
        if a.dtype.kind == "f":
            t = torch.from_numpy(a.astype(np.float32)) if lib is torch else ag.tensor(a.astype(np.float32))
            leaves.append(t.to(dtype).requires_grad_())
        else:
            leaves.append(torch.from_numpy(a.copy()) if lib is torch else ag.tensor(a))
    outs = _as_list(o.apply(lib, *leaves))
    wrt = [x for x in leaves if x.requires_grad]
    diff = [y for y in outs if y.is_floating_point() and y.requires_grad]
    rng = np.random.default_rng(1)
    vs = [_like(lib, rng.standard_normal(tuple(y.shape)).astype(np.float32), "cpu").to(y.dtype) for y in diff]
    grads = _grad(lib, diff, wrt, vs, allow_unused=True) if diff and wrt else [None] * len(wrt)
    as32 = [y.float() if y.is_floating_point() else y for y in outs]
    grads = [g if g is not None else lib.zeros_like(x) for g, x in zip(grads, wrt)]  # None: no dependence
    dtypes_seen = [str(t.dtype).replace("torch.", "") for t in outs + grads]
    return [to_numpy(y) for y in as32], [to_numpy(g.float()) for g in grads], dtypes_seen


@pytest.mark.parametrize("dtype_name", LOW_PRECISION)
@pytest.mark.parametrize("o", ROWS)
def test_low_precision_against_torch(o, dtype_name):
    """Every row in float16 and bfloat16: the same dtypes as torch, values within the dtype's rounding
    (1% of the output's scale), or torch's refusal."""
    arrays = o.sample(_rng(o.name, dtype_name))
    expected, torch_error = _run_or_error(lambda: _low_precision_outputs_and_grads(o, torch, arrays, dtype_name))
    got, error = _run_or_error(lambda: _low_precision_outputs_and_grads(o, ag, arrays, dtype_name))
    if torch_error is not None and "not implemented for" in str(torch_error):
        # torch's CPU build lacks this kernel in low precision (no refusal of the operation as such):
        # ndgrad's values are checked against torch's float32 ones, rounded to the dtype
        expected = _low_precision_outputs_and_grads(o, torch, [a.astype(np.float32) if a.dtype.kind == "f" else a
                                                               for a in arrays], "float32")
        expected = (expected[0], expected[1], [d.replace("float32", dtype_name) for d in expected[2]])
        torch_error = None
    if torch_error is not None:
        assert error is not None, f"{o.name}: torch refuses {dtype_name} ({torch_error}) but ndgrad does not"
        return
    assert error is None, f"{o.name}: ndgrad refuses {dtype_name} inputs that torch accepts: {error!r}"
    assert got[2] == expected[2], f"{o.name}: dtypes {got[2]}, torch {expected[2]}"
    for kind, g_list, e_list in zip(("output", "grad"), got[:2], expected[:2]):
        for g, e in zip(g_list, e_list):
            scale = float(np.max(np.abs(e), initial=1.0, where=np.isfinite(e)))
            assert_close(g, e, rtol=1e-2, atol=1e-2 * scale, check_dtype=False, msg=f"{o.name} {dtype_name} {kind}:")


# --- CPU against CUDA -------------------------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.parametrize("o", ROWS)
def test_cuda_matches_cpu(o):
    """The same row on both devices: the same outputs and gradients (also in float32)."""
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-5)):
        _compare(o.name, forward_backward(o, ag, "cuda", dtype), forward_backward(o, ag, "cpu", dtype),
                 rtol=tol, atol=tol)


@pytest.mark.cuda
def test_to_device_gradient():
    x = ag.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = (x.to("cuda") * 3).cpu() * x
    assert y.device == "cpu"
    (g,) = ag.grad(y.sum(), x)
    assert_close(g, 6 * np.arange(6.0).reshape(2, 3))


# --- dtype promotion (PyTorch's rules) ----------------------------------------------------------------

def _torch_dtype_name(t):
    return str(t.dtype).replace("torch.", "")


PROMOTIONS = [  # (left, right, expected result dtype) by PyTorch's documented rules
    (np.ones(3, np.float32), 2.5, "float32"),
    (np.ones(3, np.int64), 2.5, "float32"),
    (np.ones(3, np.int32), 2, "int32"),
    (np.ones(3, np.int32), np.ones(3, np.int64), "int64"),
    (np.ones((), np.float64), np.ones(3, np.float32), "float32"),
    (np.ones((), np.float64), np.ones((), np.float32), "float64"),
    (np.ones((), np.int64), np.ones(3, np.int32), "int32"),
    (np.ones((), np.float32), np.ones(3, np.int64), "float32"),
    (np.ones(3, np.int64), np.ones(3, np.float64), "float64"),
    (2.5, np.ones(3, np.int32), "float32"),
]


@pytest.mark.parametrize("left, right, expected", PROMOTIONS)
@pytest.mark.parametrize("fn", [operator.add, operator.mul, operator.sub])
def test_promotion_examples(left, right, expected, fn, device):
    def wrap(v, lib):
        return v if not isinstance(v, np.ndarray) else _like(lib, v, device)
    got = fn(wrap(left, ag), wrap(right, ag))
    assert got.dtype == np.dtype(expected)
    assert _torch_dtype_name(fn(wrap(left, torch), wrap(right, torch))) == expected


# --- hypothesis: broadcasting, dtypes and reductions against torch --------------------------------------

DTYPES = [np.float32, np.float64, np.int32, np.int64]
BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
          "maximum": lambda a, b: a.maximum(b)}
SETTINGS = settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _values(rng, shape, dtype):
    """Magnitudes in [0.5, 3], random signs: safe denominators, no ties between independent draws."""
    sign = np.where(rng.random(shape) < 0.5, -1, 1)
    if np.dtype(dtype).kind == "i":
        return (rng.integers(1, 4, shape) * sign).astype(dtype)
    return (rng.uniform(0.5, 3.0, shape) * sign).astype(dtype)


def _check_against_torch(fn, arrays, device):
    """fn applied to tensors of both libraries: same dtype, values and gradients of the floating inputs."""
    results = []
    for lib in (ag, torch):
        xs = [_like(lib, a, device).requires_grad_(a.dtype.kind == "f") for a in arrays]
        out = fn(lib, *xs)
        grads = []
        if out.requires_grad:
            v = np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape)).astype(to_numpy(out).dtype)
            wrt = [x for x in xs if x.requires_grad]
            grads = _numpy_or_zeros(_grad(lib, [out], wrt, [_like(lib, v, device)], allow_unused=True), wrt)
        results.append((to_numpy(out), grads))
    (out, grads), (expected, expected_grads) = results
    tol = 1e-5 if np.float32 in [a.dtype for a in arrays] + [expected.dtype] else 1e-10
    assert_close(out, expected, rtol=tol, atol=tol, msg="output:")
    assert len(grads) == len(expected_grads)
    for g, e in zip(grads, expected_grads):
        assert_close(g, e, rtol=tol, atol=tol, msg="grad:")


@SETTINGS
@given(name=st.sampled_from(sorted(BINARY)),
       shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)), seed=st.integers(0, 2 ** 32 - 1))
def test_binary_ops_broadcast_and_promote(device, name, shapes, dtypes, seed):
    rng = np.random.default_rng(seed)
    arrays = [_values(rng, s, d) for s, d in zip(shapes.input_shapes, dtypes)]
    _check_against_torch(lambda lib, x, y: BINARY[name](x, y), arrays, device)


@SETTINGS
@given(name=st.sampled_from(["add", "sub", "mul", "div"]), dtype=st.sampled_from(DTYPES),
       scalar=st.sampled_from([2.5, -0.75, 3, -2]), scalar_first=st.booleans(),
       shape=array_shapes(min_dims=0, max_dims=3, max_side=4), seed=st.integers(0, 2 ** 32 - 1))
def test_binary_ops_with_python_scalars(device, name, dtype, scalar, scalar_first, shape, seed):
    x = _values(np.random.default_rng(seed), shape, dtype)
    fn = BINARY[name]
    _check_against_torch(lambda lib, t: fn(scalar, t) if scalar_first else fn(t, scalar), [x], device)


@st.composite
def reduction_args(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    dims = draw(st.none() | st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    if dims is not None:  # some negative, sometimes a bare int
        dims = tuple(d - ndim if draw(st.booleans()) else d for d in dims)
        if len(dims) == 1 and draw(st.booleans()):
            dims = dims[0]
    return shape, dims, draw(st.booleans())


@SETTINGS
@given(name=st.sampled_from(["sum", "mean", "amax", "amin", "logsumexp"]), args=reduction_args(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 32 - 1))
def test_reductions(device, name, args, dtype, seed):
    shape, dims, keepdim = args
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)  # continuous: no ties

    def fn(lib, t):
        if dims is None:
            if name == "logsumexp":  # torch's logsumexp needs dims: reduce over all of them
                return t.logsumexp(tuple(range(t.ndim)), keepdim=keepdim)
            return getattr(t, name)() if not keepdim else getattr(t, name)(tuple(range(t.ndim)), keepdim=True)
        return getattr(t, name)(dims, keepdim=keepdim)

    _check_against_torch(fn, [x], device)
