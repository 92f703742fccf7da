"""Graph nodes: built-in ops (``Op``) and users' ``Function``s (PyTorch's API).

A built-in op is an ``Op`` subclass with two methods side by side::

    class Mul(Op):
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)        # declare exactly what backward needs
            return x * y                       # arrays; ctx.xp is numpy or cupy
        def backward(ctx, grad):
            x, y = ctx.saved_tensors           # Tensors again, so backward is differentiable
            return grad * y, grad * x          # one gradient per input (or None)

``Mul.apply(a, b)`` runs the kernel (or the backend's override for this op) and, when
grad mode is on and an input requires grad, records an instance of ``Mul`` as the
output's ``grad_fn``. That instance is both the ``ctx`` the two methods see and the
graph node the engine walks. Inputs may be Tensors or plain Python values (constants:
no gradient, no edge).

A user's op is PyTorch's ``autograd.Function``: static ``forward(ctx, *args)`` gets
Tensors and runs with grad mode off, static ``backward(ctx, *grads)`` returns one
gradient per argument. It never runs a backend's kernel.

Gradients do not have to match their input's shape: the engine sums broadcast
dimensions away (``sum_to_shape``) in one place, so ``Add.backward`` is ``grad, grad``.
"""

import functools
import re
import threading
import traceback
import weakref

from . import anomaly_mode
from .grad_mode import _state as _grad_state, is_grad_enabled, no_grad

registry = {}  # op name -> built-in Op subclass; backends key their kernel overrides by it
autocast_hook = None  # set by autograd.amp while an autocast region is open: casts an op's inputs by its policy
entry_hook = None     # likewise, for the public functions marked @autocast_entry
jvp_hook = None       # set by autograd.forward_ad while a dual level is open: carries tangents through ops
vmap_hook = None      # set by autograd.func.vmap while a batched level runs: batching rules (autograd._vmap)
_accumulate_lock = threading.Lock()  # concurrent backward passes may add into one leaf's .grad


def autocast_entry(fn):
    """Marks a public function whose autocast policy applies to its arguments before it runs: one that checks
    its arguments' dtypes before its op does (linear: input and weight must match), or one composed of ops
    that autocast would not see (the losses). PyTorch casts at dispatch, before any check; this is that
    point here. Outside an autocast region it costs one global read."""
    name = fn.__name__

    @functools.wraps(fn)
    def entry(*args, **kwargs):
        if entry_hook is None:
            return fn(*args, **kwargs)
        return entry_hook(name, fn, args, kwargs)
    return entry


class _Output:
    """Marks a node's own output among its saved tensors: kept as an array, never as the
    Tensor, so the node does not keep its output alive (no reference cycle)."""
    __slots__ = ("nr",)

    def __init__(self, nr):
        self.nr = nr


