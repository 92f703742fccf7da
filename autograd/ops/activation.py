"""Activations: gelu, silu, mish, softplus, the elu family, leaky/parametric/randomized relu, the hard
and shrink functions, glu, softmin.

A function with a derivative of its own (gelu, silu, softplus, elu, leaky_relu, logsigmoid) is an op:
one kernel forward, one saved input, a backward of Tensor ops. The piecewise-linear ones and the
short compositions (hardswish, softsign, glu ...) are made of existing differentiable ops, which
is as fast and gives their double backward for free.
"""

import math

from .. import dtypes
from ..function import Op, autocast_entry, same_dtype, diagonal_jvp
from ..tensor import Tensor
from ._dims import normalize_dim
from .arithmetic import where
from .inplace import apply_inplace

__all__ = ["erf", "gelu", "silu", "mish", "softplus", "elu", "selu", "celu", "leaky_relu", "prelu", "rrelu",
           "hardtanh", "relu6", "hardsigmoid", "hardswish", "logsigmoid", "softsign", "tanhshrink", "softshrink",
           "hardshrink", "threshold", "glu", "softmin", "relu_"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_TANH_C = 0.044715
_ONE_SIXTH_F32 = 0.1666666716337204  # float32(1 / 6)


class Erf(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.backend.erf(x)  # NumPy has no erf: the backend brings one (SciPy, cupyx)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * (-(x * x)).exp() * (2 / math.sqrt(math.pi))
    jvp = diagonal_jvp


class Gelu(Op):
    """x * Phi(x), Phi the standard normal CDF; approximate="tanh" uses PyTorch's tanh formula."""
    def forward(ctx, x, approximate):
        ctx.approximate = approximate
        ctx.save_for_backward(x)
        if approximate == "tanh":
            return same_dtype(0.5 * x * (1 + ctx.xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_C * x * x * x))), x)
        return same_dtype(0.5 * x * (1 + ctx.backend.erf(x * math.sqrt(0.5))), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return GeluBackward.apply(grad, x, approximate=ctx.approximate)
    jvp = diagonal_jvp


class GeluBackward(Op):
    """grad * gelu'(x): gelu's backward as an op of its own, so backends can fuse it. With u = k (x + c x^3),
    t = tanh(u): gelu' = 0.5 (1 + t) + 0.5 x (1 - t^2) u' (tanh), or Phi(x) + x phi(x) (exact)."""
    def forward(ctx, grad, x, approximate):
        ctx.approximate = approximate
        ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, x)
        xp = ctx.xp
        if approximate == "tanh":
            t = xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_C * x * x * x))
            du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_TANH_C * x * x)
            return same_dtype(grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du), x)
        cdf = 0.5 * (1 + ctx.backend.erf(x * math.sqrt(0.5)))
        pdf = xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return same_dtype(grad * (cdf + x * pdf), x)
    def backward(ctx, grad_grad):
        grad, x = ctx.saved_tensors
        gg = GeluBackward.apply(grad_grad, x, approximate=ctx.approximate) if ctx.needs_input_grad[0] else None
        if not ctx.needs_input_grad[1]:
            return gg, None
        if ctx.approximate == "tanh":  # gelu'' = (1 - t^2) (u' + 0.5 x (u'' - 2 t u'^2)), u'' = 6 k c x
            t = ((x + _GELU_TANH_C * x * x * x) * _SQRT_2_OVER_PI).tanh()
            du = (x * x * (3 * _GELU_TANH_C) + 1) * _SQRT_2_OVER_PI
            second = (1 - t * t) * (du + x * 0.5 * (x * (6 * _GELU_TANH_C * _SQRT_2_OVER_PI) - 2 * t * du * du))
        else:  # gelu'' = phi(x) (2 - x^2)
            second = (x * x * -0.5).exp() * (1 / math.sqrt(2 * math.pi)) * (2 - x * x)
        return gg, grad_grad * grad * second
    jvp = diagonal_jvp


