"""optim: every optimizer against PyTorch's, parameter groups, state dicts, errors.

Both frameworks start from the same float64 parameters and minimise the same loss, so
they compute the same gradients; the parameter trajectories must agree after every step.
"""

import copy
import itertools
import pickle

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


def twin_optimizers(torch, name, kwargs, values):
    """ndgrad's and PyTorch's optimizer ``name`` with ``kwargs``, each over its own parameters made from
    ``values``: ``params, tparams, opt, topt``."""
    params, tparams = ndgrad_params(values), torch_params(torch, values)
    return params, tparams, getattr(optim, name)(params, **kwargs), getattr(torch.optim, name)(tparams, **kwargs)


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
    params, tparams, opt, topt = twin_optimizers(torch, name, kwargs, values)
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


ON_DEVICE = [("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
             ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
             ("Adagrad", dict(lr=0.1, lr_decay=0.01)), ("Adadelta", dict(weight_decay=0.1)),
             ("Adamax", dict(lr=0.05)), ("NAdam", dict(lr=0.05, weight_decay=0.1)), ("RAdam", dict(lr=0.05)),
             ("Rprop", dict(lr=0.05)), ("ASGD", dict(lr=0.05, t0=1))]


@pytest.mark.parametrize("name,kwargs", ON_DEVICE, ids=[c[0] for c in ON_DEVICE])
def test_optimizer_on_device_matches_cpu(device, name, kwargs):
    values = initial_values(8)
    results = []
    for dev in ("cpu", device):
        params = ndgrad_params(values, device=dev)
        opt = getattr(optim, name)(params, **kwargs)
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


# --- the other optimizers: RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam, Rprop, ASGD ---------

@pytest.fixture
def torch64():
    """torch with float64 as its default dtype: PyTorch keeps scalar state (NAdam's mu_product, ASGD's
    eta and mu) in the default dtype, float32 unless told otherwise, and ndgrad keeps Python floats;
    in float64 the two compute the same numbers."""
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(previous)


MORE_CASES = (
    [("RMSprop", dict(lr=0.01, centered=centered, momentum=momentum, weight_decay=weight_decay, maximize=maximize))
     for centered, momentum, weight_decay, maximize in itertools.product((False, True), (0, 0.9), (0, 0.1),
                                                                         (False, True))]
    + [("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-4, momentum=0.5, centered=True)),
       ("Adagrad", dict(lr=0.1)),
       ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
       ("Adagrad", dict(lr=0.05, maximize=True)),
       ("Adadelta", dict()),
       ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
       ("Adadelta", dict(maximize=True)),
       ("Adamax", dict(lr=0.05)),
       ("Adamax", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
       ("Adamax", dict(lr=0.01, maximize=True)),
       ("NAdam", dict(lr=0.05)),
       ("NAdam", dict(lr=0.05, weight_decay=0.1)),
       ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
       ("NAdam", dict(lr=0.01, betas=(0.8, 0.99), momentum_decay=0.01, eps=1e-6, maximize=True)),
       ("RAdam", dict(lr=0.05)),  # rho_t <= 5 for the first five steps: both branches of the rule run
       ("RAdam", dict(lr=0.05, weight_decay=0.1)),
       ("RAdam", dict(lr=0.05, betas=(0.9, 0.9), weight_decay=0.1, decoupled_weight_decay=True)),
       ("RAdam", dict(lr=0.01, eps=1e-6, maximize=True)),
       ("Rprop", dict(lr=0.05)),
       ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
       ("Rprop", dict(lr=0.01, maximize=True)),
       ("ASGD", dict(lr=0.05)),
       ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=10, weight_decay=0.1)),  # averaging starts at step 11
       ("ASGD", dict(lr=0.01, t0=0, maximize=True))]
)


def case_id(name, kwargs):
    return f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'defaults'}"


def assert_same_state(opt, topt, params, tparams):
    """The same state names under the same parameters, with the same values (steps as ints here)."""
    for p, tp in zip(params, tparams):
        state, tstate = opt.state[p], topt.state[tp]
        assert set(state) == set(tstate), (set(state), set(tstate))
        for name, value in state.items():
            expected = tstate[name]
            if name == "step":
                assert isinstance(value, int) and value == int(expected.item())
            elif isinstance(value, float):
                assert value == pytest.approx(expected.item(), rel=1e-10)
            else:
                np.testing.assert_allclose(val(value), expected.detach().numpy(), rtol=1e-10, atol=1e-12,
                                           err_msg=name)


