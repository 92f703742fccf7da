"""The Tensor API: factories and default dtypes, properties, operators, in-place updates and
version counters, indexing, conversions, repr, and Device parsing.

Expected values come from PyTorch doing the same thing, or from NumPy on the same data.
"""

import numpy as np
import pytest

import autograd as ag
from backends import Device

torch = pytest.importorskip("torch")


def val(t):
    return np.asarray(t.detach().numpy())


def dtype_name(dtype):
    """'float32' for ag.float32 and for torch.float32 alike."""
    return str(dtype).replace("torch.", "")


def same(ours, theirs, rtol=1e-6, atol=1e-7):
    """Same values, shape and dtype as the PyTorch tensor."""
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert dtype_name(ours.dtype) == dtype_name(theirs.dtype)
    np.testing.assert_allclose(val(ours).astype(np.float64), theirs.detach().numpy().astype(np.float64),
                               rtol=rtol, atol=atol)


def pair(values, dtype="float64", requires_grad=True):
    """The same leaf in ndgrad and in PyTorch."""
    array = np.asarray(values, dtype=dtype)
    return (ag.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


# --- factories and default dtypes -------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    [1.0, 2.0], 3.5, [[1, 2], [3, 4]], 7, [True, False], True, [1, 2.5], [[0.5]],
    np.array([1.0, 2.0]), np.array([1, 2], dtype=np.int32), np.array([1.0], dtype=np.float32),
    np.float64(2.0), np.array([True, False]),
])
def test_tensor_default_dtypes_match_torch(data):
    same(ag.tensor(data), torch.tensor(data))


def test_tensor_copies_its_data():
    array = np.array([1.0, 2.0])
    t = ag.tensor(array)
    array[0] = 100.0
    assert val(t)[0] == 1.0


def test_tensor_from_a_tensor_copies():
    a = ag.tensor([1.0, 2.0])
    b = ag.tensor(a)
    b.add_(1.0)
    np.testing.assert_array_equal(val(a), [1.0, 2.0])


@pytest.mark.parametrize("dtype", [ag.float64, "float64", np.float64, "double"])
def test_dtype_argument_forms(dtype):
    assert ag.tensor([1, 2], dtype=dtype).dtype == ag.float64
    assert ag.zeros(2, dtype=dtype).dtype == ag.float64
    assert ag.ones(2, 2, dtype=dtype).dtype == ag.float64
    assert ag.arange(3, dtype=dtype).dtype == ag.float64
    assert ag.randn(2, dtype=dtype).dtype == ag.float64


def test_dtype_aliases_are_the_numpy_dtypes():
    assert ag.float32 == np.float32 and ag.float64 == np.float64
    assert ag.int32 == np.int32 and ag.int64 == np.int64 and ag.bool == np.bool_
    assert ag.float16 == np.float16


def test_as_tensor_shares_memory_when_it_can():
    array = np.array([1.0, 2.0, 3.0])
    t = ag.as_tensor(array)
    assert t.dtype == ag.float64
    array[1] = 20.0
    assert val(t)[1] == 20.0
    converted = ag.as_tensor(array, dtype=ag.float32)  # a new dtype needs a copy
    array[2] = 30.0
    assert val(converted)[2] == 3.0
    assert ag.as_tensor([1.0, 2.0]).dtype == ag.float32
    assert ag.as_tensor([1, 2]).dtype == ag.int64


def test_as_tensor_of_a_tensor_returns_it_when_nothing_changes():
    t = ag.tensor([1.0, 2.0])
    assert ag.as_tensor(t) is t
    assert ag.as_tensor(t, dtype=ag.float64).dtype == ag.float64


def test_from_numpy_shares_memory_both_ways():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ag.from_numpy(array)
    assert t.dtype == ag.float32 and tuple(t.shape) == (2, 3)
    array[0, 0] = 42.0
    assert val(t)[0, 0] == 42.0
    t.add_(1.0)
    assert array[0, 0] == 43.0
    assert np.shares_memory(t.numpy(), array)


