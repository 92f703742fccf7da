"""PyTorch's everyday surface: dtype aliases, Tensor.type and new_*, sampling, NumPy keyword aliases,
default dtype and device, device discovery. Each answer is compared with PyTorch's own."""

import numpy as np
import pytest

import autograd as ag
import backends
from conftest import assert_close

torch = pytest.importorskip("torch")


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


# --- Tensor.type and new_* ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in DTYPE_NAMES if n not in ("float", "double", "half", "long", "int",
                                                                      "short")])
def test_type_strings_are_torchs(name):
    t, tt = ag.zeros(2, dtype=getattr(ag, name)), torch.zeros(2, dtype=getattr(torch, name))
    assert t.type() == tt.type()
    # and the string converts back, as torch's does
    assert ag.ones(2).type(tt.type()).dtype == t.dtype


def test_type_converts():
    x = ag.tensor([1.5, -2.5])
    assert x.type(ag.float32) is x and x.type("torch.FloatTensor") is x  # no conversion needed: itself
    assert_close(x.type(ag.float64), torch.tensor([1.5, -2.5]).type(torch.float64))
    assert_close(x.type("torch.IntTensor"), torch.tensor([1.5, -2.5]).type("torch.IntTensor"))
    with pytest.raises(ValueError, match="invalid type 'torch.FooTensor'"):
        x.type("torch.FooTensor")


def test_type_strings_on_the_gpu_name_cuda(gpu):
    x = ag.ones(2).type("torch.cuda.DoubleTensor")
    assert x.device == ag.device("cuda:0") and x.dtype == ag.float64
    assert x.type() == "torch.cuda.DoubleTensor"
    assert x.type("torch.LongTensor").device == ag.device("cpu")


NEW_CALLS = [("new_zeros", ((2, 3),), {}), ("new_zeros", (2, 3), {}), ("new_ones", ([4],), {}),
             ("new_full", ((2,), 3), {}), ("new_full", ((2,), 3), {"dtype": "int64"}),
             ("new_empty", (2, 3), {}), ("new_tensor", ([1, 2],), {}), ("new_tensor", ([1, 2],), {"dtype": "int32"}),
             ("new_ones", (2,), {"requires_grad": True})]


@pytest.mark.parametrize("source", ["float64", "int32"])
@pytest.mark.parametrize("method,args,kwargs", NEW_CALLS)
def test_new_factories_are_torchs(source, method, args, kwargs):
    x, tx = ag.zeros(1, dtype=source), torch.zeros(1, dtype=getattr(torch, source))
    if kwargs.get("requires_grad") and source == "int32":
        return  # integer tensors can't require grad, in either library
    ours = getattr(x, method)(*args, **{k: (getattr(ag, v) if k == "dtype" else v) for k, v in kwargs.items()})
    theirs = getattr(tx, method)(*args, **{k: (getattr(torch, v) if k == "dtype" else v) for k, v in kwargs.items()})
    assert ours.shape == tuple(theirs.shape) and str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    assert ours.requires_grad == theirs.requires_grad
    if method != "new_empty":
        assert_close(ours, theirs)


def test_new_factories_follow_the_device(gpu):
    x = ag.ones(2, device="cuda")
    for t in (x.new_zeros(3), x.new_ones(3), x.new_full((3,), 2.0), x.new_empty(3), x.new_tensor([1.0])):
        assert t.device == ag.device("cuda:0") and t._backend is gpu
    assert x.new_zeros(3, device="cpu").device == ag.device("cpu")


# --- sampling: normal, bernoulli, multinomial ---------------------------------------------------------------

def test_normal_shapes_and_dtypes_are_torchs():
    for make in (lambda m: m.normal(0.0, 1.0, size=(2, 3)), lambda m: m.normal(0, 1, (4,)),
                 lambda m: m.normal(m.zeros(3), 1.0), lambda m: m.normal(0.0, m.ones(3, dtype=m.float64)),
                 lambda m: m.normal(m.zeros(3, 1), m.ones(4)), lambda m: m.normal(0.0, 1.0, (2,), dtype=m.float64)):
        ours, theirs = make(ag), make(torch)
        assert ours.shape == tuple(theirs.shape) and str(ours.dtype) == str(theirs.dtype).replace("torch.", "")


