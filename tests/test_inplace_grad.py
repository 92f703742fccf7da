"""Relu's backward masks the engine's own gradient buffer in place (issue 11: a buffer less at the backward
peak); wherever someone else may hold that gradient (a hook, retain_grad, autograd.grad, the debug switch
that keeps every buffer) it must make a new one, and every gradient must stay torch's."""

import numpy as np
import pytest
import torch

import autograd as ag
from autograd import engine
from autograd.ops import unary
from conftest import DEVICES, assert_close


def _graph(lib, x, w):
    """loss = sum(relu(x @ w) * 3): relu's incoming gradient is made by the mul's backward, for relu alone."""
    h = x @ w
    y = lib.relu(h)
    return h, y, (y * 3).sum()


def _inputs(lib, device=None):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((6, 5)), rng.standard_normal((5, 7))
    if lib is torch:
        return torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    return ag.tensor(x, requires_grad=True, device=device), ag.tensor(w, requires_grad=True, device=device)


@pytest.fixture
def in_place_calls(monkeypatch):
    """The in_place flag of every ThresholdBackward the backward runs."""
    calls = []
    apply = unary.ThresholdBackward.apply.__func__

    def spy(cls, *inputs, **attrs):
        calls.append(attrs.get("in_place", False))
        return apply(cls, *inputs, **attrs)
    monkeypatch.setattr(unary.ThresholdBackward, "apply", classmethod(spy))
    return calls


@pytest.mark.parametrize("device", DEVICES)
def test_plain_backward_masks_in_place_and_matches_torch(device, in_place_calls):
    x, w = _inputs(ag, device)
    _, _, loss = _graph(ag, x, w)
    loss.backward()
    tx, tw = _inputs(torch)
    _graph(torch, tx, tw)[2].backward()
    assert in_place_calls == [True]
    assert_close(x.grad, tx.grad)
    assert_close(w.grad, tw.grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seen_by", ["hook", "retain_grad", "autograd.grad", "release off"])
def test_a_gradient_someone_holds_is_not_written_over(device, seen_by, in_place_calls, monkeypatch):
    """The gradient reaching y is kept by a hook (returning None), by retain_grad or by autograd.grad: after
    backward it must still be torch's dL/dy (3 everywhere), not relu's masked dL/dh."""
    x, w = _inputs(ag, device)
    h, y, loss = _graph(ag, x, w)
    tx, tw = _inputs(torch)
    th, ty, tloss = _graph(torch, tx, tw)
    ty.retain_grad()
    seen = []
    if seen_by == "hook":
        y.register_hook(seen.append)
    elif seen_by == "retain_grad":
        y.retain_grad()
    elif seen_by == "release off":
        monkeypatch.setattr(engine, "early_release", False)
    if seen_by == "autograd.grad":
        seen.extend(ag.grad(loss, [y, h]))
        th_grad = torch.autograd.grad(tloss, [ty, th])
        assert_close(seen[1], th_grad[1])
        expected = th_grad[0]
    else:
        loss.backward()
        tloss.backward()
        expected = ty.grad
        assert_close(x.grad, tx.grad)
        if seen_by == "retain_grad":
            seen.append(y.grad)
    if seen:
        assert_close(seen[0], expected)
    assert in_place_calls == [False]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size", [1, 65536, 150001])
def test_in_place_kernel_masks_where_it_lies(device, size):
    """Below, at and across the NumPy kernel's 64K-element slices (the last one short): the result is the
    gradient's own memory, holding grad * (out > 0), and the gradient is torch's threshold_backward."""
    rng = np.random.default_rng(size)
    g = rng.standard_normal(size).astype(np.float32)
    out = np.maximum(rng.standard_normal(size), 0).astype(np.float32)
    expected = torch.ops.aten.threshold_backward(torch.tensor(g), torch.tensor(out), 0).numpy()
    grad = ag.tensor(g, device=device)
    result = unary.ThresholdBackward.apply(grad, ag.tensor(out, device=device), in_place=True)
    assert result._backend.xp.shares_memory(result.array, grad.array)
    assert_close(result, expected)
    assert_close(grad, expected)


@pytest.mark.parametrize("device", DEVICES)
def test_not_in_place_leaves_the_gradient_alone(device):
    g = np.arange(-3.0, 3.0).reshape(2, 3)
    grad, out = ag.tensor(g, device=device), ag.tensor(np.maximum(g[::-1], 0).copy(), device=device)
    strided = ag.tensor(np.maximum(g.T, 0), device=device).t()  # not contiguous: the whole-array path
    for o in (out, strided):
        result = unary.ThresholdBackward.apply(grad, o)
        assert not result._backend.xp.shares_memory(result.array, grad.array)
        assert_close(grad, g)
        assert_close(unary.ThresholdBackward.apply(grad.clone(), o, in_place=True), result)


@pytest.mark.parametrize("device", DEVICES)
def test_the_callers_gradient_is_never_written(device, in_place_calls):
    """backward(gradient=g) straight into relu: g is the caller's, so it is read, not masked."""
    x = ag.tensor(np.array([-1.0, 2.0, -3.0, 4.0]), requires_grad=True, device=device)
    g = ag.tensor(np.array([5.0, 6.0, 7.0, 8.0]), device=device)
    x.relu().backward(gradient=g)
    assert in_place_calls == [False]
    assert_close(g, np.array([5.0, 6.0, 7.0, 8.0]))
    assert_close(x.grad, np.array([0.0, 6.0, 0.0, 8.0]))


class _Keep(ag.Function):
    """Doubles the gradient and keeps what its backward returns, as a user's Function may."""
    kept = []

    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, g):
        out = g * 2
        _Keep.kept.append(out)
        return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("maker", ["Function", "node hook"])
def test_what_user_code_returns_is_never_written(device, maker, in_place_calls):
    """A gradient made by a user's Function backward, or returned by a node hook, flows straight into relu's
    backward: the user may still hold it, so relu must not mask it where it lies (torch never does)."""
    x = ag.tensor(np.array([-1.0, 2.0, -3.0, 4.0]), requires_grad=True, device=device)
    held = []
    if maker == "Function":
        _Keep.kept = held
        _Keep.apply(x.relu()).sum().backward()
    else:
        w = x.relu() * 3
        w.grad_fn.register_hook(lambda grad_inputs, grad_outputs: held.append(grad_inputs[0] * 2)
                                or (held[-1],) + tuple(grad_inputs[1:]))
        w.sum().backward()
    assert in_place_calls == [False]
    factor = 2.0 if maker == "Function" else 6.0
    assert_close(held[0], np.full(4, factor))
    assert_close(x.grad, np.array([0.0, factor, 0.0, factor]))