@pytest.mark.parametrize("name,kwargs", MORE_CASES, ids=[case_id(n, kw) for n, kw in MORE_CASES])
def test_more_optimizers_match_torch(name, kwargs, torch64):
    torch = torch64
    values = initial_values(10)
    params, tparams, opt, topt = twin_optimizers(torch, name, kwargs, values)
    for i in range(30):
        step(ag, opt, params)
        step(torch, topt, tparams)
        assert_same(params, tparams, i, rtol=1e-10, atol=1e-12)
    assert not np.allclose(val(params[0]), values[0])
    assert_same_state(opt, topt, params, tparams)
    assert all(p.is_leaf and p.grad_fn is None and p.dtype == ag.float64 for p in params)


# two groups with their own options each, one of them added after construction
GROUP_CASES = [
    ("RMSprop", dict(lr=0.01), dict(centered=True, momentum=0.5), dict(lr=0.02, weight_decay=0.1, alpha=0.9)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.2), dict(lr_decay=0.1), dict(weight_decay=0.05, eps=1e-3)),
    ("Adadelta", dict(), dict(rho=0.5), dict(lr=0.3, weight_decay=0.1)),
    ("Adamax", dict(lr=0.05), dict(betas=(0.5, 0.9)), dict(lr=0.01, weight_decay=0.2)),
    ("NAdam", dict(lr=0.05), dict(momentum_decay=0.02), dict(weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.05), dict(betas=(0.8, 0.95)), dict(lr=0.01, weight_decay=0.1)),
    ("Rprop", dict(lr=0.02), dict(etas=(0.4, 1.3)), dict(lr=0.1, step_sizes=(1e-4, 0.05))),
    ("ASGD", dict(lr=0.05), dict(t0=5), dict(lr=0.02, lambd=0.1, alpha=0.6)),
]


@pytest.mark.parametrize("name,defaults,first,second", GROUP_CASES, ids=[c[0] for c in GROUP_CASES])
def test_more_optimizers_param_groups(name, defaults, first, second, torch64):
    torch = torch64
    values = initial_values(11)
    params, tparams = ndgrad_params(values), torch_params(torch, values)
    opt = getattr(optim, name)([{"params": params[:2], **first}], **defaults)
    topt = getattr(torch.optim, name)([{"params": tparams[:2], **first}], **defaults)
    opt.add_param_group({"params": params[2:], **second})
    topt.add_param_group({"params": tparams[2:], **second})
    for g, tg in zip(opt.param_groups, topt.param_groups):
        assert {k: v for k, v in g.items() if k != "params"} == {k: v for k, v in tg.items() if k != "params"}
    for i in range(20):
        step(ag, opt, params)
        step(torch, topt, tparams)
        assert_same(params, tparams, i, rtol=1e-10, atol=1e-12)
    assert_same_state(opt, topt, params, tparams)


