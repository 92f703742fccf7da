"""nn.init: formulas against PyTorch's (gains, fans, bounds), distribution statistics for a fixed
seed, exact structure (eye_, dirac_), orthogonality, generators, no_grad and version bumps."""

import math

import numpy as np
import pytest
import torch

import autograd as ag
import nn
from conftest import assert_close


def val(t):
    return t.detach().numpy()


GAINS = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose1d", None),
         ("conv_transpose2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
         ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu", None)]


@pytest.mark.parametrize("name, param", GAINS)
def test_calculate_gain_matches_torch(name, param):
    assert nn.init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


@pytest.mark.parametrize("name, param", [("softmax", None), ("leaky_relu", "x"), ("leaky_relu", True)])
def test_calculate_gain_refusals(name, param):
    with pytest.raises(ValueError):
        nn.init.calculate_gain(name, param)
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain(name, param)


@pytest.mark.parametrize("shape", [(3, 4), (5, 2, 3), (6, 4, 3, 3), (2, 3, 1, 2, 4), (0, 3)])
def test_fans_match_torch(shape):
    assert nn.init._calculate_fan_in_and_fan_out(ag.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init._calculate_fan_in_and_fan_out(ag.empty(3))


def _std_and_bound(shape, fn):
    """(std, max |w|) over a large draw, for a fixed seed."""
    ag.manual_seed(0)
    w = val(fn(ag.empty(*shape)))
    return w.std(), np.abs(w).max(), w.mean()


# each: ndgrad's call, torch's call (same arguments), the expected std
SCALED = [
    ("xavier_uniform", lambda m, t: m.init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(2.0 / (200 + 300))),
    ("xavier_normal", lambda m, t: m.init.xavier_normal_(t, gain=0.5), 0.5 * math.sqrt(2.0 / (200 + 300))),
    ("kaiming_uniform_fan_in", lambda m, t: m.init.kaiming_uniform_(t, a=0.1), math.sqrt(2 / 1.01) / math.sqrt(300)),
    ("kaiming_uniform_fan_out_relu", lambda m, t: m.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
     math.sqrt(2) / math.sqrt(200)),
    ("kaiming_normal_tanh", lambda m, t: m.init.kaiming_normal_(t, nonlinearity="tanh"), 5 / 3 / math.sqrt(300)),
    ("kaiming_normal_selu_fan_out", lambda m, t: m.init.kaiming_normal_(t, mode="fan_out", nonlinearity="selu"),
     0.75 / math.sqrt(200)),
]


@pytest.mark.parametrize("name, call, std", SCALED, ids=[s[0] for s in SCALED])
def test_scaled_inits_have_torchs_distribution(name, call, std):
    ours_std, ours_max, ours_mean = _std_and_bound((200, 300), lambda t: call(nn, t))
    torch.manual_seed(0)
    theirs = call(torch.nn, torch.empty(200, 300)).numpy()
    assert abs(ours_std - std) < 0.02 * std and abs(theirs.std() - std) < 0.02 * std
    assert abs(ours_mean) < 0.02 * std
    if "uniform" in name:  # the same bound: sqrt(3) std, nearly reached by 60000 draws
        bound = math.sqrt(3) * std
        assert ours_max <= bound * (1 + 1e-6) and ours_max > 0.999 * bound
        assert np.abs(theirs).max() <= bound * (1 + 1e-6)


def test_uniform_normal_constant():
    ag.manual_seed(1)
    t = ag.empty(200, 50)
    nn.init.uniform_(t, -2.0, 3.0)
    assert val(t).min() >= -2.0 and val(t).max() < 3.0 and val(t).max() > 2.99 and val(t).min() < -1.99
    assert abs(val(t).mean() - 0.5) < 0.05
    nn.init.normal_(t, 1.0, 0.5)
    assert abs(val(t).mean() - 1.0) < 0.01 and abs(val(t).std() - 0.5) < 0.01
    nn.init.constant_(t, 0.25)
    assert np.all(val(t) == 0.25)
    nn.init.zeros_(t)
    assert not np.any(val(t))
    nn.init.ones_(t)
    assert np.all(val(t) == 1)


@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, -2.0, 2.0), (0.5, 1.0, 0.0, 1.0), (0.0, 0.02, -0.04, 0.04),
                                             (1.0, 2.0, 0.0, 10.0)])
def test_trunc_normal_has_torchs_distribution(mean, std, a, b):
    ag.manual_seed(0)
    torch.manual_seed(0)
    ours = val(nn.init.trunc_normal_(ag.empty(400, 250), mean, std, a, b))
    theirs = torch.nn.init.trunc_normal_(torch.empty(400, 250), mean, std, a, b).numpy()
    assert ours.min() >= a and ours.max() <= b
    # the truncated normal's mean and std (torch's draw is a sample of it too)
    assert abs(ours.mean() - theirs.mean()) < 0.01 * (b - a)
    assert abs(ours.std() - theirs.std()) < 0.01 * (b - a)


