"""Embedding and EmbeddingBag against torch.nn from identical weights; F.one_hot; refusals."""

import numpy as np
import pytest
import torch

import autograd as ag
import nn
import nn.functional as F
from conftest import assert_close, to_numpy


def _pair(module, tmodule, device):
    """ndgrad ``module`` given torch's weights through state_dict."""
    module.load_state_dict({k: ag.tensor(v.numpy()) for k, v in tmodule.state_dict().items()})
    return module.to(device)


def test_embedding_matches_torch(device):
    torch.manual_seed(0)
    t = torch.nn.Embedding(10, 4, padding_idx=2, scale_grad_by_freq=True)
    m = _pair(nn.Embedding(10, 4, padding_idx=2, scale_grad_by_freq=True), t, device)
    idx = np.array([[1, 2, 3, 3], [9, 2, 0, 3]])
    out, tout = m(ag.tensor(idx, device=device)), t(torch.from_numpy(idx))
    assert_close(out, tout, rtol=1e-6, atol=1e-7)
    g = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    out.backward(ag.tensor(g, device=device))
    tout.backward(torch.from_numpy(g))
    assert_close(m.weight.grad, t.weight.grad, rtol=1e-6, atol=1e-7)
    assert list(m.state_dict()) == list(t.state_dict())
    assert repr(m) == repr(t)


def test_embedding_init_zeroes_padding_row_and_normal():
    ag.manual_seed(0)
    m = nn.Embedding(2000, 8, padding_idx=-1)
    w = to_numpy(m.weight)
    assert m.padding_idx == 1999 and np.all(w[1999] == 0)
    assert abs(w[:-1].mean()) < 0.02 and abs(w[:-1].std() - 1) < 0.02


def test_embedding_max_norm_renormalises_in_place():
    torch.manual_seed(0)
    t = torch.nn.Embedding(6, 3, max_norm=1.0)
    with torch.no_grad():
        t.weight.mul_(3)
    m = _pair(nn.Embedding(6, 3, max_norm=1.0), t, "cpu")
    idx = np.array([0, 2, 2, 5])
    assert_close(m(ag.tensor(idx)), t(torch.from_numpy(idx)), rtol=1e-6, atol=1e-7)
    assert_close(m.weight, t.weight, rtol=1e-6, atol=1e-7)  # rows 0, 2, 5 changed, the others not
    assert np.all(np.linalg.norm(to_numpy(m.weight)[[0, 2, 5]], axis=1) <= 1.0 + 1e-6)


def test_from_pretrained_freeze():
    w = ag.tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3))
    frozen = nn.Embedding.from_pretrained(w)
    assert not frozen.weight.requires_grad
    assert_close(frozen(ag.tensor([3, 1])), to_numpy(w)[[3, 1]])
    trainable = nn.Embedding.from_pretrained(w, freeze=False, padding_idx=0)
    assert trainable.weight.requires_grad and trainable.padding_idx == 0
    bag = nn.EmbeddingBag.from_pretrained(w, mode="sum")
    assert_close(bag(ag.tensor([[0, 1], [2, 3]])), np.array([[3, 5, 7], [15, 17, 19]], np.float32))
    with pytest.raises(AssertionError, match="2-dimensional"):
        nn.Embedding.from_pretrained(ag.zeros(3))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_torch(mode, device):
    torch.manual_seed(1)
    t = torch.nn.EmbeddingBag(8, 3, mode=mode, padding_idx=0)
    m = _pair(nn.EmbeddingBag(8, 3, mode=mode, padding_idx=0), t, device)
    idx, offsets = np.array([1, 0, 4, 4, 7, 0, 0, 2, 5]), np.array([0, 3, 5, 7, 7])
    out = m(ag.tensor(idx, device=device), ag.tensor(offsets, device=device))
    tout = t(torch.from_numpy(idx), torch.from_numpy(offsets))
    assert_close(out, tout, rtol=1e-6, atol=1e-7)
    out.sum().backward()
    tout.sum().backward()
    assert_close(m.weight.grad, t.weight.grad, rtol=1e-6, atol=1e-7)
    assert list(m.state_dict()) == list(t.state_dict()) and repr(m) == repr(t)


def test_embedding_bag_scale_grad_by_freq():
    """Each row's gradient divided by how often its index occurs in the input, as F.embedding does
    (torch 2.13's embedding_bag counts wrongly here: index 3 below gets 1/3, so torch's embedding is the
    reference)."""
    w = np.random.default_rng(0).standard_normal((5, 3))
    idx, offsets = np.array([1, 3, 1, 1, 0]), np.array([0, 2])
    x = ag.tensor(w, requires_grad=True)
    F.embedding_bag(ag.tensor(idx), x, ag.tensor(offsets), mode="sum", scale_grad_by_freq=True).sum().backward()
    tx = torch.tensor(w, requires_grad=True)
    rows = torch.nn.functional.embedding(torch.from_numpy(idx), tx, scale_grad_by_freq=True)
    torch.stack([rows[:2].sum(0), rows[2:].sum(0)]).sum().backward()
    assert_close(x.grad, tx.grad)


def test_embedding_bag_refusals():
    w = ag.randn(5, 2)
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        F.embedding_bag(ag.tensor([[0, 1]]), w, mode="mean", per_sample_weights=ag.ones(1, 2))
    with pytest.raises(ValueError, match="offsets"):
        F.embedding_bag(ag.tensor([0, 1]), w)
    with pytest.raises(ValueError, match="offsets\\[0\\]"):
        F.embedding_bag(ag.tensor([0, 1]), w, ag.tensor([1]))
    with pytest.raises(IndexError, match="out of range"):
        F.embedding_bag(ag.tensor([[0, 5]]), w)


def test_embedding_refusals():
    w = ag.randn(4, 2)
    for bad in (ag.tensor([0, 4]), ag.tensor([-1, 0])):
        with pytest.raises(IndexError, match="index out of range"):
            F.embedding(bad, w)
        with pytest.raises(IndexError):
            torch.nn.functional.embedding(torch.from_numpy(bad.numpy()), torch.randn(4, 2))
    with pytest.raises(RuntimeError, match="int64 or int32"):
        F.embedding(ag.tensor([0.0, 1.0]), w)
    with pytest.raises(RuntimeError, match="2-D"):
        F.embedding(ag.tensor([0]), ag.randn(4))
    with pytest.raises(AssertionError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)


def test_one_hot_matches_torch(device):
    t = np.array([[0, 3], [2, 2]])
    for n in (-1, 6):
        got = F.one_hot(ag.tensor(t, device=device), n)
        assert got.dtype == ag.int64
        assert_close(got, torch.nn.functional.one_hot(torch.from_numpy(t), n))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(ag.tensor([0, 3]), 3)
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(ag.tensor([-1, 0]), 3)
    with pytest.raises(RuntimeError, match="int64"):
        F.one_hot(ag.tensor([0.0]), 3)