class Node:
    """What every graph node has: edges to its inputs' nodes, what it saved, its name."""

    __slots__ = ("next_functions", "needs_input_grad", "backend", "input_meta", "_to_save", "_saved",
                 "_retained", "__dict__", "__weakref__")
    num_outputs = 1
    grad_writable = False  # set by the engine: whether backward may write into its (one) incoming gradient
    _hooks = None  # a _Hooks once a hook is registered here or on a tensor this node made; all the engine checks
    _stack = None  # anomaly mode: the forward traceback (lines) of the op that made this node

    # --- hooks (PyTorch's Node.register_hook / register_prehook) ------------------
    def register_hook(self, fn):
        """``fn(grad_inputs, grad_outputs)`` runs after this node's backward; a tuple it returns
        replaces grad_inputs (the gradients for the node's inputs)."""
        return _add_hook(self._hook_table().post, fn)

    def register_prehook(self, fn):
        """``fn(grad_outputs)`` runs before this node's backward; a tuple it returns replaces them."""
        return _add_hook(self._hook_table().pre, fn)

    def _hook_table(self):
        if self._hooks is None:
            self._hooks = _Hooks()
        return self._hooks

    @property
    def metadata(self):
        """A dict of the user's own, kept with the node."""
        data = self.__dict__.get("_metadata")
        if data is None:
            data = self._metadata = {}
        return data

    # --- what the node keeps for backward -------------------------------------
    def save_for_backward(self, *values):
        """Keep these (inputs, outputs or helpers) for backward; nothing else is kept."""
        self._to_save = values

    @property
    def saved_tensors(self):
        saved = self._saved
        if saved is None:
            raise RuntimeError(
                f"{self.name()}: trying to backward through the graph a second time (or to read saved "
                f"tensors after they were freed). The saved tensors were released when the first "
                f"backward ran; pass retain_graph=True to the first backward() or autograd.grad() "
                f"to backward through the same graph again.")
        tensors = []
        for tensor, array, counter, version in saved:
            if counter is not None and counter[0] != version:
                like = array if array is not None else tensor  # a packed entry keeps shape and dtype only
                raise RuntimeError(
                    f"{self.name()}: one of the tensors it saved for backward (shape {tuple(like.shape)}, "
                    f"dtype {like.dtype}) was modified by an in-place operation: it is at version "
                    f"{counter[0]}, expected {version}. Use the out-of-place op (x = x + y instead of "
                    f"x += y), or .clone() the tensor before changing it.")
            if type(tensor) is _Packed:
                tensor = tensor.unpack(self)
            elif type(tensor) is _Output:  # rebuilt so that double backward flows through this node
                nr = tensor.nr
                tensor = Tensor._make(array, self.backend, True, self)
                tensor._output_nr = nr
            tensors.append(tensor)
        return tuple(tensors)

    def _pack(self, inputs, outputs):
        """Turn what forward asked to save into (tensor, array, version counter, version) entries."""
        if not self._to_save:  # nothing saved (add, sub, neg ...): the common case, kept short
            self._saved, self._to_save = (), None
            return
        saved = []
        hooks = _saved_hooks[-1] if _saved_hooks else None  # saved_tensors_hooks: the innermost in force
        for value in self._to_save:
            array = value.array if isinstance(value, Tensor) else value
            entry = None
            for nr, out in enumerate(outputs):
                if out is not None and array is out.array:
                    entry = (_Output(nr), array, out._version, out._version[0])
                    break
            if entry is None and not hasattr(array, "shape"):  # None or a Python scalar
                entry = (value, value, None, None)
            if entry is None:
                for x in inputs:
                    if isinstance(x, Tensor) and (x is value or x.array is array):
                        entry = (x, array, x._version, x._version[0])
                        break
            if entry is None:  # a helper made by forward (a mask, indices): nobody else can change it
                tensor = value if isinstance(value, Tensor) else Tensor._make(array, self.backend)
                entry = (tensor, array, tensor._version, tensor._version[0])
            if hooks is not None and entry[2] is not None:
                entry = _Packed.pack(entry, hooks, outputs)
            saved.append(entry)
        self._saved = tuple(saved)
        self._to_save = None

    def release(self):
        """Drop the saved tensors (done by the engine after this node's backward)."""
        self._saved = None

    def _link(self, inputs):
        """Record the edges to the inputs' nodes: ``(node, output_nr)`` pairs as in PyTorch."""
        edges, meta = [], []
        for x, need in zip(inputs, self.needs_input_grad):
            if need:
                edges.append((x.grad_fn or x._grad_node(), x._output_nr))
                meta.append((x.array.shape, x.array.dtype))
            else:
                edges.append(_NO_EDGE)
                meta.append(None)
        self.next_functions, self.input_meta = tuple(edges), tuple(meta)
        self._retained = None
        if anomaly_mode.enabled:  # off, this check is all anomaly mode costs
            self._stack = traceback.format_stack()[:-1]

    def name(self):
        return type(self).__name__ + "Backward0"

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"


