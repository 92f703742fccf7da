"""Backend kernel overrides are held to the generic kernel (the op's own ``forward``).

For every override a backend registers, the same inputs go through the override and
through the generic kernel: the outputs must agree, the override must save the same
things for backward (by role: the output, an input, or a helper array of equal value),
and the op run through ``apply`` must give the same forward, gradient and double
backward with and without the override. A last check makes sure ops really dispatch to
the override. Every override needs a case below; a new one without a case fails.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import autograd as ag
from autograd.function import registry
from backends import NumpyBackend, get_backend
from conftest import assert_close, to_numpy

DTYPES = [np.float32, np.float64]


def signed_with_zeros(rng, shape):
    """Negative, zero and positive values, some of them large."""
    x = rng.standard_normal(shape) * 4
    x.reshape(-1)[::4] = 0.0
    x.reshape(-1)[1::7] *= 20
    return x


@dataclass
class KernelCase:
    """Arguments for one op's kernel, and how a user's code reaches that kernel."""
    arrays: Callable       # arrays(rng, dtype) -> list of NumPy arrays (the kernel's array arguments)
    attrs: Callable        # attrs(rng, arrays) -> dict of keyword attributes (index arrays are NumPy)
    trigger: Callable      # trigger(x) -> a scalar tensor whose forward or backward runs the kernel
    variants: list = field(default_factory=lambda: [None])  # passed to arrays/attrs as ``variant``


def _relu_backward_arrays(rng, dtype, variant):
    out = np.maximum(signed_with_zeros(rng, (5, 6)), 0).astype(dtype)
    grad = signed_with_zeros(rng, (5, 6)).astype(dtype)
    if variant == "broadcast_grad":  # sum's backward hands a read-only, stride-0 view
        grad = np.broadcast_to(grad[:1], grad.shape)
    if variant == "transposed":
        out, grad = np.ascontiguousarray(out.T).T, grad.T.copy().T
    return [grad, out]


INDEXES = {  # getitem indexes whose backward (index_add) scatters values back
    "slice": lambda rng: (slice(1, 4, 2),),
    "int_and_none": lambda rng: (2, None, slice(None)),
    "repeats": lambda rng: (np.array([0, 3, 0, 0, 2]),),
    "two_arrays": lambda rng: (np.array([1, 1, 4]), np.array([0, 0, 5])),
    "mask": lambda rng: (rng.random((5, 6)) < 0.5,),
}


def _index_add_arrays(rng, dtype, variant):
    values = np.zeros((5, 6))[INDEXES[variant](np.random.default_rng(0))]
    return [rng.standard_normal(values.shape).astype(dtype)]


def _one(rng, dtype, variant=None):
    return [signed_with_zeros(rng, (4, 7)).astype(dtype)]


def _grad_and_x(rng, dtype, variant=None):
    """An incoming gradient and the op's input; "transposed": both strided."""
    grad, x = signed_with_zeros(rng, (4, 7)).astype(dtype), signed_with_zeros(rng, (4, 7)).astype(dtype)
    if variant == "transposed":
        grad, x = np.ascontiguousarray(grad.T).T, np.ascontiguousarray(x.T).T
    return [grad, x]


def _softmax_out(rng, dtype, variant, log):
    """An incoming gradient and a softmax (or log_softmax) output along ``variant`` (the dim)."""
    x = rng.standard_normal((4, 7)) * 3
    logp = x - np.log(np.exp(x).sum(axis=variant, keepdims=True))
    return [rng.standard_normal((4, 7)).astype(dtype), (logp if log else np.exp(logp)).astype(dtype)]


def _dropout_arrays(rng, dtype, variant):
    x = signed_with_zeros(rng, (4, 6, 3)).astype(dtype)
    mask_shape = {"elementwise": (4, 6, 3), "feature": (4, 6, 1), "all_dropped": (1, 1, 1)}[variant]
    return [x, rng.random(mask_shape) >= (1.0 if variant == "all_dropped" else 0.4)]


def _cross_entropy_arrays(rng, dtype, variant):
    """Logits (N, C) or (N, C, d) and class indices; "ignored": some equal to the ignore_index, -100."""
    logits = (rng.standard_normal((2, 5, 3) if variant == "3d" else (6, 5)) * 4).astype(dtype)
    target = rng.integers(0, 5, (2, 3) if variant == "3d" else (6,))
    if variant == "ignored":
        target[::3] = -100
    return [logits, target]


