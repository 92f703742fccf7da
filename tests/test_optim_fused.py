"""Fused optimizer steps (optim/_flat.py, backends/cupy_optim_kernels.py) against the per-parameter rule and PyTorch.

The fused path runs the per-parameter rule's own arithmetic over flat buffers, so on the CPU (and on the
CUDA stand-in, whose kernel references keep the rule's order of operations) parameters and state must be
bitwise equal to those of an optimizer made with ``foreach=False``, step after step, whatever happens
between steps: parameters without a gradient, ``p.data`` reassigned, a state dict loaded, the learning
rate changed, a group added. Against PyTorch's foreach and fused implementations the trajectories agree
to rounding (PyTorch orders some operations differently, e.g. Adam's ``lerp``).
"""

import copy

import numpy as np
import pytest

import autograd as ag
import optim
from backends import Device
from conftest import to_numpy

SHAPES = [(6, 4), (6,), (3, 6), (3,)]

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True, maximize=True, betas=(0.8, 0.95))),
    ("AdamW", dict(lr=0.05, weight_decay=0.2, amsgrad=True)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, maximize=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.5)),
    ("RMSprop", dict(lr=0.01, centered=True)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CASES]


def make_params(device="cpu", dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return [ag.tensor(v, device=device, requires_grad=True) for v in values]


def twins(name, kwargs, device="cpu", dtype=np.float32):
    """Two optimizers over equal parameters: the default (fused where it can) and foreach=False."""
    a, b = make_params(device, dtype), make_params(device, dtype)
    return a, b, getattr(optim, name)(a, **kwargs), getattr(optim, name)(b, foreach=False, **kwargs)


def give_grads(params_a, params_b, rng, skip=()):
    for i, (a, b) in enumerate(zip(params_a, params_b)):
        if i in skip:
            a.grad = b.grad = None
        else:
            g = rng.standard_normal(a.shape).astype(to_numpy(a).dtype)
            a.grad, b.grad = ag.tensor(g, device=a.device), ag.tensor(g, device=b.device)


def is_fused(opt, params):
    """Whether ``opt`` updated ``params`` through a FlatGroup (each parameter's array a view it installed)."""
    flats = [flat for _, flat in getattr(opt, "_flat", {}).values()]
    return all(any(p.array is v for flat in flats for v in flat.views) for p in params)


def assert_identical(params_a, params_b, opt_a, opt_b, when):
    for i, (a, b) in enumerate(zip(params_a, params_b)):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=f"parameter {i} {when}")
    sa, sb = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    assert sorted(sa) == sorted(sb), when
    for index in sa:
        assert sorted(sa[index]) == sorted(sb[index]), (index, when)
        for name, value in sa[index].items():
            if isinstance(value, ag.Tensor):
                np.testing.assert_array_equal(to_numpy(value), to_numpy(sb[index][name]),
                                              err_msg=f"state {name} of parameter {index} {when}")
            else:
                assert value == sb[index][name], (index, name, when)


def perturbed(state_dict):
    """A copy of ``state_dict`` whose state differs from the live one (so loading it must matter)."""
    sd = copy.deepcopy(state_dict)
    for entry in sd["state"].values():
        for name, value in entry.items():
            entry[name] = value * 1.5 if isinstance(value, ag.Tensor) else value + 2 if name == "step" else value
    return sd


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_fused_is_identical_to_the_per_parameter_rule(name, kwargs):
    """Bitwise, over steps with missing gradients, p.data reassigned, the lr changed and a state dict loaded."""
    a, b, fused, plain = twins(name, kwargs)
    rng = np.random.default_rng(1)
    skips = [(), (1,), (0, 3), (), (), (2,), ()]
    for step, skip in enumerate(skips):
        if step == 3:  # the user rebinds a parameter's memory
            new = np.random.default_rng(2).standard_normal(SHAPES[2]).astype(np.float32)
            a[2].data, b[2].data = ag.tensor(new), ag.tensor(new)
        if step == 4:  # a scheduler changes the learning rate
            for opt in (fused, plain):
                opt.param_groups[0]["lr"] *= 0.5
        if step == 5:  # a state dict from elsewhere is loaded, into each from the other's (keeping its own
            sd_a, sd_b = perturbed(fused.state_dict()), perturbed(plain.state_dict())  # flags: they are loaded too)
            sd_a["param_groups"], sd_b["param_groups"] = sd_b["param_groups"], sd_a["param_groups"]
            fused.load_state_dict(sd_b)
            plain.load_state_dict(sd_a)
        give_grads(a, b, rng, skip)
        fused.step()
        plain.step()
        assert is_fused(fused, a) and not is_fused(plain, b), "the default must take the fused path"
        assert_identical(a, b, fused, plain, f"after step {step}")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize("name,kwargs", [CASES[2], CASES[4], CASES[7]], ids=[IDS[2], IDS[4], IDS[7]])
