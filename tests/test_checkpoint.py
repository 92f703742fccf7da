"""autograd.utils.checkpoint: gradients as torch.utils.checkpoint's and as the plain run's, less memory."""

import gc
import tracemalloc
import warnings

import numpy as np
import pytest

import autograd as ag
import nn
from autograd.utils.checkpoint import checkpoint, checkpoint_sequential
from conftest import DEVICES, assert_close, to_torch

torch = pytest.importorskip("torch")


def _mlp(depth, width, dropout=0.0):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()] + ([nn.Dropout(dropout)] if dropout else [])
    return nn.Sequential(*layers).double()


def _torch_copy(model):
    layers = []
    for m in model:
        if isinstance(m, nn.Linear):
            lin = torch.nn.Linear(m.in_features, m.out_features).double()
            with torch.no_grad():
                lin.weight.copy_(to_torch(m.weight)); lin.bias.copy_(to_torch(m.bias))
            layers.append(lin)
        else:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("segments", [1, 2, 3])
def test_checkpoint_sequential_matches_torch(segments):
    ag.manual_seed(0)
    model = _mlp(6, 5)
    tmodel = _torch_copy(model)
    xs = np.random.default_rng(0).standard_normal((4, 5))
    x, tx = ag.tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
    out = checkpoint_sequential(model, segments, x, use_reentrant=False)
    tout = torch.utils.checkpoint.checkpoint_sequential(tmodel, segments, tx, use_reentrant=False)
    (out ** 2).sum().backward()
    (tout ** 2).sum().backward()
    assert_close(out, tout.detach(), rtol=1e-12)
    assert_close(x.grad, tx.grad, rtol=1e-10)
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        assert_close(p.grad, tp.grad, rtol=1e-10)


def test_checkpoint_tuple_outputs_kwargs_and_grad_wrt_params():
    """Several outputs, keyword arguments, a non-tensor argument; autograd.grad reaches the parameters."""
    rng = np.random.default_rng(1)
    ws, xs = rng.standard_normal((3, 3)), rng.standard_normal((2, 3))

    def fn(lib, w):
        def f(x, k, scale=1.0):
            h = (x @ w).sin() * scale
            return h * k, h.exp().sum()
        return f

    w, x = ag.tensor(ws, requires_grad=True), ag.tensor(xs, requires_grad=True)
    tw, tx = torch.tensor(ws, requires_grad=True), torch.tensor(xs, requires_grad=True)
    a, b = checkpoint(fn(ag, w), x, 3, use_reentrant=False, scale=0.5)
    ta, tb = torch.utils.checkpoint.checkpoint(fn(torch, tw), tx, 3, use_reentrant=False, scale=0.5)
    gw, gx = ag.grad(a.sum() + b, [w, x])
    tgw, tgx = torch.autograd.grad(ta.sum() + tb, [tw, tx])
    assert_close(gw, tgw, rtol=1e-10)
    assert_close(gx, tgx, rtol=1e-10)


