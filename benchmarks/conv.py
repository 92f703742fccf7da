"""The convolution cases: the conv block (a 3x3 convolution 64 -> 64 channels at 32x32, batch 32,
float32, forward and backward) with where ndgrad's time goes in it, and a LeNet training step.

    python -m benchmarks --only conv     # against PyTorch, saved to results/<device>_conv.json
    python -m benchmarks.conv            # the conv block's breakdown per piece (im2col, GEMMs, col2im) alone
"""

import time

import numpy as np

from .registry import case

BATCH, CHANNELS, SIZE = 32, 64, 32


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, CHANNELS, SIZE, SIZE)).astype(np.float32)
    w = (rng.standard_normal((CHANNELS, CHANNELS, 3, 3)) / 24).astype(np.float32)
    b = rng.standard_normal(CHANNELS).astype(np.float32)
    grad = rng.standard_normal((BATCH, CHANNELS, SIZE, SIZE)).astype(np.float32)
    return x, w, b, grad


def _best(fn, sync, repeats=7):
    fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def _context(op, backend):
    """What Op.apply hands a kernel, for calling one outside a graph (nothing recorded)."""
    from autograd.ops import conv as conv_ops
    ctx = object.__new__(op)
    ctx.backend, ctx.xp = backend, backend.xp
    ctx.needs_input_grad = (False,) * (3 if op is conv_ops.Conv else 2)
    return ctx


def breakdown(device="cpu"):
    """Seconds (best of 7) of each piece of ndgrad's conv block, run as the ops run them."""
    from autograd.ops import conv as conv_ops
    from backends import get_backend
    backend = get_backend(device)
    xp, sync = backend.xp, backend.synchronize
    x, w, b, grad = (backend.asarray(a) for a in _data())
    geometry = dict(stride=(1, 1), pads=((1, 1), (1, 1)), dilation=(1, 1), groups=1)
    view = conv_ops.windows(xp, x, (3, 3), (SIZE, SIZE), (1, 1), ((1, 1), (1, 1)), (1, 1))
    parts = conv_ops.chunks(BATCH, view[0].nbytes)
    buf = xp.empty(view[:parts[0].stop].size, dtype=x.dtype)
    w2 = w.reshape(CHANNELS, -1)
    cols = conv_ops.columns(view, parts[0], buf)

    def im2col():
        for part in parts:
            conv_ops.columns(view, part, buf)

    def gemm():
        for part in parts:
            m = part.stop - part.start
            xp.matmul(w2, cols[:, :, :, :m].reshape(CHANNELS * 9, m * SIZE * SIZE))

    def col2im():  # what a strided convolution's input gradient adds back (not run at stride 1)
        for part in parts:
            m = part.stop - part.start
            conv_ops.col2im(cols[:, :, :, :m].transpose(3, 0, 1, 2, 4, 5),
                            xp.zeros((m, CHANNELS, SIZE, SIZE), x.dtype), (1, 1), ((1, 1), (1, 1)), (1, 1))

    def forward():
        conv_ops.Conv.forward(_context(conv_ops.Conv, backend), x, w, b, size=(SIZE, SIZE), **geometry)

    def weight_grad():
        conv_ops.ConvWeightGrad.forward(_context(conv_ops.ConvWeightGrad, backend), x, grad, kernel=(3, 3),
                                        **geometry)

    def input_grad():
        conv_ops.ConvTranspose.forward(_context(conv_ops.ConvTranspose, backend), grad, w, size=(SIZE, SIZE),
                                       **geometry)

    def bias_grad():
        grad.sum(axis=(0, 2, 3))

    pieces = {"forward (im2col + GEMM + bias)": forward, "  im2col copies, all chunks": im2col,
              "  GEMM, all chunks": gemm, "weight gradient (im2col + GEMM)": weight_grad,
              "input gradient (correlation with the flipped weight)": input_grad, "bias gradient (sum)": bias_grad,
              "col2im of one set of columns (strided convs only)": col2im}
    return {name: _best(fn, sync) for name, fn in pieces.items()}


@case("conv_block", group="conv", iterations=5, breakdown=breakdown)
def conv_block(fw, device):
    """a 3x3 conv 64->64 at 32x32, batch 32, float32: conv2d(x, w, b, padding=1) forward, then backward with a
    fixed output gradient (input, weight and bias gradients)"""
    arrays = _data()
    x, w, b = (fw.ag.tensor(a, device=device, requires_grad=True) for a in arrays[:3])
    grad = fw.ag.tensor(arrays[3], device=device)

    def step():
        x.grad = w.grad = b.grad = None
        fw.F.conv2d(x, w, b, padding=1).backward(grad)

    return step


@case("lenet_step", group="conv", iterations=10)
def lenet_step(fw, device, batch=64):
    """one training step of LeNet-5 on 1x28x28 images at batch 64, float32: conv 5x5 (pad 2) 1->6, ReLU, max-pool 2,
    conv 5x5 6->16, ReLU, max-pool 2, linear 400-120-84-10; cross-entropy, backward, SGD with momentum"""
    nn = fw.nn
    fw.ag.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10)).to(device)
    opt = fw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = fw.ag.tensor(rng.uniform(0, 1, (batch, 1, 28, 28)).astype(np.float32), device=device)
    y = fw.ag.tensor(rng.integers(0, 10, batch), device=device)

    def step():
        loss = fw.F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main():
    from autograd.ops import conv as conv_ops
    device = "cpu"
    print(f"ndgrad's conv block on {device}, best of 7 (at most {conv_ops.CHUNK_BYTES >> 20} MiB of columns per GEMM):")
    for name, seconds in breakdown(device).items():
        print(f"  {name:<55} {seconds * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
