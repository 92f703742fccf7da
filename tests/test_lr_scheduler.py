"""optim.lr_scheduler against torch.optim.lr_scheduler: the same learning rates (and cycled momenta)
step for step, resuming from state dicts and from last_epoch, and the step-order warning.

Each case builds the same scheduler on an ndgrad optimizer and on a torch one (two parameter
groups with different learning rates) and steps both a few hundred times.
"""

import copy
import math
import pickle
import warnings

import numpy as np
import pytest

import autograd as ag
import optim
from optim import lr_scheduler

torch = pytest.importorskip("torch")

STEPS = 300


def make_optimizer(lib, name="SGD", **kwargs):
    """An optimizer of ``lib`` ("ag" or torch) over two one-element groups with their own learning rates."""
    if lib is ag:
        a, b = ag.zeros(1, requires_grad=True), ag.zeros(1, requires_grad=True)
        module = optim
    else:
        a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
        module = torch.optim
    kwargs = {"lr": 0.1, **kwargs}
    if name == "SGD":
        kwargs.setdefault("momentum", 0.9)
    return getattr(module, name)([{"params": [a]}, {"params": [b], "lr": 0.05}], **kwargs)


def group_values(opt):
    """What a scheduler may change in each group: lr, and momentum or beta1."""
    return [(g["lr"], g.get("momentum"), g["betas"][0] if "betas" in g else None) for g in opt.param_groups]


def assert_same_group_values(got, expected, message, rel=1e-10):
    """Per group (lr, momentum, beta1) tuples, None where a group has no such value."""
    assert len(got) == len(expected), message
    for mine, theirs in zip(got, expected):
        for a, b in zip(mine, theirs):
            if a is None or b is None:
                assert a is b is None, f"{message}: {mine} vs {theirs}"
            else:
                assert a == pytest.approx(b, rel=rel, abs=1e-15), f"{message}: {mine} vs {theirs}"


def assert_same_values(opt, topt, sched, tsched, step_no):
    assert_same_group_values(group_values(opt), group_values(topt), f"step {step_no} (ndgrad vs torch)")
    np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-10, atol=1e-15,
                               err_msg=f"get_last_lr after step {step_no}")


def decay(epoch):
    return 0.97 ** epoch


def slow_decay(epoch):
    return 1 / (1 + 0.01 * epoch)


def half(epoch):
    return 0.995


def wave(x):
    return 0.5 * (1 + math.sin(x / 10))