def test_from_numpy_rejects_non_arrays():
    with pytest.raises(TypeError, match="numpy.ndarray"):
        ag.from_numpy([1.0, 2.0])


@pytest.mark.parametrize("name, args", [
    ("zeros", (2, 3)), ("zeros", ((2, 3),)), ("ones", (4,)), ("ones", ([2, 2],)), ("zeros", ((),)),
])
def test_zeros_ones(name, args):
    same(getattr(ag, name)(*args), getattr(torch, name)(*args))


@pytest.mark.parametrize("size, fill", [((2, 2), 7.5), ((3,), 4), ((2,), True), (3, 1.0)])
def test_full(size, fill):
    same(ag.full(size, fill), torch.full(size if isinstance(size, tuple) else (size,), fill))


def test_empty_has_shape_and_dtype():
    t = ag.empty(2, 3)
    assert tuple(t.shape) == (2, 3) and t.dtype == ag.float32
    assert ag.empty((4,), dtype=ag.int64).dtype == ag.int64


@pytest.mark.parametrize("args", [(5,), (2, 7), (1, 10, 3), (0.0, 1.0, 0.25), (1, 2.5, 0.5), (-3, 3)])
def test_arange(args):
    same(ag.arange(*args), torch.arange(*args))


@pytest.mark.parametrize("args", [(0, 1, 5), (-2.0, 3.0, 11), (1, 1, 1)])
def test_linspace(args):
    same(ag.linspace(*args), torch.linspace(*args))


@pytest.mark.parametrize("args", [(3,), (2, 4), (4, 2)])
def test_eye(args):
    same(ag.eye(*args), torch.eye(*args))


def test_rand_randn_randint():
    ag.manual_seed(1)
    r = ag.rand(1000)
    assert r.dtype == ag.float32 and tuple(r.shape) == (1000,)
    assert 0.0 <= val(r).min() and val(r).max() < 1.0
    n = ag.randn(200, 50)
    assert n.dtype == ag.float32 and tuple(n.shape) == (200, 50)
    assert abs(val(n).mean()) < 0.05 and abs(val(n).std() - 1.0) < 0.05
    i = ag.randint(3, 9, (500,))
    assert i.dtype == ag.int64
    assert val(i).min() == 3 and val(i).max() == 8
    j = ag.randint(4, size=(2, 3))
    assert tuple(j.shape) == (2, 3) and val(j).max() < 4
    assert ag.rand(2, 3, dtype=ag.float64).dtype == ag.float64
    assert ag.randn((2, 3)).shape == (2, 3)


def test_manual_seed_reproduces_random_tensors():
    ag.manual_seed(123)
    a = (ag.randn(5), ag.rand(3), ag.randint(0, 100, (4,)))
    ag.manual_seed(123)
    b = (ag.randn(5), ag.rand(3), ag.randint(0, 100, (4,)))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(val(x), val(y))
    ag.manual_seed(124)
    assert not np.array_equal(val(ag.randn(5)), val(a[0]))


def test_like_factories():
    base = ag.tensor(np.zeros((2, 3)), dtype=ag.float64)
    for fn, check in ((ag.zeros_like, 0.0), (ag.ones_like, 1.0)):
        t = fn(base)
        assert tuple(t.shape) == (2, 3) and t.dtype == ag.float64
        assert (val(t) == check).all()
    f = ag.full_like(base, 2.5)
    assert f.dtype == ag.float64 and (val(f) == 2.5).all()
    assert ag.randn_like(base).dtype == ag.float64 and tuple(ag.randn_like(base).shape) == (2, 3)
    assert ag.rand_like(base).dtype == ag.float64
    assert ag.empty_like(base).shape == (2, 3)
    assert ag.zeros_like(base, dtype=ag.float32).dtype == ag.float32
    assert ag.ones_like(ag.tensor([1, 2])).dtype == ag.int64


def test_factories_with_requires_grad():
    for t in (ag.zeros(2, requires_grad=True), ag.ones(2, requires_grad=True), ag.randn(2, requires_grad=True),
              ag.tensor([1.0], requires_grad=True), ag.full((2,), 1.0, requires_grad=True)):
        assert t.requires_grad and t.is_leaf and t.grad is None