class Silu(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x / (1 + ctx.xp.exp(-x))
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return SiluBackward.apply(grad, x)
    jvp = diagonal_jvp


class SiluBackward(Op):
    """grad * s (1 + x (1 - s)), s = sigmoid(x): silu's backward as an op of its own, so backends can fuse it."""
    def forward(ctx, grad, x):
        ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, x)
        s = 1 / (1 + ctx.xp.exp(-x))
        return same_dtype(grad * s * (1 + x * (1 - s)), x)
    def backward(ctx, grad_grad):
        grad, x = ctx.saved_tensors
        gg = SiluBackward.apply(grad_grad, x) if ctx.needs_input_grad[0] else None
        if not ctx.needs_input_grad[1]:
            return gg, None
        s = x.sigmoid()  # silu'' = s (1 - s) (2 + x (1 - 2 s))
        return gg, grad_grad * grad * s * (1 - s) * (x * (1 - 2 * s) + 2)
    jvp = diagonal_jvp


class Softplus(Op):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's cut-off)."""
    def forward(ctx, x, beta, threshold):
        ctx.beta, ctx.threshold = beta, threshold
        ctx.save_for_backward(x)
        xp = ctx.xp
        bx = x * beta
        return xp.where(bx > threshold, x, xp.logaddexp(xp.zeros((), x.dtype), bx) / beta).astype(x.dtype, copy=False)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return SoftplusBackward.apply(grad, x, beta=ctx.beta, threshold=ctx.threshold)
    jvp = diagonal_jvp


class SoftplusBackward(Op):
    """grad where beta x > threshold, else grad * sigmoid(beta x): softplus's backward as an op of its own."""
    def forward(ctx, grad, x, beta, threshold):
        ctx.beta, ctx.threshold = beta, threshold
        ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, x)
        bx = x * beta
        return same_dtype(ctx.xp.where(bx > threshold, grad, grad / (1 + ctx.xp.exp(-bx))), x)
    def backward(ctx, grad_grad):
        grad, x = ctx.saved_tensors
        gg = SoftplusBackward.apply(grad_grad, x, beta=ctx.beta, threshold=ctx.threshold) \
            if ctx.needs_input_grad[0] else None
        if not ctx.needs_input_grad[1]:
            return gg, None
        bx = x * ctx.beta
        s = bx.sigmoid()
        return gg, where(bx > ctx.threshold, 0.0, grad_grad * grad * s * (1 - s) * ctx.beta)
    jvp = diagonal_jvp


class LogSigmoid(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return -ctx.xp.logaddexp(ctx.xp.zeros((), x.dtype), -x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * (-x).sigmoid()
    jvp = diagonal_jvp


class Elu(Op):
    """scale * x for x > 0, else scale * alpha * (exp(input_scale * x) - 1): elu, selu and celu."""
    def forward(ctx, x, alpha, scale, input_scale):
        ctx.params = alpha, scale, input_scale
        ctx.save_for_backward(x)
        xp = ctx.xp
        negative = (xp.exp(xp.minimum(x, 0) * input_scale) - 1) * (alpha * scale)  # minimum: no overflow for x > 0
        return xp.where(x > 0, x * scale, negative).astype(x.dtype, copy=False)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        alpha, scale, input_scale = ctx.params
        return EluBackward.apply(grad, x, alpha=alpha, scale=scale, input_scale=input_scale)
    jvp = diagonal_jvp


class EluBackward(Op):
    """grad * scale for x > 0, else grad * alpha * scale * input_scale * exp(input_scale * x): the elu
    family's backward as an op of its own, so backends can fuse it."""
    def forward(ctx, grad, x, alpha, scale, input_scale):
        ctx.params = alpha, scale, input_scale
        ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, x)
        xp = ctx.xp
        negative = grad * xp.exp(xp.minimum(x, 0) * input_scale) * (alpha * scale * input_scale)
        return same_dtype(xp.where(x > 0, grad * scale, negative), x)
    def backward(ctx, grad_grad):
        grad, x = ctx.saved_tensors
        alpha, scale, input_scale = ctx.params
        gg = EluBackward.apply(grad_grad, x, alpha=alpha, scale=scale, input_scale=input_scale) \
            if ctx.needs_input_grad[0] else None
        if not ctx.needs_input_grad[1]:
            return gg, None
        return gg, where(x > 0, 0.0, grad_grad * grad * (x * input_scale).exp() * (alpha * scale * input_scale ** 2))
    jvp = diagonal_jvp


class LeakyRelu(Op):
    def forward(ctx, x, negative_slope):
        ctx.negative_slope = negative_slope
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.where(x > 0, x, x * negative_slope), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return LeakyReluBackward.apply(grad, x, negative_slope=ctx.negative_slope)
    jvp = diagonal_jvp


class LeakyReluBackward(Op):
    """grad where x > 0, else grad * negative_slope: leaky_relu's backward as an op of its own."""
    def forward(ctx, grad, x, negative_slope):
        ctx.negative_slope = negative_slope
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.where(x > 0, grad, grad * negative_slope), x)
    def backward(ctx, grad_grad):
        x, = ctx.saved_tensors
        return (LeakyReluBackward.apply(grad_grad, x, negative_slope=ctx.negative_slope)
                if ctx.needs_input_grad[0] else None), None
    jvp = diagonal_jvp