_NO_EDGE = (None, 0)


class _Hooks:
    """The hooks of one node: ``tensor`` (output_nr -> the hooks of the tensor that is that output;
    for a leaf, 0 -> its own), ``pre`` and ``post`` (the node's), ``post_accumulate`` (a leaf's).
    Each is a dict handle id -> hook, run in insertion order."""
    __slots__ = ("tensor", "pre", "post", "post_accumulate")

    def __init__(self):
        self.tensor, self.pre, self.post, self.post_accumulate = {}, {}, {}, {}


class _Packed:
    """A saved tensor as ``saved_tensors_hooks``' pack_hook returned it, with its unpack_hook."""
    __slots__ = ("packed", "unpack_hook", "nr", "shape", "dtype", "history")

    @staticmethod
    def pack(entry, hooks, outputs):
        tensor, array, counter, version = entry
        self = object.__new__(_Packed)
        pack_hook, self.unpack_hook = hooks
        self.nr = tensor.nr if type(tensor) is _Output else None
        self.shape, self.dtype = array.shape, array.dtype
        # an input's place in the graph (not its memory), so that what unpack returns is differentiated
        # into the same history (double backward), as PyTorch's SavedVariable does
        self.history = None
        if self.nr is None and tensor._requires_grad:
            self.history = (tensor.grad_fn, tensor._output_nr, weakref.ref(tensor._grad_node()))
        self.packed = pack_hook(outputs[self.nr] if self.nr is not None else tensor)
        return self, None, counter, version  # the array is not kept: the hook decides what is

    def unpack(self, node):
        tensor = self.unpack_hook(self.packed)
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{node.name()}: the unpack_hook of saved_tensors_hooks must return a Tensor, but it "
                            f"returned {type(tensor).__name__}; return the tensor that pack_hook was given")
        if self.nr is not None:  # the node's own output: it flows through this node again (double backward)
            tensor = Tensor._make(tensor.array, tensor._backend, True, node)
            tensor._output_nr = self.nr
        elif self.history is not None:
            grad_fn, nr, grad_node = self.history
            tensor = Tensor._make(tensor.array, tensor._backend, True, grad_fn)
            tensor._output_nr, tensor._accumulator = nr, (None if grad_fn is not None else grad_node)
        return tensor


# --- built-in ops ---------------------------------------------------------------------------------