def _seeded(trigger):
    """A trigger that draws random numbers: the same ones on every run."""
    def run(x):
        ag.manual_seed(0)
        return trigger(x)
    return run


def _activation(fn, attrs=lambda rng, variant: {}, variants=(None,), backward=False):
    """The case of an activation's kernel (or, with ``backward``, of its backward's)."""
    return KernelCase(arrays=_grad_and_x if backward else _one, attrs=attrs, trigger=lambda x: (fn(x) * x).sum(),
                      variants=list(variants) + (["transposed"] if backward and variants == (None,) else []))


import nn.functional as F  # noqa: E402

_NORMS = {  # variant -> (statistics dims, weight/bias shape or None, training, running statistics)
    "layer": ((1, 2), (6, 3), True, False),
    "batch": ((0, 2), (1, 6, 1), True, True),
    "plain": ((0, 2), None, True, False),
    "eval": ((0, 2), (1, 6, 1), False, True),
}


def _norm_attrs(rng, variant, backward=False):
    dims, shape, training, running = _NORMS[variant]
    attrs = {"dims": dims, "training": training}
    attrs["weight"] = None if shape is None else (rng.random(shape) + 0.5).astype(np.float64)
    if not backward:
        attrs.update(bias=None if shape is None else rng.standard_normal(shape), eps=1e-5, momentum=0.1,
                     running_mean=rng.standard_normal(6) if running else None,
                     running_var=rng.random(6) + 0.5 if running else None,
                     stats_shape=(1, 6, 1) if running else None)
    return attrs


def _norm_case(backward):
    """Attributes are made in float64 and cast with the arrays' dtype by _cast_attrs (the test's data)."""
    def arrays(rng, dtype, variant):
        x = (rng.standard_normal((4, 6, 3)) * 3 + 1).astype(dtype)
        if not backward:
            return [x]
        dims = _NORMS[variant][0]
        mean = x.mean(axis=dims, keepdims=True)
        invstd = 1 / np.sqrt(x.var(axis=dims, keepdims=True) + 1e-5)
        return [rng.standard_normal((4, 6, 3)).astype(dtype), x, mean.astype(dtype), invstd.astype(dtype)]
    return arrays


def _batch_and_layer_norm(x):
    w = ag.linspace(0.5, 1.5, 6, dtype=x.dtype, device=x.device)
    y = F.batch_norm(x.reshape(1, 5, 6), ag.zeros(5, dtype=x.dtype, device=x.device),
                     ag.ones(5, dtype=x.dtype, device=x.device), training=True)
    return (y.reshape(5, 6) * x).sum() + (F.layer_norm(x, (6,), w, w * 0.1) * x).sum()

_GELU = dict(attrs=lambda rng, variant: {"approximate": variant}, variants=("none", "tanh"))
_SOFTPLUS = dict(attrs=lambda rng, variant: {"beta": 1.5, "threshold": 4.0})
_ELU = dict(attrs=lambda rng, variant: {"elu": {"alpha": 1.0, "scale": 1.0, "input_scale": 1.0},
                                        "selu": {"alpha": 1.6732632423543772, "scale": 1.0507009873554805,
                                                 "input_scale": 1.0},
                                        "celu": {"alpha": 2.0, "scale": 1.0, "input_scale": 0.5}}[variant],
            variants=("elu", "selu", "celu"))
_LEAKY = dict(attrs=lambda rng, variant: {"negative_slope": 0.2})
_DIM = dict(attrs=lambda rng, variant: {"dim": variant}, variants=(0, 1))

