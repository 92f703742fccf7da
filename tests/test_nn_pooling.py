"""Pooling, padding and resampling layers against PyTorch's: outputs, gradients, repr, and the
options of max/avg pool2d drawn by hypothesis."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd as ag
import nn
import nn.functional as F
from conftest import assert_close, to_numpy, examples


def _distinct(rng, shape):
    """Values at least 0.1 apart: no ties, so every max has one place and gradients are well defined."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * 0.1).reshape(shape)


# (module factory taking the library's nn, input shape); every module is built the same way in both
MODULES = [
    ("MaxPool1d", lambda m: m.MaxPool1d(3, stride=2, padding=1), (2, 3, 9)),
    ("MaxPool1d_dilation_ceil", lambda m: m.MaxPool1d(2, dilation=2, ceil_mode=True), (2, 3, 8)),
    ("MaxPool2d", lambda m: m.MaxPool2d(2), (2, 3, 6, 6)),
    ("MaxPool2d_options", lambda m: m.MaxPool2d((3, 2), stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=True),
     (2, 2, 7, 8)),
    ("MaxPool2d_unbatched", lambda m: m.MaxPool2d(3, stride=1), (3, 5, 5)),
    ("AvgPool1d", lambda m: m.AvgPool1d(3, stride=2, padding=1, count_include_pad=False), (2, 3, 9)),
    ("AvgPool2d", lambda m: m.AvgPool2d(2), (2, 3, 6, 6)),
    ("AvgPool2d_options", lambda m: m.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     (2, 2, 6, 7)),
    ("AvgPool2d_divisor", lambda m: m.AvgPool2d((2, 3), stride=1, divisor_override=4), (1, 2, 4, 5)),
    ("AdaptiveAvgPool1d", lambda m: m.AdaptiveAvgPool1d(4), (2, 3, 9)),
    ("AdaptiveAvgPool2d", lambda m: m.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d_global", lambda m: m.AdaptiveAvgPool2d(1), (2, 3, 4, 4)),
    ("AdaptiveMaxPool1d", lambda m: m.AdaptiveMaxPool1d(3), (2, 3, 8)),
    ("AdaptiveMaxPool2d", lambda m: m.AdaptiveMaxPool2d((2, 3)), (2, 3, 5, 7)),
    ("AdaptiveMaxPool2d_indices", lambda m: m.AdaptiveMaxPool2d(3, return_indices=True), (2, 2, 7, 7)),
    ("MaxPool2d_indices", lambda m: m.MaxPool2d(3, stride=2, return_indices=True), (2, 2, 7, 7)),
    ("ZeroPad1d", lambda m: m.ZeroPad1d((1, 2)), (2, 3, 4)),
    ("ZeroPad2d", lambda m: m.ZeroPad2d((1, 0, 2, -1)), (2, 3, 4, 5)),
    ("ConstantPad1d", lambda m: m.ConstantPad1d(2, 3.5), (2, 3, 4)),
    ("ConstantPad2d", lambda m: m.ConstantPad2d((0, 1, 2, 3), -1.0), (2, 4, 5)),
    ("ReflectionPad1d", lambda m: m.ReflectionPad1d((3, 1)), (2, 3, 4)),
    ("ReflectionPad2d", lambda m: m.ReflectionPad2d(2), (2, 3, 4, 5)),
    ("ReplicationPad1d", lambda m: m.ReplicationPad1d(3), (3, 4)),
    ("ReplicationPad2d", lambda m: m.ReplicationPad2d((1, 2, 0, 3)), (2, 3, 4, 5)),
    ("CircularPad1d", lambda m: m.CircularPad1d((2, 1)), (2, 3, 4)),
    ("CircularPad2d", lambda m: m.CircularPad2d(1), (2, 3, 4, 5)),
    ("Upsample_nearest", lambda m: m.Upsample(scale_factor=2), (2, 3, 3, 4)),
    ("Upsample_nearest_size", lambda m: m.Upsample(size=(5, 6)), (2, 3, 3, 4)),
    ("Upsample_nearest_exact", lambda m: m.Upsample(scale_factor=(1.5, 2.5), mode="nearest-exact"), (2, 3, 3, 4)),
    ("Upsample_linear", lambda m: m.Upsample(scale_factor=3, mode="linear", align_corners=True), (2, 3, 4)),
    ("Upsample_bilinear", lambda m: m.Upsample(size=(4, 7), mode="bilinear"), (2, 3, 3, 4)),
    ("UpsamplingNearest2d", lambda m: m.UpsamplingNearest2d(scale_factor=3), (1, 2, 3, 2)),
    ("UpsamplingBilinear2d", lambda m: m.UpsamplingBilinear2d(scale_factor=2), (1, 2, 3, 4)),
    ("PixelShuffle", lambda m: m.PixelShuffle(2), (2, 8, 3, 3)),
    ("PixelUnshuffle", lambda m: m.PixelUnshuffle(2), (2, 2, 4, 6)),
]


def _run(make, lib_nn, lib, x, v_rng):
    module = make(lib_nn)
    leaf = (torch.from_numpy(x.copy()) if lib is torch else ag.tensor(x)).requires_grad_(True)
    out = module(leaf)
    values, rest = (out[0], list(out[1:])) if isinstance(out, tuple) else (out, [])
    v = v_rng.standard_normal(tuple(values.shape)).astype(x.dtype)
    (grad,) = (torch.autograd.grad if lib is torch else ag.grad)(values, leaf, torch.from_numpy(v) if lib is torch
                                                                  else ag.tensor(v))
    return module, [to_numpy(values)] + [to_numpy(r) for r in rest], to_numpy(grad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, make, shape", MODULES, ids=[m[0] for m in MODULES])
def test_module_matches_torch(name, make, shape, dtype):
    x = _distinct(np.random.default_rng(len(name)), shape).astype(dtype)
    module, outs, grad = _run(make, nn, ag, x, np.random.default_rng(1))
    torch_module, expected, expected_grad = _run(make, tnn, torch, x, np.random.default_rng(1))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert len(outs) == len(expected)
    for got, want in zip(outs, expected):
        assert_close(got, want, rtol=tol, atol=tol, msg=f"{name} output:")
    assert_close(grad, expected_grad, rtol=tol, atol=tol, msg=f"{name} grad:")
    assert repr(module) == repr(torch_module)
    assert list(module.state_dict()) == list(torch_module.state_dict()) == []


def test_module_attributes_match_torch():
    """The attributes PyTorch code reads (stride defaulting to kernel_size, AvgPool1d's tuples...)."""
    cases = [(lambda m: m.MaxPool2d(3), ["kernel_size", "stride", "padding", "dilation", "return_indices",
                                         "ceil_mode"]),
             (lambda m: m.AvgPool1d(3, padding=1), ["kernel_size", "stride", "padding", "ceil_mode",
                                                    "count_include_pad"]),
             (lambda m: m.AvgPool2d(2, divisor_override=3), ["kernel_size", "stride", "divisor_override"]),
             (lambda m: m.MaxUnpool2d(2, padding=1), ["kernel_size", "stride", "padding"]),
             (lambda m: m.ConstantPad2d(1, 2.5), ["padding", "value"]),
             (lambda m: m.ZeroPad1d(2), ["padding", "value"]),
             (lambda m: m.ReflectionPad2d((1, 2, 3, 4)), ["padding"]),
             (lambda m: m.Upsample(scale_factor=(2, 3), mode="bilinear"), ["size", "scale_factor", "mode",
                                                                         "align_corners", "recompute_scale_factor"]),
             (lambda m: m.UpsamplingBilinear2d(size=3), ["size", "scale_factor", "mode", "align_corners"])]
    for make, names in cases:
        ours, theirs = make(nn), make(tnn)
        for name in names:
            assert getattr(ours, name) == getattr(theirs, name), f"{type(ours).__name__}.{name}"


def test_max_unpool_module_inverts_max_pool():
    x = _distinct(np.random.default_rng(0), (2, 3, 6, 7))
    results = []
    for lib, m in ((ag, nn), (torch, tnn)):
        leaf = (torch.from_numpy(x.copy()) if lib is torch else ag.tensor(x)).requires_grad_(True)
        values, indices = m.MaxPool2d(2, stride=2, return_indices=True)(leaf)
        out = m.MaxUnpool2d(2)(values * 3, indices, output_size=(6, 7))
        out.sum().backward()
        results.append((to_numpy(out), to_numpy(leaf.grad), repr(m.MaxUnpool2d(2))))
    for got, want in zip(*results):
        if isinstance(got, str):
            assert got == want
        else:
            assert_close(got, want)


def test_max_pool_nan_wins_like_torch():
    x = np.array([[[[1.0, np.nan, 3.0, 2.0], [0.5, 4.0, np.nan, np.nan]]]])
    ours = F.max_pool2d(ag.tensor(x), 2, return_indices=True)
    theirs = TF.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    assert_close(ours[0], theirs[0])
    assert_close(ours[1], theirs[1])
    assert_close(F.max_pool2d(ag.tensor(x), 2), theirs[0])  # the values-only path too


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2, "padding": 1},
                                    {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2},
                                    {"kernel_size": (3, 2), "stride": 2, "padding": 1, "ceil_mode": True}])