# --- properties ------------------------------------------------------------------------------------------

def test_properties():
    t = ag.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.shape == torch.zeros(2, 3, 4).shape
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.ndim == 3 and t.dim() == 3
    assert t.numel() == 24 and t.shape.numel() == 24
    assert t.dtype == ag.float32
    assert t.device == Device("cpu") and t.device == "cpu" and not t.is_cuda
    assert t.is_leaf and not t.requires_grad and t.grad_fn is None
    assert repr(t.shape) == "Size([2, 3, 4])"
    x = ag.ones(2, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.requires_grad
    assert ag.tensor(3.0).shape == () and ag.tensor(3.0).ndim == 0


def test_requires_grad_setter():
    t = ag.zeros(2)
    t.requires_grad = True
    assert t.requires_grad
    assert t.requires_grad_(False) is t and not t.requires_grad
    y = ag.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False


# --- operators ----------------------------------------------------------------------------------------------

A = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
B = [[1.25, 2.0, -0.5], [0.75, -1.5, 3.0]]

BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a.abs() ** b,
    "radd": lambda a, b: 2.5 + b, "rsub": lambda a, b: 2.5 - b, "rmul": lambda a, b: 2.5 * b,
    "rdiv": lambda a, b: 2.5 / b, "rpow": lambda a, b: 2.5 ** b,
    "scalar_add": lambda a, b: a + 3, "scalar_pow": lambda a, b: a ** 2, "neg": lambda a, b: -a + b,
    "matmul": lambda a, b: a @ b.T, "abs": lambda a, b: abs(a) * b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_operators_values_and_grads_match_torch(name):
    fn = BINARY[name]
    a, ta = pair(A)
    b, tb = pair(B)
    out, tout = fn(a, b), fn(ta, tb)
    same(out, tout, rtol=1e-12)
    weights = np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape))
    (out * ag.tensor(weights)).sum().backward()
    (tout * torch.tensor(weights)).sum().backward()
    for ours, theirs in ((a, ta), (b, tb)):
        if theirs.grad is None:
            assert ours.grad is None
        else:
            same(ours.grad, theirs.grad, rtol=1e-12)


def test_reflected_operator_with_numpy_array_on_the_left():
    a, ta = pair(A)
    array = np.array(B)
    out = array * a
    assert isinstance(out, ag.Tensor)
    same(out, torch.tensor(array) * ta)
    same(array - a, torch.tensor(array) - ta)


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_return_bool_tensors_without_grad(op):
    a, ta = pair([1.0, 2.0, 3.0, 2.0])
    b, tb = pair([2.0, 2.0, 1.0, 5.0])
    for ours, theirs in ((getattr(a, op)(b), getattr(ta, op)(tb)), (getattr(a, op)(2.0), getattr(ta, op)(2.0))):
        assert ours.dtype == ag.bool
        assert not ours.requires_grad and ours.grad_fn is None
        np.testing.assert_array_equal(val(ours), theirs.numpy())
    symbols = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
    ours = eval(f"a {symbols[op]} b")
    np.testing.assert_array_equal(val(ours), eval(f"ta {symbols[op]} tb").numpy())
    ours = eval(f"2.0 {symbols[op]} a")      # reflected comparison
    np.testing.assert_array_equal(val(ours), eval(f"2.0 {symbols[op]} ta").numpy())


def test_logical_operators_on_bool_tensors():
    p, q = [True, True, False, False], [True, False, True, False]
    a, b = ag.tensor(p), ag.tensor(q)
    ta, tb = torch.tensor(p), torch.tensor(q)
    for ours, theirs in ((a & b, ta & tb), (a | b, ta | tb), (a ^ b, ta ^ tb), (~a, ~ta)):
        assert ours.dtype == ag.bool
        np.testing.assert_array_equal(val(ours), theirs.numpy())


