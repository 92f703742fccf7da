"""Linear algebra: matrix products, einsum, norms and the decompositions behind ``autograd.linalg``.

The products (mm, bmm, addmm, tensordot, kron ...) are compositions of ``matmul``, ``mul`` and
reshapes, so their gradients (and double backward) come from those ops. What needs a kernel of its
own is an ``Op`` below: einsum (one pairwise contraction), vector norms (PyTorch's gradient at a zero
norm is 0), matrix_exp, and the LAPACK-backed factorizations, whose backward rules are PyTorch's
(``derivatives.yaml`` / ``FunctionsManual.cpp``) written with Tensor ops.
"""

import builtins
import functools
import math
import string
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..function import Op, same_dtype, multilinear_jvp, sum_terms
from ..keywords import numpy_keywords
from ..tensor import Tensor, eye, zeros_like
from ._dims import normalize_dim, normalize_dims
from .arithmetic import operands, sign, where
from .inplace import apply_inplace
from .shape import cat, stack

inf = math.inf


# --- helpers -------------------------------------------------------------------------------------------

def _shape(x):
    return tuple(x.shape)


def _need_dims(op, name, x, ndim):
    if x.ndim != ndim:
        raise RuntimeError(f"{op}: {name} must be a {ndim}-D tensor, got shape {_shape(x)} ({x.ndim}-D)")


def _same_dtype(op, *xs):
    if len({x.dtype for x in xs}) > 1:
        raise RuntimeError(f"{op}: expected all operands to have the same dtype, got "
                           f"{', '.join(str(x.dtype) for x in xs)}; cast them first, e.g. b.to(a.dtype)")


def _need_floating(op, x):
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating point tensor as input, got dtype {x.dtype} (shape "
                           f"{_shape(x)}); convert it first, e.g. x.double()")


def _need_square(op, x, ndim=2):
    _need_floating(op, x)
    if x.ndim < ndim or x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"{op}: expected a (batch of) square matrices, got shape {_shape(x)}; the last two dims "
                           f"must be equal")


def _no_low_precision(op, x):
    if np.dtype(x.dtype).itemsize < 4:
        raise RuntimeError(f"{op}: low precision dtypes are not supported, got {x.dtype}; use x.float()")


def _wide(a):
    """LAPACK (NumPy's and CuPy's) works in float32/float64: float16 and bfloat16 go through float32."""
    return a.astype(np.float32) if a.dtype.itemsize < 4 and a.dtype.kind != "i" else a


def _eye(n, like):
    return eye(n, dtype=like.dtype, device=like.device)


def _diag_embed(v):
    return v.unsqueeze(-1) * _eye(v.shape[-1], v)


def _tril(x, k=0):
    mask = x._backend.xp.tri(x.shape[-2], x.shape[-1], k, dtype=x.dtype)
    return x * Tensor._make(mask, x._backend)


def _triu(x, k=0):
    return x - _tril(x, k - 1)


def _linalg_error(op, e):
    return RuntimeError(f"{op}: {e}; the input is singular or not positive-definite (check its rank / "
                        f"eigenvalues, or add a multiple of the identity)")


# --- products: matmul, and compositions of it -----------------------------------------------------------

class Matmul(Op):
    """1-D, 2-D and batched products with NumPy's matmul rules (batch dims broadcast)."""
    def forward(ctx, x, y):
        need_x, need_y = ctx.needs_input_grad  # each operand is kept only for the other's gradient
        ctx.save_for_backward(x if need_y else None, y if need_x else None)
        ctx.ndims = (x.ndim, y.ndim)
        return same_dtype(ctx.xp.matmul(x, y), x)
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        if ctx.ndims == (1, 1):
            return (grad * y if need_x else None), (grad * x if need_y else None)
        if ctx.ndims[0] == 1:  # (k) @ (..., k, n): treat x as a row (1, k)
            gx = (grad.unsqueeze(-2) @ y.mT).squeeze(-2) if need_x else None
            gy = x.unsqueeze(-1) @ grad.unsqueeze(-2) if need_y else None
            return gx, gy
        if ctx.ndims[1] == 1:  # (..., m, k) @ (k): treat y as a column (k, 1)
            gx = grad.unsqueeze(-1) @ y.unsqueeze(-2) if need_x else None
            gy = (x.mT @ grad.unsqueeze(-1)).squeeze(-1) if need_y else None
            return gx, gy
        # broadcast batch dims are summed away by the engine
        return (grad @ y.mT if need_x else None), (x.mT @ grad if need_y else None)
    jvp = multilinear_jvp


def matmul(x, y):
    x, y = operands(x, y)
    if x.ndim == 0 or y.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dim, got shapes {tuple(x.shape)} and "
                           f"{tuple(y.shape)}; use * for scalars")
    k_x = x.shape[-1]
    k_y = y.shape[0] if y.ndim == 1 else y.shape[-2]
    if k_x != k_y:
        raise RuntimeError(f"matmul: shapes {tuple(x.shape)} and {tuple(y.shape)} cannot be multiplied: the last dim "
                           f"of the first ({k_x}) must equal the {'only' if y.ndim == 1 else 'second-to-last'} dim "
                           f"of the second ({k_y}); transpose one of them, e.g. y.T")
    return Matmul.apply(x, y)



def _check_inner(op, x, y, k_x, k_y):
    if k_x != k_y:
        raise RuntimeError(f"{op}: shapes {_shape(x)} and {_shape(y)} cannot be multiplied ({k_x} != {k_y})")


def mm(input, mat2):
    _need_dims("mm", "self", input, 2)
    _need_dims("mm", "mat2", mat2, 2)
    _same_dtype("mm", input, mat2)
    _check_inner("mm", input, mat2, input.shape[1], mat2.shape[0])
    return Matmul.apply(input, mat2)


def bmm(input, mat2):
    _need_dims("bmm", "batch1", input, 3)
    _need_dims("bmm", "batch2", mat2, 3)
    _same_dtype("bmm", input, mat2)
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {_shape(input)} and {_shape(mat2)}; bmm does not broadcast, "
                           f"use matmul")
    _check_inner("bmm", input, mat2, input.shape[2], mat2.shape[1])
    return Matmul.apply(input, mat2)


def mv(input, vec):
    _need_dims("mv", "self", input, 2)
    _need_dims("mv", "vec", vec, 1)
    _same_dtype("mv", input, vec)
    _check_inner("mv", input, vec, input.shape[1], vec.shape[0])
    return Matmul.apply(input, vec)


def dot(input, other):
    _need_dims("dot", "self", input, 1)
    _need_dims("dot", "other", other, 1)
    _same_dtype("dot", input, other)
    _check_inner("dot", input, other, input.shape[0], other.shape[0])
    return Matmul.apply(input, other)


vdot = dot  # the same for real tensors (the conjugate of a real number is itself)


def inner(input, other):
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    _same_dtype("inner", input, other)
    _check_inner("inner", input, other, input.shape[-1], other.shape[-1])
    return tensordot(input, other, dims=([-1], [-1]))


def outer(input, vec2):
    _need_dims("outer", "self", input, 1)
    _need_dims("outer", "vec2", vec2, 1)
    input, vec2 = operands(input, vec2)
    return input.unsqueeze(1) * vec2.unsqueeze(0)


