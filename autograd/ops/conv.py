"""Convolution: conv1d/2d/3d, conv_transpose1d/2d/3d, unfold/fold (im2col + GEMM).

Every convolution here is one of three linear maps, N-d throughout:

    Conv            y = W * x     im2col(x), then a GEMM writing y in (N, O, *L) directly
    ConvTranspose   x = W^T * y   the input gradient of Conv: a correlation of y with the
                                  flipped weight (stride 1), else a GEMM to columns and col2im
    ConvWeightGrad  W = y * x     the weight gradient of Conv: a GEMM against im2col(x)

Each one's backward is made of the other two, so derivatives of any order work, and
``conv_transpose`` is ConvTranspose itself. im2col is an ``as_strided`` view (a few µs)
copied into a scratch buffer laid out (C, *kernel, n, *out), so that ONE GEMM covers a whole
chunk of the batch; col2im adds columns back with one strided add per kernel position over
the whole chunk (no ``add.at``).

The batch goes through in chunks of at most CHUNK_BYTES of columns, and of no more columns
than the op's input and output take together: the scratch memory stays bounded, within a small
multiple of what the op's own arrays take (a small net's whole-batch columns would be many
times that), and the BLAS sees few large GEMMs. (Per-sample GEMMs are as fast on an idle CPU, but
each one is a thread sync: on a busy machine 32 of them ran 5-10x slower than one.) Nothing
is saved but the inputs: the weight gradient makes its columns again.

Geometry travels as attributes: ``stride`` and ``dilation`` (tuples), ``pads`` (a (low,
high) pair per spatial dim: "same" may pad one more on the high side) and ``groups``.
"""

import itertools
import math

from ..function import Op, autocast_entry, linear_jvp, multilinear_jvp, sum_terms
from ..tensor import Tensor
from ._args import ntuple

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "unfold", "fold"]

CHUNK_BYTES = 48 << 20  # the most columns made at once; each chunk of the batch is one GEMM


# --- im2col and col2im on backend arrays -------------------------------------------------------------

