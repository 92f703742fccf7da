"""Reverse-mode backward: count dependencies, run ready nodes, accumulate, release.

1. Walk back from the roots once and count, for every reachable node, how many
   gradients it will receive (one per edge pointing at it).
2. A node is ready when all of them have arrived. Run its backward with the summed
   gradient, then drop that gradient and (unless retain_graph) its saved tensors.
3. Each gradient it returns is made to fit its input (broadcast dims summed away,
   dtype matched) and added to the next node's buffer; leaves accumulate into .grad.

Hooks wrap step 2 only on nodes that have them (tensor hooks, retain_grad, node prehooks,
backward, node hooks, as PyTorch orders them); anomaly mode wraps it while it is on.
"""

import contextlib
import warnings

from . import anomaly_mode
from .function import AccumulateGrad, Op
from . import dtypes
from .grad_mode import _set_enabled, is_grad_enabled
from .tensor import Tensor

_NOTHING = contextlib.nullcontext()  # no roots, no kernels: nothing to silence

# A debug switch: False keeps every saved tensor and every intermediate gradient alive until backward returns, to
# measure what early release saves (autograd.engine.set_early_release(False)). True in normal use.
early_release = True

# An observer for tools (autograd.viz.memory_timeline): when set, called as hook(node, buffers) after each node has
# run, with the gradient buffers still waiting for their nodes. None in normal use.
_node_done_hook = None


def set_early_release(enabled):
    """Turn early release of saved tensors and gradient buffers during backward on (the default) or off."""
    global early_release
    early_release = bool(enabled)


