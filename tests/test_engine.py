"""The backward engine: graph shapes, accumulation, retained graphs, higher-order derivatives,
autograd.grad / autograd.backward, grad modes and their thread-locality, node names.

Expected values come from PyTorch building the same expression, or from derivatives
worked out by hand; never from ndgrad's own output.
"""

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import autograd as ag
from conftest import examples

torch = pytest.importorskip("torch")


def val(t):
    """A tensor's values as a float64 NumPy array, outside the graph."""
    return np.asarray(t.detach().numpy(), dtype=np.float64)


def leaf(values, dtype=ag.float64):
    return ag.tensor(np.asarray(values, dtype=np.float64), dtype=dtype, requires_grad=True)


def torch_leaf(values, dtype=torch.float64):
    return torch.tensor(np.asarray(values, dtype=np.float64), dtype=dtype, requires_grad=True)


def close(actual, expected, rtol=1e-10, atol=1e-12):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    np.testing.assert_allclose(val(actual), np.asarray(expected, dtype=np.float64), rtol=rtol, atol=atol)


XS = [0.3, -1.2, 2.0, 0.7]


# --- graph shapes ---------------------------------------------------------------------------------

def test_diamond():
    # x -> a, b -> c: the gradients of both paths meet at x
    x = leaf(XS)
    a, b = x.sin(), x * x
    c = (a * b).sum()
    c.backward()
    tx = torch_leaf(XS)
    (tx.sin() * (tx * tx)).sum().backward()
    close(x.grad, tx.grad)


def test_diamond_with_shared_intermediate_counts_every_path_once():
    x = leaf(XS)
    h = x.exp()          # h feeds three consumers; its node must run once, after all three
    out = (h * 2 + h.tanh() - h * h).sum()
    out.backward()
    tx = torch_leaf(XS)
    th = tx.exp()
    (th * 2 + th.tanh() - th * th).sum().backward()
    close(x.grad, tx.grad)


def test_cube_by_repeated_multiplication():
    x = leaf(XS)
    (x * x * x).sum().backward()
    close(x.grad, 3 * np.array(XS) ** 2)


def test_tensor_used_in_five_branches():
    x = leaf(XS)
    branches = [x * 2, x.exp(), x.tanh(), x * x, -x]
    total = branches[0]
    for b in branches[1:]:
        total = total + b
    total.sum().backward()
    v = np.array(XS)
    close(x.grad, 2 + np.exp(v) + (1 - np.tanh(v) ** 2) + 2 * v - 1)


def test_same_tensor_twice_in_one_op():
    x = leaf(XS)
    (x + x).sum().backward()
    close(x.grad, np.full(4, 2.0))


def test_broadcast_gradients_reduce_to_input_shapes():
    a = leaf(np.arange(3.0).reshape(3, 1))
    b = leaf([1.0, -2.0, 0.5, 4.0])
    c = leaf(2.5)  # 0-d
    out = a * b + c * a - b
    out.backward(ag.ones(3, 4, dtype=ag.float64))
    ta, tb, tc = torch_leaf(np.arange(3.0).reshape(3, 1)), torch_leaf([1.0, -2.0, 0.5, 4.0]), torch_leaf(2.5)
    (ta * tb + tc * ta - tb).backward(torch.ones(3, 4, dtype=torch.float64))
    for ours, theirs in ((a, ta), (b, tb), (c, tc)):
        assert tuple(ours.grad.shape) == tuple(theirs.grad.shape)
        close(ours.grad, theirs.grad)


def test_gradient_argument_for_non_scalar_output():
    x = leaf(XS)
    g = np.array([1.0, 0.5, -2.0, 3.0])
    (x * x).backward(gradient=ag.tensor(g, dtype=ag.float64))
    close(x.grad, 2 * np.array(XS) * g)


def test_grad_dtype_matches_each_leaf():
    x32 = ag.tensor([1.0, 2.0], requires_grad=True)                 # float32
    x64 = ag.tensor([3.0, 4.0], dtype=ag.float64, requires_grad=True)
    out = x32 * x64                                                 # promoted to float64
    assert out.dtype == ag.float64
    out.sum().backward()
    assert x32.grad.dtype == ag.float32
    assert x64.grad.dtype == ag.float64
    close(x32.grad, [3.0, 4.0])
    close(x64.grad, [1.0, 2.0])


