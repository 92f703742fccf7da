"""The conv block: a 3x3 convolution 64 -> 64 channels at 32x32, batch 32, float32, forward and
backward (input, weight and bias gradients), and where ndgrad's time goes in it.

    python -m benchmarks --only conv     # against PyTorch, saved to results/<device>_conv.json
    python -m benchmarks.conv            # the breakdown per piece (im2col, GEMMs, col2im) alone
"""

import time

import numpy as np

import autograd as ag
import nn.functional as F
from autograd.ops import conv as conv_ops

BATCH, CHANNELS, SIZE = 32, 64, 32


def _data(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, CHANNELS, SIZE, SIZE)).astype(np.float32)
    w = (rng.standard_normal((CHANNELS, CHANNELS, 3, 3)) / 24).astype(np.float32)
    b = rng.standard_normal(CHANNELS).astype(np.float32)
    grad = rng.standard_normal((BATCH, CHANNELS, SIZE, SIZE)).astype(np.float32)
    return x, w, b, grad


def conv_block_case(device, torch):
    """conv2d(x, w, b, padding=1) forward, then backward with a fixed output gradient."""
    arrays = _data(device)
    x, w, b = (ag.tensor(a, device=device, requires_grad=True) for a in arrays[:3])
    grad = ag.tensor(arrays[3], device=device)
    tdev = "cuda" if ag.Device(device).type == "cuda" else "cpu"
    tx, tw, tb = (torch.tensor(a, device=tdev, requires_grad=True) for a in arrays[:3])
    tgrad = torch.tensor(arrays[3], device=tdev)

    def ours():
        x.grad = w.grad = b.grad = None
        F.conv2d(x, w, b, padding=1).backward(grad)

    def theirs():
        tx.grad = tw.grad = tb.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, padding=1).backward(tgrad)

    return ours, theirs, 5


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
    ctx = object.__new__(op)
    ctx.backend, ctx.xp = backend, backend.xp
    ctx.needs_input_grad = (False,) * (3 if op is conv_ops.Conv else 2)
    return ctx


def breakdown(device="cpu"):
    """Seconds (best of 7) of each piece of ndgrad's conv block, run as the ops run them."""
    from backends import get_backend
    backend = get_backend(device)
    xp, sync = backend.xp, backend.synchronize
    x, w, b, grad = (backend.asarray(a) for a in _data(device))
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


def main():
    device = "cpu"
    print(f"ndgrad's conv block on {device}, best of 7 (at most {conv_ops.CHUNK_BYTES >> 20} MiB of columns per GEMM):")
    for name, seconds in breakdown(device).items():
        print(f"  {name:<55} {seconds * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
