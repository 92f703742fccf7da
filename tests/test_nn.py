"""nn: Module mechanics, Parameter, layers, losses and init.

Numbers are checked against PyTorch running the same model from the same weights
(loaded through load_state_dict), or against formulas (init bounds); never against
ndgrad's own output.
"""

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F


def val(t):
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def torch_mlp(torch):
    tnn = torch.nn
    return tnn.Sequential(tnn.Linear(20, 32), tnn.ReLU(), tnn.Linear(32, 32), tnn.Tanh(), tnn.Linear(32, 5),
                          tnn.Sigmoid(), tnn.Linear(5, 5)).double()


def ndgrad_mlp():
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 5),
                         nn.Sigmoid(), nn.Linear(5, 5)).double()


def twin_mlps(seed=0):
    """The same float64 MLP in both frameworks: torch's weights loaded into ndgrad's."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    tmodel = torch_mlp(torch)
    model = ndgrad_mlp()
    result = model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    return torch, tmodel, model


# --- the MLP against PyTorch -------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["ce_mean", "ce_sum", "ce_none", "ce_ignore", "mse_mean", "mse_sum", "mse_none",
                                  "ce_module", "mse_module"])
def test_mlp_matches_torch(loss):
    torch, tmodel, model = twin_mlps()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 20))
    labels = rng.integers(0, 5, 16)
    ignored = labels.copy()
    ignored[3] = -100  # ignored by ce_ignore, and only used there
    targets = rng.standard_normal((16, 5))

    out, tout = model(ag.tensor(x)), tmodel(torch.tensor(x))
    np.testing.assert_allclose(val(out), tout.detach().numpy(), rtol=1e-12, atol=1e-12)

    if loss == "ce_ignore":
        labels = ignored
    y, ty = ag.tensor(labels), torch.tensor(labels)
    kind, reduction = loss.split("_")
    if kind == "ce":
        if reduction == "module":
            value, tvalue = nn.CrossEntropyLoss()(out, y), torch.nn.CrossEntropyLoss()(tout, ty)
        else:
            reduction = "mean" if reduction == "ignore" else reduction
            value, tvalue = F.cross_entropy(out, y, reduction=reduction), \
                torch.nn.functional.cross_entropy(tout, ty, reduction=reduction)
    else:
        t, tt = ag.tensor(targets), torch.tensor(targets)
        if reduction == "module":
            value, tvalue = nn.MSELoss(reduction="sum")(out, t), torch.nn.MSELoss(reduction="sum")(tout, tt)
        else:
            value, tvalue = F.mse_loss(out, t, reduction=reduction), \
                torch.nn.functional.mse_loss(tout, tt, reduction=reduction)
    np.testing.assert_allclose(val(value), tvalue.detach().numpy(), rtol=1e-12, atol=1e-12)

    # a non-uniform upstream gradient for the unreduced losses
    weights = rng.standard_normal(tuple(tvalue.shape))
    (value * ag.tensor(weights)).sum().backward()
    (tvalue * torch.tensor(weights)).sum().backward()
    tgrads = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.dtype == ag.float64
        np.testing.assert_allclose(val(p.grad), tgrads[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_state_dict_loads_into_torch():
    torch = pytest.importorskip("torch")
    model = ndgrad_mlp()
    tmodel = torch_mlp(torch)
    tmodel.load_state_dict({k: torch.from_numpy(val(v)) for k, v in model.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((4, 20))
    np.testing.assert_allclose(val(model(ag.tensor(x))), tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_functional_matches_torch():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x = np.random.default_rng(3).standard_normal((3, 4, 5))
    a, t = ag.tensor(x), torch.tensor(x)
    for dim in (0, 1, -1):
        np.testing.assert_allclose(val(F.softmax(a, dim)), tF.softmax(t, dim).numpy(), rtol=1e-12)
        np.testing.assert_allclose(val(F.log_softmax(a, dim)), tF.log_softmax(t, dim).numpy(), rtol=1e-12)
    np.testing.assert_allclose(val(F.relu(a)), tF.relu(t).numpy())
    np.testing.assert_allclose(val(F.tanh(a)), torch.tanh(t).numpy(), rtol=1e-12)
    np.testing.assert_allclose(val(F.sigmoid(a)), torch.sigmoid(t).numpy(), rtol=1e-12)
    np.testing.assert_allclose(val(nn.Flatten()(a)), torch.nn.Flatten()(t).numpy())
    np.testing.assert_allclose(val(nn.Softmax(dim=1)(a)), torch.nn.Softmax(dim=1)(t).numpy(), rtol=1e-12)
    np.testing.assert_allclose(val(nn.LogSoftmax(dim=1)(a)), torch.nn.LogSoftmax(dim=1)(t).numpy(), rtol=1e-12)
    w, b = np.ones((2, 5)), np.arange(2.0)
    np.testing.assert_allclose(val(F.linear(a, ag.tensor(w), ag.tensor(b))),
                               tF.linear(t, torch.tensor(w), torch.tensor(b)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(val(F.linear(a, ag.tensor(w))), tF.linear(t, torch.tensor(w)).numpy(), rtol=1e-12)


# --- names, state dicts and printing against PyTorch's ---------------------------------------------

def nested_models():
    torch = pytest.importorskip("torch")

    def build(lib, ag_or_torch):
        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.fc = lib.Linear(4, 8)
                self.body = lib.Sequential(lib.ReLU(), lib.Linear(8, 8), lib.Tanh(),
                                           lib.Sequential(lib.Linear(8, 3, bias=False), lib.Sigmoid()))
                self.register_buffer("running", ag_or_torch.zeros(3))
                self.register_buffer("scratch", ag_or_torch.zeros(2), persistent=False)
                self.head = lib.Linear(3, 2)

            def forward(self, x):
                return self.head(self.body(self.fc(x)) + self.running)
        return Net()

    return torch, build(nn, ag), build(torch.nn, torch)


def test_names_and_order_match_torch():
    torch, model, tmodel = nested_models()
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()]
    assert [tuple(p.shape) for p in model.parameters()] == [tuple(p.shape) for p in tmodel.parameters()]
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert [n for n, _ in model.named_buffers()] == [n for n, _ in tmodel.named_buffers()]
    assert [n for n, _ in model.named_modules()] == [n for n, _ in tmodel.named_modules()]
    assert [n for n, _ in model.named_children()] == [n for n, _ in tmodel.named_children()]
    assert [type(m).__name__ for m in model.modules()] == [type(m).__name__ for m in tmodel.modules()]
    assert [n for n, _ in model.body.named_parameters(prefix="body")] == \
        [n for n, _ in tmodel.body.named_parameters(prefix="body")]
    assert [n for n, _ in model.named_parameters(recurse=False)] == []
    assert len(list(model.fc.parameters(recurse=False))) == 2


def test_repr_matches_torch():
    torch, model, tmodel = nested_models()
    assert repr(model) == repr(tmodel)
    seq = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10, bias=False), nn.Flatten())
    tseq = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10, bias=False),
                               torch.nn.Flatten())
    assert repr(seq) == repr(tseq)
    assert "  (0): Linear(in_features=784, out_features=256, bias=True)\n  (1): ReLU()\n" in repr(seq)
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.CrossEntropyLoss()) == repr(torch.nn.CrossEntropyLoss())


def test_state_dict_holds_detached_shared_tensors():
    model = nn.Linear(3, 2)
    sd = model.state_dict()
    assert list(sd) == ["weight", "bias"] and isinstance(sd, OrderedDict)
    assert not sd["weight"].requires_grad and not isinstance(sd["weight"], nn.Parameter)
    with ag.no_grad():
        model.weight.fill_(7.0)
    assert np.all(val(sd["weight"]) == 7.0)  # same memory, as in PyTorch
    assert model.state_dict(keep_vars=True)["weight"] is model.weight


def test_load_state_dict_errors_name_keys_and_shapes():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    good = {k: val(v) + 1.0 for k, v in model.state_dict().items()}
    before = val(model[0].weight)

    missing = dict(good)
    del missing["2.bias"]
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "2.bias"'):
        model.load_state_dict(missing)

    extra = dict(good, **{"3.weight": np.zeros(2)})
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "3.weight"'):
        model.load_state_dict(extra)

    wrong = dict(good, **{"0.weight": np.zeros((4, 5))})
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(wrong, strict=False)
    assert "0.weight" in str(info.value) and "(4, 5)" in str(info.value) and "(4, 3)" in str(info.value)
    np.testing.assert_array_equal(val(model[0].weight), before)  # nothing copied on error

    result = model.load_state_dict(dict(missing, **{"3.weight": np.zeros(2)}), strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["3.weight"]
    assert result == (["2.bias"], ["3.weight"])
    np.testing.assert_allclose(val(model[0].weight), before + 1.0)


def test_load_state_dict_copies_in_place():
    model = nn.Linear(3, 2)
    weight = model.weight
    saved = weight.exp() * weight  # a graph that saved the old weight (mul keeps both operands)
    source = {"weight": ag.full((2, 3), 0.5), "bias": np.array([1.0, 2.0], dtype=np.float32)}
    model.load_state_dict(source)
    assert model.weight is weight and weight.requires_grad and weight.is_leaf
    np.testing.assert_array_equal(val(weight), np.full((2, 3), 0.5))
    np.testing.assert_array_equal(val(model.bias), [1.0, 2.0])
    assert model.bias.dtype == ag.float32
    source["weight"].fill_(9.0)  # copied, not aliased
    assert np.all(val(weight) == 0.5)
    with pytest.raises(RuntimeError, match="modified by an in-place"):
        saved.sum().backward()


def test_load_state_dict_casts_to_the_parameter_dtype():
    model = nn.Linear(2, 1)
    model.load_state_dict({"weight": np.array([[1.5, 2.5]]), "bias": np.array([0.25])})  # float64 in
    assert model.weight.dtype == ag.float32
    np.testing.assert_array_equal(val(model.weight), [[1.5, 2.5]])


# --- module mechanics ----------------------------------------------------------------------------

def test_zero_grad():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    model(ag.randn(5, 3)).sum().backward()
    assert all(p.grad is not None and np.any(val(p.grad) != 0) for p in model.parameters())
    model.zero_grad(set_to_none=False)
    for p in model.parameters():
        assert p.grad.shape == p.shape and np.all(val(p.grad) == 0)
    model(ag.randn(5, 3)).sum().backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_eval_flags():
    _, model, _ = nested_models()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.body.train()
    assert not model.training and all(m.training for m in model.body.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_double_keeps_parameter_identity():
    _, model, _ = nested_models()
    params = list(model.parameters())
    model(ag.randn(2, 4)).sum().backward()
    assert model.double() is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    for p in params:
        assert isinstance(p, nn.Parameter) and p.dtype == ag.float64 and p.requires_grad and p.is_leaf
        assert p.grad.dtype == ag.float64
    assert model.running.dtype == ag.float64
    out = model(ag.randn(2, 4, dtype=ag.float64))
    assert out.dtype == ag.float64
    model.float()
    assert all(p.dtype == ag.float32 for p in params)
    model.to(dtype="float64")
    assert all(p.dtype == ag.float64 for p in params)
    model.to(ag.float32).half()
    assert all(p.dtype == ag.float16 for p in params)
    assert model.to("cpu") is model and model.cpu() is model
    with pytest.raises(TypeError, match="floating point"):
        model.to(ag.int64)


def test_to_keeps_integer_buffers():
    model = nn.Linear(2, 2)
    model.register_buffer("count", ag.tensor([3]))
    model.double()
    assert model.count.dtype == ag.int64 and model.weight.dtype == ag.float64


def test_parameter():
    t = ag.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, ag.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad is None
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]") and "requires_grad=True" in repr(p)
    with ag.no_grad():
        t.mul_(3.0)
    np.testing.assert_array_equal(val(p), [3.0, 6.0])  # shares the tensor's memory
    y = p * p + ag.sin(p)
    assert type(y) is ag.Tensor and y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(val(p.grad), 2 * np.array([3.0, 6.0]) + np.cos([3.0, 6.0]), rtol=1e-6)
    frozen = nn.Parameter(ag.zeros(2), requires_grad=False)
    assert not frozen.requires_grad
    assert nn.Parameter([[1.0]]).dtype == ag.float32
    twin = copy.deepcopy(p)
    assert isinstance(twin, nn.Parameter) and twin is not p
    with ag.no_grad():
        twin.zero_()
    np.testing.assert_array_equal(val(p), [3.0, 6.0])


def test_attribute_registration():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(ag.ones(2))
            self.layer = nn.Linear(2, 2)
            self.plain = ag.ones(2)  # a plain tensor attribute is not registered
            self.register_buffer("buf", ag.zeros(2))

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["w", "layer.weight", "layer.bias"]
    assert list(net.state_dict()) == ["w", "buf", "layer.weight", "layer.bias"]
    assert net.w is net._parameters["w"] and net.layer is net._modules["layer"]
    with pytest.raises(TypeError, match="nn.Parameter"):
        net.w = ag.ones(2)
    with pytest.raises(TypeError):
        net.layer = 3
    net.buf = ag.ones(2)  # a registered buffer takes a new tensor
    np.testing.assert_array_equal(val(net.state_dict()["buf"]), [1.0, 1.0])
    net.w = None
    assert [n for n, _ in net.named_parameters()] == ["layer.weight", "layer.bias"]
    del net.layer
    assert list(net.parameters()) == [] and "layer" not in net._modules
    with pytest.raises(AttributeError, match="layer"):
        net.layer
    with pytest.raises(KeyError):
        net.register_buffer("plain", ag.zeros(1))

    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ag.ones(1))

    with pytest.raises(AttributeError, match="super"):
        Forgot()


def test_shared_parameter_listed_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(list(model.parameters())) == 2
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_apply_and_init():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4)))
    seen = []

    def init_weights(m):
        seen.append(type(m).__name__)
        if isinstance(m, nn.Linear):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    assert model.apply(init_weights) is model
    assert seen == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]  # children before parents
    assert all(np.all(val(m.weight) == 1) and np.all(val(m.bias) == 0)
               for m in model.modules() if isinstance(m, nn.Linear))
    assert all(p.requires_grad and p.is_leaf for p in model.parameters())


def test_sequential_container():
    a, b, c = nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b and list(seq) == [a, b]
    seq.append(c)
    assert len(seq) == 3 and seq[2] is c and [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    x = ag.randn(5, 3)
    np.testing.assert_allclose(val(seq(x)), val(c(b(a(x)))))
    with pytest.raises(IndexError):
        seq[3]
    named = nn.Sequential(OrderedDict([("enc", a), ("act", b)]))
    assert [n for n, _ in named.named_parameters()] == ["enc.weight", "enc.bias"]
    del seq[0]
    assert list(seq) == [b, c] and list(seq._modules) == ["0", "1"]
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6


# --- initialisation ----------------------------------------------------------------------------------

def test_linear_init_within_pytorch_bounds():
    ag.manual_seed(0)
    layer = nn.Linear(100, 300)
    bound = 1 / math.sqrt(100)
    w, b = val(layer.weight), val(layer.bias)
    assert w.shape == (300, 100) and b.shape == (300,)
    assert layer.weight.dtype == ag.float32 and layer.weight.requires_grad
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(b) <= bound)
    assert w.max() > 0.98 * bound and w.min() < -0.98 * bound  # uses the whole interval
    assert abs(w.mean()) < 0.02 * bound and abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    ag.manual_seed(0)
    np.testing.assert_array_equal(val(nn.Linear(100, 300).weight), w)  # ndgrad's generator, seeded
    assert nn.Linear(2, 3, bias=False).bias is None
    assert nn.Linear(2, 3, dtype=ag.float64).weight.dtype == ag.float64


def test_init_functions():
    torch = pytest.importorskip("torch")
    ag.manual_seed(1)
    t = ag.empty(200, 50)
    nn.init.uniform_(t, -2.0, 3.0)
    assert val(t).min() >= -2.0 and val(t).max() <= 3.0 and val(t).max() > 2.9 and val(t).min() < -1.9
    nn.init.normal_(t, 1.0, 0.5)
    assert abs(val(t).mean() - 1.0) < 0.02 and abs(val(t).std() - 0.5) < 0.02
    nn.init.xavier_uniform_(t)
    bound = math.sqrt(6 / (50 + 200))
    assert np.abs(val(t)).max() <= bound and np.abs(val(t)).max() > 0.98 * bound
    nn.init.kaiming_uniform_(t, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / 50)
    assert np.abs(val(t)).max() <= bound and np.abs(val(t)).max() > 0.98 * bound
    nn.init.kaiming_normal_(t, mode="fan_out")
    assert abs(val(t).std() - math.sqrt(2 / (1 + 0.0)) / math.sqrt(200)) < 0.005
    for name, param in [("linear", None), ("relu", None), ("tanh", None), ("sigmoid", None), ("leaky_relu", 0.2),
                        ("leaky_relu", None), ("selu", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    p = nn.Parameter(ag.zeros(3, 2))
    nn.init.ones_(p)
    assert p.is_leaf and p.requires_grad and p.grad_fn is None and np.all(val(p) == 1)
    with pytest.raises(ValueError, match="fewer than 2"):
        nn.init.xavier_uniform_(ag.zeros(3))


# --- devices -------------------------------------------------------------------------------------

def test_module_to_device(device):
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    params = list(model.parameters())
    x = ag.randn(5, 4)
    expected = val(model(x))
    model.to(device)
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(p.device == ag.Device(device) for p in params)
    np.testing.assert_allclose(val(model(x.to(device))), expected, rtol=1e-5, atol=1e-6)
    model.cpu()
    assert all(p.device == ag.Device("cpu") for p in params)
