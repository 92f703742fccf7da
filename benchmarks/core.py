"""The core cases: the per-op overhead of a tiny graph, and an MLP training step."""

import timeit

import numpy as np

from .registry import case


def overhead_breakdown(device="cpu"):
    """Seconds (best of 9 repeats) of the pieces of the 3-op case in ndgrad: the recorded forward, the whole
    backward, the three ops the backward runs (without grad), and the array library's own calls for the whole
    step (the floor: the kernels with no framework around them)."""
    import autograd as ag
    from backends import get_backend
    xp = get_backend(device).xp
    rng = np.random.default_rng(0)
    x, y = (ag.tensor(rng.standard_normal(4).astype(np.float32), device=device, requires_grad=True)
            for _ in range(2))
    g = ag.ones((), device=device)
    a, b = x.detach().array, y.detach().array

    def best(fn, number=2000):
        return min(timeit.repeat(fn, number=number, repeat=9)) / number

    def kernels():  # what the step computes, as bare array calls (forward, backward, the two accumulations)
        xp.add(xp.multiply(a, b), b).sum()
        one = xp.ones((), xp.float32)
        spread = xp.broadcast_to(one, (4,))
        xp.multiply(spread, b), xp.multiply(spread, a)
        a + spread, b + spread

    def backward_ops():
        with ag.no_grad():
            spread = g.expand(4)
            spread * y, spread * x

    forward = best(lambda: (x * y + y).sum())
    both = best(lambda: (x * y + y).sum().backward())
    return {"forward: mul, add, sum recorded": forward, "backward: engine + its ops + accumulation": both - forward,
            "  of which the backward's 3 ops (expand, 2 mul)": best(backward_ops),
            "array-library calls of the whole step (floor)": best(kernels)}


@case("overhead", group="core", iterations=2000, breakdown=overhead_breakdown)
def overhead(fw, device):
    """a 3-op graph (mul, add, sum) on 4 elements, forward + backward"""
    rng = np.random.default_rng(0)
    x, y = (fw.ag.tensor(rng.standard_normal(4).astype(np.float32), device=device, requires_grad=True)
            for _ in range(2))

    def step():
        (x * y + y).sum().backward()

    return step


@case("op_no_grad", group="core", iterations=20000)
def op_no_grad(fw, device):
    """one elementwise op (add) on 4 elements that need no gradient: the per-call cost of the op wrapper"""
    rng = np.random.default_rng(0)
    x, y = (fw.ag.tensor(rng.standard_normal(4).astype(np.float32), device=device) for _ in range(2))

    def step():
        x + y  # no input requires grad: nothing is recorded, as under no_grad()

    return step


@case("mlp_step", group="core", iterations=20)
def mlp_step(fw, device, batch=256, sizes=(784, 512, 512, 10)):
    """one training step of an MLP 784-512-512-10 at batch 256, float32: forward, cross-entropy, backward,
    SGD with momentum"""
    fw.ag.manual_seed(0)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [fw.nn.Linear(n_in, n_out), fw.nn.ReLU()]
    model = fw.nn.Sequential(*layers[:-1]).to(device)  # no ReLU after the last layer
    opt = fw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = fw.ag.tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32), device=device)
    y = fw.ag.tensor(rng.integers(0, sizes[-1], batch), device=device)

    def step():
        loss = fw.F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


@case("mlp_wide", group="core", iterations=20, devices=("cuda",))
def mlp_wide(fw, device):
    """one training step of an MLP 4096-4096-4096-10 at batch 256, float32, SGD with momentum: GEMM-bound on a GPU
    (a GPU case only: a step takes seconds on a CPU)"""
    return mlp_step(fw, device, batch=256, sizes=(4096, 4096, 4096, 10))
