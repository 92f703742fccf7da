"""autograd.linalg: PyTorch's torch.linalg, with gradients. The ops behind these names live in
autograd/ops/linalg.py; this module only gives them torch.linalg's names."""

from .ops.linalg import (cond, det, eigh, eigvalsh, inv, lstsq, lu, lu_factor, lu_solve, matmul, matrix_exp,
                         matrix_norm, matrix_rank, multi_dot, pinv, qr, solve, solve_triangular, svdvals, tensorinv,
                         tensorsolve, vander, vecdot, vector_norm)
# where torch.X and torch.linalg.X differ, autograd.ops.linalg has the torch.X one under the plain name
from .ops.linalg import (linalg_cholesky as cholesky, linalg_cross as cross, linalg_matrix_power as matrix_power,
                         linalg_norm as norm, linalg_slogdet as slogdet, linalg_svd as svd)

__all__ = ["vector_norm", "matrix_norm", "norm", "multi_dot", "cross", "matrix_power", "matrix_exp", "inv", "det",
           "slogdet", "solve", "solve_triangular", "cholesky", "qr", "eigh", "eigvalsh", "svd", "svdvals", "pinv",
           "matrix_rank", "cond", "lu_factor", "lu_solve", "lstsq", "lu", "matmul", "vecdot", "tensorinv",
           "tensorsolve", "vander"]
