"""PyTorch's everyday surface: dtype aliases, Tensor.type and new_*, sampling, NumPy keyword aliases,
default dtype and device, device discovery. Each answer is compared with PyTorch's own."""

import numpy as np
import pytest

import autograd as ag
import backends
from conftest import SecondDevice, assert_close

torch = pytest.importorskip("torch")


@pytest.fixture
def gpu(monkeypatch):
    """A NumPy backend posing as cuda:0 (see test_devices.py)."""
    table = dict(backends._backends)
    table[ag.device("cuda:0")] = backend = SecondDevice()
    monkeypatch.setattr(backends, "_backends", table)
    return backend


def same_error(ours, theirs, match=None):
    """Both calls raise; ours a RuntimeError (PyTorch's NotImplementedError is one) saying ``match``."""
    with pytest.raises(RuntimeError):
        theirs()
    with pytest.raises(RuntimeError, match=match):
        ours()


# --- NumPy keyword aliases: axis= for dim=, keepdims= for keepdim= ------------------------------------------

# (name, accepts keepdims) for everything PyTorch gives axis= to, as a function and as a method
AXIS_OPS = [("sum", True), ("mean", True), ("max", True), ("min", True), ("amax", True), ("amin", True),
            ("argmax", True), ("argmin", True), ("any", True), ("all", True), ("logsumexp", True),
            ("softmax", False), ("log_softmax", False), ("squeeze", False), ("unsqueeze", False)]


def _compare(ours, theirs):
    if isinstance(theirs, tuple):  # max/min with a dim: (values, indices)
        for a, b in zip(ours, theirs):
            assert_close(a, b, rtol=1e-6, atol=1e-6)
    else:
        assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,keepdims", AXIS_OPS)
@pytest.mark.parametrize("method", [False, True])
def test_axis_and_keepdims_give_torchs_results(name, keepdims, method):
    data = np.random.default_rng(0).standard_normal((3, 1, 4)).astype(np.float32)
    if name in ("any", "all"):
        data = data > 0
    x, tx = ag.tensor(data), torch.from_numpy(data)
    call = (lambda t, **kw: getattr(t, name)(**kw)) if method else \
        (lambda t, **kw: getattr(ag if isinstance(t, ag.Tensor) else torch, name)(t, **kw))
    kwargs = [dict(axis=1), dict(axis=-1)] + ([dict(axis=2, keepdims=True), dict(dim=0, keepdims=True)]
                                              if keepdims else [])
    for kw in kwargs:
        _compare(call(x, **kw), call(tx, **kw))
    if not keepdims:  # where PyTorch refuses keepdims=, so do we
        with pytest.raises(TypeError):
            call(x, axis=1, keepdims=True)


def test_axis_on_cat_and_stack():
    a, b = ag.ones(2, 3), ag.zeros(2, 3)
    ta, tb = torch.ones(2, 3), torch.zeros(2, 3)
    assert_close(ag.cat([a, b], axis=1), torch.cat([ta, tb], axis=1))
    assert_close(ag.stack([a, b], axis=2), torch.stack([ta, tb], axis=2))


def test_dim_and_axis_together_is_an_error():
    with pytest.raises(TypeError, match="both dim= and its NumPy alias axis="):
        ag.ones(2, 2).sum(dim=0, axis=1)
    with pytest.raises(TypeError, match="keepdim"):
        ag.sum(ag.ones(2, 2), 0, keepdim=True, keepdims=True)


def test_axis_keeps_gradients_flowing():
    x = ag.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x.mean(axis=0, keepdims=True).sum().backward()
    assert_close(x.grad, np.full((2, 2), 0.5, dtype=np.float32))
