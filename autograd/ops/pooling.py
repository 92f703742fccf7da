"""Pooling: max/avg/adaptive pools and max_unpool.

Every pool reads its windows as k strided slices of the (padded) input, one per kernel
offset: slice ``k`` holds, for every output position, the input element at offset ``k`` of
its window. A max or a sum over windows is then ``k`` elementwise passes over output-sized
views (2x2 max-pool is ``np.maximum`` of four slices), and the adjoint (the gradient) adds
``k`` output-sized arrays into the same strided slices of a zero buffer (plain writes when
windows do not overlap): no ``np.add.at``, no ``as_strided``. For windows that tile the input
this beats a reshape and a sum over the kernel axes about tenfold in NumPy (0.6 ms against
6.6 ms for 2x2 on 64x6x24x24), so it is the fast path too. Works for any number of spatial
dims (the trailing ones).

Max-pool keeps, per output, the window offset of its max (the first max, as PyTorch; a NaN
wins). Its gradient puts the output gradient there (``WindowScatter``), whose own gradient
reads it back (``WindowGather``): the pair makes every order of derivative a gather or a
scatter. Indices PyTorch returns (flat per plane, int64) go through ``PlaneGather`` /
``PlaneScatter``, which also serve adaptive max-pool, max_unpool, and padding and nearest
resampling (resize.py).
"""

import itertools
import math
from collections import namedtuple

import numpy as np  # host-side only: dtypes, limits and tiny index tables the ops move to the device

from .. import dtypes
from ..function import Op, linear_jvp
from ..tensor import Tensor
from ._args import ntuple