def test_leaves_without_requires_grad_get_no_grad():
    x = leaf(XS)
    w = ag.tensor(np.array([2.0, 3.0, 4.0, 5.0]), dtype=ag.float64)  # a constant
    (x * w).sum().backward()
    assert w.grad is None
    assert w.requires_grad is False
    close(x.grad, [2.0, 3.0, 4.0, 5.0])


def test_detach_cuts_the_graph():
    x = leaf(XS)
    y = x * 2
    z = y.detach() * x   # d/dx sees y as a constant: 2x, not 4x
    assert not y.detach().requires_grad and y.detach().grad_fn is None
    z.sum().backward()
    close(x.grad, 2 * np.array(XS))


def test_detach_shares_memory_and_version_counter():
    x = leaf(XS)
    d = x.detach()
    assert np.shares_memory(d.numpy(), x.detach().numpy())
    before = x._version[0]
    d.add_(1.0)
    assert x._version[0] == before + 1
    close(x, np.array(XS) + 1)


# --- accumulation and retained graphs ------------------------------------------------------------------

def test_two_backward_calls_accumulate_into_grad():
    x = leaf(XS)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    close(x.grad, 2 * np.array(XS) + 3)


@pytest.mark.parametrize("reduce", ["sum", "mean", "gradient"])
def test_accumulated_grads_of_two_leaves_stay_independent(reduce):
    # x + y hands both leaves the same gradient; changing one .grad must not change the other
    x, y = leaf(XS), leaf(XS)
    if reduce == "gradient":
        (x + y).backward(ag.ones(4, dtype=ag.float64))
    else:
        getattr(x + y, reduce)().backward()
    expected = np.full(4, 0.25 if reduce == "mean" else 1.0)
    x.grad.zero_()
    close(y.grad, expected)
    x.grad.add_(5.0)
    close(y.grad, expected)
    y.grad.mul_(3.0)
    close(x.grad, np.full(4, 5.0))


def test_grad_is_not_the_callers_gradient_buffer():
    x = leaf(XS)
    g = ag.tensor([1.0, 1.0, 1.0, 1.0], dtype=ag.float64)
    (x + 0).backward(g)
    g.mul_(7.0)           # the caller reuses its buffer
    close(x.grad, np.ones(4))


def test_retain_graph_allows_second_backward_and_accumulates():
    x = leaf(XS)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    v = np.array(XS)
    close(x.grad, 2 * (np.exp(v) * (1 + v)))


def test_second_backward_without_retain_graph_raises():
    x = leaf(XS)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_backward_of_root_and_a_root_depending_on_it():
    x = leaf(XS)
    y = x * x
    z = y.sin()
    ag.backward([z.sum(), y.sum()])
    tx = torch_leaf(XS)
    ty = tx * tx
    torch.autograd.backward([ty.sin().sum(), ty.sum()])
    close(x.grad, tx.grad)


# --- higher order -------------------------------------------------------------------------------------------