def test_normal_errors_are_torchs():
    same_error(lambda: ag.normal(0.0, -1.0, (2,)), lambda: torch.normal(0.0, -1.0, (2,)), "std >= 0.0")
    same_error(lambda: ag.normal(ag.zeros(3), -1.0), lambda: torch.normal(torch.zeros(3), -1.0), "std >= 0.0")
    same_error(lambda: ag.normal(ag.zeros(3), -ag.ones(3)), lambda: torch.normal(torch.zeros(3), -torch.ones(3)),
               "all elements of std")
    same_error(lambda: ag.normal(ag.zeros(3), ag.ones(4)), lambda: torch.normal(torch.zeros(3), torch.ones(4)),
               "broadcast")
    same_error(lambda: ag.normal(ag.zeros(3, dtype=ag.int64), 1.0),
               lambda: torch.normal(torch.zeros(3, dtype=torch.int64), 1.0), "floating-point")
    with pytest.raises(TypeError):
        torch.normal(0.0, 1.0)
    with pytest.raises(TypeError, match="size="):
        ag.normal(0.0, 1.0)


def test_normal_statistics():
    ag.manual_seed(0)
    x = ag.normal(2.0, 3.0, size=(200_000,)).numpy()
    assert abs(x.mean() - 2.0) < 0.05 and abs(x.std() - 3.0) < 0.05
    mean, std = ag.tensor([[-5.0], [5.0]]), ag.tensor([0.5, 2.0, 4.0])
    x = ag.normal(mean.expand(2, 3).reshape(2, 3, 1) * ag.ones(1, 1, 50_000), std.reshape(1, 3, 1)).numpy()
    np.testing.assert_allclose(x.mean(-1), [[-5] * 3, [5] * 3], atol=0.1)
    np.testing.assert_allclose(x.std(-1), [[0.5, 2, 4]] * 2, rtol=0.03)


def test_bernoulli_is_torchs():
    p = ag.tensor([0.0, 0.25, 1.0], dtype=ag.float64)
    assert ag.bernoulli(p).dtype == ag.float64 and ag.bernoulli(ag.zeros(3), 0.3).dtype == ag.float32
    ag.manual_seed(0)
    draws = ag.bernoulli(p.expand(100_000, 3)).numpy()
    np.testing.assert_allclose(draws.mean(0), [0.0, 0.25, 1.0], atol=0.01)
    assert abs(ag.bernoulli(ag.zeros(100_000), 0.7).numpy().mean() - 0.7) < 0.01
    assert abs(ag.zeros(100_000).bernoulli(0.7).numpy().mean() - 0.7) < 0.01
    for bad in (1.5, -0.5, float("nan")):
        same_error(lambda: ag.bernoulli(ag.full((3,), bad)), lambda: torch.bernoulli(torch.full((3,), bad)))
    same_error(lambda: ag.bernoulli(ag.zeros(3), 1.3), lambda: torch.bernoulli(torch.zeros(3), 1.3), "p=1.3")
    same_error(lambda: ag.bernoulli(ag.ones(3, dtype=ag.int64)), lambda: torch.bernoulli(torch.ones(3).long()))


def test_multinomial_shapes_and_dtype_are_torchs():
    p = np.array([0.1, 0.2, 0.7], dtype=np.float32)
    for data, *rest in ((p, 2), (p, 3), (p, 7, True), (np.stack([p, p[::-1]]), 2), (np.stack([p, p]), 5, True),
                        (np.ones((0, 3), np.float32), 1)):
        ours, theirs = ag.multinomial(ag.tensor(data), *rest), torch.multinomial(torch.tensor(data), *rest)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == ag.int64


