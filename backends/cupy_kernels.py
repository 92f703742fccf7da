"""Fused CUDA kernels that replace generic op kernels on the CuPy backend.

Each one computes in a single pass what the generic kernel does in several, and
saves exactly what the generic kernel saves, so backward is unchanged.
"""

import cupy

from .cupy_backend import CupyBackend

_ADD_AT_FLOATS = (cupy.float16, cupy.float32, cupy.float64)  # what cupy.add.at takes (bfloat16 is not among them)

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
    """Scatter-add for indexing's backward: cupy.add.at does what numpy.add.at does (cupyx.scatter_add is
    deprecated since CuPy 14). A dtype add.at refuses (bfloat16) is summed in float32 and rounded once."""
    ctx.index = index
    if values.dtype in _ADD_AT_FLOATS:
        out = cupy.zeros(shape, dtype=values.dtype)
        cupy.add.at(out, index, values)
        return out
    out = cupy.zeros(shape, dtype=cupy.float32)
    cupy.add.at(out, index, values.astype(cupy.float32))
    return out.astype(values.dtype)