def second_derivative(fn, values):
    x = leaf(values)
    (g,) = ag.grad(fn(x).sum(), x, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
    (h,) = ag.grad(g.sum(), x)
    return g, h


def test_second_derivative_of_cube():
    g, h = second_derivative(lambda x: x ** 3, XS)
    v = np.array(XS)
    close(g, 3 * v ** 2)
    close(h, 6 * v)


def test_second_derivative_of_sin_times_exp():
    g, h = second_derivative(lambda x: x.sin() * x.exp(), XS)
    v = np.array(XS)
    close(g, np.exp(v) * (np.sin(v) + np.cos(v)))
    close(h, 2 * np.exp(v) * np.cos(v))


def test_second_derivative_of_tanh():
    _, h = second_derivative(lambda x: x.tanh(), XS)
    t = np.tanh(np.array(XS))
    close(h, -2 * t * (1 - t ** 2))


def test_second_derivative_of_sigmoid():
    _, h = second_derivative(lambda x: x.sigmoid(), XS)
    s = 1 / (1 + np.exp(-np.array(XS)))
    close(h, s * (1 - s) * (1 - 2 * s))


def test_second_derivative_of_exp_and_log():
    v = np.array([0.5, 1.5, 3.0])
    _, h = second_derivative(lambda x: x.exp(), v)
    close(h, np.exp(v))
    _, h = second_derivative(lambda x: x.log(), v)
    close(h, -1 / v ** 2)


def test_mixed_partials_of_a_product():
    # f = x^2 y^3: df/dx = 2 x y^3, d2f/dydx = 6 x y^2, d2f/dx2 = 2 y^3, d2f/dy2 = 6 x^2 y
    xv, yv = np.array([0.5, -1.5, 2.0]), np.array([1.25, 0.75, -0.5])
    x, y = leaf(xv), leaf(yv)
    f = (x ** 2 * y ** 3).sum()
    gx, gy = ag.grad(f, [x, y], create_graph=True)
    close(gx, 2 * xv * yv ** 3)
    close(gy, 3 * xv ** 2 * yv ** 2)
    dxdx, dxdy = ag.grad(gx.sum(), [x, y], retain_graph=True)
    close(dxdx, 2 * yv ** 3)
    close(dxdy, 6 * xv * yv ** 2)
    dydx, dydy = ag.grad(gy.sum(), [x, y])
    close(dydx, 6 * xv * yv ** 2)
    close(dydy, 6 * xv ** 2 * yv)


def test_third_and_fourth_derivative_of_x_to_the_fourth():
    v = np.array(XS)
    x = leaf(v)
    (d1,) = ag.grad((x ** 4).sum(), x, create_graph=True)
    (d2,) = ag.grad(d1.sum(), x, create_graph=True)
    (d3,) = ag.grad(d2.sum(), x, create_graph=True)
    (d4,) = ag.grad(d3.sum(), x)
    close(d1, 4 * v ** 3)
    close(d2, 12 * v ** 2)
    close(d3, 24 * v)
    close(d4, np.full_like(v, 24.0))


def test_backward_create_graph_then_backward_through_grad():
    # y = x^3; x.grad = 3x^2 with a graph; backward of it adds 6x into x.grad (PyTorch's behaviour)
    v = np.array(XS)
    x = leaf(v)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    close(x.grad, 3 * v ** 2)
    x.grad.sum().backward()
    close(x.grad, 3 * v ** 2 + 6 * v)


def test_hessian_vector_product_matches_torch():
    wv = np.array([[0.2, -0.4, 1.1], [0.5, 0.3, -0.7]])
    xv = np.array([0.9, -0.3, 0.4])
    vv = np.array([1.0, 2.0, -1.0])

    w, x = ag.tensor(wv, dtype=ag.float64), leaf(xv)
    loss = (w @ x).tanh().sum() + (x * x * x).sum()
    (g,) = ag.grad(loss, x, create_graph=True)
    (hv,) = ag.grad((g * ag.tensor(vv, dtype=ag.float64)).sum(), x)

    tw, tx = torch.tensor(wv), torch_leaf(xv)
    tloss = (tw @ tx).tanh().sum() + (tx * tx * tx).sum()
    (tg,) = torch.autograd.grad(tloss, tx, create_graph=True)
    (thv,) = torch.autograd.grad((tg * torch.tensor(vv)).sum(), tx)
    close(g, tg)
    close(hv, thv)


# --- retain_grad ---------------------------------------------------------------------------------------------

def test_non_leaf_grad_is_none_without_retain_grad():
    x = leaf(XS)
    y = x * 2
    y.sum().backward()
    assert not y.is_leaf
    assert y.grad is None
    assert x.grad is not None


def test_retain_grad_keeps_non_leaf_gradients():
    x = leaf(XS)
    y = x * 2
    y.retain_grad()
    z = y.tanh()
    z.retain_grad()
    assert y.retains_grad and z.retains_grad
    (z * z).sum().backward()
    tx = torch_leaf(XS)
    ty = tx * 2
    ty.retain_grad()
    tz = ty.tanh()
    tz.retain_grad()
    (tz * tz).sum().backward()
    close(y.grad, ty.grad)
    close(z.grad, tz.grad)
    close(x.grad, tx.grad)
    assert y.grad.grad_fn is None and not y.grad.requires_grad


def test_retained_grad_and_leaf_grad_do_not_share_memory():
    x = leaf(XS)
    y = x.clone()             # clone's backward passes the gradient through unchanged
    y.retain_grad()
    (y * 2).sum().backward()
    y.grad.mul_(10.0)
    close(x.grad, np.full(4, 2.0))


def test_retain_grad_accumulates_over_two_backwards():
    x = leaf(XS)
    y = x * 3
    y.retain_grad()
    out = (y * y).sum()
    out.backward(retain_graph=True)
    out.backward()
    close(y.grad, 2 * (2 * 3 * np.array(XS)))


# --- autograd.grad and autograd.backward ----------------------------------------------------------------------

def test_grad_returns_gradients_and_leaves_dot_grad_alone():
    x = leaf(XS)
    y = (x * x).sum()
    (g,) = ag.grad(y, x)
    assert x.grad is None
    close(g, 2 * np.array(XS))
    assert not g.requires_grad


def test_grad_single_tensor_input_returns_a_tuple():
    x = leaf(XS)
    result = ag.grad((x * 2).sum(), x)
    assert isinstance(result, tuple) and len(result) == 1


def test_grad_with_several_outputs_and_grad_outputs():
    x, y = leaf(XS), leaf([1.0, 2.0, 3.0, 4.0])
    o1, o2 = x * y, x.exp()
    g1 = ag.tensor([1.0, -1.0, 2.0, 0.5], dtype=ag.float64)
    g2 = ag.tensor([0.5, 0.5, 1.0, 3.0], dtype=ag.float64)
    gx, gy = ag.grad([o1, o2], [x, y], grad_outputs=[g1, g2])

    tx, ty = torch_leaf(XS), torch_leaf([1.0, 2.0, 3.0, 4.0])
    tgx, tgy = torch.autograd.grad([tx * ty, tx.exp()], [tx, ty],
                                   grad_outputs=[torch.tensor(val(g1)), torch.tensor(val(g2))])
    close(gx, tgx)
    close(gy, tgy)


def test_grad_without_retain_graph_frees_the_graph():
    x = leaf(XS)
    y = (x * x).sum()
    ag.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        ag.grad(y, x)


def test_grad_with_retain_graph_can_run_twice():
    x = leaf(XS)
    y = (x * x).sum()
    (g1,) = ag.grad(y, x, retain_graph=True)
    (g2,) = ag.grad(y, x)
    close(g1, 2 * np.array(XS))
    close(g2, 2 * np.array(XS))


def test_grad_allow_unused():
    x, unused = leaf(XS), leaf([1.0])
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        ag.grad(y, [x, unused], retain_graph=True)
    gx, gu = ag.grad(y, [x, unused], allow_unused=True)
    assert gu is None
    close(gx, 2 * np.array(XS))


def test_grad_with_respect_to_a_non_leaf():
    x = leaf(XS)
    h = x * 2
    y = (h.sin() * h).sum()
    (gh,) = ag.grad(y, h)
    hv = 2 * np.array(XS)
    close(gh, np.cos(hv) * hv + np.sin(hv))
    assert x.grad is None and h.grad is None


def test_grad_input_that_does_not_require_grad_raises():
    x = leaf(XS)
    c = ag.tensor([1.0, 2.0, 3.0, 4.0], dtype=ag.float64)
    with pytest.raises(RuntimeError, match="does not require grad"):
        ag.grad((x * c).sum(), c)


def test_autograd_backward_with_grad_tensors():
    x = leaf(XS)
    y1, y2 = x * x, x.sin()
    g1 = ag.tensor([1.0, 2.0, 3.0, 4.0], dtype=ag.float64)
    g2 = ag.tensor([-1.0, 0.0, 1.0, 2.0], dtype=ag.float64)
    ag.backward([y1, y2], [g1, g2])
    tx = torch_leaf(XS)
    torch.autograd.backward([tx * tx, tx.sin()], [torch.tensor(val(g1)), torch.tensor(val(g2))])
    close(x.grad, tx.grad)


def test_autograd_backward_single_scalar():
    x = leaf(XS)
    ag.backward((x * x).sum())
    close(x.grad, 2 * np.array(XS))


# --- grad modes -------------------------------------------------------------------------------------------------

def test_ops_under_no_grad_record_nothing():
    x = leaf(XS)
    with ag.no_grad():
        assert not ag.is_grad_enabled()
        y = x * 2
        z = y.exp().sum()
    assert ag.is_grad_enabled()
    for t in (y, z):
        assert t.requires_grad is False
        assert t.grad_fn is None
        assert t.is_leaf


def test_enable_grad_inside_no_grad():
    x = leaf(XS)
    with ag.no_grad():
        with ag.enable_grad():
            assert ag.is_grad_enabled()
            y = x * 2
        assert not ag.is_grad_enabled()
    assert y.requires_grad and y.grad_fn is not None


def test_set_grad_enabled_as_context_manager_and_function():
    x = leaf(XS)
    with ag.set_grad_enabled(False):
        assert not ag.is_grad_enabled()
        assert (x * 2).grad_fn is None
        with ag.set_grad_enabled(True):
            assert (x * 2).grad_fn is not None
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()
    try:
        ag.set_grad_enabled(False)      # a plain call takes effect at once, as in PyTorch
        assert not ag.is_grad_enabled()
    finally:
        ag.set_grad_enabled(True)
    assert ag.is_grad_enabled()


def test_grad_modes_as_decorators():
    x = leaf(XS)

    @ag.no_grad()
    def frozen(t):
        assert not ag.is_grad_enabled()
        return t * 2

    @ag.enable_grad()
    def recording(t):
        return t * 2

    @ag.set_grad_enabled(False)
    def also_frozen(t):
        return t * 2

    assert ag.is_grad_enabled()       # defining the decorated function changes nothing
    assert frozen(x).grad_fn is None
    assert also_frozen(x).grad_fn is None
    assert ag.is_grad_enabled()
    with ag.no_grad():
        assert recording(x).grad_fn is not None
        assert not ag.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with ag.no_grad():
            raise ValueError("boom")
    assert ag.is_grad_enabled()


def test_grad_mode_is_thread_local():
    inside, release, seen = threading.Event(), threading.Event(), {}

    def worker():
        with ag.no_grad():
            seen["worker"] = ag.is_grad_enabled()
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert inside.wait(10)
        assert ag.is_grad_enabled()           # the worker's no_grad is its own
        x = leaf(XS)
        y = x * 2
        assert y.grad_fn is not None
    finally:
        release.set()
        thread.join(10)
    assert seen["worker"] is False


def test_new_thread_starts_with_grad_enabled():
    seen = {}

    def worker():
        seen["enabled"] = ag.is_grad_enabled()

    with ag.no_grad():
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(10)
    assert seen["enabled"] is True


def test_backward_inside_no_grad_still_computes_grads():
    x = leaf(XS)
    y = (x * x).sum()
    with ag.no_grad():
        y.backward()
    close(x.grad, 2 * np.array(XS))


# --- node names and structure -------------------------------------------------------------------------------------

NAMED_LIKE_TORCH = {  # ops whose PyTorch node has the same name
    "mul": lambda x, y: x * y, "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "div": lambda x, y: x / y,
    "neg": lambda x, y: -x, "sum": lambda x, y: x.sum(), "mean": lambda x, y: x.mean(), "exp": lambda x, y: x.exp(),
    "tanh": lambda x, y: x.tanh(), "sigmoid": lambda x, y: x.sigmoid(), "relu": lambda x, y: x.relu(),
    "log": lambda x, y: x.abs().log(), "permute": lambda x, y: x.reshape(2, 2).permute(1, 0),
    "expand": lambda x, y: x.reshape(4, 1).expand(4, 3), "clone": lambda x, y: x.clone(),
    "logsumexp": lambda x, y: x.logsumexp(0), "softmax": lambda x, y: x.softmax(0),
}


@pytest.mark.parametrize("name", sorted(NAMED_LIKE_TORCH))
def test_grad_fn_names_match_torch(name):
    torch = pytest.importorskip("torch")
    fn = NAMED_LIKE_TORCH[name]
    x, y = leaf(XS), leaf(XS)
    tx, ty = (torch.tensor(XS, requires_grad=True) for _ in range(2))
    got, expected = fn(x, y).grad_fn, fn(tx, ty).grad_fn
    assert got.name() == expected.name()
    assert repr(got).startswith(f"<{expected.name()} object at 0x")
    assert x.grad_fn is None


def test_next_functions_structure():
    """(node, input_nr) pairs, (None, 0) where an input needs no gradient, as in PyTorch."""
    x, y = leaf(XS), leaf(XS)
    c = ag.tensor(np.ones(4), dtype=ag.float64)
    prod = x * y
    out = (prod + c).sum()
    sum_node = out.grad_fn
    ((add_node, nr),) = sum_node.next_functions
    assert nr == 0 and add_node.name() == "AddBackward0"
    (mul_node, _), constant = add_node.next_functions
    assert mul_node is prod.grad_fn
    assert constant == (None, 0)              # c does not require grad: no edge
    assert mul_node.name() == "MulBackward0"
    (ax, _), (ay, _) = mul_node.next_functions
    assert "AccumulateGrad" in ax.name() and "AccumulateGrad" in ay.name()
    assert ax.variable is x and ay.variable is y
    assert ax.next_functions == ()
    # one leaf, one AccumulateGrad node, however often it is used
    assert (x * 3).grad_fn.next_functions[0][0] is ax


def test_mul_by_python_scalar_has_no_edge_for_the_scalar():
    x = leaf(XS)
    node = (x * 3.0).grad_fn
    assert node.next_functions[0][0].variable is x
    assert node.next_functions[1] == (None, 0)


# --- random expression DAGs against PyTorch -----------------------------------------------------------------------

SHAPES = [(), (3,), (2, 1), (2, 3)]  # pairwise broadcastable
UNARY = ("tanh", "exp")
BINARY = ("add", "mul", "sub")


@st.composite
def programs(draw):
    n_leaves = draw(st.integers(1, 4))
    shapes = [draw(st.sampled_from(SHAPES)) for _ in range(n_leaves)]
    values = [draw(st.lists(st.floats(-1.5, 1.5, allow_nan=False, width=32), min_size=int(np.prod(s)),
                            max_size=int(np.prod(s)))) for s in shapes]
    steps = []
    size = n_leaves
    for _ in range(draw(st.integers(1, 10))):
        op = draw(st.sampled_from(UNARY + BINARY))
        a = draw(st.integers(0, size - 1))
        b = draw(st.integers(0, size - 1))    # may equal a: a tensor reused in one op
        steps.append((op, a, b))
        size += 1
    # the output sums a few pool entries (some reused, some possibly unused leaves)
    outputs = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=3))
    return shapes, values, steps, outputs