def test_fused_is_identical_in_every_floating_dtype(name, kwargs, dtype):
    dtype = getattr(ag, dtype)
    a, b, fused, plain = twins(name, kwargs, dtype=dtype)
    rng = np.random.default_rng(3)
    for step in range(3):
        give_grads(a, b, rng, skip=(1,) if step == 1 else ())
        fused.step()
        plain.step()
        assert is_fused(fused, a)
        assert_identical(a, b, fused, plain, f"after step {step}")


def test_state_dicts_round_trip_between_fused_and_per_parameter_optimizers():
    a, b, fused, plain = twins("Adam", dict(lr=0.05, amsgrad=True))
    rng = np.random.default_rng(4)
    for _ in range(2):
        give_grads(a, b, rng)
        fused.step()
        plain.step()
    # swap: each continues from the other's state in a new optimizer of the other kind
    fused2, plain2 = optim.Adam(a, lr=0.05, amsgrad=True), optim.Adam(b, lr=0.05, amsgrad=True, fused=False)
    fused2.load_state_dict(plain.state_dict())
    plain2.load_state_dict(fused.state_dict())
    for step in range(2):
        give_grads(a, b, rng)
        fused2.step()
        plain2.step()
        assert_identical(a, b, fused2, plain2, f"after step {step} of the swapped optimizers")


def test_state_dict_shares_memory_with_the_fused_state():
    """As in PyTorch, state_dict() hands out the live state, which the fused step keeps updating."""
    a, b, fused, plain = twins("SGD", dict(lr=0.1, momentum=0.9))
    rng = np.random.default_rng(5)
    give_grads(a, b, rng)
    fused.step()
    buf = fused.state_dict()["state"][0]["momentum_buffer"]
    before = to_numpy(buf).copy()
    give_grads(a, b, rng)
    fused.step()
    assert not np.array_equal(to_numpy(buf), before)
    np.testing.assert_array_equal(to_numpy(buf), to_numpy(fused.state[a[0]]["momentum_buffer"]))


def test_add_param_group_and_zero_grad():
    a, b, fused, plain = twins("SGD", dict(lr=0.1, momentum=0.9, nesterov=True))
    rng = np.random.default_rng(6)
    give_grads(a, b, rng)
    fused.step()
    plain.step()
    extra_a, extra_b = make_params(seed=7)[:2], make_params(seed=7)[:2]
    fused.add_param_group({"params": extra_a, "lr": 0.01})
    plain.add_param_group({"params": extra_b, "lr": 0.01})
    for step in range(3):
        for opt in (fused, plain):
            opt.zero_grad(set_to_none=step == 1)
        give_grads(a + extra_a, b + extra_b, rng, skip=(4,) if step == 2 else ())
        fused.step()
        plain.step()
        assert is_fused(fused, a + extra_a)
        assert_identical(a + extra_a, b + extra_b, fused, plain, f"after step {step} with two groups")
    assert len(fused._flat) == 2


def test_groups_that_do_not_qualify_run_the_per_parameter_rule():
    rng = np.random.default_rng(8)
    # mixed dtypes in one group
    a = [ag.randn(3, 2, requires_grad=True), ag.randn(4, dtype=ag.float64, requires_grad=True)]
    b = [ag.tensor(to_numpy(p), requires_grad=True) for p in a]
    fused, plain = optim.Adam(a, lr=0.1), optim.Adam(b, lr=0.1, foreach=False)
    for _ in range(2):
        give_grads(a, b, rng)
        fused.step()
        plain.step()
    assert not is_fused(fused, a)
    assert_identical(a, b, fused, plain, "with mixed dtypes")
    # a parameter whose memory is a view of another tensor's keeps sharing it, as in PyTorch
    whole = ag.zeros(8)
    p = ag.zeros(4, requires_grad=True)
    p.data = whole[2:6]
    opt = optim.SGD([p], lr=1.0)
    p.grad = ag.ones(4)
    opt.step()
    assert not is_fused(opt, [p])
    np.testing.assert_array_equal(to_numpy(whole), [0, 0, -1, -1, -1, -1, 0, 0])


