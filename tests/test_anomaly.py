"""Anomaly mode against PyTorch: the NaN error names the node as PyTorch does, the warning before
it carries the forward traceback of the op that made the node (this file's line included), an error
raised inside a backward gets the same warning, and nothing is recorded or checked while it is off."""

import warnings

import numpy as np
import pytest
import torch

import autograd as ag

LIBS = [torch, ag]


def autograd_of(lib):
    return torch.autograd if lib is torch else ag


def leaf(lib, values):
    return lib.tensor(values, dtype=lib.float64, requires_grad=True)


def run(fn):
    """fn() under warnings capture: (the exception or None, the warning texts)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
            error = None
        except Exception as e:  # noqa: BLE001  (any: compared with torch's)
            error = e
    return error, [str(w.message) for w in caught]


def nan_backward(lib):
    x = leaf(lib, [0.0, 1.0])
    with autograd_of(lib).detect_anomaly():
        y = x.log()  # the line anomaly mode must point at
        (y * 0).sum().backward()


@pytest.mark.parametrize("lib", LIBS, ids=["torch", "ndgrad"])
def test_nan_in_backward_names_the_node_and_shows_the_forward_line(lib):
    error, texts = run(lambda: nan_backward(lib))
    assert isinstance(error, RuntimeError)
    assert str(error) == "Function 'LogBackward0' returned nan values in its 0th output."
    assert texts[0].startswith("Anomaly Detection has been enabled.")
    trace = next(t for t in texts if t.startswith("Error detected in LogBackward0. Traceback of forward call"))
    assert "y = x.log()  # the line anomaly mode must point at" in trace
    assert f'File "{__file__}"' in trace


def test_messages_match_torch():
    results = [run(lambda lib=lib: nan_backward(lib)) for lib in LIBS]
    (terror, ttexts), (aerror, atexts) = results
    assert type(aerror) is type(terror) and str(aerror) == str(terror)
    assert len(atexts) == len(ttexts)
    assert [t.split(".")[0] for t in atexts] == [t.split(".")[0] for t in ttexts]


def make_failing(lib):
    class Boom(autograd_of(lib).Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            raise ValueError("boom in backward")
    return Boom


@pytest.mark.parametrize("lib", LIBS, ids=["torch", "ndgrad"])
def test_error_inside_backward_shows_the_forward_traceback(lib):
    Boom = make_failing(lib)

    def fn():
        x = leaf(lib, [1.0, 2.0])
        with autograd_of(lib).detect_anomaly():
            y = Boom.apply(x)  # the failing node is made here
            y.sum().backward()
    error, texts = run(fn)
    assert isinstance(error, ValueError) and str(error) == "boom in backward"
    trace = next(t for t in texts if t.startswith("Error detected in BoomBackward. Traceback of forward call"))
    assert "y = Boom.apply(x)  # the failing node is made here" in trace


@pytest.mark.parametrize("lib", LIBS, ids=["torch", "ndgrad"])
def test_graph_made_outside_anomaly_mode(lib):
    x = leaf(lib, [0.0, 1.0])
    y = (x.log() * 0).sum()

    def fn():
        with autograd_of(lib).detect_anomaly():
            y.backward()
    error, texts = run(fn)
    assert str(error) == "Function 'LogBackward0' returned nan values in its 0th output."
    assert any(t.startswith("Error detected in LogBackward0. No forward pass information available.") for t in texts)


@pytest.mark.parametrize("lib", LIBS, ids=["torch", "ndgrad"])
def test_off_or_check_nan_false_lets_nan_through(lib):
    def plain():
        x = leaf(lib, [0.0, 1.0])
        (x.log() * 0).sum().backward()
        return x.grad

    def no_nan_check():
        x = leaf(lib, [0.0, 1.0])
        with autograd_of(lib).detect_anomaly(check_nan=False):
            (x.log() * 0).sum().backward()
        return x.grad
    for fn in (plain, no_nan_check):
        error, _ = run(fn)
        assert error is None
    assert np.isnan(plain().detach().numpy()[0])


def test_no_traceback_recorded_when_off():
    x = leaf(ag, [1.0, 2.0])
    y = (x.exp() * 2).sum()
    node = y.grad_fn
    while node is not None and hasattr(node, "_stack"):
        assert node._stack is None
        node = node.next_functions[0][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ag.detect_anomaly():
            z = x.exp()
    assert z.grad_fn._stack and "z = x.exp()" in "".join(z.grad_fn._stack)
    assert x.exp().grad_fn._stack is None  # off again after the block


@pytest.mark.parametrize("lib", LIBS, ids=["torch", "ndgrad"])
def test_switches_and_decorator(lib):
    space = lib if lib is torch else ag
    assert not space.is_anomaly_enabled()
    autograd_of(lib).set_detect_anomaly(True, check_nan=False)
    try:
        assert space.is_anomaly_enabled() and not space.is_anomaly_check_nan_enabled()
    finally:
        autograd_of(lib).set_detect_anomaly(False)
    assert not space.is_anomaly_enabled() and space.is_anomaly_check_nan_enabled()
    with autograd_of(lib).set_detect_anomaly(True):
        assert space.is_anomaly_enabled()
    assert not space.is_anomaly_enabled()



def test_detect_anomaly_as_a_decorator():
    """(torch.autograd.detect_anomaly is a context manager only; here it decorates too.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        @ag.detect_anomaly(check_nan=False)
        def inside():
            return ag.is_anomaly_enabled(), ag.is_anomaly_check_nan_enabled()
    assert not ag.is_anomaly_enabled()
    assert inside() == (True, False)
    assert not ag.is_anomaly_enabled() and ag.is_anomaly_check_nan_enabled()


@pytest.mark.cuda
def test_nan_check_on_cuda():
    x = ag.tensor([0.0, 1.0], dtype=ag.float32, device="cuda", requires_grad=True)

    def fn():
        with ag.detect_anomaly():
            y = x.log()  # made on the GPU
            (y * 0).sum().backward()
    error, texts = run(fn)
    assert str(error) == "Function 'LogBackward0' returned nan values in its 0th output."
    assert any("y = x.log()  # made on the GPU" in t for t in texts)