def run_program(program, lib):
    shapes, values, steps, outputs = program
    if lib == "torch":
        leaves = [torch.tensor(np.array(v, dtype=np.float64).reshape(s), requires_grad=True)
                  for s, v in zip(shapes, values)]
    else:
        leaves = [ag.tensor(np.array(v, dtype=np.float64).reshape(s), requires_grad=True)
                  for s, v in zip(shapes, values)]
    pool = list(leaves)
    for op, a, b in steps:
        x, y = pool[a], pool[b]
        if op == "tanh":
            pool.append(x.tanh())
        elif op == "exp":
            pool.append(x.exp())
        elif op == "add":
            pool.append(x + y)
        elif op == "mul":
            pool.append(x * y)
        else:
            pool.append(x - y)
    total = pool[outputs[0]].sum()
    for i in outputs[1:]:
        total = total + (pool[i] * pool[i]).sum()
    return leaves, total


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_expression_dags_match_torch(program):
    t_leaves, t_total = run_program(program, "torch")
    assume(torch.isfinite(t_total).item() and abs(t_total.item()) < 1e8)
    t_total.backward()
    assume(all(t.grad is None or torch.isfinite(t.grad).all().item() for t in t_leaves))

    leaves, total = run_program(program, "ndgrad")
    close(total, t_total.detach().numpy(), rtol=1e-9, atol=1e-9)
    if total.requires_grad:
        total.backward()
    for ours, theirs in zip(leaves, t_leaves):
        if theirs.grad is None:
            assert ours.grad is None
        else:
            assert ours.grad is not None
            assert tuple(ours.grad.shape) == tuple(theirs.grad.shape)
            close(ours.grad, theirs.grad, rtol=1e-9, atol=1e-9)


