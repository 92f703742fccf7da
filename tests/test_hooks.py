"""Hooks, against PyTorch on the same graphs and modules: tensor hooks, post-accumulate-grad hooks,
Node hooks and prehooks, saved_tensors_hooks / save_on_cpu, Module forward and full backward hooks,
the global module hooks. Each case runs one body under both libraries and compares what the hooks
saw (order, arguments), what they replaced, and the gradients that came out."""

import warnings

import numpy as np
import pytest
import torch

import autograd as ag
import nn as agnn
from conftest import assert_close, to_numpy


def graph(lib):
    return torch.autograd.graph if lib is torch else ag.graph


def leaf(lib, values, device="cpu"):
    if lib is torch:
        return torch.tensor(values, dtype=torch.float64, requires_grad=True)
    return ag.tensor(values, dtype=ag.float64, device=device, requires_grad=True)


def seen(t):
    return None if t is None else np.round(to_numpy(t), 10).tolist()


def both(body):
    """Run ``body(lib, log)`` under torch and autograd; the logs and the returned tensors must agree."""
    results = []
    for lib in (torch, ag):
        log = []
        out = body(lib, log)
        results.append((log, out))
    (tlog, tout), (alog, aout) = results
    assert alog == tlog
    for t, a in zip(tout, aout):
        if t is None:
            assert a is None
        else:
            assert_close(a, t, check_dtype=False)
    return alog


# --- Tensor.register_hook / register_post_accumulate_grad_hook --------------------------------------

def test_tensor_hooks_order_and_replacement():
    def body(lib, log):
        x = leaf(lib, [1.0, -2.0, 3.0])
        x.register_hook(lambda g: log.append(("x", seen(g))))
        x.register_hook(lambda g: g * 10)                       # replaces what accumulates into x.grad
        x.register_hook(lambda g: log.append(("x after", seen(g))))
        x.register_post_accumulate_grad_hook(lambda t: log.append(("acc", seen(t.grad))))
        y = x * x
        y.register_hook(lambda g: log.append(("y", seen(g))))
        y.register_hook(lambda g: g + 1)                        # non-leaf: what flows on into MulBackward0
        z = y.sin().sum()
        z.backward()
        z = (x * 2).sum()
        z.backward()                                            # the hooks run again; .grad accumulates
        return (x.grad,)
    log = both(body)
    assert [entry[0] for entry in log] == ["y", "x", "x after", "acc", "x", "x after", "acc"]


def test_retain_grad_sees_the_hooked_gradient():
    def body(lib, log):
        x = leaf(lib, [0.5, 1.5])
        y = x.exp()
        y.retain_grad()
        y.register_hook(lambda g: g * 3)
        (y * y).sum().backward()
        return y.grad, x.grad
    both(body)


def test_hooks_with_autograd_grad():
    def body(lib, log):
        x = leaf(lib, [1.0, 2.0])
        x.register_hook(lambda g: (log.append(seen(g)), g * 2)[1])
        x.register_post_accumulate_grad_hook(lambda t: log.append("acc"))   # autograd.grad accumulates nothing
        y = (x ** 3).sum()
        (g,) = (torch.autograd.grad if lib is torch else ag.grad)(y, x)
        return g, x.grad
    assert both(body) == [[3.0, 12.0]]


def test_handles_remove_and_context_manager():
    def body(lib, log):
        x = leaf(lib, [1.0, 2.0])
        first = x.register_hook(lambda g: log.append("first"))
        with x.register_hook(lambda g: log.append("scoped")):
            (x * 2).sum().backward()
        first.remove()
        first.remove()  # twice is harmless
        post = x.register_post_accumulate_grad_hook(lambda t: log.append("post"))
        (x * 2).sum().backward()
        post.remove()
        y = x * 3
        node = y.grad_fn.register_hook(lambda gi, go: log.append("node"))
        pre = y.grad_fn.register_prehook(lambda go: log.append("pre"))
        node.remove()
        pre.remove()
        y.sum().backward()
        return (x.grad,)
    assert both(body) == ["first", "scoped", "post"]


