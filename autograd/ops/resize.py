"""Padding and resampling: pad, interpolate, pixel_shuffle, pixel_unshuffle.

Constant padding is one op (its gradient is the same op with the pads negated: a crop).
The other pad modes and nearest resampling only pick input elements, so they are one
gather over each plane (``PlaneGather``, whose gradient adds back with a bincount);
linear resampling mixes the two gathered neighbours along each dim with their weights
(PyTorch's formula, in its order), and pixel (un)shuffle is a reshape and a permute.
"""

import math

import numpy as np

from .. import dtypes
from ..function import Op
from ..tensor import Tensor
from ._args import ntuple
from .pooling import PlaneGather, adaptive_avg_pool1d, adaptive_avg_pool2d

__all__ = ["pad", "interpolate", "pixel_shuffle", "pixel_unshuffle"]


class ConstantPad(Op):
    """``x`` with ``pads[d] = (before, after)`` elements of ``value`` added around each dim;
    negative pads crop."""
    def forward(ctx, x, pads, value):
        out = ctx.xp.full(tuple(n + a + b for n, (a, b) in zip(x.shape, pads)), value, dtype=x.dtype)
        source = tuple(slice(max(-a, 0), n - max(-b, 0)) for n, (a, b) in zip(x.shape, pads))
        target = tuple(slice(max(a, 0), n - max(b, 0)) for n, (a, b) in zip(out.shape, pads))
        out[target] = x[source]
        ctx.pads = pads
        return out
    def backward(ctx, grad):
        return ConstantPad.apply(grad, pads=tuple((-a, -b) for a, b in ctx.pads), value=0)
    def jvp(ctx, tangent):  # the padding value is a constant: the tangent is padded with zeros
        return ConstantPad.apply(tangent, pads=ctx.attrs["pads"], value=0)


# --- pad ------------------------------------------------------------------------------------------

def pad(input, pad, mode="constant", value=None):
    """PyTorch's F.pad: ``pad`` lists (before, after) pairs starting from the last dim."""
    pad = tuple(ntuple("pad", "pad", p, 1)[0] for p in pad)
    if len(pad) % 2:
        raise RuntimeError(f"pad: Padding length must be divisible by 2, got pad={pad}: give a (before, after) pair "
                           f"per dim, starting from the last dim")
    dims = len(pad) // 2
    if dims > input.ndim:
        raise RuntimeError(f"pad: Padding length should be less than or equal to two times the input dimension but "
                           f"got padding length {len(pad)} and input of dimension {input.ndim} (shape "
                           f"{tuple(input.shape)})")
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(dims)][::-1]  # first padded dim first
    if mode == "constant":
        pads = ((0, 0),) * (input.ndim - dims) + tuple(pairs)
        for d, (n, (a, b)) in enumerate(zip(input.shape, pads)):
            if n + a + b < 0:
                raise RuntimeError(f"pad: the input size {n} at dim {d}, plus negative padding {a} and {b}, resulted "
                                   f"in a negative output size {n + a + b} (input shape {tuple(input.shape)})")
        return ConstantPad.apply(input, pads=pads, value=0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: unknown padding mode {mode!r}; use 'constant', 'reflect', 'replicate' or "
                                  f"'circular'")
    if value is not None and value != 0:
        raise RuntimeError(f'pad: Padding mode "{mode}" doesn\'t take in value argument (got value={value})')
    if dims not in (1, 2, 3) or input.ndim not in (dims + 1, dims + 2):
        raise NotImplementedError(f"pad: Padding size {len(pad)} is not supported for {input.ndim}D input tensor "
                                  f"(shape {tuple(input.shape)}); non-constant padding takes a 2-element pad for 2D or "
                                  f"3D input, 4 for 3D or 4D, 6 for 4D or 5D")
    sizes = tuple(input.shape[input.ndim - dims:])
    if mode != "circular":
        kept = input.shape[1:] if input.ndim == dims + 2 else input.shape
        if 0 in kept:
            raise RuntimeError(f"pad: {mode} padding expects {dims + 1}D or {dims + 2}D (batch mode) tensor with "
                               f"possibly 0 batch size and other non-zero dimensions for input, but got shape "
                               f"{tuple(input.shape)}")
    index = None
    for d, (n, (a, b)) in enumerate(zip(sizes, pairs)):
        coords = _pad_coords(mode, n, a, b, d + input.ndim - dims, input.shape)
        index = coords if index is None else index[..., None] * n + coords
    return PlaneGather.apply(input, Tensor._make(input._backend.asarray(index), input._backend), plane=dims)


