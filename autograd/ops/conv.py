"""Convolution: conv1d/2d/3d, conv_transpose1d/2d/3d, unfold/fold (im2col + GEMM).

Every convolution here is one of three linear maps, N-d throughout:

    Conv            y = W * x     im2col(x), then a GEMM writing y in (N, O, *L) directly
    ConvTranspose   x = W^T * y   the input gradient of Conv: a correlation of y with the
                                  flipped weight (stride 1), else GEMMs to columns and col2im
    ConvWeightGrad  W = y * x     the weight gradient of Conv: GEMMs against im2col(x)

Each one's backward is made of the other two, so derivatives of any order work, and
``conv_transpose`` is ConvTranspose itself. im2col is an ``as_strided`` view (a few µs)
copied into a scratch buffer laid out (C, *kernel, n, *out), so that ONE GEMM covers a whole
chunk of the batch; col2im adds columns back with one strided add per kernel position over
the whole chunk (no ``add.at``).

The batch goes through in chunks of at most CHUNK_BYTES of columns, and of no more columns
than the op's input and output take together (the forward), or half of that (the two gradient
ops, which run in backward next to everything backward holds): the scratch memory stays bounded
by what the op's own arrays take (a small net's whole-batch columns would be many times that),
and the BLAS sees few large GEMMs. (Per-sample GEMMs are as fast on an idle CPU, but each one is
a thread sync: on a busy machine 32 of them ran 5-10x slower than one.) Where even one sample's
columns exceed that budget (a big kernel, few samples), the gradient ops cover a run of kernel
positions per GEMM instead of all of them, down to one position: ``plan`` picks the walk with the
fewest calls that fits. Nothing is saved but the inputs: the weight gradient makes its columns again.

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
SCRATCH_SHARE = 2  # the gradient ops' scratch per GEMM: at most 1/SCRATCH_SHARE of their arrays


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


def placement(k, size, extent, stride, pads, dilation):
    """Where kernel position ``k`` reads: the slices of the input (``extent`` per dim) that output positions
    0..``size`` - 1 read through it, and those output positions; None when all of them fall in the padding."""
    dst, src = [], []
    for ki, length, ext, s, (lo, _), d in zip(k, size, extent, stride, pads, dilation):
        offset = ki * d - lo                          # output position l reads input position l * s + offset
        first = max(0, -(offset // s))                # the first l inside the input, and the last
        last = min(length - 1, (ext - 1 - offset) // s)
        if last < first:
            return None
        dst.append(slice(first * s + offset, last * s + offset + 1, s))
        src.append(slice(first, last + 1))
    return tuple(dst), tuple(src)


def col2im(cols, out, stride, pads, dilation, prefix=()):
    """The adjoint of im2col: each entry of ``cols`` (n, C, *kernel, *size) is added into ``out``
    (n, C, *S) where the windows read it from (entries that came from the padding are dropped).
    One strided add over the whole batch per kernel position. With a ``prefix``, ``cols`` holds only
    the kernel positions that start with it (their trailing kernel dims)."""
    n = out.ndim - 2
    kernel, size = cols.shape[2:2 + n - len(prefix)], cols.shape[2 + n - len(prefix):]
    for k in itertools.product(*map(range, kernel)):
        at = placement(prefix + k, size, out.shape[2:], stride, pads, dilation)
        if at is not None:
            out[(slice(None), slice(None)) + at[0]] += cols[(slice(None), slice(None)) + k + at[1]]
    return out


def chunks(n, sample_bytes, arrays_bytes=CHUNK_BYTES):
    """The batch in near-equal slices whose columns take at most CHUNK_BYTES, and at most ``arrays_bytes`` (a
    budget from what the op's arrays take: the scratch then never outgrows it), one sample at least."""
    if n == 0:
        return []
    fits = max(1, min(CHUNK_BYTES, arrays_bytes) // max(1, sample_bytes))  # samples per chunk, at most
    size, extra = divmod(n, -(-n // fits))  # as few chunks as fit, as equal as they go, the longer ones first
    stops = list(itertools.accumulate([size + 1] * extra + [size] * (-(-n // fits) - extra)))
    return [slice(start, stop) for start, stop in zip([0] + stops, stops)]


def scratch_bytes(*arrays):
    """The most scratch one GEMM may take in the gradient ops: a share of what their arrays take, so that
    a backward's peak stays near the arrays it must hold anyway."""
    return sum(a.nbytes for a in arrays) // SCRATCH_SHARE


def plan(n, kernel, per_position, per_sample, budget, calls_per_run=1, calls_per_chunk=1):
    """How a gradient op walks the batch and the kernel: (level, parts). Each GEMM covers one chunk
    ``part`` of the batch and the kernel positions that share their first ``level`` indices (level 0:
    all of them, im2col; level len(kernel): one position). A sample's scratch is ``per_position`` bytes
    for each position covered plus ``per_sample``; of the levels where one sample fits the budget, the
    one with the fewest kernel calls wins (``calls_per_run`` per run of positions, ``calls_per_chunk``
    more per chunk; the coarser level on a tie)."""
    budget, best = min(CHUNK_BYTES, budget), None
    for level in range(len(kernel) + 1):
        sample = per_position * math.prod(kernel[level:]) + per_sample
        if sample > budget and level < len(kernel):
            continue
        parts = chunks(n, sample, budget)
        calls = len(parts) * (calls_per_run * math.prod(kernel[:level]) + calls_per_chunk)
        if best is None or calls < best[0]:
            best = calls, level, parts
    return best[1:]


def columns(view, part, buf, spatial=None):
    """im2col of the samples ``part`` of ``view`` (N, C, *kernel, *size), copied into the scratch
    ``buf`` laid out (C, *kernel, n, *size): one GEMM then covers the whole chunk. ``spatial``: how
    many trailing dims are ``size`` (when ``view`` holds only some kernel dims; else half of them)."""
    nd = (view.ndim - 2) // 2 if spatial is None else spatial
    nk, m = view.ndim - 2 - nd, part.stop - part.start
    shape = view.shape[1:2 + nk] + (m,) + view.shape[2 + nk:]
    cols = buf[:math.prod(shape)].reshape(shape)
    cols[...] = view[part].transpose((1,) + tuple(range(2, 2 + nk)) + (0,) + tuple(range(2 + nk, 2 + nk + nd)))
    return cols


def channels_first(y, part, buf):
    """y[part] (n, O, *L) copied into ``buf`` as (O, n, *L), the layout the chunk's GEMM takes."""
    shape = (y.shape[1], part.stop - part.start) + y.shape[2:]
    out = buf[:math.prod(shape)].reshape(shape)
    out[...] = y[part].swapaxes(0, 1)
    return out


def correlate(ctx, x, weight, stride, pads, dilation, groups, size, share=1):
    """(N, C, *S) correlated with (O, C/groups, *K): (N, O, *size), im2col + one GEMM per chunk; the
    columns of a chunk take at most 1/``share`` of what x and the output take."""
    xp, g = ctx.xp, groups
    (n, c), (o, kernel) = x.shape[:2], (weight.shape[0], weight.shape[2:])
    k, length = c // g * math.prod(kernel), math.prod(size)
    view = windows(xp, x, kernel, size, stride, pads, dilation)
    w = weight.reshape(g, o // g, k)
    out = xp.empty((n, o, length), dtype=xp.result_type(x, weight))
    parts = chunks(n, c * math.prod(kernel) * length * x.itemsize, (x.nbytes + out.nbytes) // share)
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
            return correlate(ctx, y, flipped, stride, tuple(full), dilation, groups, size, SCRATCH_SHARE)
        # else GEMMs of the weight (C * run, O) and y (O, n * L) to columns for a run of kernel positions, added
        # into the input positions they reach (col2im); the runs and the chunks of the batch keep the scratch
        # within a share of the op's arrays (all positions at once when that fits: one GEMM per chunk)
        l, nk = math.prod(length), len(kernel)
        out = xp.zeros((n, g * cg) + tuple(size), dtype=xp.result_type(y, weight))
        level, parts = plan(n, kernel, g * cg * l * y.itemsize, o * l * y.itemsize, scratch_bytes(y, out),
                            calls_per_chunk=1 + math.prod(kernel))  # y's copy, and col2im's add per position
        rest, run = tuple(kernel[level:]), math.prod(kernel[level:])
        step = parts[0].stop if parts else 0
        ybuf, cbuf = xp.empty(o * l * step, dtype=y.dtype), xp.empty(g * cg * run * l * step, dtype=out.dtype)
        w = weight.reshape((g, o // g, cg) + tuple(kernel))
        for part in parts:
            m = part.stop - part.start
            ys = channels_first(y, part, ybuf).reshape(g, o // g, m * l)
            for p in itertools.product(*map(range, kernel[:level])):
                wp = w[(slice(None),) * 3 + p].reshape(g, o // g, cg * run).transpose(0, 2, 1)
                cols = xp.matmul(wp, ys, out=cbuf[:g * cg * run * m * l].reshape(g, cg * run, m * l))
                cols = cols.reshape((g * cg,) + rest + (m,) + tuple(length))  # (C, *rest, n, *L) to (n, C, *rest, *L)
                cols = cols.transpose((1 + len(rest), 0) + tuple(range(1, 1 + len(rest)))
                                      + tuple(range(2 + len(rest), 2 + len(rest) + nk)))
                col2im(cols, out[part], stride, pads, dilation, prefix=p)
        return out
    def backward(ctx, grad):
        y, weight = ctx.saved_tensors
        need_y, need_w = ctx.needs_input_grad
        gy = Conv.apply(grad, weight, None, size=ctx.length, **ctx.geometry) if need_y else None
        gw = ConvWeightGrad.apply(grad, y, kernel=ctx.kernel, **ctx.geometry) if need_w else None
        return gy, gw
    jvp = multilinear_jvp


class ConvWeightGrad(Op):
    """The adjoint of Conv in the weight: x (N, C, *S) and y (N, O, *L) give (O, C/groups, *kernel).
    Per chunk of the batch and run of kernel positions (see ``plan``), one GEMM: y (O, n * L) against
    the columns of x for those positions (C * run, n * L), into the weight's block for them."""
    def forward(ctx, x, y, stride, pads, dilation, groups, kernel):
        xp, g = ctx.xp, groups
        (n, c), o, length = x.shape[:2], y.shape[1], y.shape[2:]
        l, nk = math.prod(length), len(kernel)
        view = windows(xp, x, kernel, length, stride, pads, dilation)
        level, parts = plan(n, kernel, c * l * x.itemsize, o * l * y.itemsize, scratch_bytes(x, y),
                            calls_per_run=3)  # the columns' copy, the GEMM, the sum into out
        rest, run = tuple(kernel[level:]), math.prod(kernel[level:])
        out = xp.zeros(tuple(kernel[:level]) + (g, o // g, c // g * run), dtype=xp.result_type(x, y))
        step = parts[0].stop if parts else 0
        xbuf, ybuf = xp.empty(c * run * l * step, dtype=x.dtype), xp.empty(o * l * step, dtype=y.dtype)
        for part in parts:
            m = part.stop - part.start
            ys = channels_first(y, part, ybuf).reshape(g, o // g, m * l)
            for p in itertools.product(*map(range, kernel[:level])):
                xs = columns(view[(slice(None), slice(None)) + p], part, xbuf, nk).reshape(g, c // g * run, m * l)
                out[p] += xp.matmul(ys, xs.transpose(0, 2, 1))
        out = out.reshape(tuple(kernel[:level]) + (o, c // g) + rest)  # (*K[:level], O, C/g, *rest) to (O, C/g, *K)
        out = out.transpose((level, level + 1) + tuple(range(level)) + tuple(range(level + 2, 2 + nk)))
        need_x, need_y = ctx.needs_input_grad
        ctx.geometry = dict(stride=stride, pads=pads, dilation=dilation, groups=groups)
        ctx.save_for_backward(x if need_y else None, y if need_x else None)
        ctx.size, ctx.length = x.shape[2:], length
        return xp.ascontiguousarray(out)
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
