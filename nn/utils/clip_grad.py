"""Gradient clipping: by total norm or by value, in place on ``.grad`` (torch.nn.utils.clip_grad).

Everything works on the gradients' backend arrays under the array namespace of their
device: the total norm stays a device array and scales the gradients from there, so
clipping never waits for the GPU unless ``error_if_nonfinite`` asks to look at the norm.
"""

import math

import numpy as np

import autograd as ag
from autograd.tensor import Tensor

_LOW_PRECISION = tuple(d for d in (ag.float16, ag.bfloat16) if d is not None)


def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _vector_norm(xp, array, norm_type):
    """The ``norm_type``-norm of all of ``array``'s elements as a 0-d array of its dtype."""
    dtype = array.dtype
    if dtype in _LOW_PRECISION:  # accumulate half precision in float32, as PyTorch does, and round once
        array = array.astype(ag.float32)
    magnitude = xp.abs(array)
    if math.isinf(norm_type):
        if magnitude.size == 0:
            raise RuntimeError("get_total_norm: the infinity norm of an empty gradient is undefined (a max "
                               "over nothing has no identity); leave empty tensors out of the parameters")
        norm = magnitude.max() if norm_type > 0 else magnitude.min()
    elif norm_type == 0:
        norm = (magnitude != 0).sum(dtype=magnitude.dtype)
    elif norm_type == 1:
        norm = magnitude.sum()
    elif norm_type == 2:
        norm = xp.sqrt((magnitude * magnitude).sum())
    else:
        norm = (magnitude ** norm_type).sum() ** (1.0 / norm_type)
    return xp.asarray(norm).astype(dtype, copy=False)  # NumPy reductions give scalars; a Tensor needs an array


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of ``tensors`` (each taken as one vector): a 0-d Tensor on the first one's device.

    ``foreach`` is accepted for PyTorch's signature; each tensor is one reduction either way.
    """
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return ag.tensor(0.0)
    first = tensors[0]._backend
    norms = []
    for t in tensors:
        norm = _vector_norm(t._backend.xp, t.array, norm_type)
        norms.append(norm if t._backend is first else first.from_backend(norm, t._backend))
    total = _vector_norm(first.xp, first.xp.stack(norms), norm_type)
    if error_if_nonfinite and not bool(first.xp.isfinite(total)):  # the one place this waits for the device
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                           f"non-finite ({float(total)}), so they can't be clipped; find the inf/nan gradient, or "
                           f"pass error_if_nonfinite=False to scale the gradients by the non-finite norm anyway")
    return Tensor._make(total, first)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale every ``.grad`` in place by ``min(1, max_norm / (total_norm + 1e-6))``.

    The factor is applied even when it is 1, so no host sync is needed to decide.
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    if isinstance(total_norm, Tensor):
        total, home = total_norm.array, total_norm._backend
    else:
        home = grads[0]._backend
        total = home.xp.asarray(total_norm, dtype=grads[0].dtype)
    coef = home.xp.minimum(float(max_norm) / (total + 1e-6), 1.0)
    on_device = {home: coef}
    with np.errstate(invalid="ignore"):  # an inf norm makes 0 * inf = nan: asked for, as in PyTorch
        for g in grads:
            if g._backend not in on_device:
                on_device[g._backend] = g._backend.from_backend(coef, home)
            g.array *= on_device[g._backend]  # .grad owns its array (AccumulateGrad copies shared ones)
            g._version[0] += 1


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradients of ``parameters`` (a Tensor or an iterable) so that their total norm is at most
    ``max_norm``; returns the total norm before clipping, a 0-d Tensor. Parameters without ``.grad`` are skipped.
    """
    parameters = _as_list(parameters)  # a generator would be used up by the first pass
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every ``.grad`` of ``parameters`` into ``[-clip_value, clip_value]``, in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            g = p.grad
            g._backend.xp.clip(g.array, -clip_value, clip_value, out=g.array)
            g._version[0] += 1
