"""Autocast: PyTorch's automatic mixed precision for the forward pass.

Inside ``with autograd.autocast("cuda"):`` (float16) or ``autocast("cpu")`` (bfloat16), the ops that
gain from low precision (matmul, linear, convolutions, attention, recurrent layers) cast their
floating inputs to it, the ops that need float32's range cast them up to float32 (the losses; on
CUDA also softmax, exp, log, sums, layer and group norm), and a few ops that join tensors promote
them to the widest. Every other op runs in whatever dtypes it is given. The casts are ordinary
``cast`` nodes in the graph, so gradients reach each leaf in the leaf's own dtype.

The policy is keyed by op name (``autograd.function.registry``), per device type, after PyTorch's
op lists; only tensors on the autocast device, floating and not float64, are cast. Ops called with
an explicit ``dtype=`` keep it. The one hook is in ``Op.apply``: it reads ``function.autocast_hook``,
which is None (nothing to do) unless some thread is inside an enabled autocast region.

Public functions that check their arguments' dtypes before their op runs (``linear``: input and
weight must match) or that are compositions autocast would not see (the losses) are marked
``@autocast_entry`` where they are defined: their policy, by the function's name, applies to their
arguments first (``function.entry_hook``, also None outside a region), as PyTorch casts at dispatch.
"""

import functools
import threading
import warnings

from .. import dtypes, function
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor

__all__ = ["autocast", "custom_fwd", "custom_bwd", "is_autocast_enabled", "get_autocast_dtype",
           "is_autocast_cache_enabled", "set_autocast_cache_enabled", "clear_autocast_cache"]

LOWER, FP32, PROMOTE = "lower", "fp32", "promote"
MIXED = "mixed"  # norms: low-precision input with float32 parameters run in float32, the output in the input's dtype

# PyTorch's op lists (autocast op reference), by the names ndgrad's ops have or would have; names
# without an ndgrad op yet are kept so an op of that name picks its policy up when it lands
_MATMULS = ("matmul", "mm", "bmm", "mv", "addmm", "addmv", "addr", "addbmm", "baddbmm", "linear", "conv",
            "conv_transpose", "prelu", "attention_weights", "scaled_dot_product_attention")
_CELLS = ("rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell")
_CONVS = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
_NORMS = ("batch_norm", "instance_norm", "layer_norm", "group_norm")
_LOSSES = ("cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "loss_softplus", "mse_loss", "l1_loss",
           "smooth_l1_loss", "huber_loss", "kl_div", "poisson_nll_loss", "cosine_embedding_loss",
           "hinge_embedding_loss", "margin_ranking_loss", "multilabel_margin_loss", "soft_margin_loss",
           "triplet_margin_loss", "multi_margin_loss")
POLICIES = {
    "cuda": {
        **dict.fromkeys(_MATMULS + _CONVS + _CELLS + ("rnn_sequence", "lstm_sequence", "gru_sequence", "rnn_layer",
                                                      "lstm_layer", "gru_layer"), LOWER),
        **dict.fromkeys(_LOSSES + (
            "exp", "expm1", "log", "log1p", "log2", "log10", "pow", "reciprocal", "rsqrt", "acos", "asin", "cosh",
            "sinh", "tan", "erfinv", "softplus", "softmax", "log_softmax", "logsumexp", "sum", "prod", "cumsum",
            "cumprod", "norm", "dist", "cdist", "pdist", "renorm", "layer_norm", "group_norm"), FP32),
        **dict.fromkeys(("batch_norm", "instance_norm"), MIXED),
        **dict.fromkeys(("cat", "stack", "index_put", "addcmul", "addcdiv", "atan2", "cross", "dot", "tensordot",
                         "scatter_add", "index_copy"), PROMOTE),
    },
    "cpu": {  # PyTorch's CPU lists: softmax, exp, the norms ... stay in the input's dtype there
        **dict.fromkeys(_MATMULS + _CONVS + _CELLS + ("rnn_sequence", "lstm_sequence", "rnn_layer", "lstm_layer"),
                        LOWER),
        **dict.fromkeys(_LOSSES + ("binary_cross_entropy", "prod", "cdist", "trace", "inverse", "pinverse",
                                   "cholesky"), FP32),
        **dict.fromkeys(_NORMS, MIXED),
        **dict.fromkeys(("cat", "stack", "index_copy"), PROMOTE),
    },
}
_LISTED = frozenset(name for table in POLICIES.values() for name in table)
SUPPORTED_DTYPES = (dtypes.float16, dtypes.bfloat16)
_DEFAULT_DTYPES = {"cuda": dtypes.float16, "cpu": dtypes.bfloat16}

_state = threading.local()  # per thread, as PyTorch: .on {device_type: dtype}, .cache_enabled, .nesting, .cache
_lock = threading.Lock()
_regions = 0  # enabled autocast regions open in all threads: the hook is installed while there are any


