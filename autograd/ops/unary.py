"""Elementwise math of one tensor. Each op saves what its derivative is written in."""

from .. import dtypes
from ..function import Op, same_dtype, diagonal_jvp


class Exp(Op):
    def forward(ctx, x):
        out = same_dtype(ctx.xp.exp(x), x)
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * out
    jvp = diagonal_jvp


class Log(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.log(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad / x
    jvp = diagonal_jvp


class Sqrt(Op):
    def forward(ctx, x):
        out = same_dtype(ctx.xp.sqrt(x), x)
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad / (out * 2)
    jvp = diagonal_jvp


class Sin(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.sin(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * x.cos()
    jvp = diagonal_jvp


class Cos(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.cos(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return -grad * x.sin()
    jvp = diagonal_jvp


class Tan(Op):
    def forward(ctx, x):
        out = same_dtype(ctx.xp.tan(x), x)
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * (out * out + 1)
    jvp = diagonal_jvp


class Tanh(Op):
    def forward(ctx, x):
        out = same_dtype(ctx.xp.tanh(x), x)
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * (1 - out * out)
    jvp = diagonal_jvp


class Sigmoid(Op):
    def forward(ctx, x):
        out = same_dtype(1 / (1 + ctx.xp.exp(-x)), x)
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * out * (1 - out)
    jvp = diagonal_jvp


class Relu(Op):
    def forward(ctx, x):
        out = ctx.xp.maximum(x, 0)
        ctx.save_for_backward(out)  # the output alone decides where the gradient passes
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        # the engine's own buffer, seen by nobody else (and of the output's shape, not a broadcast one): the
        # gradient is masked where it lies, no new buffer; decided here once for every backend's kernel
        in_place = ctx.grad_writable and grad.array.shape == out.array.shape
        return ThresholdBackward.apply(grad, out, in_place=in_place)
    jvp = diagonal_jvp


class ThresholdBackward(Op):
    """grad where out > 0, else 0: relu's backward as an op of its own, so backends can fuse it.
    ``in_place=True`` writes the result into ``grad``, which must have ``out``'s shape (relu's backward asks
    for it when the engine says nobody else holds the gradient)."""
    def forward(ctx, grad, out, in_place=False):
        ctx.save_for_backward(out)
        if in_place:
            return ctx.xp.multiply(grad, out > 0, out=grad)
        return grad * (out > 0)
    def backward(ctx, grad_grad):
        out, = ctx.saved_tensors
        return ThresholdBackward.apply(grad_grad, out), None
    jvp = diagonal_jvp


class Abs(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.abs(x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * sign(x)
    jvp = diagonal_jvp


def _floating(x):
    """Integer inputs of float functions get the default float, as in PyTorch."""
    return x if dtypes.is_floating(x.array.dtype) else x.to(dtypes.default_float())


def exp(x): return Exp.apply(_floating(x))
def log(x): return Log.apply(_floating(x))
def sqrt(x): return Sqrt.apply(_floating(x))
def sin(x): return Sin.apply(_floating(x))
def cos(x): return Cos.apply(_floating(x))
def tan(x): return Tan.apply(_floating(x))
def tanh(x): return Tanh.apply(_floating(x))
def sigmoid(x): return Sigmoid.apply(_floating(x))
def relu(x): return Relu.apply(x)
def abs(x): return Abs.apply(x)


from .arithmetic import sign  # noqa: E402