def test_hook_refusals_match_torch():
    for lib in (torch, ag):
        t = lib.ones(2)
        with pytest.raises(RuntimeError, match="doesn't require gradient"):
            t.register_hook(lambda g: None)
        y = leaf(lib, [1.0]) * 2
        with pytest.raises(RuntimeError, match="non-leaf"):
            y.register_post_accumulate_grad_hook(lambda t: None)


# --- Node hooks ----------------------------------------------------------------------------------------

def test_node_prehook_and_hook_see_and_replace():
    def body(lib, log):
        a, b = leaf(lib, [1.0, 2.0]), leaf(lib, [3.0, -1.0])
        y = a * b
        node = y.grad_fn
        node.register_prehook(lambda go: log.append(("pre", [seen(g) for g in go])))
        node.register_prehook(lambda go: tuple(g * 2 for g in go))
        node.register_hook(lambda gi, go: log.append(("post", [seen(g) for g in gi], [seen(g) for g in go])))
        node.register_hook(lambda gi, go: (gi[0], gi[1] + 100))
        (y * y).sum().backward()
        return a.grad, b.grad
    log = both(body)
    assert log[0][0] == "pre" and log[1][0] == "post"


def test_node_name_next_functions_metadata():
    names = []
    for lib in (torch, ag):
        a, b = leaf(lib, [1.0, 2.0]), leaf(lib, [3.0, 4.0])
        y = (a * b).exp()
        node = y.grad_fn
        assert isinstance(node, graph(lib).Node)
        node.metadata["tag"] = 7
        assert y.grad_fn.metadata == {"tag": 7}
        mul, nr = node.next_functions[0]
        names.append((node.name(), mul.name(), nr, [(f.name(), n) for f, n in mul.next_functions]))
    assert names[0] == names[1]


# --- saved_tensors_hooks and save_on_cpu ---------------------------------------------------------------

def saved_hooks_body(lib, log):
    x = leaf(lib, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    w = leaf(lib, [[1.0, -1.0], [0.5, 2.0], [-0.3, 0.7]])

    def pack(t):
        log.append(("pack", tuple(t.shape)))
        return t

    def unpack(t):
        log.append(("unpack", tuple(t.shape)))
        return t

    with graph(lib).saved_tensors_hooks(pack, unpack):
        h = (x @ w).tanh()       # mm saves both inputs, tanh its output
        y = (h * h.exp()).sum()  # mul saves both, exp its output
    packed = len(log)
    y.backward()
    log[:] = sorted(log[:packed]) + sorted(log[packed:])  # per phase: the order within an op's saves may differ
    return x.grad, w.grad


def test_saved_tensors_hooks_pack_unpack_counts_match_torch():
    log = both(saved_hooks_body)
    assert sum(entry[0] == "pack" for entry in log) == 6


def test_saved_tensors_hooks_innermost_applies_and_unpack_result_is_used():
    def body(lib, log):
        x = leaf(lib, [1.0, 2.0])
        outer = graph(lib).saved_tensors_hooks(lambda t: log.append("outer") or t, lambda t: t)
        inner = graph(lib).saved_tensors_hooks(lambda t: log.append("inner") or t.detach() * 0 + 5,
                                               lambda t: t)
        with outer:
            with inner:
                y = x.sin()      # saves x: backward sees 5 in its place
            z = y.cos()
        z.sum().backward()
        return (x.grad,)
    assert both(body) == ["inner", "outer"]


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_save_on_cpu_keeps_saved_tensors_on_the_cpu(device):
    x = ag.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], dtype=ag.float64, device=device, requires_grad=True)
    w = ag.tensor([[1.0, -1.0], [0.5, 2.0], [-0.3, 0.7]], dtype=ag.float64, device=device, requires_grad=True)
    hooks = ag.graph.save_on_cpu()
    pack, unpack = hooks.pack_hook, hooks.unpack_hook
    packed_on, unpacked_on = [], []
    hooks.pack_hook = lambda t: (lambda p: packed_on.append(str(p[1].device)) or p)(pack(t))
    hooks.unpack_hook = lambda p: (lambda t: unpacked_on.append(str(t.device)) or t)(unpack(p))
    with hooks:
        y = ((x @ w).tanh() * x.sum()).sum()
    y.backward()
    tx, tw = (torch.tensor(to_numpy(t), requires_grad=True) for t in (x, w))
    ((tx @ tw).tanh() * tx.sum()).sum().backward()
    assert_close(x.grad, tx.grad)
    assert_close(w.grad, tw.grad)
    assert str(x.grad.device) == str(x.device)
    assert packed_on and set(packed_on) == {"cpu"}
    assert len(unpacked_on) == len(packed_on) and set(unpacked_on) == {str(x.device)}