@pytest.mark.parametrize("data,n,replacement,match", [
    ([0.1, 0.2, 0.7], 4, False, "without replacement"), ([0.0, 0.0, 0.0], 1, False, "sum of probabilities"),
    ([[1.0, 1.0], [0.0, 0.0]], 1, True, "sum of probabilities"), ([-1.0, 0.0, 1.0], 1, False, "element < 0"),
    ([float("inf"), 0.0, 1.0], 1, True, "inf"), ([float("nan"), 1.0], 1, False, "nan"),
    (1.0, 1, False, "1 or 2 dim"), ([[[1.0]]], 1, False, "1 or 2 dim"), ([0.5, 0.5], 0, True, "n_sample <= 0"),
    ([1, 2], 1, False, "floating-point")])
def test_multinomial_errors_are_torchs(data, n, replacement, match):
    same_error(lambda: ag.multinomial(ag.tensor(data), n, replacement),
               lambda: torch.multinomial(torch.tensor(data), n, replacement), match)


def test_multinomial_statistics():
    ag.manual_seed(0)
    p = ag.tensor([[0.1, 0.0, 0.2, 0.7], [4.0, 3.0, 2.0, 1.0]])  # unnormalised rows are fine
    draws = ag.multinomial(p, 40_000, replacement=True).numpy()
    for row, probs in zip(draws, ([0.1, 0.0, 0.2, 0.7], [0.4, 0.3, 0.2, 0.1])):
        np.testing.assert_allclose(np.bincount(row, minlength=4) / row.size, probs, atol=0.01)
    assert (draws[0] != 1).all()  # a zero-probability category is never drawn
    # without replacement: distinct categories; the first pick follows p, zero-probability ones come last
    picks = np.stack([ag.multinomial(p, 3).numpy() for _ in range(4000)])
    assert all(len(set(row)) == 3 for row in picks.reshape(-1, 3))
    np.testing.assert_allclose(np.bincount(picks[:, 1, 0], minlength=4) / 4000, [0.4, 0.3, 0.2, 0.1], atol=0.03)
    assert (picks[:, 0, :] != 1).all()
    assert sorted(ag.multinomial(ag.tensor([0.0, 0.0, 1.0]), 3).tolist()) == [0, 1, 2]  # as torch: zeros last


# --- in-place random fills ----------------------------------------------------------------------------------

FILLS = {  # method: (args, expected mean, expected variance) of the filled values
    "uniform_": ((2.0, 5.0), 3.5, 9 / 12), "normal_": ((1.0, 2.0), 1.0, 4.0),
    "exponential_": ((4.0,), 0.25, 1 / 16), "bernoulli_": ((0.3,), 0.3, 0.21), "random_": ((10,), 4.5, 99 / 12)}