# (id, optimizer name, optimizer kwargs, build(module, opt) -> scheduler)
CASES = [
    ("LambdaLR", "SGD", {}, lambda m, o: m.LambdaLR(o, decay)),
    ("LambdaLR-per-group", "SGD", {}, lambda m, o: m.LambdaLR(o, [decay, slow_decay])),
    ("MultiplicativeLR", "SGD", {}, lambda m, o: m.MultiplicativeLR(o, half)),
    ("StepLR", "SGD", {}, lambda m, o: m.StepLR(o, step_size=30, gamma=0.5)),
    ("MultiStepLR", "SGD", {}, lambda m, o: m.MultiStepLR(o, [30, 80, 80, 150], gamma=0.5)),
    ("ConstantLR", "SGD", {}, lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=40)),
    ("LinearLR", "SGD", {}, lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=100)),
    ("LinearLR-down", "SGD", {}, lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=250)),
    ("ExponentialLR", "SGD", {}, lambda m, o: m.ExponentialLR(o, gamma=0.99)),
    ("PolynomialLR", "SGD", {}, lambda m, o: m.PolynomialLR(o, total_iters=200, power=2.0)),
    ("CosineAnnealingLR", "SGD", {}, lambda m, o: m.CosineAnnealingLR(o, T_max=50, eta_min=1e-3)),
    ("CosineAnnealingLR-long", "SGD", {}, lambda m, o: m.CosineAnnealingLR(o, T_max=400)),
    ("WarmRestarts", "SGD", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=25)),
    ("WarmRestarts-mult", "SGD", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=1e-4)),
    ("CyclicLR-triangular", "SGD", {}, lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=20)),
    ("CyclicLR-triangular2", "SGD", {},
     lambda m, o: m.CyclicLR(o, [0.01, 0.02], [0.1, 0.3], step_size_up=15, step_size_down=35, mode="triangular2",
                             base_momentum=[0.8, 0.7], max_momentum=0.95)),
    ("CyclicLR-exp_range", "SGD", {},
     lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=25, mode="exp_range", gamma=0.995)),
    ("CyclicLR-scale_fn", "SGD", {},
     lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=10, scale_fn=wave, scale_mode="iterations")),
    ("CyclicLR-no-momentum", "SGD", {"momentum": 0.0},
     lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=10, cycle_momentum=False)),
    ("CyclicLR-Adam-betas", "Adam", {}, lambda m, o: m.CyclicLR(o, 1e-3, 1e-2, step_size_up=30)),
    ("OneCycleLR-cos", "SGD", {}, lambda m, o: m.OneCycleLR(o, max_lr=[0.1, 0.2], total_steps=STEPS)),
    ("OneCycleLR-linear", "SGD", {},
     lambda m, o: m.OneCycleLR(o, max_lr=0.3, epochs=30, steps_per_epoch=10, anneal_strategy="linear",
                               pct_start=0.25, div_factor=10.0, final_div_factor=100.0)),
    ("OneCycleLR-three-phase", "SGD", {},
     lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=STEPS + 20, three_phase=True, base_momentum=0.8)),
    ("OneCycleLR-Adam-betas", "AdamW", {}, lambda m, o: m.OneCycleLR(o, max_lr=0.01, total_steps=STEPS)),
    ("OneCycleLR-no-momentum", "Adam", {},
     lambda m, o: m.OneCycleLR(o, max_lr=0.01, total_steps=STEPS, cycle_momentum=False)),
    ("SequentialLR", "SGD", {},
     lambda m, o: m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=20), m.ExponentialLR(o, 0.98),
                                     m.CosineAnnealingLR(o, T_max=60)], milestones=[20, 150])),
    ("SequentialLR-constant-step", "SGD", {},
     lambda m, o: m.SequentialLR(o, [m.ConstantLR(o, factor=0.2, total_iters=10), m.StepLR(o, 40, 0.3)],
                                 milestones=[25])),
    ("ChainedScheduler", "SGD", {},
     lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.3, total_iters=30), m.ExponentialLR(o, 0.99),
                                      m.MultiStepLR(o, [50, 120])])),
    ("ChainedScheduler-cosine-warmup", "SGD", {},
     lambda m, o: m.ChainedScheduler([m.LinearLR(o, start_factor=0.1, total_iters=25),
                                      m.CosineAnnealingLR(o, T_max=100, eta_min=1e-4)], optimizer=o)),
]


def run_pair(opt_name, opt_kwargs, build, steps=STEPS):
    opt, topt = make_optimizer(ag, opt_name, **opt_kwargs), make_optimizer(torch, opt_name, **opt_kwargs)
    sched, tsched = build(lr_scheduler, opt), build(torch.optim.lr_scheduler, topt)
    assert_same_values(opt, topt, sched, tsched, 0)
    seen = {tuple(sched.get_last_lr())}
    for i in range(1, steps + 1):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert_same_values(opt, topt, sched, tsched, i)
        seen.add(tuple(sched.get_last_lr()))
    return sched, seen


