"""Weight initialisation, in place and outside the graph, with PyTorch's ``torch.nn.init`` names.

Every function writes under ``no_grad`` (so a Parameter can be filled) and bumps the tensor's
version. Random numbers come from the tensor's device generator (``ag.manual_seed`` makes them
repeatable) or from ``generator=`` (an ``autograd.Generator``). PyTorch's exact numbers can't be
reproduced (another bit generator); the distributions, bounds and formulas are PyTorch's.
"""

import math
import warnings

import autograd as ag

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
           "sparse_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "sigmoid")


def calculate_gain(nonlinearity, param=None):
    """The gain PyTorch recommends for ``nonlinearity`` (it scales the standard deviation)."""
    if nonlinearity in _LINEAR:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4  # keeps the variance of SELU networks (PyTorch's choice, not the self-normalising 1)
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}; use one of {', '.join(_LINEAR)}, tanh, relu, "
                     f"leaky_relu or selu")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got "
                         f"shape {tuple(tensor.shape)})")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower() if isinstance(mode, str) else mode
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _no_elements(tensor):
    """PyTorch leaves a tensor with no elements as it is (with a warning): there is nothing to
    draw, and its fan may be 0 (nn.Linear(0, n))."""
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return True
    return False


# --- distributions -------------------------------------------------------------------------------------

def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill ``tensor`` with values drawn from U(a, b)."""
    with ag.no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill ``tensor`` with values drawn from N(mean, std**2)."""
    with ag.no_grad():
        return tensor.normal_(mean, std, generator=generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill ``tensor`` with N(mean, std**2) restricted to [a, b]: draws outside are drawn again
    (rejection sampling gives exactly the truncated distribution, on either backend)."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values may "
                      "be incorrect.", stacklevel=2)
    if a > b:
        raise ValueError(f"trunc_normal_: expected a <= b, got a={a}, b={b}")
    with ag.no_grad():
        values = ag.empty(tensor.numel(), dtype=tensor.dtype, device=tensor.device).normal_(mean, std,
                                                                                            generator=generator)
        flat = values.array
        xp = values._backend.xp
        for _ in range(10000):  # the acceptance rate is P(a <= X <= b); 10000 rounds leave nothing in practice
            outside = xp.nonzero((flat < a) | (flat > b))[0]
            if outside.size == 0:
                break
            redraw = ag.empty(int(outside.size), dtype=tensor.dtype, device=tensor.device)
            flat[outside] = redraw.normal_(mean, std, generator=generator).array
        xp.clip(flat, a, b, out=flat)
        return tensor.copy_(values.reshape(tensor.shape))


def constant_(tensor, val):
    with ag.no_grad():
        return tensor.fill_(val)


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


# --- structured ------------------------------------------------------------------------------------------

def eye_(tensor):
    """The identity in a 2-d tensor (ones on the diagonal of a rectangular one): preserves the
    inputs of a Linear layer."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: Only tensors with 2 dimensions are supported (got shape {tuple(tensor.shape)})")
    with ag.no_grad():
        return tensor.copy_(ag.eye(*tensor.shape, dtype=tensor.dtype, device=tensor.device))


def dirac_(tensor, groups=1):
    """The Dirac delta in a 3-, 4- or 5-d conv weight: the conv passes its input channels through
    (per group), as many as fit."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: Only tensors with 3, 4, or 5 dimensions are supported (got shape "
                         f"{tuple(tensor.shape)})")
    out_channels = tensor.shape[0]
    if out_channels % groups != 0:
        raise ValueError(f"dirac_: dim 0 must be divisible by groups (dim 0 is {out_channels}, groups={groups})")
    per_group = out_channels // groups
    centre = tuple(s // 2 for s in tensor.shape[2:])
    delta = ag.zeros(tensor.shape, dtype=tensor.dtype, device=tensor.device)
    for g in range(groups):
        for d in range(min(per_group, tensor.shape[1])):
            delta.array[(g * per_group + d, d) + centre] = 1
    with ag.no_grad():
        return tensor.copy_(delta)


# --- scaled by the fans ------------------------------------------------------------------------------------

def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot initialisation: U(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot initialisation: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He initialisation: U(-bound, bound) with bound = gain * sqrt(3 / fan); ``a`` is leaky_relu's slope."""
    if _no_elements(tensor):
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _calculate_correct_fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He initialisation: N(0, std**2) with std = gain / sqrt(fan)."""
    if _no_elements(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix, times ``gain``, in the tensor flattened to (shape[0], rest): the
    Q of a Gaussian matrix's QR decomposition, signs fixed by R's diagonal so that Q is uniform."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: Only tensors with 2 or more dimensions are supported (got shape "
                         f"{tuple(tensor.shape)})")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = ag.empty(rows, cols, dtype=tensor.dtype, device=tensor.device).normal_(0.0, 1.0, generator=generator)
    xp = flat._backend.xp
    a = flat.array.T if rows < cols else flat.array
    q, r = xp.linalg.qr(a.astype("float64"))
    q = q * xp.sign(xp.diagonal(r))
    if rows < cols:
        q = q.T
    flat.array[...] = q * gain
    with ag.no_grad():
        return tensor.copy_(flat.reshape(tensor.shape))


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """N(0, std**2) entries with a fraction ``sparsity`` of each column set to zero (a 2-d tensor)."""
    if tensor.ndim != 2:
        raise ValueError(f"sparse_: Only tensors with 2 dimensions are supported (got shape {tuple(tensor.shape)})")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    values = ag.empty(rows, cols, dtype=tensor.dtype, device=tensor.device).normal_(0.0, std, generator=generator)
    if num_zeros:
        xp = values._backend.xp
        # each column's zero rows: the first num_zeros of a random permutation (argsort of uniform draws)
        keys = ag.empty(rows, cols, dtype=ag.float64, device=tensor.device).uniform_(generator=generator).array
        zero_rows = xp.argsort(keys, axis=0)[:num_zeros]
        values.array[zero_rows, xp.arange(cols)] = 0
    with ag.no_grad():
        return tensor.copy_(values)


def _reset_fan_in(weight, bias):
    """PyTorch's default init of Linear and the convolutions: kaiming_uniform_ with a=sqrt(5), which is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same range (zeros when fan_in is 0)."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
