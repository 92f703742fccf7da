"""vmap's batching rules (autograd._vmap) against torch.func.vmap: random float64 inputs, functions built
from the ops that have rules (each must run f once, on the batch), ops that go through the per-sample
fallback, and the cases where vmap reruns f as a loop. Each device test also runs on the CUDA stand-in."""

import numpy as np
import pytest
import torch
import torch.func as tfunc

import autograd as ag
import autograd.func as func
from autograd import _vmap
from autograd.ops import scans, unary
from conftest import DEVICES, assert_close

RTOL, ATOL = 1e-9, 1e-11


def pair(device, *shapes, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    return tuple(ag.tensor(a, device=device) for a in arrays), tuple(torch.tensor(a) for a in arrays)


def same(actual, expected):
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected)
        for a, e in zip(actual, expected):
            same(a, e)
    else:
        assert type(actual) is ag.Tensor, type(actual)  # no per-sample stand-in leaks out
        assert_close(actual, expected, rtol=RTOL, atol=ATOL)


def counted(f):
    """f, and a list that grows by one per call: 1 call means vmap batched it, more means the loop ran."""
    calls = []

    def wrapper(*args):
        calls.append(1)
        return f(*args)
    return wrapper, calls


# each case: (f(m) with m the module, autograd or torch; the per-sample input shapes as mapped; in_dims; out_dims)
CASES = {
    "elementwise, broadcasting against an unbatched operand": (
        lambda m: lambda x, y, z: (m.tanh(x) * y + z).exp() / (1 + x.abs()) - m.maximum(x, z).sigmoid() ** 2,
        [(5, 3, 4), (5, 4), (2, 1, 4)], (0, 0, None), 0),
    "elementwise, batch dim elsewhere and out_dims": (
        lambda m: lambda x, y: (m.where(x > 0, x, y.cos()).clamp(-0.5, 0.7), m.sqrt(x * x + 1).log() - y.sin()),
        [(3, 5), (3,)], (1, None), (1, -1)),
    "reductions, negative dims and keepdim": (
        lambda m: lambda x: (x.sum(-1).unsqueeze(-1) + x.mean(0) * x.amax(-2).sum() - x.amin(dim=(0, 1)),
                             x.logsumexp(-1, keepdim=True) * x.sum(-2, keepdim=True),
                             x.max(-1).values - x.min(0).values.sum()),
        [(4, 2, 3)], 0, 0),
    "softmax, log_softmax": (
        lambda m: lambda x: x.softmax(0) + x.log_softmax(-1) * x.softmax(1).sum(-1, keepdim=True),
        [(2, 3, 4)], 2, 0),
    "matmul, 1-d and broadcast batch dims, linear": (
        lambda m: lambda v, a, b, w: ((v @ a) @ (a.T @ v), b @ a, a @ (v @ a), v @ v,
                                      m.nn.functional.linear(a, w) if m is torch else ag.linear(a, w)),
        [(4, 3), (4, 3, 2), (2, 5, 3), (6, 2)], (0, 0, None, None), 0),
    "shape ops": (
        lambda m: lambda x: (x.transpose(0, 1).reshape(-1, 2).unsqueeze(-1).expand(6, 2, 5),
                             x.permute(1, 0, 2)[1:, ..., None, 0].squeeze(-1), x.select(-1, 1).narrow(0, 1, 2),
                             x.flatten()[None, :4].expand(2, 4) * x[1, 0, 1]),
        [(4, 3, 2, 2)], 0, (0, 2, -1, 1)),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(CASES))
def test_covered_ops_match_torch_and_run_once(device, case):
    make, shapes, in_dims, out_dims = CASES[case]
    ours, theirs = pair(device, *shapes, seed=len(case))
    f, calls = counted(make(ag))
    same(func.vmap(f, in_dims, out_dims)(*ours), tfunc.vmap(make(torch), in_dims, out_dims)(*theirs))
    assert calls == [1], "f ran per sample: some covered op was not batched"


def test_a_covered_op_runs_once_and_the_fallback_per_sample(monkeypatch):
    (x,), (tx,) = pair("cpu", (6, 5))
    counts = {"exp": 0, "cumsum": 0}

    def counting(name, forward):
        def run(ctx, *args, **kwargs):
            counts[name] += 1
            return forward(ctx, *args, **kwargs)
        return run
    monkeypatch.setattr(unary.Exp, "forward", counting("exp", unary.Exp.forward))
    monkeypatch.setattr(scans.Cumsum, "forward", counting("cumsum", scans.Cumsum.forward))
    f = lambda m: lambda v: m.cumsum(v.exp(), -1) * v  # noqa: E731
    same(func.vmap(f(ag))(x), tfunc.vmap(f(torch))(tx))
    assert counts == {"exp": 1, "cumsum": 6}
    assert "Exp" in _vmap.ops_with_rules() and "Cumsum" not in _vmap.ops_with_rules()