def _pad_coords(mode, n, a, b, dim, shape):
    """Which input element each output element of a padded dim copies: negative pads crop first,
    then the positive ones pad what is left (as PyTorch does)."""
    if mode == "reflect" and (a >= n or b >= n):
        raise RuntimeError(f"pad: Padding size should be less than the corresponding input dimension, but got: "
                           f"padding ({a}, {b}) at dimension {dim} of input {tuple(shape)}")
    if mode == "circular" and (a > n or b > n):
        raise RuntimeError(f"pad: Padding value causes wrapping around more than once: padding ({a}, {b}) at "
                           f"dimension {dim} of input {tuple(shape)}; pad at most the size of the dim")
    low, high = max(-a, 0), n - max(-b, 0)
    kept = high - low
    if kept <= 0 and (a > 0 or b > 0 or mode == "circular"):
        raise RuntimeError(f"pad: Negative padding ({a}, {b}) at dimension {dim} of input {tuple(shape)} is "
                           f"resulting in an empty dimension")
    c = np.arange(-max(a, 0), kept + max(b, 0), dtype=np.int64)  # coordinates in the cropped dim
    if mode == "reflect":
        c = np.abs(c)
        c = np.where(c >= kept, 2 * (kept - 1) - c, c)
    elif mode == "replicate":
        c = np.clip(c, 0, kept - 1)
    else:
        c = c % max(kept, 1)
    return c + low


# --- interpolate -------------------------------------------------------------------------------------

def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """PyTorch's F.interpolate for modes nearest, nearest-exact, linear, bilinear and area."""
    linear = {"linear": 3, "bilinear": 4}
    if mode not in ("nearest", "nearest-exact", "area") and mode not in linear:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not implemented; use 'nearest', 'nearest-exact', "
                                  f"'linear', 'bilinear' or 'area'")
    if align_corners is not None and mode not in linear:
        raise ValueError(f"interpolate: align_corners option can only be set with the interpolating modes: linear | "
                         f"bilinear | bicubic | trilinear (mode is {mode!r})")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented; pass antialias=False")
    if input.ndim not in (3, 4, 5):
        raise NotImplementedError(f"interpolate: Input Error: Only 3D, 4D and 5D input Tensors supported (got "
                                  f"{input.ndim}D, shape {tuple(input.shape)}): (N, C, *spatial)")
    if mode in linear and input.ndim != linear[mode]:
        raise NotImplementedError(f"interpolate: Got {input.ndim}D input, but {mode} mode needs {linear[mode]}D input "
                                  f"(shape {tuple(input.shape)})")
    spatial = input.ndim - 2
    in_size = tuple(input.shape[2:])
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: only one of size or scale_factor should be defined" if size is not None else
                         "interpolate: either size or scale_factor should be defined")
    scales = None
    if size is not None:
        if isinstance(size, (tuple, list)) and len(size) != spatial:
            raise ValueError(f"interpolate: Input and output must have the same number of spatial dimensions, but got "
                             f"input with spatial dimensions of {list(in_size)} and output size of {list(size)}")
        out_size = ntuple("interpolate", "size", size, spatial)
    else:
        if isinstance(scale_factor, (tuple, list)):
            if len(scale_factor) != spatial:
                raise ValueError(f"interpolate: Input and scale_factor must have the same number of spatial "
                                 f"dimensions, but got input with spatial dimensions of {list(in_size)} and "
                                 f"scale_factor of shape {list(scale_factor)}")
            factors = tuple(float(f) for f in scale_factor)
        else:
            factors = (float(scale_factor),) * spatial
        out_size = tuple(math.floor(n * f) for n, f in zip(in_size, factors))
        scales = None if recompute_scale_factor else factors
    if 0 in input.shape[1:] or any(o <= 0 for o in out_size):
        raise RuntimeError(f"interpolate: Input and output sizes should be greater than 0, but got input shape "
                           f"{tuple(input.shape)} and output size {out_size} (only the batch dim may be empty)")
    if mode == "area":  # PyTorch's area mode is adaptive average pooling
        if spatial == 3:
            raise NotImplementedError("interpolate: mode 'area' is implemented for 3D and 4D inputs, got a 5D input "
                                      f"of shape {tuple(input.shape)}")
        return (adaptive_avg_pool1d if spatial == 1 else adaptive_avg_pool2d)(input, out_size)
    if mode in linear:
        return _linear(input, in_size, out_size, scales, bool(align_corners))
    index = None
    for d, (n, o) in enumerate(zip(in_size, out_size)):
        coords = _nearest_coords(n, o, None if scales is None else scales[d], exact=mode == "nearest-exact")
        index = coords if index is None else index[..., None] * n + coords
    return PlaneGather.apply(input, Tensor._make(input._backend.asarray(index), input._backend), plane=spatial)


