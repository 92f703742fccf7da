"""The op table's vocabulary: input generators, row helpers and the ``Op`` row itself.

Rows live in ``test_ops.py`` (the first families) and in ``rows_<family>.py`` (one module per family
added since); ``test_ops.py`` gathers them all and runs every check on every row.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as TF

from autograd import ops as agops
import nn.functional as nnF


def F(lib):
    """The functional namespace: autograd.ops or torch.nn.functional."""
    return TF if lib is torch else agops


def NF(lib):
    """nn.functional itself, for what lives only there (in-place activations, pools with indices, upsample)."""
    return TF if lib is torch else nnF


# --- input generators: each takes a NumPy Generator and returns one array -----------------------

def randn(*shape, scale=1.0):
    return lambda rng: rng.standard_normal(shape) * scale


def uniform(low, high, *shape):
    return lambda rng: rng.uniform(low, high, shape)


def positive(*shape):  # the domain of log, sqrt and real powers
    return uniform(0.5, 2.0, *shape)


def away(*shape, kinks=(0.0,), gap=0.1):
    """Normal samples at least ``gap`` from every kink (relu, abs, clamp bounds)."""
    def sample(rng):
        x = rng.standard_normal(shape)
        for k in kinks:
            near = np.abs(x - k) < gap
            x = np.where(near, k + np.where(x >= k, gap, -gap) * 2, x)
        return x
    return sample


def distinct(*shape):
    """All values distinct and at least ~0.06 apart: no ties for max/min/amax, no ambiguous argmax."""
    def sample(rng):
        n = int(np.prod(shape))
        return ((rng.permutation(n) - n / 2) * 0.1 + rng.uniform(-0.02, 0.02, n)).reshape(shape)
    return sample


def on_grid(*shape, offset=0.0):
    """Values k * 0.2 + offset + small noise: two grids with different offsets never tie."""
    return lambda rng: rng.integers(-5, 6, shape) * 0.2 + offset + rng.uniform(-0.03, 0.03, shape)


def ties(*shape):
    """Values from {-1, 0, 1}: plenty of ties, to check how gradients are shared between them."""
    return lambda rng: rng.integers(-1, 2, shape).astype(np.float64)


def with_zeros(*shape):
    """Positive values, every third one exactly zero (the edge of pow's domain)."""
    def sample(rng):
        x = rng.uniform(0.5, 2.0, shape)
        x.reshape(-1)[::3] = 0.0
        return x
    return sample


def ints(low, high, *shape):
    return lambda rng: rng.integers(low, high, shape)


def mask(*shape):
    return lambda rng: rng.random(shape) < 0.5


def targets(classes, *shape, ignore=None):
    """Class indices; with ``ignore``, a few entries (the first always) are that ignore value."""
    def sample(rng):
        t = rng.integers(0, classes, shape)
        if ignore is not None:
            t.reshape(-1)[::3] = ignore
        return t
    return sample


def setitem(x, index, value):
    y = x.clone()
    y[index] = value
    return y


# in-place ops through views of a non-leaf: the base changes and its history is rewritten (CopySlices)

def mul_into_view(x, v):
    y = x * 1
    y[1:3].mul_(v)
    return y


def add_into_view_of_view(x, v):
    y = x * 1
    y.T[0].add_(v)       # a view (select) of a view (transpose)
    return y


def copy_into_constant(lib, x):
    base = lib.zeros(3, 4, dtype=x.dtype, device=x.device)
    base[:, 1].copy_(x)  # the base did not require grad; now it does, through the view
    return base * 2


def other_view_sees_the_write(x):
    y = x * 1
    first, overlapping = y[0:2], y[1:3]
    overlapping.mul_(3)
    return first * first  # first's data and history both come from the rewritten base


def view_sees_base_change(x):
    y = x * 1
    v = y[0]
    y.mul_(2)
    return v * v


def setitem_into_view(x, v):
    y = x * 1
    y[1][0:2] = v
    return y


# --- recurrent: the layers through torch's internal _VF entry points (it has no public functional form)

_RNN_POSITIONS = [0, 1, 2, 3, 4, 6, 9]  # packed rows of a (4, 3) padded batch with lengths 4, 2, 1


def rnn_layer_row(kind, lib, x, *args, packed=False, bidirectional=False, nonlinearity="tanh"):
    """One recurrent layer (both directions with ``bidirectional``) over x (4, 3, I), optionally packed
    (lengths 4, 2, 1). ``args``: h0, (c0,) then w_ih, w_hh, b_ih, b_hh per direction. Returns the output
    (padded, or packed data) and the final states."""
    n_states = 2 if kind == "lstm" else 1
    states, weights = args[:n_states], args[n_states:]
    batch_sizes = [3, 2, 1, 1] if packed else None
    T, B = x.shape[:2]
    if lib is torch:
        name = {"lstm": "lstm", "gru": "gru", "rnn": "rnn_" + nonlinearity}[kind]
        hx = tuple(s if bidirectional else s[None] for s in states)
        hx = hx if kind == "lstm" else hx[0]
        fn = getattr(torch._VF, name)
        if packed:
            data = x.reshape(T * B, -1)[_RNN_POSITIONS]
            out = fn(data, torch.tensor(batch_sizes), hx, list(weights), True, 1, 0.0, False, bidirectional)
        else:
            out = fn(x, hx, list(weights), True, 1, 0.0, False, bidirectional, False)
        out = (out[0],) + tuple(o if bidirectional else o[0] for o in out[1:])
        return out
    layer = getattr(agops, kind + "_layer")
    outs, finals = [], []
    for d in range(2 if bidirectional else 1):
        s = tuple(st[d] if bidirectional else st for st in states)
        w = weights[4 * d:4 * d + 4]
        extra = dict(nonlinearity=nonlinearity) if kind == "rnn" else {}
        res = layer(x, s if kind == "lstm" else s[0], *w, batch_sizes=batch_sizes, reverse=d == 1, **extra)
        outs.append(res[0])
        finals.append(res[1:])
    out = outs[0] if len(outs) == 1 else lib.cat(outs, dim=2)
    if packed:
        out = out.reshape(T * B, -1)[_RNN_POSITIONS]
    finals = [lib.stack([f[i] for f in finals]) if bidirectional else finals[0][i] for i in range(n_states)]
    return (out, *finals)


def small(*shape, scale=0.5):
    """Recurrent rows' inputs: at scale 1 torch's bfloat16 rounding (after every op) alone exceeds the
    low-precision check's 1% (ndgrad's layers compute in float32 and land closer to float64)."""
    return randn(*shape, scale=scale)


def rnn_cell_row(name, lib, x, *args):
    fn = getattr(torch if lib is torch else agops, name)
    if name == "lstm_cell":
        h, c, *w = args
        return fn(x, (h, c), *w)
    return fn(x, *args)


@dataclass(frozen=True)
class Op:
    name: str
    fn: Callable            # fn(lib, *inputs) -> tensor or tuple of tensors; lib is autograd or torch
    inputs: tuple           # generators, one per input
    gradcheck: bool = True  # False where finite differences are meaningless (ties, float32 casts)
    double: bool = True     # False where double backward is not compared
    torch_defects: tuple = ()  # sample families where torch's own result is wrong: (family, reason) pairs
    float32_tol: tuple = (1e-4, 1e-5)  # (rtol, atol) against torch in float32; wider for ill-conditioned ops
    jvp: bool = True        # False where the forward-mode check makes no sense (random ops)

    def sample(self, rng):
        return [np.asarray(g(rng)) for g in self.inputs]

    def apply(self, lib, *xs):
        return self.fn(lib, *xs)

    def __repr__(self):
        return self.name


def op(name, fn, *inputs, **flags):
    return Op(name, fn, inputs, **flags)


def public_ops():
    """Every public op name, counted once: the functions of autograd, autograd.nn.functional, autograd.linalg
    and autograd.special that come from the op modules, and the Tensor methods (x.exp() and autograd.exp are
    one op; linalg.* and special.* keep their prefix)."""
    import inspect

    import autograd as ag
    import nn.functional as nnF

    def functions(namespace, prefix=""):
        return {prefix + name for name, obj in vars(namespace).items()
                if not name.startswith("_") and inspect.isfunction(obj)
                and obj.__module__.startswith(("autograd", "nn.functional"))}

    names = functions(ag) | functions(nnF) | functions(ag.linalg, "linalg.") | functions(ag.special, "special.")
    methods = {name for name, obj in vars(ag.Tensor).items() if not name.startswith("_") and callable(obj)}
    return (names | methods) - NOT_OPS


# public functions and methods that compute no tensor from tensors: autograd's machinery, settings, I/O, queries
NOT_OPS = {"backward", "grad", "gradcheck", "once_differentiable", "is_grad_enabled", "is_tensor", "retain_grad",
           "requires_grad_", "detach_", "get_default_device", "get_default_dtype", "set_default_device",
           "set_default_dtype", "get_rng_state", "set_rng_state", "initial_seed", "seed", "manual_seed", "save", "load",
           "numpy", "tolist", "item", "dim", "size", "numel", "is_floating_point", "cpu", "cuda", "to", "type",
           "recurrent", "rnn_cell", "sum_to_shape", "register_hook", "register_post_accumulate_grad_hook"}
