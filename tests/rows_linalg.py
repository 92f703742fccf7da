"""Op-table rows: linear algebra: mm/bmm/einsum/... and autograd.linalg.

Every row name starts with ``la_`` (run them with ``-k la_``). Factorizations get well-conditioned inputs
(``square``: a random matrix plus n I; SPD matrices built inside the row as A A^T + n I) and, where the
result has a gauge freedom (the signs of eigenvectors and singular vectors), rows compare quantities that
do not depend on it (V * V, U diag(S) V^T), as torch's documentation advises.
"""

from optable import *  # noqa: F401,F403
from optable import op, randn, positive, distinct


def square(*shape, shift=None):
    """Random matrices plus n I: far from singular, so inverses and solves are well conditioned."""
    shift = shape[-1] if shift is None else shift
    return lambda rng: rng.standard_normal(shape) + shift * np.eye(*shape[-2:])


def spd(lib, a):
    """A symmetric positive-definite matrix from any square ``a``."""
    return a @ a.mT + a.shape[-1] * lib.eye(a.shape[-1], dtype=a.dtype, device=a.device)


def sym(lib, a):
    return a + a.mT


def lower(*shape):
    return lambda rng: np.tril(rng.standard_normal(shape)) + shape[-1] * np.eye(shape[-1])


def separated(*shape):
    """Symmetric-able matrices whose symmetric part has well separated eigenvalues (eigh's gradient divides by
    their gaps)."""
    n = shape[-1]

    def sample(rng):
        q, _ = np.linalg.qr(rng.standard_normal(shape))
        values = np.arange(1, n + 1) * 3.0 + rng.uniform(-0.2, 0.2, shape[:-1])
        return (q * values[..., None, :]) @ np.swapaxes(q, -1, -2) / 2 + rng.standard_normal(shape) * 0.01
    return sample


def inplace_on_view(c, update):
    """An in-place product into a view (the first two of three matrices) of a non-leaf: the base's history is
    rewritten (CopySlices)."""
    y = c * 1
    update(y[:2])
    return y


def gauge_free_svd(lib, a):
    u, s, vh = lib.linalg.svd(a, full_matrices=False)
    return s, u * u, vh * vh, (u * s.unsqueeze(-2) ** 2) @ vh


def gauge_free_torch_svd(lib, a):
    u, s, v = lib.svd(a)
    return s, u * u, (u * s.unsqueeze(-2) ** 2) @ v.mT


def gauge_free_eigh(lib, a, uplo="L"):
    values, vectors = lib.linalg.eigh(a + a.mT, UPLO=uplo)  # symmetric: finite differences see the whole matrix
    return values, vectors * vectors, (vectors * values.unsqueeze(-2) ** 2) @ vectors.mT


NO_CDIST_DOUBLE = "torch has no double backward for cdist (_cdist_backward is not differentiable)"

def through_float32(fn, a):
    """torch's float16/bfloat16 matrix_exp is wrong on the CPU (about -2e4 on the diagonal of exp(0.5 * randn(3,
    3))), so these rows compute low precision inputs in float32; test_linalg.py checks ndgrad's own float16
    matrix_exp against float64."""
    low = str(a.dtype).replace("torch.", "") in ("float16", "bfloat16")
    return fn(a.float()).to(a.dtype) if low else fn(a)


