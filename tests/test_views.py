"""Views share their base's memory and version counter; in-place ops write through them,
with and without a graph; PyTorch's refusals (view of non-viewable memory, writing to
expanded memory, in-place on a view of a leaf) are ndgrad's too. Each case runs under
both libraries."""

import numpy as np
import pytest
import torch

import autograd as ag
from conftest import assert_close, to_numpy


def make(lib, values, requires_grad=False):
    t = torch.tensor(values, dtype=torch.float64) if lib is torch else ag.tensor(values, dtype=ag.float64)
    return t.requires_grad_(requires_grad)


def version(t):
    """torch's t._version is an int; ndgrad's counter is a shared one-element list."""
    return t._version if isinstance(t, torch.Tensor) else t._version_number


def both(fn):
    """fn(lib) under both libraries: the same values, or both raise."""
    results = []
    for lib in (ag, torch):
        try:
            results.append(("ok", fn(lib)))
        except RuntimeError as e:
            results.append(("error", str(e)))
    (kind, got), (expected_kind, expected) = results
    assert kind == expected_kind, f"ndgrad: {kind} {got!r}; torch: {expected_kind} {expected!r}"
    if kind == "ok":
        for g, e in zip(got, expected):
            assert_close(g, e)
    return got


VIEWS = {
    "slice": lambda t: t[1:3],
    "int": lambda t: t[1],
    "select": lambda t: t.select(1, 0),
    "narrow": lambda t: t.narrow(0, 1, 2),
    "transpose": lambda t: t.transpose(0, 1),
    "T": lambda t: t.T,
    "view": lambda t: t.view(6),
    "reshape": lambda t: t.reshape(2, 3),
    "unsqueeze": lambda t: t.unsqueeze(0),
    "squeeze": lambda t: t.unsqueeze(1).squeeze(1),
    "flatten": lambda t: t.flatten(),
    "detach": lambda t: t.detach(),
    "view_of_view": lambda t: t.T[1],
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_write_through_a_view_without_a_graph(name):
    def run(lib):
        base = make(lib, np.arange(6.0).reshape(3, 2))
        v = VIEWS[name](base)
        v.mul_(10)
        v += 1
        return [base, v, np.array(version(base))]
    both(run)


@pytest.mark.parametrize("name", sorted(set(VIEWS) - {"detach"}))
def test_in_place_write_through_a_view_of_a_saved_tensor_is_detected(name):
    """mul saved z; z changes through a view: backward refuses instead of a wrong gradient."""
    def run(lib):
        w = make(lib, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
        z = make(lib, np.ones((3, 2)))
        y = w * z
        VIEWS[name](z).add_(1)
        y.sum().backward()
        return [w.grad]
    with pytest.raises(RuntimeError, match=r"MulBackward0: .*modified by an in-place operation"):
        run(ag)
    with pytest.raises(RuntimeError):
        run(torch)


@pytest.mark.parametrize("name", sorted(set(VIEWS) - {"detach"}))
def test_in_place_through_a_view_of_a_non_leaf_rewrites_the_base(name):
    def run(lib):
        w = make(lib, np.arange(1.0, 7.0).reshape(3, 2), requires_grad=True)
        y = w * 1
        VIEWS[name](y).mul_(10)
        (y * y).sum().backward()
        return [y, w.grad]
    both(run)


def test_issue_example_copy_slices():
    def run(lib):
        w = make(lib, [1.0, 2.0, 3.0], requires_grad=True)
        y = w * 1
        y[0:2].mul_(10)
        y.sum().backward()
        return [y, w.grad]
    y, wgrad = both(run)
    assert_close(wgrad, [10.0, 10.0, 1.0])


def test_non_viewable_memory_refuses_view_like_torch():
    both(lambda lib: [make(lib, np.arange(6.0).reshape(2, 3)).T.view(6)])
    with pytest.raises(RuntimeError, match=r"view: .*\(3, 2\).*use \.reshape"):
        ag.tensor(np.arange(6.0).reshape(2, 3)).T.view(6)
    assert_close(ag.tensor(np.arange(6.0).reshape(2, 3)).T.reshape(6), np.arange(6.0).reshape(2, 3).T.ravel())


@pytest.mark.parametrize("write", ["add_", "mul_", "fill_", "zero_", "setitem"])
def test_writing_to_expanded_memory_is_refused(write):
    """torch refuses arithmetic updates of expanded memory; it lets fill_/zero_/setitem write one value
    into every alias, which ndgrad refuses too (NumPy's broadcast views are read-only): a clear error
    instead of NumPy's read-only message."""
    updates = {"add_": lambda t: t.add_(1), "mul_": lambda t: t.mul_(2), "fill_": lambda t: t.fill_(2),
               "zero_": lambda t: t.zero_(), "setitem": lambda t: t.__setitem__(0, 5.0)}
    with pytest.raises(RuntimeError, match=r"single memory location.*clone"):
        updates[write](ag.zeros(1, 3).expand(2, 3))
    if write in ("add_", "mul_"):
        with pytest.raises(RuntimeError):
            updates[write](torch.zeros(1, 3).expand(2, 3))


def test_in_place_on_a_view_of_a_leaf_that_requires_grad():
    for lib in (ag, torch):
        w = make(lib, [1.0, 2.0, 3.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="view" if lib is ag else "leaf"):
            w[0:2].mul_(2)
        with (ag.no_grad() if lib is ag else torch.no_grad()):  # what optimizers and init do
            w[0:2].mul_(2)
        assert_close(w.detach(), [2.0, 4.0, 3.0])


def test_views_share_the_version_counter_and_data_does_not():
    for lib in (ag, torch):
        base = make(lib, np.zeros(4))
        view = base[1:3]
        view.add_(1)
        assert version(base) == version(view) == 1
        base.detach().add_(1)
        assert version(base) == 2
        base.data.add_(1)            # .data is hidden from autograd, as in PyTorch
        assert version(base) == 2
    assert ag.zeros(4)[1:3].is_view and ag.zeros(4)[[1, 2]].is_view is False


def test_stale_views_take_the_new_history_of_their_base():
    def run(lib):
        w = make(lib, [1.0, 2.0, 3.0, 4.0], requires_grad=True)
        base = make(lib, np.zeros(4))
        left, right = base[:2], base[2:]
        right.copy_(w[2:] * 3)            # base now requires grad through right
        out = (left + 1).sum() + (base * base).sum()
        out.backward()
        return [base, w.grad, np.array(left.requires_grad)]
    both(run)