# --- Module hooks ----------------------------------------------------------------------------------------

def make_pair(seed=0):
    """A small Sequential in each library with the same weights."""
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    am = agnn.Sequential(agnn.Linear(3, 4), agnn.Tanh(), agnn.Linear(4, 2)).double()
    for p, tp in zip(am.parameters(), tm.parameters()):
        p.data = ag.tensor(tp.detach().numpy())
    return tm, am


def module_both(body):
    tm, am = make_pair()
    results = []
    for lib, m in ((torch, tm), (ag, am)):
        log = []
        results.append((log, body(lib, m, log)))
    (tlog, tout), (alog, aout) = results
    assert alog == tlog
    for t, a in zip(tout, aout):
        assert_close(a, t)
    return alog


X = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]


def test_forward_hooks_order_args_and_replacement():
    def body(lib, m, log):
        lin = m[0]
        lin.register_forward_pre_hook(lambda mod, args: log.append(("pre", seen(args[0]))))
        lin.register_forward_pre_hook(lambda mod, args: args[0] * 2)                # one value: becomes (value,)
        lin.register_forward_pre_hook(lambda mod, args: log.append("pre first"), prepend=True)
        lin.register_forward_hook(lambda mod, args, out: log.append(("fwd", seen(args[0]), seen(out))))
        lin.register_forward_hook(lambda mod, args, out: out + 1)
        lin.register_forward_hook(lambda mod, args, out: log.append("fwd first"), prepend=True)
        m.register_forward_hook(lambda mod, args, out: log.append(("seq", seen(out))))
        x = leaf(lib, X)
        y = m(x)
        y.sum().backward()
        return y, x.grad, m[0].weight.grad
    log = module_both(body)
    assert log[0] == "pre first" and log[-1][0] == "seq"


def test_forward_hooks_with_kwargs():
    class Scale:
        @staticmethod
        def build(nn):
            class M(nn.Module):
                def forward(self, x, *, scale=1.0):
                    return x * scale
            return M()

    outs = []
    for lib, nn in ((torch, torch.nn), (ag, agnn)):
        log = []
        m = Scale.build(nn)
        m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": kwargs["scale"] * 3}),
                                    with_kwargs=True)
        m.register_forward_hook(lambda mod, args, kwargs, out: log.append(kwargs["scale"]) or out - 1,
                                with_kwargs=True)
        outs.append((log, to_numpy(m(leaf(lib, [1.0, 2.0]), scale=2.0))))
    assert outs[0][0] == outs[1][0] == [6.0]
    assert_close(outs[1][1], outs[0][1])