def _nearest_coords(n, out, scale, exact):
    """PyTorch's nearest source index, with its float32 arithmetic: floor(dst * scale) (nearest)
    or floor((dst + 0.5) * scale) (nearest-exact), clamped to the last element."""
    step = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n) / np.float32(out)
    dst = np.arange(out)
    if exact:
        src = np.floor(((dst + 0.5) * np.float64(step)).astype(np.float32))
    else:
        src = np.floor(dst.astype(np.float32) * step)
    return np.minimum(src.astype(np.int64), n - 1)


def _linear(x, in_size, out_size, scales, align_corners):
    """Linear interpolation along each spatial dim, the last first: out = w0 * x[i0] + w1 * x[i1]."""
    out = x
    for d in reversed(range(len(in_size))):
        i0, i1, w0, w1 = _linear_weights(in_size[d], out_size[d], None if scales is None else scales[d],
                                         align_corners, x.dtype)
        moved = out if d == len(in_size) - 1 else out.transpose(d + 2, -1)
        make = lambda a: Tensor._make(x._backend.asarray(a), x._backend)  # noqa: E731
        mixed = (PlaneGather.apply(moved, make(i0), plane=1) * make(w0)
                 + PlaneGather.apply(moved, make(i1), plane=1) * make(w1))
        out = mixed if d == len(in_size) - 1 else mixed.transpose(d + 2, -1)
    return out


def _linear_weights(n, out, scale, align_corners, dtype):
    """PyTorch's source indices and weights for linear resampling, in the data's precision."""
    real = np.float32 if dtype == dtypes.float32 else np.float64
    if align_corners:
        step = real(n - 1) / real(out - 1) if out > 1 else real(0)
        src = step * np.arange(out, dtype=real)
    else:
        step = real(1.0 / scale) if scale is not None and scale > 0 else real(n) / real(out)
        src = np.maximum(step * (np.arange(out, dtype=real) + real(0.5)) - real(0.5), real(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    w1 = np.clip(src - i0, 0, 1).astype(real)
    i1 = i0 + (i0 < n - 1)
    return i0, i1, (real(1) - w1).astype(dtype), w1.astype(dtype)


# --- pixel shuffle -----------------------------------------------------------------------------------

def pixel_shuffle(input, upscale_factor):
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r)."""
    r = ntuple("pixel_shuffle", "upscale_factor", upscale_factor, 1)[0]
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s) (shape {tuple(input.shape)})")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    b = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(b), b, b + 3, b + 1, b + 4, b + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W)."""
    r = ntuple("pixel_unshuffle", "downscale_factor", downscale_factor, 1)[0]
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s) (shape {tuple(input.shape)})")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    for name, n, d in (("height", h, -2), ("width", w, -1)):
        if n % r:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                               f"input.size({d})={n} is not divisible by {r}")
    b = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(b), b, b + 2, b + 4, b + 1, b + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)