def run_backward(roots, grad_roots, retain_graph=None, create_graph=False, inputs=None, allow_unused=False):
    """Backpropagate ``grad_roots`` from ``roots``.

    With ``inputs`` (autograd.grad), return the gradients reaching those tensors and
    leave every ``.grad`` alone; otherwise accumulate into the leaves' ``.grad``.
    Edges are ``(node, output_nr)``: a node with several outputs (a user's Function)
    gets one gradient slot per output.
    """
    if retain_graph is None:
        retain_graph = create_graph
    roots, grad_roots = list(roots), list(grad_roots)
    if len(roots) != len(grad_roots):
        raise RuntimeError(f"backward: got {len(roots)} tensors but {len(grad_roots)} gradients; pass one each")
    starts = [_root_edge(i, r) for i, r in enumerate(roots)]
    grads = [_root_grad(r, g) for r, g in zip(roots, grad_roots)]

    capture = None  # autograd.grad: (node, output_nr) -> the gradient that reached it
    if inputs is not None:
        if not inputs:
            raise RuntimeError("autograd.grad: inputs is empty; pass the tensors to differentiate with respect to")
        for t in inputs:
            if not t.requires_grad:
                raise RuntimeError(f"autograd.grad: one of the inputs (shape {tuple(t.shape)}) does not require "
                                   f"grad; call .requires_grad_() on it before computing the outputs")
        targets = [_edge(t) for t in inputs]
        capture = dict.fromkeys(targets)

    start_nodes = list(dict.fromkeys(node for node, _ in starts))
    dependencies = _count_dependencies(start_nodes)
    buffers = {}   # node -> [gradient per output]
    owned = set()  # (node, output_nr) whose buffer the engine allocated itself: it may add into it in place
    for (node, nr), g in zip(starts, grads):
        _accumulate(buffers, owned, node, nr, g, create_graph)
    ready = [n for n in start_nodes if dependencies.get(n, 0) == 0]

    kept = None if early_release else []  # with release off: every node (and its saved tensors) and gradient
    anomaly = anomaly_mode.enabled
    previous_mode = is_grad_enabled()
    _set_enabled(create_graph)  # backward rules record a graph only for higher-order derivatives
    try:
        with roots[0]._backend.errstate() if roots else _NOTHING:  # sums overflow to inf silently, as in kernels
            while ready:
                node = ready.pop()
                slots = buffers.pop(node, None)
                hooks = node._hooks  # None unless a hook was registered: then the hooked path, step by step
                if hooks is not None and slots is not None and hooks.tensor:
                    slots = _tensor_hooks(node, hooks, slots, owned)
                if kept is not None:
                    kept.append((node, slots))
                if capture is not None:
                    for nr in range(node.num_outputs):
                        if (node, nr) in capture:
                            capture[node, nr] = slots[nr] if slots else None
                if type(node) is AccumulateGrad:
                    if capture is None and slots is not None:
                        if hooks is not None and hooks.pre:
                            slots = _pre_hooks(node, hooks, slots, owned)
                        node.accumulate(slots[0], create_graph, (node, 0) in owned)
                        owned.discard((node, 0))
                        if hooks is not None:
                            for hook in tuple(hooks.post_accumulate.values()):
                                hook(node.variable)
                            if hooks.post:
                                _post_hooks(node, hooks, (), slots)
                    if _node_done_hook is not None:
                        _node_done_hook(node, buffers)
                    continue
                input_grads = ()
                if slots is not None:
                    if node._retained is not None:
                        _retain(node, slots, create_graph)
                    if hooks is not None and hooks.pre:
                        slots = _pre_hooks(node, hooks, slots, owned)
                    # the engine's own buffer (no hook, retain_grad, autograd.grad or debug list has seen it):
                    # the backward may write its result into it (relu masks it in place, saving a buffer)
                    node.grad_writable = (node, 0) in owned and hooks is None and node._retained is None \
                        and capture is None and kept is None and node.num_outputs == 1
                    if anomaly:
                        input_grads = _checked_backward(node, slots)
                    else:
                        input_grads = node.backward(*slots)
                    if type(input_grads) is not tuple:
                        input_grads = (input_grads,)
                    if hooks is not None and hooks.post:
                        input_grads = _post_hooks(node, hooks, input_grads, slots)
                    if len(input_grads) != len(node.next_functions):
                        raise RuntimeError(f"{node.name()} returned {len(input_grads)} gradients but its op has "
                                           f"{len(node.next_functions)} inputs; return one per input (None for "
                                           f"inputs that need none)")
                    for nr in range(node.num_outputs):
                        owned.discard((node, nr))
                # only a built-in rule's results can be the engine's own: a user's Function or hook may keep
                # what it returns, and nothing may write into that later (relu's in-place backward, a sum)
                built_in = isinstance(node, Op) and (hooks is None or not hooks.post)
                if not retain_graph and kept is None:
                    node.release()
                for (next_node, nr), g, meta in zip(node.next_functions, input_grads or _nones(node), node.input_meta):
                    if next_node is None:
                        continue
                    if g is not None:
                        if g.array.shape != meta[0] or g.array.dtype != meta[1]:
                            g = _fit(g, meta)
                        _accumulate(buffers, owned, next_node, nr, g, create_graph,
                                    built_in and _is_new(g, slots, input_grads))
                    count = dependencies[next_node] - 1
                    dependencies[next_node] = count
                    if count == 0:
                        ready.append(next_node)
                if _node_done_hook is not None:
                    _node_done_hook(node, buffers)
    finally:
        _set_enabled(previous_mode)
    if kept and not retain_graph:  # release off: everything goes now, at the end, instead of node by node
        for node, _ in kept:
            if type(node) is not AccumulateGrad:
                node.release()

    if capture is None:
        return None
    result = []
    for t, edge in zip(inputs, targets):
        g = capture[edge]
        if g is None and not allow_unused:
            raise RuntimeError(f"autograd.grad: one of the inputs (shape {tuple(t.shape)}) was not used to compute "
                               f"the outputs, so it has no gradient; pass allow_unused=True to get None for it")
        result.append(g if g is None or create_graph else g.detach())
    return tuple(result)


