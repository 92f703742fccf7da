"""The functional API against PyTorch: autograd.functional against torch.autograd.functional, autograd.func
against torch.func, on random inputs (float64), small MLP-like functions with several inputs and outputs.
Each test runs on the CPU and (marked cuda) on the CUDA device or the CuPy stand-in."""

import numpy as np
import pytest
import torch
import torch.autograd.functional as TF
import torch.func as tfunc

import autograd as ag
import autograd.func as func
import autograd.functional as AF
import nn
from conftest import DEVICES, assert_close, to_numpy

RTOL, ATOL = 1e-9, 1e-11


def pair(device, *shapes, seed=0):
    """The same random float64 data as ndgrad tensors (on ``device``) and as torch tensors."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    return tuple(ag.tensor(a, device=device) for a in arrays), tuple(torch.tensor(a) for a in arrays)


def same(actual, expected):
    """Same nested structure (tuples, lists, dicts) and close Tensors leaf by leaf."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected)
        for k in expected:
            same(actual[k], expected[k])
    elif isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected), (type(actual), len(expected))
        for a, e in zip(actual, expected):
            same(a, e)
    else:
        assert isinstance(actual, ag.Tensor), type(actual)
        assert_close(actual, expected, rtol=RTOL, atol=ATOL)


# the functions: written once, run with ag (ndgrad) or torch as ``m``
def mlp(m, x, w1, w2):          # one input vector, two weights -> a vector and a scalar
    h = m.tanh(w1 @ x)
    return m.sigmoid(w2 @ h), (h * h).sum()


def scalar_loss(m, x, w1, w2):
    out, reg = mlp(m, x, w1, w2)
    return (out * out).sum() + 0.1 * reg


SHAPES = ((3,), (4, 3), (2, 4))


def with_module(m, fn):
    return lambda *xs: fn(m, *xs)


# --- autograd.functional ---------------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("create_graph", [False, True])
def test_vjp_and_jvp(device, create_graph):
    xs, ts = pair(device, *SHAPES)
    (vo, vs), (tvo, tvs) = pair(device, (2,), (), seed=1)
    out, g = AF.vjp(with_module(ag, mlp), xs, (vo, vs), create_graph=create_graph)
    t_out, t_g = TF.vjp(with_module(torch, mlp), ts, (tvo, tvs), create_graph=create_graph)
    same(out, t_out)
    same(g, t_g)
    tangents, t_tangents = pair(device, *SHAPES, seed=2)
    out, jv = AF.jvp(with_module(ag, mlp), xs, tangents, create_graph=create_graph)
    t_out, t_jv = TF.jvp(with_module(torch, mlp), ts, t_tangents, create_graph=create_graph)
    same(out, t_out)
    same(jv, t_jv)
    assert all(r.requires_grad == create_graph for r in jv)