def test_trunc_normal_warns_like_torch():
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        nn.init.trunc_normal_(ag.empty(10), mean=10.0, std=1.0, a=-2.0, b=2.0)


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2)])
def test_eye_matches_torch(shape):
    assert_close(nn.init.eye_(ag.empty(*shape)), torch.nn.init.eye_(torch.empty(*shape)))


@pytest.mark.parametrize("shape, groups", [((4, 4, 3), 1), ((6, 2, 3, 3), 2), ((3, 5, 2, 4), 1),
                                           ((4, 2, 3, 3, 3), 2), ((8, 2, 1, 1), 4), ((2, 4, 5, 5), 1)])
def test_dirac_matches_torch(shape, groups):
    assert_close(nn.init.dirac_(ag.empty(*shape), groups), torch.nn.init.dirac_(torch.empty(*shape), groups))


def test_structured_refusals():
    for ours, theirs in [(lambda: nn.init.eye_(ag.empty(2, 2, 2)), lambda: torch.nn.init.eye_(torch.empty(2, 2, 2))),
                         (lambda: nn.init.dirac_(ag.empty(2, 2)), lambda: torch.nn.init.dirac_(torch.empty(2, 2))),
                         (lambda: nn.init.dirac_(ag.empty(3, 2, 3), groups=2),
                          lambda: torch.nn.init.dirac_(torch.empty(3, 2, 3), groups=2)),
                         (lambda: nn.init.orthogonal_(ag.empty(3)), lambda: torch.nn.init.orthogonal_(torch.empty(3))),
                         (lambda: nn.init.sparse_(ag.empty(3, 2, 2), 0.5),
                          lambda: torch.nn.init.sparse_(torch.empty(3, 2, 2), 0.5)),
                         (lambda: nn.init.kaiming_normal_(ag.empty(3, 2), mode="fan_avg"),
                          lambda: torch.nn.init.kaiming_normal_(torch.empty(3, 2), mode="fan_avg"))]:
        with pytest.raises(ValueError):
            ours()
        with pytest.raises(ValueError):
            theirs()


@pytest.mark.parametrize("shape, gain", [((5, 5), 1.0), ((3, 8), 2.0), ((8, 3), 0.5), ((4, 2, 3, 3), 1.5)])
def test_orthogonal(shape, gain):
    ag.manual_seed(0)
    w = val(nn.init.orthogonal_(ag.empty(*shape, dtype=ag.float64), gain)).reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=1e-12)


def test_sparse_zeros_each_column():
    ag.manual_seed(0)
    w = val(nn.init.sparse_(ag.empty(10, 300), sparsity=0.25, std=0.5))
    assert np.all((w == 0).sum(axis=0) == math.ceil(0.25 * 10))  # as torch: ceil(sparsity * rows) per column
    assert abs(w[w != 0].std() - 0.5) < 0.03
    assert len({tuple(np.flatnonzero(c == 0)) for c in w.T}) > 100  # zero rows drawn per column


@pytest.mark.parametrize("fn", [
    lambda t, g: nn.init.uniform_(t, generator=g), lambda t, g: nn.init.normal_(t, generator=g),
    lambda t, g: nn.init.trunc_normal_(t, generator=g), lambda t, g: nn.init.xavier_uniform_(t, generator=g),
    lambda t, g: nn.init.xavier_normal_(t, generator=g), lambda t, g: nn.init.kaiming_uniform_(t, generator=g),
    lambda t, g: nn.init.kaiming_normal_(t, generator=g), lambda t, g: nn.init.orthogonal_(t, generator=g),
    lambda t, g: nn.init.sparse_(t, 0.3, generator=g)])
def test_generator_makes_draws_repeatable(fn):
    first = val(fn(ag.empty(6, 5), ag.Generator().manual_seed(7)))
    ag.manual_seed(123)  # the global RNG does not matter with a generator
    again = val(fn(ag.empty(6, 5), ag.Generator().manual_seed(7)))
    other = val(fn(ag.empty(6, 5), ag.Generator().manual_seed(8)))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("fn", [
    lambda p: nn.init.uniform_(p), lambda p: nn.init.normal_(p), lambda p: nn.init.trunc_normal_(p),
    lambda p: nn.init.constant_(p, 2.0), lambda p: nn.init.ones_(p), lambda p: nn.init.zeros_(p),
    lambda p: nn.init.eye_(p), lambda p: nn.init.xavier_uniform_(p), lambda p: nn.init.xavier_normal_(p),
    lambda p: nn.init.kaiming_uniform_(p), lambda p: nn.init.kaiming_normal_(p), lambda p: nn.init.orthogonal_(p),
    lambda p: nn.init.sparse_(p, 0.5)])
def test_inits_fill_parameters_in_place_outside_the_graph(fn):
    p = nn.Parameter(ag.zeros(4, 3))
    array, version = p.array, p._version[0]
    assert fn(p) is p
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p.array is array and p._version[0] > version  # in place, version bumped


def test_zero_element_tensors():
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        nn.init.kaiming_uniform_(ag.empty(0, 3))
    nn.init.xavier_uniform_(ag.empty(0, 3))
    nn.init.orthogonal_(ag.empty(0, 3))