def test_execution_flags_choose_the_path_as_pytorch_names_them():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    for flags, expect in [(dict(), True), (dict(fused=True), True), (dict(foreach=True), True),
                          (dict(foreach=False), False), (dict(fused=False), False),
                          (dict(fused=False, foreach=True), True)]:
        a = make_params()
        opt = optim.Adam(a, **flags)
        give_grads(a, a, rng)
        opt.step()
        assert is_fused(opt, a) == expect, flags
        assert {k: opt.param_groups[0][k] for k in ("fused", "foreach")} == \
            {k: torch.optim.Adam([torch.zeros(1)], **flags).param_groups[0][k] for k in ("fused", "foreach")}
    for lib in (optim, torch.optim):
        with pytest.raises(RuntimeError, match="cannot (both )?be"):
            lib.Adam(make_params() if lib is optim else [torch.zeros(1, requires_grad=True)], fused=True, foreach=True)
    # fused=True refuses a non-floating parameter that has a gradient, at the step, as PyTorch does
    ints = [ag.zeros(3, dtype=ag.int64), make_params()[0]]
    tints = [torch.zeros(3, dtype=torch.int64), torch.zeros(6, 4, requires_grad=True)]
    opt, topt = optim.SGD(ints, lr=0.1, fused=True), torch.optim.SGD(tints, lr=0.1, fused=True)
    ints[1].grad, tints[1].grad = ag.ones(6, 4), torch.ones(6, 4)
    opt.step()  # the integer tensor has no gradient: both step
    topt.step()
    ints[0].grad, tints[0].grad = ag.ones(3, dtype=ag.int64), torch.ones(3, dtype=torch.int64)
    with pytest.raises(RuntimeError, match="fused=True.*floating point"):
        opt.step()
    with pytest.raises(RuntimeError):  # PyTorch checks only the first step's parameters; its kernel refuses
        topt.step()


def test_rmsprop_has_no_fused_keyword_like_pytorch():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        torch.optim.RMSprop([torch.zeros(1, requires_grad=True)], fused=True)
    with pytest.raises(TypeError):
        optim.RMSprop(make_params(), fused=True)


# --- against PyTorch's foreach and fused implementations ----------------------------------------------------------

def _loss(lib, params, x, y):
    w1, b1, w2, b2 = params
    hidden = (x @ w1.T + b1).tanh()
    return ((hidden @ w2.T + b2 - y) ** 2).mean()


TORCH_CASES = [pytest.param(n, kw, mode, id=f"{case_id}-{mode}") for (n, kw), case_id in zip(CASES, IDS)
               for mode in ("foreach", "fused") if not (mode == "fused" and n == "RMSprop")]  # RMSprop: no fused