@pytest.mark.parametrize("make", [
    lambda lib: lib.tensor([1, 2]) + 1.5,
    lambda lib: lib.tensor([1, 2]) * 2,
    lambda lib: lib.tensor([1, 2]) / 2,
    lambda lib: lib.tensor([1, 2]) / lib.tensor([2, 4]),
    lambda lib: lib.tensor([1.0, 2.0]) + lib.tensor([1.0], dtype=lib.float64),
    lambda lib: lib.tensor([1.0, 2.0]) * 2.0,
    lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64) * lib.tensor(2.0),
    lambda lib: lib.tensor([1, 2]) + lib.tensor(1.5),
    lambda lib: lib.tensor([True, False]) + 1,
    lambda lib: lib.tensor([1, 2], dtype=lib.int32) + lib.tensor([1, 2]),
    lambda lib: lib.tensor([1, 2]).exp(),
])
def test_dtype_promotion_matches_torch(make):
    same(make(ag), make(torch))


# --- in place and version counters ------------------------------------------------------------------------------

INPLACE_OPS = [
    ("iadd", lambda t, o: t.__iadd__(o)), ("isub", lambda t, o: t.__isub__(o)),
    ("imul", lambda t, o: t.__imul__(o)), ("idiv", lambda t, o: t.__itruediv__(o)),
    ("add_", lambda t, o: t.add_(o)), ("sub_", lambda t, o: t.sub_(o)), ("mul_", lambda t, o: t.mul_(o)),
    ("div_", lambda t, o: t.div_(o)), ("add_alpha", lambda t, o: t.add_(o, alpha=2)),
    ("zero_", lambda t, o: t.zero_()), ("fill_", lambda t, o: t.fill_(3.5)),
    ("copy_", lambda t, o: t.copy_(o)),
]


@pytest.mark.parametrize("name, op, other_kind", [(name, op, kind) for name, op in INPLACE_OPS
                                                  for kind in ("tensor", "scalar")
                                                  if not (name == "copy_" and kind == "scalar")])  # copy_: tensors
def test_inplace_values_identity_and_version(name, op, other_kind):
    t, tt = pair(A, requires_grad=False)
    o, to = (pair(B, requires_grad=False) if other_kind == "tensor" else (1.5, 1.5))
    view = t.numpy()
    before = t._version[0]
    result = op(t, o)
    op(tt, to)
    assert result is t
    assert t._version[0] == before + 1
    same(t, tt)
    np.testing.assert_array_equal(view, val(t))     # written into the same memory


def test_augmented_assignment_keeps_the_object():
    t = ag.tensor([1.0, 2.0])
    alias = t
    t += 1
    t *= 3
    assert t is alias
    np.testing.assert_array_equal(val(alias), [6.0, 9.0])
    assert t._version[0] == 2


def test_setitem_bumps_version():
    t = ag.zeros(3)
    t[1] = 2.0
    assert t._version[0] == 1
    np.testing.assert_array_equal(val(t), [0.0, 2.0, 0.0])


def test_inplace_on_leaf_requiring_grad_raises_outside_no_grad():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    for update in (lambda: w.add_(1.0), lambda: w.mul_(2.0), lambda: w.zero_(), lambda: w.fill_(1.0),
                   lambda: w.__setitem__(0, 5.0), lambda: w.copy_(ag.tensor([0.0, 0.0]))):
        with pytest.raises(RuntimeError, match="leaf"):
            update()
    np.testing.assert_array_equal(val(w), [1.0, 2.0])


def test_inplace_on_leaf_requiring_grad_allowed_in_no_grad():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with ag.no_grad():
        w -= 0.25 * w.grad     # an SGD step: w - 0.25 * 2w
        w[0] = w[0] * 10
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    np.testing.assert_allclose(val(w), [5.0, 1.0])
    assert w._version[0] == 2


