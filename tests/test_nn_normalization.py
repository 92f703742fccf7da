"""Normalization and dropout modules against torch.nn's from identical weights: outputs, every
gradient, running statistics over several training steps, state_dicts, train()/eval(); dropout's
mask statistics, scaling, reproducibility and what it saves."""

import numpy as np
import pytest
import torch

import autograd as ag
import nn
import nn.functional as F
from conftest import assert_close, to_torch


def _pair(name, *args, **kwargs):
    """The same module from both libraries, in float64, with the same random affine parameters."""
    ours, theirs = getattr(nn, name)(*args, **kwargs).double(), getattr(torch.nn, name)(*args, **kwargs).double()
    rng = np.random.default_rng(7)
    with ag.no_grad(), torch.no_grad():
        for (key, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            values = rng.uniform(0.5, 1.5, tuple(p.shape))
            p.copy_(ag.tensor(values))
            tp.copy_(torch.from_numpy(values))
    return ours, theirs


def _step(ours, theirs, x_np, seed):
    """One forward and backward through both; compares outputs and every gradient."""
    x, tx = ag.tensor(x_np, requires_grad=True), to_torch(x_np, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    assert_close(y, ty, msg="output")
    v = np.random.default_rng(seed).standard_normal(tuple(y.shape))
    y.backward(ag.tensor(v))
    ty.backward(to_torch(v))
    assert_close(x.grad, tx.grad, msg="input grad")
    for (key, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, tp.grad, msg=f"{key} grad")


def _same_state(ours, theirs):
    state, torch_state = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(torch_state)
    for key in state:
        assert tuple(state[key].shape) == tuple(torch_state[key].shape), key
        assert_close(state[key], torch_state[key], msg=key)  # dtypes too: num_batches_tracked is int64


BATCH_NORMS = [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (4, 3, 3, 2)),
               ("BatchNorm3d", (2, 3, 2, 3, 2))]


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("name, shape", BATCH_NORMS, ids=[f"{n}-{len(s)}d" for n, s in BATCH_NORMS])
def test_batch_norm_training_steps_then_eval(name, shape, momentum):
    ours, theirs = _pair(name, 3, momentum=momentum)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(0)
    for step in range(4):  # inputs of different mean and scale, so the running statistics move
        _step(ours, theirs, rng.standard_normal(shape) * (step + 1) + step, seed=step)
        _same_state(ours, theirs)
    ours.eval(), theirs.eval()
    _step(ours, theirs, rng.standard_normal(shape), seed=9)  # the running statistics normalise
    _same_state(ours, theirs)  # and stay as they were


@pytest.mark.parametrize("affine, track, bias", [(False, True, True), (True, False, True), (False, False, True),
                                                 (True, True, False)])
def test_batch_norm_without_affine_or_running_stats(affine, track, bias):
    ours, theirs = _pair("BatchNorm2d", 3, affine=affine, track_running_stats=track, bias=bias)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(1)
    for train in (True, False):  # without running statistics, eval uses the batch's
        ours.train(train), theirs.train(train)
        _step(ours, theirs, rng.standard_normal((3, 3, 2, 2)) * 2 + 1, seed=int(train))
        _same_state(ours, theirs)
    assert (ours.running_mean is None) == (not track)


def test_batch_norm_state_dict_and_buffers():
    ours, theirs = nn.BatchNorm1d(5), torch.nn.BatchNorm1d(5)
    state = ours.state_dict()
    assert list(state) == list(theirs.state_dict())
    assert state["num_batches_tracked"].dtype == ag.int64 and state["num_batches_tracked"].shape == ()
    assert [name for name, _ in ours.named_buffers()] == [name for name, _ in theirs.named_buffers()]
    ours.double()  # floating buffers follow the module's dtype; the counter stays int64
    assert ours.running_mean.dtype == ag.float64 and ours.num_batches_tracked.dtype == ag.int64
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})


