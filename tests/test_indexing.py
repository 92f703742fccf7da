"""The indexing family beyond the op table: in-place variants, views that share memory, refusals of bad
indices (as torch's), and forms the table's rows cannot express. Everything is compared with torch."""

import warnings

import numpy as np
import pytest
import torch

import autograd as ag
from conftest import assert_close, to_numpy


def _pair(array, device="cpu", requires_grad=False):
    """The same data as an ndgrad tensor on ``device`` and a CPU torch tensor."""
    array = np.array(array)
    a = ag.tensor(array, device=device, requires_grad=requires_grad)
    t = torch.from_numpy(array.copy()).requires_grad_(requires_grad)
    return a, t


def _both(fn, *arrays, device="cpu"):
    """fn(lib, *tensors) with each library (integer/bool arrays as they are, floating ones requiring grad):
    the same output, and the same gradients of (output * fixed weights).sum() (None where torch has None)."""
    results = []
    for lib in (ag, torch):
        xs = []
        for a in arrays:
            a = np.array(a)
            floating = a.dtype.kind == "f"
            xs.append(ag.tensor(a, device=device, requires_grad=floating) if lib is ag
                      else torch.from_numpy(a.copy()).requires_grad_(floating))
        out = fn(lib, *xs)
        wrt = [x for x in xs if x.requires_grad]
        grads = []
        if out.requires_grad:
            w = np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape))
            loss = (out * (ag.tensor(w, device=device) if lib is ag else torch.from_numpy(w))).sum()
            grads = (ag.grad if lib is ag else torch.autograd.grad)(loss, wrt, allow_unused=True)
            grads = [None if g is None else to_numpy(g) for g in grads]
        results.append((to_numpy(out), grads))
    (got, got_grads), (expected, expected_grads) = results
    assert_close(got, expected)
    for g, e in zip(got_grads, expected_grads):
        assert (g is None) == (e is None)
        if g is not None:
            assert_close(g, e)


rng = np.random.default_rng(0)
X = rng.standard_normal((4, 3))
IDX = np.array([[0, 3, 1], [2, 1, 3]])       # distinct along dim 0 in each column
REPEATED = np.array([[0, 3, 0], [0, 1, 3]])  # repeats: scatter_add and accumulate add them up
SRC = rng.standard_normal((2, 3))
MASK = rng.random((4, 3)) < 0.5

# in-place variants on a non-leaf (y = x * 1): the same values and gradients as torch, and the tensor itself
INPLACE = {
    "masked_fill_": lambda lib, y, s: y.masked_fill_(lib.tensor(MASK, device=y.device), 2.5),
    "index_add_": lambda lib, y, s: y.index_add_(1, lib.tensor([2, 0], device=y.device), s[:, :2].repeat(2, 1),
                                                 alpha=2),
    "scatter_": lambda lib, y, s: y.scatter_(0, lib.tensor(IDX, device=y.device), s),
    "scatter_value_": lambda lib, y, s: y.scatter_(0, lib.tensor(IDX, device=y.device), -1.0),
    "scatter_add_": lambda lib, y, s: y.scatter_add_(0, lib.tensor(REPEATED, device=y.device), s),
    "scatter_reduce_": lambda lib, y, s: y.scatter_reduce_(0, lib.tensor(REPEATED, device=y.device), s, "mean",
                                                           include_self=False),
    "index_fill_": lambda lib, y, s: y.index_fill_(0, lib.tensor([3, 1], device=y.device), 0.5),
    "index_copy_": lambda lib, y, s: y.index_copy_(0, lib.tensor([3, 0], device=y.device), s),
    "index_put_": lambda lib, y, s: y.index_put_((lib.tensor([1, 1, 2], device=y.device),), s[0],
                                                 accumulate=True),
    "masked_scatter_": lambda lib, y, s: y.masked_scatter_(lib.tensor(MASK, device=y.device), s.repeat(2, 1)),
    "put_": lambda lib, y, s: y.put_(lib.tensor([11, 0, 5], device=y.device), s[1]),
    "tril_": lambda lib, y, s: y.tril_(-1),
    "triu_": lambda lib, y, s: y.triu_(1),
}