@pytest.mark.parametrize("method", FILLS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fill_statistics_and_version_bump(method, dtype):
    args, mean, var = FILLS[method]
    ag.manual_seed(0)
    t = ag.empty(200_000, dtype=dtype)
    version = t._version_number
    assert getattr(t, method)(*args) is t and t.dtype == np.dtype(dtype)
    assert t._version_number == version + 1
    values = t.numpy().astype(np.float64)
    assert abs(values.mean() - mean) < 0.02 * max(1.0, abs(mean)) and abs(values.var() - var) < 0.03 * var
    tt = getattr(torch.empty(10, dtype=getattr(torch, dtype)), method)(*args)
    assert str(tt.dtype) == f"torch.{dtype}"


def test_fill_ranges_are_torchs():
    t = ag.empty(100_000)
    assert t.uniform_(2, 3).numpy().min() >= 2 and t.numpy().max() < 3
    assert set(np.unique(t.random_(5).numpy())) == {0, 1, 2, 3, 4}
    assert set(np.unique(t.random_(-2, 1).numpy())) == {-2, -1, 0}
    assert set(np.unique(t.random_(3, to=5).numpy())) == {3, 4}
    assert 0 <= t.random_().numpy().min() and t.numpy().max() <= 2 ** 24 and t.numpy().max() > 2 ** 23
    assert (t.exponential_().numpy() > 0).all() and set(np.unique(t.bernoulli_(0.5).numpy())) == {0, 1}
    u8 = ag.empty(100_000, dtype=ag.uint8).random_()
    assert u8.numpy().min() == 0 and u8.numpy().max() == 255
    assert set(np.unique(ag.empty(1000, dtype=ag.bool).random_().numpy())) == {False, True}
    assert set(np.unique(ag.empty(1000, dtype=ag.int8).random_(-5, 0).numpy())) == {-5, -4, -3, -2, -1}
    assert set(np.unique(ag.zeros(1000, dtype=ag.int64).bernoulli_(0.5).numpy())) == {0, 1}
    probs = ag.tensor([0.0, 1.0, 0.0, 1.0])
    assert ag.empty(4).bernoulli_(probs).tolist() == [0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize("call", [
    lambda m, t: t.uniform_(2, 1), lambda m, t: t.normal_(0, -1), lambda m, t: t.exponential_(0),
    lambda m, t: t.exponential_(-1), lambda m, t: t.random_(5, 5), lambda m, t: t.random_(5, 3),
    lambda m, t: t.random_(0), lambda m, t: t.bernoulli_(1.5), lambda m, t: t.bernoulli_(m.tensor([0.2, 1.5, 0.1])),
    lambda m, t: t.to(m.int64).uniform_(), lambda m, t: t.to(m.int64).normal_(),
    lambda m, t: t.to(m.int64).exponential_(), lambda m, t: t.to(m.uint8).random_(0, 300)])
def test_fill_errors_are_torchs(call):
    same_error(lambda: call(ag, ag.empty(3)), lambda: call(torch, torch.empty(3)))


@pytest.mark.parametrize("method", FILLS)
def test_fills_refuse_a_leaf_that_requires_grad(method):
    args = FILLS[method][0]
    w, tw = ag.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    same_error(lambda: getattr(w, method)(*args), lambda: getattr(tw, method)(*args), "leaf tensor")
    assert w._version_number == 0 and w.tolist() == [0.0, 0.0, 0.0]
    with ag.no_grad():  # what init functions do
        getattr(w, method)(*args)
    assert w.requires_grad and w._version_number == 1


def test_a_fill_cuts_the_gradient_to_the_old_contents_as_torch():
    w, tw = ag.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    for m, leaf in ((ag, w), (torch, tw)):
        y = leaf * 2
        y.normal_()
        (y * 3).sum().backward()
    assert_close(w.grad, tw.grad)  # zeros: the filled values don't depend on w


def test_fills_and_samplers_repeat_with_a_seed_or_a_generator():
    def draw(generator=None):
        t = ag.empty(5)
        return [t.uniform_(generator=generator).tolist(), t.normal_(generator=generator).tolist(),
                t.random_(100, generator=generator).tolist(), t.exponential_(generator=generator).tolist(),
                t.bernoulli_(0.5, generator=generator).tolist(),
                ag.normal(0.0, 1.0, (4,), generator=generator).tolist(),
                ag.bernoulli(ag.full((6,), 0.5), generator=generator).tolist(),
                ag.multinomial(ag.ones(6), 3, generator=generator).tolist(),
                ag.multinomial(ag.ones(6), 3, True, generator=generator).tolist()]
    ag.manual_seed(7)
    first = draw()
    ag.manual_seed(7)
    assert draw() == first
    ag.manual_seed(1)
    expected_global = ag.rand(3).tolist()
    ag.manual_seed(1)
    a, b = draw(ag.Generator().manual_seed(3)), draw(ag.Generator().manual_seed(3))
    assert a == b and a != first
    assert ag.rand(3).tolist() == expected_global  # a Generator leaves the global RNG alone


def test_a_generator_of_another_device_type_is_refused(gpu):
    with pytest.raises(RuntimeError, match="'cuda' device type for generator"):
        ag.empty(3, device="cuda").normal_(generator=ag.Generator())
    assert ag.empty(3, device="cuda").normal_(generator=ag.Generator("cuda")).device == ag.device("cuda:0")


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
    lambda m: m.linspace(0, 1, 5), lambda m: m.eye(2), lambda m: m.normal(0.0, 1.0, (2,)),
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
            ag.tensor(np.ones(2)), ag.randperm(3), ag.normal(0.0, 1.0, (2,)), nn.Linear(2, 2).weight]
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


# --- device discovery on this machine -----------------------------------------------------------------------

needs_no_gpu = pytest.mark.skipif(ag.cuda.is_available() or torch.cuda.is_available(),
                                  reason="compares the answers of a machine without a GPU")


@needs_no_gpu
@pytest.mark.parametrize("question", [
    lambda m: m.cuda.is_available(), lambda m: m.cuda.device_count(), lambda m: m.cuda.memory_allocated(),
    lambda m: m.cuda.max_memory_allocated(), lambda m: m.cuda.memory_reserved(), lambda m: m.cuda.empty_cache(),
    lambda m: m.cuda.manual_seed(0), lambda m: m.cuda.manual_seed_all(0), lambda m: m.accelerator.is_available(),
    lambda m: m.accelerator.current_accelerator(), lambda m: m.accelerator.device_count(),
    lambda m: m.backends.mps.is_available(), lambda m: m.backends.mps.is_built(),
    lambda m: m.backends.cuda.matmul.allow_tf32, lambda m: m.backends.cudnn.enabled,
    lambda m: m.backends.cudnn.benchmark, lambda m: m.backends.cudnn.deterministic,
    lambda m: m.backends.cudnn.is_available()])
def test_device_discovery_answers_as_torch_without_a_gpu(question):
    assert question(ag) == question(torch)


@needs_no_gpu
@pytest.mark.parametrize("name", ["current_device", "get_device_name", "synchronize", "reset_peak_memory_stats"])
def test_gpu_only_calls_say_what_to_install(name):
    with pytest.raises(Exception):
        getattr(torch.cuda, name)()
    with pytest.raises(RuntimeError, match=rf"cuda\.{name}: .*(ndgrad\[cuda1[23]\]|no CUDA GPU)"):
        getattr(ag.cuda, name)()


def test_cuda_seeding_leaves_the_cpu_generator_alone():
    ag.manual_seed(0)
    expected = ag.rand(3).tolist()
    ag.manual_seed(0)
    ag.cuda.manual_seed_all(123)
    assert ag.rand(3).tolist() == expected


def test_cuda_calls_reach_a_device_backend(gpu):
    ag.cuda.synchronize("cuda:0")
    assert ag.cuda.current_device() == 0 and isinstance(ag.cuda.get_device_name(0), str)
    ag.manual_seed(0)
    ag.cuda.manual_seed_all(5)
    first = ag.rand(3, device="cuda").tolist()
    ag.cuda.manual_seed(5)
    assert ag.rand(3, device="cuda").tolist() == first
    with pytest.raises(ValueError, match="expected a CUDA device"):
        ag.cuda.get_device_name("cpu")


def test_flags_are_stored():
    try:
        ag.backends.cuda.matmul.allow_tf32 = True
        ag.backends.cudnn.benchmark = True
        assert ag.backends.cuda.matmul.allow_tf32 and ag.backends.cudnn.benchmark
    finally:
        ag.backends.cuda.matmul.allow_tf32 = False
        ag.backends.cudnn.benchmark = False


def test_version_and_the_backends_names():
    assert isinstance(ag.__version__, str) and ag.__version__.count(".") >= 2
    assert ag.device("cuda:1") == ag.Device("cuda", 1)
    assert backends.get_backend is not None and ag.backends is not backends  # two different things