RESUME_CASES = [("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
                ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
                ("Adadelta", dict(rho=0.8)),
                ("Adamax", dict(lr=0.05)),
                ("NAdam", dict(lr=0.05, weight_decay=0.1)),
                ("RAdam", dict(lr=0.05, decoupled_weight_decay=True, weight_decay=0.1)),
                ("Rprop", dict(lr=0.05)),
                ("ASGD", dict(lr=0.05, t0=3, lambd=0.01))]


@pytest.mark.parametrize("name,kwargs", RESUME_CASES, ids=[c[0] for c in RESUME_CASES])
def test_more_optimizers_state_dict_round_trip(name, kwargs):
    values = initial_values(12)
    params = ndgrad_params(values)
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(6):
        step(ag, opt, params)
    saved = pickle.loads(pickle.dumps(opt.state_dict()))  # as if written to disk
    resumed = ndgrad_params([val(p) for p in params])
    fresh = getattr(optim, name)(resumed, lr=123.0)
    fresh.load_state_dict(saved)
    for i in range(10):
        step(ag, opt, params)
        step(ag, fresh, resumed)
        for p, q in zip(params, resumed):
            np.testing.assert_allclose(val(q), val(p), rtol=1e-13, atol=1e-14, err_msg=f"step {i}")


def to_torch_state_dict(torch, state_dict):
    """An ndgrad optimizer state dict as PyTorch takes it: torch tensors for arrays; numbers stay numbers
    (PyTorch's load_state_dict turns step, eta, mu and mu_product into its 0-d tensors itself)."""
    convert = lambda v: torch.from_numpy(val(v).copy()) if isinstance(v, ag.Tensor) else v  # noqa: E731
    return {"state": {i: {k: convert(v) for k, v in s.items()} for i, s in state_dict["state"].items()},
            "param_groups": copy.deepcopy(state_dict["param_groups"])}


@pytest.mark.parametrize("name,kwargs", RESUME_CASES + [("Adam", dict(lr=0.05, amsgrad=True)),
                                                        ("SGD", dict(lr=0.1, momentum=0.9))],
                         ids=[c[0] for c in RESUME_CASES] + ["Adam", "SGD"])
def test_state_dicts_travel_between_ndgrad_and_torch(name, kwargs, torch64):
    torch = torch64
    values = initial_values(13)
    params, tparams, opt, topt = twin_optimizers(torch, name, kwargs, values)
    for _ in range(4):
        step(ag, opt, params)
        step(torch, topt, tparams)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["state"].keys() == tsd["state"].keys()
    assert all(set(s) == set(tsd["state"][i]) for i, s in sd["state"].items())
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
    assert [set(g) for g in sd["param_groups"]] == [set(g) for g in tsd["param_groups"]]

    # torch -> ndgrad, and ndgrad -> torch, each continuing where the other stopped
    resumed, tresumed = ndgrad_params([val(p) for p in tparams]), torch_params(torch, [val(p) for p in params])
    opt2, topt2 = getattr(optim, name)(resumed), getattr(torch.optim, name)(tresumed)
    opt2.load_state_dict(tsd)
    topt2.load_state_dict(to_torch_state_dict(torch, sd))
    for i in range(6):
        step(ag, opt2, resumed)
        step(torch, topt2, tresumed)
        step(torch, topt, tparams)
        assert_same(resumed, tparams, i, rtol=1e-10, atol=1e-12)
        assert_same(resumed, tresumed, i, rtol=1e-10, atol=1e-12)
    assert_same_state(opt2, topt, resumed, tparams)


def test_adagrad_uses_each_groups_initial_accumulator_value():
    # PyTorch (2.x) starts every accumulator at the constructor's value and ignores a group's own;
    # ndgrad honours the group's, like any other per-group option
    params = ndgrad_params(initial_values())
    opt = optim.Adagrad([{"params": params[:2], "initial_accumulator_value": 2.0}], initial_accumulator_value=0.5)
    opt.add_param_group({"params": params[2:], "initial_accumulator_value": 3.0})
    loss_fn(ag, params).backward()
    opt.step()
    grads = [val(p.grad) for p in params]
    for p, g, start in zip(params, grads, [2.0, 2.0, 3.0, 3.0]):
        np.testing.assert_allclose(val(opt.state[p]["sum"]), start + g * g, rtol=1e-14)


def test_adagrad_state_exists_before_the_first_step():
    torch = pytest.importorskip("torch")
    values = initial_values()
    opt = optim.Adagrad(ndgrad_params(values), initial_accumulator_value=0.3)
    topt = torch.optim.Adagrad(torch_params(torch, values), initial_accumulator_value=0.3)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 2, 3]
    assert all(s["step"] == 0 and np.all(val(s["sum"]) == 0.3) for s in sd["state"].values())


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
                                  "RAdam", "Rprop", "ASGD"])
def test_execution_keywords(name):
    torch = pytest.importorskip("torch")
    values = initial_values()
    accepted = {k: v for k, v in dict(foreach=False, capturable=False, differentiable=False, fused=False).items()
                if k in getattr(torch.optim, name).__init__.__code__.co_varnames}
    opt = getattr(optim, name)(ndgrad_params(values), **accepted)
    topt = getattr(torch.optim, name)(torch_params(torch, values), **accepted)
    assert {k: opt.param_groups[0][k] for k in accepted} == {k: topt.param_groups[0][k] for k in accepted}
    with pytest.raises(NotImplementedError, match="differentiable=True is not supported"):
        getattr(optim, name)(ndgrad_params(values), differentiable=True)
    rejected = {"foreach", "capturable", "fused"} - set(accepted)
    for keyword in rejected:  # where PyTorch has no such keyword, neither does ndgrad
        with pytest.raises(TypeError):
            getattr(optim, name)(ndgrad_params(values), **{keyword: False})


