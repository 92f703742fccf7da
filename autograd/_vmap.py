"""Batching rules for ``autograd.func.vmap``.

While a batched vmap runs, ``f`` sees *proxies*: ordinary Tensors of the per-sample shape (sample 0's
values), so every shape check, dim normaliser and ``x.shape`` in user code reads per-sample shapes. The
level maps each proxy to the Tensor holding the whole batch (batch dim first). ``function.vmap_hook``
sees every ``Op.apply``: an op whose inputs hold no proxy runs as is; otherwise its batching rule runs
the op once on the batch (the per-sample attributes rewritten: dims shifted past the batch dim), or,
for an op without a rule, the fallback runs it per sample and stacks. The result is again a proxy.
The batch tensors are ordinary recorded Tensors, so gradients flow through the batched computation.

What cannot be batched this way makes vmap rerun ``f`` as a per-sample loop (``func.vmap``): reading
a proxy's values (``item``, ``bool``, ``numpy``, ``tolist``), ``requires_grad_``/``backward`` on one, a
differentiating transform (``grad``...) inside ``f``, and randomness other than "error".
"""

import contextlib
import threading

from . import function
from .ops import arithmetic, nn, pointwise, reduction, shape, unary, linalg
from .function import Op
from .tensor import Tensor


class Unbatchable(Exception):
    """Raised inside a batched run when only the per-sample loop gives the right answer."""


def _refuse(*args, **kwargs):
    raise Unbatchable()


class Metadata:
    """What a proxy's ``.array`` is: one sample's shape, dtype and strides, never its values (code that
    reads them, e.g. a function building its result straight from arrays, makes vmap use the loop)."""
    __slots__ = ("_array",)

    def __init__(self, array):
        self._array = array

    shape = property(lambda self: self._array.shape)
    dtype = property(lambda self: self._array.dtype)
    ndim = property(lambda self: self._array.ndim)
    size = property(lambda self: self._array.size)
    strides = property(lambda self: self._array.strides)
    itemsize = property(lambda self: self._array.itemsize)

    def __getattr__(self, name):
        raise Unbatchable()


for _name in ("__array__", "__getitem__", "__setitem__", "__iter__", "__len__", "__bool__", "__float__", "__int__",
              "__index__", "__neg__", "__abs__", "__invert__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__",
              "__ge__", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
              "__rtruediv__", "__floordiv__", "__mod__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__",
              "__and__", "__or__", "__xor__", "__array_ufunc__", "__array_function__", "__cuda_array_interface__",
              "__dlpack__"):
    setattr(Metadata, _name, _refuse)
Metadata.__hash__ = object.__hash__


class Proxy(Tensor):
    """A per-sample stand-in: its ``.array`` is a ``Metadata``; attribute writes (in-place ops, detach_,
    requires_grad_) are refused, so they make vmap use the loop."""
    __slots__ = ()
    array = property(lambda self: Metadata(_array_slot.__get__(self)))
    backward = _refuse

    def __setattr__(self, name, value):
        raise Unbatchable()

    def detach(self):
        for level in levels():
            full = level.full(self)
            if full is not None:
                return level.proxy(full.detach())
        raise Unbatchable()


_array_slot = Tensor.array  # the slot descriptor that holds a Tensor's own array


class Level:
    def __init__(self, size):
        self.size = size
        self.batch = {}  # id(proxy) -> (proxy, batch tensor); the proxy is kept alive so its id stays unique

    def proxy(self, full):
        p = full.select(0, 0)
        p._version = [0]  # its own counter: a refused in-place write must not mark the batch as modified
        p.__class__ = Proxy
        self.batch[id(p)] = (p, full)
        return p

    def full(self, x):
        entry = self.batch.get(id(x)) if isinstance(x, Tensor) else None
        return entry[1] if entry is not None and entry[0] is x else None


_state = threading.local()  # .levels: this thread's batched vmap (at most one: a nested vmap loops inside
#                             it); .busy: a rule is running, its own ops are not hooked
_lock = threading.Lock()
_running = 0  # batched vmaps running in all threads; the hook is installed while there is one


def levels():
    if not hasattr(_state, "levels"):
        _state.levels = []
    return _state.levels


@contextlib.contextmanager
def running(level):
    global _running
    with _lock:
        _running += 1
        function.vmap_hook = hook
    levels().append(level)
    try:
        yield
    finally:
        levels().pop()
        with _lock:
            _running -= 1
            if not _running:
                function.vmap_hook = None


def hook(cls, inputs, attrs):
    stack = levels()
    if not stack or getattr(_state, "busy", False):
        return None
    level = stack[-1]
    fulls = [level.full(x) for x in inputs]
    if all(f is None for f in fulls):
        return None
    _state.busy = True
    try:
        rule = RULES.get(cls)
        out = rule(cls, inputs, fulls, attrs) if rule is not None else None
        if out is None:
            out = _per_sample(cls, inputs, fulls, attrs, level.size)
        return tuple(level.proxy(o) for o in out) if isinstance(out, tuple) else level.proxy(out)
    finally:
        _state.busy = False


