"""The pointwise family beyond its op-table rows (tests/rows_pointwise.py): integer and bool results,
refusals, predicates at their edge values, in-place variants and the special namespace, against torch."""

import math

import numpy as np
import pytest
import torch

import autograd as ag
from autograd.ops import pointwise
from conftest import assert_close, to_numpy

INTS = np.array([[7, -7, 3, 0], [-2, 9, -5, 12]])
DIVISORS = np.array([3, -2, 4, -5])  # no zero: PyTorch raises ZeroDivisionError for integer division by 0
BOOLS = np.array([True, False, True, False])
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.25, 1e-300, -1e308])


def both(fn, *arrays, **kwargs):
    """fn applied to ndgrad and to torch tensors of the same data: (ndgrad's, torch's) results."""
    return (fn(ag, *[ag.tensor(a, **kwargs) for a in arrays]),
            fn(torch, *[torch.from_numpy(np.array(a)) for a in arrays]))


def assert_same(got, expected):
    """Same dtype (by name) and values, for tensors or tuples of them."""
    if isinstance(expected, tuple):
        for g, e in zip(got, expected, strict=True):
            assert_same(g, e)
        return
    assert str(got.dtype) == str(expected.dtype).replace("torch.", ""), f"dtype {got.dtype}, torch {expected.dtype}"
    assert_close(to_numpy(got), to_numpy(expected), rtol=1e-6, atol=0, check_dtype=False)


# --- integer and bool inputs: PyTorch's result dtypes and values ---------------------------------------------

INTEGER_CASES = {
    "floor": lambda lib, x: lib.floor(x),
    "ceil": lambda lib, x: x.ceil(),
    "trunc": lambda lib, x: lib.trunc(x),
    "round": lambda lib, x: lib.round(x),
    "square": lambda lib, x: lib.square(x),
    "sgn": lambda lib, x: lib.sgn(x),
    "nan_to_num": lambda lib, x: lib.nan_to_num(x),
    "positive": lambda lib, x: lib.positive(x),
    "log1p (default float)": lambda lib, x: lib.log1p(x.abs()),
    "exp2": lambda lib, x: lib.exp2(x),
    "rsqrt": lambda lib, x: lib.rsqrt(x.abs() + 1),
    "deg2rad": lambda lib, x: lib.deg2rad(x),
    "rad2deg": lambda lib, x: x.rad2deg(),
    "sinc": lambda lib, x: lib.sinc(x),
    "i0": lambda lib, x: lib.i0(x),
    "erfinv": lambda lib, x: lib.erfinv(x * 0),
    "logit": lambda lib, x: lib.logit(x),
    "predicates": lambda lib, x: (lib.isnan(x), lib.isinf(x), lib.isfinite(x), lib.isposinf(x), lib.isneginf(x),
                                  lib.signbit(x)),
    "float_power": lambda lib, x: lib.float_power(x, 2),
    "atan2": lambda lib, x: lib.atan2(x, x[[1, 0]]),
    "copysign": lambda lib, x: lib.copysign(x, -1),
    "xlogy": lambda lib, x: lib.xlogy(x, x.abs() + 1),
    "bitwise_not": lambda lib, x: (lib.bitwise_not(x), ~x),
    "logical_not": lambda lib, x: lib.logical_not(x),
}


@pytest.mark.parametrize("name", sorted(INTEGER_CASES))
def test_integer_inputs(name):
    assert_same(*both(INTEGER_CASES[name], INTS))


BOOL_CASES = {
    "square": lambda lib, x: lib.square(x),
    "sgn": lambda lib, x: lib.sgn(x),
    "predicates": lambda lib, x: (lib.isnan(x), lib.isinf(x), lib.isfinite(x), lib.signbit(x)),
    "bitwise": lambda lib, x: (x & x[[1, 0, 3, 2]], x | x[[1, 0, 3, 2]], x ^ x[[1, 0, 3, 2]], ~x,
                               lib.bitwise_and(x, x[[1, 0, 3, 2]])),
    "logical": lambda lib, x: (lib.logical_and(x, x[[1, 0, 3, 2]]), lib.logical_xor(x, x[[1, 0, 3, 2]]),
                               lib.logical_not(x)),
    "isclose": lambda lib, x: lib.isclose(x, x[[1, 0, 3, 2]]),
}


