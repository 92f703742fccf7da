"""ndgrad's autograd: Tensor, ops, the backward engine and grad modes, with PyTorch's names."""

import importlib.metadata as _metadata

import numpy as _np

from backends import Device, manual_seed

from . import dtypes
from .tensor import Tensor  # first: tensor.py pulls in ops, function and engine in the right order
from .dtypes import bfloat16, float16, float32, float64, get_default_dtype, int8, int16, int32, int64, \
    set_default_dtype, uint8
# PyTorch's short names. They shadow the builtins bool, float and int in this module (as sum, max, any
# ... do): code here that needs a builtin spells it builtins.float.
from .dtypes import bool_ as bool, float32 as float, int32 as int  # noqa: A001
from .dtypes import float64 as double, float16 as half, int64 as long, int16 as short
from .engine import run_backward as _run_backward
from .function import AccumulateGrad, Function, once_differentiable
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .ops import (abs, all, any, cat, clamp, cos, exp, flatten, linear, log, log_softmax, logsumexp, matmul, max,
                  maximum, mean, min, minimum, permute, reciprocal, relu, reshape, sigmoid, sin, softmax, sqrt, squeeze,
                  stack, sum, tan, tanh, transpose, unsqueeze, where, amax, amin, argmax, argmin)
from .tensor import (Size, Tensor, arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                     get_default_device, linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                     randperm, set_default_device, tensor, zeros, zeros_like)
from .random import (Generator, bernoulli, get_rng_state, initial_seed, multinomial, normal, seed,
                     set_rng_state)
from .ops.pointwise import *  # noqa: F401,F403,E402  (the op families' public functions, by their __all__)
from .ops.scans import *  # noqa: F401,F403,E402
from .ops.indexing import *  # noqa: F401,F403,E402
from .ops.linalg import *  # noqa: F401,F403,E402
from . import accelerator, backends, cuda  # noqa: F401  (autograd.backends, not the top-level package)

device = Device
dtype = _np.dtype  # every ndgrad dtype is a NumPy dtype: isinstance(x.dtype, ag.dtype)
clip = clamp


def _version():
    try:
        return _metadata.version("ndgrad")
    except _metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0.1.0"


__version__ = _version()


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate into the leaves' .grad the gradients of ``tensors`` (PyTorch's autograd.backward)."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    _run_backward(tensors, grad_tensors, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned, not stored in .grad."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    return _run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=inputs,
                         allow_unused=allow_unused)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


from . import functional, numerical, serialization, viz  # noqa: E402
from .serialization import load, save  # noqa: E402
from .numerical import gradcheck, gradgradcheck  # noqa: E402
from . import utils  # noqa: E402  (autograd.utils.data, as torch.utils.data)
from . import linalg, special  # noqa: E402,F401
from . import amp  # noqa: E402  (mixed precision: autograd.amp.autocast, autograd.amp.GradScaler)
from .amp import (autocast, clear_autocast_cache, get_autocast_dtype, is_autocast_cache_enabled,  # noqa: E402
                  is_autocast_enabled, set_autocast_cache_enabled)
from . import anomaly_mode, graph  # noqa: E402,F401  (hooks on the graph; anomaly mode)
from .anomaly_mode import (detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled,  # noqa: E402,F401
                           set_detect_anomaly)
from . import func  # noqa: E402,F401  (torch.func's transforms: grad, vjp, jvp, jacrev, jacfwd, hessian, vmap)
from . import forward_ad  # noqa: E402  (forward-mode AD: dual_level, make_dual, unpack_dual)