def _on():
    on = getattr(_state, "on", None)
    if on is None:
        on = _state.on = {}
    return on


def _check_device_type(device_type):
    if device_type not in _DEFAULT_DTYPES:
        raise RuntimeError(f"autocast: unsupported device_type {device_type!r}; expected 'cpu' or 'cuda' (a device "
                           f"type, without an index)")


def is_autocast_enabled(device_type=None):
    """Whether autocast is on in this thread for ``device_type`` (None: "cuda", as PyTorch)."""
    device_type = "cuda" if device_type is None else device_type
    _check_device_type(device_type)
    return device_type in _on()


def get_autocast_dtype(device_type):
    """The dtype autocast casts to on ``device_type``: the innermost region's, else the default
    (float16 on cuda, bfloat16 on cpu)."""
    _check_device_type(device_type)
    dtype = _on().get(device_type)
    return dtype if dtype is not None else getattr(_state, "dtypes", {}).get(device_type, _DEFAULT_DTYPES[device_type])


def is_autocast_cache_enabled():
    return getattr(_state, "cache_enabled", True)


def set_autocast_cache_enabled(enabled):
    _state.cache_enabled = bool(enabled)


def clear_autocast_cache():
    """Drop the cached low-precision copies of the weights (done when the outermost region exits)."""
    _state.cache = {}


class autocast:
    """Context manager and decorator: the ops inside run in mixed precision on ``device_type``.

    ``dtype``: float16 or bfloat16 (default: float16 on "cuda", bfloat16 on "cpu"); ``enabled=False``
    turns autocast off inside (also inside an enclosing region); ``cache_enabled``: keep one cast of each
    weight (a leaf that requires grad) for the whole outermost region. Wrap the forward pass and the
    loss; call ``backward()`` outside: backward ops run in the dtypes their forward ops ran in."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"autocast: expected device_type of type str, got {type(device_type).__name__}: "
                             f"{device_type!r}; pass 'cuda' or 'cpu'")
        _check_device_type(device_type)
        self.device = device_type
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else dtypes.to_dtype(dtype)
        self._enabled = bool(enabled)
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)
        if self._enabled and self.fast_dtype not in SUPPORTED_DTYPES:
            warnings.warn(f"autocast on {device_type}: dtype {self.fast_dtype} is not supported, only float16 and "
                          f"bfloat16; autocast is disabled in this region", stacklevel=2)
            self._enabled = False

    def __enter__(self):
        global _regions
        on = _on()
        self._prev = (on.get(self.device), is_autocast_cache_enabled(), getattr(_state, "dtypes", {}))
        if self._enabled:
            on[self.device] = self.fast_dtype
        else:
            on.pop(self.device, None)
        _state.dtypes = {**self._prev[2], self.device: self.fast_dtype}  # what get_autocast_dtype says inside
        _state.cache_enabled = self._cache_enabled
        _state.nesting = getattr(_state, "nesting", 0) + 1
        if self._enabled:
            with _lock:
                _regions += 1
                if function.autocast_hook is None:
                    function.autocast_hook, function.entry_hook = cast_inputs, call_entry
        return self

    def __exit__(self, *exc):
        global _regions
        _state.nesting -= 1
        if _state.nesting == 0:
            clear_autocast_cache()
        dtype, _state.cache_enabled, _state.dtypes = self._prev
        on = _on()
        if dtype is None:
            on.pop(self.device, None)
        else:
            on[self.device] = dtype
        if self._enabled:
            with _lock:
                _regions -= 1
                if _regions == 0:
                    function.autocast_hook = function.entry_hook = None
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return fn(*args, **kwargs)
        return wrapper


# --- the hook: the inputs of one op, cast by its policy ------------------------------------------------------

def cast_inputs(cls, inputs, attrs):
    """Called by ``Op.apply`` while some autocast region is open: ``inputs`` cast per the op's policy
    for the inputs' device type in this thread (the same tuple when there is nothing to do)."""
    if cls.op not in _LISTED:  # most ops: no policy on any device
        return inputs
    dtype, policy = _policy(cls.op, inputs)
    if policy is None or policy == MIXED or attrs.get("dtype") is not None:  # an explicit dtype= is kept (PyTorch)
        return inputs
    if policy == LOWER:
        target = dtype
    elif policy == FP32:
        target = dtypes.float32
    else:  # the widest: the autocast dtype, or float32 if any input is float32 (or another low dtype)
        target = dtype
        for x in inputs:
            if _eligible(x) and x.dtype != dtype:
                target = dtypes.float32
    return tuple(_cast(x, target, policy == LOWER) if _eligible(x) and x.dtype != target else x for x in inputs)


