"""autograd.linalg: PyTorch's torch.linalg, with gradients. The ops behind these names live in
autograd/ops/linalg.py; this module only gives them torch.linalg's names."""

from .ops.linalg import (cholesky, cond, det, eigh, eigvalsh, inv, lstsq, lu_factor, lu_solve, matrix_exp, matrix_norm,
                         matrix_rank, multi_dot, pinv, qr, solve, solve_triangular, svd, svdvals,
                         vector_norm)
from .ops.linalg import linalg_slogdet as slogdet
from .ops.linalg import linalg_cross as cross, linalg_matrix_power as matrix_power, linalg_norm as norm

__all__ = ["vector_norm", "matrix_norm", "norm", "multi_dot", "cross", "matrix_power", "matrix_exp", "inv", "det",
           "slogdet", "solve", "solve_triangular", "cholesky", "qr", "eigh", "eigvalsh", "svd", "svdvals", "pinv",
           "matrix_rank", "cond", "lu_factor", "lu_solve", "lstsq"]
