"""optim: SGD, Adam and AdamW against PyTorch's optimizers, parameter groups, state dicts, errors.

Both frameworks start from the same float64 parameters and minimise the same loss, so
they compute the same gradients; the parameter trajectories must agree after every step.
"""

import numpy as np
import pytest

import autograd as ag
import optim


def val(t):
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def initial_values(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((6, 4)), rng.standard_normal(6), rng.standard_normal((3, 6)), rng.standard_normal(3)]


X = np.random.default_rng(100).standard_normal((8, 4))
Y = np.random.default_rng(101).standard_normal((8, 3))


def loss_fn(lib, params):
    """A small two-layer regression loss, written once for both frameworks."""
    w1, b1, w2, b2 = params
    x, y = lib.tensor(X), lib.tensor(Y)
    hidden = (x @ w1.T + b1).tanh()
    return ((hidden @ w2.T + b2 - y) ** 2).mean() + (w1 ** 2).sum() * 0.01


def ndgrad_params(values, device="cpu"):
    return [ag.tensor(v, device=device, requires_grad=True) for v in values]


def torch_params(torch, values):
    return [torch.tensor(v, requires_grad=True) for v in values]


def step(lib, opt, params):
    opt.zero_grad()
    loss = loss_fn(lib, params)
    loss.backward()
    opt.step()


def assert_same(params, tparams, step_no, rtol=1e-8, atol=1e-8):
    for i, (p, tp) in enumerate(zip(params, tparams)):
        np.testing.assert_allclose(val(p), tp.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"parameter {i} after step {step_no}")


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.05, nesterov=True)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, amsgrad=True, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.05, weight_decay=0.0)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
                                                     for n, kw in CASES])
def test_trajectory_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    values = initial_values()
    params, tparams = ndgrad_params(values), torch_params(torch, values)
    opt, topt = getattr(optim, name)(params, **kwargs), getattr(torch.optim, name)(tparams, **kwargs)
    for i in range(8):
        step(ag, opt, params)
        step(torch, topt, tparams)
        assert_same(params, tparams, i)
    assert not np.allclose(val(params[0]), values[0])  # the test moved the parameters
    for p in params:
        assert p.is_leaf and p.requires_grad and p.grad_fn is None and p.dtype == ag.float64


def test_param_groups_with_their_own_hyperparameters():
    torch = pytest.importorskip("torch")
    values = initial_values(1)
    params, tparams = ndgrad_params(values), torch_params(torch, values)

    def groups(ps):
        return [{"params": ps[:2], "lr": 0.2}, {"params": ps[2:], "momentum": 0.9, "nesterov": True}]

    opt, topt = optim.SGD(groups(params), lr=0.05), torch.optim.SGD(groups(tparams), lr=0.05)
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.05]
    assert [g["momentum"] for g in opt.param_groups] == [0, 0.9]
    for i in range(6):
        step(ag, opt, params)
        step(torch, topt, tparams)
        assert_same(params, tparams, i)

    values = initial_values(2)
    params, tparams = ndgrad_params(values), torch_params(torch, values)
    opt = optim.Adam([{"params": params[:1]}], lr=0.01)
    topt = torch.optim.Adam([{"params": tparams[:1]}], lr=0.01)
    opt.add_param_group({"params": params[1:], "lr": 0.1, "amsgrad": True})
    topt.add_param_group({"params": tparams[1:], "lr": 0.1, "amsgrad": True})
    for i in range(6):
        step(ag, opt, params)
        step(torch, topt, tparams)
        assert_same(params, tparams, i)


def test_parameters_without_grad_are_left_alone():
    torch = pytest.importorskip("torch")
    values = initial_values(3)
    params, tparams = ndgrad_params(values), torch_params(torch, values)
    unused, tunused = ag.ones(5, dtype=ag.float64, requires_grad=True), torch.ones(5, dtype=torch.float64,
                                                                                  requires_grad=True)
    opt = optim.Adam(params + [unused], lr=0.1, weight_decay=0.5)
    topt = torch.optim.Adam(tparams + [tunused], lr=0.1, weight_decay=0.5)
    for i in range(3):
        step(ag, opt, params)
        step(torch, topt, tparams)
        assert_same(params + [unused], tparams + [tunused], i)
    assert unused not in opt.state and np.all(val(unused) == 1)


