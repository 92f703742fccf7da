"""Elementwise math beyond the basics, special functions, predicates, logical and bitwise ops.

Special functions come from SciPy (``scipy.special`` on the CPU, ``cupyx.scipy.special`` on CUDA)
through one backend hook, ``ctx.backend.special(name)``. Integer inputs of float functions give
the default float, as in PyTorch.
"""

import math
import numbers

import numpy as np

from .. import dtypes
from ..function import Op, same_dtype, diagonal_jvp
from ..tensor import Tensor
from .arithmetic import (BROADCAST_HINT, NonDifferentiable, PiecewiseConstant, bitwise, clamp, div, neg, operands, pow,
                         reciprocal, sign, where)
from .inplace import apply_inplace
from .unary import _floating, abs, cos, exp, log, sigmoid, sin, sqrt, tan, tanh  # (their in-place variants live here)

__all__ = [
    # unary math
    "log1p", "expm1", "log2", "log10", "exp2", "rsqrt", "square", "sgn", "floor", "ceil", "round", "trunc", "fix",
    "frac", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan",
    "arcsinh", "arccosh", "arctanh", "erfc", "erfinv", "lgamma", "digamma", "polygamma", "i0", "sinc", "logit",
    "nan_to_num", "deg2rad", "rad2deg", "positive", "sign", "absolute", "negative",
    # binary math
    "atan2", "arctan2", "xlogy", "hypot", "fmod", "remainder", "floor_divide", "true_divide", "copysign", "nextafter",
    "logaddexp", "logaddexp2", "lerp", "addcmul", "addcdiv", "clip", "clamp_min", "clamp_max", "heaviside",
    "float_power",
    # predicates
    "isnan", "isinf", "isfinite", "isposinf", "isneginf", "isclose", "allclose", "equal", "signbit",
    # logical and bitwise
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_not",
]

LN2, LN10 = math.log(2.0), math.log(10.0)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)


def _special(ctx, name, *args):
    return ctx.backend.special(name)(*args)


# --- unary math ---------------------------------------------------------------------------------------

