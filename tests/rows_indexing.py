"""Op-table rows: shape and indexing ops (split, roll, gather, scatter, index_*, masked_*, tril ...).

Every row's name starts with ``idx_``: ``pytest tests/test_ops.py -k idx_`` runs this family alone.
"""

import numpy as np

from optable import *  # noqa: F401,F403


def unique_along(n, *shape, dim=0):
    """Integer indices in [0, n), distinct along ``dim`` (a scatter that writes each target once, so
    the result does not depend on which write lands last)."""
    def sample(rng):
        moved = list(shape)
        k = moved.pop(dim)
        out = np.empty(moved + [k], dtype=np.int64)
        for pos in np.ndindex(*moved):
            out[pos] = rng.permutation(n)[:k]
        return np.moveaxis(out, -1, dim)
    return sample


def setitem_kind(x, index, value):
    y = x * 1  # a non-leaf, so the write is recorded in the graph
    y[index] = value
    return y


def beside(x, result):
    """A non-differentiable result (indices, a tuple of them) next to x: the table differentiates the
    row's floating outputs, so a row needs one."""
    return (x,) + (tuple(result) if isinstance(result, tuple) else (result,))


OPS = [
    # splitting: views of the input
    op("idx_split", lambda lib, x: x.split(2), randn(5, 3)),
    op("idx_split_sizes_dim", lambda lib, x: lib.split(x, [1, 3, 0], dim=1), randn(2, 4)),
    op("idx_chunk", lambda lib, x: x.chunk(3, -1), randn(2, 7)),
    op("idx_chunk_fewer", lambda lib, x: lib.chunk(x, 4), randn(6, 2)),  # 6 in chunks of 2: three chunks
    op("idx_tensor_split_sections", lambda lib, x: x.tensor_split(3, dim=1), randn(2, 7)),
    op("idx_tensor_split_indices", lambda lib, x: lib.tensor_split(x, [1, 4, -1]), randn(6, 2)),
    op("idx_unbind", lambda lib, x: x.unbind(1), randn(2, 3, 2)),
    op("idx_hsplit", lambda lib, x: lib.hsplit(x, 2), randn(3, 4)),
    op("idx_vsplit_indices", lambda lib, x: x.vsplit([1, 2]), randn(4, 2)),
    op("idx_dsplit", lambda lib, x: lib.dsplit(x, 2), randn(2, 1, 4)),
    # flips, rolls, repeats: copies
    op("idx_flip", lambda lib, x: x.flip(0, 2), randn(2, 3, 4)),
    op("idx_flip_list", lambda lib, x: lib.flip(x, [-1]), randn(3, 4)),
    op("idx_fliplr", lambda lib, x: lib.fliplr(x), randn(3, 4)),
    op("idx_flipud", lambda lib, x: x.flipud(), randn(3, 4)),
    op("idx_roll", lambda lib, x: x.roll(2, 1), randn(3, 4)),
    op("idx_roll_dims", lambda lib, x: lib.roll(x, (1, -3), (0, 2)), randn(3, 2, 4)),
    op("idx_roll_flat", lambda lib, x: x.roll(5), randn(3, 4)),
    op("idx_rot90", lambda lib, x: x.rot90(), randn(3, 4)),
    op("idx_rot90_k", lambda lib, x: lib.rot90(x, -1, [1, 2]), randn(2, 3, 4)),
    op("idx_rot90_twice", lambda lib, x: lib.rot90(x, 2, (0, 1)), randn(3, 4)),
    op("idx_repeat", lambda lib, x: x.repeat(2, 1, 3), randn(3, 2)),
    op("idx_repeat_tuple", lambda lib, x: x.repeat((2, 3)), randn(3, 2)),
    op("idx_tile", lambda lib, x: lib.tile(x, (2,)), randn(3, 2)),
    op("idx_tile_more", lambda lib, x: x.tile(2, 1, 2), randn(3, 2)),
    op("idx_repeat_interleave", lambda lib, x: x.repeat_interleave(2), randn(2, 3)),
    op("idx_repeat_interleave_dim", lambda lib, x: lib.repeat_interleave(x, 3, dim=1), randn(2, 3)),
    op("idx_repeat_interleave_tensor", lambda lib, x: x.repeat_interleave(
        lib.tensor([1, 0, 3], device=x.device), dim=0), randn(3, 2)),
    op("idx_repeat_interleave_counts", lambda lib, x, r: beside(x, lib.repeat_interleave(r)), randn(2), ints(0, 3, 4)),
    # gathering and scattering along a dim
    op("idx_gather", lambda lib, x, i: x.gather(0, i), randn(3, 4), ints(0, 3, 2, 4)),
    op("idx_gather_dim1_smaller", lambda lib, x, i: lib.gather(x, 1, i), randn(3, 5), ints(0, 5, 2, 3)),
    op("idx_gather_neg_dim", lambda lib, x, i: lib.gather(x, -1, i), randn(2, 3, 4), ints(0, 4, 2, 3, 6)),
    op("idx_take_along_dim", lambda lib, x, i: lib.take_along_dim(x, i, 1), randn(3, 4), ints(0, 4, 1, 2)),
    # torch 2.13's take_along_dim without dim flattens with view(-1), refusing transposed and strided inputs
    op("idx_take_along_dim_flat", lambda lib, x, i: x.contiguous().take_along_dim(i), randn(3, 4), ints(0, 12, 5)),
    # src as large as index: torch 2.13's scatter/scatter_add backward refuses a larger src (test_indexing.py
    # checks that forward)
    op("idx_scatter", lambda lib, x, i, s: x.scatter(0, i, s), randn(4, 3), unique_along(4, 2, 3), randn(2, 3)),
    op("idx_scatter_dim1", lambda lib, x, i, s: lib.scatter(x, 1, i, s), randn(3, 5), unique_along(5, 2, 3, dim=1),
       randn(2, 3)),
    op("idx_scatter_value", lambda lib, x, i: x.scatter(1, i, 1.5), randn(3, 4), unique_along(4, 3, 2, dim=1)),
    op("idx_scatter_add", lambda lib, x, i, s: x.scatter_add(0, i, s), randn(3, 4), ints(0, 3, 5, 4), randn(5, 4)),
    op("idx_scatter_add_dim1", lambda lib, x, i, s: lib.scatter_add(x, 1, i, s), randn(2, 3), ints(0, 3, 2, 4),
       randn(2, 4)),
    op("idx_scatter_reduce_sum", lambda lib, x, i, s: x.scatter_reduce(0, i, s, "sum"), randn(3, 2),
       ints(0, 3, 5, 2), randn(5, 2)),
    op("idx_scatter_reduce_sum_exclude", lambda lib, x, i, s: x.scatter_reduce(0, i, s, "sum", include_self=False),
       randn(3, 2), ints(0, 3, 5, 2), randn(5, 2)),
    op("idx_scatter_reduce_prod", lambda lib, x, i, s: lib.scatter_reduce(x, 1, i, s, "prod"), away(2, 3, gap=0.3),
       ints(0, 3, 2, 4), away(2, 4, gap=0.3), double=False),  # torch: no double backward for prod
    op("idx_scatter_reduce_prod_exclude", lambda lib, x, i, s: x.scatter_reduce(0, i, s, "prod", include_self=False),
       away(3, 2, gap=0.3), ints(0, 3, 4, 2), away(4, 2, gap=0.3), double=False),
    op("idx_scatter_reduce_mean", lambda lib, x, i, s: x.scatter_reduce(0, i, s, "mean"), randn(3, 2),
       ints(0, 3, 5, 2), randn(5, 2)),
    op("idx_scatter_reduce_mean_exclude", lambda lib, x, i, s: x.scatter_reduce(1, i, s, "mean", include_self=False),
       randn(2, 4), ints(0, 4, 2, 5), randn(2, 5)),
    op("idx_scatter_reduce_amax", lambda lib, x, i, s: x.scatter_reduce(0, i, s, "amax"), distinct(3, 2),
       ints(0, 3, 5, 2), distinct(5, 2)),
    op("idx_scatter_reduce_amin_exclude", lambda lib, x, i, s: lib.scatter_reduce(x, 0, i, s, "amin",
                                                                                 include_self=False),
       distinct(3, 2), ints(0, 3, 5, 2), distinct(5, 2)),
    op("idx_scatter_reduce_amax_ties", lambda lib, x, i, s: x.scatter_reduce(0, i, s, "amax"), ties(3, 2),
       ints(0, 3, 6, 2), ties(6, 2), gradcheck=False),
    op("idx_take", lambda lib, x, i: x.take(i), randn(3, 4), ints(-12, 12, 2, 3)),
    op("idx_put", lambda lib, x, i, s: x.put(i, s), randn(3, 4), unique_along(12, 5), randn(5)),
    op("idx_put_accumulate", lambda lib, x, i, s: lib.put(x, i, s, accumulate=True), randn(3, 4), ints(-12, 12, 2, 3),
       randn(2, 3)),
    # indexing along one dim
    op("idx_index_select", lambda lib, x, i: x.index_select(1, i), randn(3, 4), ints(0, 4, 6)),
    op("idx_index_select_dim0", lambda lib, x, i: lib.index_select(x, 0, i), randn(3, 2, 2), ints(0, 3, 5)),
    op("idx_index_add", lambda lib, x, i, s: x.index_add(0, i, s), randn(3, 2), ints(0, 3, 5), randn(5, 2)),
    op("idx_index_add_alpha", lambda lib, x, i, s: lib.index_add(x, 1, i, s, alpha=-2.0), randn(2, 3),
       ints(0, 3, 4), randn(2, 4)),
    op("idx_index_copy", lambda lib, x, i, s: x.index_copy(0, i, s), randn(4, 2), unique_along(4, 3), randn(3, 2)),
    op("idx_index_fill", lambda lib, x, i: x.index_fill(1, i, -1.5), randn(3, 4), ints(0, 4, 2)),
    op("idx_index_fill_tensor", lambda lib, x, i, v: lib.index_fill(x, 0, i, v), randn(3, 2), ints(0, 3, 2), randn()),
    op("idx_index_put", lambda lib, x, i, j, v: x.index_put((i, j), v), randn(3, 4), ints(0, 3, 2),
       lambda rng: np.array([0, 3]), randn(2)),
    op("idx_index_put_broadcast", lambda lib, x, i, v: lib.index_put(x, (i,), v), randn(4, 3), unique_along(4, 2),
       randn(3)),
    op("idx_index_put_accumulate", lambda lib, x, i, v: x.index_put((i,), v, accumulate=True), randn(3, 2),
       ints(0, 3, 5), randn(5, 2)),
    op("idx_index_put_mask", lambda lib, x, m, v: x.index_put((m,), v), randn(3, 4), mask(3, 4), randn()),
    # masks
    op("idx_masked_fill", lambda lib, x, m: x.masked_fill(m, 0.5), randn(3, 4), mask(3, 4)),
    op("idx_masked_fill_broadcast", lambda lib, x, m: lib.masked_fill(x, m, -2), randn(3, 4), mask(4)),
    op("idx_masked_fill_tensor", lambda lib, x, m, v: x.masked_fill(m, v), randn(2, 3), mask(2, 3), randn()),
    op("idx_masked_select", lambda lib, x, m: x.masked_select(m), randn(3, 4), mask(3, 4)),
    op("idx_masked_select_broadcast", lambda lib, x, m: lib.masked_select(x, m), randn(3, 1), mask(2, 1, 4)),
    op("idx_masked_scatter", lambda lib, x, m, s: x.masked_scatter(m, s), randn(3, 4), mask(3, 4), randn(13)),
    op("idx_masked_scatter_broadcast", lambda lib, x, m, s: lib.masked_scatter(x, m, s), randn(2, 3), mask(3),
       randn(2, 3)),
    op("idx_nonzero", lambda lib, x: beside(x, x.nonzero()), ties(3, 4)),
    op("idx_nonzero_tuple", lambda lib, x: beside(x, lib.nonzero(x, as_tuple=True)), ties(2, 3, 2)),
    op("idx_argwhere", lambda lib, x, m: beside(x, lib.argwhere(m)), randn(2), mask(3, 4)),
    op("idx_where_cond", lambda lib, x, m: beside(x, lib.where(m)), randn(2), mask(3, 4)),
    # triangles and diagonals
    op("idx_tril", lambda lib, x: x.tril(), randn(3, 4)),
    op("idx_tril_offset_batched", lambda lib, x: lib.tril(x, -1), randn(2, 4, 3)),
    op("idx_triu", lambda lib, x: lib.triu(x), randn(4, 3)),
    op("idx_triu_offset", lambda lib, x: x.triu(diagonal=2), randn(3, 5)),
    op("idx_tril_indices", lambda lib, x: beside(x, lib.tril_indices(4, 3, -1)), randn(1)),
    op("idx_triu_indices", lambda lib, x: beside(x, lib.triu_indices(3, 5, 1, device=x.device)), randn(1)),
    op("idx_diagonal", lambda lib, x: x.diagonal(), randn(3, 4)),
    op("idx_diagonal_offset_dims", lambda lib, x: lib.diagonal(x, -1, 2, 0), randn(4, 2, 3)),
    op("idx_diagonal_offset_past", lambda lib, x: x.diagonal(offset=5), randn(3, 4)),
    op("idx_diag_vector", lambda lib, x: lib.diag(x), randn(4)),
    op("idx_diag_vector_offset", lambda lib, x: x.diag(-2), randn(3)),
    op("idx_diag_matrix", lambda lib, x: lib.diag(x, 1), randn(3, 4)),
    op("idx_diag_embed", lambda lib, x: x.diag_embed(), randn(2, 3)),
    op("idx_diag_embed_dims", lambda lib, x: lib.diag_embed(x, 1, 0, 2), randn(2, 3)),
    op("idx_diagflat", lambda lib, x: lib.diagflat(x, -1), randn(2, 2)),
    op("idx_trace", lambda lib, x: x.trace(), randn(3, 4)),
    # moving and merging dims
    op("idx_movedim", lambda lib, x: x.movedim(0, -1), randn(2, 3, 4)),
    op("idx_movedim_lists", lambda lib, x: lib.movedim(x, (0, 1), (2, 0)), randn(2, 3, 4)),
    op("idx_moveaxis", lambda lib, x: lib.moveaxis(x, -1, 1), randn(2, 3, 4)),
    op("idx_swapaxes", lambda lib, x: x.swapaxes(0, 2), randn(2, 3, 4)),
    op("idx_swapdims", lambda lib, x: lib.swapdims(x, -1, 0), randn(2, 3)),
    op("idx_unflatten", lambda lib, x: x.unflatten(1, (2, -1)), randn(3, 6)),
    op("idx_unflatten_neg", lambda lib, x: lib.unflatten(x, -1, (3, 1, 2)), randn(2, 6)),
    op("idx_ravel", lambda lib, x: x.ravel(), randn(2, 3, 2)),
    op("idx_squeeze_dims", lambda lib, x: x.squeeze((1, -1)), randn(3, 1, 4, 1)),
    op("idx_squeeze_dims_not_one", lambda lib, x: lib.squeeze(x, (0, 1)), randn(3, 1, 4)),
    # stacking
    op("idx_hstack", lambda lib, x, y: lib.hstack([x, y]), randn(3, 2), randn(3, 1)),
    op("idx_hstack_1d", lambda lib, x, y: lib.hstack((x, y)), randn(3), randn(2)),
    op("idx_vstack", lambda lib, x, y: lib.vstack([x, y]), randn(3), randn(2, 3)),
    op("idx_row_stack", lambda lib, x, y: lib.row_stack([x, y]), randn(2, 3), randn(1, 3)),
    op("idx_dstack", lambda lib, x, y: lib.dstack([x, y]), randn(2, 3), randn(2, 3, 2)),
    op("idx_column_stack", lambda lib, x, y: lib.column_stack([x, y]), randn(3), randn(3, 2)),
    op("idx_atleast_1d", lambda lib, x: lib.atleast_1d(x), randn()),
    op("idx_atleast_2d", lambda lib, x, y: lib.atleast_2d(x, y), randn(3), randn(2, 2)),
    op("idx_atleast_3d", lambda lib, x, y, z: lib.atleast_3d([x, y, z]), randn(), randn(3), randn(2, 3)),
    # broadcasting and products of index sets
    op("idx_meshgrid_ij", lambda lib, x, y: lib.meshgrid(x, y, indexing="ij"), randn(3), randn(2)),
    op("idx_meshgrid_xy", lambda lib, x, y, z: lib.meshgrid([x, y, z], indexing="xy"), randn(3), randn(2), randn(4)),
    op("idx_broadcast_tensors", lambda lib, x, y: lib.broadcast_tensors(x, y), randn(3, 1), randn(2, 1, 4)),
    op("idx_broadcast_shapes", lambda lib, x: x.expand(lib.broadcast_shapes((3, 1), (2, 1, 4), 4)), randn(1, 4)),
    op("idx_cartesian_prod", lambda lib, x, y: lib.cartesian_prod(x, y), randn(3), randn(2)),
    op("idx_cartesian_prod_three", lambda lib, x, y, z: lib.cartesian_prod(x, y, z), randn(2), randn(3), randn(2)),
    op("idx_combinations", lambda lib, x: lib.combinations(x), randn(4)),
    op("idx_combinations_replacement", lambda lib, x: lib.combinations(x, 3, with_replacement=True), randn(3)),
    op("idx_block_diag", lambda lib, x, y, z: lib.block_diag(x, y, z), randn(2, 3), randn(), randn(3)),
    # in-place variants on a non-leaf (x * 1): the result takes the write's history
    op("idx_masked_fill_", lambda lib, x, m, v: (x * 1).masked_fill_(m, v), randn(3, 4), mask(4), randn()),
    op("idx_index_add_", lambda lib, x, i, s: (x * 1).index_add_(1, i, s, alpha=3), randn(2, 3), ints(0, 3, 4),
       randn(2, 4)),
    op("idx_index_copy_", lambda lib, x, i, s: (x * 1).index_copy_(0, i, s), randn(4, 2), unique_along(4, 2),
       randn(2, 2)),
    op("idx_index_fill_", lambda lib, x, i: (x * 1).index_fill_(0, i, 2.0), randn(3, 2), ints(0, 3, 2)),
    op("idx_index_put_", lambda lib, x, i, v: (x * 1).index_put_((i,), v, accumulate=True), randn(3, 2),
       ints(0, 3, 4), randn(2)),
    op("idx_scatter_", lambda lib, x, i, s: (x * 1).scatter_(1, i, s), randn(2, 4), unique_along(4, 2, 3, dim=1),
       randn(2, 3)),
    op("idx_scatter_add_", lambda lib, x, i, s: (x * 1).scatter_add_(0, i, s), randn(3, 2), ints(0, 3, 4, 2),
       randn(4, 2)),
    op("idx_scatter_reduce_", lambda lib, x, i, s: (x * 1).scatter_reduce_(0, i, s, "amax", include_self=False),
       distinct(3, 2), ints(0, 3, 4, 2), distinct(4, 2)),
    op("idx_masked_scatter_", lambda lib, x, m, s: (x * 1).masked_scatter_(m, s), randn(3, 4), mask(3, 4), randn(12)),
    op("idx_put_", lambda lib, x, i, s: (x * 1).put_(i, s, accumulate=True), randn(3, 4), ints(-12, 12, 5), randn(5)),
    op("idx_tril_", lambda lib, x: (x * 1).tril_(1), randn(3, 4)),
    op("idx_triu_", lambda lib, x: (x * 1).triu_(-1), randn(2, 3, 3)),
    # Tensor.__setitem__: every kind of index, recorded in the graph
    op("idx_setitem_advanced", lambda lib, x, v: setitem_kind(x, ([0, 2], [1, 3]), v), randn(3, 4), randn(2)),
    op("idx_setitem_tensor_index", lambda lib, x, i, v: setitem_kind(x, i, v), randn(4, 3), unique_along(4, 2),
       randn(2, 3)),
    op("idx_setitem_mask", lambda lib, x, m: setitem_kind(x, m, 0.0), randn(3, 4), mask(3, 4)),
    op("idx_setitem_mask_tensor_value", lambda lib, x, m, v: setitem_kind(x, m, v), randn(3, 4), mask(3), randn(4)),
    op("idx_setitem_broadcast", lambda lib, x, v: setitem_kind(x, (slice(None), slice(1, 3)), v), randn(3, 4),
       randn(1, 2)),
    op("idx_setitem_slice_array", lambda lib, x, v: setitem_kind(x, (slice(1, None), [0, 2]), v), randn(3, 4),
       randn(2)),
    op("idx_setitem_ellipsis_none", lambda lib, x, v: setitem_kind(x, (Ellipsis, None, 1), v), randn(2, 3),
       randn(2, 1)),
]