INPLACE_IN_GRAPH = {
    "add_scalar": lambda x, w: (lambda y: y.add_(1.0) * y)(x * 2),
    "iadd_tensor": lambda x, w: (lambda y: y.__iadd__(w).tanh())(x * 2),
    "mul_scalar": lambda x, w: (lambda y: y.mul_(3.0))(x * 2),
    "mul_tensor": lambda x, w: (lambda y: y.mul_(w))(x.sin()),
    "div_tensor": lambda x, w: (lambda y: y.div_(w) * x)(x + 1),
    "mul_twice": lambda x, w: (lambda y: y.mul_(w).mul_(w))(x.sin()),
    "add_then_saved": lambda x, w: (lambda y: y.add_(w).exp() * y)(x * x),
    "sub_twice": lambda x, w: (lambda y: y.sub_(w).sub_(x))(x * x),
    "zero_": lambda x, w: (lambda y: y.zero_() + w)(x * 2),
    "fill_": lambda x, w: (lambda y: y.fill_(2.0) * w)(x * 2),
    "copy_": lambda x, w: (lambda y: y.copy_(w * 3) * x)(x * 2),
    "setitem_value": lambda x, w: (lambda y: (y.__setitem__(slice(0, 2), w[1:3]), y)[1] * x)(x * 1),
    "setitem_scalar": lambda x, w: (lambda y: (y.__setitem__(1, 0.0), y)[1] ** 2)(x.sin()),
    "setitem_mask": lambda x, w: (lambda y: (y.__setitem__(y > 0.0, w[y > 0.0]), y)[1].exp())(x * 1),
    "setitem_into_constant": lambda x, w: (lambda y: (y.__setitem__(slice(1, 3), w[:2] * x[:2]), y)[1])(
        x.detach() * 0),
}


@pytest.mark.parametrize("name", sorted(INPLACE_IN_GRAPH))
def test_inplace_on_non_leaf_in_a_graph_matches_torch(name):
    fn = INPLACE_IN_GRAPH[name]
    x, tx = pair([0.5, -1.0, 2.0, 1.5])
    w, tw = pair([1.5, 2.0, -0.5, 0.25])
    out, tout = fn(x, w), fn(tx, tw)
    same(out, tout, rtol=1e-12)
    weights = [1.0, -2.0, 0.5, 3.0]
    (out * ag.tensor(weights, dtype=ag.float64)).sum().backward()
    (tout * torch.tensor(weights, dtype=torch.float64)).sum().backward()
    for ours, theirs in ((x, tx), (w, tw)):
        if theirs.grad is None:
            assert ours.grad is None or not val(ours.grad).any()
        else:
            same(ours.grad, theirs.grad, rtol=1e-12)


def test_inplace_with_itself_as_the_other_operand():
    # PyTorch refuses y.mul_(y) at backward (it saved y and then overwrote it); ndgrad keeps the
    # old contents, so the gradient must be the analytic one: d/dx sin(x)^2 = 2 sin(x) cos(x)
    v = np.array([0.5, -1.0, 2.0, 1.5])
    x = ag.tensor(v, requires_grad=True)
    y = x.sin()
    y.mul_(y)
    y.sum().backward()
    np.testing.assert_allclose(val(y), np.sin(v) ** 2, rtol=1e-12)
    np.testing.assert_allclose(val(x.grad), 2 * np.sin(v) * np.cos(v), rtol=1e-12)
    z = x.detach().clone()
    z += z                                  # no graph: plain doubling
    np.testing.assert_allclose(val(z), 2 * v)


def test_inplace_on_a_view_in_a_graph_changes_the_base():
    x, tx = pair([1.0, 2.0, 3.0])
    a, ta = x * 1, tx * 1
    b, tb = a[0:2], ta[0:2]
    b += 10.0
    tb += 10.0
    same(a, ta)


def test_inplace_after_multiplying_by_a_scalar():
    x, tx = pair([1.0, 2.0])
    y, ty = x * 2, tx * 2
    z, tz = y * 3, ty * 3
    y.add_(1.0)
    ty.add_(1.0)
    z.sum().backward()
    tz.sum().backward()
    same(x.grad, tx.grad)


# --- indexing ----------------------------------------------------------------------------------------------------

X3 = np.arange(60, dtype=np.float64).reshape(3, 4, 5) / 7.0

