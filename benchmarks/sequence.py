"""The sequence cases (issue 8): an LSTM step and a Transformer encoder layer step.

    python -m benchmarks --only sequence
    python -m benchmarks.run_case --framework ndgrad --case lstm_step --breakdown   # time per op kind
"""

import time

import numpy as np

from .registry import case
from .run_case import load_framework


def _lstm(fw, device, input_size=64, hidden=128, seq=35, batch=32):
    fw.ag.manual_seed(0)
    model = fw.nn.LSTM(input_size, hidden).to(device)
    x = fw.ag.tensor(np.random.default_rng(0).standard_normal((seq, batch, input_size)).astype(np.float32),
                     device=device)

    def step():
        model.zero_grad()
        out, _ = model(x)
        out.sum().backward()
    return step


def _encoder_layer(fw, device, d_model=128, heads=4, seq=128, batch=8):
    fw.ag.manual_seed(0)
    layer = fw.nn.TransformerEncoderLayer(d_model, heads, batch_first=True).to(device)  # PyTorch's defaults
    rng = np.random.default_rng(0)
    x = fw.ag.tensor(rng.standard_normal((batch, seq, d_model)).astype(np.float32), device=device,
                     requires_grad=True)
    grad = fw.ag.tensor(rng.standard_normal((batch, seq, d_model)).astype(np.float32), device=device)

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x).backward(grad)
    return step


def kernel_breakdown(build, repeats=5):
    """A breakdown for a case: ndgrad's step (best of ``repeats``) split by the op kinds whose forward
    kernels ran (each timed by wrapping it); the rest is the graph, the engine and Python."""
    def breakdown(device):
        import autograd.function as function
        fw = load_framework("ndgrad", device)
        step = build(fw, device)
        step()
        totals, originals = {}, {}
        for name, cls in function.registry.items():
            forward = cls.__dict__.get("forward")
            if forward is None or not cls.__module__.startswith("autograd.ops"):
                continue
            originals[cls] = forward

            def timed(*args, _forward=forward, _name=name, **kwargs):
                start = time.perf_counter()
                try:
                    return _forward(*args, **kwargs)
                finally:
                    totals[_name] = totals.get(_name, 0.0) + time.perf_counter() - start
            cls.forward = timed
        try:
            best = None
            for _ in range(repeats):
                totals.clear()
                fw.sync()
                start = time.perf_counter()
                step()
                fw.sync()
                wall = time.perf_counter() - start
                if best is None or wall < best[0]:
                    best = (wall, dict(totals))
        finally:
            for cls, forward in originals.items():
                cls.forward = forward
        wall, pieces = best
        pieces = dict(sorted(pieces.items(), key=lambda kv: -kv[1]))
        pieces["(graph, engine, Python)"] = wall - sum(pieces.values())
        return pieces
    return breakdown


@case("lstm_step", group="sequence", iterations=10, breakdown=kernel_breakdown(_lstm))
def lstm_step(fw, device):
    """an LSTM (input 64, hidden 128) over 35 steps at batch 32, float32: forward + backward of a sum"""
    return _lstm(fw, device)


@case("transformer_layer_step", group="sequence", iterations=5, breakdown=kernel_breakdown(_encoder_layer))
def transformer_layer_step(fw, device):
    """a Transformer encoder layer (d_model 128, 4 heads, feed-forward 2048, dropout 0.1), sequence 128 at
    batch 8, float32: forward + backward"""
    return _encoder_layer(fw, device)