class Op(Node):
    """A built-in op: ``forward`` on backend arrays (``ctx.xp``), ``backward`` on Tensors."""

    __slots__ = ("xp",)

    op = None               # registry name, e.g. "mul"; backends override kernels by this name
    differentiable = True   # False: the output never requires grad (comparisons, argmax)
    moves_device = False    # True: the output lives on attrs["backend"] (to_device)
    is_view = False         # True: the output may share the first input's memory (slicing, reshape)
    shape_hint = ""         # appended to shape errors

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "op" not in cls.__dict__:
            cls.op = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
        taken = registry.get(cls.op)
        if taken is not None and taken.__module__.startswith("autograd.ops") and taken.__qualname__ != cls.__qualname__:
            raise TypeError(f"op name {cls.op!r} of {cls.__module__}.{cls.__qualname__} is already taken by the "
                            f"built-in {taken.__module__}.{taken.__qualname__}; give the class its own `op = '...'`")
        registry[cls.op] = cls

    # --- the op's two halves --------------------------------------------------
    def forward(ctx, *arrays, **attrs):
        raise NotImplementedError

    def backward(ctx, *grads):
        raise NotImplementedError(f"{type(ctx).__name__} is not differentiable")

    def jvp(ctx, *tangents):
        """The forward derivative: the output's tangent (one per output) from one tangent per input
        (None where an input has none), written with Tensor ops. ``ctx`` is a ``JvpContext``, not the
        forward's ctx. This default is the double-backward trick (``jvp_from_vjp``); ops override it."""
        return jvp_from_vjp(ctx, *tangents)

    # --- running an op ----------------------------------------------------------
    @classmethod
    def apply(cls, *inputs, **attrs):
        if vmap_hook is not None:  # vmap's batching rules; None when no input is one of its per-sample proxies
            out = vmap_hook(cls, inputs, attrs)
            if out is not None:
                return out
        if autocast_hook is not None:  # mixed precision (autograd.amp.autocast); off, this check is all it costs
            inputs = autocast_hook(cls, inputs, attrs)
        if jvp_hook is not None:  # forward-mode AD (autograd.forward_ad); None when no input carries a tangent
            dual = jvp_hook(cls, inputs, attrs)
            if dual is not None:
                return dual
        backend = None
        arrays = []
        needs = [] if _grad_state.enabled else None  # None: grad mode is off, nothing is recorded
        for x in inputs:
            if isinstance(x, Tensor):
                if x._backend is not backend:
                    if backend is not None:
                        raise _device_error(_op_name(cls, attrs), inputs)
                    backend = x._backend
                arrays.append(x.array)
                if needs is not None:
                    if x._view is not None:
                        x._refresh_view()
                    needs.append(x._requires_grad)
            else:
                arrays.append(x)
                if needs is not None:
                    needs.append(False)
        ctx = object.__new__(cls)
        ctx.backend, ctx.xp = backend, backend.xp
        ctx._to_save = ()
        record = needs is not None and True in needs and cls.differentiable
        # forward may read needs_input_grad to keep less (mul keeps x only if y needs a gradient)
        ctx.needs_input_grad = tuple(needs) if record else (False,) * len(arrays)
        try:  # inside the backend's errstate: inf and nan come silently, as in PyTorch, not as NumPy warnings
            out = backend.run(backend.kernels.get(cls.op, cls.forward), ctx, arrays, attrs)
        except ValueError as e:  # NumPy/CuPy shape errors: say which op and which shapes
            raise _shape_error(_op_name(cls, attrs), cls.shape_hint, inputs, e) from None
        if cls.moves_device:
            backend = attrs["backend"]
        if type(out) is tuple:  # several outputs (a recurrent layer's sequence, h_n, c_n)
            return _several_outputs(ctx, out, backend, record, inputs)
        result = Tensor._make(out, backend, record, ctx if record else None)
        if cls.is_view and backend.xp.may_share_memory(result.array, arrays[0]):
            _mark_view(result, inputs[0], cls, attrs)
        if record:
            ctx._link(inputs)
            ctx._pack(inputs, (result,))
        return result


def _several_outputs(ctx, arrays, backend, record, inputs):
    """The Tensors of an op whose kernel returned a tuple of arrays, each with its ``output_nr``;
    the engine hands its backward one gradient per output (None where none arrived)."""
    ctx.num_outputs = len(arrays)
    results = []
    for nr, array in enumerate(arrays):
        t = Tensor._make(array, backend, record, ctx if record else None)
        t._output_nr = nr
        results.append(t)
    if record:
        ctx._link(inputs)
        ctx._pack(inputs, results)
    return tuple(results)


# --- forward mode: tangents through ops (autograd.forward_ad opens the level and sets jvp_hook) -------------

class JvpContext:
    """What an op's ``jvp`` sees: the op, its primal inputs and outputs, its keyword attributes, and
    (built only when a rule asks for it) ``node``, the op recorded as a graph node, whose ``backward``
    the backward-based rules (``diagonal_jvp``, ``jvp_from_vjp``) call."""

    def __init__(self, op, inputs, outputs, attrs, node, needs):
        self.op, self.inputs, self.outputs, self.attrs = op, inputs, outputs, attrs
        self._node, self._needs = node, needs

    @property
    def output(self):
        return self.outputs[0]

    @property
    def node(self):
        node = self._node
        if not (isinstance(node, self.op) and node._saved is not None
                and all(have or not need for have, need in zip(node.needs_input_grad, self._needs))):
            # run the op again on aliases that require grad, so that it saves what backward needs
            aliases = [_alias(x) if need else x for x, need in zip(self.inputs, self._needs)]
            with enable_grad():
                out = self.op.apply(*aliases, **self.attrs)
            node = self._node = (out[0] if type(out) is tuple else out).grad_fn
        return node