def test_batch_norm_running_update_bumps_the_version():
    """The running statistics change in place: whatever saved them before must refuse to backward."""
    m = nn.BatchNorm1d(3)
    w = ag.randn(3, requires_grad=True)
    saved = w * m.running_var  # mul saves running_var for w's gradient
    before = m.running_mean._version_number, m.running_var._version_number
    m(ag.randn(4, 3))
    assert (m.running_mean._version_number, m.running_var._version_number) == (before[0] + 1, before[1] + 1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        saved.sum().backward()
    m.eval()
    m(ag.randn(4, 3))  # eval reads them only
    assert m.running_var._version_number == before[1] + 1


@pytest.mark.parametrize("name, shape", [("BatchNorm1d", (2, 3, 4, 5)), ("BatchNorm2d", (4, 3, 2)),
                                         ("BatchNorm3d", (2, 3, 4, 5))])
def test_batch_norm_checks_the_input_dims_as_torch(name, shape):
    with pytest.raises(ValueError):
        getattr(torch.nn, name)(3)(torch.randn(shape))
    with pytest.raises(ValueError, match="input"):
        getattr(nn, name)(3)(ag.randn(*shape))


def test_batch_norm_one_value_per_channel_is_refused_in_training_only():
    with pytest.raises(ValueError):
        torch.nn.BatchNorm1d(3)(torch.randn(1, 3))
    m = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        m(ag.randn(1, 3))
    m.eval()
    assert m(ag.randn(1, 3)).shape == (1, 3)


@pytest.mark.parametrize("name, shape, kwargs", [
    ("InstanceNorm1d", (2, 3, 5), {}),
    ("InstanceNorm1d", (3, 5), {"affine": True}),  # unbatched
    ("InstanceNorm2d", (2, 3, 3, 2), {"affine": True, "track_running_stats": True}),
    ("InstanceNorm2d", (3, 2, 4), {"track_running_stats": True, "momentum": None}),
    ("InstanceNorm3d", (2, 3, 2, 2, 3), {"affine": True}),
])
def test_instance_norm_training_steps_then_eval(name, shape, kwargs):
    ours, theirs = _pair(name, 3, **kwargs)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(2)
    for step in range(3):
        _step(ours, theirs, rng.standard_normal(shape) * (step + 1) - step, seed=step)
        _same_state(ours, theirs)
    ours.eval(), theirs.eval()
    _step(ours, theirs, rng.standard_normal(shape), seed=5)
    _same_state(ours, theirs)


@pytest.mark.parametrize("args, kwargs, shape", [
    ((4,), {}, (3, 4)),
    ((4,), {"bias": False}, (2, 3, 4)),
    ((4,), {"bias": False, "elementwise_affine": True}, (2, 4)),
    (([3, 4],), {"eps": 1e-3}, (2, 3, 4)),
    ((4,), {"elementwise_affine": False}, (5, 4)),
])
def test_layer_norm(args, kwargs, shape):
    ours, theirs = _pair("LayerNorm", *args, **kwargs)
    assert repr(ours) == repr(theirs)
    _same_state(ours, theirs)
    _step(ours, theirs, np.random.default_rng(3).standard_normal(shape) * 3 + 1, seed=0)


@pytest.mark.parametrize("groups, channels, kwargs, shape", [
    (2, 4, {}, (3, 4, 5)), (3, 6, {"eps": 1e-3}, (2, 6, 2, 2)), (2, 4, {"bias": False}, (2, 4, 3)),
    (1, 3, {"affine": False}, (2, 3)), (4, 4, {}, (2, 4, 3)),
])
def test_group_norm(groups, channels, kwargs, shape):
    ours, theirs = _pair("GroupNorm", groups, channels, **kwargs)
    assert repr(ours) == repr(theirs)
    _same_state(ours, theirs)
    _step(ours, theirs, np.random.default_rng(4).standard_normal(shape) * 2 - 1, seed=1)


def test_group_norm_channels_must_divide():
    with pytest.raises(ValueError):
        torch.nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)


