"""PyTorch's ``torch.autograd.functional``: vjp, jvp, jacobian, hessian, hvp and vhp of a function of
Tensors (a Tensor or a tuple of Tensors in, a Tensor or a tuple of Tensors out).

Every result here is built from reverse passes (``autograd.grad``). Forward-mode products (``jvp``,
``jacobian(strategy="forward-mode")``) use the double-vjp trick: ``g(u) = J^T u`` is linear in ``u``, so
differentiating ``g(u) . t`` with respect to ``u`` gives ``J t`` exactly. ``linearize`` below is the one
place that does this; when ``autograd.forward_ad`` lands, pointing ``linearize`` at a dual-number version
switches every forward-mode product over.

``vectorize=True`` is accepted and gives the same numbers; it does not batch the rows into one pass
(PyTorch does that with vmap), the Jacobian is still built a row (or a column) at a time.
"""

from .grad_mode import enable_grad
from .tensor import Tensor, ones_like, zeros_like


# --- inputs and outputs: a Tensor or a tuple of Tensors ------------------------------------------------

def _as_tuple(value, what, fn_name):
    """``(tuple_of_tensors, was_tuple)``; refuses anything that is not a Tensor or a tuple/list of them."""
    was_tuple = isinstance(value, (tuple, list))
    values = tuple(value) if was_tuple else (value,)
    for v in values:
        if not isinstance(v, Tensor):
            kind = "a tuple of Tensors" if was_tuple else "a Tensor"
            raise TypeError(f"autograd.functional.{fn_name}: the {what} must be either a Tensor or a tuple of "
                            f"Tensors, but the given {what} has type {type(v if was_tuple else value).__name__} "
                            f"(expected {kind}); wrap non-Tensor values with autograd.tensor(...)")
    return values, was_tuple


def _untuple(values, was_tuple):
    return tuple(values) if was_tuple else values[0]


def _track(inputs, create_graph):
    """Inputs that require grad for this call: still connected to the caller's graph only with create_graph."""
    return tuple(x.view_as(x) if create_graph and x.requires_grad else x.detach().requires_grad_() for x in inputs)


def _finish(values, create_graph):
    return tuple(v if create_graph or v is None else v.detach() for v in values)


def _check_v(v, like, fn_name, what="output"):
    """``v`` (a tuple) must have one Tensor per ``like`` entry, of the same shape."""
    if len(v) != len(like):
        raise RuntimeError(f"autograd.functional.{fn_name}: v has {len(v)} Tensors but the user-provided "
                           f"function's {what} has {len(like)}; pass one v per {what}")
    for i, (a, b) in enumerate(zip(v, like)):
        if tuple(a.shape) != tuple(b.shape):
            raise RuntimeError(f"autograd.functional.{fn_name}: entry {i} in v has invalid size: expected "
                               f"{tuple(b.shape)} (the {what}'s shape) but got {tuple(a.shape)}")


def _default_v(v, outputs, fn_name):
    if v is not None:
        return _as_tuple(v, "v", fn_name)[0]
    if len(outputs) != 1 or outputs[0].numel() != 1:
        raise RuntimeError(f"autograd.functional.{fn_name}: the vector v can only be None if the user-provided "
                           f"function returns a single Tensor with a single element; got "
                           f"{[tuple(o.shape) for o in outputs]}. Pass v (one Tensor per output, of its shape)")
    return (ones_like(outputs[0]),)


def _fill_zeros(grads, like, strict, create_graph, fn_name):
    """Zeros for the ``None`` gradients, or a strict-mode refusal as in PyTorch."""
    out = []
    for i, (g, x) in enumerate(zip(grads, like)):
        if g is None:
            if strict:
                raise RuntimeError(f"autograd.functional.{fn_name}: the output of the user-provided function is "
                                   f"independent of input {i}. This is not allowed in strict mode; pass "
                                   f"strict=False to get zeros for it")
            g = zeros_like(x)
        elif strict and create_graph and not g.requires_grad:
            raise RuntimeError(f"autograd.functional.{fn_name}: the gradient with respect to input {i} is "
                               f"independent of the inputs of the user-provided function. This is not allowed "
                               f"in strict mode when create_graph=True; pass strict=False")
        out.append(g)
    return tuple(out)