class Hardtanh(Op):
    """x clipped to [min_val, max_val]; the gradient passes strictly inside (PyTorch's rule at the edges)."""
    def forward(ctx, x, min_val, max_val):
        ctx.bounds = min_val, max_val
        ctx.save_for_backward(x)
        xp = ctx.xp
        return xp.minimum(xp.maximum(x, xp.asarray(min_val, x.dtype)), xp.asarray(max_val, x.dtype))
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        lo, hi = ctx.bounds
        return where((x > lo) & (x < hi), grad, 0.0)
    jvp = diagonal_jvp


class Hardsigmoid(Op):
    """relu6(x + 3) / 6. Its gradient is 1/6 rounded to float32, PyTorch's constant, so that float64
    gradients agree with PyTorch's to the last bits."""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        xp = ctx.xp
        return (xp.minimum(xp.maximum(x + 3, 0), 6) / 6).astype(x.dtype, copy=False)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return where((x > -3) & (x < 3), grad * _ONE_SIXTH_F32, 0.0)
    jvp = diagonal_jvp


class Hardswish(Op):
    """x * relu6(x + 3) / 6; the gradient x / 3 + 1/2 in between, 0 below -3, 1 above 3."""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        xp = ctx.xp
        return (x * xp.minimum(xp.maximum(x + 3, 0), 6) / 6).astype(x.dtype, copy=False)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return where(x < -3, 0.0, where(x <= 3, grad * (x / 3 + 0.5), grad))
    jvp = diagonal_jvp


# --- the functions -----------------------------------------------------------------------------------

def _floating(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating-point input, got {x.dtype} (shape {tuple(x.shape)}); "
                           f"convert it first, e.g. x.float()")
    return x


def _maybe_inplace(op, x, fn, inplace):
    """fn(x), or with ``inplace`` fn(x) written into x's memory (x takes the new history)."""
    if not inplace:
        return fn(x)
    return apply_inplace(x, lambda old, _: fn(old), None, op + "_")


def erf(input):
    return Erf.apply(_floating("erf", input))


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(_floating("gelu", input), approximate=approximate)


def silu(input, inplace=False):
    return _maybe_inplace("silu", _floating("silu", input), Silu.apply, inplace)


def mish(input, inplace=False):
    """x * tanh(softplus(x)), the softplus without a cut-off (as PyTorch's mish)."""
    x = _floating("mish", input)
    return _maybe_inplace("mish", x, lambda x: x * Softplus.apply(x, beta=1.0, threshold=math.inf).tanh(), inplace)


def softplus(input, beta=1.0, threshold=20.0):
    return Softplus.apply(_floating("softplus", input), beta=beta, threshold=threshold)


def logsigmoid(input):
    return LogSigmoid.apply(_floating("logsigmoid", input))


def elu(input, alpha=1.0, inplace=False):
    x = _floating("elu", input)
    return _maybe_inplace("elu", x, lambda x: Elu.apply(x, alpha=alpha, scale=1.0, input_scale=1.0), inplace)


