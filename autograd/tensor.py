"""Tensor: a backend array + its device + autograd metadata. Operators delegate to ops."""

import math
import operator
import weakref

import numpy as np

from backends import Device, backend_of, get_backend

from . import dtypes
from .grad_mode import is_grad_enabled, no_grad
from .keywords import numpy_keywords


_new_object = object.__new__


class Tensor:
    __slots__ = ("array", "_backend", "_requires_grad", "_grad", "grad_fn", "_version", "_accumulator", "_view",
                 "_output_nr", "_hooks", "_tangent", "__weakref__")

    __array_priority__ = 1000  # so numpy_array * tensor calls Tensor.__rmul__

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        t = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        Tensor._setup(self, t.array, t._backend, t._requires_grad)

    @staticmethod
    def _make(array, backend, requires_grad=False, grad_fn=None):
        """Wrap a backend array without copying: the hot path of every op, so every slot is filled here,
        inline. ``array`` must be an ndarray of ``backend``: NumPy hands back scalars (numpy.float32)
        from reductions, indexing and ufuncs on 0-d arrays, and a scalar cannot be written into in
        place, so it is made a 0-d array here, where every array enters a Tensor."""
        if type(array) is not backend.array_type:
            array = backend.asarray(array)
        t = _new_object(Tensor)
        t.array = array
        t._backend = backend
        t._requires_grad = requires_grad
        t._grad = None
        t.grad_fn = grad_fn
        t._version = [0]
        t._accumulator = None
        t._view = None  # for a view: (base, how to make the view from the base, base.grad_fn then)
        t._output_nr = 0
        t._hooks = None  # a leaf's register_hook / register_post_accumulate_grad_hook hooks (function._Hooks)
        t._tangent = None  # forward-mode AD: (dual level, tangent Tensor), set by autograd.forward_ad
        return t

    def _setup(self, array, backend, requires_grad=False, grad_fn=None, version=None):
        """Fill in every slot of an object made otherwise (a subclass such as nn.Parameter, or
        ``Tensor(data)``), with the values ``_make`` gives."""
        made = Tensor._make(array, backend, requires_grad, grad_fn)
        for name in _SLOTS:
            setattr(self, name, getattr(made, name))
        if version is not None:
            self._version = version

    # --- properties -------------------------------------------------------------
    @property
    def shape(self):
        return Size(self.array.shape)

    def size(self, dim=None):
        if dim is None:
            return self.shape
        if self.array.ndim == 0:  # unlike reductions, size() of a 0-d tensor accepts no dim at all
            raise IndexError(f"size: Dimension specified as {dim} but tensor has no dimensions (shape ()); "
                             f"use .shape or .numel()")
        return self.array.shape[_ops.normalize_dim("size", dim, self.array.shape)]

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self):
        return self._backend.device

    @property
    def ndim(self):
        return self.array.ndim

    def dim(self):
        return self.array.ndim

    def numel(self):
        return int(self.array.size)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def is_cuda(self):
        return self._backend.device.type == "cuda"

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if self.grad_fn is not None:
            if not flag:
                raise RuntimeError("requires_grad: you can only change requires_grad of leaf tensors; "
                                   "use .detach() to get a tensor that does not require grad")
            return
        if flag and not dtypes.is_floating(self.array.dtype):
            raise RuntimeError(f"requires_grad: only tensors of floating point dtype can require gradients, "
                               f"but this tensor is {self.array.dtype} (shape {tuple(self.array.shape)}); "
                               f"convert it first, e.g. t.float().requires_grad_()")
        self._requires_grad = bool(flag)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:  # refuse now what would break the next backward or optimizer step
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: assigned grad expected to be a Tensor or None, but got {type(value).__name__}")
            problem = ("shape", tuple(value.shape), tuple(self.shape)) if value.array.shape != self.array.shape else \
                ("dtype", value.dtype, self.dtype) if value.array.dtype != self.array.dtype else \
                ("device", value.device, self.device) if value._backend is not self._backend else None
            if problem:
                what, got, want = problem
                raise RuntimeError(f"grad: attempting to assign a gradient of {what} {got} to a tensor of {what} "
                                   f"{want}; the gradient must have the tensor's shape, dtype and device "
                                   f"(convert it first, e.g. g.to(t.dtype) or g.reshape(t.shape))")
        self._grad = value

    @property
    def output_nr(self):
        return self._output_nr

    @property
    def _version_number(self):
        return self._version[0]

    @property
    def is_view(self):
        return self._view is not None

    @property
    def _base(self):
        return self._view[0] if self._view is not None else None

    @property
    def data(self):
        """This tensor's memory, cut from the graph. Unlike detach(), in-place changes made through
        ``.data`` are hidden from autograd (its own version counter), as in PyTorch."""
        return Tensor._make(self.array, self._backend)

    @data.setter
    def data(self, other):
        self._backend = other._backend if isinstance(other, Tensor) else self._backend
        self.array = other.array if isinstance(other, Tensor) else self._backend.asarray(other)

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self):
        if self.ndim == 1:
            raise RuntimeError(f"mT: tensor.mT is only supported on matrices or batches of matrices, got a 1-D tensor "
                               f"of shape {tuple(self.shape)}; unsqueeze it first, e.g. x[None].mT")
        return self.transpose(-2, -1) if self.ndim else self

    # --- autograd -----------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        if inputs is not None:
            raise NotImplementedError("backward(inputs=...): use autograd.grad(outputs, inputs) instead")
        run_backward([self], [gradient], retain_graph, create_graph)

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if self.grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("retain_grad: can't retain_grad on a tensor that has requires_grad=False")
            return
        node = self.grad_fn
        node._retained = {**(node._retained or {}), self._output_nr: weakref.ref(self)}

    @property
    def retains_grad(self):
        retained = self.grad_fn._retained if self.grad_fn is not None else None
        ref = retained.get(self._output_nr) if retained else None
        return ref is not None and ref() is self

    def register_hook(self, hook):
        """``hook(grad)`` runs when this tensor's gradient has been computed; a tensor it returns is used
        in place of the gradient (for a leaf, before it is accumulated into ``.grad``). Returns a handle
        whose ``remove()`` takes the hook out."""
        if not self._requires_grad:
            raise RuntimeError(f"register_hook: cannot register a hook on a tensor that doesn't require gradient "
                               f"(shape {tuple(self.shape)}); call .requires_grad_() on it (or on the leaves it "
                               f"is computed from) first")
        table = self._grad_node()._hook_table()  # a leaf's: its own (kept on the tensor), as AccumulateGrad's
        return _add_hook(table.tensor.setdefault(self._output_nr, {}), hook)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor)`` runs on a leaf after backward has accumulated its gradient into ``.grad``
        (optimizers step there, parameter by parameter). Returns a removable handle."""
        if not self._requires_grad:
            raise RuntimeError(f"register_post_accumulate_grad_hook: cannot register a hook on a tensor that "
                               f"doesn't require gradient (shape {tuple(self.shape)}); call .requires_grad_() first")
        if self.grad_fn is not None:
            raise RuntimeError(f"register_post_accumulate_grad_hook: post accumulate grad hooks cannot be registered "
                               f"on non-leaf tensors (this one has grad_fn={self.grad_fn.name()}); use "
                               f"register_hook on it instead")
        return _add_hook(self._grad_node()._hook_table().post_accumulate, hook)

    def _refresh_view(self):
        """A view whose base's history was rewritten since it was made (an in-place op through
        another view, or on the base) takes its history from the base again, as PyTorch does."""
        base, make, node = self._view
        if base.grad_fn is not node:
            fresh = make(base)
            self.grad_fn, self._requires_grad, self._output_nr = fresh.grad_fn, fresh._requires_grad, 0
            self._view = (base, make, base.grad_fn)

    def _grad_node(self):
        """The node gradients for this tensor flow into: its grad_fn, or the leaf's AccumulateGrad."""
        if self.grad_fn is not None:
            return self.grad_fn
        node = self._accumulator() if self._accumulator is not None else None
        if node is None:  # weak from here, strong from the graph: no cycle through the leaf
            node = AccumulateGrad(self)
            self._accumulator = weakref.ref(node)
        return node

    def detach(self):
        t = Tensor._make(self.array, self._backend)
        t._version = self._version  # same memory, same version counter
        return t

    # --- pickling and copying: the data, requires_grad and .grad; never the graph ----------------------
    def __reduce_ex__(self, protocol):
        # a non-leaf comes back as a leaf that requires grad (PyTorch does the same)
        return _rebuild, (type(self), self._backend.to_numpy(self.array), str(self.device), self._requires_grad,
                          self._grad)

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError("deepcopy: only tensors created explicitly by the user (graph leaves) support the "
                               "deepcopy protocol; copy a non-leaf with t.detach().clone() (and "
                               ".requires_grad_() if it should be a new leaf)")
        copy = _new(type(self), self.array.copy(), self._backend, self._requires_grad)
        memo[id(self)] = copy
        if self._grad is not None:
            copy._grad = self._grad.__deepcopy__(memo)
        return copy

    def __copy__(self):
        """A new leaf sharing this tensor's memory and version counter; .grad is not shared."""
        copy = _new(type(self), self.array, self._backend, self._requires_grad)
        copy._version = self._version
        return copy

    def detach_(self):
        self.grad_fn, self._requires_grad = None, False
        return self

    def clone(self):
        return _ops.clone(self)

    # --- conversion and devices ---------------------------------------------------------
    def numpy(self):
        if self._requires_grad and is_grad_enabled():
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; use t.detach().numpy()")
        return self._backend.to_numpy(self.array)

    def __array__(self, dtype=None, copy=None):
        array = self._backend.to_numpy(self.array)
        return array if dtype is None else array.astype(dtype, copy=False)

    def item(self):
        if self.array.size != 1:
            raise RuntimeError(f"item: a tensor with {self.array.size} elements (shape {tuple(self.shape)}) cannot "
                               f"be converted to a Python scalar; only one-element tensors can")
        return self._backend.to_numpy(self.array).reshape(()).item()

    def tolist(self):
        return self._backend.to_numpy(self.array).tolist()

    def to(self, *args, dtype=None, device=None, copy=False):
        device, dtype = parse_to_args(args, device, dtype)
        result = self
        if device is not None and get_backend(device) is not self._backend:
            result = _ops.to_device(result, get_backend(device))
        if dtype is not None and dtypes.to_dtype(dtype) != result.array.dtype:
            result = _ops.cast(result, dtypes.to_dtype(dtype))
        if copy and result is self:
            result = self.clone()
        return result

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to(Device("cuda", device) if isinstance(device, int) else device or "cuda")

    def type_as(self, other):
        return self.to(other.dtype)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool_)

    def is_floating_point(self):
        return dtypes.is_floating(self.array.dtype)

    def type(self, dtype=None, non_blocking=False):
        """No argument: PyTorch's type string ('torch.FloatTensor', 'torch.cuda.LongTensor' ...). With a
        dtype or such a string: this tensor converted to it (and, for a string, moved to its device)."""
        if dtype is None:
            name = dtypes.TYPE_NAMES.get(self.array.dtype, str(self.array.dtype))
            return f"torch.cuda.{name}" if self.is_cuda else f"torch.{name}"
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            device, dtype = _parse_type_string(dtype)
            return self.to(device=device, dtype=dtype)
        return self.to(dtype)

    # new_*: a new tensor with this one's dtype and device unless told otherwise
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return ones(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return empty(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    # --- random fills, in place (autograd/random.py) ----------------------------------------------
    def uniform_(self, a=0.0, b=1.0, *, generator=None): return _random.uniform_(self, a, b, generator)
    def normal_(self, mean=0.0, std=1.0, *, generator=None): return _random.normal_(self, mean, std, generator)
    def exponential_(self, lambd=1.0, *, generator=None): return _random.exponential_(self, lambd, generator)
    def bernoulli_(self, p=0.5, *, generator=None): return _random.bernoulli_(self, p, generator)

    def random_(self, *bounds, to=None, generator=None):
        """random_(to): integers in [0, to); random_(from, to); random_(): [0, 2**mantissa] for floats,
        the dtype's whole non-negative range for integers."""
        if len(bounds) == 2:
            low, high = bounds
        elif len(bounds) == 1:
            low, high = (0, bounds[0]) if to is None else (bounds[0], to)
        else:
            low, high = 0, to
        return _random.random_(self, low, high, generator)

    def bernoulli(self, p=None, *, generator=None): return _random.bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        return _random.multinomial(self, num_samples, replacement, generator=generator)

    # --- Python protocol --------------------------------------------------------------
    def __len__(self):
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"bool: a tensor with {self.array.size} elements is ambiguous as a truth value; "
                               f"use .any() or .all()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.array.dtype.kind not in "iu" or self.array.size != 1:
            raise TypeError("only one-element integer tensors can be used as an index")
        return int(self.item())

    def __hash__(self):
        return id(self)

    def __repr__(self):
        array = self._backend.to_numpy(self.array)
        if array.dtype.kind == "V":  # bfloat16 (ml_dtypes): printed through float32, which holds it exactly
            array = array.astype(np.float32)
        prefix = "tensor("
        if array.size == 0:
            body = f"[], size={tuple(array.shape)}"
        else:
            body = np.array2string(array, separator=", ", prefix=prefix, threshold=1000, **_float_format(array))
        extras = []
        if self._backend.device.type != "cpu":
            extras.append(f"device='{self._backend.device}'")
        if self.array.dtype not in (dtypes.default_float(), dtypes.int64, dtypes.bool_):
            extras.append(f"dtype={self.array.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return prefix + ", ".join([body] + extras) + ")"

    def __format__(self, format_spec):
        # PyTorch formats a 0-d tensor as its number ('{:.2f}', f"{loss:>7f}"); others only without a spec
        if self.array.ndim == 0:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    # --- arithmetic (the ops live in autograd/ops) -------------------------------------------
    def __add__(self, other): return _ops.add(self, other)
    def __radd__(self, other): return _ops.add(other, self)
    def __sub__(self, other): return _ops.sub(self, other)
    def __rsub__(self, other): return _ops.sub(other, self)
    def __mul__(self, other): return _ops.mul(self, other)
    def __rmul__(self, other): return _ops.mul(other, self)
    def __truediv__(self, other): return _ops.div(self, other)
    def __rtruediv__(self, other): return _ops.div(other, self)
    def __pow__(self, other): return _ops.pow(self, other)
    def __rpow__(self, other): return _ops.pow(other, self)
    def __matmul__(self, other): return _ops.matmul(self, other)
    def __rmatmul__(self, other): return _ops.matmul(other, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.abs(self)

    def __eq__(self, other): return _ops.compare("equal", self, other)
    def __ne__(self, other): return _ops.compare("not_equal", self, other)
    def __lt__(self, other): return _ops.compare("less", self, other)
    def __le__(self, other): return _ops.compare("less_equal", self, other)
    def __gt__(self, other): return _ops.compare("greater", self, other)
    def __ge__(self, other): return _ops.compare("greater_equal", self, other)

    def __and__(self, other): return _ops.logical("logical_and", *_ops.operands(self, other))
    def __or__(self, other): return _ops.logical("logical_or", *_ops.operands(self, other))
    def __xor__(self, other): return _ops.logical("logical_xor", *_ops.operands(self, other))
    def __invert__(self): return _ops.logical("logical_not", self)

    def __getitem__(self, index): return _ops.getitem(self, index)

    def __setitem__(self, index, value):
        _ops.setitem_(self, index, value)

    # in place: the array changes, the version counter says so
    def __iadd__(self, other): return self.add_(other)
    def __isub__(self, other): return self.sub_(other)
    def __imul__(self, other): return self.mul_(other)
    def __itruediv__(self, other): return self.div_(other)

    def add_(self, other, alpha=1):
        return _ops.apply_inplace(self, _ops.add, other if alpha == 1 else other * alpha, "add_")

    def sub_(self, other, alpha=1):
        return _ops.apply_inplace(self, _ops.sub, other if alpha == 1 else other * alpha, "sub_")

    def mul_(self, other):
        return _ops.apply_inplace(self, _ops.mul, other, "mul_")

    def div_(self, other):
        return _ops.apply_inplace(self, _ops.div, other, "div_")

    def zero_(self):
        return _ops.fill(self, 0, "zero_")

    def fill_(self, value):
        return _ops.fill(self, value, "fill_")

    def copy_(self, src):
        if isinstance(src, Tensor) and src._backend is not self._backend:
            src = src.to(self.device)
        return _ops.fill(self, src, "copy_")

    # --- methods that mirror functions in autograd.ops ---------------------------------------------
    def add(self, other, alpha=1): return _ops.add(self, other if alpha == 1 else other * alpha)
    def sub(self, other, alpha=1): return _ops.sub(self, other if alpha == 1 else other * alpha)
    def mul(self, other): return _ops.mul(self, other)
    def div(self, other): return _ops.div(self, other)
    def pow(self, exponent): return _ops.pow(self, exponent)
    def neg(self): return _ops.neg(self)
    def matmul(self, other): return _ops.matmul(self, other)
    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)
    def sin(self): return _ops.sin(self)
    def cos(self): return _ops.cos(self)
    def tan(self): return _ops.tan(self)
    def tanh(self): return _ops.tanh(self)
    def sigmoid(self): return _ops.sigmoid(self)
    def relu(self): return _ops.relu(self)
    def abs(self): return _ops.abs(self)
    def clamp(self, min=None, max=None): return _ops.clamp(self, min, max)
    clip = clamp
    def maximum(self, other): return _ops.maximum(self, other)
    def minimum(self, other): return _ops.minimum(self, other)
    def sum(self, dim=None, keepdim=False, dtype=None): return _ops.sum(self, dim, keepdim, dtype)
    def mean(self, dim=None, keepdim=False): return _ops.mean(self, dim, keepdim)
    def max(self, dim=None, keepdim=False): return _ops.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return _ops.min(self, dim, keepdim)
    def amax(self, dim=None, keepdim=False): return _ops.amax(self, dim, keepdim)
    def amin(self, dim=None, keepdim=False): return _ops.amin(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return _ops.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _ops.argmin(self, dim, keepdim)
    def logsumexp(self, dim, keepdim=False): return _ops.logsumexp(self, dim, keepdim)
    def softmax(self, dim): return _ops.softmax(self, dim)
    def log_softmax(self, dim): return _ops.log_softmax(self, dim)
    def reshape(self, *shape): return _ops.reshape(self, *shape)
    def view(self, *shape): return _ops.view(self, *shape)
    def select(self, dim, index): return _ops.select(self, dim, index)
    def narrow(self, dim, start, length): return _ops.narrow(self, dim, start, length)
    def view_as(self, other): return _ops.view(self, other.shape)
    def reshape_as(self, other): return _ops.reshape(self, other.shape)
    def transpose(self, dim0, dim1): return _ops.transpose(self, dim0, dim1)
    def t(self): return _ops.t(self)
    def permute(self, *dims): return _ops.permute(self, *dims)
    def expand(self, *shape): return _ops.expand(self, *shape)
    def expand_as(self, other): return _ops.expand(self, other.shape)
    def broadcast_to(self, shape): return _ops.expand(self, shape)
    def sum_to_shape(self, shape): return _ops.sum_to_shape(self, shape)
    def squeeze(self, dim=None): return _ops.squeeze(self, dim)
    def unsqueeze(self, dim): return _ops.unsqueeze(self, dim)
    def flatten(self, start_dim=0, end_dim=-1): return _ops.flatten(self, start_dim, end_dim)
    def contiguous(self): return self
    def where(self, condition, other): return _ops.where(condition, self, other)
    def any(self, dim=None, keepdim=False): return _ops.any(self, dim, keepdim)
    def all(self, dim=None, keepdim=False): return _ops.all(self, dim, keepdim)
    def eq(self, other): return self == other
    def ne(self, other): return self != other
    def lt(self, other): return self < other
    def le(self, other): return self <= other
    def gt(self, other): return self > other
    def ge(self, other): return self >= other


# NumPy's axis= and keepdims= where PyTorch takes them; the functions in autograd.ops wear the same decorator
for _name in ("sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "any", "all", "logsumexp",
              "softmax", "log_softmax", "squeeze", "unsqueeze"):
    setattr(Tensor, _name, numpy_keywords(getattr(Tensor, _name)))


def _float_format(array):
    """PyTorch's look: ``1.`` for whole numbers, else ``1.5000``; e-notation for wide ranges."""
    if array.dtype.kind != "f":
        return {}
    values = np.abs(array[np.isfinite(array) & (array != 0)].astype(np.float64))
    if values.size == 0:
        return {}
    if values.max() > 1e8 or values.max() / values.min() > 1e3:
        width = max(len(f"{v:.4e}") for v in array[np.isfinite(array)].ravel())
        return {"formatter": {"float_kind": lambda v: f"{v:.4e}".rjust(width)}}
    if np.all(values == np.round(values)):
        return {}  # NumPy prints whole floats as 1., 2.
    return {"precision": 4, "floatmode": "fixed"}


def parse_to_args(args, device=None, dtype=None):
    """(device, dtype) from ``.to``'s positional forms: ``to("cuda")``, ``to(ag.float64)``, ``to(tensor)``."""
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, (str, Device)):
            try:
                device = Device(a)
            except ValueError:  # a dtype name such as "float64"
                dtype = a
        else:
            dtype = a
    return device, dtype


def _parse_type_string(name):
    """(device, dtype) of 'torch.FloatTensor', 'torch.cuda.LongTensor' (or 'autograd.' ...), for Tensor.type."""
    prefix, _, short = name.rpartition(".")
    dtype = {v: k for k, v in dtypes.TYPE_NAMES.items()}.get(short)
    if dtype is None or prefix not in ("torch", "torch.cuda", "autograd", "autograd.cuda"):
        raise ValueError(f"type: invalid type {name!r}; use a dtype (ag.float64) or a type string such as "
                         f"'torch.DoubleTensor' or 'torch.cuda.FloatTensor'")
    return ("cuda" if prefix.endswith("cuda") else "cpu"), dtype


def _new(cls, array, backend, requires_grad):
    """A leaf of class ``cls`` (Tensor or a subclass such as nn.Parameter) around ``array``."""
    t = object.__new__(cls)
    t._setup(array, backend, requires_grad)
    return t


def _rebuild(cls, array, device, requires_grad, grad):
    backend = get_backend(device)
    t = _new(cls, backend.asarray(array), backend, requires_grad)
    t._grad = grad
    return t


class Size(tuple):
    """A shape, printed as PyTorch prints one."""
    __slots__ = ()

    def __repr__(self):
        return f"Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


# --- factories ----------------------------------------------------------------------------------

_default_device = "cpu"  # a string: get_backend finds it without parsing


def set_default_device(device):
    """The device factories use when not given one (torch.set_default_device); None means the CPU."""
    global _default_device
    _default_device = str(Device(device if device is not None else "cpu"))


def get_default_device():
    return Device(_default_device)


def _device_backend(device):
    """The backend of ``device``, or of the default device when it is None (every factory asks here)."""
    return get_backend(device if device is not None else _default_device)


def _float_dtype(dtype):
    """``dtype``, or the default float (set_default_dtype) when it is None."""
    return dtypes.to_dtype(dtype) or dtypes.default_float()


def _target(device, source):
    """Where data held by ``source`` (a backend; None for Python data) goes: to ``device`` if given;
    a GPU array stays on its GPU; anything else goes to the default device."""
    if device is None and source is not None and source.device.type != "cpu":
        return source
    return _device_backend(device)


def _infer_array(data, dtype):
    """A NumPy array for Python/NumPy data, with PyTorch's default dtypes."""
    try:
        array = np.asarray(data)
    except ValueError as e:  # NumPy's "inhomogeneous shape": say where the nesting is ragged
        _check_rectangular(data)
        raise ValueError(f"tensor: can't make a tensor from this data: {e}") from None
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype.kind == "f" and not isinstance(data, np.ndarray) and array.dtype != dtypes.default_float():
        if not _holds_numpy_floats(data):  # Python floats get the default float; NumPy data keeps its dtype
            return array.astype(dtypes.default_float())
    if array.dtype.kind in "iu" and not isinstance(data, np.ndarray) and array.dtype != dtypes.int64:
        if not _holds_numpy_floats(data):
            return array.astype(dtypes.int64)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor: can't make a tensor from data of dtype {array.dtype}; "
                        f"use numbers, nested lists of numbers, or numeric arrays")
    return array


def _check_rectangular(data):
    """Raise PyTorch's error for nested lists that are not rectangular, naming the first misfit.
    The shape expected is the one the first elements give, as in PyTorch."""
    shape, probe = [], data
    while _is_sequence(probe):
        shape.append(len(probe))
        if not len(probe):
            break
        probe = probe[0]

    def walk(seq, dim):
        if dim == len(shape):
            if _is_sequence(seq):
                raise ValueError(f"tensor: expected a number at dim {dim}, but got a sequence of length {len(seq)} "
                                 f"(the first elements give shape {tuple(shape)}); nested lists must be rectangular")
            return
        if not _is_sequence(seq):
            raise TypeError(f"tensor: expected a sequence of length {shape[dim]} at dim {dim}, but got "
                            f"{type(seq).__name__} {seq!r}; nested lists must be rectangular")
        if len(seq) != shape[dim]:
            raise ValueError(f"tensor: expected sequence of length {shape[dim]} at dim {dim} (got {len(seq)}); "
                             f"nested lists must be rectangular (shape {tuple(shape)} from the first elements): "
                             f"pad the short rows or make one tensor per row")
        for item in seq:
            walk(item, dim + 1)

    walk(data, 0)


def _is_sequence(x):
    return isinstance(x, (list, tuple)) or getattr(x, "ndim", 0) > 0


def _holds_numpy_floats(data):
    return isinstance(data, np.generic) or (
        isinstance(data, (list, tuple)) and len(data) > 0 and isinstance(data[0], (np.generic, np.ndarray)))


def _finish(array, backend, requires_grad):
    t = Tensor._make(array, backend)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (nested lists, scalars, arrays or a Tensor)."""
    dtype = dtypes.to_dtype(dtype)
    if isinstance(data, Tensor):
        backend = get_backend(device) if device is not None else data._backend
        array = data.to(device=backend.device, dtype=dtype).array
        with backend.errstate():  # a GPU backend's device is current: the copy lands on it
            array = backend.xp.array(array, copy=True)
        return _finish(array, backend, requires_grad)
    source = backend_of_or_none(data)
    backend = _target(device, source)
    if source is not None:  # already a NumPy or CuPy array: keeps its dtype
        with backend.errstate():
            array = data if dtype is None else data.astype(dtype)
            array = array.copy() if source is backend else backend.from_backend(array, source)
        return _finish(array, backend, requires_grad)
    array = _infer_array(data, dtype)
    array = np.array(array, copy=True) if backend.device.type == "cpu" else backend.asarray(array)
    return _finish(array, backend, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with ``data`` when dtype and device already fit."""
    dtype = dtypes.to_dtype(dtype)
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    source = backend_of_or_none(data)
    backend = _target(device, source)
    if source is None:
        data = _infer_array(data, dtype)
    elif source is not backend:
        data = backend.from_backend(data, source)
    return _finish(backend.asarray(data, dtype), backend, False)


def from_numpy(array):
    """A CPU tensor sharing memory with a NumPy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array, get_backend("cpu"))


def backend_of_or_none(obj):
    module = type(obj).__module__
    if module == "numpy" and isinstance(obj, np.ndarray) or module.startswith("cupy"):
        return backend_of(obj)
    return None


def shape_tuple(size, op="size"):
    """A shape from ``f(2, 3)`` or ``f((2, 3))`` style arguments, as a tuple of ints.

    As in PyTorch, a size is an int, a NumPy integer or a one-element integer Tensor: 2.5 or
    True is a TypeError, never silently truncated.
    """
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    if type(size) is tuple and all(type(s) is int for s in size):
        return size
    return tuple(_size_int(op, s, i) for i, s in enumerate(size))


def _size_int(op, s, position):
    try:
        if isinstance(s, bool):
            raise TypeError
        return operator.index(s)
    except TypeError:
        raise TypeError(f"{op}: size must be a tuple of ints, but found {s!r} of type {type(s).__name__} at "
                        f"position {position}; pass integers, e.g. int(n)") from None


def _new_shape(op, size):
    """The shape of a new tensor: ints, none negative."""
    shape = shape_tuple(size, op)
    for s in shape:
        if s < 0:
            raise RuntimeError(f"{op}: Trying to create tensor with negative dimension {s}: {list(shape)}; "
                               f"every size must be >= 0")
    return shape


def _create(fn_name, size, dtype, device, requires_grad):
    backend = _device_backend(device)
    with backend.errstate():  # factories allocate on the device current in the backend's context
        array = getattr(backend.xp, fn_name)(_new_shape(fn_name, size), dtype=_float_dtype(dtype))
    return _finish(array, backend, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _create("zeros", size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _create("ones", size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _create("empty", size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    backend = _device_backend(device)
    dtype = dtypes.to_dtype(dtype) or dtypes.scalar_dtype(fill_value)
    with backend.errstate():
        array = backend.xp.full(_new_shape("full", (size,)), fill_value, dtype=dtype)
    return _finish(array, backend, requires_grad)


def _like(t, dtype, device):
    return dtypes.to_dtype(dtype) or t.dtype, device or t.device


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return zeros(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return ones(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return empty(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return randn(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return rand(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (excluded) by ``step``, as ``torch.arange``: its length is
    ceil((end - start) / step), taken in float64 (for integer dtypes the bounds and step are
    truncated to integers first), and value i is start + i * step, computed in float64 and rounded
    once (PyTorch's vectorised kernel may differ in the last bit)."""
    if end is None:
        start, end = 0, start
    given = tuple(_python_number(v) for v in (start, end, step))
    is_int = all(isinstance(v, int) for v in given)
    dtype = dtypes.to_dtype(dtype) or (dtypes.int64 if is_int else dtypes.default_float())
    _check_range(*given)
    start, end, step = given
    if dtype.kind in "iu":
        start, end, step = int(start), int(end), int(step)
        if step == 0:
            raise ValueError(f"arange: step {given[2]} is 0 as an integer of dtype {dtype} (arange{given}); use a "
                             f"whole step, or a floating dtype")
    length = -((start - end) // step) if dtype.kind in "iu" else math.ceil((end - start) / step)
    backend = _device_backend(device)
    with backend.errstate():
        values = start + step * backend.xp.arange(length, dtype=dtypes.int64 if dtype.kind in "iu" else dtypes.float64)
        values = values.astype(dtype, copy=False)
    return _finish(values, backend, requires_grad)


def _python_number(v):
    """A Tensor or NumPy scalar as a Python number (what range arithmetic needs)."""
    return v.item() if isinstance(v, (Tensor, np.generic)) else v


def _check_range(start, end, step):
    if not all(math.isfinite(v) for v in (start, end, step)):
        raise RuntimeError(f"arange: unsupported range: {start} -> {end} (step {step}); the bounds and step must be "
                           f"finite")
    if step == 0:
        raise RuntimeError(f"arange: step must be nonzero (arange({start}, {end}, {step})); for a constant tensor "
                           f"use full()")
    if (step > 0 and end < start) or (step < 0 and end > start):
        raise RuntimeError(f"arange: upper bound and lower bound inconsistent with step sign: arange({start}, {end}, "
                           f"{step}) never reaches {end}; use a step of the other sign")


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    steps = _size_int("linspace", steps, 2)
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    backend = _device_backend(device)
    dtype = _float_dtype(dtype)
    with backend.errstate():
        array = backend.xp.linspace(start, end, steps).astype(dtype)
    return _finish(array, backend, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    n, m = _new_shape("eye", (n, n if m is None else m))
    backend = _device_backend(device)
    with backend.errstate():
        array = backend.xp.eye(n, m, dtype=_float_dtype(dtype))
    return _finish(array, backend, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    backend = _device_backend(device)
    return _finish(backend.rand(_new_shape("rand", size), _float_dtype(dtype)), backend, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    backend = _device_backend(device)
    return _finish(backend.randn(_new_shape("randn", size), _float_dtype(dtype)), backend, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    low, high = _size_int("randint", low, 0), _size_int("randint", high, 1)
    if low >= high:
        raise RuntimeError(f"randint: expects low to be less than high, but got low={low} >= high={high}; it draws "
                           f"from [low, high), so high must be at least low + 1")
    shape = _new_shape("randint", (size,))
    dtype = dtypes.to_dtype(dtype) or dtypes.int64
    backend = _device_backend(device)
    return _finish(backend.randint(low, high, shape, dtype), backend, requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0..n-1 from ``generator`` (an autograd.Generator) or the global
    CPU RNG; drawn on the host, then moved to ``device``."""
    rng = generator._rng if generator is not None else get_backend("cpu").generator
    perm = rng.permutation(int(n)).astype(dtypes.to_dtype(dtype) or dtypes.int64)
    backend = _device_backend(device)
    return _finish(perm if backend.device.type == "cpu" else backend.asarray(perm), backend, requires_grad)


_SLOTS = tuple(name for name in Tensor.__slots__ if name != "__weakref__")

from . import ops as _ops  # noqa: E402  (ops import Tensor)
from . import random as _random  # noqa: E402
from .engine import run_backward  # noqa: E402
from .function import AccumulateGrad  # noqa: E402
from .graph import _add_hook  # noqa: E402
