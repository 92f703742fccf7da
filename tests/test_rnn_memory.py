"""Backpropagation through a long sequence (500 steps) keeps memory flat: the fused LSTM layer saves
its gates and cell states, and its backward needs only one chunk of gate gradients on top of them
(reused step after step), then everything is released. NumPy reports its allocations to tracemalloc;
the bounds are derived from the array sizes, never from timings."""

import gc
import tracemalloc

import numpy as np

import autograd as ag
from autograd.ops import rnn as rnn_ops

T, B, I, H = 500, 4, 2, 64
FLOAT = 8  # float64


def test_lstm_backward_through_500_steps_stays_under_the_saved_total():
    rng = np.random.default_rng(0)
    x = ag.tensor(rng.standard_normal((T, B, I)), requires_grad=True)
    h0, c0 = ag.zeros(B, H, dtype=ag.float64), ag.zeros(B, H, dtype=ag.float64)
    w_ih = ag.tensor(rng.standard_normal((4 * H, I)) * 0.1, requires_grad=True)
    w_hh = ag.tensor(rng.standard_normal((4 * H, H)) * 0.1, requires_grad=True)
    saved = T * B * (4 * H + H) * FLOAT        # the activated gates and the cell states, per step
    chunk = rnn_ops._CHUNK * B * (4 * H + H) * FLOAT  # one chunk of gate gradients and previous states
    small = (T * B * I + 4 * H * (I + H) + 4 * B * H) * FLOAT  # dx, the weight gradients, per-step vectors
    assert chunk + small < saved / 4            # the shapes make the bound below meaningful

    grads = [ag.ones(T, B, H, dtype=ag.float64), ag.ones(B, H, dtype=ag.float64), ag.ones(B, H, dtype=ag.float64)]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out, h_n, c_n = rnn_ops.lstm_layer(x, (h0, c0), w_ih, w_hh)
        after_forward = tracemalloc.get_traced_memory()[0]
        assert after_forward - base >= saved   # the graph really holds every step's gates and cells
        tracemalloc.reset_peak()
        ag.backward([out, h_n, c_n], grads)
        gc.collect()
        peak = tracemalloc.get_traced_memory()[1]
        after_backward = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # backward allocates far less than forward saved: one chunk of gate gradients, not one per step
    assert peak - after_forward < saved / 4, f"backward peaked {peak - after_forward} bytes over forward's {saved} saved"
    # and the saved gates and cells are gone once it has run (the gradients in .grad remain)
    assert after_forward - after_backward >= saved - small
    assert x.grad is not None and w_hh.grad is not None