class Log1p(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.log1p(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad / (x + 1)
    jvp = diagonal_jvp


class Expm1(Op):
    def forward(ctx, x):
        out = same_dtype(ctx.xp.expm1(x), x)
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * (out + 1)
    jvp = diagonal_jvp


class Log2(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.log2(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad / (x * LN2)
    jvp = diagonal_jvp


class Log10(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.log10(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad / (x * LN10)
    jvp = diagonal_jvp


class Exp2(Op):
    def forward(ctx, x):
        out = same_dtype(ctx.xp.exp2(x), x)
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * out * LN2
    jvp = diagonal_jvp


class Rsqrt(Op):
    def forward(ctx, x):
        out = same_dtype(1 / ctx.xp.sqrt(x), x)
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * out ** 3 * -0.5
    jvp = diagonal_jvp


class Sinh(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.sinh(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * cosh(x)
    jvp = diagonal_jvp


class Cosh(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.cosh(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * sinh(x)
    jvp = diagonal_jvp


class Asin(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.arcsin(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * rsqrt(1 - x * x)
    jvp = diagonal_jvp


class Acos(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.arccos(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return -grad * rsqrt(1 - x * x)
    jvp = diagonal_jvp


class Atan(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.arctan(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad / (x * x + 1)
    jvp = diagonal_jvp


class Asinh(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.arcsinh(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * rsqrt(x * x + 1)
    jvp = diagonal_jvp


class Acosh(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.arccosh(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * rsqrt(x * x - 1)
    jvp = diagonal_jvp


class Atanh(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.arctanh(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad / (1 - x * x)
    jvp = diagonal_jvp


class Erfc(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _special(ctx, "erfc", x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * (-(x * x)).exp() * -_TWO_OVER_SQRT_PI
    jvp = diagonal_jvp


class Erfinv(Op):
    def forward(ctx, x):
        out = _special(ctx, "erfinv", x)
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * (out * out).exp() * (math.sqrt(math.pi) / 2)
    jvp = diagonal_jvp


class Lgamma(Op):
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _special(ctx, "gammaln", x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * digamma(x)
    jvp = diagonal_jvp


class Polygamma(Op):
    """The n-th derivative of digamma; n = 0 is digamma itself."""
    def forward(ctx, x, n):
        ctx.n = n
        ctx.save_for_backward(x)
        if n == 0:
            return _special(ctx, "digamma", x)
        return _special(ctx, "polygamma", ctx.xp.full(x.shape, float(n)), x)  # CuPy's wants n as an array
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * polygamma(ctx.n + 1, x)
    jvp = diagonal_jvp


class I0(Op):
    """The modified Bessel function of the first kind, order 0; its derivative is i1."""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _special(ctx, "i0", x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * I1.apply(x)
    jvp = diagonal_jvp


class I1(Op):
    """Order 1: i1'(x) = i0(x) - i1(x) / x, 1/2 at 0."""
    def forward(ctx, x):
        out = _special(ctx, "i1", x)
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        zero = x == 0
        safe = where(zero, 1.0, x)
        return grad * where(zero, 0.5, I0.apply(safe) - out / safe)
    jvp = diagonal_jvp


class Sinc(Op):
    """sin(pi x) / (pi x), 1 at 0 (where the derivative is 0)."""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return same_dtype(ctx.xp.sinc(x), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        zero = x == 0
        px = where(zero, 1.0, x) * math.pi
        return grad * where(zero, 0.0, (px * px.cos() - px.sin()) / (px * px) * math.pi)
    jvp = diagonal_jvp


class Logit(Op):
    """log(x / (1 - x)), x first clamped to [eps, 1 - eps] when eps is given (no gradient outside)."""
    def forward(ctx, x, eps):
        ctx.eps = eps
        ctx.save_for_backward(x)
        z = x if eps is None else ctx.xp.clip(x, ctx.xp.asarray(eps, x.dtype), ctx.xp.asarray(1 - eps, x.dtype))
        return same_dtype(ctx.xp.log(z / (1 - z)), x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        g = grad / (x * (1 - x))
        return g if ctx.eps is None else where((x < ctx.eps) | (x > 1 - ctx.eps), 0.0, g)
    jvp = diagonal_jvp


class Ndtr(Op):
    """The standard normal CDF."""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _special(ctx, "ndtr", x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * (x * x * -0.5).exp() * (1 / _SQRT_2PI)
    jvp = diagonal_jvp


class Ndtri(Op):
    """The inverse of ndtr."""
    def forward(ctx, x):
        out = _special(ctx, "ndtri", x)
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * (out * out * 0.5).exp() * _SQRT_2PI
    jvp = diagonal_jvp


class LogNdtr(Op):
    def forward(ctx, x):
        out = _special(ctx, "log_ndtr", x)
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        if dtypes.is_low_precision(x.dtype):  # x^2 / 2 + out cancels: in bfloat16 it would keep no digits
            x = x.float()
            out = LogNdtr.apply(x)
        return grad * ((-(x * x * 0.5 + out)).exp() * (1 / _SQRT_2PI)).to(grad.dtype)
    jvp = diagonal_jvp


class I0e(Op):
    """exp(-|x|) i0(x): i0 without its overflow."""
    def forward(ctx, x):
        out = _special(ctx, "i0e", x)
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        return grad * (I1e.apply(x) - sign(x) * out)
    jvp = diagonal_jvp


class I1e(Op):
    """exp(-|x|) i1(x); its derivative is i0e(x) - i1e(x) (sign(x) + 1 / x), 1/2 at 0."""
    def forward(ctx, x):
        out = _special(ctx, "i1e", x)
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        zero = x == 0
        safe = where(zero, 1.0, x)
        return grad * where(zero, 0.5, I0e.apply(safe) - out * (sign(safe) + 1 / safe))
    jvp = diagonal_jvp


class Erfcx(Op):
    """exp(x^2) erfc(x), the scaled complementary error function."""
    def forward(ctx, x):
        out = _special(ctx, "erfcx", x)
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        return grad * (x * out * 2 - _TWO_OVER_SQRT_PI)
    jvp = diagonal_jvp


class Entr(Op):
    """-x log x for x > 0, 0 at 0, -inf below."""
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _special(ctx, "entr", x)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * -(x.log() + 1)
    jvp = diagonal_jvp


class Floor(PiecewiseConstant, Op):
    def forward(ctx, x):
        return ctx.xp.floor(x)


class Ceil(PiecewiseConstant, Op):
    def forward(ctx, x):
        return ctx.xp.ceil(x)


class Trunc(PiecewiseConstant, Op):
    def forward(ctx, x):
        return ctx.xp.trunc(x)


class Round(PiecewiseConstant, Op):
    """Half to even, at ``decimals`` decimal places."""
    def forward(ctx, x, decimals):
        return same_dtype(ctx.xp.round(x, decimals), x)


class Frac(Op):
    def forward(ctx, x):
        return x - ctx.xp.trunc(x)
    def backward(ctx, grad):
        return grad
    jvp = diagonal_jvp


class NanToNum(Op):
    def forward(ctx, x, nan, posinf, neginf):
        ctx.save_for_backward(x)
        xp, dtype = ctx.xp, x.dtype
        out = xp.where(xp.isnan(x), xp.asarray(nan, dtype), x)
        out = xp.where(xp.isposinf(x), xp.asarray(posinf, dtype), out)
        return xp.where(xp.isneginf(x), xp.asarray(neginf, dtype), out)
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return where(isfinite(x), grad, 0.0)
    jvp = diagonal_jvp


# --- binary math ----------------------------------------------------------------------------------------

class Atan2(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, y, x):
        ctx.save_for_backward(y, x)
        return same_dtype(ctx.xp.arctan2(y, x), y)
    def backward(ctx, grad):
        y, x = ctx.saved_tensors
        g = grad / (x * x + y * y)
        return g * x, g * -y
    jvp = diagonal_jvp


class Hypot(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        out = same_dtype(ctx.xp.hypot(x, y), x)
        ctx.save_for_backward(x, y, out)
        return out
    def backward(ctx, grad):
        x, y, out = ctx.saved_tensors
        g = grad / out
        return g * x, g * y
    jvp = diagonal_jvp


class Fmod(Op):
    """The remainder of x / y truncated toward zero (the sign of x), as C's fmod."""
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        ctx.save_for_backward(*((x, y) if ctx.needs_input_grad[1] else (None, None)))  # only y's gradient uses them
        return ctx.xp.fmod(x, y)
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad, (-grad * trunc(x / y) if ctx.needs_input_grad[1] else None)
    jvp = diagonal_jvp


class Remainder(Op):
    """The remainder of x / y floored (the sign of y), as Python's %."""
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        ctx.save_for_backward(*((x, y) if ctx.needs_input_grad[1] else (None, None)))  # only y's gradient uses them
        return ctx.xp.remainder(x, y)
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad, (-grad * floor(x / y) if ctx.needs_input_grad[1] else None)
    jvp = diagonal_jvp


class Copysign(Op):
    """|x| with y's sign; no gradient for y (zeros, as PyTorch)."""
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        out = same_dtype(ctx.xp.copysign(x, y), x)
        ctx.save_for_backward(x, out)
        return out
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        zero = x == 0
        return grad * where(zero, 0.0, out / where(zero, 1.0, x)), None
    jvp = diagonal_jvp


class Nextafter(Op):
    """The next representable value after x toward y: PyTorch passes x's gradient through, none to y."""
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        return ctx.xp.nextafter(x, y)
    def backward(ctx, grad):
        return grad, None
    jvp = diagonal_jvp


class Logaddexp(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return same_dtype(ctx.xp.logaddexp(x, y), x)
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad / ((y - x).exp() + 1), grad / ((x - y).exp() + 1)
    jvp = diagonal_jvp


class Logaddexp2(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return same_dtype(ctx.xp.logaddexp2(x, y), x)
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad / (exp2(y - x) + 1), grad / (exp2(x - y) + 1)
    jvp = diagonal_jvp


class Xlogy(Op):
    """x * log(y), 0 where x == 0 (unless y is nan)."""
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        xp = ctx.xp
        out = same_dtype(x * xp.log(y), x)
        out = xp.where(x == 0, xp.zeros_like(out), out)
        return xp.where(xp.isnan(y), y, out)
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        # log(y), PyTorch's rule at x == y == 0 giving 0 (not -inf)
        gx = grad * xlogy(((x != 0) | (y != 0)).to(grad.dtype), y) if ctx.needs_input_grad[0] else None
        return gx, (grad * x / y if ctx.needs_input_grad[1] else None)
    jvp = diagonal_jvp


class Xlog1py(Op):
    """x * log1p(y), 0 where x == 0 (unless y is nan)."""
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return _special(ctx, "xlog1py", x, y)
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        gx = grad * xlog1py(((x != 0) | (y != -1)).to(grad.dtype), y) if ctx.needs_input_grad[0] else None
        return gx, (grad * x / (y + 1) if ctx.needs_input_grad[1] else None)
    jvp = diagonal_jvp


class Lerp(Op):
    """start + weight * (end - start), computed from the nearer end as PyTorch does."""
    shape_hint = BROADCAST_HINT
    def forward(ctx, start, end, weight):
        ctx.save_for_backward(start, end, weight)
        diff = end - start
        if isinstance(weight, float):
            out = start + weight * diff if -0.5 < weight < 0.5 else end - diff * (1 - weight)
        else:
            out = ctx.xp.where(ctx.xp.abs(weight) < 0.5, start + weight * diff, end - diff * (1 - weight))
        return same_dtype(out, start)
    def backward(ctx, grad):
        start, end, weight = ctx.saved_tensors
        return (grad * (1 - weight), grad * weight,
                grad * (end - start) if ctx.needs_input_grad[2] else None)
    jvp = diagonal_jvp


# --- the functions ----------------------------------------------------------------------------------------

def _float_only(op, *xs):
    """Refuse integer and bool tensors where PyTorch has no kernel for them (hypot, frac, lerp ...)."""
    for x in xs:
        if isinstance(x, Tensor) and not dtypes.is_floating(x.dtype):
            raise TypeError(f"{op}: not implemented for {x.dtype} tensors (shape {tuple(x.shape)}), as in PyTorch; "
                            f"convert to floating point first, e.g. x.float()")


def _float_operands(a, b):
    """Both operands in one floating dtype: PyTorch's promotion, then integers become the default float."""
    a, b = operands(a, b)
    t = a if isinstance(a, Tensor) else b
    if not dtypes.is_floating(t.dtype):
        a, b = (v.to(dtypes.default_float()) if isinstance(v, Tensor) else v for v in (a, b))
    return a, b


def _as_tensors(a, b):
    """Both operands as tensors of one dtype (scalars become 0-d tensors on the other's device)."""
    a, b = operands(a, b)
    t = a if isinstance(a, Tensor) else b
    a, b = (v if isinstance(v, Tensor) else Tensor._make(t._backend.asarray(v, t.dtype), t._backend) for v in (a, b))
    return a, b


def log1p(input): return Log1p.apply(_floating(input))
def expm1(input): return Expm1.apply(_floating(input))
def log2(input): return Log2.apply(_floating(input))
def log10(input): return Log10.apply(_floating(input))
def exp2(input): return Exp2.apply(_floating(input))
def rsqrt(input): return Rsqrt.apply(_floating(input))
def sinh(input): return Sinh.apply(_floating(input))
def cosh(input): return Cosh.apply(_floating(input))
def asin(input): return Asin.apply(_floating(input))
def acos(input): return Acos.apply(_floating(input))
def atan(input): return Atan.apply(_floating(input))
def asinh(input): return Asinh.apply(_floating(input))
def acosh(input): return Acosh.apply(_floating(input))
def atanh(input): return Atanh.apply(_floating(input))
def erfc(input): return Erfc.apply(_floating(input))
def erfinv(input): return Erfinv.apply(_floating(input))
def lgamma(input): return Lgamma.apply(_floating(input))
def digamma(input): return Polygamma.apply(_floating(input), n=0)
def i0(input): return I0.apply(_floating(input))
def i1(input): return I1.apply(_floating(input))
def sinc(input): return Sinc.apply(_floating(input))
def i0e(input): return I0e.apply(_floating(input))
def i1e(input): return I1e.apply(_floating(input))
def erfcx(input): return Erfcx.apply(_floating(input))
def entr(input): return Entr.apply(_floating(input))
def ndtr(input): return Ndtr.apply(_floating(input))
def ndtri(input): return Ndtri.apply(_floating(input))
def log_ndtr(input): return LogNdtr.apply(_floating(input))


arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh


def polygamma(n, input):
    if isinstance(n, Tensor) and not isinstance(input, Tensor):  # the method: x.polygamma(n)
        n, input = input, n
    if not isinstance(n, numbers.Integral) or n < 0:
        raise RuntimeError(f"polygamma: the order n must be a non-negative integer, got {n!r}")
    return Polygamma.apply(_floating(input), n=int(n))


def logit(input, eps=None):
    return Logit.apply(_floating(input), eps=None if eps is None else float(eps))


def square(input):
    return pow(input.long() if input.dtype == dtypes.bool_ else input, 2)  # PyTorch: square(bool) is int64


def sgn(input):
    return sign(input)


def _rounding(cls, input, **attrs):
    """floor, ceil, trunc and round(decimals=0) keep integer tensors as they are (a copy)."""
    if not dtypes.is_floating(input.dtype):
        if attrs.get("decimals"):
            raise TypeError(f"round: decimals={attrs['decimals']} is not implemented for {input.dtype} tensors, as "
                            f"in PyTorch; convert to floating point first, e.g. x.float()")
        return NonDifferentiable.apply(input, fn="copy")
    return cls.apply(input, **attrs)


def floor(input): return _rounding(Floor, input)
def ceil(input): return _rounding(Ceil, input)
def trunc(input): return _rounding(Trunc, input)
def round(input, *, decimals=0): return _rounding(Round, input, decimals=int(decimals))


fix = trunc


def frac(input):
    _float_only("frac", input)
    return Frac.apply(input)


def _largest(dtype):
    if dtype.kind == "f":
        return float(np.finfo(dtype).max)
    import ml_dtypes  # bfloat16 exists only where ml_dtypes is installed; NumPy's finfo does not know it
    return float(ml_dtypes.finfo(dtype).max)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    if not dtypes.is_floating(input.dtype):
        return NonDifferentiable.apply(input, fn="copy")
    big = _largest(input.dtype)
    return NanToNum.apply(input, nan=nan, posinf=big if posinf is None else posinf,
                          neginf=-big if neginf is None else neginf)


def deg2rad(input): return _floating(input) * (math.pi / 180)
def rad2deg(input): return _floating(input) * (180 / math.pi)


absolute, negative = abs, neg


def positive(input):
    if input.dtype == dtypes.bool_:
        raise TypeError(f"positive: the unary + is not supported for bool tensors (shape {tuple(input.shape)}), as "
                        f"in PyTorch; convert first, e.g. x.int()")
    return input


def atan2(input, other):
    return Atan2.apply(*_float_operands(input, other))


arctan2 = atan2


def xlog1py(input, other):
    return Xlog1py.apply(*_as_tensors(*_float_operands(input, other)))


def xlogy(input, other):
    return Xlogy.apply(*_as_tensors(*_float_operands(input, other)))


def hypot(input, other):
    _float_only("hypot", input, other)
    return Hypot.apply(*operands(input, other))


def fmod(input, other):
    return Fmod.apply(*operands(input, other))


def remainder(input, other):
    return Remainder.apply(*operands(input, other))


def floor_divide(input, other):
    """floor(input / other). PyTorch has no derivative for it (it raises at backward): the result here does
    not require grad."""
    return NonDifferentiable.apply(*operands(input, other), fn="floor_divide")


def true_divide(input, other):
    return div(input, other)


def copysign(input, other):
    return Copysign.apply(*_float_operands(input, other))


def nextafter(input, other):
    _float_only("nextafter", input, other)
    return Nextafter.apply(*_same_dtype("nextafter", input, other))


def logaddexp(input, other):
    _float_only("logaddexp", input, other)
    return Logaddexp.apply(*operands(input, other))


def logaddexp2(input, other):
    _float_only("logaddexp2", input, other)
    return Logaddexp2.apply(*operands(input, other))


def _same_dtype(op, *xs):
    """PyTorch refuses to mix dtypes here (no promotion)."""
    tensors = [x for x in xs if isinstance(x, Tensor)]
    if len({x.dtype for x in tensors}) > 1:
        raise TypeError(f"{op}: expected all tensors of one dtype, got "
                        f"{', '.join(f'{tuple(x.shape)} {x.dtype}' for x in tensors)}; convert them first, "
                        f"e.g. other.to(input.dtype)")
    return xs


def lerp(input, end, weight):
    _float_only("lerp", input, end, weight)
    input, end, weight = _same_dtype("lerp", input, end, weight)
    if not isinstance(weight, Tensor):
        weight = float(weight)
    return Lerp.apply(input, end, weight)


def _add_scaled(input, tensor1, tensor2, combine, value):
    """input + value * combine(tensor1, tensor2) as PyTorch's fused kernels compute it: float16/bfloat16 in
    float32 and rounded once; an integer result takes value truncated to an integer."""
    dtype = dtypes.result_type(input, tensor1, tensor2)
    low = dtypes.is_low_precision(dtype)
    if not dtypes.is_floating(dtype):
        value = int(value)
    elif low:
        input, tensor1, tensor2 = input.float(), tensor1.float(), tensor2.float()
    term = combine(tensor1, tensor2)
    out = input + (term if value == 1 else term * value)
    return out.to(dtype) if low else out


def addcmul(input, tensor1, tensor2, *, value=1):
    return _add_scaled(input, tensor1, tensor2, lambda a, b: a * b, value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    if not dtypes.is_floating(tensor1.dtype) and not dtypes.is_floating(tensor2.dtype):
        raise TypeError(f"addcdiv: integer division of {tensor1.dtype} tensors is not supported, as in PyTorch "
                        f"(shapes {tuple(tensor1.shape)} and {tuple(tensor2.shape)}); convert to floating point first")
    return _add_scaled(input, tensor1, tensor2, lambda a, b: a / b, value)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def heaviside(input, values):
    """0 where input < 0, values where it is 0, 1 where > 0. PyTorch has no derivative (it raises at
    backward): the result here does not require grad."""
    if not isinstance(values, Tensor):
        raise TypeError(f"heaviside: values must be a Tensor, got {type(values).__name__}; wrap it, e.g. "
                        f"torch.tensor({values!r})")
    return NonDifferentiable.apply(*_same_dtype("heaviside", input, values), fn="heaviside")


def float_power(input, exponent):
    """input ** exponent computed in float64 (the result is float64)."""
    double = dtypes.to_dtype("float64")
    input, exponent = (v.to(double) if isinstance(v, Tensor) else float(v) for v in (input, exponent))
    return pow(input, exponent)


# --- predicates (bool results, no gradient) --------------------------------------------------------------

def _predicate(fn, input):
    x = input if dtypes.is_floating(input.dtype) else input.to(dtypes.to_dtype("float64"))  # exact for the test
    return NonDifferentiable.apply(x, fn=fn)


def isnan(input): return _predicate("isnan", input)
def isinf(input): return _predicate("isinf", input)
def isfinite(input): return _predicate("isfinite", input)
def isposinf(input): return _predicate("isposinf", input)
def isneginf(input): return _predicate("isneginf", input)
def signbit(input): return _predicate("signbit", input)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    if isinstance(other, Tensor) and other.dtype != input.dtype:
        raise TypeError(f"isclose: input and other must have one dtype, got {input.dtype} and {other.dtype}; "
                        f"convert one first, e.g. other.to(input.dtype)")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: rtol and atol must be >= 0, got rtol={rtol}, atol={atol}")
    x, y = _as_tensors(input, other)
    if x.dtype == dtypes.bool_:  # no arithmetic on bools: close is equal
        return NonDifferentiable.apply(x, y, fn="equal")
    # |x - y| <= atol + rtol |y|, or equal (infinities); nan close to nan only with equal_nan
    return NonDifferentiable.apply(x, y, fn="isclose", rtol=float(rtol), atol=float(atol), equal_nan=bool(equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A Python bool (reads the answer back from the device)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def equal(input, other):
    """True when both have the same shape and the same values (a Python bool, read back from the device)."""
    return tuple(input.shape) == tuple(other.shape) and bool((input == other).all())


# --- logical and bitwise ----------------------------------------------------------------------------------

def logical_and(input, other): return NonDifferentiable.apply(*operands(input, other), fn="logical_and")
def logical_or(input, other): return NonDifferentiable.apply(*operands(input, other), fn="logical_or")
def logical_xor(input, other): return NonDifferentiable.apply(*operands(input, other), fn="logical_xor")
def logical_not(input): return NonDifferentiable.apply(input, fn="logical_not")
def bitwise_and(input, other): return bitwise("bitwise_and", input, other)
def bitwise_or(input, other): return bitwise("bitwise_or", input, other)
def bitwise_xor(input, other): return bitwise("bitwise_xor", input, other)
def bitwise_not(input): return bitwise("bitwise_not", input)


# --- Tensor methods and in-place variants ----------------------------------------------------------------

def _inplace_variant(fn, name=None):
    """``x.name_(...)``: ``fn(x, ...)`` computed out of place and written into x (x takes the new history)."""
    name = name or fn.__name__ + "_"
    def method(self, *args, **kwargs):
        return apply_inplace(self, lambda old, _: fn(old, *args, **kwargs), None, name)
    method.__name__ = method.__qualname__ = name
    return method


def float_power_(self, exponent):
    if self.dtype != dtypes.to_dtype("float64"):
        raise TypeError(f"float_power_: the result is float64 but the tensor (shape {tuple(self.shape)}) is "
                        f"{self.dtype}, as PyTorch refuses; convert first, x = x.double(), or use float_power")
    return apply_inplace(self, lambda old, _: float_power(old, exponent), None, "float_power_")


# PyTorch's Tensor methods among this module's functions, and those with an in-place variant (x.log1p_())
_WITH_INPLACE = (
    "log1p", "expm1", "log2", "log10", "exp2", "rsqrt", "square", "sgn", "sign", "floor", "ceil", "round", "trunc",
    "fix",
    "frac", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan", "arcsinh",
    "arccosh", "arctanh", "erfc", "erfinv", "lgamma", "digamma", "polygamma", "i0", "sinc", "logit", "nan_to_num",
    "deg2rad", "rad2deg", "atan2", "arctan2", "xlogy", "hypot", "fmod", "remainder", "floor_divide", "true_divide",
    "copysign", "nextafter", "lerp", "addcmul", "addcdiv", "clip", "clamp_min", "clamp_max", "heaviside", "logical_and",
    "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
    # the basic unary math (unary.py, arithmetic.py) gets its in-place variants here too
    "exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "abs", "absolute", "neg", "negative", "reciprocal",
    "clamp")
for _name in _WITH_INPLACE:
    globals()[_name + "_"] = _inplace_variant(globals()[_name], _name + "_")

# the reflected and in-place bitwise operators (5 & x, x &= y); tensor.py has the plain ones
def __rand__(self, other): return bitwise_and(other, self)
def __ror__(self, other): return bitwise_or(other, self)
def __rxor__(self, other): return bitwise_xor(other, self)
def __iand__(self, other): return bitwise_and_(self, other)  # noqa: F821  (made by the loop above)
def __ior__(self, other): return bitwise_or_(self, other)  # noqa: F821
def __ixor__(self, other): return bitwise_xor_(self, other)  # noqa: F821


METHODS = ("__rand__", "__ror__", "__rxor__", "__iand__", "__ior__", "__ixor__") + tuple(
    n for n in _WITH_INPLACE if n in __all__) + (
    "logaddexp", "logaddexp2", "float_power", "isnan", "isinf", "isfinite", "isposinf", "isneginf", "isclose",
    "allclose", "equal", "signbit", "positive") + tuple(n + "_" for n in _WITH_INPLACE) + ("float_power_",)