def _call(func, inputs, fn_name):
    return _as_tuple(func(*inputs), "outputs of the user-provided function", fn_name)


def _check_differentiable(outputs, strict, fn_name):
    """strict mode refuses an output that does not require grad (computed without the inputs), as PyTorch does."""
    for i, o in enumerate(outputs if strict else ()):
        if not o.requires_grad:
            raise RuntimeError(f"autograd.functional.{fn_name}: output {i} of the user-provided function does not "
                               f"require gradients. The outputs must be computed in a differentiable manner from "
                               f"the input when running in strict mode; pass strict=False to get zeros")


def _caller(func, fn_name):
    """``call(*inputs) -> tuple of outputs``, for linearize and _jacobian_blocks, which run func themselves;
    ``seen["tuple"]`` says afterwards whether func returned a tuple."""
    seen = {}

    def call(*inputs):
        outputs, seen["tuple"] = _call(func, inputs, fn_name)
        return outputs
    return call, seen


def _grad(outputs, inputs, grad_outputs, create_graph, retain_graph=True):
    """autograd.grad over the outputs that require grad; ``None`` for inputs they do not reach."""
    from . import grad
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad and g is not None]
    if not pairs:
        return (None,) * len(inputs)
    return grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=retain_graph,
                create_graph=create_graph, allow_unused=True)


# --- the one forward-mode primitive ---------------------------------------------------------------------

def _linearize_by_double_vjp(call, inputs, create_graph):
    """``(outputs, jvp)``: ``outputs = call(*inputs)`` (a tuple of Tensors; ``inputs`` require grad) and
    ``jvp(tangents) -> J @ tangents``, one Tensor (or None: independent) per output; a None tangent is zero. One reverse pass with
    dummy cotangents ``u`` kept differentiable gives ``J^T u``; each jvp is then a reverse pass w.r.t. ``u``."""
    outputs = call(*inputs)
    dummies = tuple(zeros_like(o).requires_grad_() for o in outputs)
    vjps = _grad(outputs, inputs, dummies, create_graph=True)

    def jvp(tangents):
        pairs = [(g, t) for g, t in zip(vjps, tangents) if g is not None and g.requires_grad and t is not None]
        if not pairs:
            return (None,) * len(outputs)
        from . import grad
        return grad([g for g, _ in pairs], list(dummies), [t for _, t in pairs], retain_graph=True,
                    create_graph=create_graph, allow_unused=True)
    return outputs, jvp


# The forward-mode switch: every jvp, jacfwd and forward-mode Jacobian goes through ``linearize``. When
# autograd.forward_ad lands, point it at a version that runs ``call`` on dual Tensors (make_dual(x, t)) and
# reads the tangents back (unpack_dual): same arguments, same ``(outputs, jvp)`` result.
linearize = _linearize_by_double_vjp


# --- the public functions -------------------------------------------------------------------------------

