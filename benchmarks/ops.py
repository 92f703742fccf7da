"""The hot indexing, scan and contraction ops (issue 10): for each, the overhead of one no-grad call on a
few elements, and the throughput of forward + backward on a mid-sized input.

``python -m benchmarks --suite ops`` runs them all; the per-op ratios say which ops are slower than PyTorch.
"""

import numpy as np

from .registry import case

_OPS = {  # name -> (build inputs from a Generator at a scale, call the op on them)
    "gather": (lambda fw, rng, n: (rng.standard_normal((n, 4 * n)), fw.ag.tensor(rng.integers(0, 4 * n, (n, n // 2 + 1)))),
               lambda fw, x, i: fw.ag.gather(x, 1, i)),
    "scatter_add": (lambda fw, rng, n: (rng.standard_normal((n, n // 2 + 1)), fw.ag.tensor(rng.integers(0, 4 * n, (n, n // 2 + 1)))),
                    lambda fw, src, i: fw.ag.zeros(src.shape[0], 4 * src.shape[0], dtype=src.dtype,
                                                   device=src.device).scatter_add(1, i, src)),
    "index_select": (lambda fw, rng, n: (rng.standard_normal((16 * n, n)), fw.ag.tensor(rng.integers(0, 16 * n, 4 * n))),
                     lambda fw, x, i: fw.ag.index_select(x, 0, i)),
    "cumsum": (lambda fw, rng, n: (rng.standard_normal((n, 4 * n)),), lambda fw, x: fw.ag.cumsum(x, 1)),
    "topk": (lambda fw, rng, n: (rng.standard_normal((n, 4 * n)),), lambda fw, x: fw.ag.topk(x, 4, dim=1).values),
    "einsum": (lambda fw, rng, n: (rng.standard_normal((8, n, n)), rng.standard_normal((8, n, n))),
               lambda fw, a, b: fw.ag.einsum("bij,bjk->bik", a, b)),
}


def _inputs(fw, device, name, n, requires_grad):
    """The op's inputs at scale ``n``: float32 arrays become tensors (requiring grad if asked), index tensors move."""
    rng = np.random.default_rng(0)
    made = _OPS[name][0](fw, rng, n)
    return [fw.ag.tensor(a.astype(np.float32), device=device, requires_grad=requires_grad) if isinstance(a, np.ndarray)
            else a.to(device) for a in made]


def _overhead_case(name):
    def build(fw, device):
        xs = _inputs(fw, device, name, 4, False)
        call = _OPS[name][1]

        def step():
            call(fw, *xs)
        return step
    build.__doc__ = f"{name}: one no-grad call on a few elements (per-op overhead)"
    return build


def _throughput_case(name):
    def build(fw, device):
        xs = _inputs(fw, device, name, 256, True)
        call = _OPS[name][1]

        def step():
            call(fw, *xs).sum().backward()
        return step
    build.__doc__ = f"{name}: forward + backward at scale 256 (throughput)"
    return build


for _name in _OPS:
    case(f"{_name}_call", group="ops", iterations=2000)(_overhead_case(_name))
    case(f"{_name}_fwd_bwd", group="ops", iterations=20)(_throughput_case(_name))