ger = outer


def _add_scaled(op, input, product, beta, alpha):
    """beta * input + alpha * product; with beta == 0 input is ignored (its nan and inf too), as in PyTorch."""
    product = product if alpha == 1 else product * alpha
    try:
        fits = np.broadcast_shapes(_shape(input), _shape(product)) == _shape(product)
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: input of shape {_shape(input)} does not broadcast to the product's shape "
                           f"{_shape(product)}")
    if beta == 0:
        return product + zeros_like(product)
    return (input if beta == 1 else input * beta) + product


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    return _add_scaled("addmm", input, mm(mat1, mat2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return _add_scaled("addbmm", input, bmm(batch1, batch2).sum(0), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return _add_scaled("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    return _add_scaled("addmv", input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    return _add_scaled("addr", input, outer(vec1, vec2), beta, alpha)


def _in_place(fn, name):
    """``t.name_(...)``: ``fn(t, ...)`` written into t (its shape must not change)."""
    def method(input, *args, **kwargs):
        return apply_inplace(input, lambda old, _: fn(old, *args, **kwargs), None, name)
    method.__name__ = method.__qualname__ = name
    return method


addmm_, addbmm_, baddbmm_ = _in_place(addmm, "addmm_"), _in_place(addbmm, "addbmm_"), _in_place(baddbmm, "baddbmm_")
addmv_, addr_ = _in_place(addmv, "addmv_"), _in_place(addr, "addr_")


def multi_dot(tensors):
    """The product of a chain of matrices in the order that needs the fewest multiplications (the classic
    dynamic programme); the first and the last may be vectors."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"linalg.multi_dot: expected at least 2 tensors, got {len(tensors)}")
    first, last = tensors[0], tensors[-1]
    if first.ndim not in (1, 2) or last.ndim not in (1, 2) or any(t.ndim != 2 for t in tensors[1:-1]):
        raise RuntimeError(f"linalg.multi_dot: the first and last tensors must be 1-D or 2-D and the others 2-D, got "
                           f"shapes {[_shape(t) for t in tensors]}")
    _same_dtype("linalg.multi_dot", *tensors)
    mats = [first.unsqueeze(0) if first.ndim == 1 else first] + tensors[1:-1] + \
           [last.unsqueeze(1) if last.ndim == 1 else last]
    for i in range(len(mats) - 1):
        if mats[i].shape[1] != mats[i + 1].shape[0]:
            raise RuntimeError(f"linalg.multi_dot: tensor {i} of shape {_shape(tensors[i])} and tensor {i + 1} of "
                               f"shape {_shape(tensors[i + 1])} cannot be multiplied")
    dims = [m.shape[0] for m in mats] + [mats[-1].shape[1]]
    n = len(mats)
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def product(i, j):
        return mats[i] if i == j else product(i, split[i][j]) @ product(split[i][j] + 1, j)

    out = product(0, n - 1)
    if first.ndim == 1:
        out = out.squeeze(0)
    if last.ndim == 1:
        out = out.squeeze(-1)
    return out


def chain_matmul(*matrices):
    if any(m.ndim != 2 for m in matrices):
        raise RuntimeError(f"chain_matmul: expected 2-D tensors, got shapes {[_shape(m) for m in matrices]}")
    if len(matrices) == 1:
        return matrices[0].clone()
    return multi_dot(matrices)


def tensordot(a, b, dims=2):
    """Contract ``dims`` (a count of a's last / b's first dims, or two lists of dims) as one matmul."""
    _same_dtype("tensordot", a, b)
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot: expects dims >= 0, got {dims}")
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = dims
        dims_a = [dims_a] if isinstance(dims_a, int) else list(dims_a)
        dims_b = [dims_b] if isinstance(dims_b, int) else list(dims_b)
    if len(dims_a) != len(dims_b):
        raise RuntimeError(f"tensordot: both dimension lists should have the same length, got {dims_a} and {dims_b}")
    dims_a = [normalize_dim("tensordot", d, _shape(a)) for d in dims_a]
    dims_b = [normalize_dim("tensordot", d, _shape(b)) for d in dims_b]
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(f"tensordot: contracted dimensions need to match, but dim {da} of a {_shape(a)} has "
                               f"size {a.shape[da]} and dim {db} of b {_shape(b)} has size {b.shape[db]}")
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    k = math.prod(a.shape[d] for d in dims_a)
    out_shape = [a.shape[d] for d in free_a] + [b.shape[d] for d in free_b]
    left = a.permute(*free_a, *dims_a).reshape(math.prod(a.shape[d] for d in free_a), k)
    right = b.permute(*dims_b, *free_b).reshape(k, math.prod(b.shape[d] for d in free_b))
    return (left @ right).reshape(*out_shape)


def kron(input, other):
    """Every product input[i] * other[j] at index i * other.shape + j: a broadcast product, interleaved."""
    n = builtins.max(input.ndim, other.ndim)
    a_shape = (1,) * (n - input.ndim) + _shape(input)  # the fewer dims padded with leading 1s
    b_shape = (1,) * (n - other.ndim) + _shape(other)
    a = input.reshape(*[s for d in a_shape for s in (d, 1)])
    b = other.reshape(*[s for d in b_shape for s in (1, d)])
    return (a * b).reshape(*[p * q for p, q in zip(a_shape, b_shape)])


@numpy_keywords
def cross(input, other, dim=None):
    """torch.cross: without ``dim``, the first dim of size 3 (PyTorch's deprecated default)."""
    if dim is None:
        shape = np.broadcast_shapes(_shape(input), _shape(other))
        dim = next((d for d, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dim of size 3 in shapes {_shape(input)} and {_shape(other)}")
    return _cross("cross", input, other, dim)


def _cross(op, a, b, dim):
    _same_dtype(op, a, b)
    if a.ndim != b.ndim:
        raise RuntimeError(f"{op}: inputs must have the same number of dimensions, got {_shape(a)} and {_shape(b)}")
    shape = np.broadcast_shapes(_shape(a), _shape(b))
    d = normalize_dim(op, dim, shape)
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise RuntimeError(f"{op}: dim {dim} must have size 3 in both inputs, got shapes {_shape(a)} and {_shape(b)}")
    a0, a1, a2 = (a.select(d, i) for i in range(3))
    b0, b1, b2 = (b.select(d, i) for i in range(3))
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim=d)


def matrix_power(input, n):
    op = "linalg.matrix_power"
    if input.ndim < 2 or input.shape[-1] != input.shape[-2]:
        raise RuntimeError(f"{op}: expected a (batch of) square matrices, got shape {_shape(input)}")
    if n == 0:
        return _eye(input.shape[-1], input).expand(*input.shape) + zeros_like(input) * input
    if n < 0:
        input, n = inv(input), -n
    result, power = None, input
    while n:  # square-and-multiply
        if n & 1:
            result = power if result is None else result @ power
        n >>= 1
        if n:
            power = power @ power
    return result if result is not input else input.clone()


# --- einsum: NumPy's contraction order, each pairwise step one op -----------------------------------------

class Einsum(Op):
    """One einsum over one or two operands (the pairwise steps of a longer contraction)."""
    def forward(ctx, *arrays, equation):
        ctx.save_for_backward(*arrays)
        ctx.equation = equation
        # NumPy contracts two large operands through BLAS only when asked to optimise (4x faster at 256 x 256),
        # which costs ~20 us of planning: worth it past a few thousand elements (CuPy always uses matmul)
        large = len(arrays) == 2 and builtins.min(a.size for a in arrays) >= 4096
        return same_dtype(ctx.xp.einsum(equation, *(_wide(a) for a in arrays), optimize=large), arrays[0])

    def backward(ctx, grad):
        xs = ctx.saved_tensors
        ins, out = ctx.equation.split("->")
        ins = ins.split(",")
        return tuple(_einsum_grad(grad, out, [(x, l) for j, (x, l) in enumerate(zip(xs, ins)) if j != i], ins[i],
                                  _shape(xs[i])) if ctx.needs_input_grad[i] else None for i in range(len(xs)))
    jvp = multilinear_jvp


def _einsum_grad(grad, grad_labels, others, labels, shape):
    """d(einsum)/d(operand): the gradient contracted with the other operands onto ``labels``; labels summed
    inside this operand alone are broadcast back, repeated labels (a diagonal) are put back on the diagonal."""
    sizes = dict(zip(labels, shape))
    unique = "".join(dict.fromkeys(labels))
    available = set(grad_labels).union(*(set(l) for _, l in others))
    present = "".join(c for c in unique if c in available)
    g = einsum(",".join([grad_labels] + [l for _, l in others]) + "->" + present, grad, *(t for t, _ in others))
    if present != unique:
        g = g.reshape(*[sizes[c] if c in present else 1 for c in unique]).expand(*[sizes[c] for c in unique])
    if unique != labels:
        fresh = iter(c for c in string.ascii_letters if c not in labels)
        out, eyes, seen = [], [], set()
        for c in labels:
            if c in seen:
                f = next(fresh)
                eyes.append((c + f, _eye(sizes[c], g)))
                c = f
            seen.add(out.append(c) or c)
        g = einsum(",".join([unique] + [l for l, _ in eyes]) + "->" + "".join(out), g, *(e for _, e in eyes))
    return g


@functools.lru_cache(maxsize=256)
def _einsum_plan(equation, shapes):
    """(each operand's labels, the output's labels, each label's size, the pairwise steps) for ``equation`` on
    operands of these shapes; remembered, as a model calls the same einsum on the same shapes again and again.
    "..." becomes letters the equation does not use; the steps are NumPy's greedy order (numpy.einsum_path)."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum(): {equation!r} names {len(terms)} operands, but {len(shapes)} were given")
    free = [c for c in string.ascii_letters if c not in equation]
    n_ellipsis = builtins.max([len(shape) - len(term.replace("...", "")) for term, shape in zip(terms, shapes)
                               if "..." in term] + [0])
    ellipsis = "".join(free[:n_ellipsis])
    inputs = []
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        if any(c not in string.ascii_letters for c in term.replace("...", "")):
            raise ValueError(f"einsum(): invalid subscript in {equation!r}: use letters a-z, A-Z and '...'")
        if "..." in term:
            n = len(shape) - len(term.replace("...", ""))
            if n < 0:
                raise RuntimeError(f"einsum(): operand {i} of shape {shape} has fewer dims than {term!r} names")
            term = term.replace("...", ellipsis[len(ellipsis) - n:] if n else "")
        if len(term) != len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in {term!r} ({len(term)}) does not match the "
                               f"number of dimensions ({len(shape)}) of operand {i} of shape {shape} and no ellipsis "
                               f"was given")
        inputs.append(term)
    if arrow:
        output = rhs.replace("...", ellipsis)
        for c in output:
            if c not in "".join(inputs):
                raise ValueError(f"einsum(): output subscript {c!r} in {equation!r} does not appear in any input")
    else:
        counts = "".join(inputs)
        output = ellipsis + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ellipsis))
    seen = {}  # label -> its sizes; a size 1 broadcasts against the others, as in PyTorch
    for term, shape in zip(inputs, shapes):
        for label, size in zip(term, shape):
            seen.setdefault(label, set()).add(size)
    for label, label_sizes in seen.items():
        if len(label_sizes - {1}) > 1:
            raise RuntimeError(f"einsum(): subscript {label!r} has sizes {sorted(label_sizes)} in {equation!r} with "
                               f"shapes {list(shapes)}; each subscript must have one size (or 1)")
    sizes = {label: builtins.max(label_sizes) for label, label_sizes in seen.items()}
    if len(shapes) <= 2:
        path = [tuple(range(len(shapes)))]
    else:
        full = [np.broadcast_to(np.empty(()), tuple(sizes[c] for c in term)) for term in inputs]
        path = np.einsum_path(",".join(inputs) + "->" + output, *full, optimize="greedy")[0][1:]
    return inputs, output, sizes, path


def einsum(equation, *operands):
    """Einstein summation. Three or more operands are contracted pairwise in the order NumPy's optimiser
    (``numpy.einsum_path``, greedy) picks from the shapes alone, so both backends run the same steps."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum(): at least one operand is needed")
    _same_dtype("einsum", *operands)
    inputs, output, sizes, path = _einsum_plan(equation, tuple(_shape(t) for t in operands))
    operands = [t if all(s == sizes[c] for c, s in zip(term, t.shape)) else t.expand(*(sizes[c] for c in term))
                for t, term in zip(operands, inputs)]
    pending = list(zip(operands, inputs))
    for step in path:
        picked = [pending[i] for i in step]
        for i in sorted(step, reverse=True):
            pending.pop(i)
        needed = "".join(l for _, l in pending) + output
        labels = "".join(l for _, l in picked)
        keep = output if not pending else "".join(dict.fromkeys(c for c in labels if c in needed))
        pending.append((Einsum.apply(*(t for t, _ in picked), equation=",".join(l for _, l in picked) + "->" + keep),
                        keep))
    return pending[0][0]


# --- norms ------------------------------------------------------------------------------------------------

class VectorNorm(Op):
    """sum(|x|^p)^(1/p) over ``dims`` for finite p; the gradient at a zero norm is 0, as in PyTorch."""
    def forward(ctx, x, ord, dims, keepdim):
        xp, a = ctx.xp, ctx.xp.abs(_wide(x))
        if ord == 0:
            out = (a != 0).sum(axis=dims, keepdims=keepdim).astype(a.dtype)
        elif ord == 1:
            out = a.sum(axis=dims, keepdims=keepdim)
        elif ord == 2:
            out = xp.sqrt((a * a).sum(axis=dims, keepdims=keepdim))
        else:
            out = (a ** ord).sum(axis=dims, keepdims=keepdim) ** (1.0 / ord)
        out = same_dtype(xp.asarray(out), x)
        ctx.save_for_backward(x, out)
        ctx.ord, ctx.dims, ctx.keepdim = ord, dims, keepdim
        return out

    def backward(ctx, grad):
        x, norm = ctx.saved_tensors
        p = ctx.ord
        if p == 0:
            return None
        if not ctx.keepdim:
            for d in ctx.dims:
                grad, norm = grad.unsqueeze(d), norm.unsqueeze(d)
        if p == 1:
            return sign(x) * grad
        if p == 2:
            return x * where(norm == 0, 0.0, grad / norm)
        if p < 1:
            scaled = sign(x) * where(x == 0, 0.0, x.abs() ** (p - 1))
            return scaled * grad * norm ** (1 - p)
        scaled = sign(x) * x.abs() ** (p - 1) if p < 2 else x * x.abs() ** (p - 2)
        return scaled * where(norm == 0, 0.0, grad / norm ** (p - 1))


@numpy_keywords
def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    op = "linalg.vector_norm"
    if dtype is not None:
        x = x.to(dtype)
    _need_floating(op, x)
    if isinstance(dim, (tuple, list)) and not dim:  # () means every dim, as None does
        dim = None
    dims = normalize_dims(op, dim, _shape(x))
    if isinstance(ord, str):
        raise RuntimeError(f"{op}: ord must be a number, got {ord!r}; use linalg.matrix_norm for 'fro' and 'nuc'")
    if ord in (inf, -inf):
        if x.numel() == 0 and (dim is None or any(x.shape[d] == 0 for d in dims)):
            raise RuntimeError(f"{op}: cannot compute the {ord} norm of an empty tensor (shape {_shape(x)}) over dims "
                               f"{dims}: the operation has no identity")
        a = x.abs()
        if not dims:
            return a.clone()
        return a.amax(dims, keepdim) if ord > 0 else a.amin(dims, keepdim)
    if ord < 0 and x.numel() == 0 and (dim is None or any(x.shape[d] == 0 for d in dims)):
        raise RuntimeError(f"{op}: cannot compute the {ord} norm of an empty tensor (shape {_shape(x)})")
    return VectorNorm.apply(x, ord=float(ord), dims=dims, keepdim=keepdim)


@numpy_keywords
def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    op = "linalg.matrix_norm"
    if dtype is not None:
        A = A.to(dtype)
    _need_floating(op, A)
    if A.ndim < 2:
        raise RuntimeError(f"{op}: the input must have at least 2 dimensions, got shape {_shape(A)}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple, got {dim!r}")
    d0, d1 = (normalize_dim(op, d, _shape(A)) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"{op}: dims must be different, got {dim}")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord not in ("nuc", 1, -1, 2, -2, inf, -inf):
        raise RuntimeError(f"{op}: order {ord!r} not supported; use 'fro', 'nuc', 1, -1, 2, -2, inf or -inf")
    keep_shape = [1 if d in (d0, d1) else s for d, s in enumerate(A.shape)]
    out_shape = keep_shape if keepdim else [s for d, s in enumerate(A.shape) if d not in (d0, d1)]
    if ord in ("nuc", 2, -2):
        _no_low_precision(op, A)
        rest = [d for d in range(A.ndim) if d not in (d0, d1)]
        s = svdvals(A.permute(*rest, d0, d1))
        if ord == "nuc" or (ord == 2 and s.shape[-1] == 0):  # no singular values: the norm is 0
            value = s.sum(-1)
        else:
            value = s.amax(-1) if ord == 2 else s.amin(-1)
        return value.reshape(*out_shape)
    sum_dim, max_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
    sums = A.abs().sum(sum_dim, keepdim=True)
    if ord > 0 and A.shape[max_dim] == 0:  # the largest of no sums of absolute values is 0, as in PyTorch
        value = sums.sum(max_dim, keepdim=True)
    else:
        value = sums.amax(max_dim, keepdim=True) if ord > 0 else sums.amin(max_dim, keepdim=True)
    return value.reshape(*out_shape)


@numpy_keywords
def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a vector norm, or a matrix norm for 2 dims (or a 2-D input) with an ``ord``."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) == 2 or (dim is None and ord is not None and A.ndim == 2):
        return matrix_norm(A, "fro" if ord is None else ord, (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    if dim is None and ord is not None and A.ndim != 1:
        raise RuntimeError(f"linalg.norm: with ord={ord!r} and no dim the input must be 1-D or 2-D, got shape "
                           f"{_shape(A)}")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm: 'fro' and numbers are vector norms over ``dim`` (all dims by default), 'nuc' a matrix norm."""
    if isinstance(p, str):
        if p == "nuc":
            return matrix_norm(input, "nuc", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
        if p != "fro":
            raise RuntimeError(f"norm: p must be 'fro', 'nuc' or a number, got {p!r}")
        p = 2
    return vector_norm(input, p, dim, keepdim, dtype=dtype)


def dist(input, other, p=2):
    return vector_norm(input - other, p)


def cdist(x1, x2, p=2.0, compute_mode=None):
    """The p-norm distance between every row of x1 (..., P, M) and every row of x2 (..., R, M)."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist: only supports at least 2-D tensors, got shapes {_shape(x1)} and {_shape(x2)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: x1 and x2 must have the same number of columns, got shapes {_shape(x1)} and "
                           f"{_shape(x2)}")
    if p < 0:
        raise RuntimeError(f"cdist: only supports non-negative p values, got {p}")
    _need_floating("cdist", x1)
    _same_dtype("cdist", x1, x2)
    return vector_norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, dim=-1)


# --- matrix functions ---------------------------------------------------------------------------------------

class MatrixExp(Op):
    """exp(A) by scaling and squaring a degree-18 Taylor series; the gradient is PyTorch's: the top-right
    block of exp([[A^T, G], [0, A^T]])."""
    def forward(ctx, a):
        ctx.save_for_backward(a)
        xp, w = ctx.xp, _wide(a)
        if w.size == 0:
            return a.copy()
        largest = float(xp.abs(w).sum(axis=-2).max())  # the largest 1-norm; one host sync: the loop count
        if not math.isfinite(largest):
            return same_dtype(xp.full(w.shape, xp.nan, w.dtype), a)
        squarings = math.ceil(math.log2(largest / 0.5)) if largest > 0.5 else 0  # scaled to norm <= 0.5
        w = w / (2.0 ** squarings)
        term = result = xp.broadcast_to(xp.eye(w.shape[-1], dtype=w.dtype), w.shape).copy()
        for k in range(1, 19):
            term = xp.matmul(term, w) / k
            result = result + term
        for _ in range(squarings):
            result = xp.matmul(result, result)
        return same_dtype(result, a)

    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        n = a.shape[-1]
        block = cat([cat([a.mT, grad], -1), cat([zeros_like(a), a.mT], -1)], -2)
        return matrix_exp(block).narrow(-2, 0, n).narrow(-1, n, n)


def matrix_exp(A):
    _need_square("linalg.matrix_exp", A)
    return MatrixExp.apply(A)


# --- factorizations (LAPACK through xp.linalg) ------------------------------------------------------------

def _lapack(op, fn, *arrays):
    """Run xp.linalg's ``fn`` on ``arrays``, turning LAPACK's refusal (singular, not positive-definite) into
    PyTorch's RuntimeError. (NumPy's LinAlgError is a ValueError, which Op.apply reads as a shape error.)"""
    try:
        return fn(*arrays)
    except np.linalg.LinAlgError as e:
        raise _linalg_error(op, e) from None


class Inv(Op):
    def forward(ctx, a):
        out = same_dtype(_lapack("linalg.inv", ctx.xp.linalg.inv, _wide(a)), a)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, grad):
        (a_inv,) = ctx.saved_tensors
        return -(a_inv.mT @ grad @ a_inv.mT)

    def jvp(ctx, tangent):  # d(A^-1) = -A^-1 dA A^-1
        return -(ctx.output @ tangent @ ctx.output)


class Det(Op):
    """det(A); the gradient det(A) A^-T, and 0 where det(A) is exactly 0 (PyTorch's first-order result there)."""
    def forward(ctx, a):
        out = same_dtype(ctx.xp.asarray(ctx.xp.linalg.det(_wide(a))), a)
        ctx.save_for_backward(a, out)
        return out

    def backward(ctx, grad):
        a, det = ctx.saved_tensors
        singular = (det == 0).unsqueeze(-1).unsqueeze(-1)
        invertible = where(singular, _eye(a.shape[-1], a), a)  # identity in place of singular matrices
        return (grad * det).unsqueeze(-1).unsqueeze(-1) * Inv.apply(invertible).mT


class Slogdet(Op):
    """(sign, log|det|); only log|det| has a gradient for real input."""
    def forward(ctx, a):
        sign_, logabs = ctx.xp.linalg.slogdet(_wide(a))
        ctx.save_for_backward(a)
        return same_dtype(ctx.xp.asarray(sign_), a), same_dtype(ctx.xp.asarray(logabs), a)

    def backward(ctx, grad_sign, grad_logabsdet):
        (a,) = ctx.saved_tensors
        if grad_logabsdet is None:
            return None
        return grad_logabsdet.unsqueeze(-1).unsqueeze(-1) * inv(a).mT


class Solve(Op):
    """A X = B for square A (..., n, n) and B (..., n, k); batch dims broadcast."""
    def forward(ctx, a, b):
        xp = ctx.xp
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a_, b_ = xp.broadcast_to(_wide(a), batch + a.shape[-2:]), xp.broadcast_to(_wide(b), batch + b.shape[-2:])
        x = same_dtype(_lapack("linalg.solve", xp.linalg.solve, a_, b_), a)
        ctx.save_for_backward(a, x)
        return x

    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        grad_b = Solve.apply(a.mT, grad)
        return (-(grad_b @ x.mT) if ctx.needs_input_grad[0] else None), grad_b

    def jvp(ctx, tangent_a, tangent_b):  # A dX = dB - dA X
        a, x = ctx.inputs[0], ctx.output
        rhs = [tangent_b, -(tangent_a @ x) if tangent_a is not None else None]
        return Solve.apply(a, sum_terms(rhs, x).expand(x.shape))


class SolveTriangular(Op):
    """A X = B for triangular A (only its ``upper`` or lower triangle is read; ones on the diagonal with
    ``unitriangular``), by SciPy's solve_triangular (batched in scipy.linalg and cupyx.scipy.linalg)."""
    def forward(ctx, a, b, upper, unitriangular):
        xp = ctx.xp
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a_ = xp.ascontiguousarray(xp.broadcast_to(_wide(a), batch + a.shape[-2:]))
        b_ = xp.ascontiguousarray(xp.broadcast_to(_wide(b), batch + b.shape[-2:]))
        if a_.size == 0 or b_.size == 0:
            x = xp.zeros(b_.shape, a.dtype)
        else:
            solve_ = ctx.backend.scipy_linalg().solve_triangular
            x = _lapack("linalg.solve_triangular", lambda: solve_(a_, b_, lower=not upper, unit_diagonal=unitriangular,
                                                                  check_finite=False))
        x = same_dtype(x, a)
        ctx.save_for_backward(a, x)
        ctx.upper, ctx.unitriangular = upper, unitriangular
        return x

    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        upper, unit = ctx.upper, ctx.unitriangular
        grad_b = SolveTriangular.apply(a.mT, grad, upper=not upper, unitriangular=unit)
        grad_a = None
        if ctx.needs_input_grad[0]:
            grad_a = -(grad_b @ x.mT)
            grad_a = (_triu(grad_a, 1 if unit else 0) if upper else _tril(grad_a, -1 if unit else 0))
        return grad_a, grad_b


class Cholesky(Op):
    """A = L L^T (lower L); PyTorch's gradient: L^-T Phi(L^T gL) L^-1 with Phi = sym of the lower part."""
    def forward(ctx, a):
        lower = same_dtype(_lapack("linalg.cholesky", ctx.xp.linalg.cholesky, _wide(a)), a)
        ctx.save_for_backward(lower)
        return lower

    def backward(ctx, grad):
        (lower,) = ctx.saved_tensors
        phi = _tril(lower.mT @ grad)
        phi = 0.5 * (phi + _tril(phi, -1).mT)
        phi = SolveTriangular.apply(lower.mT, phi, upper=True, unitriangular=False)
        return SolveTriangular.apply(lower.mT, phi.mT, upper=True, unitriangular=False).mT


class Qr(Op):
    """A = Q R. The gradient for m >= n (reduced) is (gQ + Q copyltu(M)) R^-T with M = R gR^T - gQ^T Q; for
    m < n, A = Q [U | V] = [X | Y]: X's part is the square case with gQ + Y gV^T, and Y's is Q gV."""
    def forward(ctx, a, mode):
        if mode == "r":
            r = ctx.xp.linalg.qr(_wide(a), mode="r")
            return same_dtype(ctx.xp.zeros((0,), a.dtype), a), same_dtype(r, a)
        q, r = ctx.xp.linalg.qr(_wide(a), mode=mode)
        q, r = same_dtype(q, a), same_dtype(r, a)
        m, n = a.shape[-2:]
        ctx.save_for_backward(q, r, a if m < n else None)
        ctx.mode = mode
        return q, r

    def backward(ctx, grad_q, grad_r):
        q, r, a = ctx.saved_tensors
        m, n = ctx.input_meta[0][0][-2:]
        if ctx.mode == "r" or (ctx.mode == "complete" and m > n):
            raise RuntimeError(f"linalg.qr: the derivative is not implemented for mode={ctx.mode!r} with input "
                               f"shape ({m}, {n}); use mode='reduced'")
        if m * n == 0:  # nothing to differentiate
            return q.new_zeros(ctx.input_meta[0][0])
        grad_q = zeros_like(q) if grad_q is None else grad_q
        grad_r = zeros_like(r) if grad_r is None else grad_r
        if m >= n:
            return _qr_grad(q, r, grad_q, grad_r)
        grad_v = grad_r.narrow(-1, m, n - m)
        grad_x = _qr_grad(q, r.narrow(-1, 0, m), grad_q + a.narrow(-1, m, n - m) @ grad_v.mT, grad_r.narrow(-1, 0, m))
        return cat([grad_x, q @ grad_v], -1)


def _qr_grad(q, r, grad_q, grad_r):
    """The gradient of A = Q R for R square (m >= n, reduced)."""
    m_ = r @ grad_r.mT - grad_q.mT @ q
    copyltu = _tril(m_) + _tril(m_, -1).mT
    return SolveTriangular.apply(r, (grad_q + q @ copyltu).mT, upper=True, unitriangular=False).mT


class Eigh(Op):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix (its ``UPLO`` triangle)."""
    def forward(ctx, a, UPLO):
        values, vectors = ctx.xp.linalg.eigh(_wide(a), UPLO=UPLO)
        values, vectors = same_dtype(values, a), same_dtype(vectors, a)
        ctx.save_for_backward(values, vectors)
        return values, vectors

    def backward(ctx, grad_values, grad_vectors):
        values, vectors = ctx.saved_tensors
        if grad_vectors is None:
            return (vectors * grad_values.unsqueeze(-2)) @ vectors.mT
        vhgv = vectors.mT @ grad_vectors
        vhgv = 0.5 * (vhgv - vhgv.mT)
        gaps = values.unsqueeze(-2) - values.unsqueeze(-1) + _eye(values.shape[-1], values)
        inner_ = vhgv / gaps
        if grad_values is not None:
            inner_ = inner_ + _diag_embed(grad_values)
        return vectors @ inner_ @ vectors.mT


class Svd(Op):
    """A = U diag(S) Vh; PyTorch's gradient (distinct singular values; the extra columns of full matrices get
    none)."""
    def forward(ctx, a, full_matrices):
        u, s, vh = ctx.xp.linalg.svd(_wide(a), full_matrices=full_matrices)
        u, s, vh = same_dtype(u, a), same_dtype(s, a), same_dtype(vh, a)
        ctx.save_for_backward(u, s, vh)
        ctx.full_matrices = full_matrices
        return u, s, vh

    def backward(ctx, grad_u, grad_s, grad_vh):
        u, s, vh = ctx.saved_tensors
        m, n = ctx.input_meta[0][0][-2:]
        k = s.shape[-1]
        if ctx.full_matrices:
            u, vh = u.narrow(-1, 0, k), vh.narrow(-2, 0, k)
            grad_u = grad_u.narrow(-1, 0, k) if grad_u is not None else None
            grad_vh = grad_vh.narrow(-2, 0, k) if grad_vh is not None else None
        if grad_u is None and grad_vh is None:
            return (u * grad_s.unsqueeze(-2)) @ vh
        v = vh.mT
        grad_v = grad_vh.mT if grad_vh is not None else None
        s2 = s * s
        gaps = s2.unsqueeze(-2) - s2.unsqueeze(-1) + _eye(k, s)
        inner_ = 0
        if grad_u is not None:
            uhgu = u.mT @ grad_u
            inner_ = (uhgu - uhgu.mT) * s.unsqueeze(-2)
        if grad_v is not None:
            vhgv = v.mT @ grad_v
            inner_ = inner_ + s.unsqueeze(-1) * (vhgv - vhgv.mT)
        inner_ = inner_ / gaps
        if grad_s is not None:
            inner_ = inner_ + _diag_embed(grad_s)
        if m > n and grad_u is not None:
            grad_u_sinv = grad_u / s.unsqueeze(-2)
            return (u @ inner_ + grad_u_sinv - u @ (u.mT @ grad_u_sinv)) @ vh
        if m < n and grad_v is not None:
            grad_v_sinv = (grad_v / s.unsqueeze(-2)).mT
            return u @ (inner_ @ vh + grad_v_sinv - (grad_v_sinv @ v) @ vh)
        return u @ inner_ @ vh


def _permutation_t(xp, pivots, n, dtype):
    """P^T (batched) for A = P L U from LAPACK's 0-based pivots (row i was swapped with row pivots[i], in
    order), built on the device as n one-hot row swaps of the identity: no pivot is read on the host."""
    rows = xp.broadcast_to(xp.eye(n, dtype=dtype), pivots.shape[:-1] + (n, n)).copy()
    positions = xp.arange(n)
    for i in range(pivots.shape[-1]):
        e_i = (positions == i).astype(dtype)
        e_p = (positions == pivots[..., i:i + 1]).astype(dtype)
        row_i, row_p = rows[..., i, :], (e_p[..., :, None] * rows).sum(axis=-2)
        rows = rows - (e_i - e_p)[..., :, None] * (row_i - row_p)[..., None, :]
    return rows


class LuFactor(Op):
    """A = P L U packed as LAPACK does (L's strict lower part and U in one matrix) and 1-based pivots, by
    SciPy's lu_factor one matrix at a time (CuPy's is not batched). PyTorch's gradient for square A:
    P L^-T [tril(L^T gL, -1) + triu(gU U^T)] U^-T."""
    def forward(ctx, a):
        xp, w = ctx.xp, _wide(a)
        m, n = a.shape[-2:]
        factor = ctx.backend.scipy_linalg().lu_factor
        pairs = [factor(x, check_finite=False) for x in w.reshape((math.prod(a.shape[:-2]), m, n))]
        if pairs:
            lu = xp.stack([lu for lu, _ in pairs]).reshape(a.shape)
            pivots = xp.stack([piv for _, piv in pairs]).reshape(a.shape[:-2] + (builtins.min(m, n),))
        else:
            lu, pivots = xp.zeros(a.shape, w.dtype), xp.zeros(a.shape[:-2] + (builtins.min(m, n),), xp.int32)
        lu = same_dtype(lu, a)
        ctx.save_for_backward(lu, _permutation_t(xp, pivots, m, lu.dtype) if m == n else None)
        return lu, (pivots + 1).astype(xp.int32)

    def backward(ctx, grad_lu, grad_pivots):
        lu, p_t = ctx.saved_tensors
        m, n = ctx.input_meta[0][0][-2:]
        if m * n == 0:  # nothing to differentiate
            return lu.new_zeros(tuple(lu.shape))
        if m != n:
            raise RuntimeError(f"linalg.lu_factor: the derivative is implemented for square matrices only, got "
                               f"({m}, {n})")
        lower, upper = _tril(lu, -1) + _eye(n, lu), _triu(lu)
        inner_ = _tril(lower.mT @ grad_lu, -1) + _triu(grad_lu @ upper.mT)
        inner_ = SolveTriangular.apply(lower.mT, inner_, upper=True, unitriangular=True)
        inner_ = SolveTriangular.apply(upper, inner_.mT, upper=True, unitriangular=False).mT
        return p_t.mT @ inner_


# --- the functions of autograd.linalg (and their torch.* names) -------------------------------------------

SlogdetResult = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
TorchSlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])
QRResult = namedtuple("linalg_qr", ["Q", "R"])
EighResult = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("linalg_svd", ["U", "S", "Vh"])
LUFactorResult = namedtuple("linalg_lu_factor", ["LU", "pivots"])
LUResult = namedtuple("linalg_lu", ["P", "L", "U"])
TorchSVDResult = namedtuple("svd", ["U", "S", "V"])
LstsqResult = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])


def inv(A):
    _need_square("linalg.inv", A)
    _no_low_precision("linalg.inv", A)
    return Inv.apply(A)


def det(A):
    _need_square("linalg.det", A)
    return Det.apply(A)


def linalg_slogdet(A):
    _need_square("linalg.slogdet", A)
    _no_low_precision("linalg.slogdet", A)
    return SlogdetResult(*Slogdet.apply(A))


def slogdet(A):
    """torch.slogdet: linalg.slogdet's values in a named tuple of torch's other name."""
    return TorchSlogdetResult(*linalg_slogdet(A))


def logdet(A):
    sign_, logabsdet = linalg_slogdet(A)
    return where(sign_ < 0, math.nan, logabsdet)


def _is_vector_rhs(A, B):
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and _shape(B) == _shape(A)[:-1])


def solve(A, B, *, left=True):
    op = "linalg.solve"
    _need_square(op, A)
    _same_dtype(op, A, B)
    if _is_vector_rhs(A, B):
        if B.shape[-1] != A.shape[-1]:
            raise RuntimeError(f"{op}: incompatible shapes of A {_shape(A)} and B {_shape(B)}")
        return Solve.apply(A if left else A.mT, B.unsqueeze(-1)).squeeze(-1)
    if B.ndim < 2 or B.shape[-2 if left else -1] != A.shape[-1]:
        raise RuntimeError(f"{op}: incompatible shapes of A {_shape(A)} and B {_shape(B)}: B must be (..., n, k) with "
                           f"n = {A.shape[-1]} (or (..., k, n) with left=False)")
    return Solve.apply(A, B) if left else Solve.apply(A.mT, B.mT).mT


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    op = "linalg.solve_triangular"
    _need_square(op, A)
    _same_dtype(op, A, B)
    if B.ndim < 2 or B.shape[-2 if left else -1] != A.shape[-1]:
        raise RuntimeError(f"{op}: incompatible shapes of A {_shape(A)} and B {_shape(B)}: B must be (..., n, k) with "
                           f"n = {A.shape[-1]} (or (..., k, n) with left=False)")
    if left:
        return SolveTriangular.apply(A, B, upper=upper, unitriangular=unitriangular)
    return SolveTriangular.apply(A.mT, B.mT, upper=not upper, unitriangular=unitriangular).mT


def linalg_cholesky(A, *, upper=False):
    _need_square("linalg.cholesky", A)
    lower = Cholesky.apply(A)
    return lower.mT if upper else lower


def _cholesky_factor(L, upper):
    """The triangle of L that PyTorch reads, with the gradient of the whole L (PyTorch's formulas for
    cholesky_solve and cholesky_inverse are not restricted to the triangle)."""
    triangle = _triu(L) if upper else _tril(L)
    return L + (triangle - L).detach()


def cholesky_solve(B, L, upper=False):
    """X with A X = B where A = L L^T (or U^T U): a solve against the rebuilt A, which gives PyTorch's
    gradient for L."""
    _need_square("cholesky_solve", L)
    L = _cholesky_factor(L, upper)
    return solve(L.mT @ L if upper else L @ L.mT, B)


def qr(A, mode="reduced"):
    op = "linalg.qr"
    _need_floating(op, A)
    if A.ndim < 2:
        raise RuntimeError(f"{op}: the input must have at least 2 dimensions, got shape {_shape(A)}")
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"{op}: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    return QRResult(*Qr.apply(A, mode=mode))


def eigh(A, UPLO="L"):
    _need_square("linalg.eigh", A)
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return EighResult(*Eigh.apply(A, UPLO=UPLO))


def eigvalsh(A, UPLO="L"):
    return eigh(A, UPLO).eigenvalues


def linalg_svd(A, full_matrices=True):
    _need_floating("linalg.svd", A)
    if A.ndim < 2:
        raise RuntimeError(f"linalg.svd: the input must have at least 2 dimensions, got shape {_shape(A)}")
    return SVDResult(*Svd.apply(A, full_matrices=full_matrices))


def svdvals(A):
    return linalg_svd(A, full_matrices=False).S


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The pseudo-inverse from the SVD: singular values at or below max(atol, rtol * largest) count as 0."""
    _no_low_precision("linalg.pinv", A)
    u, s, vh = linalg_svd(A, full_matrices=False)
    if rtol is None:
        rtol = 0.0 if atol is not None and atol > 0 else builtins.max(A.shape[-2:]) * float(np.finfo(
            np.float32 if np.dtype(A.dtype).itemsize < 8 else np.float64).eps)
    largest = s.amax(-1, keepdim=True) if s.shape[-1] else s.sum(-1, keepdim=True)
    cutoff = largest * rtol
    if atol is not None:
        cutoff = where(cutoff > atol, cutoff, atol * 1.0)
    s_inv = where(s > cutoff, 1 / s, 0.0)
    return (vh.mT * s_inv.unsqueeze(-2)) @ u.mT


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """The number of singular values above the tolerance (not differentiable: an integer)."""
    from ..grad_mode import no_grad
    _no_low_precision("linalg.matrix_rank", A)
    with no_grad():
        s = svdvals(A)
        if rtol is None:
            rtol = 0.0 if atol is not None and atol > 0 else builtins.max(A.shape[-2:]) * float(np.finfo(
                np.float32 if np.dtype(A.dtype).itemsize < 8 else np.float64).eps)
        largest = s.amax(-1, keepdim=True) if s.shape[-1] else s.sum(-1, keepdim=True)
        cutoff = largest * rtol
        if atol is not None:
            cutoff = where(cutoff > atol, cutoff, atol * 1.0)
        return (s > cutoff).sum(-1)


def cond(A, p=None):
    if p in (None, 2, -2):
        s = svdvals(A)
        return s.amax(-1) / s.amin(-1) if p != -2 else s.amin(-1) / s.amax(-1)
    return matrix_norm(A, p) * matrix_norm(inv(A), p)


def lu_factor(A, *, pivot=True):
    op = "linalg.lu_factor"
    _need_floating(op, A)
    if A.ndim < 2:
        raise RuntimeError(f"{op}: the input must have at least 2 dimensions, got shape {_shape(A)}")
    if not pivot:
        raise RuntimeError(f"{op}: LU without pivoting is not implemented on the CPU (as in PyTorch); use pivot=True")
    lu, pivots = LuFactor.apply(A)
    return LUFactorResult(lu, pivots.detach())


def lu_solve(LU, pivots, B, *, left=True, adjoint=False):
    """X with A X = B (A^T X = B with ``adjoint``; X A = B with left=False) for A = P L U from lu_factor: two
    triangular solves (each reads only its triangle of LU) and the permutation."""
    op = "linalg.lu_solve"
    _need_square(op, LU)
    _same_dtype(op, LU, B)
    n = LU.shape[-1]
    if B.ndim < 2 or B.shape[-2 if left else -1] != n:
        raise RuntimeError(f"{op}: incompatible shapes of LU {_shape(LU)} and B {_shape(B)}: B must be (..., n, k) "
                           f"with n = {n} (or (..., k, n) with left=False)")
    if not left:  # X A = B is A^T X^T = B^T
        return lu_solve(LU, pivots, B.mT, adjoint=not adjoint).mT
    p_t = _pivots_to_permutation_t(LU, pivots, n)
    if adjoint:  # A^T = U^T L^T P^T
        y = SolveTriangular.apply(LU.mT, B, upper=False, unitriangular=False)
        return p_t.mT @ SolveTriangular.apply(LU.mT, y, upper=True, unitriangular=True)
    y = SolveTriangular.apply(LU, p_t @ B, upper=False, unitriangular=True)
    return SolveTriangular.apply(LU, y, upper=True, unitriangular=False)


def _pivots_to_permutation_t(LU, pivots, size):
    """P^T as a constant Tensor from lu_factor's (1-based) pivots."""
    return Tensor._make(_permutation_t(LU._backend.xp, pivots.array - 1, size, LU.dtype), LU._backend)


def lu(A, *, pivot=True):
    """(P, L, U) with A = P L U, unpacked from lu_factor (so the gradient is lu_factor's)."""
    packed, pivots = lu_factor(A, pivot=pivot)
    m, n = A.shape[-2:]
    k = builtins.min(m, n)
    lower = _tril(packed.narrow(-1, 0, k), -1) + eye(m, k, dtype=A.dtype, device=A.device)
    return LUResult(_pivots_to_permutation_t(packed, pivots, m).mT, lower, _triu(packed.narrow(-2, 0, k)))


def torch_svd(input, some=True, compute_uv=True):
    """torch.svd: (U, S, V) with V, not V^T; without ``compute_uv`` U and V are zero-filled (full size)."""
    if not compute_uv:
        m, n = input.shape[-2:]
        s = svdvals(input)
        return TorchSVDResult(input.new_zeros((*input.shape[:-2], m, m)), s,
                              input.new_zeros((*input.shape[:-2], n, n)))
    u, s, vh = linalg_svd(input, full_matrices=not some)
    return TorchSVDResult(u, s, vh.mT)


def torch_cholesky(input, upper=False):
    """torch.cholesky (PyTorch deprecates it for linalg.cholesky)."""
    return linalg_cholesky(input, upper=upper)


def cholesky_inverse(L, upper=False):
    """inv(A) for A = L L^T (or U^T U): the inverse of the rebuilt A, whose gradient for L (the whole matrix)
    is PyTorch's."""
    _need_square("cholesky_inverse", L)
    L = _cholesky_factor(L, upper)
    return Inv.apply(L.mT @ L if upper else L @ L.mT)


def vecdot(x, y, *, dim=-1):
    _need_floating("linalg.vecdot", x)
    _same_dtype("linalg.vecdot", x, y)
    return (x * y).sum(dim)


def vander(x, N=None):
    """The powers x^0 ... x^(N-1) along a new last dim (N = x.shape[-1] by default), as successive products."""
    _no_low_precision("linalg.vander", x)
    x = x.reshape(1) if x.ndim == 0 else x  # a 0-d x is a vector of one, as in PyTorch
    N = x.shape[-1] if N is None else N
    if N <= 1:
        raise RuntimeError(f"linalg.vander: N must be greater than 1, got N={N} for shape {_shape(x)}")
    powers = [x * 0 + 1, x]
    while len(powers) < N:
        powers.append(powers[-1] * x)
    return stack(powers[:N], dim=-1)


def tensorinv(A, ind=2):
    """The inverse of A read as a matrix with the first ``ind`` dims as rows, shaped A.shape[ind:] + A.shape[:ind]."""
    rows, cols = math.prod(A.shape[:ind]), math.prod(A.shape[ind:])
    if ind <= 0 or rows != cols:
        raise RuntimeError(f"linalg.tensorinv: expected ind > 0 and prod(shape[:ind]) == prod(shape[ind:]), got "
                           f"shape {_shape(A)} with ind={ind}")
    return inv(A.reshape(rows, cols)).reshape(*A.shape[ind:], *A.shape[:ind])


def tensorsolve(A, B, dims=None):
    """X with tensordot(A, X, X.ndim) = B: A read as a (B.numel(), X.numel()) matrix."""
    if dims is not None:
        dims = [normalize_dim("linalg.tensorsolve", d, _shape(A)) for d in dims]
        A = A.permute(*[d for d in range(A.ndim) if d not in dims], *dims)
    rows = B.numel()
    cols = math.prod(A.shape[B.ndim:])
    if rows != cols or _shape(A)[:B.ndim] != _shape(B):
        raise RuntimeError(f"linalg.tensorsolve: expected A's leading dims {_shape(A)[:B.ndim]} to be B's shape "
                           f"{_shape(B)} and the rest to have as many elements ({cols} vs {rows})")
    return solve(A.reshape(rows, cols), B.reshape(rows)).reshape(*A.shape[B.ndim:])


def lstsq(A, B, rcond=None, *, driver=None):
    """The least-squares solution pinv(A) B (PyTorch's gradient is that of pinv). As PyTorch's CPU default
    driver 'gelsy', it gives the rank and empty residuals and singular values; 'gelsd' and 'gelss' give the
    singular values, and the residuals when m > n and A has full rank (reading the rank is one host sync)."""
    op = "linalg.lstsq"
    _need_floating(op, A)
    _same_dtype(op, A, B)
    if driver not in (None, "gelsy", "gelsd", "gelss"):
        raise RuntimeError(f"{op}: driver must be None, 'gelsy', 'gelsd' or 'gelss' (CPU), got {driver!r}")
    vector = B.ndim == A.ndim - 1
    b = B.unsqueeze(-1) if vector else B
    if A.ndim < 2 or b.shape[-2] != A.shape[-2]:
        raise RuntimeError(f"{op}: incompatible shapes of A {_shape(A)} and B {_shape(B)}: they must have the same "
                           f"number of rows")
    m, n = A.shape[-2:]
    eps = float(np.finfo(np.float32 if np.dtype(A.dtype).itemsize < 8 else np.float64).eps)
    rtol = builtins.max(m, n) * eps if rcond is None else rcond
    solution = pinv(A, rtol=rtol) @ b
    rank = matrix_rank(A, rtol=rtol)
    empty = A.new_zeros((0,))
    residuals, values = empty, empty
    if driver in ("gelsd", "gelss"):  # not differentiable in PyTorch: only the solution is
        values = svdvals(A).detach()
        if m > n and bool((rank == n).all()):
            residuals = ((A @ solution - b) ** 2).sum(-2).detach()
    if vector:
        solution = solution.squeeze(-1)
        residuals = residuals.squeeze(-1) if residuals.numel() else residuals
    return LstsqResult(solution, residuals, rank, values)


@numpy_keywords
def linalg_cross(input, other, *, dim=-1):
    return _cross("linalg.cross", input, other, dim)


def linalg_matrix_power(A, n):
    return matrix_power(A, n)


inverse = inv
pinverse = pinv
# torch.svd and torch.cholesky differ from linalg's functions of the same names (V, not V^T; a deprecated alias)
svd, cholesky = torch_svd, torch_cholesky


__all__ = ["mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "addmm", "addbmm", "baddbmm", "addmv", "addr",
           "chain_matmul", "einsum", "tensordot", "kron", "cross", "cdist", "matrix_power", "matrix_exp", "norm",
           "dist", "det", "logdet", "slogdet", "inverse", "pinverse", "cholesky_solve",
           "addmm_", "addbmm_", "baddbmm_", "addmv_", "addr_", "svd", "cholesky", "cholesky_inverse"]
# the functions of autograd.linalg live in autograd/linalg.py; these are the torch.* ones
METHODS = ("mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "addmm", "addbmm", "baddbmm", "addmv", "addr",
           "addmm_", "addbmm_", "baddbmm_", "addmv_", "addr_",
           "kron", "cross", "matrix_power", "matrix_exp", "norm", "dist", "det", "logdet", "slogdet", "inverse",
           "pinverse", "cholesky_solve", "svd", "cholesky", "cholesky_inverse")
