"""Gradient checkpointing with PyTorch's names: ``checkpoint(fn, *args)`` and ``checkpoint_sequential``.

A checkpointed segment keeps only its inputs for backward. Its forward runs once with grad mode on,
just long enough to learn which leaves (parameters) it reads; then its graph and every activation in
it are dropped, and one node stands for the whole segment. That node's backward runs the segment
again on the saved inputs, with the random generators of the inputs' devices (and the CPU's) set
back to where they were, so dropout draws the same mask, and differentiates the recomputed outputs.

Gradients equal the plain run's (on a device whose generator cannot be copied, as cuRAND's, the segment
draws from a generator of its own, seeded from the device's stream: its dropout masks then differ from an
uncheckpointed run's, but the first run and the recomputation draw the same ones). Memory: one segment's
activations at a time instead of all of them.
Both ``use_reentrant`` values run this one implementation, which has PyTorch's use_reentrant=False
semantics: gradients reach the parameters through ``autograd.grad`` as well as ``.backward()``, no
input has to require grad, and keyword arguments are passed on. Not supported: a segment that reads
a tensor with history made outside it other than through ``args`` (a closure over a non-leaf): pass
such tensors as arguments.
"""

import copy
import warnings

import numpy as np

from ..function import AccumulateGrad, Function
from ..grad_mode import enable_grad, is_grad_enabled
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