# --- state dicts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2)),
                                         ("Adam", dict(lr=0.05, amsgrad=True)),
                                         ("AdamW", dict(lr=0.05, weight_decay=0.2))])
@pytest.mark.parametrize("as_numpy", [False, True])
def test_state_dict_round_trip_continues_the_same_trajectory(name, kwargs, as_numpy):
    values = initial_values(4)
    params = ndgrad_params(values)
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(3):
        step(ag, opt, params)
    saved = opt.state_dict()
    if as_numpy:  # as if written to disk without ndgrad: plain arrays
        saved = {"state": {i: {k: (val(v) if isinstance(v, ag.Tensor) else v) for k, v in s.items()}
                           for i, s in saved["state"].items()},
                 "param_groups": saved["param_groups"]}
    snapshot = [val(p) for p in params]
    resumed = ndgrad_params(snapshot)
    fresh = getattr(optim, name)(resumed, lr=123.0)  # hyperparameters come from the state dict
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == kwargs["lr"] and fresh.param_groups[0]["params"] == resumed
    for i in range(4):
        step(ag, opt, params)  # moves opt's own state in place; the loaded copy must not follow it
        step(ag, fresh, resumed)
        if i == 0:
            first = [val(q) for q in resumed]
        for p, q in zip(params, resumed):
            np.testing.assert_allclose(val(q), val(p), rtol=1e-12, atol=1e-12, err_msg=f"step {i}")

    # the state matters: from the same parameters, an optimizer without it takes another step
    bare_params = ndgrad_params(snapshot)
    step(ag, getattr(optim, name)(bare_params, **kwargs), bare_params)
    assert not np.allclose(val(bare_params[0]), first[0], rtol=1e-6, atol=0)


