"""The convolution gradients' scratch memory (issue 11, part 3): how ConvWeightGrad and ConvTranspose walk
the batch and the kernel, held to PyTorch's numbers on every walk, and the bound on what they allocate.

A gradient op covers a chunk of the batch and a run of kernel positions per GEMM (``conv_ops.plan``: level 0
is all positions at once, im2col; the last level one position at a time). Which walk a shape gets depends on
the budget, so each walk is forced here on small shapes and compared with torch.
"""

import math
import tracemalloc

import numpy as np
import pytest
import torch

import autograd as ag
from autograd.ops import conv as conv_ops
from conftest import DEVICES, assert_close

F = {"ag": ag.ops, "torch": torch.nn.functional}

# (function, input shape, weight shape, keyword arguments): the geometries whose gradients go through plan()
CASES = [
    ("conv1d", (5, 4, 9), (6, 2, 3), dict(stride=2, padding=2, dilation=2, groups=2)),
    ("conv2d", (5, 3, 7, 6), (4, 3, 3, 2), dict(padding=(1, 2))),
    ("conv2d", (5, 4, 7, 6), (6, 2, 3, 3), dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)),
    ("conv2d", (3, 2, 8, 8), (5, 2, 5, 5), dict()),  # LeNet's second conv in small: more outputs than inputs
    ("conv3d", (3, 2, 4, 5, 4), (4, 1, 2, 3, 2), dict(stride=(1, 2, 1), padding=1, groups=2)),
    ("conv_transpose2d", (5, 4, 3, 4), (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ("conv_transpose1d", (5, 3, 6), (3, 2, 4), dict(dilation=2, padding=1)),
]
CASE_IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def forced_plan(level):
    """plan() made to take ``level`` (or the finest there is) and chunks of two samples at most."""
    def plan(n, kernel, per_position, per_sample, budget, calls_per_run=1, calls_per_chunk=1):
        return min(level, len(kernel)), conv_ops.chunks(n, 2, 3)
    return plan


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("name, shape, wshape, kwargs", CASES, ids=CASE_IDS)
def test_every_walk_matches_torch(name, shape, wshape, kwargs, level, device, monkeypatch):
    """Whichever run of kernel positions and chunk of the batch a GEMM covers (chunks of two samples,
    the last one shorter), the output and both gradients are torch's, to float64 rounding."""
    monkeypatch.setattr(conv_ops, "plan", forced_plan(level))
    rng = np.random.default_rng(level)
    x, w = rng.standard_normal(shape), rng.standard_normal(wshape)
    results = []
    for lib in ("ag", "torch"):
        make = (lambda a: ag.tensor(a, requires_grad=True, device=device)) if lib == "ag" else \
            (lambda a: torch.tensor(a, requires_grad=True))
        xt, wt = make(x), make(w)
        out = getattr(F[lib], name)(xt, wt, **kwargs)
        cot = np.random.default_rng(9).standard_normal(tuple(out.shape))
        cot = ag.tensor(cot, device=device) if lib == "ag" else torch.tensor(cot)
        grads = (ag.grad if lib == "ag" else torch.autograd.grad)(out, [xt, wt], cot)
        results.append([t.detach().cpu().numpy() for t in (out, *grads)])
    for kind, got, expected in zip(("output", "input gradient", "weight gradient"), *results):
        assert_close(got, expected, rtol=1e-10, atol=1e-10, msg=f"{name} level {level}: {kind}")


@pytest.mark.parametrize("x_shape, w_shape, padding", [
    ((64, 6, 14, 14), (16, 6, 5, 5), 0),   # LeNet's second conv: the input gradient outgrows the output
    ((64, 1, 28, 28), (6, 1, 5, 5), 2),    # LeNet's first conv (padded)
    ((4, 8, 16, 16), (8, 8, 3, 3), 1),     # same size in and out: the input gradient is a correlation
])
def test_backward_scratch_stays_within_a_share_of_the_arrays(x_shape, w_shape, padding):
    """What conv2d's backward allocates beyond the gradients it returns (and x's zero-padded copy, where
    there is padding) is at most 1/SCRATCH_SHARE of x and the output gradient together: the scratch the
    budget allows, not all the columns. (The im2col columns of one whole chunk were up to x + y; LeNet's
    second conv's input gradient took 2.4x its arrays.) The gradients are torch's."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    xt, wt = ag.tensor(x, requires_grad=True), ag.tensor(w, requires_grad=True)
    out = ag.ops.conv2d(xt, wt, padding=padding)
    grad = ag.tensor(rng.standard_normal(tuple(out.shape)).astype(np.float32))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        gx, gw = ag.grad(out, [xt, wt], grad)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    padded = (x_shape[0] * x_shape[1] * math.prod(s + 2 * padding for s in x_shape[2:]) * 4) if padding else 0
    allowed = gx.array.nbytes + gw.array.nbytes + padded + (x.nbytes + grad.array.nbytes) // conv_ops.SCRATCH_SHARE
    assert peak <= allowed + (64 << 10), (f"conv2d backward {x_shape} * {w_shape}: peak {peak} bytes, allowed "
                                          f"{allowed} (+64 KiB)")
    xt2, wt2 = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    expected = torch.autograd.grad(torch.nn.functional.conv2d(xt2, wt2, padding=padding), [xt2, wt2],
                                   torch.tensor(grad.numpy()))
    for got, e in zip((gx, gw), expected):
        e = e.numpy()  # float32 sums of ~50k terms: the error scales with the largest entry
        assert_close(got.numpy(), e, rtol=1e-4, atol=1e-5 * float(np.abs(e).max()))