INDICES = {
    "int": 1,
    "negative_int": -1,
    "two_ints": (1, 2),
    "slice": slice(1, 3),
    "step_slice": (slice(None), slice(None, None, 2)),
    "slice_then_int": (slice(None), 2),
    "ellipsis": (Ellipsis, 1),
    "ellipsis_middle": (0, Ellipsis, slice(1, 4)),
    "none": (None, 1),
    "none_middle": (1, None, slice(0, 5, 2)),
    "int_list_repeated": [0, 2, 2, 0],
    "int_array": np.array([2, 0]),
    "int_tensor_2d": "t:[[0, 1], [2, 2]]",
    "two_int_arrays": ("t:[0, 2, 0]", "t:[1, 1, 3]"),
    "slice_and_int_list": (slice(None), [3, 1, 3]),
    "bool_mask_first_dim": "b:[True, False, True]",
    "bool_mask_full": "m:full",
    "numpy_bool_mask": np.array([False, True, True]),
    "int_and_list": (1, [0, 0, 3]),
}


def build_index(index, lib):
    """Turn the table's markers into tensors of ``lib`` (ag or torch)."""
    if isinstance(index, tuple):
        return tuple(build_index(i, lib) for i in index)
    if not isinstance(index, str):
        return index
    if index.startswith(("t:", "b:")):
        return lib.tensor(eval(index[2:]))
    if index == "m:full":
        return lib.tensor(((X3 * 7).astype(int) % 3) == 0)
    return index


@pytest.mark.parametrize("name", sorted(INDICES))
def test_getitem_values_and_grads_match_torch(name):
    x, tx = pair(X3)
    out = x[build_index(INDICES[name], ag)]
    tout = tx[build_index(INDICES[name], torch)]
    same(out, tout, rtol=0, atol=0)
    weights = np.linspace(-2.0, 3.0, max(tout.numel(), 1)).reshape(tuple(tout.shape))
    (out * ag.tensor(weights)).sum().backward()
    (tout * torch.tensor(weights)).sum().backward()
    same(x.grad, tx.grad, rtol=1e-12)


def test_getitem_with_tensor_scalar_index():
    x, tx = pair(X3)
    same(x[ag.tensor(2)], tx[torch.tensor(2)])


SETITEMS = {
    "int_scalar": (1, 5.0),
    "slice_scalar": ((slice(None), 0), -1.0),
    "slice_tensor": ((0, slice(1, 3)), "t:[[9.0] * 5, [8.0] * 5]"),
    "broadcast_row": ((slice(None), slice(None), 0), "t:[1.0, 2.0, 3.0, 4.0]"),
    "mask_scalar": ("m:full", 0.0),
    "int_list": ([0, 2], 7.5),
    "ellipsis": ((Ellipsis, 4), 3.0),
}


@pytest.mark.parametrize("name", sorted(SETITEMS))
def test_setitem_matches_torch(name):
    index, value = SETITEMS[name]
    t, tt = pair(X3, requires_grad=False)
    t[build_index(index, ag)] = build_index(value, ag) if isinstance(value, str) else value
    tvalue = build_index(value, torch) if isinstance(value, str) else value
    if isinstance(tvalue, torch.Tensor):
        tvalue = tvalue.double()
    tt[build_index(index, torch)] = tvalue
    same(t, tt, rtol=0, atol=0)


def test_setitem_gradients_match_torch():
    x, tx = pair(X3)
    v, tv = pair(np.full((4, 5), 0.5))
    y, ty = x * 2, tx * 2
    y[1] = v * v
    ty[1] = tv * tv
    y[:, :, 0] = 1.0
    ty[:, :, 0] = 1.0
    weights = np.linspace(-1, 1, 60).reshape(3, 4, 5)
    (y * ag.tensor(weights)).sum().backward()
    (ty * torch.tensor(weights)).sum().backward()
    same(y, ty)
    same(x.grad, tx.grad, rtol=1e-12)
    same(v.grad, tv.grad, rtol=1e-12)