def _alias(x):
    a = Tensor._make(x.array, x._backend, True)
    a._version = x._version
    return a


def dual_apply(cls, inputs, attrs, level):
    """Op.apply while a dual level is open: the op on the primals, then its ``jvp`` on the tangents.
    Returns None (apply goes on as usual) when no input carries a tangent of this level."""
    tangents = [_tangent(x, level) if isinstance(x, Tensor) else None for x in inputs]
    if not cls.differentiable or all(t is None for t in tangents):
        return None
    global jvp_hook
    hook, jvp_hook = jvp_hook, None  # the op and its rule run plainly: no tangents of tangents
    try:
        out = cls.apply(*inputs, **attrs)
        outputs = out if type(out) is tuple else (out,)
        needs = tuple(t is not None for t in tangents)
        ctx = JvpContext(cls, inputs, outputs, attrs, outputs[0].grad_fn, needs)
        result = cls.jvp(ctx, *tangents)
    finally:
        jvp_hook = hook
    for y, t in zip(outputs, result if type(result) is tuple else (result,)):
        if t is not None and dtypes.is_floating(y.array.dtype):
            y._tangent = (level, _fit(t, y))
    return out


def _tangent(x, level):
    """x's tangent at ``level``. A view whose base has one takes its own from the base's, viewed the
    same way, so that in-place changes of the base (or of another view of it) show (as in PyTorch)."""
    if x._view is not None:
        base, make, _ = x._view
        if base._tangent is not None and base._tangent[0] == level:
            return make(base._tangent[1])
    return x._tangent[1] if x._tangent is not None and x._tangent[0] == level else None


def _fit(t, y):
    """A rule's tangent in its output's shape and dtype (a broadcast input's tangent may be smaller)."""
    if t.array.shape != y.array.shape:
        t = t.expand(y.array.shape)
    return t if t.array.dtype == y.array.dtype else t.to(y.array.dtype)


def linear_jvp(ctx, *tangents):
    """The rule of an op linear in its floating inputs together (reshape, sum, cat, gather's source):
    the op itself, on the tangents (zeros for inputs without one; indices and constants as they are)."""
    args = [x if not isinstance(x, Tensor) or not dtypes.is_floating(x.array.dtype)
            else t if t is not None else zeros_like(x) for x, t in zip(ctx.inputs, tangents)]
    return ctx.op.apply(*args, **ctx.attrs)


def multilinear_jvp(ctx, *tangents):
    """The product rule, for an op linear in each floating input separately (mul, matmul, einsum):
    the sum over inputs with a tangent of the op with that input replaced by its tangent."""
    return sum_terms([ctx.op.apply(*ctx.inputs[:i], t, *ctx.inputs[i + 1:], **ctx.attrs) if t is not None else None
                      for i, t in enumerate(tangents)], ctx.output)


def sum_terms(terms, like):
    """The sum of a rule's terms (None where an input has no tangent), zeros like ``like`` if none."""
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    return total if total is not None else zeros_like(like)


def diagonal_jvp(ctx, *tangents):
    """The rule of an elementwise op: its Jacobian with respect to each input is diagonal (up to
    broadcasting), so the vjp of a tangent is its jvp, and ``backward`` already is the rule."""
    terms = []
    for i, t in enumerate(tangents):
        if t is not None:
            grads = ctx.node.backward(t)
            terms.append(grads[i] if type(grads) is tuple else grads)
    return sum_terms(terms, ctx.output)