def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T J)``: the vector-Jacobian product, one Tensor per input."""
    with enable_grad():
        inputs, in_tuple = _as_tuple(inputs, "inputs", "vjp")
        inputs = _track(inputs, create_graph)
        outputs, out_tuple = _call(func, inputs, "vjp")
        _check_differentiable(outputs, strict, "vjp")
        v = _default_v(v, outputs, "vjp")
        _check_v(v, outputs, "vjp")
        grads = _grad(outputs, inputs, v, create_graph)
        grads = _fill_zeros(grads, inputs, strict, create_graph, "vjp")
    return _untuple(_finish(outputs, create_graph), out_tuple), _untuple(_finish(grads, create_graph), in_tuple)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)``: the Jacobian-vector product, one Tensor per output."""
    with enable_grad():
        inputs, in_tuple = _as_tuple(inputs, "inputs", "jvp")
        if v is None:
            if len(inputs) != 1 or inputs[0].numel() != 1:
                raise RuntimeError("autograd.functional.jvp: the vector v can only be None if the input to the "
                                   "user-provided function is a single Tensor with a single element; pass v")
            v = (ones_like(inputs[0]),)
        else:
            v = _as_tuple(v, "v", "jvp")[0]
        _check_v(v, inputs, "jvp", what="input")
        inputs = _track(inputs, create_graph)
        call, seen = _caller(func, "jvp")
        outputs, product = linearize(call, inputs, create_graph)
        _check_differentiable(outputs, strict, "jvp")
        for j in range(len(inputs) if strict else 0):  # PyTorch's strict jvp refuses an unused input too
            probe = [None] * len(inputs)
            probe[j] = v[j]
            if all(p is None for p in product(probe)):
                raise RuntimeError(f"autograd.functional.jvp: the output of the user-provided function is "
                                   f"independent of input {j}. This is not allowed in strict mode; pass "
                                   f"strict=False to get zeros for it")
        products = product(v)
        out_tuple = seen["tuple"]
        products = _fill_zeros(products, outputs, False, create_graph, "jvp")  # strict: checked above
    return (_untuple(_finish(outputs, create_graph), out_tuple),
            _untuple(_finish(products, create_graph), out_tuple))


def _basis(t):
    """The basis vectors of ``t``'s flattened shape, each shaped like ``t`` (on its device, in its dtype)."""
    from . import eye
    identity = eye(t.numel(), dtype=t.dtype, device=t.device)
    return [identity[k].reshape(t.shape) for k in range(t.numel())]


def _jacobian_blocks(call, inputs, create_graph, strict, strategy, fn_name):
    """``blocks[i][j]``: d outputs[i] / d inputs[j], shaped ``outputs[i].shape + inputs[j].shape``, for the
    tuple of Tensors ``outputs = call(*inputs)`` (``inputs`` require grad)."""
    from . import stack, zeros
    if strategy == "reverse-mode":
        outputs = call(*inputs)
    else:
        outputs, product = linearize(call, inputs, create_graph)
    _check_differentiable(outputs, strict, fn_name)
    blocks = [[None] * len(inputs) for _ in outputs]
    if strategy == "reverse-mode":
        for i, out in enumerate(outputs):
            rows = []  # one per element of out: its gradient w.r.t. every input
            for unit in _basis(out):
                cot = [None] * len(outputs)
                cot[i] = unit
                rows.append(_grad(outputs, inputs, cot, create_graph))
            for j, x in enumerate(inputs):
                used = [r[j] for r in rows if r[j] is not None]
                if not used and strict:
                    raise RuntimeError(f"autograd.functional.{fn_name}: output {i} of the user-provided function is "
                                       f"independent of input {j}. This is not allowed in strict mode; pass "
                                       f"strict=False to get zeros for it")
                filled = [r[j] if r[j] is not None else zeros(x.shape, dtype=x.dtype, device=x.device) for r in rows]
                block = stack(filled) if filled else zeros((0, *x.shape), dtype=x.dtype, device=x.device)
                blocks[i][j] = block.reshape(*out.shape, *x.shape)
    else:  # forward-mode: one jvp per input element, the columns of every output's block at once
        for j, x in enumerate(inputs):
            columns = []
            for unit in _basis(x):
                tangents = [zeros_like(t) for t in inputs]
                tangents[j] = unit
                columns.append(product(tangents))
            for i, out in enumerate(outputs):
                filled = [c[i] if c[i] is not None else zeros(out.shape, dtype=out.dtype, device=out.device)
                          for c in columns]
                block = (stack(filled, dim=-1) if filled
                         else zeros((*out.shape, 0), dtype=out.dtype, device=out.device))
                blocks[i][j] = block.reshape(*out.shape, *x.shape)
    return [_finish(row, create_graph) for row in blocks]


