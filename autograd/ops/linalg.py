"""Matrix products."""

from ..function import Op, same_dtype
from .arithmetic import operands


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


__all__ = []   # the functions of autograd.linalg live in autograd/linalg.py; these are the torch.* ones
METHODS = ()   # names in __all__ that are also Tensor methods