def test_iterating_over_a_tensor():
    t = ag.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(t)
    assert len(rows) == 2
    np.testing.assert_array_equal(val(rows[1]), [3.0, 4.0])


# --- conversions and the Python protocol ---------------------------------------------------------------------------

def test_item():
    assert ag.tensor(3.5).item() == 3.5 and isinstance(ag.tensor(3.5).item(), float)
    assert ag.tensor([7]).item() == 7 and isinstance(ag.tensor([7]).item(), int)
    assert ag.tensor([[True]]).item() is True
    with pytest.raises(RuntimeError, match="one-element"):
        ag.tensor([1.0, 2.0]).item()


def test_numpy_shares_memory_and_refuses_grad():
    t = ag.tensor([1.0, 2.0])
    array = t.numpy()
    assert isinstance(array, np.ndarray)
    array[0] = 5.0
    assert val(t)[0] == 5.0
    x = ag.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


def test_tolist_matches_torch():
    for data in ([[1.5, 2.0], [3.0, 4.0]], [1, 2, 3], 2.5, [True, False]):
        ours, theirs = ag.tensor(data).tolist(), torch.tensor(data).tolist()
        assert ours == theirs
        assert type(ours) is type(theirs)
    assert type(ag.tensor([1, 2]).tolist()[0]) is int


def test_array_protocol():
    t = ag.tensor([[1.0, 2.0], [3.0, 4.0]])
    array = np.asarray(t)
    assert array.dtype == np.float32 and array.shape == (2, 2)
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float64), [[1.0, 2.0], [3.0, 4.0]])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert float(np.sum(np.asarray(ag.ones(3)))) == 3.0


def test_len():
    assert len(ag.zeros(4, 2)) == 4
    with pytest.raises(TypeError, match="0-d"):
        len(ag.tensor(1.0))


def test_bool_float_int():
    assert bool(ag.tensor([1.0])) is True
    assert bool(ag.tensor(0.0)) is False
    assert bool(ag.tensor([[0]])) is False
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(ag.tensor([1.0, 1.0]))
    assert float(ag.tensor(2.5)) == 2.5
    assert int(ag.tensor([3])) == 3
    assert [10, 20, 30][ag.tensor(1)] == 20     # __index__


def test_detach():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.numpy(), y.detach().numpy())


def test_to_and_cpu():
    t = ag.tensor([1.5, 2.5])
    assert t.to(ag.float64).dtype == ag.float64
    assert t.to("float64").dtype == ag.float64
    assert t.to(dtype=ag.int64).tolist() == [1, 2]
    assert t.to("cpu") is t and t.cpu() is t and t.to(ag.float32) is t
    assert t.to(device="cpu", dtype=ag.float64).dtype == ag.float64
    assert t.to(Device("cpu")) is t
    other = ag.zeros(1, dtype=ag.float64)
    assert t.to(other).dtype == ag.float64
    copy = t.to(ag.float32, copy=True)
    assert copy is not t
    copy.add_(1.0)
    assert t.tolist() == [1.5, 2.5]
    assert t.double().dtype == ag.float64 and t.double().float().dtype == ag.float32
    assert t.half().dtype == ag.float16 and t.long().dtype == ag.int64 and t.int().dtype == ag.int32
    assert t.bool().dtype == ag.bool


def test_to_keeps_the_graph():
    x, tx = pair([1.0, 2.0], dtype="float32")
    y = x.to(ag.float64) * 3
    ty = tx.to(torch.float64) * 3
    y.sum().backward()
    ty.sum().backward()
    same(x.grad, tx.grad)


def test_clone_is_differentiable_and_independent():
    x, tx = pair([1.0, 2.0])
    c = x.clone()
    assert c.grad_fn is not None and not np.shares_memory(val(c), val(x))
    (c * c).sum().backward()
    tc = tx.clone()
    (tc * tc).sum().backward()
    same(x.grad, tx.grad)


# --- repr ---------------------------------------------------------------------------------------------------------