def test_batch_norm_functional_momentum_and_eval_without_stats():
    x = ag.randn(4, 3)
    with pytest.raises(RuntimeError, match="evaluation mode"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(RuntimeError, match="3 elements"):
        F.batch_norm(x, ag.zeros(4), ag.ones(4), training=True)


# --- dropout -------------------------------------------------------------------------------------

N = 40_000  # elements: the fraction of drops is within 0.01 of p with probability > 0.9999


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_fraction_scaling_and_gradient(p):
    ag.manual_seed(0)
    x = ag.tensor(np.random.default_rng(0).uniform(1, 2, N), requires_grad=True)
    y = F.dropout(x, p)
    out, x_np = y.detach().numpy(), x.detach().numpy()
    dropped = out == 0
    assert abs(dropped.mean() - p) < 0.01
    assert_close(out[~dropped], x_np[~dropped] / (1 - p), rtol=1e-12)
    y.backward(ag.ones(N, dtype=ag.float64))
    assert_close(x.grad, np.where(dropped, 0.0, 1 / (1 - p)), rtol=1e-12)


def test_dropout_saves_only_the_mask():
    x = ag.randn(5, 6, requires_grad=True)
    for y, shape in ((F.dropout(x, 0.3), (5, 6)), (F.dropout1d(x, 0.3), (5, 1)),
                     (F.alpha_dropout(x, 0.3, training=True), (5, 6))):
        saved = y.grad_fn._saved
        assert len(saved) == 1, f"{y.grad_fn.name()} saved {len(saved)} entries"
        assert saved[0][1].dtype == np.bool_ and saved[0][1].shape == shape


def test_dropout_reproducible_with_manual_seed():
    x = ag.randn(100, 10)
    ag.manual_seed(123)
    first = [F.dropout(x, 0.5).numpy(), F.dropout2d(x.reshape(10, 10, 5, 2), 0.5).numpy()]
    ag.manual_seed(123)
    second = [F.dropout(x, 0.5).numpy(), F.dropout2d(x.reshape(10, 10, 5, 2), 0.5).numpy()]
    for a, b in zip(first, second):
        assert_close(a, b)
    assert not np.array_equal(F.dropout(x, 0.5).numpy(), first[0])  # and the stream moves on


# (function, input shape, how many leading dims name a channel): unbatched inputs have one
@pytest.mark.parametrize("fn, shape, lead", [(F.dropout1d, (20, 50, 8), 2), (F.dropout1d, (400, 8), 1),
                                             (F.dropout2d, (20, 50, 3, 2), 2), (F.dropout3d, (8, 25, 2, 2, 2), 2),
                                             (F.dropout3d, (200, 2, 2, 2), 1)])
def test_feature_dropout_drops_whole_channels(fn, shape, lead):
    ag.manual_seed(1)
    x = ag.tensor(np.random.default_rng(1).uniform(1, 2, shape), requires_grad=True)
    y = fn(x, 0.4)
    out = y.detach().numpy().reshape(shape[:lead] + (-1,))
    dropped = out == 0
    assert np.all(dropped.all(-1) == dropped.any(-1))  # a channel is dropped whole or not at all
    assert abs(dropped.all(-1).mean() - 0.4) < 0.06
    y.sum().backward()
    assert_close(x.grad.numpy().reshape(shape[:lead] + (-1,)), np.where(dropped, 0.0, 1 / 0.6))


def test_alpha_dropout_keeps_mean_and_variance():
    ag.manual_seed(2)
    x = ag.tensor(np.random.default_rng(2).standard_normal(N), requires_grad=True)
    y = F.alpha_dropout(x, 0.2, training=True)
    out = y.detach().numpy()
    assert abs(out.mean()) < 0.03 and abs(out.std() - 1) < 0.03
    # kept elements are a * x + b, dropped ones a * alpha' + b, with torch's constants
    alpha_p = -torch.nn.SELU()(torch.tensor(-100.0, dtype=torch.float64)).item()
    a = ((1 - 0.2) * (1 + 0.2 * alpha_p ** 2)) ** -0.5
    b = a * alpha_p * 0.2
    dropped = np.isclose(out, -a * alpha_p + b)
    assert abs(dropped.mean() - 0.2) < 0.01
    assert_close(out[~dropped], a * x.detach().numpy()[~dropped] + b)
    y.sum().backward()
    assert_close(x.grad, np.where(dropped, 0.0, a))


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d, F.alpha_dropout, F.feature_alpha_dropout])
@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_probability_outside_0_1_is_refused_as_torch(fn, p):
    with pytest.raises(ValueError):
        getattr(torch.nn.functional, fn.__name__)(torch.randn(2, 3, 4), p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        fn(ag.randn(2, 3, 4), p)
    with pytest.raises(ValueError):
        nn.Dropout(p)


def test_dropout_module_train_and_eval():
    m, tm = nn.Dropout(0.3), torch.nn.Dropout(0.3)
    assert repr(m) == repr(tm)
    x = ag.randn(50, 40)
    assert (m(x).numpy() == 0).mean() > 0.2
    m.eval()
    assert m(x) is x  # the input itself, as PyTorch
    for name in ("Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"):
        assert repr(getattr(nn, name)(0.2, inplace=True)) == repr(getattr(torch.nn, name)(0.2, inplace=True))


def test_dropout_inplace_writes_the_input():
    ag.manual_seed(4)
    leaf = ag.tensor(np.random.default_rng(4).uniform(1, 2, (30, 30)), requires_grad=True)
    h = leaf * 1
    y = F.dropout(h, 0.5, inplace=True)
    assert y is h and (h.detach().numpy() == 0).any()
    y.sum().backward()
    assert_close(leaf.grad, np.where(h.detach().numpy() == 0, 0.0, 2.0))