def test_forward_hook_always_call_runs_when_forward_raises():
    logs = []
    for lib, nn in ((torch, torch.nn), (ag, agnn)):
        log = []
        m = nn.Linear(3, 2)
        m.register_forward_hook(lambda mod, args, out: log.append(("always", out)), always_call=True)
        m.register_forward_hook(lambda mod, args, out: log.append("plain"))
        with pytest.raises(Exception):
            m(lib.ones(2, 5))  # wrong width: forward raises
        m(lib.ones(1, 3))
        logs.append([entry if entry == "plain" else (entry[0], entry[1] is None) for entry in log])
    assert logs[0] == logs[1] == [("always", True), ("always", False), "plain"]


def test_global_module_forward_hooks():
    import nn.modules.module as agmodule
    import torch.nn.modules.module as tmodule

    def body(lib, m, log):
        where = tmodule if lib is torch else agmodule
        pre = where.register_module_forward_pre_hook(lambda mod, args: log.append(("pre", type(mod).__name__)))
        post = where.register_module_forward_hook(lambda mod, args, out: log.append(("fwd", type(mod).__name__)))
        own = m[1].register_forward_hook(lambda mod, args, out: log.append("own"))
        try:
            y = m(leaf(lib, X))
        finally:
            pre.remove()
            post.remove()
            own.remove()
        m(leaf(lib, X))  # removed: nothing more is logged
        return (y,)
    log = module_both(body)
    assert log.index(("fwd", "Tanh")) + 1 == log.index("own")


@pytest.mark.parametrize("input_requires_grad", [True, False])
@pytest.mark.parametrize("which", ["linear", "sequential"])
def test_full_backward_hooks_grad_input_grad_output(which, input_requires_grad):
    def body(lib, m, log):
        target = m[0] if which == "linear" else m
        target.register_full_backward_pre_hook(lambda mod, go: log.append(("bpre", [seen(g) for g in go])))
        target.register_full_backward_hook(
            lambda mod, gi, go: log.append(("bwd", [seen(g) for g in gi], [seen(g) for g in go])))
        x = leaf(lib, X).requires_grad_(input_requires_grad)
        (m(x) ** 2).sum().backward()
        return m[0].weight.grad, m[2].bias.grad
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn when no input requires grad
        log = module_both(body)
    assert [entry[0] for entry in log] == ["bpre", "bwd"]


def test_full_backward_hooks_replace_gradients():
    def body(lib, m, log):
        m[2].register_full_backward_pre_hook(lambda mod, go: (go[0] * -2,))
        m[2].register_full_backward_hook(lambda mod, gi, go: (gi[0] + 0.5,))
        inner = m[0].register_full_backward_hook(lambda mod, gi, go: log.append(seen(gi[0])))
        x = leaf(lib, X)
        (m(x) ** 2).sum().backward()
        inner.remove()
        (m(x) ** 2).sum().backward()  # m[0]'s hook is gone; m[2]'s still replace
        return x.grad, m[0].weight.grad, m[2].weight.grad
    assert len(module_both(body)) == 1


def test_accumulate_grad_node_hooks():
    def body(lib, log):
        x = leaf(lib, [1.0, 2.0])
        y = x * 2
        acc = y.grad_fn.next_functions[0][0]
        assert acc.name() == "torch::autograd::AccumulateGrad"
        acc.register_prehook(lambda go: (log.append(("pre", [seen(g) for g in go])), (go[0] * 10,))[1])
        acc.register_hook(lambda gi, go: log.append(("post", gi, [seen(g) for g in go])))
        x.register_hook(lambda g: log.append(("tensor", seen(g))))
        x.register_post_accumulate_grad_hook(lambda t: log.append(("acc", seen(t.grad))))
        y.sum().backward()
        (g,) = (torch.autograd.grad if lib is torch else ag.grad)((x * 2).sum(), x)  # node hooks: not run
        return x.grad, g
    log = both(body)
    assert [entry[0] for entry in log] == ["tensor", "pre", "acc", "post", "tensor"]