@pytest.mark.parametrize("name", sorted(BOOL_CASES))
def test_bool_inputs(name):
    assert_same(*both(BOOL_CASES[name], BOOLS))


BINARY_INTEGER_CASES = {
    "fmod": lambda lib, x, y: (lib.fmod(x, y), x.fmod(3)),
    "remainder": lambda lib, x, y: (lib.remainder(x, y), x.remainder(-4)),
    "floor_divide": lambda lib, x, y: (lib.floor_divide(x, y), x.floor_divide(-3)),
    "true_divide": lambda lib, x, y: lib.true_divide(x, y),
    "bitwise": lambda lib, x, y: (lib.bitwise_and(x, y), lib.bitwise_or(x, y), lib.bitwise_xor(x, y),
                                  lib.bitwise_and(x, 6)),
    "operators": lambda lib, x, y: (x & y, x | y, x ^ y, ~x, x & 5),  # bitwise on integers, as in PyTorch
    "logical": lambda lib, x, y: (lib.logical_and(x, y), lib.logical_or(x, y), lib.logical_xor(x, y)),
    "clamp_tensor": lambda lib, x, y: (lib.clamp(x, y, y + 4), lib.clamp_min(x, y), x.clamp_max(y)),
    "addcmul": lambda lib, x, y: (lib.addcmul(x, x, y, value=2), lib.addcmul(x, x, y, value=1.7)),
    "isclose": lambda lib, x, y: lib.isclose(x, x + y, atol=3),
    "equal_mixed": lambda lib, x, y: lib.tensor([lib.equal(x, x.double()), lib.equal(x, y), lib.equal(y, y[:2])]),
}


@pytest.mark.parametrize("name", sorted(BINARY_INTEGER_CASES))
def test_integer_binary(name):
    assert_same(*both(BINARY_INTEGER_CASES[name], INTS, DIVISORS))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_addcmul_addcdiv_low_precision_compute_in_float32(dtype):
    """300 * 300 overflows float16; PyTorch's fused kernels compute in float32 and round once."""
    def fn(lib, x):
        x = x.to(getattr(lib, dtype))
        return lib.addcmul(x, x * 300, x * 300, value=0.001), lib.addcdiv(x, x * 300, x / 300, value=0.001)
    got, expected = both(fn, np.array([1.0, 0.5], np.float32))
    for g, e in zip(got, expected):
        assert str(g.dtype) == str(e.dtype).replace("torch.", "")
        assert_close(to_numpy(g.float()), to_numpy(e.float()), rtol=1e-2, atol=0)


def test_reflected_and_inplace_bitwise_operators():
    def fn(lib, x):
        y = x.clone()
        alias = y
        y &= 6
        y |= x
        y ^= 3
        return 5 & x, 9 | x, 12 ^ x, True & (x > 0), alias
    assert_same(*both(fn, DIVISORS))


def test_mixed_int_and_bool_operators_promote():
    assert_same(*both(lambda lib, b, i: (b & i, i | b, b ^ i), BOOLS, DIVISORS))


# --- refusals: where PyTorch refuses, so does ndgrad -----------------------------------------------------------

