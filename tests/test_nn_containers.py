"""Containers against PyTorch's: ModuleDict, ParameterList, ParameterDict, Sequential's list methods,
Unflatten; the same operations on both give the same keys, order, state_dict keys and values."""

import numpy as np
import pytest
import torch

import autograd as ag
import nn
from conftest import assert_close, to_numpy


def _lib(lib):
    return (torch, torch.nn) if lib is torch else (ag, nn)


def _names(module):
    return [type(m).__name__ for m in module]


# --- Sequential ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("index", [0, 1, 3, -1, -3])
def test_sequential_insert(index):
    results = []
    for lib in (ag, torch):
        _, m = _lib(lib)
        seq = m.Sequential(m.ReLU(), m.Tanh(), m.Sigmoid())
        assert seq.insert(index, m.Flatten()) is seq
        results.append((_names(seq), list(seq._modules)))
    assert results[0] == results[1]


@pytest.mark.parametrize("index", [4, -4])
def test_sequential_insert_out_of_range(index):
    with pytest.raises(IndexError, match="out of range"):
        nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid()).insert(index, nn.ReLU())
    with pytest.raises(IndexError):
        torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Tanh(), torch.nn.Sigmoid()).insert(index, torch.nn.ReLU())


def test_sequential_extend_and_pop():
    results = []
    for lib in (ag, torch):
        _, m = _lib(lib)
        seq = m.Sequential(m.ReLU())
        seq.extend([m.Tanh(), m.Linear(2, 3), m.Sigmoid()])
        popped = seq.pop(1)
        popped_slice = seq.pop(slice(1, 3))
        results.append((_names(seq), type(popped).__name__, _names(popped_slice), list(seq.state_dict())))
    assert results[0] == results[1]


# --- ModuleDict ----------------------------------------------------------------------------------------------

def test_module_dict_like_torch():
    results = []
    for lib in (ag, torch):
        _, m = _lib(lib)
        d = m.ModuleDict({"conv": m.Linear(2, 2), "act": m.ReLU()})
        d["out"] = m.Linear(2, 1)
        d.update([("extra", m.Tanh()), ("act", m.Sigmoid())])
        d.update(m.ModuleDict({"z": m.Linear(1, 1)}))
        removed = d.pop("extra")
        results.append((list(d.keys()), [type(v).__name__ for v in d.values()], [k for k, _ in d.items()],
                        list(d), len(d), "conv" in d, "extra" in d, type(removed).__name__, list(d.state_dict()),
                        repr(d)))
        d.clear()
        results[-1] += (len(d),)
    assert results[0] == results[1]


def test_module_dict_registers_parameters_and_refuses_bad_updates():
    d = nn.ModuleDict({"a": nn.Linear(2, 3)})
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]
    with pytest.raises(ValueError, match="element #0 should be a"):
        d.update([("only_a_key",)])
    with pytest.raises(TypeError):
        d.update(nn.Linear(2, 3))
    with pytest.raises(TypeError):
        d["b"] = 3


# --- ParameterList / ParameterDict -------------------------------------------------------------------------

def test_parameter_list_like_torch():
    results = []
    for lib in (ag, torch):
        tlib, m = _lib(lib)
        pl = m.ParameterList([m.Parameter(tlib.zeros(2, 3)), tlib.ones(3)])  # a plain tensor becomes a Parameter
        pl.append(tlib.full((2,), 2.0))
        pl.extend([m.Parameter(tlib.ones(1, 1))])
        pl += [tlib.zeros(4)]
        pl[0] = m.Parameter(tlib.full((2, 3), 5.0))
        results.append(dict(
            keys=list(pl.state_dict()), kinds=[type(p).__name__ for p in pl], shapes=[tuple(p.shape) for p in pl],
            grads=[p.requires_grad for p in pl], n=len(pl), last=to_numpy(pl[-1]).tolist(),
            sliced=[tuple(p.shape) for p in pl[1:3]], first=to_numpy(pl[0]).tolist(),
            named=[n for n, _ in pl.named_parameters()]))
    ours, theirs = results
    theirs["kinds"] = ["Parameter" for _ in theirs["kinds"]]
    assert ours == theirs
    with pytest.raises(IndexError):
        nn.ParameterList()[0]