def _policy(name, values):
    """(autocast dtype, policy) for op or function ``name`` on the device of the first Tensor in ``values``
    (looking into tuples: an LSTM's (h, c)); (None, None) when autocast is off there or has no policy."""
    on = getattr(_state, "on", None)
    if not on:
        return None, None
    device_type = next((t._backend.device.type for t in _tensors(values)), None)
    dtype = on.get(device_type)
    return (dtype, POLICIES[device_type].get(name)) if dtype is not None else (None, None)


def _tensors(values):
    for v in values:
        if isinstance(v, Tensor):
            yield v
        elif isinstance(v, (tuple, list)):
            yield from _tensors(v)


def _eligible(x):
    return isinstance(x, Tensor) and dtypes.is_floating(x.dtype) and x.dtype != dtypes.float64


def _cast(x, dtype, may_cache):
    """``x`` in ``dtype`` through the graph (a cast node); a weight's cast is made once per region, as
    PyTorch caches it (only while grad mode records, so a cached copy always carries its graph)."""
    if not (may_cache and x._requires_grad and x.grad_fn is None and x._view is None and is_autocast_cache_enabled()
            and is_grad_enabled()):
        return x.to(dtype)
    cache = getattr(_state, "cache", None)
    if cache is None:
        cache = _state.cache = {}
    key = (id(x), dtype)
    hit = cache.get(key)
    if hit is not None and hit[0] is x and hit[1] == x._version[0]:  # changed in place since: cast again
        return hit[2]
    out = x.to(dtype)
    cache[key] = (x, x._version[0], out)
    return out


# --- the public functions marked @autocast_entry: their arguments cast by the function's policy --------------------

def call_entry(name, fn, args, kwargs):
    """``fn(*args, **kwargs)`` with the policy of ``name`` applied to its arguments (Tensors, also in tuples)."""
    dtype, policy = _policy(name, (*args, *kwargs.values()))
    if policy == MIXED:  # PyTorch's norms take a low-precision input with float32 parameters as they are:
        x = args[0] if args else None  # here run in float32, the output rounded to the input's dtype
        if _eligible(x) and dtypes.is_low_precision(x.dtype) and any(
                _eligible(t) and t.dtype != x.dtype for t in _tensors((*args[1:], *kwargs.values()))):
            return fn(x.float(), *args[1:], **kwargs).to(x.dtype)
    elif policy is not None:
        target = dtype if policy == LOWER else dtypes.float32
        args = _cast_all(args, target, policy == LOWER)
        kwargs = {k: _cast_all(v, target, policy == LOWER) for k, v in kwargs.items()}
    return fn(*args, **kwargs)


def _cast_all(value, target, lower):
    if isinstance(value, Tensor):
        wanted = _eligible(value) and value.dtype != target and (lower or dtypes.is_low_precision(value.dtype))
        return _cast(value, target, lower) if wanted else value
    if isinstance(value, (tuple, list)):
        return type(value)(_cast_all(v, target, lower) for v in value)
    return value


# --- users' Functions: how autocast treats their forward and backward (PyTorch's custom_fwd/custom_bwd) ---------

def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """Decorator for a ``Function``'s ``forward(ctx, ...)``. ``cast_inputs=None``: forward runs under the
    caller's autocast state (which ``custom_bwd`` then restores for backward). ``cast_inputs=dtype``: inside
    an autocast region, forward runs with autocast off and its floating tensors on ``device_type`` cast
    to ``dtype``; outside a region nothing changes."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    _check_device_type(device_type)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        ctx = args[0]
        ctx._dtype = get_autocast_dtype(device_type)
        if cast_inputs is None:
            ctx._fwd_used_autocast = is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        ctx._fwd_used_autocast = False
        if not is_autocast_enabled(device_type):
            return fwd(*args, **kwargs)
        dtype = dtypes.to_dtype(cast_inputs)
        cast = functools.partial(_cast_user_value, device_type=device_type, dtype=dtype)
        with autocast(device_type, enabled=False):
            return fwd(*map(cast, args), **{k: cast(v) for k, v in kwargs.items()})
    return decorate_fwd


def custom_bwd(bwd=None, *, device_type):
    """Decorator for a ``Function``'s ``backward``: it runs with the autocast state its forward ran with."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    _check_device_type(device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        ctx = args[0]
        with autocast(device_type, dtype=ctx._dtype, enabled=ctx._fwd_used_autocast):
            return bwd(*args, **kwargs)
    return decorate_bwd


def _cast_user_value(value, device_type, dtype):
    if isinstance(value, Tensor):
        ok = dtypes.is_floating(value.dtype) and value._backend.device.type == device_type
        return value.to(dtype) if ok else value
    if isinstance(value, (tuple, list)):
        return type(value)(_cast_user_value(v, device_type, dtype) for v in value)
    return value