def test_create_graph_gives_second_order():
    """With create_graph=True the vjp is differentiable w.r.t. inputs that require grad: a second derivative."""
    (x,), (tx,) = pair("cpu", (3,))
    x.requires_grad_(), tx.requires_grad_()
    _, g = AF.vjp(lambda a: (a.sin() * a).sum(), x, create_graph=True)
    _, tg = TF.vjp(lambda a: (a.sin() * a).sum(), tx, create_graph=True)
    (h,), (th,) = ag.grad(g.sum(), [x]), torch.autograd.grad(tg.sum(), [tx])
    assert_close(h, th, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("strategy,vectorize", [("reverse-mode", False), ("reverse-mode", True),
                                                ("forward-mode", True)])
def test_jacobian(device, strategy, vectorize):
    xs, ts = pair(device, *SHAPES)
    same(AF.jacobian(with_module(ag, mlp), xs, vectorize=vectorize, strategy=strategy),
         TF.jacobian(with_module(torch, mlp), ts, vectorize=vectorize, strategy=strategy))
    # one input, one output: a plain Tensor out.shape + in.shape
    f = lambda m: lambda a: m.tanh(a) * a.sum()  # noqa: E731
    same(AF.jacobian(f(ag), xs[1], vectorize=vectorize, strategy=strategy),
         TF.jacobian(f(torch), ts[1], vectorize=vectorize, strategy=strategy))


@pytest.mark.parametrize("device", DEVICES)
def test_hessian_hvp_vhp(device):
    xs, ts = pair(device, *SHAPES)
    vs, t_vs = pair(device, *SHAPES, seed=3)
    same(AF.hessian(with_module(ag, scalar_loss), xs), TF.hessian(with_module(torch, scalar_loss), ts))
    same(AF.hessian(with_module(ag, scalar_loss), xs, vectorize=True, outer_jacobian_strategy="forward-mode"),
         TF.hessian(with_module(torch, scalar_loss), ts, vectorize=True, outer_jacobian_strategy="forward-mode"))
    for ours, theirs in ((AF.hvp, TF.hvp), (AF.vhp, TF.vhp)):
        out, p = ours(with_module(ag, scalar_loss), xs, vs)
        t_out, t_p = theirs(with_module(torch, scalar_loss), ts, t_vs)
        same(out, t_out)
        same(p, t_p)


UNUSED = {  # name: (function of (a, b) with b unused, extra arguments given by shapes)
    "vjp": (lambda m: lambda a, b: a.exp(), {"v": (3,)}),
    "jvp": (lambda m: lambda a, b: a.exp(), {"v": ((3,), (2,))}),
    "jacobian": (lambda m: lambda a, b: a.exp(), {}),
    "hvp": (lambda m: lambda a, b: a.exp().sum(), {"v": ((3,), (2,))}),
    "vhp": (lambda m: lambda a, b: a.exp().sum(), {"v": ((3,), (2,))}),
    "hessian": (lambda m: lambda a, b: a.exp().sum(), {}),
}


@pytest.mark.parametrize("name", list(UNUSED))
def test_strict_and_unused_inputs(name):
    """An output independent of an input: zeros by default, PyTorch's refusal with strict=True; an output that
    does not require grad at all: refused in strict mode too."""
    make, extra = UNUSED[name]
    xs, ts = pair("cpu", (3,), (2,))
    kwargs, t_kwargs = {}, {}
    for key, shapes in extra.items():
        ours, theirs = pair("cpu", *(shapes if isinstance(shapes[0], tuple) else (shapes,)), seed=11)
        kwargs[key], t_kwargs[key] = (ours, theirs) if isinstance(shapes[0], tuple) else (ours[0], theirs[0])
    ours, theirs = getattr(AF, name), getattr(TF, name)
    same(ours(make(ag), xs, **kwargs), theirs(make(torch), ts, **t_kwargs))
    with pytest.raises(RuntimeError, match=r"input 1\b.*strict mode"):
        theirs(make(torch), ts, strict=True, **t_kwargs)
    with pytest.raises(RuntimeError, match=r"input 1\b.*strict mode"):
        ours(make(ag), xs, strict=True, **kwargs)
    if name in ("vjp", "jvp", "jacobian"):
        constant = lambda m: lambda a, b: m.ones(3, dtype=a.dtype)  # noqa: E731
        same(ours(constant(ag), xs, **kwargs), theirs(constant(torch), ts, **t_kwargs))
        with pytest.raises(RuntimeError, match="does not require gradients"):
            theirs(constant(torch), ts, strict=True, **t_kwargs)
        with pytest.raises(RuntimeError, match="does not require gradients"):
            ours(constant(ag), xs, strict=True, **kwargs)


def test_refusals_match_pytorch():
    (x,), (tx,) = pair("cpu", (3,))
    with pytest.raises(RuntimeError, match="v can only be None"):
        TF.vjp(lambda a: a * 2, tx)
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.vjp(lambda a: a * 2, x)
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        TF.jacobian(lambda a: a * 2, tx, strategy="forward-mode")
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        AF.jacobian(lambda a: a * 2, x, strategy="forward-mode")
    with pytest.raises(RuntimeError, match="not supported together"):
        TF.jacobian(lambda a: a * 2, tx, strict=True, vectorize=True)
    with pytest.raises(RuntimeError, match="not supported together"):
        AF.jacobian(lambda a: a * 2, x, strict=True, vectorize=True)
    with pytest.raises(RuntimeError, match="single element"):
        TF.hessian(lambda a: a * 2, tx)
    with pytest.raises(RuntimeError, match="single element"):
        AF.hessian(lambda a: a * 2, x)
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        TF.vjp(lambda a: 3.0, tx)
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        AF.vjp(lambda a: 3.0, x)


# --- autograd.func (torch.func) --------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("argnums", [0, 1, (0, 2), (2, 1, 0)])
def test_grad_and_value_argnums(device, argnums):
    xs, ts = pair(device, *SHAPES)
    g, v = func.grad_and_value(with_module(ag, scalar_loss), argnums=argnums)(*xs)
    tg, tv = tfunc.grad_and_value(with_module(torch, scalar_loss), argnums=argnums)(*ts)
    same(g, tg)
    same(v, tv)
    same(func.grad(with_module(ag, scalar_loss), argnums=argnums)(*xs), tg)
    assert not v.requires_grad and not any(t.requires_grad for t in (g if isinstance(g, tuple) else (g,)))


def test_grad_has_aux_and_pytrees():
    xs, ts = pair("cpu", *SHAPES)

    def f(m):
        def loss(params, x):
            out, reg = mlp(m, x, params["w1"], params["w2"])
            return out.sum() + reg, {"out": out}
        return loss
    (g, aux) = func.grad(f(ag), has_aux=True)({"w1": xs[1], "w2": xs[2]}, xs[0])
    (tg, t_aux) = tfunc.grad(f(torch), has_aux=True)({"w1": ts[1], "w2": ts[2]}, ts[0])
    same(g, tg)
    same(aux, t_aux)
    with pytest.raises(RuntimeError, match="scalar"):
        tfunc.grad(lambda a: a * 2)(ts[0])
    with pytest.raises(RuntimeError, match="scalar"):
        func.grad(lambda a: a * 2)(xs[0])
    with pytest.raises(RuntimeError, match="tuple"):
        tfunc.grad(lambda a: a.sum(), has_aux=True)(ts[0])
    with pytest.raises(RuntimeError, match="tuple"):
        func.grad(lambda a: a.sum(), has_aux=True)(xs[0])


def test_nested_grad_higher_order():
    """grad(grad(f)) and a closure over the outer variable, as torch.func composes them."""
    (x, y), (tx, ty) = pair("cpu", (), ())
    f = lambda a: a.sin() * a ** 3  # noqa: E731
    same(func.grad(func.grad(f))(x), tfunc.grad(tfunc.grad(f))(tx))
    outer = lambda g: lambda b: g(lambda a: (a * b).sin())(x if g is func.grad else tx)  # noqa: E731
    same(func.grad(outer(func.grad))(y), tfunc.grad(outer(tfunc.grad))(ty))


@pytest.mark.parametrize("device", DEVICES)
def test_vjp_jvp(device):
    xs, ts = pair(device, *SHAPES)
    out, fn = func.vjp(with_module(ag, mlp), *xs)
    t_out, t_fn = tfunc.vjp(with_module(torch, mlp), *ts)
    same(out, t_out)
    cots, t_cots = pair(device, (2,), (), seed=4)
    for _ in range(2):  # callable again
        same(fn(cots), t_fn(t_cots))
    tangents, t_tangents = pair(device, *SHAPES, seed=5)
    same(func.jvp(with_module(ag, mlp), xs, tangents), tfunc.jvp(with_module(torch, mlp), ts, t_tangents))
    with pytest.raises(RuntimeError, match="primals to be a tuple"):
        tfunc.jvp(torch.sin, ts[0], ts[0])
    with pytest.raises(RuntimeError, match="primals to be a tuple"):
        func.jvp(ag.sin, xs[0], xs[0])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("argnums", [0, (0, 1)])
def test_jacrev_jacfwd_hessian(device, argnums):
    xs, ts = pair(device, *SHAPES)
    for ours, theirs in ((func.jacrev, tfunc.jacrev), (func.jacfwd, tfunc.jacfwd)):
        same(ours(with_module(ag, mlp), argnums=argnums)(*xs), theirs(with_module(torch, mlp), argnums=argnums)(*ts))
    same(func.hessian(with_module(ag, scalar_loss), argnums=argnums)(*xs),
         tfunc.hessian(with_module(torch, scalar_loss), argnums=argnums)(*ts))
    aux_f = lambda m: lambda *a: (mlp(m, *a)[0], a[0].cos())  # noqa: E731
    same(func.jacrev(aux_f(ag), argnums, has_aux=True)(*xs), tfunc.jacrev(aux_f(torch), argnums, has_aux=True)(*ts))


def tiny(lib, module_base, tensor):
    """A small module class (two linear layers and a buffer) built on ndgrad's or torch's nn."""
    class Tiny(module_base):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = lib.Linear(3, 4), lib.Linear(4, 2)
            self.register_buffer("scale", tensor(2.0))

        def forward(self, x):
            return self.fc2(self.fc1(x).tanh()) * self.scale
    return Tiny().double()


def test_functional_call():
    ours, theirs = tiny(nn, nn.Module, ag.tensor), tiny(torch.nn, torch.nn.Module, torch.tensor)
    names = [n for n, _ in theirs.named_parameters()] + ["scale"]
    rng = np.random.default_rng(6)
    values = {n: rng.standard_normal(tuple(dict(theirs.state_dict())[n].shape)) for n in names}
    (x,), (tx,) = pair("cpu", (5, 3), seed=7)
    own = {n: rng.standard_normal(v.shape) for n, v in values.items()}  # the modules' own state: the same in both
    ours.load_state_dict({n: ag.tensor(v) for n, v in own.items()})
    theirs.load_state_dict({n: torch.tensor(v) for n, v in own.items()})
    params = {n: ag.tensor(v) for n, v in values.items()}
    t_params = {n: torch.tensor(v) for n, v in values.items()}
    before = {n: to_numpy(t) for n, t in ours.state_dict().items()}
    same(func.functional_call(ours, params, x), tfunc.functional_call(theirs, t_params, tx))
    same(func.functional_call(ours, ({"fc1.weight": params["fc1.weight"]},), (x,)),
         tfunc.functional_call(theirs, ({"fc1.weight": t_params["fc1.weight"]},), (tx,)))
    # gradients w.r.t. the swapped-in tensors (the per-sample-gradient building block)
    loss = lambda lib, call, m: lambda p, a: (call(m, p, (a,)) ** 2).sum()  # noqa: E731
    same(func.grad(loss(ag, func.functional_call, ours))(params, x),
         tfunc.grad(loss(torch, tfunc.functional_call, theirs))(t_params, tx))
    assert all(np.array_equal(to_numpy(t), before[n]) for n, t in ours.state_dict().items())
    assert isinstance(ours.fc1.weight, nn.Parameter)
    with pytest.raises(RuntimeError):  # a failing call: the module is put back all the same
        func.functional_call(ours, {"fc1.weight": ag.zeros(7, 7, dtype=ag.float64)}, x)
    assert isinstance(ours.fc1.weight, nn.Parameter) and tuple(ours.fc1.weight.shape) == (4, 3)
    with pytest.raises(RuntimeError, match="(?i)unexpected key"):
        tfunc.functional_call(theirs, {**t_params, "nope": tx}, tx, strict=True)
    with pytest.raises(RuntimeError, match="(?i)unexpected key"):
        func.functional_call(ours, {**params, "nope": x}, x, strict=True)


@pytest.mark.parametrize("device", DEVICES)
def test_vmap_dims_and_nesting(device):
    (a, b, c), (ta, tb, tc) = pair(device, (3, 4), (4, 3), (4,))
    f = lambda m: lambda x, y, z: (m.tanh(x * y) + z, (x * z).sum())  # noqa: E731
    same(func.vmap(f(ag), in_dims=(0, 1, None))(a, b, c), tfunc.vmap(f(torch), in_dims=(0, 1, None))(ta, tb, tc))
    same(func.vmap(f(ag), in_dims=(1, 0, 0), out_dims=(1, 0))(a, b, c),
         tfunc.vmap(f(torch), in_dims=(1, 0, 0), out_dims=(1, 0))(ta, tb, tc))
    # nested: an outer product of dots, mapped twice; and a tuple nested in the inputs
    dot = lambda m: lambda x, y: (x * y).sum()  # noqa: E731
    same(func.vmap(func.vmap(dot(ag), in_dims=(None, 0)), in_dims=(0, None))(a, b.T),
         tfunc.vmap(tfunc.vmap(dot(torch), in_dims=(None, 0)), in_dims=(0, None))(ta, tb.T))
    g = lambda pr: pr[0] * pr[1]  # noqa: E731
    same(func.vmap(g, in_dims=((0, None),))((a, c)), tfunc.vmap(g, in_dims=((0, None),))((ta, tc)))
    # negative dims, a dict output with per-key out_dims, an unmapped output, keyword arguments (never mapped)
    h = lambda x, z, scale=1.0: ({"p": x * z * scale, "q": x.sum()}, z * 2)  # noqa: E731
    same(func.vmap(h, in_dims=(-1, None), out_dims=({"p": -1, "q": 0}, None))(b, c, scale=3.0),
         tfunc.vmap(h, in_dims=(-1, None), out_dims=({"p": -1, "q": 0}, None))(tb, tc, scale=3.0))
    with pytest.raises(ValueError, match="same size in the mapped dimension"):
        tfunc.vmap(f(torch))(ta, tb, tc)
    with pytest.raises(ValueError, match="same size in the mapped dimension"):
        func.vmap(f(ag))(a, b, c)


def test_vmap_randomness():
    (x,), _ = pair("cpu", (3, 2))
    noisy = lambda t: t + ag.randn(2, dtype=ag.float64)  # noqa: E731
    with pytest.raises(RuntimeError, match="randomness"):
        tfunc.vmap(lambda t: t + torch.randn(2, dtype=torch.float64))(torch.zeros(3, 2))
    with pytest.raises(RuntimeError, match="randomness"):
        func.vmap(noisy)(x)
    same_out = func.vmap(noisy, randomness="same")(x) - x
    assert np.allclose(to_numpy(same_out), to_numpy(same_out[0]))
    different = func.vmap(noisy, randomness="different")(x) - x
    assert not np.allclose(to_numpy(different), to_numpy(different[0]))


@pytest.mark.parametrize("device", DEVICES)
def test_per_sample_gradients(device):
    """vmap(grad(loss)) of a linear model's loss, against torch.func's per-sample gradients."""
    (w, bias, xs, ys), (tw, tb, txs, tys) = pair(device, (2, 3), (2,), (5, 3), (5, 2), seed=8)

    def loss(m):
        def per_sample(params, x, y):
            pred = m.tanh(params["w"] @ x + params["b"])
            return ((pred - y) ** 2).mean()
        return per_sample
    ours = func.vmap(func.grad(loss(ag)), in_dims=(None, 0, 0))({"w": w, "b": bias}, xs, ys)
    theirs = tfunc.vmap(tfunc.grad(loss(torch)), in_dims=(None, 0, 0))({"w": tw, "b": tb}, txs, tys)
    same(ours, theirs)
    assert ours["w"].shape == (5, 2, 3)


def test_transforms_compose_through_vmap_and_create_graph():
    """grad of a vmapped function, jacrev of a vmapped one, and a create_graph Jacobian differentiated again."""
    (w, xs), (tw, txs) = pair("cpu", (3,), (4, 3), seed=9)
    per_row = lambda m: lambda v, x: m.tanh((v * x).sum())  # noqa: E731
    outer = lambda lib, m: lambda v: lib.vmap(per_row(m), in_dims=(None, 0))(v, xs if m is ag else txs)  # noqa: E731
    same(func.grad(lambda v: outer(func, ag)(v).pow(2).sum())(w),
         tfunc.grad(lambda v: outer(tfunc, torch)(v).pow(2).sum())(tw))
    same(func.jacrev(outer(func, ag))(w), tfunc.jacrev(outer(tfunc, torch))(tw))
    x, tx = w.detach().requires_grad_(), tw.detach().requires_grad_()
    jac = AF.jacobian(lambda a: a.sin() * a.sum(), x, create_graph=True)
    t_jac = TF.jacobian(lambda a: a.sin() * a.sum(), tx, create_graph=True)
    same(ag.grad((jac ** 2).sum(), [x]), torch.autograd.grad((t_jac ** 2).sum(), [tx]))


def test_functional_call_tied_weights():
    """Two Linears sharing one weight Parameter: replacing one name replaces both unless tie_weights=False."""
    (w0, w, x), (tw0, tw, tx) = pair("cpu", (3, 3), (3, 3), (2, 3), seed=10)

    def build(lib, weight):
        first, second = lib.Linear(3, 3, bias=False).double(), lib.Linear(3, 3, bias=False).double()
        first.weight = lib.Parameter(weight)
        second.weight = first.weight
        return lib.Sequential(first, lib.Tanh(), second)
    ours, theirs = build(nn, w0), build(torch.nn, tw0)
    same(func.functional_call(ours, {"0.weight": w}, (x,)), tfunc.functional_call(theirs, {"0.weight": tw}, (tx,)))
    same(func.functional_call(ours, {"0.weight": w}, (x,), tie_weights=False),
         tfunc.functional_call(theirs, {"0.weight": tw}, (tx,), tie_weights=False))  # '2.weight' stays w0
    with pytest.raises(ValueError, match="tied"):
        tfunc.functional_call(theirs, {"0.weight": tw, "2.weight": tw * 2}, (tx,))
    with pytest.raises(ValueError, match="tied"):
        func.functional_call(ours, {"0.weight": w, "2.weight": w * 2}, (x,))


def test_func_refusals_match_pytorch():
    (x,), (tx,) = pair("cpu", (2,))
    with pytest.raises(RuntimeError, match="independent of the inputs"):
        tfunc.jvp(lambda a: torch.ones(2), (tx,), (tx,), strict=True)
    with pytest.raises(RuntimeError, match="independent of the inputs"):
        func.jvp(lambda a: ag.ones(2), (x,), (x,), strict=True)
    with pytest.raises(ValueError, match="in_dims"):
        tfunc.vmap(torch.sin, in_dims=None)(tx)
    with pytest.raises(ValueError, match="in_dims"):
        func.vmap(ag.sin, in_dims=None)(x)
    with pytest.raises(ValueError, match="in_dim=2"):
        tfunc.vmap(torch.sin, in_dims=2)(tx)
    with pytest.raises(ValueError, match="in_dim=2"):
        func.vmap(ag.sin, in_dims=2)(x)


def test_forward_mode_goes_through_one_switch(monkeypatch):
    """jvp, jacfwd and the forward-mode Jacobian all call functional.linearize, the line that moves to
    forward-mode AD later: a replacement there is what they use."""
    calls = []
    original = AF.linearize

    def counting(call, inputs, create_graph):
        calls.append(len(inputs))
        return original(call, inputs, create_graph)
    monkeypatch.setattr(AF, "linearize", counting)
    (x,), _ = pair("cpu", (3,))
    AF.jvp(ag.sin, x, x)
    AF.jacobian(ag.sin, x, vectorize=True, strategy="forward-mode")
    func.jvp(ag.sin, (x,), (x,))
    func.jacfwd(ag.sin)(x)
    assert calls == [1, 1, 1, 1]