CASES = {
    "gelu": _activation(lambda x: F.gelu(x, approximate="tanh") + F.gelu(x), **_GELU),
    "gelu_backward": _activation(lambda x: F.gelu(x, approximate="tanh") + F.gelu(x), backward=True, **_GELU),
    "silu": _activation(F.silu),
    "silu_backward": _activation(F.silu, backward=True),
    "softplus": _activation(lambda x: F.softplus(x, beta=1.5, threshold=4.0), **_SOFTPLUS),
    "softplus_backward": _activation(lambda x: F.softplus(x, beta=1.5, threshold=4.0), backward=True, **_SOFTPLUS),
    "elu": _activation(lambda x: F.elu(x) + F.selu(x) + F.celu(x, 2.0), **_ELU),
    "elu_backward": _activation(lambda x: F.elu(x) + F.selu(x) + F.celu(x, 2.0), backward=True, **_ELU),
    "leaky_relu": _activation(lambda x: F.leaky_relu(x, 0.2), **_LEAKY),
    "leaky_relu_backward": _activation(lambda x: F.leaky_relu(x, 0.2), backward=True, **_LEAKY),
    "softmax": KernelCase(arrays=lambda rng, dtype, variant: [(rng.standard_normal((4, 7)) * 5).astype(dtype)],
                          trigger=lambda x: (F.softmax(x, 0) * x).sum(), **_DIM),
    "log_softmax": KernelCase(arrays=lambda rng, dtype, variant: [(rng.standard_normal((4, 7)) * 5).astype(dtype)],
                              trigger=lambda x: (F.log_softmax(x, 1) * x).sum(), **_DIM),
    "softmax_backward": KernelCase(arrays=lambda rng, dtype, variant: _softmax_out(rng, dtype, variant, log=False),
                                   trigger=lambda x: (F.softmax(x, 1) * x).sum(), **_DIM),
    "log_softmax_backward": KernelCase(arrays=lambda rng, dtype, variant: _softmax_out(rng, dtype, variant, log=True),
                                       trigger=lambda x: (F.log_softmax(x, 0) * x).sum(), **_DIM),
    "normalize": KernelCase(arrays=_norm_case(backward=False), attrs=_norm_attrs, trigger=_batch_and_layer_norm,
                            variants=list(_NORMS)),
    "normalize_backward": KernelCase(arrays=_norm_case(backward=True),
                                     attrs=lambda rng, variant: _norm_attrs(rng, variant, backward=True),
                                     trigger=_batch_and_layer_norm, variants=list(_NORMS)),
    "cross_entropy": KernelCase(
        arrays=_cross_entropy_arrays,
        attrs=lambda rng, variant: {"weight": None, "reduction": variant if variant in ("sum", "none") else "mean",
                                    "ignore_index": -100, "label_smoothing": 0.1 if variant == "smoothing" else 0.0,
                                    "axis": 1},
        trigger=lambda x: F.cross_entropy(x, ag.tensor([0, 5, 2, 2, 1], device=x.device)) * x.sum(),
        variants=["mean", "sum", "none", "ignored", "smoothing", "3d"]),
    "dropout": KernelCase(
        arrays=_dropout_arrays, attrs=lambda rng, variant: {"scale": 0.0 if variant == "all_dropped" else 1 / 0.6},
        trigger=_seeded(lambda x: (F.dropout(x, 0.4) * x).sum() + F.dropout2d(x.reshape(1, 5, 6, 1), 0.5).sum()),
        variants=["elementwise", "feature", "all_dropped"]),

    "sigmoid": KernelCase(
        arrays=lambda rng, dtype, variant: [signed_with_zeros(rng, (4, 7)).astype(dtype)],
        attrs=lambda rng, variant: {},
        trigger=lambda x: (x.sigmoid() * x).sum()),
    "threshold_backward": KernelCase(
        arrays=_relu_backward_arrays,
        attrs=lambda rng, variant: {},
        trigger=lambda x: (x.relu() * x).sum(),
        variants=[None, "broadcast_grad", "transposed"]),
    "index_add": KernelCase(
        arrays=_index_add_arrays,
        attrs=lambda rng, variant: {"shape": (5, 6), "index": INDEXES[variant](np.random.default_rng(0))},
        trigger=lambda x: (x[[0, 2, 0]] * x[1:3].sum()).sum(),
        variants=list(INDEXES)),
}


def _cases(backend_cls):
    return [pytest.param(name, dtype, variant, id=f"{name}-{np.dtype(dtype).name}-{variant}")
            for name in sorted(backend_cls.kernels) if name in CASES
            for dtype in DTYPES for variant in CASES[name].variants]


def _cuda_backend():
    backend = get_backend("cuda")
    from backends.cupy_backend import CupyBackend  # imported once CUDA is known to work
    return backend, CupyBackend


def _on(backend, value):
    """NumPy arrays (and index tuples holding them) moved to ``backend``."""
    if isinstance(value, tuple):
        return tuple(_on(backend, v) for v in value)
    return backend.asarray(value) if isinstance(value, np.ndarray) else value


_CTX = ("xp", "_to_save", "backend", "needs_input_grad")  # what Op.apply gives every ctx before the kernel runs


def _run_kernel(kernel, cls, backend, arrays, attrs):
    """One kernel call with a fresh ctx, set up as Op.apply does (every input needing a gradient): (output, ctx)."""
    ctx = object.__new__(cls)
    ctx.xp, ctx.backend = backend.xp, backend
    ctx.needs_input_grad = (True,) * len(arrays)
    ctx._to_save = ()
    return kernel(ctx, *arrays, **attrs), ctx


