"""Early release, measured: NumPy reports its allocations to tracemalloc, so the traced
memory tells how many big arrays are alive at each point.

Every graph here is built on arrays of a million float64 values (8 MB each, called one
"array" below); the bounds are stated in arrays, with half an array of slack for Python's
own small objects.
"""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import autograd as ag

N = 1_000_000
ARRAY = 8 * N          # bytes in one float64 array of N values
SLACK = 0.5            # in arrays


@pytest.fixture
def traced():
    """Trace allocations; ``traced()`` gives (current, peak) in arrays since the last ``traced.reset()``."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()

    class Meter:
        base = 0

        def reset(self):
            gc.collect()
            self.base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()

        def now(self):
            return (tracemalloc.get_traced_memory()[0] - self.base) / ARRAY

        def peak(self):
            return (tracemalloc.get_traced_memory()[1] - self.base) / ARRAY

        def reset_peak(self):
            tracemalloc.reset_peak()

    yield Meter()
    if started:
        tracemalloc.stop()


@pytest.fixture
def no_gc():
    """Nothing may rely on the cycle collector: memory must come back by reference counting alone."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


def big_leaf():
    return ag.randn(N, dtype=ag.float64, requires_grad=True)


def tanh_exp_chain(x, steps):
    """Each step keeps two arrays for backward: tanh's output (also mul's input) and exp's output."""
    h = x
    for _ in range(steps):
        h = (h.tanh() * 1.5).exp()
    return h


def test_saved_buffers_are_released_by_backward(traced, no_gc):
    x = big_leaf()
    traced.reset()
    out = tanh_exp_chain(x, 4)
    loss = out.sum()
    forward = traced.now()
    assert forward >= 8 - SLACK           # the graph really holds 2 arrays per step
    loss.backward()
    # what is left: the output (still referenced here) and x.grad; every saved buffer is gone
    assert out.grad_fn is not None and x.grad is not None
    assert traced.now() <= 2 + SLACK
    del out, loss
    assert traced.now() <= 1 + SLACK        # only x.grad


def test_peak_during_backward_is_bounded(traced, no_gc):
    x = big_leaf()
    traced.reset()
    loss = tanh_exp_chain(x, 4).sum()
    forward = traced.now()
    traced.reset_peak()
    loss.backward()
    # saved buffers are freed as each node finishes and each gradient once consumed: backward
    # never needs more than a few arrays beyond what forward left (keeping every gradient would
    # add one per op, 12 here)
    assert traced.peak() <= forward + 4


def test_intermediate_gradients_are_freed_during_backward(traced, no_gc):
    x = big_leaf()
    traced.reset()
    h = x
    for _ in range(12):
        h = -h        # saves nothing; its backward makes one new gradient array per op
    loss = h.sum()
    del h
    assert traced.now() <= 1 + SLACK        # forward kept only the last output
    traced.reset_peak()
    loss.backward()
    # all 12 gradients alive at once would be 12 arrays; one or two at a time is the point
    assert traced.peak() <= 3 + SLACK
    assert traced.now() <= 1 + SLACK        # x.grad (the output was dropped above)


def test_gradients_of_a_reused_tensor_accumulate_without_growing(traced, no_gc):
    x = big_leaf()
    traced.reset()
    loss = ag.sum(x * 2.0)
    for scale in (3.0, 4.0, 5.0, 6.0, 7.0, 8.0):
        loss = loss + (x * scale).sum()       # 7 gradients flow into x
    assert traced.now() <= SLACK              # mul by a scalar keeps only x, which is already there
    traced.reset_peak()
    loss.backward()
    assert traced.peak() <= 3 + SLACK
    assert traced.now() <= 1 + SLACK


def test_retain_graph_keeps_saved_buffers(traced, no_gc):
    x = big_leaf()
    traced.reset()
    loss = tanh_exp_chain(x, 3).sum()
    forward = traced.now()
    loss.backward(retain_graph=True)
    assert traced.now() >= forward + 1 - SLACK      # the saved buffers, plus x.grad
    loss.backward()                                  # still possible, and now frees them
    assert traced.now() <= 1 + SLACK
    del loss
    assert traced.now() <= 1 + SLACK


def test_no_grad_saves_nothing(traced, no_gc):
    x = big_leaf()
    traced.reset()
    with ag.no_grad():
        out = tanh_exp_chain(x, 4)
    assert out.grad_fn is None
    assert traced.now() <= 1 + SLACK                 # just the output


def test_dropped_graph_is_freed_without_the_cycle_collector(traced, no_gc):
    x = big_leaf()
    traced.reset()
    out = tanh_exp_chain(x, 3)
    assert traced.now() >= 6 - SLACK
    node = weakref.ref(out.grad_fn)
    inner = weakref.ref(out.grad_fn.next_functions[0][0])
    accumulator = weakref.ref(x._grad_node())
    del out
    assert node() is None and inner() is None and accumulator() is None
    assert traced.now() <= SLACK


def test_graph_freed_after_backward_when_output_dropped(traced, no_gc):
    x = big_leaf()
    traced.reset()
    y = tanh_exp_chain(x, 2)
    y.retain_grad()                       # a weak link from the node to y: no cycle either
    loss = (y * y).sum()
    loss.backward(retain_graph=True)
    node = weakref.ref(loss.grad_fn)
    del loss, y
    assert node() is None
    assert traced.now() <= 1 + SLACK      # x.grad


def test_create_graph_gradient_freed_when_dropped(traced, no_gc):
    x = big_leaf()
    traced.reset()
    (g,) = ag.grad(tanh_exp_chain(x, 2).sum(), x, create_graph=True)
    assert g.grad_fn is not None
    node = weakref.ref(g.grad_fn)
    del g
    assert node() is None
    assert traced.now() <= SLACK


def test_grad_fn_dies_with_its_output(no_gc):
    x = ag.ones(3, requires_grad=True)
    y = x * 2
    z = y.exp()
    mul_node, exp_node = weakref.ref(y.grad_fn), weakref.ref(z.grad_fn)
    del z
    assert exp_node() is None and mul_node() is not None   # y still holds its node
    del y
    assert mul_node() is None
    assert x.is_leaf and x.grad is None


def test_nodes_do_not_hold_their_outputs(no_gc):
    x = ag.ones(3, requires_grad=True)
    y = x.exp()                     # saves its own output array, never the Tensor
    node = y.grad_fn
    out = weakref.ref(y)
    del y
    assert out() is None
    assert node.name() == "ExpBackward0"


def test_early_release_switch_keeps_buffers_until_backward_returns():
    """With early release off, a deep chain's backward holds every saved tensor to the end, so its peak is higher;
    the gradients are the same, and the saved tensors still go when backward returns."""
    import tracemalloc

    from autograd import engine

    def peak_of_backward():
        x = ag.tensor(np.random.default_rng(0).standard_normal((64, 256)), requires_grad=True)
        y = x
        for _ in range(20):
            y = (y * 1.01).tanh()
        tracemalloc.start()
        y.sum().backward()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak, x.grad.numpy().copy(), y.grad_fn

    released, g1, node1 = peak_of_backward()
    engine.set_early_release(False)
    try:
        kept, g2, node2 = peak_of_backward()
    finally:
        engine.set_early_release(True)
    np.testing.assert_array_equal(g1, g2)
    assert kept > 1.3 * released, (kept, released)
    assert node2._saved is None