def test_checkpoint_double_backward_matches_torch():
    xs = np.random.default_rng(2).standard_normal(4)
    x, tx = ag.tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
    y = checkpoint(lambda v: (v.sin() * v).sum(), x, use_reentrant=False)
    ty = torch.utils.checkpoint.checkpoint(lambda v: (v.sin() * v).sum(), tx, use_reentrant=False)
    g, = ag.grad(y, x, create_graph=True)
    tg, = torch.autograd.grad(ty, tx, create_graph=True)
    gg, = ag.grad(g.sum(), x)
    tgg, = torch.autograd.grad(tg.sum(), tx)
    assert_close(g.detach(), tg.detach(), rtol=1e-12)
    assert_close(gg, tgg, rtol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_dropout_gradients_identical_to_plain_run(device):
    """The recomputation draws the same dropout masks: the RNG state of the inputs' device is restored."""
    ag.manual_seed(0)
    model = _mlp(4, 6, dropout=0.4).to(device)
    xs = np.random.default_rng(3).standard_normal((5, 6))
    grads = []
    for run in (lambda x: model(x), lambda x: checkpoint_sequential(model, 2, x, use_reentrant=False)):
        model.zero_grad()
        x = ag.tensor(xs, device=device, requires_grad=True)
        ag.manual_seed(7)
        if device != "cpu":
            ag.cuda.manual_seed(7)
        out = run(x)
        (out * out).sum().backward()
        after = ag.rand(3, device=device)  # the generator moved on exactly as in the plain run
        grads.append([out.detach(), x.grad, after] + [p.grad for p in model.parameters()])
    for plain, ck in zip(*grads):
        assert_close(ck, plain, rtol=0, atol=0)


def test_no_input_requiring_grad_still_reaches_parameters():
    lin = nn.Linear(3, 2).double()
    x = ag.tensor(np.ones((2, 3)))
    checkpoint(lin, x, use_reentrant=False).sum().backward()
    assert_close(lin.bias.grad, np.full(2, 2.0))  # d/db sum(xW^T + b) = batch size, exactly


def test_use_reentrant_must_be_passed_as_in_torch():
    x = ag.tensor(np.ones(2), requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant"):
        checkpoint(lambda v: v * 2, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checkpoint(lambda v: v * 2, x, use_reentrant=False)
    with pytest.raises(ValueError, match="nexpected keyword"):
        checkpoint_sequential([lambda v: v], 1, x, use_reentrant=False, bogus=1)
    for lib, run in ((ag, checkpoint), (torch, torch.utils.checkpoint.checkpoint)):
        v = lib.ones(2, requires_grad=True)
        with pytest.raises(ValueError, match="nexpected keyword"):  # the reentrant variant passes on no kwargs
            run(lambda t, scale: t * scale, v, use_reentrant=True, scale=2.0)
    with ag.no_grad():  # nothing recorded: fn just runs
        assert checkpoint(lambda v: v * 2, x, use_reentrant=False).grad_fn is None


def _peak(model, x, segments):
    gc.collect()
    tracemalloc.start()
    try:
        out = model(x) if segments is None else checkpoint_sequential(model, segments, x, use_reentrant=False)
        out.sum().backward()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_checkpointed_peak_memory_is_lower_on_a_deep_mlp():
    ag.manual_seed(0)
    model = _mlp(16, 64)
    x = ag.tensor(np.random.default_rng(4).standard_normal((256, 64)), requires_grad=True)
    plain = _peak(model, x, None)
    model.zero_grad(); x.grad = None
    checkpointed = _peak(model, x, 8)
    assert checkpointed < 0.85 * plain, (checkpointed, plain)


def test_nested_checkpoints_give_the_plain_gradients():
    rng = np.random.default_rng(5)
    xs, ws = rng.standard_normal((3, 4)), rng.standard_normal((4, 4))
    w = ag.tensor(ws, requires_grad=True)
    tw = torch.tensor(ws, requires_grad=True)

    def inner(v):
        return (v @ (w if isinstance(v, ag.Tensor) else tw)).tanh()

    x, tx = ag.tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
    checkpoint(lambda v: checkpoint(inner, v * 2, use_reentrant=False).sin(), x, use_reentrant=False).sum().backward()
    ((tx * 2) @ tw).tanh().sin().sum().backward()
    assert_close(x.grad, tx.grad, rtol=1e-12)
    assert_close(w.grad, tw.grad, rtol=1e-12)


def test_changing_a_saved_input_in_place_is_refused_as_in_torch():
    xs = np.ones((2, 3))
    for lib in (ag, torch):
        x = lib.tensor(xs, requires_grad=True)
        a = x * 1
        run = checkpoint if lib is ag else torch.utils.checkpoint.checkpoint
        out = run(lambda v: v.exp(), a, use_reentrant=False)
        a.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an in-?place operation"):
            out.sum().backward()


class _UncopyableGenerator:
    """A generator whose state cannot be copied, as cuRAND's on a GPU."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __deepcopy__(self, memo):
        raise TypeError("cannot copy this generator")


@pytest.mark.parametrize("preserve", [True, False])
def test_a_generator_that_cannot_be_copied_still_gives_the_recomputation_the_same_mask(monkeypatch, preserve):
    import nn.functional as F
    from backends import get_backend
    cpu = get_backend("cpu")
    ag.manual_seed(0)
    wrapped = _UncopyableGenerator(cpu.generator)
    monkeypatch.setattr(cpu, "generator", wrapped)
    x = ag.tensor(np.random.default_rng(6).uniform(1, 2, 64), requires_grad=True)
    out = checkpoint(lambda v: F.dropout(v, 0.5, training=True) * v, x, use_reentrant=False,
                     preserve_rng_state=preserve)
    out.sum().backward()
    assert cpu.generator is wrapped  # put back after the first run and after the recomputation
    consistent = np.allclose(x.grad.numpy(), 2 * out.detach().numpy() / x.detach().numpy())  # d(m v^2)/dv = 2 m v
    assert consistent == preserve  # without the state the recomputation draws another mask