def _saved_roles(ctx, arrays, out):
    """What ctx saved, by role: the output, input k, or a helper array (by value)."""
    roles = []
    for a in ctx._to_save:
        if a is None:
            roles.append("nothing")
        elif a is out:
            roles.append("output")
        elif any(a is x for x in arrays):
            roles.append(f"input {next(i for i, x in enumerate(arrays) if a is x)}")
        else:
            roles.append(("helper", to_numpy(a) if hasattr(a, "shape") else a))
    return roles


def _tolerance(dtype):
    return 8 * np.finfo(dtype).eps


def check_override_matches_generic(backend, name, dtype, variant, seed=0):
    """The override on ``backend`` against the generic kernel run by NumPy on the same data."""
    case, cls = CASES[name], registry[name]
    rng = np.random.default_rng(seed)
    host_arrays = case.arrays(rng, dtype, variant)
    host_attrs = {k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype == np.float64 else v
                  for k, v in case.attrs(rng, variant).items()}  # float attributes (weights) in the data's dtype
    arrays = [backend.asarray(a) for a in host_arrays]
    attrs = {k: _on(backend, v) for k, v in host_attrs.items()}
    before = [to_numpy(a).copy() for a in arrays]
    with np.errstate(over="ignore"):  # exp(-x) may overflow to inf in both kernels alike
        got, ctx = _run_kernel(backend.kernels[name], cls, backend, arrays, attrs)
        for a, b in zip(arrays, before):  # the inputs may be saved or shared elsewhere: never written
            np.testing.assert_array_equal(to_numpy(a), b, err_msg=f"{name}: the override changed an input")
        expected, generic_ctx = _run_kernel(cls.forward, cls, get_backend("cpu"), host_arrays, host_attrs)
    tol = _tolerance(dtype)
    assert_close(got, expected, rtol=tol, atol=tol, msg=f"{name} override vs generic:")
    roles, expected_roles = _saved_roles(ctx, arrays, got), _saved_roles(generic_ctx, host_arrays, expected)
    assert [r if isinstance(r, str) else "helper" for r in roles] == \
        [r if isinstance(r, str) else "helper" for r in expected_roles], f"{name}: saves differ"
    for r, e in zip(roles, expected_roles):
        if not isinstance(r, str):
            assert_close(r[1], e[1], rtol=tol, atol=tol, msg=f"{name} saved helper:")
    extra = {k for k in vars(generic_ctx) if k not in _CTX}
    assert extra == {k for k in vars(ctx) if k not in _CTX}, f"{name}: ctx attributes differ"
    plain = (int, float, str, type(None))
    for k in extra:  # the attributes backward reads (dims, scales): the same values (arrays were compared above)
        expected = getattr(generic_ctx, k)
        if isinstance(expected, plain) or (isinstance(expected, tuple) and all(isinstance(v, plain) for v in expected)):
            assert getattr(ctx, k) == expected, f"{name}: ctx.{k} differs"


def _gradients(name, device, dtype):
    """Forward, gradient and double backward of the case's trigger on random data."""
    x = ag.tensor(signed_with_zeros(np.random.default_rng(1), (5, 6)).astype(dtype), device=device,
                  requires_grad=True)
    y = CASES[name].trigger(x)
    (g,) = ag.grad(y, x, create_graph=True)
    (gg,) = ag.grad((g * g).sum(), x, allow_unused=True)
    return [to_numpy(y), to_numpy(g), np.zeros(x.shape, dtype) if gg is None else to_numpy(gg)]


def check_backward_unchanged(backend, name, dtype, monkeypatch):
    device = str(backend.device)
    with_override = _gradients(name, device, dtype)
    monkeypatch.delitem(backend.kernels, name)
    generic = _gradients(name, device, dtype)
    tol = 4 * _tolerance(dtype)
    for got, expected in zip(with_override, generic):
        assert_close(got, expected, rtol=tol, atol=tol, msg=f"{name} via apply, override vs generic:")


def check_dispatch(backend, name, monkeypatch):
    calls = []
    override = backend.kernels[name]

    def counting(ctx, *args, **kwargs):
        calls.append(name)
        return override(ctx, *args, **kwargs)

    monkeypatch.setitem(backend.kernels, name, counting)
    y = CASES[name].trigger(ag.randn(5, 6, device=str(backend.device), requires_grad=True))
    y.backward()
    assert calls, f"{name}: the override registered on {backend} was never called"