def jvp_from_vjp(ctx, *tangents):
    """The fallback of an op with no rule of its own, the double-backward trick: backward is linear
    in the output gradient u, so d/du <vjp(u), t> = J t. Exact (not a finite difference), at the cost
    of a second forward and two backward passes; the tangent carries no history back to the primals."""
    node = ctx.node
    # any u gives the same J t; ones rather than zeros keeps rules that take log |u| (logcumsumexp) finite
    us = [ones_like(y, requires_grad=True) if dtypes.is_floating(y.array.dtype) else None for y in ctx.outputs]
    with enable_grad():
        grads = node.backward(*us)
        grads = grads if type(grads) is tuple else (grads,)
        total = None
        for x, g, t in zip(ctx.inputs, grads, tangents):
            if t is not None and g is not None:
                term = (g.sum_to_shape(x.shape) * t).sum()
                total = term if total is None else total + term
    wrt = [u for u in us if u is not None]
    if total is None or not total.requires_grad:
        result = [zeros_like(u) for u in wrt]
    else:
        # retain_graph: the walk may pass through the forward graph, which the user may still backward
        found = run_backward([total], [None], retain_graph=True, inputs=wrt, allow_unused=True)
        result = [zeros_like(u) if g is None else g for g, u in zip(found, wrt)]
    result = iter(result)
    outs = tuple(next(result) if u is not None else None for u in us)
    return outs if len(outs) > 1 else outs[0]


def same_dtype(out, like):
    """``out`` in ``like``'s dtype. NumPy computes bfloat16 (from ml_dtypes) math and matmul in
    float32 and hands back float32; PyTorch rounds the result to bfloat16. Free when it already is."""
    return out.astype(like.dtype, copy=False)


def _mark_view(view, x, cls, attrs):
    """``view`` shares ``x``'s memory: it shares its version counter too, and remembers how to
    be made again from the base (the tensor that owns the memory), so that an in-place op on
    it can rewrite the base's history (PyTorch's CopySlices)."""
    view._version = x._version
    if x._view is None:
        base, make = x, lambda b: cls.apply(b, **attrs)
    else:
        base, parent = x._view[0], x._view[1]
        make = lambda b: cls.apply(parent(b), **attrs)  # noqa: E731  (a view of a view)
    view._view = (base, make, base.grad_fn)


# --- users' Functions (PyTorch's autograd.Function) --------------------------------------------------

class BackwardFunction(Node):
    """The ``ctx`` of a user's Function and its graph node (``MyFnBackward``)."""

    _forward_cls = None

    def __init__(self, num_inputs):
        self._to_save = ()
        self._saved = ()
        self._retained = None
        self.next_functions = ()
        self.needs_input_grad = (False,) * num_inputs
        self.backend = None
        self.materialize_grads = True
        self.non_differentiable = ()
        self.dirty_tensors = ()
        self.num_outputs = 1
        self.output_meta = ()

    def mark_non_differentiable(self, *tensors):
        self.non_differentiable = tensors

    def mark_dirty(self, *tensors):
        self.dirty_tensors = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    def name(self):
        return type(self).__name__

    def backward(self, *grads):
        if self.materialize_grads:  # missing output gradients become zeros, as PyTorch does by default
            grads = tuple(g if g is not None else zeros(shape, dtype=dtype, device=self.backend.device)
                          for g, (shape, dtype) in zip(grads, self.output_meta))
        return self._forward_cls.backward(self, *grads)