def test_max_pool_windows_of_minus_inf_like_torch(kwargs):
    """A window holding only -inf (and padding) has its max at its first element inside the input."""
    x = np.array([[[[-np.inf, -np.inf, 3, 4, -np.inf], [-np.inf] * 5, [1, 2, -np.inf, -np.inf, -np.inf]]]])
    results = []
    for lib, F_ in ((ag, F), (torch, TF)):
        leaf = (torch.from_numpy(x.copy()) if lib is torch else ag.tensor(x)).requires_grad_(True)
        values, indices = F_.max_pool2d(leaf, return_indices=True, **kwargs)
        plain = F_.max_pool2d(leaf, **kwargs)
        plain.backward(torch.ones_like(plain) if lib is torch else ag.ones(plain.shape))
        results.append((values, indices, leaf.grad))
    for got, want in zip(*results):
        assert_close(got, want)


def test_max_pool_gradient_of_inf_stays_in_place():
    """An inf (or NaN) output gradient reaches only the argmax: zeros elsewhere, not NaN."""
    x = _distinct(np.random.default_rng(0), (1, 2, 4, 4))
    v = np.ones((1, 2, 2, 2))
    v[0, 0, 0, 0], v[0, 1, 1, 1] = np.inf, np.nan
    grads = []
    for lib, F_ in ((ag, F), (torch, TF)):
        for kwargs in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 1}):
            leaf = (torch.from_numpy(x.copy()) if lib is torch else ag.tensor(x)).requires_grad_(True)
            out = F_.max_pool2d(leaf, **kwargs)
            w = v[..., :out.shape[-2], :out.shape[-1]]
            out.backward(torch.from_numpy(w.copy()) if lib is torch else ag.tensor(w))
            grads.append(to_numpy(leaf.grad))
    for got, want in zip(grads[:2], grads[2:]):
        assert_close(got, want)


