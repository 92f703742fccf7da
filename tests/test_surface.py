"""PyTorch's everyday surface: dtype aliases, NumPy keyword aliases, default dtype and device.
Each answer is compared with PyTorch's own."""

import numpy as np
import pytest

import autograd as ag
import backends
from conftest import SecondDevice, assert_close

torch = pytest.importorskip("torch")


@pytest.fixture
def gpu(monkeypatch):
    """A NumPy backend posing as cuda:0 (see test_devices.py)."""
    table = dict(backends._backends)
    table[ag.device("cuda:0")] = backend = SecondDevice()
    monkeypatch.setattr(backends, "_backends", table)
    return backend


def same_error(ours, theirs, match=None):
    """Both calls raise; ours a RuntimeError (PyTorch's NotImplementedError is one) saying ``match``."""
    with pytest.raises(RuntimeError):
        theirs()
    with pytest.raises(RuntimeError, match=match):
        ours()


# --- NumPy keyword aliases: axis= for dim=, keepdims= for keepdim= ------------------------------------------

# (name, accepts keepdims) for everything PyTorch gives axis= to, as a function and as a method
AXIS_OPS = [("sum", True), ("mean", True), ("max", True), ("min", True), ("amax", True), ("amin", True),
            ("argmax", True), ("argmin", True), ("any", True), ("all", True), ("logsumexp", True),
            ("softmax", False), ("log_softmax", False), ("squeeze", False), ("unsqueeze", False)]


def _compare(ours, theirs):
    if isinstance(theirs, tuple):  # max/min with a dim: (values, indices)
        for a, b in zip(ours, theirs):
            assert_close(a, b, rtol=1e-6, atol=1e-6)
    else:
        assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,keepdims", AXIS_OPS)
@pytest.mark.parametrize("method", [False, True])
def test_axis_and_keepdims_give_torchs_results(name, keepdims, method):
    data = np.random.default_rng(0).standard_normal((3, 1, 4)).astype(np.float32)
    if name in ("any", "all"):
        data = data > 0
    x, tx = ag.tensor(data), torch.from_numpy(data)
    call = (lambda t, **kw: getattr(t, name)(**kw)) if method else \
        (lambda t, **kw: getattr(ag if isinstance(t, ag.Tensor) else torch, name)(t, **kw))
    kwargs = [dict(axis=1), dict(axis=-1)] + ([dict(axis=2, keepdims=True), dict(dim=0, keepdims=True)]
                                              if keepdims else [])
    for kw in kwargs:
        _compare(call(x, **kw), call(tx, **kw))
    if not keepdims:  # where PyTorch refuses keepdims=, so do we
        with pytest.raises(TypeError):
            call(x, axis=1, keepdims=True)


def test_axis_on_cat_and_stack():
    a, b = ag.ones(2, 3), ag.zeros(2, 3)
    ta, tb = torch.ones(2, 3), torch.zeros(2, 3)
    assert_close(ag.cat([a, b], axis=1), torch.cat([ta, tb], axis=1))
    assert_close(ag.stack([a, b], axis=2), torch.stack([ta, tb], axis=2))


def test_dim_and_axis_together_is_an_error():
    with pytest.raises(TypeError, match="both dim= and its NumPy alias axis="):
        ag.ones(2, 2).sum(dim=0, axis=1)
    with pytest.raises(TypeError, match="keepdim"):
        ag.sum(ag.ones(2, 2), 0, keepdim=True, keepdims=True)


def test_axis_keeps_gradients_flowing():
    x = ag.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x.mean(axis=0, keepdims=True).sum().backward()
    assert_close(x.grad, np.full((2, 2), 0.5, dtype=np.float32))


# --- dtype aliases ------------------------------------------------------------------------------------------

DTYPE_NAMES = ["float", "double", "half", "long", "int", "short", "bool", "uint8", "int8", "int16", "int32",
               "int64", "float16", "float32", "float64"] + (["bfloat16"] if ag.bfloat16 is not None else [])


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_dtype_aliases_are_torchs(name):
    ours, theirs = getattr(ag, name), getattr(torch, name)
    assert str(theirs) == f"torch.{ours}"
    assert isinstance(ours, ag.dtype)
    assert ag.zeros(2, dtype=ours).dtype == ours


def test_builtins_shadowed_by_the_aliases_still_work_in_autograd():
    assert ag.float is ag.float32 and ag.int is ag.int32 and ag.bool == np.dtype(bool)
    assert ag.tensor([1.5]).dtype == ag.float32 and ag.is_tensor(ag.ones(1)) and ag.numel(ag.ones(2, 3)) == 6


# --- default dtype and device -------------------------------------------------------------------------------

@pytest.fixture
def float64_default():
    """float64 as the default dtype in both libraries, put back afterwards whatever happens."""
    torch.set_default_dtype(torch.float64)
    ag.set_default_dtype(ag.float64)
    yield
    torch.set_default_dtype(torch.float32)
    ag.set_default_dtype(ag.float32)