OPS = [
    # --- products
    op("la_mm", lambda lib, a, b: lib.mm(a, b), randn(3, 4), randn(4, 2)),
    op("la_mm_method", lambda lib, a, b: a.mm(b), randn(2, 3), randn(3, 3)),
    op("la_bmm", lambda lib, a, b: lib.bmm(a, b), randn(2, 3, 4), randn(2, 4, 5)),
    op("la_mv", lambda lib, a, v: lib.mv(a, v), randn(3, 4), randn(4)),
    op("la_dot", lambda lib, a, b: lib.dot(a, b), randn(5), randn(5)),
    op("la_vdot", lambda lib, a, b: a.vdot(b), randn(4), randn(4)),
    op("la_inner", lambda lib, a, b: lib.inner(a, b), randn(2, 3, 4), randn(5, 4)),
    op("la_inner_scalar", lambda lib, a, b: lib.inner(a, b), randn(3), randn()),
    op("la_outer", lambda lib, a, b: lib.outer(a, b), randn(3), randn(4)),
    op("la_ger", lambda lib, a, b: a.ger(b), randn(2), randn(3)),
    op("la_addmm", lambda lib, c, a, b: lib.addmm(c, a, b, beta=0.5, alpha=2.0), randn(2), randn(3, 4), randn(4, 2)),
    op("la_addmm_defaults", lambda lib, c, a, b: c.addmm(a, b), randn(3, 2), randn(3, 4), randn(4, 2)),
    op("la_addmm_beta0", lambda lib, c, a, b: lib.addmm(c, a, b, beta=0), randn(3, 2), randn(3, 4), randn(4, 2)),
    op("la_addbmm", lambda lib, c, a, b: lib.addbmm(c, a, b, alpha=0.5), randn(3, 2), randn(2, 3, 4), randn(2, 4, 2)),
    op("la_baddbmm", lambda lib, c, a, b: lib.baddbmm(c, a, b, beta=2.0), randn(1, 3, 2), randn(2, 3, 4),
       randn(2, 4, 2)),
    op("la_addmv", lambda lib, c, a, v: lib.addmv(c, a, v, beta=0.5, alpha=3.0), randn(3), randn(3, 4), randn(4)),
    op("la_addr", lambda lib, c, a, b: lib.addr(c, a, b, alpha=2.0), randn(3, 4), randn(3), randn(4)),
    op("la_addmm_inplace", lambda lib, c, a, b: (c * 1).addmm_(a, b, beta=0.5, alpha=2.0), randn(3, 2), randn(3, 4),
       randn(4, 2)),
    op("la_baddbmm_inplace_view", lambda lib, c, a, b: inplace_on_view(c, lambda v: v.baddbmm_(a, b)),
       randn(3, 3, 2), randn(2, 3, 4), randn(2, 4, 2)),
    op("la_addbmm_inplace", lambda lib, c, a, b: (c * 1).addbmm_(a, b, beta=2.0), randn(3, 2), randn(2, 3, 4),
       randn(2, 4, 2)),
    op("la_addmv_inplace", lambda lib, c, a, v: (c * 1).addmv_(a, v), randn(3), randn(3, 4), randn(4)),
    op("la_addr_inplace", lambda lib, c, a, b: (c * 1).addr_(a, b, alpha=0.5), randn(3, 2), randn(3), randn(2)),
    op("la_chain_matmul", lambda lib, a, b, c: lib.chain_matmul(a, b, c), randn(2, 5), randn(5, 3), randn(3, 4)),
    op("la_multi_dot", lambda lib, v, a, b, w: lib.linalg.multi_dot([v, a, b, w]), randn(3), randn(3, 5),
       randn(5, 2), randn(2)),
    op("la_tensordot", lambda lib, a, b: lib.tensordot(a, b), randn(2, 3, 4), randn(3, 4, 2)),
    op("la_tensordot_lists", lambda lib, a, b: lib.tensordot(a, b, dims=([0, 2], [2, 0])), randn(2, 3, 4),
       randn(4, 5, 2)),
    op("la_tensordot_zero", lambda lib, a, b: lib.tensordot(a, b, dims=0), randn(2, 3), randn(2)),
    op("la_kron", lambda lib, a, b: lib.kron(a, b), randn(2, 3), randn(3, 2)),
    # (mixed ndims are in test_linalg.py: torch's kron refuses their transposed views, "view size is not compatible")
    op("la_kron_vectors", lambda lib, a, b: a.kron(b), randn(3), randn(2)),
    # --- einsum
    op("la_einsum_matmul", lambda lib, a, b: lib.einsum("ij,jk->ik", a, b), randn(3, 4), randn(4, 2)),
    op("la_einsum_batched", lambda lib, a, b: lib.einsum("bij,bjk->bki", a, b), randn(2, 3, 4), randn(2, 4, 2)),
    op("la_einsum_ellipsis", lambda lib, a, b: lib.einsum("...ij,...jk", a, b), randn(2, 3, 4), randn(2, 4, 2)),
    op("la_einsum_broadcast", lambda lib, a, b: lib.einsum("bij,bjk->bik", a, b), randn(2, 3, 4), randn(1, 4, 2)),
    op("la_einsum_ellipsis_broadcast", lambda lib, a, b: lib.einsum("i...,i...->...", a, b), randn(3, 2, 1),
       randn(3, 4)),
    op("la_einsum_diagonal", lambda lib, a: lib.einsum("ii->i", a), randn(3, 3)),
    op("la_einsum_trace", lambda lib, a: lib.einsum("ii", a), randn(4, 4)),
    op("la_einsum_sum", lambda lib, a: lib.einsum("ijk->j", a), randn(2, 3, 4)),
    op("la_einsum_permute", lambda lib, a: lib.einsum("ijk->kij", a), randn(2, 3, 4)),
    op("la_einsum_outer", lambda lib, a, b: lib.einsum("i,j", a, b), randn(3), randn(2)),
    op("la_einsum_rowdot", lambda lib, a, b: lib.einsum("ij,ij->i", a, b), randn(3, 4), randn(3, 4)),
    op("la_einsum_repeated", lambda lib, a, b: lib.einsum("iij,jk->ik", a, b), randn(3, 3, 2), randn(2, 4)),
    op("la_einsum_three", lambda lib, a, b, c: lib.einsum("ij,jk,kl->il", a, b, c), randn(2, 5), randn(5, 3),
       randn(3, 4)),
    op("la_einsum_four_list", lambda lib, a, b, c, d: lib.einsum("ab,bc,cd,d->a", [a, b, c, d]), randn(3, 4),
       randn(4, 2), randn(2, 5), randn(5)),
    op("la_einsum_summed_alone", lambda lib, a, b: lib.einsum("ij,k->k", a, b), randn(2, 3), randn(4)),
    # --- cross, cdist, matrix functions
    op("la_cross", lambda lib, a, b: lib.cross(a, b, dim=1), randn(2, 3), randn(2, 3)),
    op("la_cross_default_dim", lambda lib, a, b: a.cross(b), randn(3, 2), randn(3, 2)),
    op("la_linalg_cross", lambda lib, a, b: lib.linalg.cross(a, b), randn(2, 3), randn(1, 3)),
    op("la_cdist", lambda lib, a, b: lib.cdist(a, b), randn(4, 3), randn(5, 3), double=False),
    op("la_cdist_p1_batched", lambda lib, a, b: lib.cdist(a, b, p=1.0), randn(2, 3, 2), randn(2, 4, 2), double=False),
    op("la_cdist_p3", lambda lib, a, b: lib.cdist(a, b, p=3.0), randn(3, 2), randn(2, 2), double=False),
    op("la_matrix_power", lambda lib, a: lib.matrix_power(a, 3), randn(3, 3, scale=0.5)),
    op("la_matrix_power_batched", lambda lib, a: lib.linalg.matrix_power(a, 4), randn(2, 2, 2, scale=0.5)),
    op("la_matrix_power_zero", lambda lib, a: a.matrix_power(0), randn(2, 3, 3)),
    op("la_matrix_power_negative", lambda lib, a: lib.linalg.matrix_power(a, -2), square(3, 3)),
    op("la_matrix_exp", lambda lib, a: through_float32(lib.linalg.matrix_exp, a), randn(3, 3)),
    op("la_matrix_exp_batched", lambda lib, a: through_float32(lib.matrix_exp, a), randn(2, 2, 2, scale=2.0)),
    # --- norms
    op("la_vector_norm", lambda lib, a: lib.linalg.vector_norm(a), randn(3, 4)),
    op("la_vector_norm_numpy_keywords", lambda lib, a: lib.linalg.vector_norm(a, axis=0, keepdims=True), randn(3, 4)),
    op("la_vector_norm_empty_dims", lambda lib, a: lib.linalg.vector_norm(a, dim=()), randn(3, 4)),
    op("la_vector_norm_dim", lambda lib, a: lib.linalg.vector_norm(a, 3, dim=1, keepdim=True), randn(3, 4)),
    op("la_vector_norm_ord1", lambda lib, a: lib.linalg.vector_norm(a, ord=1, dim=(0, 2)), randn(2, 3, 4)),
    op("la_vector_norm_inf", lambda lib, a: lib.linalg.vector_norm(a, ord=float("inf"), dim=-1), distinct(3, 4)),
    op("la_vector_norm_neg_inf", lambda lib, a: lib.linalg.vector_norm(a, ord=-float("inf")), distinct(3, 4)),
    op("la_vector_norm_ord0", lambda lib, a: lib.linalg.vector_norm(a, ord=0, dim=0), randn(3, 4)),
    op("la_vector_norm_half", lambda lib, a: lib.linalg.vector_norm(a, ord=0.5, dim=1), positive(3, 4)),
    op("la_vector_norm_ord1_5", lambda lib, a: lib.linalg.vector_norm(a, ord=1.5), randn(5)),
    op("la_matrix_norm", lambda lib, a: lib.linalg.matrix_norm(a), randn(2, 3, 4)),
    op("la_matrix_norm_nuc", lambda lib, a: lib.linalg.matrix_norm(a, "nuc"), randn(3, 4)),
    op("la_matrix_norm_2", lambda lib, a: lib.linalg.matrix_norm(a, 2, dim=(0, 2), keepdim=True), randn(4, 2, 3)),
    op("la_matrix_norm_neg2", lambda lib, a: lib.linalg.matrix_norm(a, -2), randn(3, 3)),
    op("la_matrix_norm_1", lambda lib, a: lib.linalg.matrix_norm(a, 1), randn(2, 3, 4)),
    op("la_matrix_norm_inf", lambda lib, a: lib.linalg.matrix_norm(a, float("inf"), keepdim=True), randn(3, 4)),
    op("la_matrix_norm_neg1", lambda lib, a: lib.linalg.matrix_norm(a, -1), randn(3, 4)),
    op("la_linalg_norm", lambda lib, a: lib.linalg.norm(a), randn(2, 3, 4)),
    op("la_linalg_norm_matrix", lambda lib, a: lib.linalg.norm(a, 1), randn(3, 4)),
    op("la_linalg_norm_vector", lambda lib, a: lib.linalg.norm(a, 3, dim=1), randn(3, 4)),
    op("la_linalg_norm_dims", lambda lib, a: lib.linalg.norm(a, dim=(0, 1)), randn(3, 4, 2)),
    op("la_norm", lambda lib, a: lib.norm(a), randn(3, 4)),
    op("la_norm_p_dim", lambda lib, a: a.norm(p=3, dim=1, keepdim=True), randn(3, 4)),
    op("la_norm_fro_dims", lambda lib, a: lib.norm(a, "fro", dim=(0, 1)), randn(3, 4, 2)),
    op("la_norm_nuc", lambda lib, a: lib.norm(a, "nuc"), randn(3, 3)),
    op("la_dist", lambda lib, a, b: lib.dist(a, b), randn(3, 4), randn(4)),
    op("la_dist_p1", lambda lib, a, b: a.dist(b, p=1), randn(3), randn(3)),
    # --- factorizations
    op("la_inv", lambda lib, a: lib.linalg.inv(a), square(3, 3)),
    op("la_inv_batched", lambda lib, a: lib.inverse(a), square(2, 3, 3)),
    op("la_det", lambda lib, a: lib.linalg.det(a), square(2, 3, 3)),
    op("la_det_method", lambda lib, a: a.det(), square(3, 3)),
    op("la_slogdet", lambda lib, a: tuple(lib.linalg.slogdet(a)), randn(2, 3, 3)),
    op("la_logdet", lambda lib, a: lib.logdet(a), square(2, 3, 3)),
    op("la_solve", lambda lib, a, b: lib.linalg.solve(a, b), square(3, 3), randn(3, 2)),
    op("la_solve_vector", lambda lib, a, b: lib.linalg.solve(a, b), square(2, 3, 3), randn(2, 3)),
    op("la_solve_broadcast", lambda lib, a, b: lib.linalg.solve(a, b), square(3, 3), randn(2, 3, 4)),
    op("la_solve_right", lambda lib, a, b: lib.linalg.solve(a, b, left=False), square(3, 3), randn(2, 3)),
    op("la_solve_triangular_upper", lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True), square(3, 3),
       randn(3, 2)),
    op("la_solve_triangular_lower_right",
       lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=False, left=False), square(2, 3, 3), randn(2, 4, 3)),
    op("la_solve_triangular_unit",
       lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=False, unitriangular=True), randn(3, 3, scale=0.3),
       randn(3, 2)),
    op("la_cholesky", lambda lib, a: lib.linalg.cholesky(spd(lib, a)), randn(3, 3)),
    op("la_cholesky_upper", lambda lib, a: lib.linalg.cholesky(spd(lib, a), upper=True), randn(2, 3, 3)),
    # (torch's gradient for the factor is its formula on the whole matrix, while only the triangle is read:
    # finite differences see the triangle alone, so no gradcheck; torch's gradient is compared)
    op("la_cholesky_solve", lambda lib, b, l: lib.cholesky_solve(b, l), randn(3, 2), lower(3, 3), gradcheck=False),
    op("la_qr", lambda lib, a: tuple(lib.linalg.qr(a)), square(4, 3, shift=2)),
    op("la_qr_wide", lambda lib, a: tuple(lib.linalg.qr(a)), square(2, 4, shift=2)),
    op("la_qr_square_batched", lambda lib, a: tuple(lib.linalg.qr(a)), square(2, 3, 3)),
    op("la_eigh", lambda lib, a: gauge_free_eigh(lib, a), separated(3, 3)),
    op("la_eigh_upper_batched", lambda lib, a: gauge_free_eigh(lib, a, "U"), separated(2, 3, 3)),
    op("la_eigvalsh", lambda lib, a: lib.linalg.eigvalsh(sym(lib, a)), separated(2, 3, 3)),
    op("la_svd", lambda lib, a: gauge_free_svd(lib, a), separated(3, 3)),
    op("la_svd_tall", lambda lib, a: gauge_free_svd(lib, a), randn(4, 2)),
    op("la_svd_wide_batched", lambda lib, a: gauge_free_svd(lib, a), randn(2, 2, 4)),
    op("la_svdvals", lambda lib, a: lib.linalg.svdvals(a), randn(3, 4)),
    op("la_pinv", lambda lib, a: lib.linalg.pinv(a), randn(4, 3)),
    op("la_pinv_wide", lambda lib, a: lib.linalg.pinv(a), randn(2, 2, 3)),
    # (an integer result: compared next to a differentiable one, as the table differentiates every row)
    op("la_matrix_rank", lambda lib, a, b: (lib.linalg.matrix_rank(a @ b), a @ b), randn(4, 2), randn(2, 3)),
    op("la_cond", lambda lib, a: lib.linalg.cond(a), square(2, 3, 3)),
    op("la_lu_factor", lambda lib, a: tuple(lib.linalg.lu_factor(a)), randn(3, 3)),
    op("la_lu_factor_batched", lambda lib, a: tuple(lib.linalg.lu_factor(a)), randn(2, 4, 4)),
    op("la_lu_solve", lambda lib, a, b: lib.linalg.lu_solve(*lib.linalg.lu_factor(a), b), randn(3, 3), randn(3, 2)),
    op("la_lu_solve_adjoint_right", lambda lib, a, b: lib.linalg.lu_solve(*lib.linalg.lu_factor(a), b, left=False,
                                                                          adjoint=True), randn(2, 3, 3), randn(2, 4, 3)),
    # (lstsq's residuals and singular values are not differentiable in torch: test_linalg.py compares them)
    op("la_lstsq", lambda lib, a, b: lib.linalg.lstsq(a, b)[::2], randn(4, 3), randn(4, 2)),
    op("la_lstsq_gelsd", lambda lib, a, b: lib.linalg.lstsq(a, b, driver="gelsd")[::2], randn(2, 5, 3),
       randn(2, 5, 2)),
    # (P and torch.svd's zero-filled U and V need no gradient here but do in torch: test_linalg.py compares them)
    op("la_lu", lambda lib, a: tuple(lib.linalg.lu(a))[1:], randn(2, 3, 3)),
    op("la_torch_svd", lambda lib, a: gauge_free_torch_svd(lib, a), randn(4, 3)),
    op("la_torch_svd_full", lambda lib, a: lib.svd(a, some=False)[1], randn(3, 4)),
    op("la_torch_svd_values_only", lambda lib, a: a.svd(compute_uv=False)[1], randn(3, 4)),
    op("la_torch_cholesky", lambda lib, a: spd(lib, a).cholesky(), randn(3, 3)),
    op("la_cholesky_inverse", lambda lib, l: lib.cholesky_inverse(l.mT, upper=True), lower(3, 3), gradcheck=False,
       jvp=False),  # the backward-based tangent keeps the gradient convention on the unused triangle
    op("la_vecdot", lambda lib, a, b: lib.linalg.vecdot(a, b, dim=0), randn(3, 2), randn(3, 1)),
    op("la_vander", lambda lib, x: lib.linalg.vander(x), randn(4)),
    op("la_vander_batched_n", lambda lib, x: lib.linalg.vander(x, N=5), randn(2, 3)),
    op("la_linalg_matmul", lambda lib, a, b: lib.linalg.matmul(a, b), randn(2, 3, 4), randn(4, 2)),
    op("la_tensorinv", lambda lib, a: lib.linalg.tensorinv(a.reshape(2, 3, 6), ind=2),
       square(6, 6)),
    op("la_tensorsolve", lambda lib, a, b: lib.linalg.tensorsolve(a.reshape(2, 3, 6), b), square(6, 6), randn(2, 3)),
    op("la_lstsq_wide", lambda lib, a, b: lib.linalg.lstsq(a, b).solution, randn(2, 4), randn(2, 3)),
    op("la_torch_slogdet_pinverse", lambda lib, a, b: (*lib.slogdet(a), a.slogdet().logabsdet, lib.pinverse(b),
                                                       b.pinverse()), randn(2, 3, 3), randn(4, 3)),
]