# --- concurrent backward ------------------------------------------------------------------------------------------

def test_two_threads_backward_into_shared_leaves_lose_nothing():
    """Each thread runs many backward passes into the same leaves; .grad must hold every contribution."""
    import sys
    import threading
    w = ag.tensor(np.linspace(-1, 1, 64), requires_grad=True)
    b = ag.tensor(np.ones(64), requires_grad=True)
    rounds, errors = 500, []

    def work(scale):
        try:
            for _ in range(rounds):
                ((w * scale + b) * 2).sum().backward()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in (1.0, 3.0)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so that a race would show
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert not errors and not any(t.is_alive() for t in threads)
    close(w.grad, np.full(64, rounds * 2 * (1.0 + 3.0)))
    close(b.grad, np.full(64, rounds * 2 * 2.0))


def test_empty_outputs_and_inputs_as_torch():
    """No outputs: backward does nothing and grad gives None per input, as torch; no inputs: both refuse."""
    for lib in (ag, torch):
        x = lib.ones(2, requires_grad=True)
        assert lib.autograd.grad([], [x], allow_unused=True) == (None,) if lib is torch else \
            ag.grad([], [x], allow_unused=True) == (None,)
        (torch.autograd.backward if lib is torch else ag.backward)([])
        with pytest.raises(RuntimeError, match="empty"):
            (torch.autograd.grad if lib is torch else ag.grad)([x.sum()], [])