# --- CPU (NumPy) overrides ------------------------------------------------------------------------------

def test_every_cpu_override_has_a_case():
    assert set(NumpyBackend.kernels) <= set(CASES), "add a KernelCase for each NumPy kernel override"


@pytest.mark.parametrize("name, dtype, variant", _cases(NumpyBackend))
def test_cpu_override_matches_generic(name, dtype, variant):
    check_override_matches_generic(get_backend("cpu"), name, dtype, variant)


@pytest.mark.parametrize("name", sorted(NumpyBackend.kernels))
@pytest.mark.parametrize("dtype", DTYPES)
def test_cpu_backward_unchanged_by_override(name, dtype, monkeypatch):
    check_backward_unchanged(get_backend("cpu"), name, dtype, monkeypatch)


@pytest.mark.parametrize("name", sorted(NumpyBackend.kernels))
def test_cpu_dispatches_to_override(name, monkeypatch):
    check_dispatch(get_backend("cpu"), name, monkeypatch)


def test_cpu_generic_kernel_used_without_override(monkeypatch):
    """Removing an override falls back to the op's own forward (which is then the one called)."""
    calls = []
    generic = registry["sigmoid"].forward
    monkeypatch.delitem(NumpyBackend.kernels, "sigmoid", raising=False)
    monkeypatch.setattr(registry["sigmoid"], "forward", lambda ctx, x: calls.append(1) or generic(ctx, x))
    assert_close(ag.tensor([0.0]).sigmoid(), np.array([0.5], np.float32))
    assert calls == [1]


# --- CUDA (CuPy) overrides ------------------------------------------------------------------------------

# overrides that are not op kernels, held to their generic rule by a test of their own
CHECKED_ELSEWHERE = {"sgd_update", "adam_update", "rmsprop_update"}  # the fused optimizer steps: test_optim_fused.py


@pytest.mark.cuda
def test_cuda_overrides(monkeypatch):
    """Every CuPy override against the generic kernel run on CuPy, and its dispatch."""
    backend, cupy_cls = _cuda_backend()
    assert set(cupy_cls.kernels) - CHECKED_ELSEWHERE <= set(CASES), "add a KernelCase for each CuPy kernel override"
    for name in sorted(set(cupy_cls.kernels) - CHECKED_ELSEWHERE):
        for dtype in DTYPES:
            for variant in CASES[name].variants:
                check_override_matches_generic(backend, name, dtype, variant)
            with monkeypatch.context() as m:
                check_backward_unchanged(backend, name, dtype, m)
        with monkeypatch.context() as m:
            check_dispatch(backend, name, m)


@pytest.mark.cuda
@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_matches_cpu(name):
    """The same case on both devices, each with its own kernels: the same forward and gradients."""
    _cuda_backend()
    for dtype in DTYPES:
        tol = 4 * _tolerance(dtype)
        for got, expected in zip(_gradients(name, "cuda", dtype), _gradients(name, "cpu", dtype)):
            assert_close(got, expected, rtol=tol, atol=tol, msg=f"{name} cuda vs cpu:")


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_normalization_matches_cpu_first_order_and_running_statistics(dtype):
    """The fused statistics passes: first-order gradients (NormalizeBackward; double backward takes the Tensor
    ops) and the running statistics batch norm moves, on both devices."""
    _cuda_backend()
    rng = np.random.default_rng(3)
    data = {k: rng.standard_normal(shape).astype(dtype) for k, shape in
            (("x", (4, 6, 5)), ("w", (6,)), ("b", (6,)), ("g", (4, 6, 5)), ("rm", (6,)))}
    results = {}
    for device in ("cpu", "cuda"):
        t = {k: ag.tensor(v, device=device, requires_grad=k in ("x", "w", "b")) for k, v in data.items()}
        running_mean, running_var = t["rm"].detach(), (t["rm"].detach() * 0 + 2)
        y = F.batch_norm(t["x"], running_mean, running_var, t["w"], t["b"], training=True, momentum=0.3)
        y = F.layer_norm(y, (5,)) + F.layer_norm(t["x"], (6, 5))
        y.backward(t["g"])
        results[device] = [y, t["x"].grad, t["w"].grad, t["b"].grad, running_mean, running_var]
    tol = 64 * _tolerance(dtype)
    for got, expected in zip(results["cuda"], results["cpu"]):
        assert_close(got, expected, rtol=tol, atol=tol, msg="normalization cuda vs cpu:")
