"""Elementwise arithmetic with broadcasting: add, sub, mul, div, neg, pow, maximum, minimum, where, clamp."""

import math
import numbers

import numpy as np

from .. import dtypes
from ..function import Op, diagonal_jvp
from ..tensor import Tensor, zeros_like

BROADCAST_HINT = (" Shapes broadcast when, from the right, each pair of sizes is equal or one of them is 1; "
                  "reshape or unsqueeze one input to make them fit.")


class Add(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        return x + y
    def backward(ctx, grad):
        return grad, grad
    jvp = diagonal_jvp


class Sub(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        return x - y
    def backward(ctx, grad):
        return grad, -grad
    jvp = diagonal_jvp


class Mul(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        need_x, need_y = ctx.needs_input_grad  # each operand is kept only for the other's gradient
        ctx.save_for_backward(x if need_y else None, y if need_x else None)
        return x * y
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return (grad * y if ctx.needs_input_grad[0] else None,
                grad * x if ctx.needs_input_grad[1] else None)
    jvp = diagonal_jvp


class Div(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, y)
        return x / y
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        gx = grad / y
        return gx, (-gx * x / y if ctx.needs_input_grad[1] else None)
    jvp = diagonal_jvp


class Reciprocal(Op):
    def forward(ctx, x):
        out = (1 / x).astype(x.dtype, copy=False)  # NumPy makes 1 / bfloat16 float32
        ctx.save_for_backward(out)
        return out
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return -grad * (out * out)
    jvp = diagonal_jvp


class Neg(Op):
    def forward(ctx, x):
        return -x
    def backward(ctx, grad):
        return -grad
    jvp = diagonal_jvp


class Pow(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, p):
        out = x ** p
        ctx.save_for_backward(x, p, out)
        return out
    def backward(ctx, grad):
        x, p, out = ctx.saved_tensors
        gx = _base_grad(grad, x, p) if ctx.needs_input_grad[0] else None
        gp = grad * out * _log(x) if ctx.needs_input_grad[1] else None
        return gx, gp
    jvp = diagonal_jvp


class Maximum(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return ctx.xp.maximum(x, y)
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return _picked_grads(grad, x, y, x_lost=x < y, y_lost=x > y)
    jvp = diagonal_jvp


class Minimum(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return ctx.xp.minimum(x, y)
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return _picked_grads(grad, x, y, x_lost=x > y, y_lost=x < y)
    jvp = diagonal_jvp


class Where(Op):
    shape_hint = BROADCAST_HINT
    def forward(ctx, condition, x, y):
        ctx.save_for_backward(condition)
        return ctx.xp.where(condition, x, y)
    def backward(ctx, grad):
        condition, = ctx.saved_tensors
        return None, where(condition, grad, 0.0), where(condition, 0.0, grad)
    jvp = diagonal_jvp


class Clamp(Op):
    def forward(ctx, x, min=None, max=None):
        ctx.save_for_backward(x)
        ctx.bounds = (min, max)
        xp, dtype = ctx.xp, x.dtype  # bounds in x's dtype: NumPy would widen bfloat16 with a Python float
        if min is not None:
            x = xp.maximum(x, xp.asarray(min, dtype))
        if max is not None:
            x = xp.minimum(x, xp.asarray(max, dtype))
        return x
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        lo, hi = ctx.bounds  # the gradient passes where min <= x <= max, as in PyTorch
        inside = (x >= lo) if lo is not None else None
        if hi is not None:
            inside = (x <= hi) if inside is None else inside & (x <= hi)
        return where(inside, grad, 0.0) if inside is not None else grad
    jvp = diagonal_jvp


class ClampTensor(Op):
    """clamp with tensor bounds (one may be None). PyTorch's gradients: x's passes where
    min <= x <= max; min's where x < min (unless min >= max); max's where x > max or max < min (then
    the output is max everywhere)."""
    shape_hint = BROADCAST_HINT
    def forward(ctx, x, min, max):
        ctx.save_for_backward(x, min, max)
        out = x if min is None else ctx.xp.maximum(x, min)
        return out if max is None else ctx.xp.minimum(out, max)
    def backward(ctx, grad):
        x, lo, hi = ctx.saved_tensors
        if hi is None:
            return where(x >= lo, grad, 0.0), where(x < lo, grad, 0.0), None
        if lo is None:
            return where(x <= hi, grad, 0.0), None, where(x > hi, grad, 0.0)
        return (where((x >= lo) & (x <= hi), grad, 0.0), where((x < lo) & (lo < hi), grad, 0.0),
                where((x > hi) | (hi < lo), grad, 0.0))
    jvp = diagonal_jvp


class PiecewiseConstant:
    """Mixin for ops whose derivative is zero wherever it exists (sign, floor, round): their outputs
    require grad and their gradient is zeros, as in PyTorch."""
    def backward(ctx, grad):
        return zeros_like(grad)
    jvp = diagonal_jvp


class Sign(PiecewiseConstant, Op):
    def forward(ctx, x):
        return ctx.xp.sign(x)


class NonDifferentiable(Op):
    """Any array function with no gradient: comparisons, logic, bitwise ops, argmax, any/all."""
    differentiable = False
    shape_hint = BROADCAST_HINT
    def forward(ctx, *arrays, fn, **kwargs):
        return getattr(ctx.xp, fn)(*arrays, **kwargs)


# --- the functions (and Tensor operators) ------------------------------------------------------

def _base_grad(grad, x, p):
    """d(x ** p)/dx = p * x ** (p - 1), except where p == 0: x ** 0 is 1 everywhere, so the gradient is
    0, also at x = 0 where the formula gives 0 * inf = nan (PyTorch's rule, for both kinds of p)."""
    if isinstance(p, Tensor):
        return where(p == 0, 0.0, grad * p * x ** (p - 1))
    if p == 0:
        return zeros_like(x)
    return grad * p * x ** (p - 1)


def _picked_grads(grad, x, y, x_lost, y_lost):
    """maximum/minimum's gradients, PyTorch's rule: the picked operand gets it, a tie splits it in
    halves, and where either side is NaN (no comparison holds, so neither lost) both get all of it."""
    tie = (x == y).to(grad.dtype) * 0.5
    return grad * (1 - x_lost.to(grad.dtype) - tie), grad * (1 - y_lost.to(grad.dtype) - tie)


def _log(v):
    """log v for pow's exponent gradient, taken as 0 at v == 0: there v ** p is 0 (or 1) and the
    gradient is 0, as in PyTorch, not 0 * -inf = nan."""
    if isinstance(v, Tensor):
        return where(v == 0, 1.0, v).log()
    return math.log(v) if v > 0 else 0.0 if v == 0 else math.nan


def operands(a, b):
    """Bring a binary op's operands to one dtype by PyTorch's promotion rules.

    Python numbers stay Python numbers (they never widen a tensor's dtype); NumPy
    arrays and other data become tensors on the other operand's device.
    """
    a_is, b_is = isinstance(a, Tensor), isinstance(b, Tensor)
    if a_is and b_is:
        if a.array.dtype != b.array.dtype:
            dtype = dtypes.result_type(a, b)
            a, b = a.to(dtype), b.to(dtype)
        return a, b
    if not (a_is or b_is):
        raise TypeError(f"expected at least one Tensor operand, got {type(a).__name__} and {type(b).__name__}")
    t, other = (a, b) if a_is else (b, a)
    if isinstance(other, np.generic):
        other = other.item()
    if isinstance(other, numbers.Number):
        if dtypes.category(dtypes.scalar_dtype(other)) > dtypes.category(t.array.dtype):
            t = t.to(dtypes.result_type(t, other))
        elif dtypes.widened_by_python_floats(t.array.dtype) and isinstance(other, float):
            other = Tensor._make(t._backend.asarray(other, t.array.dtype), t._backend)
    else:  # array-like data
        other = Tensor._make(t._backend.asarray(other), t._backend) if t._backend.is_array(other) or \
            isinstance(other, np.ndarray) else _as_tensor(other, t)
        return operands(t, other) if a_is else operands(other, t)
    return (t, other) if a_is else (other, t)


def op_math_operands(a, b):
    """``operands`` for mul and div, plus the dtype to round the result to (None: no rounding).

    PyTorch multiplies and divides a float16/bfloat16 tensor by a Python scalar, or by a tensor of
    another dtype given second, in float32 ("op math") and rounds the result once: x_fp16 / 70000
    is 1.4e-05, where casting 70000 to float16 first (inf) gives 0. Its CPU kernels cast the
    scalar first for add, sub and pow, so those keep ``operands``. The casts here are recorded
    ops: the gradient flows back through them and ends in the input's dtype.
    """
    x, y = operands(a, b)
    low = _tensor_of(x, y).array.dtype
    if not dtypes.is_low_precision(low):  # checked first: the common case, and cheaper than the ABC check below
        return x, y, None
    scalar_second = isinstance(b, (numbers.Number, np.generic)) or (isinstance(b, Tensor) and b.array.dtype != low)
    if not scalar_second:
        return x, y, None
    return _widen(a), _widen(b), low


def _widen(value):
    """An operand of op math: a tensor in float32 from its own precision, a number as it is."""
    if isinstance(value, Tensor):
        return value.float()
    return value.item() if isinstance(value, np.generic) else value


def _rounded(result, dtype):
    return result if dtype is None else result.to(dtype)


def _as_tensor(data, like):
    from ..tensor import as_tensor
    return as_tensor(data, device=like.device)


def add(a, b):
    a, b = operands(a, b)
    return Add.apply(a, b)


def _tensor_of(a, b):
    """The operand that is a Tensor (after ``operands`` both share its dtype)."""
    return a if isinstance(a, Tensor) else b


def sub(a, b):
    a, b = operands(a, b)
    if _tensor_of(a, b).array.dtype == dtypes.bool_:
        raise TypeError("sub: subtracting bool tensors is not supported; use logical_xor, or convert with .int()")
    return Sub.apply(a, b)


def mul(a, b):
    if not isinstance(a, Tensor) and isinstance(b, Tensor):  # 2 * x is x.mul(2) in PyTorch: the scalar second
        a, b = b, a
    a, b, low = op_math_operands(a, b)
    return _rounded(Mul.apply(a, b), low)


def div(a, b):
    if isinstance(a, (numbers.Number, np.generic)) and dtypes.is_low_precision(b.dtype):
        # PyTorch computes s / x as x.reciprocal() * s: the reciprocal is rounded, the product is op math
        return mul(reciprocal(b), a)
    a, b, low = op_math_operands(a, b)
    if not dtypes.is_floating(_tensor_of(a, b).array.dtype):  # int / int is the default float, as in PyTorch
        a = a.to(dtypes.default_float()) if isinstance(a, Tensor) else a
        b = b.to(dtypes.default_float()) if isinstance(b, Tensor) else b
    return _rounded(Div.apply(a, b), low)


def reciprocal(x):
    return Reciprocal.apply(x if dtypes.is_floating(x.dtype) else x.to(dtypes.default_float()))


def neg(x):
    return Neg.apply(x)


def pow(x, p):
    if isinstance(x, Tensor) and isinstance(p, numbers.Real) and dtypes.overflows(x.array.dtype, p):
        raise RuntimeError(f"pow: the exponent {p} cannot be converted to {x.dtype} without overflow (base of shape "
                           f"{tuple(x.shape)}, {x.dtype}); compute in float32, e.g. x.float() ** {p}")
    x, p = operands(x, p)
    return Pow.apply(x, p)


def maximum(a, b):
    a, b = operands(a, b)
    return Maximum.apply(a, b)


def minimum(a, b):
    a, b = operands(a, b)
    return Minimum.apply(a, b)


def where(condition, x, y):
    if not isinstance(condition, Tensor) or condition.dtype != dtypes.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got "
                        f"{condition.dtype if isinstance(condition, Tensor) else type(condition).__name__}")
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        dtype = dtypes.result_type(x, y)
        x = Tensor._make(condition._backend.xp.asarray(x, dtype=dtype), condition._backend)
    x, y = operands(x, y)
    return Where.apply(condition, x, y)


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        if not all(v is None or isinstance(v, Tensor) for v in (min, max)):
            raise TypeError(f"clamp: min and max must both be tensors or both be numbers, got "
                            f"{type(min).__name__} and {type(max).__name__}, as in PyTorch; make the number a "
                            f"tensor, e.g. torch.tensor(0.5, device=x.device)")
        bounds = [v for v in (min, max) if v is not None]
        dtype = dtypes.result_type(x, *bounds)
        x, min, max = (v if v is None or v.dtype == dtype else v.to(dtype) for v in (x, min, max))
        return ClampTensor.apply(x, min, max)
    if not dtypes.is_floating(x.dtype) and any(isinstance(v, float) for v in (min, max)):
        x = x.to(dtypes.default_float())
    return Clamp.apply(x, min=min, max=max)


def compare(fn, a, b):
    """``fn`` is a NumPy comparison name ("less", "equal"...); the result is a bool tensor."""
    a, b = operands(a, b)
    return NonDifferentiable.apply(a, b, fn=fn)


def logical(fn, *xs):
    """The Tensor operators & | ^ ~ (tensor.py passes "logical_and" ...): bitwise, as in PyTorch, which on
    bools is the logical op; floats are refused."""
    return bitwise(fn.replace("logical_", "bitwise_"), *xs)


def bitwise(fn, *xs):
    """``fn`` is a NumPy bitwise name ("bitwise_and", "bitwise_not"...): integer and bool tensors only."""
    xs = operands(*xs) if len(xs) == 2 else xs
    dtype = _tensor_of(xs[0], xs[-1]).array.dtype
    if dtypes.is_floating(dtype):
        raise TypeError(f"{fn}: only integer and bool tensors have bits to combine, got {dtype} (inputs: "
                        f"{', '.join(str(tuple(x.shape)) for x in xs if isinstance(x, Tensor))}); use logical_"
                        f"{fn[8:]} for truth values, or convert with .long()")
    return NonDifferentiable.apply(*xs, fn=fn)


def sign(x):
    if x.dtype == dtypes.bool_:  # PyTorch: sign(True) is True; neither NumPy nor CuPy has a bool loop
        return NonDifferentiable.apply(x, fn="copy")
    return Sign.apply(x)