def _edge(t):
    """Where gradients for ``t`` go: (its grad_fn or the leaf's AccumulateGrad, which output it is)."""
    return t._grad_node(), t._output_nr


def _root_edge(i, root):
    if not root.requires_grad:
        raise RuntimeError(f"backward: element {i} of the tensors (shape {tuple(root.shape)}) does not require grad "
                           f"and has no grad_fn; make its inputs require grad (requires_grad=True) before "
                           f"computing it, outside no_grad()")
    return _edge(root)


def _root_grad(root, grad):
    if grad is None:
        if root.numel() != 1:
            raise RuntimeError(f"backward: grad can be created implicitly only for scalar outputs, but this output "
                               f"has shape {tuple(root.shape)}; pass gradient= (a tensor of that shape), or reduce "
                               f"the output first, e.g. y.sum().backward()")
        with root._backend.errstate():  # on the root's GPU
            return Tensor._make(root._backend.xp.ones(root.array.shape, root.array.dtype), root._backend)
    if not isinstance(grad, Tensor):
        grad = Tensor._make(root._backend.asarray(grad, root.array.dtype), root._backend)
    if grad.shape != root.shape:
        raise RuntimeError(f"backward: gradient has shape {tuple(grad.shape)} but the output has shape "
                           f"{tuple(root.shape)}; they must match")
    if grad._backend is not root._backend:
        raise RuntimeError(f"backward: gradient is on {grad.device} but the output is on {root.device}; "
                           f"move it first, e.g. gradient.to('{root.device}')")
    return grad if grad.array.dtype == root.array.dtype else grad.to(root.array.dtype)  # as PyTorch casts


def _count_dependencies(start):
    dependencies = {}
    stack = list(start)
    seen = set(stack)
    while stack:
        for next_node, _ in stack.pop().next_functions:
            if next_node is not None:
                dependencies[next_node] = dependencies.get(next_node, 0) + 1
                if next_node not in seen:
                    seen.add(next_node)
                    stack.append(next_node)
    return dependencies


def _nones(node):
    return (None,) * len(node.next_functions)


def _fit(grad, meta):
    """Make a gradient fit its input: sum broadcast dims away, match the dtype."""
    shape, dtype = meta
    if grad.array.shape != shape:
        grad = grad.sum_to_shape(shape)
    if grad.array.dtype != dtype:
        grad = grad.to(dtype)
    return grad


def _is_new(g, slots, input_grads):
    """True when backward made ``g``'s array for this one input: not an incoming gradient, not a
    view of anything, not handed to two inputs. Only such a buffer may be written in place or
    become a leaf's .grad without a copy."""
    array = g.array
    if array.base is not None:
        return False
    for s in slots:  # plain loops: a generator for any() costs more than these few items
        if s is not None and s.array is array:
            return False
    shared = 0
    for other in input_grads:
        if other is not None and other.array is array:
            shared += 1
    return shared <= 1


def _accumulate(buffers, owned, node, nr, grad, create_graph, new=False):
    slots = buffers.get(node)
    if slots is None:
        slots = buffers[node] = [None] * node.num_outputs
    current = slots[nr]
    if current is None:
        slots[nr] = grad
        if new and not create_graph:
            owned.add((node, nr))
    elif create_graph:
        slots[nr] = current + grad
    else:  # the sum runs on the gradients' device, which need not be the roots' (x.to("cuda:1") in the graph)
        with current._backend.errstate():
            if (node, nr) in owned:
                current.array += grad.array
            else:
                slots[nr] = Tensor._make(current.array + grad.array, current._backend)
                owned.add((node, nr))


def _retain(node, slots, create_graph):
    """Non-leaf tensors that asked for retain_grad() get the gradient that reached them."""
    for nr, ref in node._retained.items():
        tensor, grad = ref(), slots[nr]
        if tensor is not None and grad is not None:
            if not create_graph:
                grad = grad.detach()
            tensor._grad = grad if tensor._grad is None else tensor._grad + grad