__all__ = ["max_pool1d", "max_pool2d", "max_pool1d_with_indices", "max_pool2d_with_indices", "avg_pool1d",
           "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "max_unpool1d", "max_unpool2d"]


class Window(namedtuple("Window", "kernel stride padding dilation in_size out_size")):
    """Where the windows of a pool lie along the trailing spatial dims (one entry per dim)."""

    def offsets(self):
        """Every kernel offset (one int per dim), in row-major order: PyTorch's scan order."""
        return list(itertools.product(*(range(k) for k in self.kernel)))

    def extent(self):
        """How far the windows reach in the padded input, per dim."""
        return tuple((o - 1) * s + d * (k - 1) + 1 if o else 0
                     for k, s, d, o in zip(self.kernel, self.stride, self.dilation, self.out_size))

    def slices(self):
        """For each kernel offset, the index of the strided slice of the padded input it reads."""
        return [(Ellipsis,) + tuple(slice(i * d, i * d + (o - 1) * s + 1, s) for i, d, s, o in
                                    zip(offset, self.dilation, self.stride, self.out_size))
                for offset in self.offsets()]

    def overlapping(self):
        return any(s < d * (k - 1) + 1 for k, s, d in zip(self.kernel, self.stride, self.dilation))

    def buffer_size(self):
        """The padded buffer: covers every window and the whole input at its offset."""
        return tuple(max(e, p + n) for e, p, n in zip(self.extent(), self.padding, self.in_size))

    def padded(self, xp, x, fill):
        """``x`` inside a buffer filled with ``fill``; ``x`` itself when no window leaves it."""
        if not any(self.padding) and all(e <= n for e, n in zip(self.extent(), self.in_size)):
            return x
        lead = x.shape[:x.ndim - len(self.kernel)]
        buffer = xp.full(lead + self.buffer_size(), fill, dtype=x.dtype)
        buffer[self.inner()] = x
        return buffer

    def first_inside(self):
        """For each output position, the offset number of the first element of its window that lies
        inside the input (not in the left padding), as a host array over the output positions."""
        first = np.zeros((), dtype=np.int64)
        for s, p, d, k, o in zip(self.stride, self.padding, self.dilation, self.kernel, self.out_size):
            start = np.arange(o) * s - p
            t = np.clip(-(start // d), 0, k - 1)  # ceil(-start / d): the first kernel index at or past 0
            first = first[..., None] * k + t
        return first

    def inner(self):
        """Where the input sits in the padded buffer."""
        return (Ellipsis,) + tuple(slice(p, p + n) for p, n in zip(self.padding, self.in_size))


def _fill_lowest(xp, dtype):
    return -math.inf if dtypes.is_floating(dtype) else np.iinfo(dtype).min


class MaxPool(Op):
    """The max over each window; keeps which offset of its window won (the first max; NaN wins)."""
    def forward(ctx, x, window):
        xp = ctx.xp
        padded = window.padded(xp, x, _fill_lowest(xp, x.dtype))
        slices = window.slices()
        if not ctx.needs_input_grad[0]:  # values only: a running maximum, which propagates NaN
            out = xp.maximum(padded[slices[0]], padded[slices[1]]) if len(slices) > 1 else padded[slices[0]].copy()
            for index in slices[2:]:
                xp.maximum(out, padded[index], out=out)
            return out
        out, pos = _window_argmax(xp, padded, window)
        ctx.window = window
        ctx.save_for_backward(pos)
        return out
    def backward(ctx, grad):
        pos, = ctx.saved_tensors
        return WindowScatter.apply(grad, pos, window=ctx.window)


def _window_argmax(xp, padded, window):
    """The max of each window and the offset (position in ``slices``) where it was first reached.
    A later offset takes over only when strictly larger or NaN (PyTorch's rule), so the winning
    offset is the last one that took over: a running maximum of ``k * took``. Until one does, a
    window's max sits at its first element inside the input (a window of -inf keeps it there)."""
    slices = window.slices()
    best = padded[slices[0]].copy()
    pos = xp.zeros(best.shape, dtype=xp.int8 if len(slices) < 128 else xp.int32)
    if any(window.padding):
        pos[...] = xp.asarray(window.first_inside())
    floating = dtypes.is_floating(best.dtype)
    for k, index in enumerate(slices[1:], 1):
        value = padded[index]
        took = value > best
        if floating:
            took |= xp.isnan(value)
        xp.maximum(best, value, out=best)  # = value where it took over (NaN propagates), else best
        xp.maximum(pos, took.astype(pos.dtype) * pos.dtype.type(k), out=pos)
    return best, pos


class WindowScatter(Op):
    """Zeros of the input's shape with ``grad`` added at the offset ``pos`` of each window
    (max-pool's gradient); windows that overlap add up."""
    def forward(ctx, grad, pos, window):
        xp = ctx.xp
        lead = grad.shape[:grad.ndim - len(window.kernel)]
        buffer = xp.zeros(lead + window.buffer_size(), dtype=grad.dtype)
        overlapping = window.overlapping()
        # the gradient's bits times a 0/1 mask: exact zeros elsewhere even where grad is inf or NaN
        # (grad * mask would make them NaN), and several times faster than xp.where
        bits = np.dtype(f"i{grad.dtype.itemsize}")
        grad_bits = grad.view(bits) if grad.flags.c_contiguous else xp.ascontiguousarray(grad).view(bits)
        for k, index in enumerate(window.slices()):
            if overlapping:
                buffer[index] += (grad_bits * (pos == k)).view(grad.dtype)
            else:  # each element belongs to one window: write straight into its strided slice
                xp.multiply(grad_bits, pos == k, out=buffer[index].view(bits))
        ctx.window = window
        ctx.save_for_backward(pos)
        inner = buffer[window.inner()]
        # the whole buffer when no padding was cut away: not a view, so the engine sees a buffer of its own
        # (that relu's backward may then write into)
        return buffer if inner.shape == buffer.shape else inner
    def backward(ctx, grad):
        pos, = ctx.saved_tensors
        return WindowGather.apply(grad, pos, window=ctx.window), None
    jvp = linear_jvp


class WindowGather(Op):
    """The element at offset ``pos`` of each window of ``x`` (the adjoint of WindowScatter)."""
    def forward(ctx, x, pos, window):
        xp = ctx.xp
        padded = window.padded(xp, x, 0)
        slices = window.slices()
        out = padded[slices[0]].copy()
        for k, index in enumerate(slices[1:], 1):
            xp.copyto(out, padded[index], where=pos == k)
        ctx.window = window
        ctx.save_for_backward(pos)
        return out
    def backward(ctx, grad):
        pos, = ctx.saved_tensors
        return WindowScatter.apply(grad, pos, window=ctx.window), None
    jvp = linear_jvp


class MaxPoolIndices(Op):
    """Where each window's max is, as PyTorch returns it: a flat index into the input's plane."""
    differentiable = False
    def forward(ctx, x, window):
        xp = ctx.xp
        _, pos = _window_argmax(xp, window.padded(xp, x, _fill_lowest(xp, x.dtype)), window)
        offsets = xp.asarray(window.offsets(), dtype=xp.int64).reshape(-1, len(window.kernel))
        flat = xp.zeros(pos.shape, dtype=xp.int64)
        spatial = len(window.kernel)
        for dim, (s, p, d, n, o) in enumerate(zip(window.stride, window.padding, window.dilation,
                                                  window.in_size, window.out_size)):
            start = (xp.arange(o, dtype=xp.int64) * s - p).reshape((o,) + (1,) * (spatial - dim - 1))
            flat = flat * n + start + offsets[:, dim][pos] * d
        return flat


class PlaneGather(Op):
    """Elements of each plane (the trailing ``plane`` dims, flattened) at flat ``index``: one index
    array per plane (``index`` has x's leading dims) or one for all planes (only the plane dims)."""
    def forward(ctx, x, index, plane, unique=False):
        xp = ctx.xp
        lead = x.shape[:x.ndim - plane]
        flat = x.reshape(math.prod(lead), math.prod(x.shape[x.ndim - plane:]))
        ctx.plane_shape, ctx.unique = x.shape[x.ndim - plane:], unique
        ctx.save_for_backward(index)
        if index.ndim == x.ndim:
            out = xp.take_along_axis(flat, index.reshape(flat.shape[0], math.prod(index.shape[len(lead):])), axis=1)
            return out.reshape(index.shape)
        return xp.take(flat, index.reshape(-1), axis=1).reshape(lead + index.shape)
    def backward(ctx, grad):
        index, = ctx.saved_tensors
        return PlaneScatter.apply(grad, index, plane_shape=ctx.plane_shape, accumulate=not ctx.unique), None
    jvp = linear_jvp


class PlaneScatter(Op):
    """Zeros of shape (leading dims of ``values``) + ``plane_shape`` with ``values`` put at the flat
    ``index`` of each plane: added up where indices repeat (``accumulate``), else written."""
    def forward(ctx, values, index, plane_shape, accumulate):
        xp = ctx.xp
        size = math.prod(plane_shape)
        out_plane = index.shape if index.ndim != values.ndim else index.shape[values.ndim - len(plane_shape):]
        lead = values.shape[:values.ndim - len(out_plane)]
        planes = math.prod(lead)
        where = (index.reshape(planes if index.ndim == values.ndim else 1, math.prod(out_plane))
                 + xp.arange(planes, dtype=xp.int64)[:, None] * size).reshape(-1)
        ctx.plane, ctx.unique = len(plane_shape), not accumulate
        ctx.save_for_backward(index)
        if accumulate:  # repeated indices add up: a weighted bincount, on both backends
            out = xp.bincount(where, weights=values.reshape(-1), minlength=planes * size).astype(values.dtype)
        else:
            out = xp.zeros(planes * size, dtype=values.dtype)
            out[where] = values.reshape(-1)
        return out.reshape(lead + tuple(plane_shape))
    def backward(ctx, grad):
        index, = ctx.saved_tensors
        return PlaneGather.apply(grad, index, plane=ctx.plane, unique=ctx.unique), None
    jvp = linear_jvp


class AvgPool(Op):
    """The sum over each window divided by its divisor (an array over output positions, or a number)."""
    def forward(ctx, x, window, divisor):
        padded = window.padded(ctx.xp, x, 0)
        slices = window.slices()
        total = padded[slices[0]] + padded[slices[1]] if len(slices) > 1 else padded[slices[0]].copy()
        for index in slices[2:]:
            total += padded[index]
        ctx.window, ctx.divisor = window, divisor
        return (total / _as_array(ctx.xp, divisor, total.dtype)).astype(x.dtype, copy=False)
    def backward(ctx, grad):
        return AvgPoolAdjoint.apply(grad, window=ctx.window, divisor=ctx.divisor)
    jvp = linear_jvp


class AvgPoolAdjoint(Op):
    """avg-pool's gradient: each output's gradient over its divisor, added into every element of its window."""
    def forward(ctx, grad, window, divisor):
        xp = ctx.xp
        share = grad / _as_array(xp, divisor, grad.dtype)
        lead = grad.shape[:grad.ndim - len(window.kernel)]
        buffer = xp.zeros(lead + window.buffer_size(), dtype=grad.dtype)
        overlapping = window.overlapping()
        for index in window.slices():
            if overlapping:
                buffer[index] += share
            else:  # windows that do not overlap (kernel == stride): plain strided writes
                buffer[index] = share
        ctx.window, ctx.divisor = window, divisor
        return buffer[window.inner()]
    def backward(ctx, grad):
        return AvgPool.apply(grad, window=ctx.window, divisor=ctx.divisor)
    jvp = linear_jvp


def _as_array(xp, divisor, dtype):
    """The divisor: a number, or a host (NumPy) array moved to the device in the data's dtype."""
    return divisor if isinstance(divisor, (int, float)) else xp.asarray(divisor.astype(dtype))


class AdaptiveMaxPoolIndices(Op):
    """Flat per-plane indices of the max of each adaptive window (the first max; NaN wins)."""
    differentiable = False
    def forward(ctx, x, out_size):
        xp = ctx.xp
        n = len(out_size)
        in_size = x.shape[x.ndim - n:]
        bounds = [_adaptive_bounds(i, o) for i, o in zip(in_size, out_size)]
        best = index = None
        # offset t of each window, clamped to its last element: repeats do not change a max
        for offsets in itertools.product(*(range(max((e - s for s, e in b), default=1)) for b in bounds)):
            coords = [xp.asarray([min(s + t, e - 1) for s, e in b], dtype=xp.int64) for t, b in zip(offsets, bounds)]
            grids = [c.reshape((-1,) + (1,) * (n - d - 1)) for d, c in enumerate(coords)]
            flat = grids[0]
            for g, size in zip(grids[1:], in_size[1:]):
                flat = flat * size + g
            value = x[(Ellipsis,) + tuple(grids)]
            flat = xp.broadcast_to(flat, value.shape)
            if best is None:
                best, index = value.copy(), flat.copy()
                continue
            take = value > best
            if dtypes.is_floating(value.dtype):
                take |= xp.isnan(value)
            xp.copyto(best, value, where=take)
            xp.copyto(index, flat, where=take)
        return index


def _adaptive_bounds(size, out):
    """PyTorch's adaptive windows: [floor(i * size / out), ceil((i + 1) * size / out))."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


# --- the functions ----------------------------------------------------------------------------

def _check_input(op, x, spatial):
    """PyTorch's rule: (C, *spatial) or (N, C, *spatial), every dim but the batch non-empty."""
    if x.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"{op}: expected a {spatial + 1}D (C, {'L' if spatial == 1 else 'H, W'}) or {spatial + 2}D "
                           f"(N, C, {'L' if spatial == 1 else 'H, W'}) input, got shape {tuple(x.shape)}")
    kept = x.shape[1:] if x.ndim == spatial + 2 else x.shape
    if 0 in kept:
        raise RuntimeError(f"{op}: expected {spatial + 1}D or {spatial + 2}D (batch mode) tensor with optional 0 dim "
                           f"batch size for input, but got shape {tuple(x.shape)}: only the batch dim may be empty")


def _window(op, x, spatial, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = ntuple(op, "kernel_size", kernel_size, spatial)
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        ntuple(op, "stride", stride, spatial)
    padding = ntuple(op, "padding", padding, spatial)
    dilation = ntuple(op, "dilation", dilation, spatial)
    if any(s == 0 for s in stride):
        raise RuntimeError(f"{op}: stride should not be zero, got stride={stride} (kernel_size={kernel})")
    if any(k <= 0 for k in kernel):
        raise RuntimeError(f"{op}: kernel size should be greater than zero, got kernel_size={kernel}")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"{op}: stride should be greater than zero, got stride={stride}")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"{op}: dilation should be greater than zero, got dilation={dilation}")
    if any(p < 0 for p in padding):
        raise RuntimeError(f"{op}: pad must be non-negative, but got padding={padding}")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError(f"{op}: pad should be at most half of kernel size, but got padding={padding} for "
                           f"kernel_size={kernel}; use padding <= kernel_size // 2 (or pad the input first with F.pad)")
    _check_input(op, x, spatial)
    in_size = tuple(x.shape[-spatial:])
    out_size = []
    for n, k, s, p, d in zip(in_size, kernel, stride, padding, dilation):
        span = n + 2 * p - d * (k - 1) - 1
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= n + p:  # the last window would start in the right padding
            o -= 1
        out_size.append(o)
    if any(o <= 0 for o in out_size):
        raise RuntimeError(f"{op}: Given input size {tuple(x.shape)}, kernel_size={kernel}, stride={stride}, "
                           f"padding={padding}, dilation={dilation}: calculated output size {tuple(out_size)}. Output "
                           f"size is too small; use a smaller kernel or more padding")
    return Window(kernel, stride, padding, dilation, in_size, tuple(out_size))


def _max_pool(op, spatial, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    window = _window(op, x, spatial, kernel_size, stride, padding, dilation, ceil_mode)
    if not return_indices:
        return MaxPool.apply(x, window=window)
    indices = MaxPoolIndices.apply(x, window=window)
    return PlaneGather.apply(x, indices, plane=spatial, unique=not window.overlapping()), indices


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _avg_pool(op, spatial, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating point input, got {x.dtype}; call .float() first")
    window = _window(op, x, spatial, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError(f"{op}: divisor must be not zero, got divisor_override=0")
        divisor = divisor_override
    else:
        divisor = np.ones((), dtype=np.int64)
        for dim, (n, k, s, p, o) in enumerate(zip(window.in_size, window.kernel, window.stride, window.padding,
                                                  window.out_size)):
            start = np.arange(o) * s - p
            end = np.minimum(start + k, n + p)  # windows stop at the right padding (ceil_mode's extra window)
            count = end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0)
            divisor = divisor[..., None] * count if dim else count
        if divisor.size and (divisor == divisor.reshape(-1)[0]).all():
            divisor = int(divisor.reshape(-1)[0])  # one divisor for all: a number, no array to move
    return AvgPool.apply(x, window=window, divisor=divisor)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _adaptive_size(op, x, output_size, spatial):
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != spatial:
            raise ValueError(f"{op}: output_size must be an int or a tuple of {spatial}, got {tuple(output_size)}")
        sizes = tuple(x.shape[x.ndim - spatial + i] if s is None else s for i, s in enumerate(output_size))
    else:
        sizes = (output_size,) * spatial
    sizes = ntuple(op, "output_size", sizes, spatial)
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"{op}: output_size must be non-negative, got {sizes}")
    return sizes


def _adaptive_avg_pool(op, spatial, x, output_size):
    _check_adaptive(op, x, spatial, require_channels=False)
    sizes = _adaptive_size(op, x, output_size, spatial)
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating point input, got {x.dtype}; call .float() first")
    in_size = tuple(x.shape[x.ndim - spatial:])
    if all(o and n % o == 0 for n, o in zip(in_size, sizes)):  # equal windows that tile the input: avg-pool
        kernel = tuple(n // o for n, o in zip(in_size, sizes))
        window = Window(kernel, kernel, (0,) * spatial, (1,) * spatial, in_size, sizes)
        return AvgPool.apply(x, window=window, divisor=math.prod(kernel))
    # windows of different sizes: average along one dim at a time (the mean is separable); the
    # t-th element of every window is one gather, and windows shorter than t add nothing
    from .arithmetic import where
    out = x
    for d in reversed(range(spatial)):
        moved = out if d == spatial - 1 else out.transpose(d - spatial, -1)
        bounds = _adaptive_bounds(in_size[d], sizes[d])
        total = moved[..., :0]  # no windows: an empty dim
        for t in range(max((e - s for s, e in bounds), default=0)):
            picked = PlaneGather.apply(moved, _host(x, [min(s + t, e - 1) for s, e in bounds], "int64"), plane=1)
            if any(s + t >= e for s, e in bounds):
                picked = where(_host(x, [s + t < e for s, e in bounds], "bool"), picked, 0.0)
            total = picked if t == 0 else total + picked
        mean = total / _host(x, [e - s for s, e in bounds], x.dtype) if bounds else total
        out = mean if d == spatial - 1 else mean.transpose(d - spatial, -1)
    return out


def _host(x, values, dtype):
    """A constant tensor made from host values, on x's device."""
    return Tensor._make(x._backend.asarray(np.asarray(values, dtype=dtype)), x._backend)


def _check_adaptive(op, x, spatial, require_channels):
    if x.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"{op}: expected a {spatial + 1}D or {spatial + 2}D input (with or without a batch dim), "
                           f"got shape {tuple(x.shape)}")
    kept = x.shape[1:] if require_channels else x.shape[x.ndim - spatial:]  # PyTorch's rules, one per pool
    if 0 in kept:
        raise RuntimeError(f"{op}: expected input to have non-zero size for non-batch dimensions, but input has "
                           f"shape {tuple(x.shape)}")


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


def _adaptive_max_pool(op, spatial, x, output_size, return_indices):
    _check_adaptive(op, x, spatial, require_channels=True)
    sizes = _adaptive_size(op, x, output_size, spatial)
    indices = AdaptiveMaxPoolIndices.apply(x, out_size=sizes)
    values = PlaneGather.apply(x, indices, plane=spatial)
    return (values, indices) if return_indices else values


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max_pool("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool2d(input, output_size, True)


def _max_unpool(op, spatial, x, indices, kernel_size, stride, padding, output_size):
    kernel = ntuple(op, "kernel_size", kernel_size, spatial)
    stride = kernel if stride is None else ntuple(op, "stride", stride, spatial)
    padding = ntuple(op, "padding", padding, spatial)
    if not isinstance(indices, Tensor) or indices.dtype != dtypes.int64:
        raise RuntimeError(f"{op}: elements in indices should be type int64 but got "
                           f"{indices.dtype if isinstance(indices, Tensor) else type(indices).__name__}; pass the "
                           f"indices max_pool returned (return_indices=True)")
    if tuple(indices.shape) != tuple(x.shape):
        raise RuntimeError(f"{op}: Expected shape of indices to be same as that of the input tensor "
                           f"({tuple(x.shape)}) but got indices tensor with shape {tuple(indices.shape)}")
    _check_input(op, x, spatial)
    default = tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(x.shape[-spatial:], kernel, stride, padding))
    if output_size is None:
        sizes = default
    else:
        sizes = tuple(output_size)
        if len(sizes) == spatial + 2 or (len(sizes) == spatial + 1 and x.ndim == spatial + 1):
            sizes = sizes[-spatial:]
        if len(sizes) != spatial:
            raise ValueError(f"{op}: output_size should be a sequence containing {spatial} or {spatial + 2} elements, "
                             f"but it has a length of '{len(sizes)}'")
        for d, (size, low, s) in enumerate(zip(sizes, default, stride)):
            if not low - s < size < low + s:
                raise ValueError(f'{op}: invalid output_size "{tuple(sizes)}" (dim {d} must be between '
                                 f"{low - s + 1} and {low + s - 1})")
    plane = math.prod(sizes)
    if indices.numel():
        low, high = indices.array.min().item(), indices.array.max().item()  # one host sync: bad indices must not pass
        if low < 0 or high >= plane:
            bad = low if low < 0 else high
            raise RuntimeError(f"{op}: Found an invalid max index: {bad} (output volumes are of size "
                               f"{'x'.join(map(str, sizes))}); the indices must come from a pool of that size")
    return PlaneScatter.apply(x, indices, plane_shape=tuple(sizes), accumulate=False)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)
