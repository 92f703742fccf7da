"""A user's autograd.Function is PyTorch's: static forward on Tensors, static backward,
ctx.save_for_backward / saved_tensors / needs_input_grad / mark_dirty /
mark_non_differentiable / set_materialize_grads, setup_context, several outputs.
Each case runs the same class body under both libraries and compares."""

import numpy as np
import pytest
import torch

import autograd as ag
from autograd.function import registry
from conftest import assert_close, to_numpy


def lib_function(lib):
    return torch.autograd.Function if lib is torch else ag.Function


def lib_grad(lib):
    return torch.autograd.grad if lib is torch else ag.grad


def leaf(lib, values):
    t = torch.tensor(values, dtype=torch.float64) if lib is torch else ag.tensor(values, dtype=ag.float64)
    return t.requires_grad_()


def make_functions(lib):
    base = lib_function(lib)

    class ScaledExp(base):
        @staticmethod
        def forward(ctx, x, k):
            assert isinstance(x, torch.Tensor if lib is torch else ag.Tensor), "forward must receive Tensors"
            out = x.exp() * k
            ctx.save_for_backward(out)
            ctx.k = k
            return out

        @staticmethod
        def backward(ctx, grad):
            out, = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return grad * out, None

    class Split(base):  # three outputs, one not differentiable; separate setup_context
        @staticmethod
        def forward(x):
            return x * 2, x.sum(), x > 0

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, = inputs
            ctx.save_for_backward(x)
            ctx.mark_non_differentiable(output[2])

        @staticmethod
        def backward(ctx, grad_double, grad_sum, grad_mask):
            x, = ctx.saved_tensors
            return grad_double * 2 + grad_sum * x * x

    class Triple_(base):  # changes its input in place
        @staticmethod
        def forward(ctx, x):
            x.mul_(3)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    return ScaledExp, Split, Triple_


def run_all(lib):
    ScaledExp, Split, Triple_ = make_functions(lib)
    x = leaf(lib, [0.5, -1.0, 2.0])
    y = ScaledExp.apply(x, 2.0)
    doubled, total, positive = Split.apply(y)
    z = x * 1
    Triple_.apply(z)
    loss = (doubled * doubled).sum() + total * 3 + (z * z).sum()
    g, = lib_grad(lib)(loss, x, create_graph=True)
    gg, = lib_grad(lib)((g * g).sum(), x)
    values = [y, doubled, total, positive, z, g, gg]
    names = [y.grad_fn.name(), doubled.grad_fn.name(), z.grad_fn.name()]
    return [to_numpy(v) for v in values], names, (positive.requires_grad, doubled.requires_grad)


def test_user_functions_match_torch_values_gradients_and_double_backward():
    got, names, flags = run_all(ag)
    expected, torch_names, torch_flags = run_all(torch)
    for g, e in zip(got, expected):
        assert_close(g, e)
    assert names == torch_names == ["ScaledExpBackward", "SplitBackward", "Triple_Backward"]
    assert flags == torch_flags == (False, True)


def test_grad_fn_edges_are_node_and_output_index_pairs():
    _, Split, _ = make_functions(ag)
    x = leaf(ag, [1.0, 2.0])
    doubled, total, _ = Split.apply(x * 1)
    assert doubled.output_nr == 0 and total.output_nr == 1
    out = doubled.sum() + total
    (left, _), right = out.grad_fn.next_functions
    assert left.next_functions[0] == (doubled.grad_fn, 0)
    assert right == (total.grad_fn, 1)            # the Split node's second output
    assert repr(total.grad_fn).startswith("<SplitBackward object at 0x")


def test_materialize_grads_off_passes_none_for_unused_outputs():
    seen = {}

    class Two(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 1, x * 2

        @staticmethod
        def backward(ctx, ga, gb):
            seen["gb"] = gb
            return ga

    x = leaf(ag, [1.0, 2.0])
    a, _ = Two.apply(x)
    a.sum().backward()
    assert seen["gb"] is None
    assert_close(x.grad, np.ones(2))


def test_materialized_grads_are_zeros_like_torch():
    def run(lib):
        class Two(lib_function(lib)):
            @staticmethod
            def forward(ctx, x):
                return x * 1, x * 2

            @staticmethod
            def backward(ctx, ga, gb):
                return ga + gb * 5

        x = leaf(lib, [1.0, 2.0])
        a, _ = Two.apply(x)
        a.sum().backward()
        return x.grad

    assert_close(run(ag), run(torch))


def test_a_user_class_named_like_a_builtin_op_runs_its_own_forward():
    """A user class called Sigmoid must not pick up the backend's sigmoid kernel nor replace the
    built-in op in the registry."""
    builtin = registry["sigmoid"]

    class Sigmoid(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 0 + 7

        @staticmethod
        def backward(ctx, grad):
            return grad * 0

    x = leaf(ag, [0.0, 1.0])
    assert_close(Sigmoid.apply(x), np.full(2, 7.0))
    assert registry["sigmoid"] is builtin
    assert_close(x.sigmoid(), 1 / (1 + np.exp(-np.array([0.0, 1.0]))))


def test_saved_input_changed_in_place_raises_at_backward():
    ScaledExp, _, _ = make_functions(ag)

    class Square(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return 2 * x * grad

    x = leaf(ag, [1.0, 2.0])
    h = x * 1
    y = Square.apply(h)
    h.add_(1)
    with pytest.raises(RuntimeError, match=r"SquareBackward.*modified by an in-place operation"):
        y.sum().backward()


def test_once_differentiable_backward_gives_no_graph():
    class Cube(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @ag.once_differentiable
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return 3 * x * x * grad

    x = leaf(ag, [1.0, 2.0])
    g, = ag.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert_close(g, 3 * np.array([1.0, 4.0]))
    assert not g.requires_grad


def test_forward_runs_with_grad_mode_off_and_no_input_requiring_grad_records_nothing():
    modes = []

    class Probe(ag.Function):
        @staticmethod
        def forward(ctx, x):
            modes.append(ag.is_grad_enabled())
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    y = Probe.apply(ag.tensor([1.0]))
    assert modes == [False] and y.grad_fn is None and not y.requires_grad
    assert ag.is_grad_enabled()


def test_wrong_number_of_gradients_names_the_function():
    class Bad(ag.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, grad):
            return grad

    x, y = leaf(ag, [1.0]), leaf(ag, [2.0])
    with pytest.raises(RuntimeError, match=r"BadBackward returned 1 gradients but its op has 2 inputs"):
        Bad.apply(x, y).sum().backward()