@pytest.mark.parametrize("device", DEVICES)
def test_fallback_ops_nesting_and_gradients_through_the_batch(device):
    (x, y), (tx, ty) = pair(device, (3, 4, 5), (5, 2), seed=3)
    f = lambda m: lambda a, b: (m.cumsum(a, 0) @ b).sort(-1).values.cumprod(-1)  # noqa: E731
    same(func.vmap(f(ag), (0, None))(x, y), tfunc.vmap(f(torch), (0, None))(tx, ty))
    # nested: the inner vmap loops over the outer's stand-ins, whose ops are batched
    g = lambda m: lambda a, b: (a.softmax(-1) * b).sum()  # noqa: E731
    nested = lambda v, m: v(v(g(m), (0, None)), (None, 1), 1)  # noqa: E731
    same(nested(func.vmap, ag)(x[0], y), nested(tfunc.vmap, torch)(tx[0], ty))
    # gradients flow back through the batched ops to the mapped input
    xg, txg = x.detach().requires_grad_(), tx.clone().requires_grad_()
    h = lambda m: lambda a: (a.tanh() @ a.T).logsumexp(-1).sum()  # noqa: E731
    (func.vmap(h(ag))(xg) ** 2).sum().backward()
    (tfunc.vmap(h(torch))(txg) ** 2).sum().backward()
    assert_close(xg.grad, txg.grad, rtol=RTOL, atol=ATOL)


def test_loop_reruns_where_batching_cannot_be_right():
    (x,), (tx,) = pair("cpu", (4, 3), seed=5)

    def data_dependent(v):  # torch.func refuses this; the loop answers it
        return v.exp() if v.sum() > 0 else -v
    expected = torch.stack([data_dependent(r) for r in tx])
    same(func.vmap(data_dependent)(x), expected)

    def in_place(m):
        def g(v):
            w = v * 1
            w.mul_(2)
            w[0] = 5.0
            return w + v.view(-1)
        return g
    f, calls = counted(in_place(ag))
    same(func.vmap(f)(x), tfunc.vmap(in_place(torch))(tx))
    assert len(calls) == 1 + 4  # the batched attempt, then one call per sample
    # a transform other than grad inside vmap runs as the loop
    (w,), (tw,) = pair("cpu", (3, 2), seed=6)
    model = lambda m: lambda p, v: m.tanh(v @ p)  # noqa: E731
    same(func.vmap(func.jacrev(model(ag)), (None, 0))(w, x),
         tfunc.vmap(tfunc.jacrev(model(torch)), (None, 0))(tw, tx))


@pytest.mark.parametrize("device", DEVICES)
def test_per_sample_gradients_in_one_batched_pass(device):
    """vmap(grad(loss)) runs loss once on the batch; unmapped parameters get one gradient per sample."""
    (w, b, xs, ys), (tw, tb, txs, tys) = pair(device, (3, 2), (2,), (5, 3), (5, 2), seed=7)

    def loss(m):
        def per_sample(params, x, y):
            return ((m.tanh(x @ params["w"]) + params["b"] - y) ** 2).mean()
        return per_sample
    f, calls = counted(loss(ag))
    ours, value = func.vmap(func.grad_and_value(f), in_dims=(None, 0, 0))({"w": w, "b": b}, xs, ys)
    theirs, tvalue = tfunc.vmap(tfunc.grad_and_value(loss(torch)), in_dims=(None, 0, 0))({"w": tw, "b": tb}, txs,
                                                                                           tys)
    assert calls == [1]
    same([ours["w"], ours["b"], value], [theirs["w"], theirs["b"], tvalue])
    # the mapped input's gradient too (argnums), and an input the loss does not use gets zeros
    g = lambda m: lambda x, y, unused: (m.sin(x) * y.sum()).sum()  # noqa: E731
    same(func.vmap(func.grad(g(ag), argnums=(0, 2)))(xs, ys, ys),
         tfunc.vmap(tfunc.grad(g(torch), argnums=(0, 2)))(txs, tys, tys))


def test_random_ops_are_still_refused_in_error_mode():
    (x,), _ = pair("cpu", (3, 2))
    with pytest.raises(RuntimeError, match="randomness"):
        func.vmap(lambda t: t * ag.randn(2, dtype=ag.float64))(x)


# shape-keeping steps on a per-sample (3, 4) tensor x, with c an unbatched (4,) and d a batched (3, 4) operand
STEPS = [
    lambda m, x, c, d: m.tanh(x) * c - d,
    lambda m, x, c, d: (x.sigmoid() + 1).log() / (d.abs() + 1),
    lambda m, x, c, d: x.softmax(-1) * 3 + x.log_softmax(0),
    lambda m, x, c, d: x - x.logsumexp(-2, keepdim=True) + x.amax(1, keepdim=True),
    lambda m, x, c, d: x.mean(0) * x - x.sum(-1, keepdim=True).sin(),
    lambda m, x, c, d: (x.T @ d).T @ (x.T @ x) / 10 + c,
    lambda m, x, c, d: x.reshape(4, 3).transpose(0, 1).flip(0) if m is torch else x.reshape(4, 3).T.flip(0),
    lambda m, x, c, d: m.maximum(x, d) ** 2 - m.where(x > c, x, c * 0.5),
    lambda m, x, c, d: x.unsqueeze(0).expand(2, 3, 4).permute(1, 0, 2)[:, 1] + x[..., None, 2:3].squeeze(-2),
]


@pytest.mark.parametrize("seed", range(6))
def test_random_chains_of_covered_ops(seed):
    rng = np.random.default_rng(seed)
    steps = [STEPS[i] for i in rng.integers(len(STEPS), size=5)]

    def chain(m):
        def f(x, c, d):
            for step in steps:
                x = step(m, x, c, d)
            return x
        return f
    (x, c, d), (tx, tc, td) = pair("cpu", (5, 3, 4), (4,), (3, 5, 4), seed=seed)
    in_dims, out_dims = (int(rng.choice([0, -3])), None, 1), int(rng.integers(-3, 3))
    same(func.vmap(chain(ag), in_dims, out_dims)(x, c, d), tfunc.vmap(chain(torch), in_dims, out_dims)(tx, tc, td))