class Function:
    """PyTorch's ``autograd.Function``: subclass it with static ``forward`` and ``backward``::

        class Exp(autograd.Function):
            @staticmethod
            def forward(ctx, x):                   # Tensors in, Tensors out; grad mode is off here
                out = x.exp()
                ctx.save_for_backward(out)
                return out
            @staticmethod
            def backward(ctx, grad):
                out, = ctx.saved_tensors
                return grad * out

    or with ``forward(*args)`` and a separate ``setup_context(ctx, inputs, output)``.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._backward_cls = type(cls.__name__ + "Backward", (BackwardFunction,), {"_forward_cls": cls})

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define a static forward()")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a Function subclass must define a static backward() to be differentiated")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError

    @staticmethod
    def jvp(ctx, *tangents):
        """Forward mode (optional): the outputs' tangents from one tangent per forward argument (None
        where it has none), with the ``ctx`` that forward filled in."""
        raise NotImplementedError("a Function subclass must define a static jvp() to be used with forward mode AD")

    @classmethod
    def apply(cls, *args, **kwargs):
        if jvp_hook is not None:  # forward-mode AD: the primals through apply, then the Function's own jvp
            return _function_dual_apply(cls, args, kwargs)
        return cls._apply(cls._backward_cls(len(args)), args, kwargs)

    @classmethod
    def _apply(cls, ctx, args, kwargs):
        tensors = [a for a in args if isinstance(a, Tensor)]
        if tensors:
            ctx.backend = tensors[0]._backend
        recording = is_grad_enabled()
        for t in tensors:
            if t._view is not None and recording:
                t._refresh_view()
        needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        record = recording and True in needs
        ctx.needs_input_grad = needs
        with no_grad():
            if cls.setup_context is Function.setup_context:
                output = cls.forward(ctx, *args, **kwargs)
            else:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
        single = not isinstance(output, tuple)
        outputs = (output,) if single else output
        if not record:
            return output
        if ctx.backend is None:
            ctx.backend = next(o._backend for o in outputs if isinstance(o, Tensor))
        ctx._link(args)
        ctx.num_outputs = len(outputs)
        ctx.output_meta = tuple((o.array.shape, o.array.dtype) if isinstance(o, Tensor) else ((), None)
                                for o in outputs)
        results = tuple(_attach(ctx, nr, o, args) for nr, o in enumerate(outputs))
        ctx._pack(args, results)
        return results[0] if single else results


def _function_dual_apply(cls, args, kwargs):
    """A user's Function while a dual level is open. As in PyTorch, its forward sees no tangents, and
    one that gets a tangent must define ``jvp``; ``ctx`` is the one its forward (or setup_context) filled."""
    from .forward_ad import _level
    tangents = [_tangent(a, _level) if isinstance(a, Tensor) else None for a in args]
    global jvp_hook
    hook, jvp_hook = jvp_hook, None
    try:
        ctx = cls._backward_cls(len(args))
        if all(t is None for t in tangents):
            return cls._apply(ctx, args, kwargs)
        if cls.jvp is Function.jvp:
            raise NotImplementedError(
                f"{cls.__name__}: forward mode AD reached a custom autograd.Function without a jvp; define a "
                f"static jvp(ctx, *tangents) returning the outputs' tangents (or use it outside forward_ad)")
        out = cls._apply(ctx, args, kwargs)
        result = cls.jvp(ctx, *tangents)
    finally:
        jvp_hook = hook
    outputs = out if isinstance(out, tuple) else (out,)
    for y, t in zip(outputs, result if isinstance(result, tuple) else (result,)):
        if isinstance(y, Tensor) and t is not None and dtypes.is_floating(y.array.dtype) \
                and not any(y is a for a in args):  # an input handed back as it is keeps its own tangent
            y._tangent = (_level, _fit(t, y))
    return out


def _attach(ctx, nr, output, args):
    """Make ``output`` (returned by a user's forward) an output of ``ctx`` in the graph."""
    if not isinstance(output, Tensor):
        return output
    if any(output is t for t in ctx.non_differentiable):
        return output
    if any(output is t for t in ctx.dirty_tensors):  # changed in place: the input itself takes the new history
        output._version[0] += 1
        output.grad_fn, output._requires_grad, output._output_nr = ctx, True, nr
        return output
    result = Tensor._make(output.array, output._backend, True, ctx)
    result._output_nr = nr
    if any(output is a for a in args) or output.grad_fn is not None or output._view is not None:
        result._version = output._version  # the same memory as an input: one version counter
    return result


def once_differentiable(backward):
    """Decorator for a Function's backward that is not itself differentiable: it runs with grad
    mode off, and with ``create_graph=True`` its results carry no history."""
    def wrapper(ctx, *grads):
        with no_grad():
            return backward(ctx, *grads)
    wrapper.__name__, wrapper.__doc__ = backward.__name__, backward.__doc__
    return wrapper


# --- leaves ----------------------------------------------------------------------------------------

class AccumulateGrad:
    """The graph node of a leaf tensor that requires grad: gradients arriving here go into ``.grad``."""

    __slots__ = ("variable", "__weakref__")
    next_functions = ()
    num_outputs = 1

    def __init__(self, variable):
        self.variable = variable

    @property
    def _hooks(self):  # a leaf's hooks live on the tensor: this node may be made again
        return self.variable._hooks

    def register_prehook(self, fn):
        """``fn(grad_outputs)`` runs before the gradient is accumulated into ``.grad``; may replace it."""
        return _add_hook(self._hook_table().pre, fn)

    def register_hook(self, fn):
        """``fn((), grad_outputs)`` runs after the gradient was accumulated into ``.grad``."""
        return _add_hook(self._hook_table().post, fn)

    def _hook_table(self):
        variable = self.variable
        if variable._hooks is None:
            variable._hooks = _Hooks()
        return variable._hooks

    def name(self):
        return "torch::autograd::AccumulateGrad"

    def accumulate(self, grad, create_graph, exclusive=False):
        var = self.variable
        with _accumulate_lock:  # two threads' backward passes into one leaf must not lose a sum
            if create_graph:  # keep the graph of the gradient so it can be differentiated again
                var._grad = grad if var._grad is None else var._grad + grad
            elif var._grad is None:
                # .grad must own its memory (optimizers and users change it in place), so the array is
                # taken as is only when the engine made it for this leaf alone; a view (sum's broadcast),
                # a gradient shared with another leaf (x + y) or the caller's own buffer is copied
                array = grad.array if exclusive else grad.array.copy()
                var._grad = Tensor._make(array, grad._backend)
            else:  # out of place: the old array may be shared with another leaf's .grad
                with var._grad._backend.errstate():  # on the leaf's device
                    var._grad.array = var._grad._backend.asarray(var._grad.array + grad.array)

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _describe(inputs):
    return ", ".join(f"{tuple(x.shape)} {x.dtype} on {x.device}" for x in inputs if isinstance(x, Tensor))


def _op_name(cls, attrs):
    """The name errors use: the op's, or for a generic op (comparisons, logic) the array function's."""
    return attrs.get("fn") if isinstance(attrs.get("fn"), str) else cls.op


def _device_error(op, inputs):
    devices = sorted({str(x.device) for x in inputs if isinstance(x, Tensor)})
    return RuntimeError(
        f"{op}: expected all tensors on the same device, but got {' and '.join(devices)} "
        f"(inputs: {_describe(inputs)}). Move them first, e.g. x.to('{devices[-1]}').")


def _shape_error(op, hint, inputs, error):
    """NumPy's ValueError, said in the op's words; the broadcasting hint only where it is one."""
    text = str(error)
    if "broadcast" not in text:
        hint = ""
    return RuntimeError(f"{op}: the inputs do not fit together (inputs: {_describe(inputs)}): {text}.{hint}")


from . import dtypes  # noqa: E402
from .grad_mode import enable_grad  # noqa: E402
from .tensor import Tensor, ones_like, zeros, zeros_like  # noqa: E402  (tensor.py needs this module first)
from .engine import run_backward  # noqa: E402
from .graph import _add_hook, _saved_hooks  # noqa: E402