REFUSALS = {
    "frac of int": lambda lib, i, f: lib.frac(i),
    "hypot of int": lambda lib, i, f: lib.hypot(i, i),
    "logaddexp of int": lambda lib, i, f: lib.logaddexp(i, i),
    "nextafter of int": lambda lib, i, f: lib.nextafter(i, i),
    "lerp of int": lambda lib, i, f: lib.lerp(i, i, 0.5),
    "lerp of mixed dtypes": lambda lib, i, f: lib.lerp(f, f.double(), 0.5),
    "round int with decimals": lambda lib, i, f: lib.round(i, decimals=1),
    "addcdiv of ints": lambda lib, i, f: lib.addcdiv(i, i, i),
    "bitwise_and of floats": lambda lib, i, f: lib.bitwise_and(f, f),
    "& of floats": lambda lib, i, f: f & f,
    "~ of floats": lambda lib, i, f: ~f,
    "positive of bool": lambda lib, i, f: lib.positive(i > 0),
    "heaviside mixed dtypes": lambda lib, i, f: lib.heaviside(f, f.double()),
    "heaviside scalar values": lambda lib, i, f: lib.heaviside(f, 0.5),
    "isclose mixed dtypes": lambda lib, i, f: lib.isclose(i, f),
    "isclose negative rtol": lambda lib, i, f: lib.isclose(f, f, rtol=-1.0),
    "clamp tensor and number": lambda lib, i, f: lib.clamp(f, min=f, max=0.5),
    "float_power_ of float32": lambda lib, i, f: (f * 1).float_power_(2),
    "log1p_ of int": lambda lib, i, f: i.clone().log1p_(),
    "polygamma negative order": lambda lib, i, f: lib.polygamma(-1, f),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refuses_where_torch_refuses(name):
    fn = REFUSALS[name]
    i, f = np.array([3, -2, 5]), np.array([1.5, -0.5, 2.0], np.float32)
    with pytest.raises(Exception):
        fn(torch, torch.from_numpy(i), torch.from_numpy(f))
    with pytest.raises((TypeError, RuntimeError, ValueError)) as error:
        fn(ag, ag.tensor(i), ag.tensor(f))
    assert len(str(error.value)) > 20  # a message that says what and how to fix, not a bare NumPy error


def test_refusal_names_the_op_and_dtype():
    with pytest.raises(TypeError, match=r"hypot: .*int64"):
        ag.hypot(ag.tensor([1, 2]), ag.tensor([3, 4]))
    with pytest.raises(TypeError, match=r"bitwise_and: .*float32.*logical_and"):
        ag.tensor([1.0]) & ag.tensor([2.0])


# --- predicates at their edge values ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_predicates_at_edge_values(dtype):
    def fn(lib, x):
        return (lib.isnan(x), lib.isinf(x), lib.isfinite(x), lib.isposinf(x), lib.isneginf(x), lib.signbit(x),
                lib.nan_to_num(x), lib.nan_to_num(x, nan=-1.0, posinf=2.0, neginf=-3.0))
    with np.errstate(over="ignore"):  # -1e308 is -inf in float32 and float16
        data = SPECIAL.astype(dtype)
    assert_same(*both(fn, data))


@pytest.mark.parametrize("kwargs", [{}, {"equal_nan": True}, {"rtol": 0.0, "atol": 0.0}, {"rtol": 0.1, "atol": 1.0}])
def test_isclose_allclose_equal_at_edge_values(kwargs):
    a = SPECIAL
    b = np.array([np.nan, np.inf, np.inf, -0.0, 1e-9, 1.5 + 1e-6, -2.0, 0.0, -np.inf])
    got, expected = both(lambda lib, x, y: lib.isclose(x, y, **kwargs), a, b)
    assert_same(got, expected)
    for x, y in ((a, b), (a, a), (b[3:5], b[3:5] + 1e-9)):
        assert ag.allclose(ag.tensor(x), ag.tensor(y), **kwargs) is torch.allclose(
            torch.from_numpy(x), torch.from_numpy(y), **kwargs)
        assert ag.equal(ag.tensor(x), ag.tensor(y)) is torch.equal(torch.from_numpy(x), torch.from_numpy(y))
    assert ag.tensor(a).allclose(ag.tensor(a), equal_nan=True) is True


def test_predicates_do_not_require_grad():
    x = ag.tensor([0.5, np.nan], requires_grad=True)
    for result in (x.isnan(), x.isfinite(), x.signbit(), x.isclose(x), ag.logical_not(x)):
        assert result.dtype == ag.bool and not result.requires_grad


# --- gradients the op table does not reach ---------------------------------------------------------------------

@pytest.mark.parametrize("name, fn, low, high", [
    ("digamma", lambda x: ag.digamma(x), 0.2, 3.0),           # torch's trigamma is coarse here: finite differences
    ("polygamma_1", lambda x: ag.polygamma(1, x), 0.2, 3.0),
    ("polygamma_2", lambda x: x.polygamma(2), 0.3, 3.0),
    ("lgamma", lambda x: ag.lgamma(x), 0.2, 3.0),
    ("i1", lambda x: ag.special.i1(x), -3.0, 3.0),
])
def test_special_gradients_against_finite_differences(name, fn, low, high):
    data = np.random.default_rng(0).uniform(low, high, 6)
    x = ag.tensor(data, requires_grad=True)
    assert ag.gradcheck(fn, (x,))

    def first(values):  # elementwise ops: the derivative at each point
        t = ag.tensor(values, requires_grad=True)
        return ag.grad(fn(t).sum(), t, create_graph=True)[0], t
    g, t = first(data)
    second, = ag.grad(g.sum(), t)
    h = 1e-6
    numeric = (to_numpy(first(data + h)[0]) - to_numpy(first(data - h)[0])) / (2 * h)
    assert_close(second, numeric, rtol=1e-5, atol=1e-6)


def test_float_power_is_float64_with_gradients_in_the_input_dtype():
    got, expected = both(lambda lib, x: lib.float_power(x, 1.5), np.array([0.5, 2.0], np.float32))
    assert_same(got, expected)
    x = ag.tensor([0.5, 2.0], requires_grad=True)
    g, = ag.grad(ag.float_power(x, 3).sum(), x)
    assert g.dtype == ag.float32 and np.allclose(to_numpy(g), 3 * np.array([0.25, 4.0]))


def test_floor_divide_and_heaviside_have_no_gradient():
    """PyTorch raises at backward (no derivative); ndgrad's results do not require grad."""
    x = ag.tensor([1.5, -2.5], requires_grad=True)
    assert not ag.floor_divide(x, 2).requires_grad
    assert not ag.heaviside(x, ag.tensor([0.5, 0.5])).requires_grad


def test_nextafter_and_copysign_second_input_get_zero_gradient():
    got, expected = [], []
    for lib, out in ((ag, got), (torch, expected)):
        x = lib.tensor([1.5, -2.5, 0.0], requires_grad=True)
        y = lib.tensor([3.0, -1.0, 2.0], requires_grad=True)
        grads = lib.autograd.grad((lib.nextafter(x, y) + lib.copysign(x, y)).sum(), [x, y], allow_unused=True) \
            if lib is torch else ag.grad((ag.nextafter(x, y) + ag.copysign(x, y)).sum(), [x, y], allow_unused=True)
        out.extend(np.zeros(3) if g is None else to_numpy(g) for g in grads)
    for g, e in zip(got, expected):
        assert_close(g, e, check_dtype=False)


# --- in-place variants -----------------------------------------------------------------------------------------

INPLACE = [  # (method, args, input generator)
    ("log1p_", (), "positive"), ("expm1_", (), "any"), ("log2_", (), "positive"), ("log10_", (), "positive"),
    ("exp2_", (), "any"), ("rsqrt_", (), "positive"), ("square_", (), "any"), ("sgn_", (), "any"),
    ("floor_", (), "any"), ("ceil_", (), "any"), ("round_", (), "any"), ("trunc_", (), "any"), ("fix_", (), "any"),
    ("frac_", (), "any"), ("sinh_", (), "any"), ("cosh_", (), "any"), ("asin_", (), "unit"), ("acos_", (), "unit"),
    ("atan_", (), "any"), ("asinh_", (), "any"), ("acosh_", (), "above1"), ("atanh_", (), "unit"),
    ("arcsin_", (), "unit"), ("arctanh_", (), "unit"), ("erfc_", (), "any"), ("erfinv_", (), "unit"),
    ("lgamma_", (), "positive"), ("digamma_", (), "positive"), ("polygamma_", (2,), "positive"),
    ("i0_", (), "any"), ("sinc_", (), "any"), ("logit_", (), "prob"), ("logit_", (0.3,), "prob"),
    ("nan_to_num_", (), "any"), ("deg2rad_", (), "any"), ("rad2deg_", (), "any"), ("exp_", (), "any"),
    ("log_", (), "positive"), ("sqrt_", (), "positive"), ("sin_", (), "any"), ("cos_", (), "any"),
    ("tan_", (), "unit"), ("tanh_", (), "any"), ("sigmoid_", (), "any"), ("abs_", (), "any"), ("neg_", (), "any"),
    ("reciprocal_", (), "positive"), ("sign_", (), "any"), ("absolute_", (), "any"), ("negative_", (), "any"),
    ("clamp_", (-0.3, 0.4), "any"), ("clip_", (None, 0.2), "any"), ("clamp_min_", (0.1,), "any"),
    ("clamp_max_", (-0.1,), "any"), ("round_", (), "any"),
    # binary: the other operand is a tensor made from the same data
    ("atan2_", ("T",), "any"), ("arctan2_", ("T",), "any"), ("xlogy_", ("P",), "any"), ("hypot_", ("T",), "any"),
    ("fmod_", ("P",), "any"), ("remainder_", ("P",), "any"), ("true_divide_", ("P",), "any"),
    ("copysign_", ("T",), "any"), ("nextafter_", ("T",), "any"), ("lerp_", ("T", 0.3), "any"),
    ("lerp_", ("T", "U"), "any"), ("addcmul_", ("T", "P"), "any"), ("addcdiv_", ("T", "P"), "any"),
    ("clamp_", ("T", "P"), "any"), ("clamp_min_", ("T",), "any"), ("clamp_max_", ("T",), "any"),
]
SAMPLES = {"any": lambda rng: rng.standard_normal(5), "positive": lambda rng: rng.uniform(0.5, 2.0, 5),
           "unit": lambda rng: rng.uniform(-0.9, 0.9, 5), "above1": lambda rng: rng.uniform(1.2, 3.0, 5),
           "prob": lambda rng: rng.uniform(0.05, 0.95, 5)}


@pytest.mark.parametrize("method, args, kind", INPLACE, ids=[f"{m}{len(a)}" for m, a, _ in INPLACE])
def test_inplace_variant_matches_torch(method, args, kind):
    """x.name_(...) on a non-leaf: the same values and gradients as torch, x's version bumped, x itself returned."""
    rng = np.random.default_rng(len(method))
    data, other, positive, unit = SAMPLES[kind](rng), rng.standard_normal(5), rng.uniform(0.5, 2.0, 5), \
        rng.uniform(0, 1, 5)
    results = []
    for lib in (ag, torch):
        leaf = lib.tensor(data, requires_grad=True)
        extra = {"T": lib.tensor(other), "P": lib.tensor(positive), "U": lib.tensor(unit)}
        x = leaf * 1
        version = (lambda: x._version) if lib is torch else (lambda: x._version[0])
        before = version()
        out = getattr(x, method)(*[extra.get(a, a) if isinstance(a, str) else a for a in args])
        assert out is x and version() > before
        weights = lib.tensor(np.arange(5.0))
        try:
            g, = (torch.autograd.grad if lib is torch else ag.grad)((x * weights).sum(), leaf)
        except NotImplementedError:  # torch has no derivative for a few in-place ops (asinh_): its out-of-place one
            if lib is not torch:
                raise
            g, = torch.autograd.grad((getattr(leaf * 1, method[:-1])(*args) * weights).sum(), leaf)
        results.append((to_numpy(x), to_numpy(g)))
    for got, expected in zip(*results):
        assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_inplace_on_a_view_rewrites_the_base():
    results = []
    for lib in (ag, torch):
        leaf = lib.tensor(np.linspace(0.1, 0.9, 6), requires_grad=True)
        y = leaf * 2
        y[1:4].log1p_()
        y[::2].clamp_(0.5, 1.2)
        g, = (torch.autograd.grad if lib is torch else ag.grad)((y * y).sum(), leaf)
        results.append((to_numpy(y), to_numpy(g)))
    for got, expected in zip(*results):
        assert_close(got, expected)


def test_inplace_on_a_leaf_that_requires_grad_is_refused():
    with pytest.raises(RuntimeError, match="log1p_: a leaf"):
        ag.tensor([0.5], requires_grad=True).log1p_()


# --- the namespaces and methods --------------------------------------------------------------------------------

def test_every_name_is_pytorchs():
    for name in pointwise.__all__:
        assert hasattr(torch, name), name
        assert getattr(ag, name) is getattr(pointwise, name)
    for name in pointwise.METHODS:
        assert hasattr(torch.Tensor, name), name
        assert getattr(ag.Tensor, name) is getattr(pointwise, name) or name == "clip", name  # tensor.py has its own clip
        assert callable(getattr(ag.Tensor, name))
    for name in ag.special.__all__:
        assert hasattr(torch.special, name), name


SPECIAL_CASES = {
    "erf": lambda sp, x: sp.erf(x), "erfc": lambda sp, x: sp.erfc(x), "erfinv": lambda sp, x: sp.erfinv(x / 3),
    "expm1": lambda sp, x: sp.expm1(x), "exp2": lambda sp, x: sp.exp2(x), "log1p": lambda sp, x: sp.log1p(x.abs()),
    "logit": lambda sp, x: sp.logit(x.sigmoid(), eps=0.1), "xlogy": lambda sp, x: sp.xlogy(x, x.abs()),
    "digamma": lambda sp, x: sp.digamma(x.abs() + 5), "psi": lambda sp, x: sp.psi(x.abs() + 5),
    "polygamma": lambda sp, x: sp.polygamma(2, x.abs() + 1), "gammaln": lambda sp, x: sp.gammaln(x.abs() + 0.1),
    "i0": lambda sp, x: sp.i0(x), "i1": lambda sp, x: sp.i1(x), "sinc": lambda sp, x: sp.sinc(x),
    "i0e": lambda sp, x: sp.i0e(x * 3), "i1e": lambda sp, x: sp.i1e(x * 3), "erfcx": lambda sp, x: sp.erfcx(x),
    "entr": lambda sp, x: sp.entr(x.abs()), "xlog1py": lambda sp, x: sp.xlog1py(x, x.abs()),
    "ndtr": lambda sp, x: sp.ndtr(x), "ndtri": lambda sp, x: sp.ndtri(x.sigmoid()),
    "log_ndtr": lambda sp, x: sp.log_ndtr(x * 5), "expit": lambda sp, x: sp.expit(x),
    "logsumexp": lambda sp, x: sp.logsumexp(x, 0, keepdim=True), "softmax": lambda sp, x: sp.softmax(x, 0),
    "log_softmax": lambda sp, x: sp.log_softmax(x, 0, dtype=x.new_ones(1).double().dtype),
}


@pytest.mark.parametrize("name", sorted(SPECIAL_CASES))
def test_special_namespace_against_torch(name):
    data = np.random.default_rng(3).standard_normal(6)
    results = []
    for lib in (ag, torch):
        x = lib.tensor(data, requires_grad=True)
        y = SPECIAL_CASES[name](lib.special, x)
        g, = (torch.autograd.grad if lib is torch else ag.grad)((y * lib.arange(1.0, y.numel() + 1)).sum(), x)
        results.append((y, g))
    for got, expected in zip(*results):
        assert_same(got, expected)


def test_special_covers_the_whole_list():
    assert set(SPECIAL_CASES) == set(ag.special.__all__)


def test_special_function_hook_keeps_the_dtype(device):
    for dtype in ("float16", "float32", "float64"):
        x = ag.tensor([0.25, -1.0], dtype=dtype, device=device)
        for fn in (ag.erfc, ag.special.ndtr, ag.lgamma, ag.i0, ag.erfinv, lambda t: ag.polygamma(1, t.abs())):
            assert fn(x).dtype == x.dtype and fn(x).device == x.device
    assert math.isclose(float(ag.special.erf(ag.tensor(0.5))), math.erf(0.5), rel_tol=1e-6)


# --- hypothesis: broadcasting and dtype promotion of the binary ops against torch ---------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import mutually_broadcastable_shapes  # noqa: E402

BINARY = {  # name: (fn, accepts integer inputs)
    "atan2": (lambda lib, x, y: lib.atan2(x, y), True),
    "hypot": (lambda lib, x, y: lib.hypot(x, y), False),
    "fmod": (lambda lib, x, y: lib.fmod(x, y), True),
    "remainder": (lambda lib, x, y: lib.remainder(x, y), True),
    "copysign": (lambda lib, x, y: lib.copysign(x, y), True),
    "logaddexp": (lambda lib, x, y: lib.logaddexp(x, y), False),
    "xlogy": (lambda lib, x, y: lib.xlogy(x, y.abs()), True),
    "float_power": (lambda lib, x, y: lib.float_power(x.abs(), y), True),
    "clamp": (lambda lib, x, y: lib.clamp(x, min=y), True),
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(BINARY)),
       shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       dtypes=st.tuples(*[st.sampled_from([np.float32, np.float64, np.int32, np.int64])] * 2),
       seed=st.integers(0, 2 ** 16))