def test_parameter_list_repr_and_objects():
    pl = nn.ParameterList([ag.zeros(2, 3), nn.Parameter(ag.ones(3))])
    pl.append("not a tensor")
    assert repr(pl) == ("ParameterList(\n"
                        "    (0): Parameter containing: [float32 of size 2x3]\n"
                        "    (1): Parameter containing: [float32 of size 3]\n"
                        "    (2): Object of type: str\n"
                        ")")
    assert list(pl.state_dict()) == ["0", "1"] and pl[2] == "not a tensor"
    pl[2] = ag.zeros(1)  # an object slot can take a Parameter later
    assert list(pl.state_dict()) == ["0", "1", "2"]


def test_parameter_dict_like_torch():
    results = []
    for lib in (ag, torch):
        tlib, m = _lib(lib)
        pd = m.ParameterDict({"w": m.Parameter(tlib.zeros(2, 3)), "b": tlib.ones(3)})
        pd["s"] = tlib.full((1,), 4.0)
        pd.update([("t", tlib.zeros(2)), ("w", tlib.ones(2, 2))])
        popped = pd.pop("b")
        default = pd.setdefault("d", tlib.ones(5))
        key, _ = pd.popitem()
        merged = pd | {"extra": tlib.zeros(1)}
        results.append(dict(
            keys=list(pd.keys()), iter=list(pd), rev=list(reversed(pd)), state=list(pd.state_dict()),
            shapes=[tuple(v.shape) for v in pd.values()], items=[k for k, _ in pd.items()], popped=tuple(popped.shape),
            default=tuple(default.shape), popitem=key, merged=list(merged.keys()), contains=("w" in pd, "b" in pd),
            get=pd.get("nope") is None, copy=list(pd.copy().keys()),
            kinds=[isinstance(v, m.Parameter) for v in pd.values()]))
        pd.clear()
        results[-1]["cleared"] = len(pd)
    assert results[0] == results[1]


def test_parameter_dict_repr_and_parameters():
    pd = nn.ParameterDict({"a": ag.zeros(2, 3), "b": nn.Parameter(ag.ones(3))})
    assert repr(pd) == ("ParameterDict(\n"
                        "    (a): Parameter containing: [float32 of size 2x3]\n"
                        "    (b): Parameter containing: [float32 of size 3]\n"
                        ")")
    model = nn.Module()
    model.params = pd
    assert [n for n, _ in model.named_parameters()] == ["params.a", "params.b"]
    with pytest.raises(KeyError):
        pd["missing"]
    with pytest.raises(ValueError, match="element #0"):
        pd.update([("a", ag.zeros(1), "extra")])


def test_containers_state_dict_round_trip():
    torch_model = torch.nn.ModuleDict({"layers": torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU()),
                                       "p": torch.nn.ParameterList([torch.nn.Parameter(torch.randn(2))])})
    model = nn.ModuleDict({"layers": nn.Sequential(nn.Linear(3, 4), nn.ReLU()),
                           "p": nn.ParameterList([nn.Parameter(ag.randn(2))])})
    state = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
    assert list(model.state_dict()) == list(state)
    model.load_state_dict(state)
    for k, v in model.state_dict().items():
        assert_close(v, state[k], check_dtype=False)


# --- Unflatten ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim, sizes, shape", [(1, (2, 3), (4, 6)), (-1, [2, -1], (2, 3, 8)), (0, (1, 2, 2), (4,)),
                                               (1, (3, 1), (2, 3, 5))])
def test_unflatten_like_torch(dim, sizes, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    ours, theirs = nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes)
    a = ag.tensor(x, requires_grad=True)
    out = ours(a)
    assert_close(out, theirs(torch.tensor(x)))
    assert repr(ours) == repr(theirs)
    out.sum().backward()
    assert a.grad.shape == a.shape
    assert repr(nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 3)))) == \
        repr(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Unflatten(1, (2, 3))))


def test_unflatten_refusals():
    with pytest.raises(RuntimeError, match="don't multiply up"):
        nn.Unflatten(1, (4, 2))(ag.zeros(2, 6))
    with pytest.raises(RuntimeError):
        torch.nn.Unflatten(1, (4, 2))(torch.zeros(2, 6))
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints"):
        nn.Unflatten(1, 6)
    with pytest.raises(TypeError):
        torch.nn.Unflatten(1, 6)
    with pytest.raises(IndexError, match="Dimension out of range"):
        nn.Unflatten(3, (1, 2))(ag.zeros(2, 2))
