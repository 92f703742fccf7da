"""Fused CUDA kernels that replace generic op kernels on the CuPy backend.

Each one computes in a single pass what the generic kernel does in several, and
saves exactly what the generic kernel saves, so backward is unchanged.
"""

import cupy
import cupyx

from .cupy_backend import CupyBackend

_threshold_backward = cupy.ElementwiseKernel(
    "T grad, T out", "T result",
    "result = grad * (T)(out > (T)0)",  # a product, like the generic kernel (nan * 0 stays nan)
    "ndgrad_threshold_backward")

_sigmoid = cupy.ElementwiseKernel(
    "T x", "T y",
    "y = (T)1 / ((T)1 + exp(-x))",
    "ndgrad_sigmoid")


@CupyBackend.register_kernel("threshold_backward")
def threshold_backward(ctx, grad, out):
    ctx.save_for_backward(out)
    return _threshold_backward(grad, out)


@CupyBackend.register_kernel("sigmoid")
def sigmoid(ctx, x):
    out = _sigmoid(x)
    ctx.save_for_backward(out)
    return out


@CupyBackend.register_kernel("index_add")
def index_add(ctx, values, shape, index):
    """Scatter-add for indexing's backward: cupyx.scatter_add does what numpy.add.at does."""
    ctx.index = index
    out = cupy.zeros(shape, dtype=values.dtype)
    cupyx.scatter_add(out, index, values)
    return out
