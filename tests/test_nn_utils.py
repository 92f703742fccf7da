"""nn.utils against torch.nn.utils: gradient clipping by norm and by value, flat parameter vectors."""

import math

import numpy as np
import pytest

import autograd as ag
import nn
import nn.utils
from backends import Device
from conftest import assert_close, to_torch

torch = pytest.importorskip("torch")

NORM_TYPES = [1, 2, math.inf, -math.inf, 0.5, 3, 0, "inf"]


def make_params(dtype, with_grads=(True, True, False, True), seed=0):
    """ndgrad and torch parameters with the same data and grads; the third has no grad by default."""
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (5,), (2,), ()]
    ours, theirs = [], []
    for i, (shape, has_grad) in enumerate(zip(shapes, with_grads)):
        data, grad = rng.standard_normal(shape).astype(dtype), (3 * rng.standard_normal(shape)).astype(dtype)
        grad = grad * (i != 3)  # one all-zero gradient: the 0- and -inf-norms must see it
        p, q = ag.tensor(data, requires_grad=True), to_torch(data, requires_grad=True)
        if has_grad:
            p.grad, q.grad = ag.tensor(grad), to_torch(grad)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


def grads_match(ours, theirs, rtol):
    for p, q in zip(ours, theirs):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            assert_close(p.grad, q.grad, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("norm_type", NORM_TYPES)
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(dtype, rtol, norm_type, max_norm):
    ours, theirs = make_params(dtype)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, ag.Tensor) and total.shape == () and total.device == Device("cpu")
    assert_close(total, expected, rtol=rtol, atol=0)
    grads_match(ours, theirs, rtol)


def test_clip_grad_norm_scales_only_when_over_the_limit():
    ours, _ = make_params(np.float64)
    before = [None if p.grad is None else p.grad.numpy().copy() for p in ours]
    total = nn.utils.clip_grad_norm_(iter(ours), 1e6)  # a generator is walked once, still every grad is seen
    for p, b in zip(ours, before):
        if b is not None:
            np.testing.assert_array_equal(p.grad.numpy(), b)
    nn.utils.clip_grad_norm_(ours, 1.0)
    clipped = np.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in ours if p.grad is not None))
    assert clipped == pytest.approx(1.0, rel=1e-5) and total.item() > 1


def test_clip_grad_norm_takes_one_tensor_and_skips_missing_grads():
    ours, theirs = make_params(np.float64, with_grads=(False, False, True, False))
    for i in range(4):
        total = nn.utils.clip_grad_norm_(ours[i], 0.1)
        expected = torch.nn.utils.clip_grad_norm_(theirs[i], 0.1)
        assert_close(total, expected, check_dtype=False)
    grads_match(ours, theirs, 1e-13)


def test_no_parameters_or_no_grads_give_a_zero_norm():
    for params in ([], [ag.zeros(2, requires_grad=True)]):
        total = nn.utils.clip_grad_norm_(params, 1.0)
        assert total.shape == () and total.item() == 0.0 and total.dtype == ag.float32


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_error_if_nonfinite(bad):
    ours, theirs = make_params(np.float32)
    ours[0].grad.array[1, 2] = bad
    theirs[0].grad[1, 2] = bad
    before = ours[1].grad.numpy().copy()
    with pytest.raises(RuntimeError, match="non-finite.*error_if_nonfinite=False"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(ours[1].grad.numpy(), before)  # nothing was scaled
    total = nn.utils.clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert_close(total, expected, rtol=0)
    for p, q in zip(ours, theirs):
        if p.grad is not None:
            np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())  # nan and zeros, as in PyTorch


def test_mixed_precision_norm_is_promoted_as_in_torch():
    p16, p32 = ag.zeros(2, dtype=ag.float16, requires_grad=True), ag.zeros(2, requires_grad=True)
    p16.grad, p32.grad = ag.tensor([1.0, 2.0], dtype=ag.float16), ag.tensor([1.0, 2.0])
    q16, q32 = to_torch(p16, True), to_torch(p32, True)
    q16.grad, q32.grad = to_torch(p16.grad), to_torch(p32.grad)
    total = nn.utils.get_total_norm([p16.grad, p32.grad])
    expected = torch.nn.utils.get_total_norm([q16.grad, q32.grad])
    assert_close(total, expected, rtol=1e-6)
    nn.utils.clip_grads_with_norm_([p16, p32], 1.0, total)
    torch.nn.utils.clip_grads_with_norm_([q16, q32], 1.0, expected)
    assert_close(p16.grad, q16.grad, rtol=1e-3)
    assert_close(p32.grad, q32.grad, rtol=1e-6)


