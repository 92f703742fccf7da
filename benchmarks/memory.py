"""Gradient checkpointing: a deep MLP's training step with and without it (the ``checkpoint`` group), and
what it saves in peak memory: ``python -m benchmarks.memory`` prints ndgrad's tracemalloc peaks (CPU).

The timed cases show the price (one more forward of every checkpointed segment); the peaks show the gain.
"""

import gc
import importlib
import tracemalloc

import numpy as np

from .registry import case

DEPTH, WIDTH, BATCH, SEGMENTS = 32, 64, 2048, 6  # activations (16 MiB), not parameters (0.5 MiB), dominate


def _deep_mlp(fw, device, depth=DEPTH, width=WIDTH, batch=BATCH):
    fw.ag.manual_seed(0)
    layers = []
    for _ in range(depth):
        layers += [fw.nn.Linear(width, width), fw.nn.Tanh()]
    model = fw.nn.Sequential(*layers).to(device)
    x = fw.ag.tensor(np.random.default_rng(0).standard_normal((batch, width)).astype(np.float32), device=device,
                     requires_grad=True)
    return model, x


def _checkpoint_module(fw):
    return importlib.import_module(fw.ag.__name__ + ".utils.checkpoint")  # torch's or ndgrad's


@case("deep_mlp_plain", group="checkpoint", iterations=2)
def deep_mlp_plain(fw, device):
    """forward + backward of a 32-layer 64-wide tanh MLP at batch 2048, float32, every activation kept"""
    model, x = _deep_mlp(fw, device)

    def step():
        model(x).sum().backward()
    return step


@case("deep_mlp_checkpoint", group="checkpoint", iterations=2)
def deep_mlp_checkpoint(fw, device):
    """the same with checkpoint_sequential in 6 segments (use_reentrant=False): each segment's forward runs twice"""
    model, x = _deep_mlp(fw, device)
    ck = _checkpoint_module(fw)

    def step():
        ck.checkpoint_sequential(model, SEGMENTS, x, use_reentrant=False).sum().backward()
    return step


def peaks(segments=(None, 2, 4, 6, 8, 16)):
    """ndgrad's tracemalloc peak (bytes) of one forward + backward of the deep MLP, per number of segments
    (None: no checkpointing)."""
    import autograd as ag
    import nn
    from autograd.utils.checkpoint import checkpoint_sequential

    class Fw:
        pass
    fw = Fw()
    fw.ag, fw.nn = ag, nn
    model, x = _deep_mlp(fw, "cpu")
    result = {}
    for s in segments:
        model.zero_grad()
        x.grad = None
        gc.collect()
        tracemalloc.start()
        out = model(x) if s is None else checkpoint_sequential(model, s, x, use_reentrant=False)
        out.sum().backward()
        result[s] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del out
    return result


if __name__ == "__main__":
    found = peaks()
    plain = found[None]
    print(f"deep MLP {DEPTH}x{WIDTH}, batch {BATCH}, float32: tracemalloc peak of forward + backward")
    for s, peak in found.items():
        label = "plain" if s is None else f"{s} segments"
        print(f"  {label:>12}: {peak / 2**20:7.1f} MiB  ({peak / plain:.2f}x)")