@pytest.mark.parametrize("opt_name,opt_kwargs,build", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_schedule_matches_torch(opt_name, opt_kwargs, build):
    sched, seen = run_pair(opt_name, opt_kwargs, build)
    assert len(sched.get_last_lr()) == 2 and all(isinstance(lr, float) for lr in sched.get_last_lr())
    assert len(seen) >= 2  # the schedule did move


@pytest.mark.parametrize("opt_name,opt_kwargs,build", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_state_dict_resume_continues_the_same_schedule(opt_name, opt_kwargs, build):
    opt, sched = make_optimizer(ag, opt_name, **opt_kwargs), None
    sched = build(lr_scheduler, opt)
    history = []
    for i in range(STEPS):
        opt.step()
        sched.step()
        history.append(group_values(opt))
        if i == 119:
            saved_opt, saved_sched = copy.deepcopy(opt.state_dict()), pickle.loads(pickle.dumps(sched.state_dict()))
    assert "optimizer" not in saved_sched
    fresh = make_optimizer(ag, opt_name, **opt_kwargs)
    fresh_sched = build(lr_scheduler, fresh)
    fresh.load_state_dict(saved_opt)
    fresh_sched.load_state_dict(saved_sched)
    assert fresh_sched.get_last_lr() == [v[0] for v in history[119]]
    for i in range(120, STEPS):
        fresh.step()
        fresh_sched.step()
        assert_same_group_values(group_values(fresh), history[i], f"step {i}", rel=1e-12)


# --- resuming from last_epoch -------------------------------------------------------------------

RESUMABLE = [
    lambda m, o, e: m.StepLR(o, step_size=7, gamma=0.5, last_epoch=e),
    lambda m, o, e: m.ExponentialLR(o, gamma=0.95, last_epoch=e),
    lambda m, o, e: m.CosineAnnealingLR(o, T_max=30, eta_min=0.01, last_epoch=e),
    lambda m, o, e: m.LambdaLR(o, decay, last_epoch=e),
    lambda m, o, e: m.PolynomialLR(o, total_iters=40, power=1.5, last_epoch=e),
    lambda m, o, e: m.CosineAnnealingWarmRestarts(o, T_0=9, T_mult=2, last_epoch=e),
    lambda m, o, e: m.CyclicLR(o, 0.01, 0.1, step_size_up=6, mode="triangular2", last_epoch=e),
    lambda m, o, e: m.OneCycleLR(o, max_lr=0.1, total_steps=100, last_epoch=e),
]


@pytest.mark.parametrize("build", RESUMABLE, ids=["StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR",
                                                  "PolynomialLR", "WarmRestarts", "CyclicLR", "OneCycleLR"])
def test_resume_from_last_epoch_matches_torch(build):
    opt, topt = make_optimizer(ag), make_optimizer(torch)
    build(lr_scheduler, opt, -1)  # puts initial_lr (and the schedule's own entries) into the groups
    build(torch.optim.lr_scheduler, topt, -1)
    assert all(g["initial_lr"] == tg["initial_lr"] for g, tg in zip(opt.param_groups, topt.param_groups))
    sched, tsched = build(lr_scheduler, opt, 12), build(torch.optim.lr_scheduler, topt, 12)
    assert sched.last_epoch == tsched.last_epoch == 13
    assert_same_values(opt, topt, sched, tsched, 13)
    for i in range(14, 60):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert_same_values(opt, topt, sched, tsched, i)


def test_resume_without_initial_lr_names_the_group_and_the_fix():
    opt = make_optimizer(ag)
    with pytest.raises(KeyError, match=r"initial_lr.*param_groups\[0\].*load the optimizer's state dict"):
        lr_scheduler.StepLR(opt, 10, last_epoch=5)


def test_step_with_an_epoch_uses_the_closed_form_and_warns():
    opt, topt = make_optimizer(ag), make_optimizer(torch)
    sched, tsched = lr_scheduler.StepLR(opt, 10, 0.5), torch.optim.lr_scheduler.StepLR(topt, 10, 0.5)
    opt.step()
    topt.step()
    for epoch in (25, 3, 47):
        with pytest.warns(UserWarning, match="deprecated"):
            sched.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tsched.step(epoch)
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)


# --- ReduceLROnPlateau --------------------------------------------------------------------------

def scripted_metric(n=300, seed=0):
    """A noisy loss curve that improves, stalls for long stretches and improves again."""
    rng = np.random.default_rng(seed)
    levels = np.repeat([1.0, 0.8, 0.8, 0.79, 0.5, 0.5, 0.5, 0.45, 0.2, 0.2], n // 10)
    return levels + 0.02 * rng.standard_normal(n)


PLATEAU = [
    dict(),
    dict(mode="max"),
    dict(patience=3, factor=0.5),
    dict(patience=2, factor=0.5, threshold=0.05, threshold_mode="abs"),
    dict(patience=4, factor=0.7, threshold=0.01, threshold_mode="rel", cooldown=5),
    dict(mode="max", patience=1, factor=0.3, threshold=0.02, threshold_mode="abs", cooldown=2),
    dict(patience=1, factor=0.5, min_lr=[0.02, 1e-3]),
    dict(patience=0, factor=0.9, min_lr=1e-4, eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=[",".join(f"{k}={v}" for k, v in kw.items()) or "defaults"
                                                 for kw in PLATEAU])
def test_reduce_on_plateau_matches_torch(kwargs):
    opt, topt = make_optimizer(ag), make_optimizer(torch)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    metric = scripted_metric()
    if kwargs.get("mode") == "max":
        metric = -metric
    for i, value in enumerate(metric):
        opt.step()
        topt.step()
        sched.step(ag.tensor(value) if i % 2 else value)  # a Tensor metric works too
        tsched.step(value)
        assert group_values(opt) == group_values(topt), f"step {i}"
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter) == \
               (tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter)
    assert opt.param_groups[0]["lr"] < 0.1  # the script made it reduce
    assert sched.get_last_lr() == tsched.get_last_lr()


def test_reduce_on_plateau_state_dict_resume():
    metric = scripted_metric(seed=1)
    opt = make_optimizer(ag)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=3)
    history = []
    for i, value in enumerate(metric):
        sched.step(value)
        history.append(group_values(opt))
        if i == 99:
            saved_opt, saved = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    fresh = make_optimizer(ag)
    fresh_sched = lr_scheduler.ReduceLROnPlateau(fresh)  # settings come from the state dict
    fresh.load_state_dict(saved_opt)
    fresh_sched.load_state_dict(saved)
    for i in range(100, len(metric)):
        fresh_sched.step(metric[i])
        assert group_values(fresh) == history[i], f"step {i}"


# --- the step-order warning and the wrapped optimizer.step ---------------------------------------

def test_warns_when_the_scheduler_steps_before_the_optimizer():
    opt = make_optimizer(ag)
    sched = lr_scheduler.StepLR(opt, 5)
    with pytest.warns(UserWarning, match=r"scheduler.step\(\) was called before optimizer.step\(\)"):
        sched.step()
    with warnings.catch_warnings():  # only the first step can be out of order
        warnings.simplefilter("error")
        sched.step()
        opt.step()
        sched.step()


@pytest.mark.parametrize("build", [lambda o: lr_scheduler.StepLR(o, 5),
                                   lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=10),
                                   lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 3),
                                   lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ConstantLR(o),
                                                                           lr_scheduler.ExponentialLR(o, 0.9)], [2])],
                         ids=["StepLR", "OneCycleLR", "WarmRestarts", "SequentialLR"])