MORE_INVALID = [
    ("RMSprop", dict(lr=-0.01)), ("RMSprop", dict(eps=-1.0)), ("RMSprop", dict(momentum=-0.1)),
    ("RMSprop", dict(weight_decay=-0.1)), ("RMSprop", dict(alpha=-0.5)),
    ("Adagrad", dict(lr=-0.01)), ("Adagrad", dict(lr_decay=-0.1)), ("Adagrad", dict(weight_decay=-1)),
    ("Adagrad", dict(initial_accumulator_value=-0.1)), ("Adagrad", dict(eps=-1e-10)),
    ("Adadelta", dict(lr=-1.0)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1.0)),
    ("Adadelta", dict(weight_decay=-1.0)),
    ("Adamax", dict(lr=-1.0)), ("Adamax", dict(eps=-1.0)), ("Adamax", dict(betas=(1.0, 0.9))),
    ("Adamax", dict(betas=(0.9, 1.0))), ("Adamax", dict(weight_decay=-1.0)),
    ("NAdam", dict(lr=-1.0)), ("NAdam", dict(betas=(0.9, -0.1))), ("NAdam", dict(momentum_decay=-0.1)),
    ("NAdam", dict(weight_decay=-0.1)), ("NAdam", dict(eps=-1.0)),
    ("RAdam", dict(lr=-1.0)), ("RAdam", dict(betas=(1.1, 0.9))), ("RAdam", dict(weight_decay=-0.1)),
    ("RAdam", dict(eps=-1.0)),
    ("Rprop", dict(lr=-1.0)), ("Rprop", dict(etas=(1.2, 0.5))), ("Rprop", dict(etas=(0.0, 1.2))),
    ("Rprop", dict(etas=(0.5, 1.0))),
    ("ASGD", dict(lr=-1.0)), ("ASGD", dict(weight_decay=-1.0)),
    ("LBFGS", dict(lr=-1.0)),
]


@pytest.mark.parametrize("name,kwargs", MORE_INVALID, ids=[case_id(n, kw) for n, kw in MORE_INVALID])
def test_more_invalid_hyperparameters(name, kwargs):
    key = next(iter(kwargs))
    with pytest.raises(ValueError, match=r"Invalid .*" + (r"\(" if key != "lr" else "learning rate: ")):
        getattr(optim, name)(ndgrad_params(initial_values()), **kwargs)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        getattr(torch.optim, name)(torch_params(torch, initial_values()), **kwargs)


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD",
                                  "LBFGS"])
def test_more_empty_parameter_lists(name):
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        getattr(optim, name)([])


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD"])
def test_more_optimizers_keep_float32_and_skip_params_without_grad(name):
    params = [ag.randn(4, 3, requires_grad=True), ag.ones(2, requires_grad=True)]
    opt = getattr(optim, name)(params, weight_decay=0.1) if name not in ("Rprop",) else optim.Rprop(params)
    for _ in range(3):
        opt.zero_grad()
        (params[0] ** 2).sum().backward()
        before = params[0]._version_number
        opt.step()
        assert params[0]._version_number == before + 1
    assert params[0].dtype == ag.float32 and params[0].is_leaf
    assert all(v.dtype == ag.float32 for s in opt.state.values() for v in s.values() if isinstance(v, ag.Tensor))
    assert np.all(val(params[1]) == 1) and (name == "Adagrad" or params[1] not in opt.state)


# --- LBFGS ---------------------------------------------------------------------------------------

def rosenbrock(a, b):
    """The Rosenbrock function over the 6 numbers in a (4,) and a (2, 1) tensor: one flat vector of two
    parameters, coupled across them."""
    x = [a[0], a[1], a[2], a[3], b[0, 0], b[1, 0]]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(5))


LBFGS_CASES = [dict(max_iter=10), dict(line_search_fn="strong_wolfe"),
               dict(lr=0.5, history_size=3, max_iter=7),
               dict(line_search_fn="strong_wolfe", history_size=2, max_iter=5, max_eval=9),
               dict(line_search_fn="strong_wolfe", tolerance_grad=1e-3, tolerance_change=1e-4)]


def lbfgs_closure(lib, opt, params):
    def closure():
        opt.zero_grad()
        loss = rosenbrock(*params)
        loss.backward()
        return loss
    return closure


def lbfgs_start(lib):
    start = np.random.default_rng(14).uniform(-1.5, 1.5, 6)
    return [lib.tensor(start[:4], requires_grad=True), lib.tensor(start[4:].reshape(2, 1), requires_grad=True)]


