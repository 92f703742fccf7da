"""Forward-mode AD (autograd.forward_ad): the API's semantics against torch.autograd.forward_ad, the
fallback (a jvp from two vjps) against native rules, and the cost when no level is open. The
per-op tangents are checked in the op table (test_ops.py::test_jvp_against_torch)."""

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as tfwd

import autograd as ag
import autograd.forward_ad as fwd
from autograd import function
from conftest import assert_close, to_numpy


def _pair(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape), rng.standard_normal(shape)


def _mlp(lib, x, w1, w2):
    return (lib.tanh(x @ w1) @ w2).softmax(-1).log().sum(0)


def test_mlp_tangent_against_torch(device):
    (x, tx), (w1, t1), (w2, t2) = _pair(4, 3, seed=1), _pair(3, 5, seed=2), _pair(5, 2, seed=3)
    with tfwd.dual_level():
        args = [tfwd.make_dual(torch.from_numpy(a), torch.from_numpy(t)) for a, t in ((x, tx), (w1, t1), (w2, t2))]
        expected = tfwd.unpack_dual(_mlp(torch, *args))
    with fwd.dual_level():
        args = [fwd.make_dual(ag.tensor(a, device=device), ag.tensor(t, device=device))
                for a, t in ((x, tx), (w1, t1), (w2, t2))]
        got = fwd.unpack_dual(_mlp(ag, *args))
    assert_close(to_numpy(got.primal), to_numpy(expected.primal), rtol=1e-12, atol=1e-12)
    assert_close(to_numpy(got.tangent), to_numpy(expected.tangent), rtol=1e-10, atol=1e-12)


def test_unpack_dual_semantics():
    x, t = _pair(3)
    with fwd.dual_level() as level:
        primal = ag.tensor(x)
        dual = fwd.make_dual(primal, ag.tensor(t))
        unpacked = fwd.unpack_dual(dual)
        assert isinstance(unpacked, tuple) and unpacked.primal is unpacked[0] and unpacked.tangent is unpacked[1]
        assert_close(to_numpy(unpacked.tangent), t)
        assert fwd.unpack_dual(primal).tangent is None          # make_dual returns a new tensor
        assert fwd.unpack_dual(unpacked.primal).tangent is None  # the primal view carries none
        y = dual * 3
        assert_close(to_numpy(fwd.unpack_dual(y, level=level).tangent), 3 * t)
    assert fwd.unpack_dual(y).tangent is None  # leaving the level forgets its tangents
    with fwd.dual_level():
        assert fwd.unpack_dual(y).tangent is None  # and a new level does not bring them back


def test_tangents_of_integer_outputs_and_constants():
    x, t = _pair(2, 3)
    with fwd.dual_level():
        d = fwd.make_dual(ag.tensor(x), ag.tensor(t))
        assert fwd.unpack_dual(d.argmax(1)).tangent is None
        assert fwd.unpack_dual(d > 0).tangent is None
        y = d + ag.tensor(np.ones((2, 3)))  # a constant operand: its tangent is zero
        assert_close(to_numpy(fwd.unpack_dual(y).tangent), t)
        z = ag.tensor(x) * 2  # no dual input: no tangent
        assert fwd.unpack_dual(z).tangent is None


def test_refusals_match_torch():
    x = ag.tensor(np.ones(3))
    with pytest.raises(RuntimeError, match="no dual level"):
        fwd.make_dual(x, ag.tensor(np.ones(3)))
    with pytest.raises(RuntimeError, match="no level exists"):  # torch refuses the same
        tfwd.make_dual(torch.ones(3), torch.ones(3))
    with fwd.dual_level():
        with pytest.raises(RuntimeError, match=r"size \[3\].*size \[2\]"):
            fwd.make_dual(x, ag.tensor(np.ones(2)))
        with pytest.raises(ValueError, match="floating point"):
            fwd.make_dual(ag.tensor(np.arange(3)), ag.tensor(np.ones(3)))
        with pytest.raises(RuntimeError, match="nested"):
            fwd.enter_dual_level()
        with tfwd.dual_level(), pytest.raises(RuntimeError, match="Nested"):
            tfwd.enter_dual_level()
    with pytest.raises(RuntimeError, match="exit_dual_level"):
        fwd.exit_dual_level()


def test_enter_and_exit_by_hand():
    level = fwd.enter_dual_level()
    try:
        d = fwd.make_dual(ag.tensor(np.array([2.0])), ag.tensor(np.array([1.0])))
        assert_close(to_numpy(fwd.unpack_dual(d.log()).tangent), np.array([0.5]))
    finally:
        fwd.exit_dual_level(level=level)
    assert function.jvp_hook is None  # no level: Op.apply's one check finds nothing


