"""0-d tensors made by ops (reductions, integer indexing, arithmetic on 0-d tensors) are real
0-d arrays: every in-place method works on them as in PyTorch, and optimizers update 0-d
parameters in place."""

import numpy as np
import pytest
import torch

import autograd as ag
import nn
import optim
from conftest import assert_close

MAKERS = {
    "sum": lambda lib, x: x.sum(),
    "index": lambda lib, x: x[1],
    "index_2d": lambda lib, x: x.reshape(3, 1)[2, 0],
    "mul_0d": lambda lib, x: (lib.tensor(2.0, dtype=x.dtype) if lib is torch else ag.tensor(2.0, dtype=x.dtype)) * 3,
    "max": lambda lib, x: x.max(),
    "mean": lambda lib, x: x.mean(),
    "exp_0d": lambda lib, x: x.sum().exp(),
}

UPDATES = {
    "add_": lambda t: t.add_(1.5), "sub_": lambda t: t.sub_(0.5, alpha=2), "mul_": lambda t: t.mul_(3),
    "div_": lambda t: t.div_(4), "zero_": lambda t: t.zero_(), "fill_": lambda t: t.fill_(7),
    "copy_": lambda t: t.copy_(t * 0 + 2), "iadd": lambda t: t.__iadd__(1), "isub": lambda t: t.__isub__(1),
    "imul": lambda t: t.__imul__(2), "idiv": lambda t: t.__itruediv__(2),
    "setitem": lambda t: t.__setitem__((), 3.0), "setitem_ellipsis": lambda t: t.__setitem__(Ellipsis, 4.0),
}


def data(lib):
    values = np.array([0.5, -1.0, 2.0])
    return torch.tensor(values) if lib is torch else ag.tensor(values)


@pytest.mark.parametrize("update", sorted(UPDATES))
@pytest.mark.parametrize("maker", sorted(MAKERS))
def test_in_place_methods_on_op_made_0d_tensors(maker, update):
    results = []
    for lib in (ag, torch):
        x = data(lib)
        v = MAKERS[maker](lib, x)
        out = UPDATES[update](v)
        assert out is v or update.startswith("setitem")
        results.append((v, x))
    (v, x), (tv, tx) = results
    assert type(v.array) is np.ndarray and v.shape == ()
    assert_close(v, tv)
    assert_close(x, tx)      # an integer index is a view: the write reaches the base


def test_running_total_of_detached_losses():
    total, ttotal = 0.0, 0.0
    for step in range(3):
        loss = (ag.tensor([1.0, 2.0]) * step).sum()
        tloss = (torch.tensor([1.0, 2.0]) * step).sum()
        total += loss.detach()
        ttotal += tloss.detach()
    assert_close(total, ttotal, check_dtype=False)


@pytest.mark.parametrize("fn", ["sigmoid", "exp", "relu", "tanh", "log", "sqrt", "abs", "neg"])
def test_unary_ops_on_0d(fn):
    for dtype in (np.float32, np.float64):
        x = ag.tensor(np.array(0.7, dtype), requires_grad=True)
        tx = torch.tensor(np.array(0.7, dtype), requires_grad=True)
        y, ty = getattr(x, fn)(), getattr(tx, fn)()
        y.backward()
        ty.backward()
        assert type(y.array) is np.ndarray and type(x.grad.array) is np.ndarray
        assert_close(y, ty, rtol=1e-6)
        assert_close(x.grad, tx.grad, rtol=1e-6)


@pytest.mark.parametrize("fn", ["argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, -1])
def test_argmax_of_0d(fn, dim):
    x, tx = ag.tensor(3.0), torch.tensor(3.0)
    got = getattr(x, fn)() if dim is None else getattr(x, fn)(dim=dim)
    expected = getattr(tx, fn)() if dim is None else getattr(tx, fn)(dim=dim)
    assert_close(got, expected)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
@pytest.mark.parametrize("origin", ["op_made", "data_assigned"])
def test_optimizers_update_0d_parameters(name, origin):
    """An op-made 0-d parameter (nn.Parameter(randn(()) * 0.1), or p.data = p.clamp(...)) moves."""
    kwargs = {"lr": 0.1, "momentum": 0.9} if name == "SGD" else {"lr": 0.1}
    histories = []
    for lib_nn, lib_optim, lib in ((nn, optim, ag), (torch.nn, torch.optim, torch)):
        start = lib.tensor(0.3, dtype=lib.float64)
        p = lib_nn.Parameter(start * 1.0)
        if origin == "data_assigned":
            p.data = p.detach().clamp(-1.0, 1.0)
        opt = getattr(lib_optim, name)([p], **kwargs)
        history = []
        for _ in range(4):
            opt.zero_grad()
            ((p - 1.0) ** 2).backward()
            opt.step()
            history.append(float(p.detach()))
        histories.append(history)
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-12)
    assert histories[0][0] != 0.3


def test_zero_grad_on_a_0d_parameter_gradient():
    p = nn.Parameter(ag.randn(()) * 0.1)
    (p * 3).backward()
    p.grad.zero_()
    assert float(p.grad) == 0.0