@pytest.mark.parametrize("kwargs", LBFGS_CASES, ids=[case_id("LBFGS", kw) for kw in LBFGS_CASES])
def test_lbfgs_matches_torch_on_rosenbrock(kwargs):
    torch = pytest.importorskip("torch")
    params, tparams = lbfgs_start(ag), lbfgs_start(torch)
    opt, topt = optim.LBFGS(params, **kwargs), torch.optim.LBFGS(tparams, **kwargs)
    for i in range(4):
        with ag.no_grad():  # the closure turns grad mode back on
            loss = opt.step(lbfgs_closure(ag, opt, params))
        tloss = topt.step(lbfgs_closure(torch, topt, tparams))
        # Rosenbrock's curved valley amplifies last-bit differences (a dot product summed in another
        # order) over the inner iterations; full steps of lr=1 without a line search do so fastest,
        # hence max_iter=10 there. The closure counts below stay exactly equal.
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-9, abs=1e-10)
        assert_same(params, tparams, i, rtol=1e-8, atol=1e-8)
        state, tstate = opt.state[params[0]], topt.state[tparams[0]]
        assert (state["func_evals"], state["n_iter"]) == (tstate["func_evals"], tstate["n_iter"])
    assert set(state) == set(tstate)
    assert float(rosenbrock(*params)) < float(rosenbrock(*lbfgs_start(ag)))


def test_lbfgs_state_dict_round_trip_and_from_torch():
    torch = pytest.importorskip("torch")
    kwargs = dict(line_search_fn="strong_wolfe", max_iter=4, history_size=5)
    params, tparams = lbfgs_start(ag), lbfgs_start(torch)
    opt, topt = optim.LBFGS(params, **kwargs), torch.optim.LBFGS(tparams, **kwargs)
    for _ in range(2):
        opt.step(lbfgs_closure(ag, opt, params))
        topt.step(lbfgs_closure(torch, topt, tparams))
    mine = pickle.loads(pickle.dumps(opt.state_dict()))
    for saved in (mine, topt.state_dict()):
        resumed = [ag.tensor(val(p), requires_grad=True) for p in params]
        fresh = optim.LBFGS(resumed)
        fresh.load_state_dict(saved)
        for i in range(2):
            fresh.step(lbfgs_closure(ag, fresh, resumed))
        assert all(isinstance(v, float) for v in fresh.state[resumed[0]]["ro"])
        reference = [p.detach().clone().requires_grad_() for p in tparams]
        tfresh = torch.optim.LBFGS(reference, **kwargs)
        tfresh.load_state_dict(topt.state_dict())
        for i in range(2):
            tfresh.step(lbfgs_closure(torch, tfresh, reference))
        assert_same(resumed, reference, "after resuming", rtol=1e-7, atol=1e-9)


def test_lbfgs_errors():
    params = lbfgs_start(ag)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": params[:1]}, {"params": params[1:]}])
    with pytest.raises(ValueError, match="line_search_fn.*'strong_wolfe'"):
        optim.LBFGS(params, line_search_fn="backtracking")
    with pytest.raises(RuntimeError, match="needs a closure"):
        optim.LBFGS(params).step()


def test_lbfgs_stops_at_a_stationary_point():
    p = ag.tensor([1.0, 1.0, 1.0, 1.0], dtype=ag.float64, requires_grad=True)
    q = ag.tensor([[1.0], [1.0]], dtype=ag.float64, requires_grad=True)
    opt = optim.LBFGS([p, q])
    loss = opt.step(lbfgs_closure(ag, opt, [p, q]))
    assert loss.item() == 0 and opt.state[p]["func_evals"] == 1 and "d" not in opt.state[p]
    assert np.all(val(p) == 1)


def test_lbfgs_with_a_parameter_outside_the_loss():
    torch = pytest.importorskip("torch")
    params, tparams = lbfgs_start(ag), lbfgs_start(torch)
    spare, tspare = ag.ones(3, dtype=ag.float64, requires_grad=True), torch.ones(3, dtype=torch.float64,
                                                                                 requires_grad=True)
    opt = optim.LBFGS([params[0], spare, params[1]], line_search_fn="strong_wolfe")
    topt = torch.optim.LBFGS([tparams[0], tspare, tparams[1]], line_search_fn="strong_wolfe")
    opt.step(lbfgs_closure(ag, opt, params))
    topt.step(lbfgs_closure(torch, topt, tparams))
    assert_same(params + [spare], tparams + [tspare], 0, rtol=1e-9, atol=1e-11)
    assert np.all(val(spare) == 1)