@pytest.mark.parametrize("name,kwargs,mode", TORCH_CASES)
def test_trajectory_matches_torch(name, kwargs, mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    values = [rng.standard_normal(s) for s in [(5, 4), (5,), (3, 5), (3,)]]
    x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
    params = [ag.tensor(v, requires_grad=True) for v in values]
    tparams = [torch.tensor(v, requires_grad=True) for v in values]
    opt = getattr(optim, name)(params, **kwargs, **{mode: True})
    topt = getattr(torch.optim, name)(tparams, **kwargs, **{mode: True})
    for step in range(5):
        for lib, ps, o, xs, ys in [(ag, params, opt, ag.tensor(x), ag.tensor(y)),
                                   (torch, tparams, topt, torch.tensor(x), torch.tensor(y))]:
            o.zero_grad()
            _loss(lib, ps, xs, ys).backward()
            o.step()
        assert is_fused(opt, params)
        for i, (p, tp) in enumerate(zip(params, tparams)):
            np.testing.assert_allclose(to_numpy(p), tp.detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"parameter {i} after step {step}")


# --- CUDA: the same on the GPU path, one kernel launch per group, on the parameters' device -----------------------

def _standin():
    import cupy
    if not hasattr(cupy, "_real"):
        pytest.skip("counts kernel launches on the CuPy stand-in (run with --cuda-standin)")
    import cupy_standin
    return cupy_standin


@pytest.mark.cuda
@pytest.mark.parametrize("cuda", ["cuda", "cuda:1"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_fused_cuda_step_is_one_launch_on_the_parameters_device(name, kwargs, cuda):
    standin = _standin()
    a, b, fused, plain = twins(name, kwargs, device=cuda)
    index = Device(cuda).index
    rng = np.random.default_rng(11)
    for step, skip in enumerate([(), (), (1,)]):
        give_grads(a, b, rng, skip)
        launches = standin.LAUNCHES.copy()
        with standin.count_syncs() as syncs:
            fused.step()
        launched = standin.LAUNCHES - launches
        assert sum(launched.values()) == (1 if not skip else 2), launched  # a skipped parameter splits the run
        assert all(kernel.startswith("ndgrad_" + name.lower().rstrip("w")) for kernel in launched), launched
        assert not syncs, f"the fused step synchronised with the host: {dict(syncs)}"
        with standin.count_syncs() as syncs:
            plain.step()  # the per-parameter rule also runs with the parameters' device current
        assert not syncs
        assert is_fused(fused, a)
        assert all(p.array.device.id == index for p in a + b)
        assert all(s.array.device.id == index for st in fused.state.values() for s in st.values()
                   if isinstance(s, ag.Tensor))
        assert_identical(a, b, fused, plain, f"after step {step} on {cuda}")


def test_the_default_takes_the_fused_path_where_it_pays():
    """Neither flag given: on the CPU (the generic rule over flat buffers) only for groups of small parameters,
    whose per-call overhead the fused path saves; fused=True/foreach=True fuse whatever the sizes."""
    rng = np.random.default_rng(12)
    for shapes, flags, expect in [([(300, 60), (300,)], {}, True), ([(300, 60), (300, 60)], {}, False),
                                  ([(400, 100)], {}, False), ([(400, 100)], dict(fused=True), True),
                                  ([(400, 100)], dict(foreach=True), True)]:
        limit = optim.Optimizer.GENERIC_FLAT_MAX_MEAN_NUMEL
        assert (sum(int(np.prod(s)) for s in shapes) <= limit * len(shapes)) == expect or flags
        params = [ag.zeros(s, requires_grad=True) for s in shapes]
        opt = optim.Adam(params, lr=0.1, **flags)
        give_grads(params, params, rng)
        opt.step()
        assert is_fused(opt, params) == expect, (shapes, flags)


def test_deepcopy_and_a_parameter_of_a_new_shape_rebuild_the_layout():
    a, b, fused, plain = twins("RMSprop", dict(lr=0.01, momentum=0.5, centered=True))
    rng = np.random.default_rng(13)
    give_grads(a, b, rng)
    fused.step()
    plain.step()
    (a, fused), (b, plain) = copy.deepcopy((a, fused)), copy.deepcopy((b, plain))  # the copies share no buffer
    for step in range(3):
        if step == 1:  # a parameter changes shape (and its state with it, by hand, in both)
            new = rng.standard_normal((2, 3)).astype(np.float32)
            for params, opt in ((a, fused), (b, plain)):
                params[1].data = ag.tensor(new)
                opt.state[params[1]] = {}
        give_grads(a, b, rng)
        fused.step()
        plain.step()
        assert is_fused(fused, a)
        assert_identical(a, b, fused, plain, f"after step {step} of the copies")


def test_a_new_optimizer_over_fused_parameters_fuses_them_again():
    a, b, fused, plain = twins("Adam", dict(lr=0.05))
    rng = np.random.default_rng(14)
    give_grads(a, b, rng)
    fused.step()
    plain.step()
    fused, plain = optim.Adam(a, lr=0.01), optim.Adam(b, lr=0.01, foreach=False)  # a second training phase
    for step in range(2):
        give_grads(a, b, rng)
        fused.step()
        plain.step()
        assert is_fused(fused, a)
        assert_identical(a, b, fused, plain, f"after step {step} of the second optimizer")


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name,kwargs", [CASES[2], CASES[4], CASES[7]], ids=[IDS[2], IDS[4], IDS[7]])
def test_fused_cuda_step_in_half_precision(name, kwargs, dtype):
    """The kernels compute in float32 and round once, the per-parameter rule rounds after every operation:
    close, not identical (the stand-in's references compute as the kernels do)."""
    _standin()
    a, b, fused, plain = twins(name, kwargs, device="cuda", dtype=getattr(ag, dtype))
    rng = np.random.default_rng(15)
    for step in range(3):
        give_grads(a, b, rng)
        fused.step()
        plain.step()
        assert is_fused(fused, a)
        for i, (p, q) in enumerate(zip(a, b)):
            assert p.dtype == q.dtype == getattr(ag, dtype)
            np.testing.assert_allclose(to_numpy(p).astype(np.float32), to_numpy(q).astype(np.float32), rtol=0.05,
                                       atol=0.05, err_msg=f"parameter {i} after step {step}")