def _padded(xp, x, pads):
    """``x`` with zeros around its trailing spatial dims (itself when there is nothing to pad)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    n = len(pads)
    out = xp.zeros(x.shape[:-n] + tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[-n:], pads)), dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[-n:], pads))] = x
    return out


def windows(xp, x, kernel, size, stride, pads, dilation):
    """The sliding windows of ``x`` (N, C, *S) as a strided view (N, C, *kernel, *size): entry
    [n, c, k, l] is the zero-padded x[n, c, l * stride + k * dilation - low pad]."""
    x = _padded(xp, x, pads)
    strides = x.strides[2:]
    return xp.lib.stride_tricks.as_strided(
        x, x.shape[:2] + tuple(kernel) + tuple(size),
        x.strides[:2] + tuple(d * s for d, s in zip(dilation, strides)) + tuple(t * s for t, s in zip(stride, strides)))


def col2im(cols, out, stride, pads, dilation):
    """The adjoint of im2col: each entry of ``cols`` (n, C, *kernel, *size) is added into ``out``
    (n, C, *S) where the windows read it from (entries that came from the padding are dropped).
    One strided add over the whole batch per kernel position."""
    n = out.ndim - 2
    kernel, size = cols.shape[2:2 + n], cols.shape[2 + n:]
    for k in itertools.product(*map(range, kernel)):
        dst, src = [], []
        for ki, length, extent, s, (lo, _), d in zip(k, size, out.shape[2:], stride, pads, dilation):
            offset = ki * d - lo                          # column l was read from input position l * s + offset
            first = max(0, -(offset // s))                # the first l inside the input, and the last
            last = min(length - 1, (extent - 1 - offset) // s)
            if last < first:
                break
            dst.append(slice(first * s + offset, last * s + offset + 1, s))
            src.append(slice(first, last + 1))
        else:
            out[(slice(None), slice(None)) + tuple(dst)] += cols[(slice(None), slice(None)) + k + tuple(src)]
    return out


def chunks(n, sample_bytes, arrays_bytes=CHUNK_BYTES):
    """The batch in near-equal slices whose columns take at most CHUNK_BYTES, and at most ``arrays_bytes`` (what
    the op's input and output take: the scratch then never outgrows them), one sample at least."""
    if n == 0:
        return []
    count = max(1, min(n, -(-n * sample_bytes // min(CHUNK_BYTES, max(1, arrays_bytes)))))
    step = -(-n // count)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def columns(view, part, buf):
    """im2col of the samples ``part`` of ``view`` (N, C, *kernel, *size), copied into the scratch
    ``buf`` laid out (C, *kernel, n, *size): one GEMM then covers the whole chunk."""
    nd = (view.ndim - 2) // 2
    m = part.stop - part.start
    shape = view.shape[1:2 + nd] + (m,) + view.shape[2 + nd:]
    cols = buf[:math.prod(shape)].reshape(shape)
    cols[...] = view[part].transpose((1,) + tuple(range(2, 2 + nd)) + (0,) + tuple(range(2 + nd, 2 + 2 * nd)))
    return cols


def channels_first(y, part, buf):
    """y[part] (n, O, *L) copied into ``buf`` as (O, n, *L), the layout the chunk's GEMM takes."""
    shape = (y.shape[1], part.stop - part.start) + y.shape[2:]
    out = buf[:math.prod(shape)].reshape(shape)
    out[...] = y[part].swapaxes(0, 1)
    return out


def correlate(ctx, x, weight, stride, pads, dilation, groups, size):
    """(N, C, *S) correlated with (O, C/groups, *K): (N, O, *size), im2col + one GEMM per chunk."""
    xp, g = ctx.xp, groups
    (n, c), (o, kernel) = x.shape[:2], (weight.shape[0], weight.shape[2:])
    k, length = c // g * math.prod(kernel), math.prod(size)
    view = windows(xp, x, kernel, size, stride, pads, dilation)
    w = weight.reshape(g, o // g, k)
    out = xp.empty((n, o, length), dtype=xp.result_type(x, weight))
    parts = chunks(n, c * math.prod(kernel) * length * x.itemsize, x.nbytes + out.nbytes)
    buf = xp.empty(c * math.prod(kernel) * length * (parts[0].stop if parts else 0), dtype=x.dtype)
    for part in parts:
        m = part.stop - part.start
        result = xp.matmul(w, columns(view, part, buf).reshape(g, k, m * length))  # (groups, O/groups, n * L)
        out[part] = result.reshape(o, m, length).swapaxes(0, 1)
    return out.reshape((n, o) + tuple(size))


# --- the three linear maps ---------------------------------------------------------------------------

class Conv(Op):
    """Cross-correlation of x (N, C, *S) with weight (O, C/groups, *K), plus bias; output (N, O, *size)."""
    def forward(ctx, x, weight, bias, stride, pads, dilation, groups, size):
        out = correlate(ctx, x, weight, stride, pads, dilation, groups, size)
        if bias is not None:
            out += bias.reshape((-1,) + (1,) * len(size))
        need_x, need_w = ctx.needs_input_grad[:2]
        ctx.geometry = dict(stride=stride, pads=pads, dilation=dilation, groups=groups)
        ctx.in_size, ctx.kernel = x.shape[2:], weight.shape[2:]
        ctx.save_for_backward(x if need_w else None, weight if need_x else None)
        return out
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = ConvTranspose.apply(grad, weight, size=ctx.in_size, **ctx.geometry) if need_x else None
        gw = ConvWeightGrad.apply(x, grad, kernel=ctx.kernel, **ctx.geometry) if need_w else None
        gb = grad.sum((0,) + tuple(range(2, grad.ndim))) if need_b else None
        return gx, gw, gb
    def jvp(ctx, tangent_x, tangent_w, tangent_b):  # the product rule, and the bias's tangent per channel
        x, weight = ctx.inputs[:2]
        if tangent_b is not None:
            tangent_b = tangent_b.reshape((-1,) + (1,) * (ctx.output.ndim - 2))
        terms = [Conv.apply(tangent_x, weight, None, **ctx.attrs) if tangent_x is not None else None,
                 Conv.apply(x, tangent_w, None, **ctx.attrs) if tangent_w is not None else None, tangent_b]
        return sum_terms(terms, ctx.output)


class ConvTranspose(Op):
    """The adjoint of Conv in x: y (N, O, *L) and weight (O, C/groups, *K) give (N, C, *size)."""
    def forward(ctx, y, weight, stride, pads, dilation, groups, size):
        xp, g = ctx.xp, groups
        (n, o), (cg, kernel), length = y.shape[:2], (weight.shape[1], weight.shape[2:]), y.shape[2:]
        need_y, need_w = ctx.needs_input_grad
        ctx.geometry = dict(stride=stride, pads=pads, dilation=dilation, groups=groups)
        ctx.save_for_backward(y if need_w else None, weight if need_y else None)
        ctx.length, ctx.kernel = length, kernel
        # with stride 1 this is a plain correlation of y with the flipped, transposed weight, padded by
        # what the kernel reaches minus the forward padding (when that is not negative). Its columns are
        # O * K * size per sample, the GEMM's below C * K * length: it is taken only when they are no bigger
        # (LeNet's second conv, 6 -> 16 channels, would need 5x the memory of the columns otherwise)
        reach = [d * (k - 1) for k, d in zip(kernel, dilation)]
        full = [(r - lo, s - l + lo) for r, (lo, _), s, l in zip(reach, pads, size, length)]
        if (all(s == 1 for s in stride) and all(lo >= 0 and hi >= 0 for lo, hi in full)
                and o * math.prod(size) <= g * cg * math.prod(length)):
            flipped = weight[(Ellipsis,) + (slice(None, None, -1),) * len(kernel)]  # (O, C/g, *K) to (C, O/g, *K)
            flipped = flipped.reshape((g, o // g, cg) + tuple(kernel)).swapaxes(1, 2)
            flipped = flipped.reshape((g * cg, o // g) + tuple(kernel))
            return correlate(ctx, y, flipped, stride, tuple(full), dilation, groups, size)
        k, l = cg * math.prod(kernel), math.prod(length)
        w = weight.reshape(g, o // g, k).transpose(0, 2, 1)
        out = xp.zeros((n, g * cg) + tuple(size), dtype=xp.result_type(y, weight))
        parts = chunks(n, g * k * l * y.itemsize, y.nbytes + out.nbytes)
        buf = xp.empty(o * l * (parts[0].stop if parts else 0), dtype=y.dtype)
        for part in parts:
            m = part.stop - part.start
            cols = xp.matmul(w, channels_first(y, part, buf).reshape(g, o // g, m * l))  # (C, *K, n, *L)
            cols = cols.reshape((g * cg,) + tuple(kernel) + (m,) + tuple(length))
            nd = len(kernel)
            cols = cols.transpose((1 + nd, 0) + tuple(range(1, 1 + nd)) + tuple(range(2 + nd, 2 + 2 * nd)))
            col2im(cols, out[part], stride, pads, dilation)
        return out
    def backward(ctx, grad):
        y, weight = ctx.saved_tensors
        need_y, need_w = ctx.needs_input_grad
        gy = Conv.apply(grad, weight, None, size=ctx.length, **ctx.geometry) if need_y else None
        gw = ConvWeightGrad.apply(grad, y, kernel=ctx.kernel, **ctx.geometry) if need_w else None
        return gy, gw
    jvp = multilinear_jvp


class ConvWeightGrad(Op):
    """The adjoint of Conv in the weight: x (N, C, *S) and y (N, O, *L) give (O, C/groups, *kernel)."""
    def forward(ctx, x, y, stride, pads, dilation, groups, kernel):
        xp, g = ctx.xp, groups
        (n, c), o, length = x.shape[:2], y.shape[1], y.shape[2:]
        k, l = c // g * math.prod(kernel), math.prod(length)
        view = windows(xp, x, kernel, length, stride, pads, dilation)
        out = xp.zeros((g, o // g, k), dtype=xp.result_type(x, y))
        parts = chunks(n, c * math.prod(kernel) * l * x.itemsize, x.nbytes + y.nbytes)
        step = parts[0].stop if parts else 0
        buf, ybuf = xp.empty(c * math.prod(kernel) * l * step, dtype=x.dtype), xp.empty(o * l * step, dtype=y.dtype)
        for part in parts:
            m = part.stop - part.start
            cols = columns(view, part, buf).reshape(g, k, m * l)
            out += xp.matmul(channels_first(y, part, ybuf).reshape(g, o // g, m * l), cols.transpose(0, 2, 1))
        need_x, need_y = ctx.needs_input_grad
        ctx.geometry = dict(stride=stride, pads=pads, dilation=dilation, groups=groups)
        ctx.save_for_backward(x if need_y else None, y if need_x else None)
        ctx.size, ctx.length = x.shape[2:], length
        return out.reshape((o, c // g) + tuple(kernel))
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        gx = ConvTranspose.apply(y, grad, size=ctx.size, **ctx.geometry) if need_x else None
        gy = Conv.apply(x, grad, None, size=ctx.length, **ctx.geometry) if need_y else None
        return gx, gy


class Unfold(Op):
    """im2col as an op: (N, C, *S) to (N, C * prod(kernel), prod(size))."""
    def forward(ctx, x, kernel, size, stride, pads, dilation):
        ctx.geometry = dict(kernel=kernel, size=size, stride=stride, pads=pads, dilation=dilation)
        ctx.in_size = x.shape[2:]
        cols = ctx.xp.ascontiguousarray(windows(ctx.xp, x, kernel, size, stride, pads, dilation))
        return cols.reshape(x.shape[0], x.shape[1] * math.prod(kernel), math.prod(size))
    def backward(ctx, grad):
        return Fold.apply(grad, shape=ctx.in_size, **ctx.geometry)
    jvp = linear_jvp


class Fold(Op):
    """col2im as an op: (N, C * prod(kernel), prod(size)) to (N, C, *shape), overlaps added up."""
    def forward(ctx, cols, shape, kernel, size, stride, pads, dilation):
        ctx.geometry = dict(kernel=kernel, size=size, stride=stride, pads=pads, dilation=dilation)
        n, c = cols.shape[0], cols.shape[1] // math.prod(kernel)
        out = ctx.xp.zeros((n, c) + tuple(shape), dtype=cols.dtype)
        return col2im(cols.reshape((n, c) + tuple(kernel) + tuple(size)), out, stride, pads, dilation)
    def backward(ctx, grad):
        return Unfold.apply(grad, **ctx.geometry)
    jvp = linear_jvp


# --- the functions (torch.nn.functional's signatures) ------------------------------------------------

def _shape(t):
    return list(t.shape)


def _check_inputs(op, n, input, weight, bias):
    """Tensors on one device with one dtype; input (C, *S) or (N, C, *S), weight with n spatial dims."""
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"{op}: expected {n + 1}D (unbatched) or {n + 2}D (batched) input, but got input of "
                           f"size: {_shape(input)}; the layout is (C, {_spatial(n)}) or (N, C, {_spatial(n)})")
    if weight.ndim != n + 2:
        raise RuntimeError(f"{op}: expected a {n + 2}D weight, got weight of size {_shape(weight)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if t.dtype != input.dtype:
            raise RuntimeError(f"{op}: input type ({input.dtype}) and {name} type ({t.dtype}) should be the same; "
                               f"convert one of them, e.g. input.to({t.dtype})")
        if t.device != input.device:
            raise RuntimeError(f"{op}: input is on {input.device} but {name} is on {t.device}; move them to one "
                               f"device, e.g. input.to('{t.device}')")


def _spatial(n):
    return ", ".join(("D", "H", "W")[3 - n:]) if n <= 3 else f"{n} spatial dims"


def _geometry(op, n, stride, dilation):
    stride, dilation = ntuple(op, "stride", stride, n), ntuple(op, "dilation", dilation, n)
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"{op}: non-positive stride is not supported (stride={stride})")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"{op}: non-positive dilation is not supported (dilation={dilation})")
    return stride, dilation


def _int_padding(op, n, padding):
    padding = ntuple(op, "padding", padding, n)
    if any(p < 0 for p in padding):
        raise RuntimeError(f"{op}: negative padding is not supported (padding={padding})")
    return padding


def _check_groups(op, groups, weight):
    if isinstance(groups, bool) or not isinstance(groups, int):
        raise TypeError(f"{op}: groups must be an int, got {type(groups).__name__} {groups!r}")
    if groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported (groups={groups})")
    if weight.shape[0] < groups or weight.shape[0] % groups:
        raise RuntimeError(f"{op}: given groups={groups}, expected weight to be divisible by {groups} (and at least "
                           f"{groups}) at dimension 0, but got weight of size {_shape(weight)} instead")


def _output_size(op, in_size, kernel, stride, pads, dilation):
    """Sliding windows per spatial dim; refused (as PyTorch does) when the kernel does not fit."""
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(in_size, pads))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p < r for p, r in zip(padded, reach)):
        raise RuntimeError(f"{op}: calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
                           f"Kernel size: ({' x '.join(map(str, reach))}) (dilation included). Kernel size can't be "
                           f"greater than actual input size; pad the input or use a smaller kernel or dilation")
    return tuple((p - r) // s + 1 for p, r, s in zip(padded, reach, stride))


def _conv(op, n, input, weight, bias, stride, padding, dilation, groups):
    _check_inputs(op, n, input, weight, bias)
    stride, dilation = _geometry(op, n, stride, dilation)
    _check_groups(op, groups, weight)
    batched = input.ndim == n + 2
    x = input if batched else input.unsqueeze(0)
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"{op}: given groups={groups}, weight of size {_shape(weight)}, expected input"
                           f"{_shape(x)} to have {weight.shape[1] * groups} channels, but got {x.shape[1]} channels "
                           f"instead")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise RuntimeError(f"{op}: given weight of size {_shape(weight)}, expected bias to be 1-dimensional with "
                           f"{weight.shape[0]} elements, but got bias of size {_shape(bias)} instead")
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * n
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError(f"{op}: padding='same' is not supported for strided convolutions "
                                   f"(stride={stride}); pad explicitly with an int or tuple instead")
            # the total d * (k - 1) split as evenly as possible, the odd one out on the high side (as PyTorch)
            pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation))
        else:
            raise RuntimeError(f"{op}: invalid padding string: {padding!r}; use 'valid', 'same', an int or a tuple")
    else:
        pads = tuple((p, p) for p in _int_padding(op, n, padding))
    size = _output_size(op, tuple(x.shape[2:]), kernel, stride, pads, dilation)
    out = Conv.apply(x, weight, bias, stride=stride, pads=pads, dilation=dilation, groups=groups, size=size)
    return out if batched else out.squeeze(0)


@autocast_entry
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d cross-correlation: input (N, C, W) or (C, W), weight (O, C/groups, kW), bias (O,)."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


@autocast_entry
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d cross-correlation: input (N, C, H, W) or (C, H, W), weight (O, C/groups, kH, kW), bias (O,).
    ``padding`` is an int, a pair, "valid" (none) or "same" (output as large as the input; stride 1)."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


@autocast_entry
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-d cross-correlation: input (N, C, D, H, W) or (C, D, H, W), weight (O, C/groups, kD, kH, kW)."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op, n, input, weight, bias, stride, padding, output_padding, groups, dilation):
    _check_inputs(op, n, input, weight, bias)
    stride, dilation = _geometry(op, n, stride, dilation)
    if isinstance(padding, str):
        raise TypeError(f"{op}: padding must be an int or a tuple of ints, not str {padding!r} ('same' and 'valid' "
                        f"are for convolutions, not transposed ones)")
    padding = _int_padding(op, n, padding)
    output_padding = ntuple(op, "output_padding", output_padding, n)
    _check_groups(op, groups, weight)
    batched = input.ndim == n + 2
    y = input if batched else input.unsqueeze(0)
    if y.shape[1] != weight.shape[0]:
        raise RuntimeError(f"{op}: given transposed=1, weight of size {_shape(weight)}, expected input{_shape(y)} "
                           f"to have {weight.shape[0]} channels, but got {y.shape[1]} channels instead")
    out_channels = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise RuntimeError(f"{op}: given transposed=1, weight of size {_shape(weight)}, expected bias to be "
                           f"1-dimensional with {out_channels} elements, but got bias of size {_shape(bias)} instead")
    if any(p < 0 or (p >= s and p >= d) for p, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(f"{op}: output padding must be smaller than either stride or dilation, but got "
                           f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
    kernel = tuple(weight.shape[2:])
    size = tuple((length - 1) * s - 2 * p + d * (k - 1) + q + 1 for length, s, p, d, k, q
                 in zip(y.shape[2:], stride, padding, dilation, kernel, output_padding))
    if any(s <= 0 for s in size):
        raise RuntimeError(f"{op}: the output would have size {size} (input {_shape(y)}, kernel {kernel}, "
                           f"stride {stride}, padding {padding}, dilation {dilation}); reduce the padding")
    out = ConvTranspose.apply(y, weight, stride=stride, pads=tuple((p, p) for p in padding), dilation=dilation,
                              groups=groups, size=size)
    if bias is not None:
        out = out + bias.reshape((out_channels,) + (1,) * n)
    return out if batched else out.squeeze(0)


@autocast_entry
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The gradient of conv1d with respect to its input, as a layer: input (N, C_in, W), weight
    (C_in, C_out/groups, kW); ``output_padding`` adds to one side of the output size."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


@autocast_entry
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The gradient of conv2d with respect to its input, as a layer: input (N, C_in, H, W), weight
    (C_in, C_out/groups, kH, kW)."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


@autocast_entry
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The gradient of conv3d with respect to its input: input (N, C_in, D, H, W), weight (C_in, C_out/groups, kD,
    kH, kW)."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def _block_geometry(op, kernel_size, dilation, padding, stride):
    kernel = ntuple(op, "kernel_size", kernel_size, 2)
    stride, dilation = _geometry(op, 2, stride, dilation)
    if any(k <= 0 for k in kernel):
        raise RuntimeError(f"{op}: kernel_size should be greater than zero, but got kernel_size={kernel}")
    pads = tuple((p, p) for p in _int_padding(op, 2, padding))
    return kernel, stride, pads, dilation


def _blocks(op, spatial, kernel, stride, pads, dilation):
    size = tuple((s + lo + hi - d * (k - 1) - 1) // t + 1
                 for s, k, t, (lo, hi), d in zip(spatial, kernel, stride, pads, dilation))
    if any(b < 1 for b in size):
        raise RuntimeError(f"{op}: given spatial size {tuple(spatial)}, kernel_size={kernel}, dilation={dilation}, "
                           f"padding={tuple(lo for lo, _ in pads)}, stride={stride}: the array of sliding blocks "
                           f"would have shape {size}, but its components must be at least one")
    return size


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: the sliding blocks of input (N, C, H, W) or (C, H, W) as columns, (N, C * kH * kW, L)."""
    kernel, stride, pads, dilation = _block_geometry("unfold", kernel_size, dilation, padding, stride)
    if input.ndim not in (3, 4) or any(s == 0 for s in input.shape[-3:]):
        raise RuntimeError(f"unfold: expected 3D or 4D (batch mode) input with possibly 0 batch size and other "
                           f"non-zero dimensions, but got: {_shape(input)}")
    batched = input.ndim == 4
    x = input if batched else input.unsqueeze(0)
    size = _blocks("unfold", x.shape[2:], kernel, stride, pads, dilation)
    out = Unfold.apply(x, kernel=kernel, size=size, stride=stride, pads=pads, dilation=dilation)
    return out if batched else out.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im: columns (N, C * kH * kW, L) or (C * kH * kW, L) summed back into (N, C, *output_size)."""
    shape = ntuple("fold", "output_size", output_size, 2)
    kernel, stride, pads, dilation = _block_geometry("fold", kernel_size, dilation, padding, stride)
    if input.ndim not in (2, 3) or any(s == 0 for s in input.shape[-2:]):
        raise RuntimeError(f"fold: expected 2D or 3D (batch mode) input with possibly 0 batch size and non-zero "
                           f"dimensions, but got: {_shape(input)}")
    batched = input.ndim == 3
    cols = input if batched else input.unsqueeze(0)
    if cols.shape[1] % math.prod(kernel):
        raise RuntimeError(f"fold: expected size of input's dimension 1 to be divisible by the product of "
                           f"kernel_size, but got input.size(1)={cols.shape[1]} and kernel_size={kernel}")
    size = _blocks("fold", shape, kernel, stride, pads, dilation)
    if cols.shape[2] != math.prod(size):
        raise RuntimeError(f"fold: given output_size={shape}, kernel_size={kernel}, dilation={dilation}, padding="
                           f"{tuple(lo for lo, _ in pads)}, stride={stride}, expected size of input's dimension 2 "
                           f"to match the calculated number of sliding blocks {' * '.join(map(str, size))} = "
                           f"{math.prod(size)}, but got input.size(2)={cols.shape[2]}")
    out = Fold.apply(cols, shape=shape, kernel=kernel, size=size, stride=stride, pads=pads, dilation=dilation)
    return out if batched else out.squeeze(0)
