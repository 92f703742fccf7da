"""Op-table rows: elementwise math, special functions, predicates, logical and bitwise ops.

Integer and bool results of these ops are checked in test_pointwise.py (a row needs a floating input).
"""

import numpy as np

from optable import *  # noqa: F401,F403


def special_values(*shape, nan=True):
    """Normal samples with nan, +-inf and +-0 among them (predicates, nan_to_num)."""
    def sample(rng):
        x = rng.standard_normal(shape)
        flat = x.reshape(-1)
        specials = [np.nan] * nan + [np.inf, -np.inf, 0.0, -0.0]
        flat[:len(specials)] = specials[:flat.size]
        rng.shuffle(flat)
        return x
    return sample


def sp(lib):
    """The special-function namespace: autograd.special or torch.special."""
    import torch
    import autograd
    return torch.special if lib is torch else autograd.special


def no_derivative(lib, result, *xs):
    """Ops PyTorch gives no derivative (floor_divide, heaviside: it raises at backward): the row adds 0 * x so
    the table has a differentiable output to compare; the values are the op's own."""
    for x in xs:
        result = result + 0 * x
    return result


OPS = [
    # --- unary math
    op("log1p", lambda lib, x: lib.log1p(x), uniform(-0.6, 2.0, 3, 4)),
    op("log1p_method", lambda lib, x: x.log1p(), positive(5)),
    op("expm1", lambda lib, x: x.expm1(), randn(3, 4)),
    op("log2", lambda lib, x: lib.log2(x), positive(3, 4)),
    op("log10", lambda lib, x: x.log10(), positive(3, 4)),
    op("exp2", lambda lib, x: lib.exp2(x), randn(3, 4)),
    op("rsqrt", lambda lib, x: x.rsqrt(), positive(3, 4)),
    op("square", lambda lib, x: lib.square(x), randn(3, 4)),
    op("sgn", lambda lib, x: lib.sgn(x), away(3, 4)),
    op("sign", lambda lib, x: x.sign() * x, away(3, 4)),
    op("floor", lambda lib, x: lib.floor(x), randn(3, 4, scale=3)),
    op("ceil", lambda lib, x: x.ceil(), randn(3, 4, scale=3)),
    op("trunc", lambda lib, x: lib.trunc(x), randn(3, 4, scale=3)),
    op("fix", lambda lib, x: x.fix(), randn(5, scale=3)),
    op("round", lambda lib, x: lib.round(x), randn(3, 4, scale=3)),
    op("round_decimals", lambda lib, x: lib.round(x, decimals=2), randn(3, 4)),
    op("round_neg_decimals", lambda lib, x: x.round(decimals=-1), randn(3, 4, scale=50)),
    op("frac", lambda lib, x: lib.frac(x), randn(3, 4, scale=3)),
    op("sinh", lambda lib, x: lib.sinh(x), randn(3, 4)),
    op("cosh", lambda lib, x: x.cosh(), randn(3, 4)),
    op("asin", lambda lib, x: lib.asin(x), uniform(-0.9, 0.9, 3, 4)),
    op("arcsin", lambda lib, x: x.arcsin(), uniform(-0.9, 0.9, 4)),
    op("acos", lambda lib, x: x.acos(), uniform(-0.9, 0.9, 3, 4)),
    op("atan", lambda lib, x: lib.atan(x), randn(3, 4, scale=2)),
    op("asinh", lambda lib, x: lib.asinh(x), randn(3, 4, scale=2)),
    op("acosh", lambda lib, x: x.acosh(), uniform(1.2, 4.0, 3, 4)),
    op("atanh", lambda lib, x: lib.atanh(x), uniform(-0.9, 0.9, 3, 4)),
    op("arctanh", lambda lib, x: lib.arctanh(x), uniform(-0.9, 0.9, 5)),
    op("erfc", lambda lib, x: lib.erfc(x), randn(3, 4)),
    op("erfinv", lambda lib, x: x.erfinv(), uniform(-0.95, 0.95, 3, 4)),
    op("lgamma", lambda lib, x: lib.lgamma(x), uniform(0.2, 4.0, 3, 4)),
    op("lgamma_negative", lambda lib, x: x.lgamma(), uniform(-2.9, -2.1, 5)),
    # torch's trigamma (digamma's derivative) is accurate to ~1e-9 only below x ~ 3 (SciPy's to ~1e-15): the
    # float64 rows sample above that; small x is checked against finite differences in test_pointwise.py
    op("digamma", lambda lib, x: lib.digamma(x), uniform(8.0, 12.0, 3, 4)),
    op("polygamma_1", lambda lib, x: lib.polygamma(1, x), uniform(8.0, 12.0, 3, 4)),
    op("polygamma_3_method", lambda lib, x: x.polygamma(3), uniform(0.5, 4.0, 5)),
    op("i0", lambda lib, x: lib.i0(x), randn(3, 4, scale=2)),
    op("i0_at_zero", lambda lib, x: x.i0(), lambda rng: np.array([0.0, 0.5, -1.5, 0.0])),
    op("sinc", lambda lib, x: lib.sinc(x), randn(3, 4, scale=2)),
    # torch's second derivative at 0 is nan (its formula divides by x); ndgrad's is 0 there (the true one is -pi^2/3)
    op("sinc_at_zero", lambda lib, x: x.sinc(), lambda rng: np.array([0.0, 0.25, -1.5, 0.0]), double=False),
    op("logit", lambda lib, x: lib.logit(x), uniform(0.05, 0.95, 3, 4)),
    op("logit_eps", lambda lib, x: x.logit(eps=0.2), uniform(0.01, 0.99, 3, 4)),
    op("nan_to_num", lambda lib, x: lib.nan_to_num(x), special_values(3, 4), gradcheck=False),
    op("nan_to_num_values", lambda lib, x: x.nan_to_num(nan=1.5, posinf=9.0, neginf=-7.0), special_values(8),
       gradcheck=False),
    op("deg2rad", lambda lib, x: lib.deg2rad(x), randn(3, 4, scale=90)),
    op("rad2deg", lambda lib, x: x.rad2deg(), randn(3, 4)),
    op("positive", lambda lib, x: lib.positive(x) * 2, randn(3, 4)),
    op("absolute_negative", lambda lib, x: (lib.absolute(x), x.negative(), x.absolute()), away(3, 4)),
    # --- binary math (broadcasting, scalars)
    op("atan2", lambda lib, y, x: lib.atan2(y, x), randn(3, 1), randn(4)),
    op("arctan2_method", lambda lib, y, x: y.arctan2(x), randn(2, 3), randn(2, 3)),
    op("xlogy", lambda lib, x, y: lib.xlogy(x, y), randn(3, 4), positive(4)),
    # at x == 0 PyTorch's gradient for x is 0 (xlogy(0, y) is 0 whatever x's neighbours give): no gradcheck
    op("xlogy_zeros", lambda lib, x, y: x.xlogy(y), with_zeros(3, 4), positive(3, 4), gradcheck=False),
    op("xlogy_scalar_first", lambda lib, y: lib.xlogy(2.0, y), positive(3, 4)),
    op("xlogy_scalar_second", lambda lib, x: lib.xlogy(x, 3.0), randn(3, 4)),
    op("hypot", lambda lib, x, y: lib.hypot(x, y), randn(3, 4), randn(4)),
    op("fmod", lambda lib, x, y: lib.fmod(x, y), randn(3, 4, scale=3), away(4, gap=0.5)),
    op("fmod_scalar", lambda lib, x: x.fmod(1.5), randn(3, 4, scale=3)),
    op("remainder", lambda lib, x, y: lib.remainder(x, y), randn(3, 4, scale=3), away(3, 1, gap=0.5)),
    op("remainder_scalar", lambda lib, x: x.remainder(-1.5), randn(3, 4, scale=3)),
    op("floor_divide", lambda lib, x, y: no_derivative(lib, lib.floor_divide(x.detach(), y.detach()), x, y),
       randn(3, 4, scale=3), away(4, gap=0.5)),
    op("true_divide", lambda lib, x, y: lib.true_divide(x, y), randn(3, 4), away(4, gap=0.5)),
    op("copysign", lambda lib, x, y: lib.copysign(x, y), randn(3, 4), randn(4)),
    # at x == 0 the gradient is 0 in PyTorch (copysign's kink): no gradcheck
    # (torch's second derivative there is nan: result / x at x == 0)
    op("copysign_zeros", lambda lib, x, y: x.copysign(y), ties(3, 4), randn(3, 4), gradcheck=False, double=False),
    op("copysign_scalar", lambda lib, x: lib.copysign(x, -1.0), randn(3, 4)),
    op("nextafter", lambda lib, x, y: lib.nextafter(x, y), randn(3, 4), randn(4)),
    op("logaddexp", lambda lib, x, y: lib.logaddexp(x, y), randn(3, 4, scale=3), randn(4, scale=3)),
    op("logaddexp2", lambda lib, x, y: x.logaddexp2(y), randn(3, 4, scale=3), randn(3, 1, scale=3)),
    op("lerp_scalar", lambda lib, a, b: lib.lerp(a, b, 0.3), randn(3, 4), randn(4)),
    op("lerp_scalar_high", lambda lib, a, b: a.lerp(b, 0.8), randn(3, 4), randn(3, 4)),
    op("lerp_tensor", lambda lib, a, b, w: lib.lerp(a, b, w), randn(3, 4), randn(4), uniform(-0.5, 1.5, 3, 1)),
    op("addcmul", lambda lib, x, a, b: lib.addcmul(x, a, b), randn(3, 4), randn(4), randn(3, 1)),
    op("addcmul_value", lambda lib, x, a, b: x.addcmul(a, b, value=-0.5), randn(3, 4), randn(3, 4), randn(4)),
    op("addcdiv", lambda lib, x, a, b: lib.addcdiv(x, a, b, value=2.0), randn(3, 4), randn(4), away(3, 4, gap=0.5)),
    # clamp with tensor bounds: ties between x and a bound, and min > max, get PyTorch's gradients
    op("clamp_tensor", lambda lib, x, lo, hi: lib.clamp(x, lo, hi), on_grid(3, 4), on_grid(4, offset=-0.5),
       on_grid(3, 1, offset=0.5)),
    op("clamp_tensor_ties", lambda lib, x, lo, hi: x.clamp(lo, hi), ties(3, 4), ties(4), ties(3, 1),
       gradcheck=False, jvp=False),  # at ties forward mode picks another side than the gradient rule
    op("clamp_tensor_min", lambda lib, x, lo: lib.clamp(x, min=lo), on_grid(3, 4), on_grid(4, offset=0.1)),
    op("clamp_tensor_max", lambda lib, x, hi: x.clamp(max=hi), on_grid(3, 4), on_grid(3, 1, offset=0.1)),
    op("clip_tensor", lambda lib, x, lo, hi: lib.clip(x, lo, hi), on_grid(3, 4), on_grid(4, offset=-0.5),
       on_grid(3, 4, offset=0.5)),
    op("clamp_min_fn", lambda lib, x: lib.clamp_min(x, -0.5), away(3, 4, kinks=(-0.5,))),
    op("clamp_max_tensor", lambda lib, x, hi: x.clamp_max(hi), on_grid(3, 4), on_grid(4, offset=0.1)),
    op("heaviside", lambda lib, x, v: no_derivative(lib, lib.heaviside(x.detach(), v.detach()), x, v), ties(3, 4),
       randn(4), gradcheck=False),  # gradcheck: finite differences see the step at x == 0
    # float_power computes in float64 (its float64 result is checked in test_pointwise.py); cast back here so that
    # the float32 and low-precision checks see the input's dtype
    op("float_power", lambda lib, x: lib.float_power(x, 2.5).to(x.dtype), positive(3, 4)),
    op("float_power_tensor", lambda lib, x, p: x.float_power(p).to(x.dtype), positive(3, 1), randn(4)),
    op("float_power_scalar_base", lambda lib, p: lib.float_power(2, p).to(p.dtype), randn(3, 4)),
    # --- predicates (bool results). Each row also returns x * 1: ndgrad's engine fails on grad() of no outputs
    # (IndexError in engine.py; torch gives None), which the table would call for a row of bool results alone
    op("isnan", lambda lib, x: (x * 1, lib.isnan(x), lib.isinf(x), x.isfinite()), special_values(3, 4),
       gradcheck=False),
    op("isposinf", lambda lib, x: (x * 1, lib.isposinf(x), x.isneginf()), special_values(3, 4), gradcheck=False),
    # (no nan: the sign of a nan is not portable; torch's bfloat16 nan has it set)
    op("signbit", lambda lib, x: (x * 1, lib.signbit(x)), special_values(3, 4, nan=False), gradcheck=False),
    op("isclose", lambda lib, x, y: (x * 1, lib.isclose(x, x + y * 1e-6)), randn(3, 4), randn(4), gradcheck=False),
    op("isclose_tols_nan", lambda lib, x, y: (x * 1, x.isclose(y, rtol=0.5, atol=0.1, equal_nan=True)),
       special_values(3, 4), special_values(3, 4), gradcheck=False),
    op("logical", lambda lib, x, y: (x * 1, lib.logical_and(x, y), lib.logical_or(x, y), lib.logical_xor(x, y),
                                     x.logical_not()), ties(3, 4), ties(4), gradcheck=False),
    # --- torch.special
    op("special_erf", lambda lib, x: sp(lib).erf(x), randn(3, 4)),
    op("special_ndtr", lambda lib, x: sp(lib).ndtr(x), randn(3, 4, scale=2)),
    op("special_ndtri", lambda lib, x: sp(lib).ndtri(x), uniform(0.05, 0.95, 3, 4)),
    op("special_log_ndtr", lambda lib, x: sp(lib).log_ndtr(x), randn(3, 4, scale=3)),
    op("special_i1", lambda lib, x: sp(lib).i1(x), randn(3, 4, scale=2)),
    op("special_i1_at_zero", lambda lib, x: sp(lib).i1(x), lambda rng: np.array([0.0, 0.5, -1.5, 0.0])),
    op("special_i0e", lambda lib, x: sp(lib).i0e(x), randn(3, 4, scale=3)),
    op("special_i1e", lambda lib, x: sp(lib).i1e(x), randn(3, 4, scale=3)),
    op("special_i1e_at_zero", lambda lib, x: sp(lib).i1e(x), lambda rng: np.array([0.0, 0.5, -1.5, 0.0])),
    # (erfcx grows as 2 exp(x^2) below 0: float16 would overflow where torch's float32 reference does not)
    op("special_erfcx", lambda lib, x: sp(lib).erfcx(x), uniform(-1.0, 3.0, 3, 4)),
    op("special_entr", lambda lib, x: sp(lib).entr(x), positive(3, 4)),
    op("special_xlog1py", lambda lib, x, y: sp(lib).xlog1py(x, y), randn(3, 4), uniform(-0.5, 2.0, 4)),
    op("special_xlog1py_zeros", lambda lib, x, y: sp(lib).xlog1py(x, y), with_zeros(3, 4), uniform(-0.5, 2.0, 4),
       gradcheck=False),
    op("special_expit", lambda lib, x: sp(lib).expit(x), randn(3, 4)),
    op("special_logsumexp", lambda lib, x: sp(lib).logsumexp(x, 1), randn(3, 4)),
    op("special_softmax", lambda lib, x: sp(lib).softmax(x, 0), randn(3, 4)),
    op("special_log_softmax", lambda lib, x: sp(lib).log_softmax(x, -1), randn(3, 4)),
    # NumPy-style aliases, and the bitwise/logical ops as functions and in place on integers and bools
    op("arc_aliases", lambda lib, x, y: (lib.arccos(x * 0.5), lib.arctan(x), lib.arcsinh(x), (x.abs() + 1.5).arccosh(),
                                         x.arctanh(), lib.arctan2(x, y)),
       uniform(-0.9, 0.9, 3, 4), away(4, gap=0.5)),
    op("bitwise_functions", lambda lib, i, j: (lib.bitwise_and(i, j), lib.bitwise_or(i, j), lib.bitwise_xor(i, j),
                                               lib.bitwise_not(i), i.clone().bitwise_and_(j), i.clone().bitwise_or_(j),
                                               i.clone().bitwise_xor_(j), i.clone().bitwise_not_()),
       ints(-8, 8, 3, 4), ints(-8, 8, 4), gradcheck=False),
    op("logical_inplace", lambda lib, a, b: (a.clone().logical_and_(b), a.clone().logical_or_(b),
                                             a.clone().logical_xor_(b), a.clone().logical_not_()), mask(3, 4), mask(4),
       gradcheck=False),
    op("inplace_aliases_and_rest", lambda lib, x, y: ((x * 1).arccos_(),
                                                      (x * 1).arctan_(), (x * 1).double().float_power_(2).to(x.dtype),
                                                      # no derivative in torch for these: values only
                                                      (x.detach().abs() + 1.5).arccosh_() + x * 0,
                                                      x.detach().clone().arcsinh_() + x * 0,
                                                      x.detach().clone().floor_divide_(y.detach()) + x * 0,
                                                      x.detach().clone().heaviside_(y.detach()) + x * 0),
       uniform(-0.9, 0.9, 3, 4), away(4, gap=0.5), gradcheck=False),
]