def _version(t):
    return t._version if isinstance(t, torch.Tensor) else t._version_number


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_variants(name, device):
    def fn(lib, x, s):
        y = x * 1
        version = _version(y)
        out = INPLACE[name](lib, y, s)
        assert out is y and _version(y) > version  # the same tensor, changed in place
        return y
    _both(fn, X, SRC, device=device)


def test_inplace_on_a_leaf_that_requires_grad_is_refused():
    for lib in (torch, ag):
        x = lib.zeros(3, 3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            x.tril_()


def test_inplace_through_a_view_rewrites_the_base():
    """masked_fill_ on a row (a view) of a non-leaf: the base's history goes through the write (CopySlices)."""
    _both(lambda lib, x: _fill_row(lib, x), X)


def _fill_row(lib, x):
    y = x * 2
    y[1].masked_fill_(lib.tensor([True, False, True]), 0.0)
    return y


# --- views share memory with the input; flip and roll are copies -------------------------------------------------

VIEWS = {
    "split": lambda x: x.split(2)[1],
    "chunk": lambda x: x.chunk(2, 1)[0],
    "tensor_split": lambda x: x.tensor_split([1, 3])[1],
    "unbind": lambda x: x.unbind(1)[2],
    "diagonal": lambda x: x.diagonal(-1),
    "movedim": lambda x: x.movedim(0, 1),
    "swapaxes": lambda x: x.swapaxes(0, 1),
    "unflatten": lambda x: x.unflatten(0, (2, 2)),
    "hsplit": lambda x: x.hsplit([1])[1],
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_views_share_memory(name, device):
    for lib in (ag, torch):
        x = lib.zeros(4, 3, dtype=lib.float64, device=device if lib is ag else "cpu")
        v = VIEWS[name](x)
        v.fill_(7.0)  # writes through to x
        assert to_numpy(x).sum() == 7.0 * v.numel()
    a, t = _pair(np.arange(12.0).reshape(4, 3), device)
    assert_close(VIEWS[name](a), VIEWS[name](t))


COPIES = {
    "flip": lambda lib, x: x.flip(0),
    "roll": lambda lib, x: x.roll(1, 0),
    "rot90": lambda lib, x: x.rot90(),
    "repeat": lambda lib, x: x.repeat(1, 1),
    "tril": lambda lib, x: x.tril(),
    "index_select": lambda lib, x: x.index_select(0, lib.tensor([0, 1])),
    "gather": lambda lib, x: x.gather(1, lib.tensor([[0], [1], [2]])),
    "masked_select": lambda lib, x: x.masked_select(x > 0),
    "diag": lambda lib, x: lib.diag(x),  # unlike diagonal
}


@pytest.mark.parametrize("name", sorted(COPIES))
def test_copies_do_not_share_memory(name):
    for lib in (ag, torch):
        x = lib.ones(3, 3)
        COPIES[name](lib, x).fill_(5.0)
        assert float(x.sum()) == 9.0


def test_diagonal_view_in_a_graph():
    """x.diagonal().mul_(2) on a non-leaf: the gradient doubles on the diagonal only, as in torch."""
    def fn(lib, x):
        y = x * 1
        y.diagonal(1).mul_(3)
        return y
    _both(fn, rng.standard_normal((3, 4)))


# --- refusals: where torch refuses an index, so does ndgrad, with the same exception class ------------------------

REFUSALS = {
    "gather_out_of_range": lambda L, x: x.gather(0, L.tensor([[3, 0, 0, 0]])),
    "gather_negative": lambda L, x: x.gather(0, L.tensor([[-1, 0, 0, 0]])),
    "gather_float_index": lambda L, x: x.gather(0, L.tensor([[1.0, 0, 0, 0]])),
    "gather_int16_index": lambda L, x: x.gather(0, L.tensor([[1, 0, 0, 0]], dtype=L.int16)),
    "gather_ndim": lambda L, x: x.gather(0, L.tensor([1, 0])),
    "gather_index_too_big": lambda L, x: x.gather(0, L.zeros(2, 5, dtype=L.long)),
    "index_select_matrix": lambda L, x: x.index_select(0, L.zeros(2, 2, dtype=L.long)),
    "index_select_out_of_range": lambda L, x: x.index_select(1, L.tensor([4])),
    "index_select_negative": lambda L, x: x.index_select(1, L.tensor([-1])),
    "index_select_float": lambda L, x: x.index_select(1, L.tensor([1.0])),
    "index_fill_int32": lambda L, x: x.index_fill(0, L.tensor([0], dtype=L.int32), 1.0),
    "index_fill_vector_value": lambda L, x: x.index_fill(0, L.tensor([0]), L.tensor([1.0, 2.0])),
    "index_copy_int32": lambda L, x: x.index_copy(0, L.tensor([0], dtype=L.int32), L.ones(1, 4)),
    "index_add_shape": lambda L, x: x.index_add(0, L.tensor([0]), L.ones(1, 3)),
    "index_put_dtype": lambda L, x: x.index_put((L.tensor([0]),), L.ones(1, dtype=L.float64)),
    "masked_fill_int_mask": lambda L, x: x.masked_fill(L.tensor([1, 0, 1, 0]), 0.0),
    "masked_fill_vector_value": lambda L, x: x.masked_fill(L.tensor([True, False, True, False]), L.ones(2)),
    "masked_scatter_short_source": lambda L, x: x.masked_scatter(L.ones(3, 4, dtype=L.bool), L.ones(5)),
    "scatter_dtype": lambda L, x: x.scatter(0, L.zeros(1, 4, dtype=L.long), L.ones(1, 4, dtype=L.float64)),
    "scatter_out_of_range": lambda L, x: x.scatter(0, L.full((1, 4), 3, dtype=L.long), 1.0),
    "scatter_add_small_src": lambda L, x: x.scatter_add(0, L.zeros(2, 4, dtype=L.long), L.ones(1, 4)),
    "scatter_reduce_unknown": lambda L, x: x.scatter_reduce(0, L.zeros(1, 4, dtype=L.long), L.ones(1, 4), "median"),
    "take_out_of_range": lambda L, x: x.take(L.tensor([12])),
    "take_negative_out_of_range": lambda L, x: x.take(L.tensor([-13])),
    "take_int32": lambda L, x: x.take(L.tensor([1], dtype=L.int32)),
    "put_numel": lambda L, x: x.put(L.tensor([0, 1]), L.ones(3)),
    "take_along_dim_int32": lambda L, x: x.take_along_dim(L.zeros(1, 4, dtype=L.int32), 0),
    "split_negative": lambda L, x: x.split(-1),
    "split_sizes_sum": lambda L, x: x.split([1, 1]),
    "chunk_zero": lambda L, x: x.chunk(0),
    "unbind_0d": lambda L, x: x.sum().unbind(),
    "tensor_split_zero": lambda L, x: x.tensor_split(0),
    "vsplit_1d": lambda L, x: x[0].vsplit(2),
    "hsplit_uneven": lambda L, x: x.hsplit(3),
    "flip_repeated_dim": lambda L, x: x.flip(0, 0),
    "flip_dim_out_of_range": lambda L, x: x.flip(2),
    "roll_shifts_dims": lambda L, x: x.roll((1, 2), 0),
    "rot90_same_dims": lambda L, x: x.rot90(1, (0, 0)),
    "rot90_1d": lambda L, x: x[0].rot90(),
    "repeat_too_few": lambda L, x: x.repeat(2),
    "repeat_interleave_negative": lambda L, x: x.repeat_interleave(-1),
    "tril_1d": lambda L, x: x[0].tril(),
    "triu_0d": lambda L, x: x.sum().triu(),
    "diagonal_same_dims": lambda L, x: x.diagonal(0, 1, 1),
    "diagonal_1d": lambda L, x: x[0].diagonal(),
    "diag_3d": lambda L, x: x[None].diag(),
    "trace_3d": lambda L, x: x[None].trace(),
    "movedim_repeated": lambda L, x: x.movedim((0, 0), (1, 0)),
    "movedim_lengths": lambda L, x: x.movedim((0, 1), (1,)),
    "unflatten_sizes": lambda L, x: x.unflatten(1, (3, 2)),
    "meshgrid_2d": lambda L, x: L.meshgrid(x, x, indexing="ij"),
    "meshgrid_indexing": lambda L, x: L.meshgrid(x[0], x[0], indexing="yx"),
    "broadcast_shapes": lambda L, x: L.broadcast_shapes((3, 2), (4,)),
    "broadcast_tensors": lambda L, x: L.broadcast_tensors(x, x[:2, :3]),
    "cartesian_prod_2d": lambda L, x: L.cartesian_prod(x),
    "combinations_2d": lambda L, x: L.combinations(x),
    "block_diag_3d": lambda L, x: L.block_diag(x[None]),
    "fliplr_1d": lambda L, x: x[0].fliplr(),
    "roll_0d_with_dims": lambda L, x: x.sum().roll(1, 0),
    "index_put_too_many": lambda L, x: x.sum().index_put((L.tensor([0]),), L.ones(())),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_match_torch(name):
    data = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    errors = []
    for lib in (torch, ag):
        with pytest.raises(Exception) as info:
            REFUSALS[name](lib, lib.tensor(data))
        errors.append(info.value)
    assert isinstance(errors[1], type(errors[0])), f"torch raises {errors[0]!r}, ndgrad {errors[1]!r}"


def test_errors_name_the_op_and_the_shapes():
    x = ag.zeros(3, 4)
    with pytest.raises(RuntimeError, match=r"gather.*index 3 is out of bounds for dimension 0 with size 3"):
        x.gather(0, ag.tensor([[3, 0, 0, 0]]))
    with pytest.raises(RuntimeError, match=r"gather.*\(2, 5\).*\(3, 4\)"):
        x.gather(0, ag.zeros(2, 5, dtype=ag.long))
    with pytest.raises(RuntimeError, match=r"masked_fill.*bool.*int64.*mask\.bool\(\)"):
        x.masked_fill(ag.ones(4, dtype=ag.long), 1.0)


# --- forms the op table cannot express ------------------------------------------------------------------------------

def test_scatter_with_a_larger_src_reads_its_leading_corner(device):
    """src may be larger than index (only its leading part is read): forward against torch (torch 2.13's
    backward refuses this case, so the op table's rows use a src of index's shape)."""
    x, src = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    for name in ("scatter", "scatter_add"):
        index, values = ag.tensor(IDX, device=device), ag.tensor(src, device=device)
        got = getattr(ag.tensor(x, device=device), name)(0, index, values)
        expected = getattr(torch.from_numpy(x), name)(0, torch.from_numpy(IDX), torch.from_numpy(src))
        assert_close(got, expected)


@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_reduce_keyword(reduce, device):
    """scatter(..., reduce=) with a tensor src and with a value: torch's values. It has no derivative:
    torch refuses at backward, ndgrad when the graph would be recorded (rather than record a wrong one)."""
    x, src = rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    index = np.array([[0, 1], [2, 2], [0, 0], [1, 2]])
    needs_grad = ag.tensor(x, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="no derivative.*scatter_reduce"):
        needs_grad.scatter(0, ag.tensor(index, device=device), 1.5, reduce=reduce)
    with pytest.raises(RuntimeError, match="derivative"):
        t = torch.from_numpy(x).requires_grad_()
        t.scatter(0, torch.from_numpy(index), 1.5, reduce=reduce).sum().backward()
    a = ag.tensor(x, device=device)
    t = torch.from_numpy(x)
    with warnings.catch_warnings():  # torch warns (once per process) that reduce= is deprecated; so does ndgrad
        warnings.simplefilter("ignore")
        expected = t.scatter(0, torch.from_numpy(index), torch.from_numpy(src), reduce=reduce)
    with pytest.warns(UserWarning, match="deprecated.*scatter_reduce"):
        got = a.scatter(0, ag.tensor(index, device=device), ag.tensor(src, device=device), reduce=reduce)
    assert_close(got, expected)
    got = a.scatter(0, ag.tensor(index, device=device), 1.5, reduce=reduce)
    assert_close(got, t.scatter(0, torch.from_numpy(index), 1.5, reduce=reduce))


@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_prod_with_zeros(include_self, device):
    """Zeros among a product's inputs (in x and in src, one or two per target): torch's values and
    gradients (the product of the other inputs; zero where two inputs are zero)."""
    x = np.array([[1.0, 0.0, 2.0], [2.0, 3.0, 0.0]])
    src = np.array([[0.0, 2.0, 0.0], [4.0, 0.0, 0.0], [-1.0, 0.5, 3.0]])
    index = np.array([[0, 1, 0], [0, 1, 0], [1, 0, 1]])
    _both(lambda lib, x, s, i: x.scatter_reduce(0, i, s, "prod", include_self=include_self), x, src, index,
          device=device)


@pytest.mark.parametrize("reduce", ["amax", "amin", "mean", "sum"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_ties_and_shares(reduce, include_self):
    """Targets hit by several src values, some equal to x's own value and to each other: torch's values
    and gradients (amax/amin share the gradient evenly among every value equal to the result)."""
    x, src = np.array([[1.0, 2.0], [3.0, 0.5]]), np.array([[1.0, 2.0], [1.0, -1.0], [0.2, 2.0]])
    index = np.array([[0, 0], [0, 1], [1, 0]])
    _both(lambda lib, x, s, i: x.scatter_reduce(0, i, s, reduce, include_self=include_self), x, src, index)


def test_scatter_reduce_integers():
    x, src, index = np.arange(6).reshape(3, 2), np.array([[5, -2], [7, 1]]), np.array([[0, 2], [0, 0]])
    for reduce in ("sum", "prod", "amax", "amin"):
        for include_self in (True, False):
            got = ag.tensor(x).scatter_reduce(0, ag.tensor(index), ag.tensor(src), reduce, include_self=include_self)
            expected = torch.from_numpy(x).scatter_reduce(0, torch.from_numpy(index), torch.from_numpy(src), reduce,
                                                          include_self=include_self)
            assert_close(got, expected)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (2, 3)])
def test_nonzero_argwhere_where_shapes(shape, device):
    data = (np.arange(int(np.prod(shape))).reshape(shape) % 3 == 1)
    a, t = _pair(data, device)
    assert_close(a.nonzero(), t.nonzero())
    assert_close(ag.argwhere(a), torch.argwhere(t))
    for g, e in zip(ag.where(a), torch.where(t)):
        assert_close(g, e)
    got, expected = a.nonzero(as_tuple=True), t.nonzero(as_tuple=True)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert_close(g, e)


@pytest.mark.parametrize("row, col, offset", [(4, 3, 0), (3, 5, -2), (3, 3, 5), (0, 3, 0), (4, 4, -7)])
def test_triangle_indices(row, col, offset, device):
    for name in ("tril_indices", "triu_indices"):
        got = getattr(ag, name)(row, col, offset, device=device)
        assert got.device == ag.device(device)
        assert_close(got, getattr(torch, name)(row, col, offset))
    assert ag.tril_indices(3, 3, dtype=ag.int32).dtype == ag.int32


def test_repeat_interleave_output_size_and_counts():
    counts = np.array([2, 0, 1])
    assert_close(ag.repeat_interleave(ag.tensor(counts)), torch.repeat_interleave(torch.from_numpy(counts)))
    x = np.arange(6.0).reshape(3, 2)
    assert_close(ag.tensor(x).repeat_interleave(ag.tensor(counts), dim=0, output_size=3),
                 torch.from_numpy(x).repeat_interleave(torch.from_numpy(counts), dim=0, output_size=3))
    assert_close(ag.tensor(x).repeat_interleave(ag.tensor([2])),
                 torch.from_numpy(x).repeat_interleave(torch.tensor([2])))


def test_broadcast_shapes_and_meshgrid_default():
    assert ag.broadcast_shapes((3, 1), (2, 1, 4), 4, ()) == torch.broadcast_shapes((3, 1), (2, 1, 4), 4, ())
    assert isinstance(ag.broadcast_shapes((2,), (1,)), ag.Size)
    a, t = _pair(np.arange(3.0))
    b, u = _pair(np.arange(2.0))
    for g, e in zip(ag.meshgrid(a, b, indexing="ij"), torch.meshgrid(t, u, indexing="ij")):
        assert_close(g, e)


def test_roll_and_block_diag_edge_cases():
    for fn in (lambda L: L.tensor(3.0).roll(2), lambda L: L.block_diag(),
               lambda L: L.block_diag(L.zeros(0, 2), L.ones(1), L.tensor(2, dtype=L.int32))):
        assert_close(fn(ag), fn(torch))


def test_combinations_edge_cases():
    a, t = _pair(np.arange(3.0))
    for r, repl in ((0, False), (4, False), (1, True), (3, False)):
        assert_close(ag.combinations(a, r, with_replacement=repl), torch.combinations(t, r, with_replacement=repl))


def test_chunk_and_split_counts_match_torch():
    for size in (0, 1, 5, 6, 7):
        a, t = _pair(np.zeros((size, 2)))
        for chunks in (1, 2, 3, 4, 8):
            assert [tuple(p.shape) for p in a.chunk(chunks)] == [tuple(p.shape) for p in t.chunk(chunks)]
            assert [tuple(p.shape) for p in a.tensor_split(chunks)] == [tuple(p.shape) for p in t.tensor_split(chunks)]
        for step in (1, 2, 4):
            assert [tuple(p.shape) for p in a.split(step)] == [tuple(p.shape) for p in t.split(step)]
        idx = [1, 4, -2, 0]
        assert [tuple(p.shape) for p in a.tensor_split(idx)] == [tuple(p.shape) for p in t.tensor_split(idx)]
        assert [tuple(p.shape) for p in a.tensor_split(ag.tensor(idx))] == \
            [tuple(p.shape) for p in t.tensor_split(torch.tensor(idx))]


def test_dtypes_are_kept(device):
    """Integer and bool inputs stay integer and bool, as in torch."""
    data = np.arange(12).reshape(3, 4)
    a, t = _pair(data, device)
    (i, j), (k, l) = _pair(data % 4, device), _pair(data % 3, device)
    for fn in (lambda x, i, k: x.flip(0), lambda x, i, k: x.roll(1), lambda x, i, k: x.tril(),
               lambda x, i, k: x.repeat(2, 1), lambda x, i, k: x.diagonal(), lambda x, i, k: x.trace(),
               lambda x, i, k: x.masked_fill(x > 4, 0), lambda x, i, k: x.diag_embed(),
               lambda x, i, k: x.gather(1, i), lambda x, i, k: x.scatter_add(0, k, x)):
        got, expected = fn(a, i, k), fn(t, j, l)
        assert_close(got, expected)
    m, u = _pair(data % 2 == 0, device)
    assert_close(m.tril(), u.tril())
    assert_close(m.flip(1), u.flip(1))


# --- Tensor.__setitem__: every kind of index, on leaves without grad and in graphs --------------------------------

SETITEMS = {
    "int": (1, 5.0),
    "slice_step": ((slice(None, None, 2), 1), 5.0),
    "list": ([0, 2, 0], 1.5),
    "two_lists": (([0, 2], [1, 3]), np.array([1.0, 2.0])),
    "mask": ("mask", -1.0),
    "mask_rows": ("mask_rows", np.array([1.0, 2.0, 3.0, 4.0])),
    "ellipsis_none": ((Ellipsis, None, 2), np.array([[7.0], [8.0], [9.0]])),
    "int_tensor": ("int_tensor", np.array([0.5, 0.25, 0.125, 1.0])),
}


def _resolve(lib, index, x):
    if index == "mask":
        return x > 0
    if index == "mask_rows":
        return lib.tensor([True, False, True], device=x.device)
    if index == "int_tensor":
        return lib.tensor([[2], [0]], device=x.device)
    return index


@pytest.mark.parametrize("name", sorted(SETITEMS))
def test_setitem_kinds(name, device):
    index, value = SETITEMS[name]
    data = np.random.default_rng(2).standard_normal((3, 4))

    def fn(lib, x, v):
        y = x * 1
        y[_resolve(lib, index, y)] = v
        return y
    value = np.asarray(value, dtype=np.float64)
    _both(fn, data, value, device=device)
    # without a graph the data is written in place into a plain tensor
    a, t = _pair(data, device)
    a[_resolve(ag, index, a)] = ag.tensor(value, device=device)
    t[_resolve(torch, index, t)] = torch.from_numpy(value)
    assert_close(a, t)


def test_setitem_into_a_constant_with_a_value_that_requires_grad(device):
    """A tensor that did not require grad takes the value's history through an advanced-index write."""
    def fn(lib, v):
        base = lib.zeros(3, 4, dtype=v.dtype, device=v.device)
        base[lib.tensor([2, 0], device=v.device), 1:3] = v
        return base * base
    _both(fn, rng.standard_normal((2, 2)), device=device)


# --- hypothesis: shapes, dims and indices for the hot ops ----------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import array_shapes  # noqa: E402


@st.composite
def along_dim_args(draw):
    """x's shape, a dim, and an index shape no larger than x's apart from that dim (gather/scatter's rule)."""
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    index_shape = tuple(draw(st.integers(0, 5)) if d == dim % len(shape) else draw(st.integers(0, s))
                        for d, s in enumerate(shape))
    return shape, dim, index_shape, draw(st.integers(0, 2 ** 32 - 1))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=along_dim_args(), name=st.sampled_from(["gather", "scatter_add", "scatter_amax", "index_select",
                                                    "index_add"]))
def test_along_dim_ops_against_torch(args, name):
    shape, dim, index_shape, seed = args
    r = np.random.default_rng(seed)
    size = shape[dim]
    x = r.standard_normal(shape)
    if name in ("gather", "scatter_add", "scatter_amax"):
        index = r.integers(0, size, index_shape)
        src = r.standard_normal(index_shape)
        fns = {"scatter_add": lambda lib, x, s, i: x.scatter_add(dim, i, s),
               "scatter_amax": lambda lib, x, s, i: x.scatter_reduce(dim, i, s, "amax")}
    else:
        index = r.integers(0, size, index_shape[dim % len(shape)])
        sliced = list(shape)
        sliced[dim] = len(index)
        src = r.standard_normal(sliced)
        fns = {"index_select": lambda lib, x, s, i: x.index_select(dim, i),
               "index_add": lambda lib, x, s, i: x.index_add(dim, i, s, alpha=0.5)}
    if name == "gather":
        _both(lambda lib, x, i: x.gather(dim, i), x, index)
    else:
        _both(fns[name], x, src, index)