def checkpoint(function, *args, use_reentrant=None, preserve_rng_state=True, context_fn=None,
               determinism_check="default", debug=False, early_stop=True, **kwargs):
    """``function(*args, **kwargs)``, keeping only ``args`` for backward and running it again there.

    ``determinism_check``, ``debug`` and ``early_stop`` are accepted for PyTorch's signature and do nothing
    (the recomputation is not compared with the first run, and it always runs the whole segment)."""
    if use_reentrant is None:  # PyTorch 2.x warns and takes True
        warnings.warn("autograd.utils.checkpoint: the use_reentrant parameter should be passed explicitly "
                      "(PyTorch warns the same); use_reentrant=False is recommended. Both values run the same "
                      "non-reentrant implementation here.", stacklevel=2)
        use_reentrant = True
    if use_reentrant and kwargs:  # PyTorch's reentrant variant takes no keyword arguments for the function
        raise ValueError(f"checkpoint: unexpected keyword arguments {', '.join(kwargs)} with use_reentrant=True; "
                         f"pass use_reentrant=False to hand keyword arguments to the function")
    if context_fn is not None:
        raise NotImplementedError("checkpoint: context_fn (selective checkpointing) is not supported; leave it out")
    if not is_grad_enabled():  # nothing is recorded, so there is nothing to save memory on
        return function(*args, **kwargs)
    rng = _rng_snapshot(args) if preserve_rng_state else None
    detached = _detach(args)
    forked = _rng_fork(rng)
    try:
        with enable_grad():
            out = function(*detached, **kwargs)
    finally:
        _rng_put(forked)
    single = not isinstance(out, tuple)
    outputs = (out,) if single else out
    own = {id(a) for a in detached if isinstance(a, Tensor)}
    params = [p for p in _leaves(outputs) if id(p) not in own]
    # the first run's outputs, cut from its graph: the segment's activations are freed here
    values = tuple(o.detach() if isinstance(o, Tensor) else o for o in outputs)
    del out, outputs, detached
    results = CheckpointFunction.apply(_Segment(function, args, kwargs, rng, values), *args, *params)
    return results[0] if single else results


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run ``functions`` (a list, or a Sequential's children) in order, checkpointing all but the last of
    ``segments`` equal chunks, as PyTorch does."""
    if use_reentrant is None:
        warnings.warn("autograd.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be "
                      "passed explicitly (PyTorch warns the same); use_reentrant=False is recommended.",
                      stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("checkpoint_sequential: unexpected keyword arguments: " + ", ".join(kwargs))
    if hasattr(functions, "children"):
        functions = list(functions.children())
    functions = list(functions)
    if segments < 1:
        raise ValueError(f"checkpoint_sequential: segments must be at least 1, got {segments}")

    def run(start, end):
        def forward(x):
            for f in functions[start:end]:
                x = f(x)
            return x
        return forward

    size = len(functions) // segments
    end = 0
    for start in range(0, size * (segments - 1), size):
        end = start + size
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return run(end, len(functions))(input)


_SAVED = object()  # marks where a tensor argument was, in a segment's argument list


class _Segment:
    """How to run the segment again (function, inputs, keyword arguments, generators), and its first outputs."""

    def __init__(self, function, args, kwargs, rng, values):
        self.function, self.args, self.kwargs, self.rng, self.values = function, args, kwargs, rng, values


class CheckpointFunction(Function):
    """The one node that stands for a checkpointed segment. Its inputs: the segment's arguments, then the
    parameters the segment reads (so their gradients come out of this node like any other)."""

    @staticmethod
    def forward(ctx, segment, *tensors):
        ctx.segment, ctx.params = segment, tensors[len(segment.args):]
        values, segment.values = segment.values, None
        # the tensor inputs go through save_for_backward, so that the engine frees them once this node has run
        ctx.save_for_backward(*[a for a in segment.args if isinstance(a, Tensor)])
        segment.args = tuple(_SAVED if isinstance(a, Tensor) else a for a in segment.args)
        ctx.mark_non_differentiable(*[v for v in values if isinstance(v, Tensor) and not v.is_floating_point()])
        return values

    @staticmethod
    def backward(ctx, *grads):
        segment = ctx.segment
        saved = iter(ctx.saved_tensors)
        args = tuple(next(saved) if a is _SAVED else a for a in segment.args)
        higher = is_grad_enabled()  # create_graph=True: the gradients must have a graph back to the real inputs
        detached = _linked(args) if higher else _detach(args)
        replaced = _rng_restore(segment.rng) if segment.rng is not None else None
        try:
            with enable_grad():
                out = segment.function(*detached, **segment.kwargs)
        finally:
            if replaced is not None:
                _rng_put(replaced)
        outputs = out if isinstance(out, tuple) else (out,)
        pairs = [(o, g) for o, g in zip(outputs, grads) if isinstance(o, Tensor) and o.requires_grad]
        needs = ctx.needs_input_grad[1:]
        wrt = [x for x, need in zip(detached + tuple(ctx.params), needs) if need]
        found = iter(())
        if pairs and wrt:
            from .. import grad
            found = iter(grad([o for o, _ in pairs], wrt, [g for _, g in pairs],
                              create_graph=higher, allow_unused=True))
        return (None,) + tuple(next(found, None) if need else None for need in needs)


def _detach(args):
    """The segment's own copies of its inputs: leaves that require grad as the originals do."""
    return tuple(a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a for a in args)


def _linked(args):
    """Copies of the inputs that keep their history, for a backward that records a graph (double backward)."""
    return tuple(a.clone() if isinstance(a, Tensor) and a.requires_grad else a for a in args)


def _leaves(outputs):
    """The tensors that require grad and have no history (parameters) that ``outputs`` were computed from."""
    found, seen = [], set()
    stack = [o.grad_fn for o in outputs if isinstance(o, Tensor) and o.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is AccumulateGrad:
            found.append(node.variable)
            continue
        stack.extend(nxt for nxt, _ in node.next_functions)
    return found


def _rng_snapshot(args):
    """The random state of the CPU and of every device among ``args``: ``(backend, copy of its generator,
    None)``, or where the generator cannot be copied (cuRAND's state cannot be read back) ``(backend, None,
    seed)``: the segment then draws from a generator of its own, seeded from the device's stream."""
    from ..tensor import _device_backend
    found = {id(b): b for b in [_device_backend("cpu")] + [a._backend for a in args if isinstance(a, Tensor)]}
    snapshot = []
    for backend in found.values():
        try:
            snapshot.append((backend, copy.deepcopy(backend.generator), None))
        except TypeError:
            seed = int(backend.randint(0, 2 ** 62, (), np.int64))  # one host sync per checkpointed call
            snapshot.append((backend, None, seed))
    return snapshot


def _rng_fork(snapshot):
    """For the first run: the seeded generators of the devices that cannot be copied go in place; returns
    the generators they replaced, to be put back after the run."""
    replaced = []
    for backend, _, seed in snapshot or ():
        if seed is not None:
            replaced.append((backend, backend.generator))
            backend.seed(seed)
    return replaced


def _rng_restore(snapshot):
    """For the recomputation: every generator as it was at the first run (a fresh copy, or seeded again);
    returns the ones replaced."""
    replaced = [(backend, backend.generator) for backend, _, _ in snapshot]
    for backend, state, seed in snapshot:
        if seed is None:
            backend.generator = copy.deepcopy(state)  # a copy again: a second backward (retain_graph) starts over
        else:
            backend.seed(seed)
    return replaced


def _rng_put(pairs):
    for backend, generator in pairs:
        backend.generator = generator