DEFAULT_DTYPE_CASES = [
    lambda m: m.tensor(1.5), lambda m: m.tensor([1, 2.5]), lambda m: m.tensor([1, 2]), lambda m: m.zeros(2),
    lambda m: m.ones(2, 3), lambda m: m.empty(2), lambda m: m.full((2,), 1.5), lambda m: m.full((2,), 2),
    lambda m: m.rand(2), lambda m: m.randn(2), lambda m: m.arange(3), lambda m: m.arange(0.0, 1.0, 0.25),
    lambda m: m.linspace(0, 1, 5), lambda m: m.eye(2),
    lambda m: m.tensor(np.float32(1.5)), lambda m: m.tensor(np.ones(2, np.float32)),
    # promotion: a Python float never widens a float tensor; with ints or alone it is the default float
    lambda m: m.ones(2, dtype=m.float32) * 1.5, lambda m: m.tensor([1, 2]) * 1.5, lambda m: m.tensor([1, 2]) / 2,
    lambda m: m.tensor([1, 2]) / m.tensor([2, 2]), lambda m: m.exp(m.tensor([1, 2])),
    lambda m: m.ones(2, dtype=m.float16) + 1.5, lambda m: m.ones(2, dtype=m.float32) + m.tensor(1.5),
    lambda m: m.clamp(m.tensor([1, 2]), min=1.5), lambda m: m.zeros_like(m.ones(2, dtype=m.float32)),
    lambda m: m.ones(2).float(), lambda m: m.ones(2).double()]


def _dtype_name(t):
    return str(t.dtype).replace("torch.", "")


@pytest.mark.parametrize("case", DEFAULT_DTYPE_CASES)
def test_default_dtype_float64_matches_torch(float64_default, case):
    assert ag.get_default_dtype() == ag.float64 and torch.get_default_dtype() == torch.float64
    assert _dtype_name(case(ag)) == _dtype_name(case(torch))


@pytest.mark.parametrize("case", DEFAULT_DTYPE_CASES)
def test_default_dtype_float32_matches_torch(case):
    assert ag.get_default_dtype() == ag.float32
    assert _dtype_name(case(ag)) == _dtype_name(case(torch))


def test_default_dtype_reaches_nn_and_repr(float64_default):
    import nn
    layer = nn.Linear(3, 2)
    assert layer.weight.dtype == ag.float64 and layer.bias.dtype == ag.float64
    assert layer(ag.ones(4, 3)).dtype == ag.float64
    assert repr(ag.tensor([1.5])) == "tensor([1.5000])"  # the default float goes unnamed, as in PyTorch
    assert "dtype=float32" in repr(ag.tensor([1.5], dtype=ag.float32))


@pytest.mark.parametrize("name", ["int32", "int64", "bool"])
def test_set_default_dtype_refuses_what_torch_refuses(name):
    with pytest.raises(TypeError):
        torch.set_default_dtype(getattr(torch, name))
    with pytest.raises(TypeError, match="only floating-point types"):
        ag.set_default_dtype(getattr(ag, name))
    assert ag.get_default_dtype() == ag.float32


def test_python_float_as_a_dtype_is_float64_as_in_torch():
    assert ag.zeros(2, dtype=float).dtype == ag.float64 and torch.zeros(2, dtype=float).dtype == torch.float64
    assert ag.zeros(2, dtype=int).dtype == ag.int64


@pytest.fixture
def default_cuda(gpu):
    ag.set_default_device("cuda")
    yield gpu
    ag.set_default_device(None)


def test_default_device_reaches_every_factory(default_cuda):
    import nn
    assert ag.get_default_device() == ag.device("cuda:0")
    made = [ag.zeros(2), ag.ones(2), ag.empty(2), ag.full((2,), 1.0), ag.rand(2), ag.randn(2), ag.randint(0, 3, (2,)),
            ag.arange(3), ag.linspace(0, 1, 3), ag.eye(2), ag.tensor([1.0]), ag.as_tensor([1.0]),
            ag.tensor(np.ones(2)), ag.randperm(3), nn.Linear(2, 2).weight]
    for t in made:
        assert t._backend is default_cuda
    assert ag.zeros(2, device="cpu").device == ag.device("cpu")
    assert ag.from_numpy(np.ones(2)).device == ag.device("cpu")  # shares the array's memory, as in PyTorch


def test_default_device_is_the_cpu_unless_set():
    assert ag.get_default_device() == ag.device("cpu") and str(torch.get_default_device()) == "cpu"
    ag.set_default_device("cpu")
    assert ag.zeros(1).device == ag.device("cpu")
    ag.set_default_device(None)
    assert ag.get_default_device() == ag.device("cpu")
    with pytest.raises(ValueError):
        ag.set_default_device("tpu")
