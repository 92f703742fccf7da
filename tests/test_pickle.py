"""Pickling and copying tensors, parameters, modules and optimizers: the data, requires_grad
and .grad travel, the graph never does (PyTorch's rules)."""

import copy
import pickle

import numpy as np
import pytest
import torch

import autograd as ag
import nn
import optim
from conftest import assert_close


def trained():
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = ag.randn(5, 3)
    for _ in range(2):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    model(x).sum().backward()   # a forward and backward with grad on: leaves hold AccumulateGrad nodes
    return model, opt, x


def test_pickle_a_model_and_its_optimizer_after_training():
    model, opt, x = trained()
    model2, opt2 = pickle.loads(pickle.dumps((model, opt)))
    assert_close(model2(x), model(x))
    for p, p2 in zip(model.parameters(), model2.parameters()):
        assert isinstance(p2, nn.Parameter) and p2.requires_grad and p2.is_leaf
        assert_close(p2.grad, p.grad)
    # the optimizer's state is keyed by the unpickled parameters and continues identically
    assert all(p in opt2.state for p in model2.parameters())
    for o, m in ((opt, model), (opt2, model2)):
        o.step()
    for p, p2 in zip(model.parameters(), model2.parameters()):
        assert_close(p2, p)


def test_pickle_and_deepcopy_keep_requires_grad_and_grad_like_torch():
    for lib in (ag, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        (a * a).sum().backward()
        for clone in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a)):
            assert clone.requires_grad and clone.is_leaf
            assert_close(clone.detach(), a.detach())
        assert_close(copy.deepcopy(a).grad, a.grad)
        # a non-leaf pickles as a leaf that requires grad; deepcopy refuses it
        restored = pickle.loads(pickle.dumps(a * 2))
        assert restored.requires_grad and restored.is_leaf
        with pytest.raises(RuntimeError, match="leaves" if lib is ag else "graph leaves"):
            copy.deepcopy(a * 2)


def test_copy_shares_memory_but_not_grad():
    for lib in (ag, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        a.grad = lib.ones(2)
        c = copy.copy(a)
        assert c.grad is None and c.requires_grad
        with (ag.no_grad() if lib is ag else torch.no_grad()):
            c.add_(1)
        assert_close(a.detach(), [2.0, 3.0], check_dtype=False)


def test_deepcopy_of_a_model_is_independent():
    model, _, x = trained()
    clone = copy.deepcopy(model)
    with ag.no_grad():
        for p in clone.parameters():
            p.mul_(0)
    assert float(model(x).abs().sum()) > 0
    assert isinstance(next(iter(clone.parameters())), nn.Parameter)