def _check_strategy(strategy, strict, vectorize, fn_name):
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"autograd.functional.{fn_name}: expected strategy to be either \"forward-mode\" or "
                         f"\"reverse-mode\", got {strategy!r}")
    if strategy == "forward-mode" and not vectorize:
        raise NotImplementedError(f"autograd.functional.{fn_name}: strategy=\"forward-mode\" is only implemented "
                                  f"with vectorize=True (as in PyTorch); pass vectorize=True")
    if strict and vectorize:
        raise RuntimeError(f"autograd.functional.{fn_name}: strict=True and vectorize=True are not supported "
                           f"together; pass one of them")


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: a Tensor ``out.shape + in.shape`` for one input and one output,
    a tuple over inputs (or outputs), a tuple over outputs of tuples over inputs for several of both."""
    _check_strategy(strategy, strict, vectorize, "jacobian")
    with enable_grad():
        inputs, in_tuple = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _track(inputs, create_graph)
        call, seen = _caller(func, "jacobian")
        blocks = _jacobian_blocks(call, inputs, create_graph, strict, strategy, "jacobian")
        out_tuple = seen["tuple"]
    return _untuple([_untuple(row, in_tuple) for row in blocks], out_tuple)


def _scalar_output(func, fn_name):
    """``func`` checked to return a single Tensor with a single element (hessian, hvp, vhp need one)."""
    def checked(*inputs):
        out = func(*inputs)
        outputs, _ = _as_tuple(out, "outputs of the user-provided function", fn_name)
        if len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError(f"autograd.functional.{fn_name}: the function given to {fn_name} should return a "
                               f"single Tensor with a single element, got {[tuple(o.shape) for o in outputs]}; "
                               f"reduce it (e.g. .sum()) first")
        return outputs[0].reshape(())
    return checked


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of scalar ``func``: the Jacobian of its gradient (``in.shape + in.shape`` per pair)."""
    _check_strategy(outer_jacobian_strategy, strict, vectorize, "hessian")
    scalar = _scalar_output(func, "hessian")
    inputs_tuple, in_tuple = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*xs):
        with enable_grad():
            out = scalar(*xs)
            grads = _grad((out,), xs, (ones_like(out),), create_graph=True)
            return _fill_zeros(grads, xs, strict, True, "hessian")
    blocks = jacobian(gradient, inputs_tuple, create_graph, strict, vectorize, outer_jacobian_strategy)
    return _untuple([_untuple(row, in_tuple) for row in blocks], in_tuple)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T H)`` for scalar ``func``: a vjp of its gradient."""
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` for scalar ``func``; H is symmetric, so this is the vjp of the gradient too
    (PyTorch computes it the same way, by double backward)."""
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(func, inputs, v, create_graph, strict, fn_name):
    scalar = _scalar_output(func, fn_name)
    with enable_grad():
        inputs, in_tuple = _as_tuple(inputs, "inputs", fn_name)
        if v is None:
            if len(inputs) != 1 or inputs[0].numel() != 1:
                raise RuntimeError(f"autograd.functional.{fn_name}: the vector v can only be None if the input to "
                                   f"the user-provided function is a single Tensor with a single element; pass v")
            v = (ones_like(inputs[0]),)
        else:
            v = _as_tuple(v, "v", fn_name)[0]
        _check_v(v, inputs, fn_name, what="input")
        inputs = _track(inputs, create_graph)
        out = scalar(*inputs)
        _check_differentiable((out,), strict, fn_name)
        grads = _grad((out,), inputs, (ones_like(out),), create_graph=True)
        grads = _fill_zeros(grads, inputs, strict, True, fn_name)
        products = _grad(grads, inputs, v, create_graph)
        products = _fill_zeros(products, inputs, strict, create_graph, fn_name)
    return _finish((out,), create_graph)[0], _untuple(_finish(products, create_graph), in_tuple)
