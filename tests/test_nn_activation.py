"""Activation modules against torch.nn's: same outputs, input and parameter gradients, reprs and
state_dicts; inplace flags; RReLU's random slopes in training."""

import numpy as np
import pytest
import torch

import autograd as ag
import nn
from conftest import assert_close, to_torch

# (class name, constructor arguments, input scale): inputs kept away from kinks by the sampler below
MODULES = [
    ("ReLU", {}, 1), ("ReLU6", {}, 4), ("GELU", {}, 2), ("GELU", {"approximate": "tanh"}, 2), ("SiLU", {}, 2),
    ("Mish", {}, 2), ("Softplus", {"beta": 2.0, "threshold": 3.0}, 2), ("ELU", {"alpha": 0.7}, 1), ("SELU", {}, 1),
    ("CELU", {"alpha": 1.5}, 1), ("LeakyReLU", {"negative_slope": 0.2}, 1), ("PReLU", {}, 1),
    ("PReLU", {"num_parameters": 4, "init": 0.1}, 1), ("RReLU", {"lower": 0.1, "upper": 0.4}, 1),
    ("Hardtanh", {"min_val": -0.5, "max_val": 0.7}, 1), ("Hardsigmoid", {}, 4), ("Hardswish", {}, 4),
    ("LogSigmoid", {}, 2), ("Softsign", {}, 1), ("Tanhshrink", {}, 1), ("Softshrink", {"lambd": 0.3}, 1),
    ("Hardshrink", {"lambd": 0.3}, 1), ("Threshold", {"threshold": 0.2, "value": -1.0}, 1), ("GLU", {"dim": 1}, 1),
    ("Softmin", {"dim": 1}, 1), ("Tanh", {}, 1), ("Sigmoid", {}, 1), ("Softmax", {"dim": -1}, 1),
    ("LogSoftmax", {"dim": 1}, 1),
]
KINKS = (-3.0, -1.0, -0.5, -0.3, 0.0, 0.2, 0.3, 0.7, 1.0, 3.0, 6.0)


def _input(scale, shape=(2, 4, 3)):
    x = np.random.default_rng(0).standard_normal(shape) * scale
    for k in KINKS:  # move samples off every kink of the functions above
        x = np.where(np.abs(x - k) < 0.05, x + 0.1, x)
    return x


def _pair(name, kwargs):
    return getattr(nn, name)(**kwargs).double(), getattr(torch.nn, name)(**kwargs).double()


@pytest.mark.parametrize("name, kwargs, scale", MODULES, ids=[f"{m[0]}{m[1] or ''}" for m in MODULES])
def test_module_matches_torch(name, kwargs, scale):
    ours, theirs = _pair(name, kwargs)
    ours.eval(), theirs.eval()  # RReLU: the deterministic slope
    assert repr(ours) == repr(theirs)
    state, torch_state = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(torch_state)
    for key in state:
        assert_close(state[key], torch_state[key], msg=key)
    x_np = _input(scale)
    x, tx = ag.tensor(x_np, requires_grad=True), to_torch(x_np, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    assert_close(y, ty)
    v = np.random.default_rng(1).standard_normal(tuple(y.shape))
    y.backward(ag.tensor(v))
    ty.backward(to_torch(v))
    assert_close(x.grad, tx.grad)
    for (key, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, tp.grad, msg=key)


@pytest.mark.parametrize("name, kwargs", [("ReLU", {}), ("LeakyReLU", {"negative_slope": 0.1}), ("ELU", {}),
                                          ("ReLU6", {}), ("Hardtanh", {}), ("SiLU", {}), ("Hardswish", {}),
                                          ("SELU", {}), ("Threshold", {"threshold": 0.2, "value": 0.0})])
def test_inplace_writes_the_input_and_keeps_the_gradient(name, kwargs):
    """inplace=True changes the (non-leaf) input itself; the gradient reaching the leaf is torch's."""
    ours, theirs = _pair(name, dict(kwargs, inplace=True))
    x_np = _input(2)
    x, tx = ag.tensor(x_np, requires_grad=True), to_torch(x_np, requires_grad=True)
    h, th = x * 1.5, tx * 1.5
    y, ty = ours(h), theirs(th)
    assert_close(h, th.detach())  # written in place
    assert_close(y, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(x.grad, tx.grad)


def test_inplace_on_a_leaf_that_requires_grad_is_refused_as_in_torch():
    x_np = _input(1)
    with pytest.raises(RuntimeError):
        torch.nn.ReLU(inplace=True)(to_torch(x_np, requires_grad=True))
    with pytest.raises(RuntimeError, match="leaf"):
        nn.ReLU(inplace=True)(ag.tensor(x_np, requires_grad=True))


def test_rrelu_training_draws_slopes_between_lower_and_upper():
    m = nn.RReLU(0.1, 0.3)
    x = ag.tensor(_input(1, (200, 5)), requires_grad=True)
    ag.manual_seed(3)
    y = m(x)
    slopes = y.detach().numpy() / x.detach().numpy()
    negative = x.detach().numpy() < 0
    assert np.all(slopes[~negative] == 1)
    assert slopes[negative].min() >= 0.1 and slopes[negative].max() <= 0.3
    assert slopes[negative].std() > 0.03  # one slope per element, not one for all
    y.sum().backward()
    assert_close(x.grad, slopes)  # the gradient is the slope each element got
    ag.manual_seed(3)
    assert_close(m(x), y)  # reproducible with the seed


def test_prelu_per_channel_gradient_and_init():
    m = nn.PReLU(4, init=0.3)
    assert m.weight.shape == (4,) and np.all(m.weight.detach().numpy() == np.float32(0.3))
    with pytest.raises(RuntimeError, match="channel"):
        m(ag.randn(2, 3))
    with pytest.raises(RuntimeError):
        torch.nn.PReLU(4)(torch.randn(2, 3))


@pytest.mark.parametrize("call", [
    lambda lib, F: F.gelu(lib.randn(3), approximate="exact"),
    lambda lib, F: F.glu(lib.randn(2, 3)),
    lambda lib, F: F.glu(lib.tensor(1.0)),
    lambda lib, F: F.softshrink(lib.randn(3), -1.0),
    lambda lib, F: F.rrelu(lib.randn(3), 0.5, 0.1),
    lambda lib, F: F.elu(lib.arange(3)),
    lambda lib, F: F.softplus(lib.arange(3)),
    lambda lib, F: F.prelu(lib.randn(2, 3), lib.ones(2)),
    lambda lib, F: F.hardtanh(lib.randn(3), 1.0, -1.0),
], ids=["gelu_approximate", "glu_odd", "glu_0d", "softshrink_negative", "rrelu_bounds", "elu_int", "softplus_int",
        "prelu_channels", "hardtanh_bounds"])
def test_refuses_what_torch_refuses(call):
    import nn.functional as F
    with pytest.raises(Exception) as theirs:
        call(torch, torch.nn.functional)
    with pytest.raises(type(theirs.value) if type(theirs.value) in (ValueError, TypeError) else Exception):
        call(ag, F)


def test_softmin_without_dim_warns_as_torch():
    import nn.functional as F
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmin(ag.tensor(_input(1, (2, 3))))
    assert_close(y, torch.nn.functional.softmin(to_torch(_input(1, (2, 3))), dim=1))