def test_pixel_shuffle_empty_forward():
    """Empty batches go through (the op table checks only non-empty ones: see its pixel_shuffle rows)."""
    x = np.zeros((0, 8, 2, 3))
    assert_close(F.pixel_shuffle(ag.tensor(x), 2), TF.pixel_shuffle(torch.from_numpy(x), 2))
    assert_close(F.pixel_unshuffle(ag.tensor(x), 1), TF.pixel_unshuffle(torch.from_numpy(x), 1))


@pytest.mark.parametrize("fn, kwargs", [
    ("upsample", {"scale_factor": 2}),
    ("upsample_nearest", {"scale_factor": 2}),
    ("upsample_bilinear", {"size": (5, 7)}),
])
def test_deprecated_upsample_functions_warn_and_match(fn, kwargs):
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 4))
    with pytest.warns(UserWarning, match="deprecated"):
        ours = getattr(F, fn)(ag.tensor(x), **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(TF, fn)(torch.from_numpy(x), **kwargs)
    assert_close(ours, theirs)


REFUSED = [  # (call with F = the library's functional namespace, input shape); torch refuses each
    (lambda F, x: F.max_pool2d(x, 2, padding=2), (1, 1, 6, 6)),
    (lambda F, x: F.max_pool2d(x, 4), (1, 1, 3, 3)),
    (lambda F, x: F.max_pool2d(x, 2, stride=0), (1, 1, 4, 4)),
    (lambda F, x: F.max_pool2d(x, 2, dilation=0), (1, 1, 4, 4)),
    (lambda F, x: F.max_pool2d(x, 2), (4, 4)),
    (lambda F, x: F.max_pool1d(x, 2), (1, 1, 4, 4)),
    (lambda F, x: F.avg_pool2d(x, 2, divisor_override=0), (1, 1, 4, 4)),
    (lambda F, x: F.avg_pool2d(x, 3, padding=-1), (1, 1, 4, 4)),
    (lambda F, x: F.avg_pool2d(x, 2), (1, 0, 4, 4)),
    (lambda F, x: F.adaptive_max_pool2d(x, 2), (3, 4)),
    (lambda F, x: F.adaptive_avg_pool2d(x, 2), (1, 1, 0, 4)),
    (lambda F, x: F.pad(x, (1,)), (2, 3)),
    (lambda F, x: F.pad(x, (1, 1, 1, 1, 1, 1)), (2, 3)),
    (lambda F, x: F.pad(x, (-3, -2)), (2, 4)),
    (lambda F, x: F.pad(x, (4, 0), mode="reflect"), (1, 2, 4)),
    (lambda F, x: F.pad(x, (5, 0), mode="circular"), (1, 2, 4)),
    (lambda F, x: F.pad(x, (1, 1), mode="replicate"), (4,)),
    (lambda F, x: F.pad(x, (1, 1, 1, 1), mode="reflect"), (3, 4)),
    (lambda F, x: F.pad(x, (1, 1), mode="reflect", value=1.0), (1, 2, 4)),
    (lambda F, x: F.pad(x, (1, 1, 1, 1), mode="replicate"), (1, 0, 3, 4)),
    (lambda F, x: F.interpolate(x, size=3, scale_factor=2), (1, 1, 4, 4)),
    (lambda F, x: F.interpolate(x), (1, 1, 4, 4)),
    (lambda F, x: F.interpolate(x, size=3, align_corners=True), (1, 1, 4, 4)),
    (lambda F, x: F.interpolate(x, size=3, mode="bilinear"), (1, 2, 4)),
    (lambda F, x: F.interpolate(x, size=3), (4, 4)),
    (lambda F, x: F.interpolate(x, size=0), (1, 1, 4, 4)),
    (lambda F, x: F.pixel_shuffle(x, 2), (1, 6, 2, 2)),
    (lambda F, x: F.pixel_unshuffle(x, 2), (1, 1, 3, 4)),
]


@pytest.mark.parametrize("call, shape", REFUSED, ids=range(len(REFUSED)))
def test_refuses_where_torch_refuses(call, shape):
    x = np.ones(shape)
    with pytest.raises(Exception):
        call(TF, torch.from_numpy(x))
    with pytest.raises((RuntimeError, ValueError, NotImplementedError, IndexError, TypeError)) as info:
        call(F, ag.tensor(x))
    assert str(info.value)  # a message that says what went wrong


def test_max_unpool_refuses_bad_indices():
    x = ag.tensor(np.ones((1, 1, 2, 2)))
    with pytest.raises(RuntimeError, match="invalid max index"):
        F.max_unpool2d(x, ag.tensor(np.full((1, 1, 2, 2), 16)), 2)
    with pytest.raises(RuntimeError, match="int64"):
        F.max_unpool2d(x, ag.tensor(np.zeros((1, 1, 2, 2), dtype=np.int32)), 2)
    with pytest.raises(ValueError, match="output_size"):
        F.max_unpool2d(x, ag.tensor(np.zeros((1, 1, 2, 2), dtype=np.int64)), 2, output_size=(9, 9))


# --- hypothesis: pool2d options against torch ---------------------------------------------------------

@st.composite
def pool_args(draw, with_dilation):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if with_dilation else (1, 1)
    size = tuple(draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 5)) for k, d in zip(kernel, dilation))
    return kernel, stride, padding, dilation, size, draw(st.booleans())