def test_repr_like_torch():
    assert repr(ag.tensor([1.0, 2.0], requires_grad=True)) == "tensor([1., 2.], requires_grad=True)"
    assert repr(ag.tensor([1.0, 2.0])) == repr(torch.tensor([1.0, 2.0]))
    assert repr(ag.tensor([1, 2])) == repr(torch.tensor([1, 2]))
    assert repr(ag.tensor([True, False])) == repr(torch.tensor([True, False]))
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    text = repr(x * 2)
    assert text.startswith("tensor([2., 4.]") and "grad_fn=<MulBackward0>" in text
    assert "requires_grad" not in text
    assert "grad_fn=<SumBackward0>" in repr(x.sum())
    assert "dtype=float64" in repr(ag.tensor([1.0, 2.0], dtype=ag.float64))
    assert "dtype=int32" in repr(ag.tensor([1, 2], dtype=ag.int32))
    assert "dtype" not in repr(ag.tensor([1.0])) and "dtype" not in repr(ag.tensor([1]))
    assert repr(ag.tensor([[1.0, 2.0], [3.0, 4.0]])) == repr(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert str(ag.tensor([1.0])) == repr(ag.tensor([1.0]))


# --- devices --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, type_, index", [
    ("cpu", "cpu", None), ("cuda", "cuda", 0), ("cuda:0", "cuda", 0), ("cuda:1", "cuda", 1),
    ("CUDA:2", "cuda", 2), (" cpu ", "cpu", None),
])
def test_device_parsing(spec, type_, index):
    d = Device(spec)
    assert d.type == type_ and d.index == index
    # "cuda" means cuda:0 here, so its repr names the index where PyTorch's leaves it out
    torch_spec = spec.strip().lower()
    assert repr(d) == repr(torch.device(torch_spec if torch_spec != "cuda" else "cuda:0"))
    assert Device(d) == d


def test_device_equality_and_hash():
    assert Device("cuda") == Device("cuda:0") == "cuda:0" == Device("cuda", 0)
    assert Device("cuda") == "cuda"
    assert hash(Device("cuda")) == hash(Device("cuda:0"))
    assert Device("cuda:1") != Device("cuda:0") and Device("cuda:1") != "cuda"
    assert Device("cpu") != Device("cuda") and Device("cpu") == "cpu"
    assert Device("cpu") != "not a device" and Device("cpu") != 3
    assert len({Device("cuda"), Device("cuda:0"), Device("cpu")}) == 2
    assert str(Device("cuda")) == "cuda:0" and str(Device("cpu")) == "cpu"
    assert Device(Device("cuda:1")).index == 1
    assert ag.device("cuda:1") == Device("cuda", 1)


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "cuda:-1", "cpu:1", "", "cuda:1:2"])
def test_device_rejects_bad_strings(bad):
    with pytest.raises(ValueError, match="Device"):
        Device(bad)


def test_device_rejects_non_strings():
    with pytest.raises(TypeError, match="string"):
        Device(3.5)


@pytest.mark.parametrize("data", [[1.5, 2.25], [1.0, 2.0], [1e-6, 1.0], [[1.5, 2.0], [3.0, 4.0]], [1, 2, 3],
                                  [[True, False]], [0.0, -0.5]])
def test_repr_matches_pytorch(data):
    torch = pytest.importorskip("torch")
    assert repr(ag.tensor(data)) == repr(torch.tensor(data))
    assert repr(ag.tensor(data, dtype=ag.float64)).replace("dtype=float64", "dtype=torch.float64") == \
        repr(torch.tensor(data, dtype=torch.float64))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("data", [[1.5, 2.25, 3.0], [1.0, 2.0], [[0.5, -1.0], [4.0, 8.0]]])
def test_low_precision_repr_matches_pytorch(data, dtype):
    torch = pytest.importorskip("torch")
    if getattr(ag, dtype) is None:
        pytest.skip("bfloat16 needs the ml_dtypes package")
    ours = repr(ag.tensor(data).to(getattr(ag, dtype)))
    assert ours.replace(f"dtype={dtype}", f"dtype=torch.{dtype}") == repr(torch.tensor(data).to(getattr(torch, dtype)))