@pytest.mark.parametrize("case", ["size", "type", "prehook count", "hook count"])
def test_bad_hook_results_are_refused_as_torch_does(case):
    expected = {"size": "changed the size of value", "type": "changed the type of value",
                "prehook count": "incorrect number of values", "hook count": "incorrect number of values"}[case]
    for lib in (torch, ag):
        x = leaf(lib, [1.0, 2.0])
        y = x * 2
        if case == "size":
            y.register_hook(lambda g: g.sum())
        elif case == "type":
            y.register_hook(lambda g: g.float())
        elif case == "prehook count":
            y.grad_fn.register_prehook(lambda go: (go[0], go[0]))
        else:
            y.grad_fn.register_hook(lambda gi, go: (gi[0],) * (len(gi) + 1))
        with pytest.raises(RuntimeError, match=expected):
            y.sum().backward()


def two_in_two_out(nn):
    class M(nn.Module):
        def forward(self, a, scale, b):  # a non-tensor argument between two tensors; a tuple out
            return a * b * scale, (a - b).exp()
    return M()


@pytest.mark.parametrize("b_requires_grad", [True, False])
def test_full_backward_hooks_several_inputs_and_outputs(b_requires_grad):
    def body(lib, log):
        m = two_in_two_out(torch.nn if lib is torch else agnn)
        m.register_full_backward_pre_hook(lambda mod, go: log.append(("bpre", [seen(g) for g in go])))
        m.register_full_backward_hook(
            lambda mod, gi, go: log.append(("bwd", [seen(g) for g in gi], [seen(g) for g in go])))
        a, b = leaf(lib, [0.5, -1.0]), leaf(lib, [2.0, 0.25]).requires_grad_(b_requires_grad)
        p, q = m(a, 3.0, b)
        (p * q).sum().backward()
        return a.grad, b.grad
    log = both(body)
    assert [entry[0] for entry in log] == ["bpre", "bwd"] and len(log[1][1]) == 3


def test_full_backward_hooks_shared_layer_called_twice():
    def body(lib, m, log):
        lin = torch.nn.Linear(3, 3).double() if lib is torch else agnn.Linear(3, 3).double()
        with (torch.no_grad() if lib is torch else ag.no_grad()):
            lin.weight.copy_(lib.tensor(np.eye(3) * 0.5 + 0.1, dtype=lib.float64))
            lin.bias.copy_(lib.tensor([0.1, -0.2, 0.3], dtype=lib.float64))
        lin.register_full_backward_hook(lambda mod, gi, go: log.append(([seen(g) for g in gi], [seen(g) for g in go])))
        x = leaf(lib, X)
        (lin(lin(x)).tanh().sum()).backward()
        return x.grad, lin.weight.grad
    assert len(module_both(body)) == 2


def test_saved_tensors_hooks_see_a_users_function():
    def body(lib, log):
        class Cube((torch.autograd if lib is torch else ag).Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return grad * 3 * x * x
        x = leaf(lib, [1.0, -2.0])
        with graph(lib).saved_tensors_hooks(lambda t: log.append("pack") or ("box", t),
                                            lambda p: log.append("unpack") or p[1]):
            y = Cube.apply(x)
        y.sum().backward()
        return (x.grad,)
    assert both(body) == ["pack", "unpack"]


def test_saved_tensors_hooks_keep_double_backward():
    def body(lib, log):
        x = leaf(lib, [0.3, -1.2])
        w = leaf(lib, [2.0, 0.5])
        # pack/unpack through a copy: what backward reads is not the tensor that was saved
        with graph(lib).saved_tensors_hooks(lambda t: t.detach().clone(), lambda t: t.clone()):
            y = ((x * w).sin() * x).sum()
        grad = lib.autograd.grad(y, (x, w), create_graph=True) if lib is torch else ag.grad(y, (x, w),
                                                                                               create_graph=True)
        (grad[0] * grad[1]).sum().backward()
        return x.grad, w.grad
    both(body)