def test_fallback_agrees_with_native_rules(monkeypatch):
    """The double-backward fallback gives what the native rules give, op by op (elementwise,
    linear, product rule, softmax) on a small program."""
    (x, tx), (w, tw) = _pair(3, 4, seed=4), _pair(4, 2, seed=5)

    def run():
        with fwd.dual_level():
            a, b = fwd.make_dual(ag.tensor(x), ag.tensor(tx)), fwd.make_dual(ag.tensor(w), ag.tensor(tw))
            y = ((a.exp() * a).sin() @ b).softmax(0).reshape(-1)[::2].sum()
            return to_numpy(fwd.unpack_dual(y).tangent)

    native = run()
    for name in ("exp", "mul", "sin", "matmul", "softmax", "reshape", "get_item", "sum"):
        assert fwd.has_native_jvp(name)
        monkeypatch.setattr(function.registry[name], "jvp", function.Op.jvp)
    assert not fwd.has_native_jvp("matmul")
    assert_close(run(), native, rtol=1e-10, atol=1e-12)


def test_fallback_against_central_differences(device):
    """Ops with only the fallback (prod, a norm, cumprod, det, matrix_exp) against central differences."""
    x, t = _pair(3, 3, seed=6)
    x = x + 3 * np.eye(3)

    def f(a):
        return ag.stack([a.prod(), ag.linalg.vector_norm(a, 3), a.cumprod(1).sum(), ag.linalg.det(a),
                         ag.linalg.matrix_exp(a * 0.1).sum()])

    for name in ("prod", "vector_norm", "cumprod", "det", "matrix_exp"):
        assert not fwd.has_native_jvp(name), name
    with fwd.dual_level():
        dual = fwd.make_dual(ag.tensor(x, device=device), ag.tensor(t, device=device))
        got = to_numpy(fwd.unpack_dual(f(dual)).tangent)
    eps = 1e-6
    expected = (to_numpy(f(ag.tensor(x + eps * t))) - to_numpy(f(ag.tensor(x - eps * t)))) / (2 * eps)
    assert_close(got, expected, rtol=1e-6, atol=1e-7)


def test_reverse_mode_through_a_dual_tensor():
    """A dual tensor is a view of its primal: reverse mode still reaches the primal, also through an
    op whose tangent came from the fallback (prod: it must leave the forward graph usable)."""
    x, t = _pair(3)
    p = ag.tensor(x, requires_grad=True)
    with fwd.dual_level():
        d = fwd.make_dual(p, ag.tensor(t))
        y = (d ** 2).sum() + d.prod()
        y.backward()
        assert_close(to_numpy(fwd.unpack_dual(y).tangent), (2 * x * t).sum() + (x.prod() / x * t).sum())
    assert_close(to_numpy(p.grad), 2 * x + x.prod() / x)


def test_in_place_ops_carry_tangents(device):
    x, t = _pair(2, 3, seed=7)
    with fwd.dual_level():
        d = fwd.make_dual(ag.tensor(x, device=device), ag.tensor(t, device=device))
        y = d.clone()
        y.mul_(d)         # y = x * x
        y[0, 1:] = 0.0    # a constant written in: tangent zero there
        v = y[1]
        v.add_(d[1])      # through a view: the base's tangent changes
        got = to_numpy(fwd.unpack_dual(y).tangent)
    expected = 2 * x * t
    expected[0, 1:] = 0
    expected[1] += t[1]
    assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_summary_lists_native_and_fallback_ops():
    summary = fwd.jvp_summary()
    assert {"exp", "matmul", "sum", "reshape", "softmax"} <= set(summary["native"])
    assert {"prod", "det"} <= set(summary["fallback"])
    assert not set(summary["native"]) & set(summary["fallback"])


def test_custom_function_needs_a_jvp_as_in_torch():
    """A user's Function that gets a tangent must define jvp (torch refuses the same); with one, its
    tangent is used, its ctx is the one forward filled, and reverse mode still works."""
    def make(lib):
        class Cube(lib.autograd.Function if lib is torch else ag.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                ctx.x = x
                return x ** 3

            @staticmethod
            def backward(ctx, grad):
                x, = ctx.saved_tensors
                return grad * 3 * x ** 2

        class CubeJvp(Cube):
            @staticmethod
            def jvp(ctx, tangent):
                return 3 * ctx.x ** 2 * tangent
        return Cube, CubeJvp

    x, t = _pair(3, seed=8)
    results = {}
    for lib, ad, new in ((torch, tfwd, torch.from_numpy), (ag, fwd, ag.tensor)):
        cube, cube_jvp = make(lib)
        p = new(x.copy()).requires_grad_()
        with ad.dual_level():
            dual = ad.make_dual(p, new(t.copy()))
            with pytest.raises(NotImplementedError, match="jvp"):
                cube.apply(dual)
            y = cube_jvp.apply(dual)
            results[lib] = to_numpy(ad.unpack_dual(y).tangent)
            y.sum().backward()
        assert_close(to_numpy(p.grad), 3 * x ** 2)
    assert_close(results[ag], results[torch], rtol=1e-12, atol=1e-12)