def test_no_warning_in_the_right_order(build):
    opt = make_optimizer(ag)
    sched = build(opt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(5):
            opt.step()
            sched.step()
    fresh_opt = make_optimizer(ag)
    fresh = build(fresh_opt)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        fresh.step()


def test_warns_when_optimizer_step_is_replaced_after_the_scheduler():
    opt = make_optimizer(ag)
    sched = lr_scheduler.ExponentialLR(opt, 0.9)
    opt.step = lambda closure=None: None
    with pytest.warns(UserWarning, match="optimizer.step was replaced"):
        sched.step()


def test_wrapped_step_keeps_the_optimizer_picklable_and_counts_calls():
    params = [ag.tensor([1.0, 2.0], requires_grad=True)]
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    first, second = lr_scheduler.StepLR(opt, 3), lr_scheduler.ExponentialLR(opt, 0.9)
    assert first.optimizer is second.optimizer is opt
    # a gradient set by hand: a Tensor that went through backward() keeps a weak reference to its
    # grad accumulator, which does not pickle (an autograd matter, not the optimizer's)
    params[0].grad = ag.tensor([0.5, -1.0])
    opt.step()
    opt.step()
    assert opt._step_calls == 2  # wrapped once, though two schedulers share the optimizer
    before = opt.state_dict()
    assert set(before) == {"state", "param_groups"}
    for clone in (pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)):
        assert "step" not in clone.__dict__  # the scheduler's wrapper stays behind
        assert clone.state_dict()["param_groups"] == before["param_groups"]
        clone.step()
        lr_scheduler.StepLR(clone, 3).step()  # a new scheduler wraps the copy's own step