def _per_sample(cls, inputs, fulls, attrs, size):
    """The fallback, right for every op: apply it to each sample and stack."""
    from . import stack
    results = [cls.apply(*[x if f is None else f[b] for x, f in zip(inputs, fulls)], **attrs)
               for b in range(size)]
    if isinstance(results[0], tuple):
        return tuple(stack([r[k] for r in results]) for k in range(len(results[0])))
    return stack(results)


# --- the rules: each returns the whole batch's result (batch dim first), or None for the fallback -----------

def _elementwise(cls, inputs, fulls, attrs):
    """Right-align the per-sample shapes, then put the batch dim in front of the batched operands."""
    ndim = max(x.dim() for x in inputs if isinstance(x, Tensor))
    args = []
    for x, f in zip(inputs, fulls):
        if f is not None and x.dim() < ndim:
            f = f.reshape(f.shape[0], *[1] * (ndim - x.dim()), *x.shape)
        args.append(x if f is None else f)
    return cls.apply(*args, **attrs)


def _along_dims(cls, inputs, fulls, attrs):
    """Ops taking non-negative per-sample dims (``dim``/``dims``): every dim moves one to the right."""
    if any(isinstance(x, Tensor) and f is None for x, f in zip(inputs, fulls)):
        return None  # an unbatched tensor operand (take_along_dim's index...): the fallback
    attrs = dict(attrs)
    if "dims" in attrs and attrs["dims"] is None:  # None means all dims, the batch dim included: the fallback
        return None
    if "dims" in attrs:
        attrs["dims"] = tuple(d + 1 for d in attrs["dims"])
    if attrs.get("dim") is not None:
        attrs["dim"] = attrs["dim"] + 1
    elif "dim" in attrs:  # softmax of a 0-d sample (dim=None): the fallback
        return None
    return cls.apply(*fulls, **attrs)


def _matmul(cls, inputs, fulls, attrs):
    """A batched operand is a batch of matrices; 1-d samples become a row (x) or a column (y) first."""
    (x, y), (fx, fy) = inputs, fulls
    a = x if fx is None else fx
    b = y if fy is None else fy
    if x.dim() == 1:
        a = a.unsqueeze(-2)
    if y.dim() == 1:
        b = b.unsqueeze(-1)
    ndim = max(x.dim(), y.dim(), 2)  # per-sample dims once both are matrices
    if fx is not None and max(x.dim(), 2) < ndim:
        a = a.reshape(a.shape[0], *[1] * (ndim - max(x.dim(), 2)), *a.shape[1:])
    if fy is not None and max(y.dim(), 2) < ndim:
        b = b.reshape(b.shape[0], *[1] * (ndim - max(y.dim(), 2)), *b.shape[1:])
    if fx is None and fy is not None and a.dim() < b.dim():
        pass  # right-aligned broadcasting puts the batch dim in front
    out = cls.apply(a, b, **attrs)
    if fx is None and fy is None:
        return None
    if y.dim() == 1:
        out = out.squeeze(-1)
    if x.dim() == 1:
        out = out.squeeze(-1 if y.dim() == 1 else -2)
    return out


def _linear(cls, inputs, fulls, attrs):
    """linear maps the last dim, whatever leads it: a batched input needs nothing; a batched weight falls back."""
    if any(f is not None for f in fulls[1:]):
        return None
    return cls.apply(fulls[0], *inputs[1:], **attrs)


def _reshape(cls, inputs, fulls, attrs):
    return cls.apply(fulls[0], shape=(fulls[0].shape[0], *attrs["shape"]))


def _expand(cls, inputs, fulls, attrs):
    x, f = inputs[0], fulls[0]
    target = attrs["shape"]
    f = f.reshape(f.shape[0], *[1] * (len(target) - x.dim()), *x.shape)
    return cls.apply(f, shape=(f.shape[0], *target))


def _permute(cls, inputs, fulls, attrs):
    return cls.apply(fulls[0], dims=(0, *(d + 1 for d in attrs["dims"])))


def _getitem(cls, inputs, fulls, attrs):
    index = attrs["index"]
    index = index if isinstance(index, tuple) else (index,)
    if not all(i is None or i is Ellipsis or type(i) in (int, slice) for i in index):
        return None  # advanced indices (a bool is one too): the fallback
    return cls.apply(fulls[0], index=(slice(None), *index))


RULES = {}
ELEMENTWISE = [c for m in (arithmetic, unary, pointwise) for c in vars(m).values()
               if isinstance(c, type) and issubclass(c, Op) and c.__module__ == m.__name__
               and c is not arithmetic.NonDifferentiable]
RULES.update({c: _elementwise for c in ELEMENTWISE})
RULES.update({c: _along_dims for c in (reduction.Sum, reduction.Mean, reduction.Amax, reduction.Amin,
                                       reduction.Logsumexp, reduction.TakeAlongDim, nn.Softmax, nn.LogSoftmax)})
RULES.update({linalg.Matmul: _matmul, nn.Linear: _linear, shape.Reshape: _reshape, shape.Expand: _expand, shape.Permute: _permute,
              shape.GetItem: _getitem})


def ops_with_rules():
    """The names of the ops vmap batches in one call; every other op goes through the per-sample fallback."""
    return sorted(c.__name__ for c in RULES)