def test_state_dict_format_matches_torch():
    torch = pytest.importorskip("torch")
    for name, kwargs, keys in [("SGD", dict(lr=0.1, momentum=0.9), {"momentum_buffer"}),
                               ("Adam", dict(amsgrad=True), {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
                               ("AdamW", dict(), {"step", "exp_avg", "exp_avg_sq"})]:
        values = initial_values(5)
        params, tparams = ndgrad_params(values), torch_params(torch, values)
        opt = getattr(optim, name)([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], **kwargs)
        topt = getattr(torch.optim, name)([{"params": tparams[:1]}, {"params": tparams[1:], "lr": 0.5}], **kwargs)
        step(ag, opt, params)
        step(torch, topt, tparams)
        sd, tsd = opt.state_dict(), topt.state_dict()
        assert set(sd) == {"state", "param_groups"}
        assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 2, 3]
        assert all(set(s) == set(tsd["state"][i]) == keys for i, s in sd["state"].items())
        assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
        for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
            assert set(g) <= set(tg), set(g) - set(tg)
            assert all(g[k] == tg[k] for k in g if k != "params")
        for i, s in sd["state"].items():
            for k, v in s.items():
                expected = tsd["state"][i][k]
                if k == "step":
                    assert v == int(expected.item())
                else:
                    np.testing.assert_allclose(val(v), expected.numpy(), rtol=1e-10, atol=1e-12)


def test_load_torch_state_dict_and_continue():
    torch = pytest.importorskip("torch")
    values = initial_values(6)
    tparams = torch_params(torch, values)
    topt = torch.optim.Adam(tparams, lr=0.05, amsgrad=True, weight_decay=0.1)
    for _ in range(3):
        step(torch, topt, tparams)
    params = ndgrad_params([p.detach().numpy() for p in tparams])
    opt = optim.Adam(params)
    opt.load_state_dict(topt.state_dict())  # torch tensors in, copied to ndgrad tensors
    assert isinstance(opt.state[params[0]]["exp_avg"], ag.Tensor) and opt.state[params[0]]["step"] == 3
    for i in range(4):
        step(ag, opt, params)
        step(torch, topt, tparams)
        assert_same(params, tparams, i)


def test_load_state_dict_checks_groups():
    params = ndgrad_params(initial_values())
    opt = optim.SGD(params, lr=0.1)
    two_groups = optim.SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(two_groups.state_dict())
    smaller = optim.SGD(params[:3], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(smaller.state_dict())


# --- errors and bookkeeping ---------------------------------------------------------------------

@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW"])
def test_empty_parameter_list(cls):
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        getattr(optim, cls)([])
    with pytest.raises(ValueError, match="empty parameter list"):
        getattr(optim, cls)(iter([]))


INVALID = [
    ("SGD", dict(lr=-0.1)),
    ("SGD", dict(lr=0.1, momentum=-0.5)),
    ("SGD", dict(lr=0.1, weight_decay=-1)),
    ("SGD", dict(lr=0.1, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
    ("Adam", dict(lr=-1e-3)),
    ("Adam", dict(eps=-1e-8)),
    ("Adam", dict(betas=(1.0, 0.999))),
    ("Adam", dict(betas=(0.9, -0.1))),
    ("Adam", dict(weight_decay=-0.1)),
    ("AdamW", dict(lr=-1.0)),
    ("AdamW", dict(betas=(0.9, 1.0))),
]


@pytest.mark.parametrize("name,kwargs", INVALID)
def test_invalid_hyperparameters(name, kwargs):
    with pytest.raises(ValueError, match="Invalid|Nesterov"):
        getattr(optim, name)(ndgrad_params(initial_values()), **kwargs)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):  # PyTorch refuses the same values
        getattr(torch.optim, name)(torch_params(torch, initial_values()), **kwargs)


def test_bad_params_arguments():
    p = ag.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_step_bumps_the_version_counter():
    p = ag.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    saved = p * p  # saves p
    before = p._version_number
    opt.step()
    assert p._version_number == before + 1
    with pytest.raises(RuntimeError, match="modified by an in-place"):
        saved.sum().backward()


def test_zero_grad():
    params = ndgrad_params(initial_values())
    opt = optim.Adam(params)
    loss_fn(ag, params).backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and p.grad.shape == p.shape and np.all(val(p.grad) == 0) for p in params)
    loss_fn(ag, params).backward()
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_step_with_closure():
    torch = pytest.importorskip("torch")
    values = initial_values(7)
    params, tparams = ndgrad_params(values), torch_params(torch, values)
    opt, topt = optim.SGD(params, lr=0.1, momentum=0.5), torch.optim.SGD(tparams, lr=0.1, momentum=0.5)

    def closure(lib, o, ps):
        def run():
            o.zero_grad()
            loss = loss_fn(lib, ps)
            loss.backward()
            return loss
        return run

    for i in range(3):
        with ag.no_grad():  # the closure turns grad mode back on
            loss = opt.step(closure(ag, opt, params))
        tloss = topt.step(closure(torch, topt, tparams))
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-10)
        assert_same(params, tparams, i)


def test_float32_parameters_stay_float32():
    params = [ag.randn(4, 3, requires_grad=True)]
    for opt in (optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1), optim.Adam(params, weight_decay=0.1),
                optim.AdamW(params, amsgrad=True)):
        (params[0] ** 2).sum().backward()
        opt.step()
        opt.zero_grad()
        assert params[0].dtype == ag.float32 and params[0].is_leaf
        assert all(v.dtype == ag.float32 for s in opt.state.values() for v in s.values()
                   if isinstance(v, ag.Tensor))


def test_repr():
    opt = optim.SGD([ag.ones(1, requires_grad=True)], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.1\n" in text and "momentum: 0.9" in text


def test_optimizer_on_device_matches_cpu(device):
    values = initial_values(8)
    results = []
    for dev in ("cpu", device):
        params = ndgrad_params(values, device=dev)
        opt = optim.Adam(params, lr=0.05, amsgrad=True, weight_decay=0.1)
        for _ in range(3):
            opt.zero_grad()
            x, y = ag.tensor(X, device=dev), ag.tensor(Y, device=dev)
            w1, b1, w2, b2 = params
            (((x @ w1.T + b1).tanh() @ w2.T + b2 - y) ** 2).mean().backward()
            opt.step()
        assert all(p.device == ag.Device(dev) for p in params)
        assert all(v.device == ag.Device(dev) for s in opt.state.values() for v in s.values()
                   if isinstance(v, ag.Tensor))
        results.append([val(p) for p in params])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_training_a_classifier_end_to_end():
    nn = pytest.importorskip("nn")
    F = nn.functional
    ag.manual_seed(0)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((200, 2))
    labels = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # XOR-like quadrants: needs the hidden layer
    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    xb, yb = ag.tensor(x, dtype=ag.float32), ag.tensor(labels)
    first = None
    for _ in range(150):
        loss = F.cross_entropy(model(xb), yb)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = (model(xb).argmax(dim=1) == yb).float().mean().item()
    assert loss.item() < 0.3 * first and accuracy > 0.95