def test_get_lr_called_directly_warns():
    sched = lr_scheduler.ExponentialLR(make_optimizer(ag), 0.9)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


# --- state dicts leave user functions out ----------------------------------------------------------

class Warmup:
    """A callable object: its attributes travel in the state dict, unlike a plain function."""

    def __init__(self, epochs):
        self.epochs = epochs

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.epochs)


def test_lambda_state_dict_keeps_callable_objects_only():
    opt = make_optimizer(ag)
    sched = lr_scheduler.LambdaLR(opt, [decay, Warmup(10)])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [None, {"epochs": 10}]
    assert set(state) == set(torch.optim.lr_scheduler.LambdaLR(make_optimizer(torch), [decay, Warmup(10)])
                              .state_dict()) - {"_get_lr_called_within_step", "_is_initial"}
    other = lr_scheduler.LambdaLR(make_optimizer(ag), [decay, Warmup(3)])
    other.load_state_dict(state)
    assert other.lr_lambdas[1].epochs == 10 and other.lr_lambdas[0] is decay
    pickle.dumps(sched.state_dict())  # no functions inside


def test_cyclic_state_dict_leaves_scale_fn_out():
    opt = make_optimizer(ag)
    sched = lr_scheduler.CyclicLR(opt, 0.01, 0.1, scale_fn=wave)
    state = sched.state_dict()
    assert state["_scale_fn_custom"] is None
    pickle.dumps(state)


# --- errors -------------------------------------------------------------------------------------

ERRORS = [
    (lambda m, o: m.ConstantLR(o, factor=1.5), ValueError),
    (lambda m, o: m.LinearLR(o, start_factor=0), ValueError),
    (lambda m, o: m.LinearLR(o, end_factor=1.5), ValueError),
    (lambda m, o: m.LambdaLR(o, [decay]), ValueError),
    (lambda m, o: m.MultiplicativeLR(o, 0.9), TypeError),
    (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=0), ValueError),
    (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0), ValueError),
    (lambda m, o: m.CyclicLR(o, 0.01, 0.1, mode="sawtooth"), ValueError),
    (lambda m, o: m.CyclicLR(o, [0.01], 0.1), ValueError),
    (lambda m, o: m.OneCycleLR(o, 0.1), ValueError),
    (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=0), ValueError),
    (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.5), ValueError),
    (lambda m, o: m.OneCycleLR(o, 0.1, total_steps=10, anneal_strategy="step"), ValueError),
    (lambda m, o: m.ReduceLROnPlateau(o, factor=1.0), ValueError),
    (lambda m, o: m.ReduceLROnPlateau(o, mode="up"), ValueError),
    (lambda m, o: m.ReduceLROnPlateau(o, threshold_mode="ratio"), ValueError),
    (lambda m, o: m.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError),
    (lambda m, o: m.SequentialLR(o, [m.StepLR(o, 2), m.StepLR(o, 3)], milestones=[]), ValueError),
    (lambda m, o: m.SequentialLR(o, [m.StepLR(o, 2), m.ReduceLROnPlateau(o)], milestones=[3]), ValueError),
    (lambda m, o: m.ChainedScheduler([]), ValueError),
]


@pytest.mark.parametrize("build,error", ERRORS)
def test_invalid_arguments_are_refused_like_torch(build, error):
    with pytest.raises(error):
        build(lr_scheduler, make_optimizer(ag))
    with pytest.raises(error):
        build(torch.optim.lr_scheduler, make_optimizer(torch))


def test_scheduler_needs_an_ndgrad_optimizer():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(make_optimizer(torch), 3)
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.CyclicLR(make_optimizer(ag, "Adagrad"), 0.01, 0.1)


def test_one_cycle_refuses_to_step_past_the_end():
    opt = make_optimizer(ag)
    sched = lr_scheduler.OneCycleLR(opt, 0.1, total_steps=3)
    for _ in range(3):
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times.*total_steps"):
        sched.step()


def test_legacy_name():
    assert lr_scheduler._LRScheduler is lr_scheduler.LRScheduler
    assert issubclass(lr_scheduler.ReduceLROnPlateau, optim.lr_scheduler.LRScheduler)
