"""Reverse-mode backward: count dependencies, run ready nodes, accumulate, release.

1. Walk back from the roots once and count, for every reachable node, how many
   gradients it will receive (one per edge pointing at it).
2. A node is ready when all of them have arrived. Run its backward with the summed
   gradient, then drop that gradient and (unless retain_graph) its saved tensors.
3. Each gradient it returns is made to fit its input (broadcast dims summed away,
   dtype matched) and added to the next node's buffer; leaves accumulate into .grad.
"""

from .function import AccumulateGrad
from .grad_mode import _set_enabled, is_grad_enabled
from .tensor import Tensor


def run_backward(roots, grad_roots, retain_graph=None, create_graph=False, inputs=None, allow_unused=False):
    """Backpropagate ``grad_roots`` from ``roots``.

    With ``inputs`` (autograd.grad), return the gradients reaching those tensors and
    leave every ``.grad`` alone; otherwise accumulate into the leaves' ``.grad``.
    """
    if retain_graph is None:
        retain_graph = create_graph
    roots, grad_roots = list(roots), list(grad_roots)
    if len(roots) != len(grad_roots):
        raise RuntimeError(f"backward: got {len(roots)} tensors but {len(grad_roots)} gradients; pass one each")
    start = [_root_node(i, r) for i, r in enumerate(roots)]
    grads = [_root_grad(r, g) for r, g in zip(roots, grad_roots)]

    capture = None  # autograd.grad: node -> the gradient that reached it
    if inputs is not None:
        for t in inputs:
            if not t.requires_grad:
                raise RuntimeError(f"autograd.grad: one of the inputs (shape {tuple(t.shape)}) does not require "
                                   f"grad; call .requires_grad_() on it before computing the outputs")
        targets = [t._grad_node() for t in inputs]
        capture = dict.fromkeys(targets)

    dependencies = _count_dependencies(start)
    buffers = {}
    owned = set()  # buffers the engine allocated itself, so it may add into them in place
    for node, g in zip(start, grads):
        _accumulate(buffers, owned, node, g, create_graph)
    ready = [n for n in dict.fromkeys(start) if dependencies.get(n, 0) == 0]

    previous_mode = is_grad_enabled()
    _set_enabled(create_graph)  # backward rules record a graph only for higher-order derivatives
    try:
        while ready:
            node = ready.pop()
            grad = buffers.pop(node, None)
            exclusive = node in owned
            owned.discard(node)
            if capture is not None and node in capture:
                capture[node] = grad
            if type(node) is AccumulateGrad:
                if capture is None and grad is not None:
                    node.accumulate(grad, create_graph, exclusive)
                continue
            input_grads = ()
            if grad is not None:
                if node._retained is not None:
                    _retain(node, grad, create_graph)
                input_grads = node.backward(grad)
                if type(input_grads) is not tuple:
                    input_grads = (input_grads,)
                if len(input_grads) != len(node.next_functions):
                    raise RuntimeError(f"{node.name} returned {len(input_grads)} gradients but its op has "
                                       f"{len(node.next_functions)} inputs")
            if not retain_graph:
                node.release()
            for next_node, g, meta in zip(node.next_functions, input_grads or _nones(node), node.input_meta):
                if next_node is None:
                    continue
                if g is not None:
                    if g.array.shape != meta[0] or g.array.dtype != meta[1]:
                        g = _fit(g, meta)
                    _accumulate(buffers, owned, next_node, g, create_graph, _is_new(g, grad, input_grads))
                count = dependencies[next_node] - 1
                dependencies[next_node] = count
                if count == 0:
                    ready.append(next_node)
    finally:
        _set_enabled(previous_mode)

    if capture is None:
        return None
    result = []
    for t, node in zip(inputs, targets):
        g = capture[node]
        if g is None and not allow_unused:
            raise RuntimeError(f"autograd.grad: one of the inputs (shape {tuple(t.shape)}) was not used to compute "
                               f"the outputs, so it has no gradient; pass allow_unused=True to get None for it")
        result.append(g if g is None or create_graph else g.detach())
    return tuple(result)


def _root_node(i, root):
    if not root.requires_grad:
        raise RuntimeError(f"backward: element {i} of the tensors (shape {tuple(root.shape)}) does not require grad "
                           f"and has no grad_fn; make its inputs require grad (requires_grad=True) before "
                           f"computing it, outside no_grad()")
    return root._grad_node()


def _root_grad(root, grad):
    if grad is None:
        if root.numel() != 1:
            raise RuntimeError(f"backward: grad can be created implicitly only for scalar outputs, but this output "
                               f"has shape {tuple(root.shape)}; pass gradient= (a tensor of that shape), or reduce "
                               f"the output first, e.g. y.sum().backward()")
        return Tensor._make(root._backend.xp.ones(root.array.shape, root.array.dtype), root._backend)
    if not isinstance(grad, Tensor):
        grad = Tensor._make(root._backend.asarray(grad, root.array.dtype), root._backend)
    if grad.shape != root.shape:
        raise RuntimeError(f"backward: gradient has shape {tuple(grad.shape)} but the output has shape "
                           f"{tuple(root.shape)}; they must match")
    return grad


def _count_dependencies(start):
    dependencies = {}
    stack = list(dict.fromkeys(start))
    seen = set(stack)
    while stack:
        for next_node in stack.pop().next_functions:
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


def _is_new(g, grad, input_grads):
    """True when backward made ``g``'s array for this one input: not the incoming gradient, not a
    view of anything, not handed to two inputs. Only such a buffer may be written in place or
    become a leaf's .grad without a copy."""
    array = g.array
    if array is grad.array or array.base is not None:
        return False
    shared = 0
    for other in input_grads:
        if other is not None and other.array is array:
            shared += 1
    return shared <= 1


def _accumulate(buffers, owned, node, grad, create_graph, new=False):
    current = buffers.get(node)
    if current is None:
        buffers[node] = grad
        if new and not create_graph:
            owned.add(node)
    elif create_graph:
        buffers[node] = current + grad
    elif node in owned:
        current.array += grad.array
    else:
        buffers[node] = Tensor._make(current.array + grad.array, current._backend)
        owned.add(node)


def _retain(node, grad, create_graph):
    tensor = node._retained()
    if tensor is not None:
        if not create_graph:
            grad = grad.detach()
        tensor.grad = grad if tensor.grad is None else tensor.grad + grad