def test_clip_grads_with_norm_uses_the_given_norm():
    ours, theirs = make_params(np.float64)
    nn.utils.clip_grads_with_norm_(ours, 2.0, ag.tensor(8.0, dtype=ag.float64))
    torch.nn.utils.clip_grads_with_norm_(theirs, 2.0, torch.tensor(8.0, dtype=torch.float64))
    grads_match(ours, theirs, 1e-15)


def test_clipping_bumps_the_grad_version():
    ours, _ = make_params(np.float64)
    versions = [p.grad._version_number for p in ours if p.grad is not None]
    nn.utils.clip_grad_norm_(ours, 0.1)
    nn.utils.clip_grad_value_(ours, 0.01)
    assert [p.grad._version_number for p in ours if p.grad is not None] == [v + 2 for v in versions]


@pytest.mark.parametrize("clip_value", [0.5, 3])
def test_clip_grad_value_matches_torch(clip_value):
    ours, theirs = make_params(np.float32)
    assert nn.utils.clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    grads_match(ours, theirs, 0)
    assert max(float(np.abs(p.grad.numpy()).max()) for p in ours if p.grad is not None) <= clip_value


def test_clipping_across_devices_gives_the_cpu_numbers(gpu):
    ours, theirs = make_params(np.float64)
    for p in ours[1:]:
        p.data = p.to("cuda")
        if p.grad is not None:
            p.grad = p.grad.to("cuda")
    total = nn.utils.clip_grad_norm_(ours, 0.5, norm_type=3)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type=3)
    assert total.device == Device("cpu")
    assert_close(total, expected, rtol=1e-13)
    assert ours[1].grad._backend is gpu
    grads_match(ours, theirs, 1e-13)


def test_parameters_to_vector_and_back_match_torch():
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    reference = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    reference.load_state_dict({k: to_torch(v) for k, v in model.state_dict().items()})
    vec = nn.utils.parameters_to_vector(model.parameters())
    expected = torch.nn.utils.parameters_to_vector(reference.parameters())
    assert_close(vec, expected, rtol=0)
    vec.sum().backward()  # differentiable: every parameter gets a gradient of ones
    assert all(np.all(p.grad.numpy() == 1) for p in model.parameters())

    new = ag.arange(vec.numel(), dtype=ag.float32)
    nn.utils.vector_to_parameters(new, model.parameters())
    torch.nn.utils.vector_to_parameters(to_torch(new), reference.parameters())
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert_close(p, q, rtol=0, msg=name)
        assert isinstance(p, nn.Parameter) and p.requires_grad
    new.array[0] = 100.0  # the parameters are views of the vector, as in PyTorch
    assert model[0].weight.array[0, 0] == 100.0
    assert_close(nn.utils.parameters_to_vector(model.parameters()), new, rtol=0)


def test_vector_conversions_explain_their_errors(gpu):
    params = [nn.Parameter(ag.zeros(2)), nn.Parameter(ag.zeros(3))]
    with pytest.raises(TypeError, match="expected a Tensor, but got list"):
        nn.utils.vector_to_parameters([1.0] * 5, params)
    with pytest.raises(RuntimeError, match="1-D vector of 5 elements, got shape \\(4,\\)"):
        nn.utils.vector_to_parameters(ag.zeros(4), params)
    params[1].data = params[1].to("cuda")
    with pytest.raises(TypeError, match="two devices \\(cpu and cuda:0\\)"):
        nn.utils.parameters_to_vector(params)


def test_nn_utils_is_a_package_and_an_attribute():
    import importlib
    assert importlib.import_module("nn.utils") is nn.utils
    assert nn.utils.clip_grad_norm_.__module__ == "nn.utils.clip_grad"