def selu(input, inplace=False):
    x = _floating("selu", input)
    return _maybe_inplace("selu", x, lambda x: Elu.apply(x, alpha=SELU_ALPHA, scale=SELU_SCALE, input_scale=1.0),
                          inplace)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("celu: ZeroDivisionError, alpha must not be 0 (celu divides x by alpha)")
    x = _floating("celu", input)
    return _maybe_inplace("celu", x, lambda x: Elu.apply(x, alpha=alpha, scale=1.0, input_scale=1.0 / alpha),
                          inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    x = _floating("leaky_relu", input)
    return _maybe_inplace("leaky_relu", x, lambda x: LeakyRelu.apply(x, negative_slope=negative_slope), inplace)


def relu_(input):
    """relu written into the input's memory."""
    from .unary import relu
    return _maybe_inplace("relu", input, relu, True)


@autocast_entry
def prelu(input, weight):
    """x where x > 0, else weight * x; weight holds one slope, or one per channel (dim 1; a 1-d
    input has one channel)."""
    x = _floating("prelu", input)
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.numel() not in (1, channels) or weight.ndim > 1:
        raise RuntimeError(f"prelu: weight of shape {tuple(weight.shape)} has {weight.numel()} slopes but the input "
                           f"of shape {tuple(x.shape)} has {channels} channel(s) (dim 1); give one slope or one per "
                           f"channel")
    if weight.numel() > 1:
        weight = weight.reshape((channels,) + (1,) * (x.ndim - 2))
    elif weight.ndim and x.ndim == 0:
        weight = weight.reshape(())
    return where(x > 0, x, weight * x)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """leaky_relu with the slope (lower + upper) / 2 in eval; in training each negative element gets
    its own slope drawn from U(lower, upper) by the input's device generator."""
    x = _floating("rrelu", input)
    if lower > upper:
        raise RuntimeError(f"rrelu: lower bound {lower} must be less than or equal to the upper bound {upper}")
    if not training:
        return leaky_relu(x, (lower + upper) / 2, inplace)

    def draw(x):
        backend = x._backend
        slopes = backend.rand(x.array.shape, x.array.dtype) * (upper - lower) + lower
        noise = backend.xp.where(x.array > 0, 1, slopes).astype(x.array.dtype, copy=False)
        return x * Tensor._make(noise, backend)
    return _maybe_inplace("rrelu", x, draw, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    x = input if dtypes.is_floating(input.dtype) or isinstance(min_val + max_val, int) else input.float()
    return _maybe_inplace("hardtanh", x, lambda x: Hardtanh.apply(x, min_val=min_val, max_val=max_val), inplace)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input, inplace=False):
    x = _floating("hardsigmoid", input)
    return _maybe_inplace("hardsigmoid", x, Hardsigmoid.apply, inplace)


def hardswish(input, inplace=False):
    x = _floating("hardswish", input)
    return _maybe_inplace("hardswish", x, Hardswish.apply, inplace)


def softsign(input):
    return input / (input.abs() + 1)


def tanhshrink(input):
    return input - input.tanh()


def _check_lambda(op, lambd):
    if lambd < 0:
        raise RuntimeError(f"{op}: lambd must be >= 0, got {lambd}")


def softshrink(input, lambd=0.5):
    x = _floating("softshrink", input)
    _check_lambda("softshrink", lambd)
    return where(x > lambd, x - lambd, where(x < -lambd, x + lambd, 0.0))


def hardshrink(input, lambd=0.5):
    x = _floating("hardshrink", input)
    return where((x > lambd) | (x < -lambd), x, 0.0)


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else value."""
    return _maybe_inplace("threshold", input, lambda x: where(x > threshold, x, value), inplace)


def glu(input, dim=-1):
    """a * sigmoid(b), a and b the two halves of ``dim``."""
    if input.ndim == 0:
        raise RuntimeError("glu: a 0-d tensor can't be halved; give it a dim of even size")
    dim = normalize_dim("glu", dim, input.shape)
    size = input.shape[dim]
    if size % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dim {dim} of shape {tuple(input.shape)} has "
                           f"size {size}")
    return input.narrow(dim, 0, size // 2) * input.narrow(dim, size // 2, size // 2).sigmoid()


def softmin(input, dim, dtype=None):
    from .nn import softmax
    x = input.to(dtype) if dtype is not None else input
    return softmax(-x, dim)