def test_binary_ops_broadcast_and_promote(name, shapes, dtypes, seed):
    fn, integers_ok = BINARY[name]
    if not integers_ok:
        dtypes = tuple(d if np.dtype(d).kind == "f" else np.float64 for d in dtypes)
    rng = np.random.default_rng(seed)
    arrays = [(rng.integers(1, 4, s) * rng.choice([-1, 1], s)).astype(d) if np.dtype(d).kind == "i" else
              (rng.uniform(0.5, 3.0, s) * rng.choice([-1, 1], s)).astype(d)
              for s, d in zip(shapes.input_shapes, dtypes)]
    results = []
    for lib in (ag, torch):
        xs = [lib.tensor(a).requires_grad_(a.dtype.kind == "f") for a in arrays]
        out = fn(lib, *xs)
        wrt = [x for x in xs if x.requires_grad]
        grads = (torch.autograd.grad if lib is torch else ag.grad)(out.sum(), wrt, allow_unused=True) \
            if wrt and out.requires_grad else []
        results.append((out, [np.zeros(tuple(x.shape)) if g is None else to_numpy(g) for g, x in zip(grads, wrt)]))
    (out, grads), (expected, expected_grads) = results
    assert str(out.dtype) == str(expected.dtype).replace("torch.", ""), f"{name} {dtypes}: {out.dtype} vs torch's"
    tol = 1e-5 if np.float32 in dtypes or out.dtype == ag.float32 else 1e-10
    assert_close(to_numpy(out), to_numpy(expected), rtol=tol, atol=tol, check_dtype=False)
    assert len(grads) == len(expected_grads)
    for g, e in zip(grads, expected_grads):
        assert_close(g, e, rtol=tol, atol=tol, check_dtype=False)
