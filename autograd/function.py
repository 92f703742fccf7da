"""Function: one op = a forward kernel on backend arrays + a backward rule on Tensors.

An op is a subclass with two methods side by side::

    class Mul(Function):
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)        # declare exactly what backward needs
            return x * y                       # arrays; ctx.xp is numpy or cupy
        def backward(ctx, grad):
            x, y = ctx.saved_tensors           # Tensors again, so backward is differentiable
            return grad * y, grad * x          # one gradient per input (or None)

``Mul.apply(a, b)`` runs the kernel and, when grad mode is on and an input requires
grad, records an instance of ``Mul`` as the output's ``grad_fn``. That instance is
both the ``ctx`` the two methods see and the graph node the engine walks. Inputs may
be Tensors or plain Python values (constants: no gradient, no edge).

Gradients do not have to match their input's shape: the engine sums broadcast
dimensions away (``sum_to_shape``) in one place, so ``Add.backward`` is ``grad, grad``.
"""

import re
import weakref

from .grad_mode import is_grad_enabled

registry = {}  # op name -> Function subclass
_OUTPUT = object()  # marks the op's own output among its saved tensors


class Function:
    __slots__ = ("next_functions", "needs_input_grad", "backend", "xp", "input_meta",
                 "_to_save", "_saved", "_retained", "__dict__", "__weakref__")

    op = None               # registry name, e.g. "mul"; backends override kernels by this name
    differentiable = True   # False: the output never requires grad (comparisons, argmax)
    moves_device = False    # True: the output lives on attrs["backend"] (to_device)
    shape_hint = ""         # appended to shape errors

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "op" not in cls.__dict__:
            cls.op = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
        registry[cls.op] = cls

    # --- the op's two halves --------------------------------------------------
    def forward(ctx, *arrays, **attrs):
        raise NotImplementedError

    def backward(ctx, *grads):
        raise NotImplementedError(f"{type(ctx).__name__} is not differentiable")

    # --- what the node keeps for backward -------------------------------------
    def save_for_backward(self, *arrays):
        """Keep these arrays (inputs, the output or helpers) for backward; nothing else is kept."""
        self._to_save = arrays

    @property
    def saved_tensors(self):
        saved = self._saved
        if saved is None:
            raise RuntimeError(
                f"{self.name}: trying to backward through the graph a second time (or to read saved "
                f"tensors after they were freed). The saved tensors were released when the first "
                f"backward ran; pass retain_graph=True to the first backward() or autograd.grad() "
                f"to backward through the same graph again.")
        tensors = []
        for tensor, array, counter, version in saved:
            if counter is not None and counter[0] != version:
                raise RuntimeError(
                    f"{self.name}: one of the tensors it saved for backward (shape {tuple(array.shape)}, "
                    f"dtype {array.dtype}) was modified by an in-place operation: it is at version "
                    f"{counter[0]}, expected {version}. Use the out-of-place op (x = x + y instead of "
                    f"x += y), or .clone() the tensor before changing it.")
            if tensor is _OUTPUT:  # this node's own output: rebuilt so double backward flows through self
                tensor = Tensor._make(array, self.backend, True, self)
            tensors.append(tensor)
        return tuple(tensors)

    @property
    def name(self):
        return type(self).__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name}>"

    # --- running an op ----------------------------------------------------------
    @classmethod
    def apply(cls, *inputs, **attrs):
        backend = None
        arrays, needs = [], []
        for x in inputs:
            if isinstance(x, Tensor):
                if backend is None:
                    backend = x._backend
                elif x._backend is not backend:
                    raise _device_error(_op_name(cls, attrs), inputs)
                arrays.append(x.array)
                needs.append(x._requires_grad)
            else:
                arrays.append(x)
                needs.append(False)
        ctx = object.__new__(cls)
        ctx.backend, ctx.xp = backend, backend.xp
        ctx._to_save = ()
        record = True in needs and cls.differentiable and is_grad_enabled()
        # forward may read needs_input_grad to keep less (mul keeps x only if y needs a gradient)
        ctx.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        try:
            with backend.errstate():  # inf and nan come silently, as in PyTorch, not as NumPy warnings
                out = backend.kernels.get(cls.op, cls.forward)(ctx, *arrays, **attrs)
        except ValueError as e:  # NumPy/CuPy shape errors: say which op and which shapes
            raise _shape_error(_op_name(cls, attrs), cls.shape_hint, inputs, e) from None
        if cls.moves_device:
            backend = attrs["backend"]
        if not record:
            return Tensor._make(out, backend)
        result = Tensor._make(out, backend, True, ctx)
        ctx._link(inputs, arrays, result)
        return result

    def _link(self, inputs, arrays, result):
        """Record the edges to the inputs' nodes and pack what forward asked to save."""
        edges, meta = [], []
        for x, need in zip(inputs, self.needs_input_grad):
            if need:
                edges.append(x.grad_fn or x._grad_node())
                meta.append((x.array.shape, x.array.dtype))
            else:
                edges.append(None)
                meta.append(None)
        self.next_functions, self.input_meta = tuple(edges), tuple(meta)
        self._retained = None
        saved = []
        for array in self._to_save:
            if array is result.array:  # the output: keep the array only, never the Tensor (no cycle)
                saved.append((_OUTPUT, array, result._version, result._version[0]))
                continue
            if not hasattr(array, "shape"):  # a Python scalar input
                saved.append((array, array, None, None))
                continue
            for x, a in zip(inputs, arrays):
                if a is array and isinstance(x, Tensor):
                    saved.append((x, array, x._version, x._version[0]))
                    break
            else:  # a helper array made by forward (a mask, indices): nobody else can change it
                saved.append((Tensor._make(array, self.backend), array, None, None))
        self._saved = tuple(saved)
        self._to_save = None

    def release(self):
        """Drop the saved tensors (done by the engine after this node's backward)."""
        self._saved = None


class AccumulateGrad:
    """The graph node of a leaf tensor that requires grad: gradients arriving here go into ``.grad``."""

    __slots__ = ("variable", "__weakref__")
    next_functions = ()
    name = "AccumulateGrad"

    def __init__(self, variable):
        self.variable = variable

    def accumulate(self, grad, create_graph, exclusive=False):
        var = self.variable
        if create_graph:  # keep the graph of the gradient so it can be differentiated again
            var.grad = grad if var.grad is None else var.grad + grad
        elif var.grad is None:
            # .grad must own its memory (optimizers and users change it in place), so the array is
            # taken as is only when the engine made it for this leaf alone; a view (sum's broadcast),
            # a gradient shared with another leaf (x + y) or the caller's own buffer is copied
            array = grad.array if exclusive else grad.array.copy()
            var.grad = Tensor._make(array, grad._backend)
        else:  # out of place: the old array may be shared with another leaf's .grad
            var.grad.array = var.grad.array + grad.array

    def __repr__(self):
        return "<AccumulateGrad>"


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
    return RuntimeError(f"{op}: the inputs do not fit together (inputs: {_describe(inputs)}): {error}.{hint}")


from .tensor import Tensor  # noqa: E402  (tensor.py needs Function first)