# --- hooks and anomaly mode: only nodes that have hooks, or every node while anomaly mode is on -------

def _tensor_hooks(node, hooks, slots, owned):
    """Tensor.register_hook: each output's hooks see its gradient, and may return a replacement."""
    slots = list(slots)
    for nr, tensor_hooks in hooks.tensor.items():
        for hook in tuple(tensor_hooks.values()):
            if slots[nr] is None:
                break
            new = hook(slots[nr])
            if new is not None:
                slots[nr] = _checked_replacement(node, hook, new, slots[nr])
                owned.discard((node, nr))  # the hook's tensor is not the engine's to write into
    return slots


def _pre_hooks(node, hooks, slots, owned):
    """Node.register_prehook: fn(grad_outputs) may return replacements for all of them."""
    for hook in tuple(hooks.pre.values()):
        new = hook(tuple(slots))
        if new is not None:
            slots = _checked_tuple(node, hook, new, slots)
            for nr in range(node.num_outputs):
                owned.discard((node, nr))
    return slots


def _post_hooks(node, hooks, input_grads, slots):
    """Node.register_hook: fn(grad_inputs, grad_outputs) may return replacement grad_inputs."""
    for hook in tuple(hooks.post.values()):
        new = hook(input_grads, tuple(slots))
        if new is not None:
            input_grads = tuple(_checked_tuple(node, hook, new, input_grads))
    return input_grads


def _checked_replacement(node, hook, new, old):
    """A gradient a hook returned must be a Tensor like the one it replaces (PyTorch's refusals)."""
    name = f"hook '{getattr(hook, '__name__', type(hook).__name__)}' (on {node.name()})"
    if not isinstance(new, Tensor):
        raise TypeError(f"{name} must return a Tensor or None, but it returned {type(new).__name__}")
    if old is None:
        return new
    if new.shape != old.shape:
        raise RuntimeError(f"{name} has changed the size of value: got shape {tuple(new.shape)} for a gradient "
                           f"of shape {tuple(old.shape)}; return a gradient of the same shape")
    if new.dtype != old.dtype or new.device != old.device:
        raise RuntimeError(f"{name} has changed the type of value (was {old.dtype} on {old.device}, got "
                           f"{new.dtype} on {new.device}); convert it back, e.g. new.to(grad.dtype)")
    return new


def _checked_tuple(node, hook, new, old):
    count = len(new) if isinstance(new, (tuple, list)) else None
    if count != len(old):
        name = getattr(hook, "__name__", type(hook).__name__)
        raise RuntimeError(f"hook '{name}' (on {node.name()}) has returned an incorrect number of values (got "
                           f"{count if count is not None else type(new).__name__}, but expected {len(old)}): "
                           f"return None or a tuple with one gradient (or None) per one it was given")
    return [g if g is None else _checked_replacement(node, hook, g, o) for g, o in zip(new, old)]


def _checked_backward(node, slots):
    """Anomaly mode: an error in backward, or a NaN it returns, shows where the node was made."""
    try:
        input_grads = node.backward(*slots)
    except Exception:
        _warn_forward_stack(node)
        raise
    if anomaly_mode.check_nan:
        grads = input_grads if type(input_grads) is tuple else (input_grads,)
        for i, g in enumerate(grads):
            if g is not None and dtypes.is_floating(g.array.dtype) and bool(g._backend.xp.isnan(g.array).any()):
                _warn_forward_stack(node)
                raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.")
    return input_grads


def _warn_forward_stack(node):
    if node._stack is None:
        text = (f"Error detected in {node.name()}. No forward pass information available. Enable detect anomaly "
                f"during forward pass for more information.")
    else:
        text = f"Error detected in {node.name()}. Traceback of forward call that caused the error:\n" + \
            "".join(node._stack)
    warnings.warn(text, stacklevel=2)