HYPOTHESIS = settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _pool_both(fn, x, **kwargs):
    results = []
    for lib, F_ in ((ag, F), (torch, TF)):
        leaf = (torch.from_numpy(x.copy()) if lib is torch else ag.tensor(x)).requires_grad_(True)
        out = getattr(F_, fn)(leaf, **kwargs)
        values = out[0] if isinstance(out, tuple) else out
        v = np.linspace(-1, 1, values.numel()).reshape(tuple(values.shape))
        (grad,) = (torch.autograd.grad if lib is torch else ag.grad)(
            values, leaf, torch.from_numpy(v) if lib is torch else ag.tensor(v))
        results.append([to_numpy(o) for o in (out if isinstance(out, tuple) else (out,))] + [to_numpy(grad)])
    for got, want in zip(*results):
        assert_close(got, want, msg=f"{fn} {kwargs}:")


@HYPOTHESIS
@given(args=pool_args(with_dilation=True), indices=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_max_pool2d_options_against_torch(args, indices, seed):
    kernel, stride, padding, dilation, size, ceil_mode = args
    x = _distinct(np.random.default_rng(seed), (2, 2) + size)
    _pool_both("max_pool2d", x, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
               ceil_mode=ceil_mode, return_indices=indices)


@HYPOTHESIS
@given(args=pool_args(with_dilation=False), count_include_pad=st.booleans(),
       divisor=st.none() | st.integers(1, 5), seed=st.integers(0, 2 ** 16))
def test_avg_pool2d_options_against_torch(args, count_include_pad, divisor, seed):
    kernel, stride, padding, _, size, ceil_mode = args
    x = np.random.default_rng(seed).standard_normal((2, 2) + size)
    _pool_both("avg_pool2d", x, kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
               count_include_pad=count_include_pad, divisor_override=divisor)


@HYPOTHESIS
@given(size=st.tuples(st.integers(1, 9), st.integers(1, 9)), out=st.tuples(st.integers(1, 6), st.integers(1, 6)),
       seed=st.integers(0, 2 ** 16))
def test_adaptive_pool2d_sizes_against_torch(size, out, seed):
    x = _distinct(np.random.default_rng(seed), (2, 2) + size)
    _pool_both("adaptive_avg_pool2d", x, output_size=out)
    _pool_both("adaptive_max_pool2d", x, output_size=out, return_indices=True)
