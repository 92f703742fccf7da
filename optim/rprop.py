"""Rprop: resilient backpropagation, which follows only the sign of the gradient with a per-coordinate
step size that grows while the sign holds and shrinks when it flips (PyTorch's rule)."""

import autograd as ag

from .optimizer import Optimizer, _check_execution_options, _check_hyperparameters


class Rprop(Optimizer):
    r"""For each parameter, with g its gradient (negated when ``maximize``)::

        s = sign(g * prev)
        step_size = clip(step_size * (etaplus if s > 0, etaminus if s < 0, 1 if s == 0),
                         step_size_min, step_size_max)          (step_size starts at lr)
        g = 0 where s < 0                                        (a flipped sign skips this coordinate once)
        p = p - sign(g) * step_size
        prev = g
    """

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        _check_hyperparameters(lr=lr)
        if not 0 < etas[0] < 1 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]} (need 0 < etaminus < 1 < etaplus, "
                             f"e.g. etas=(0.5, 1.2))")
        _check_execution_options(differentiable, foreach)
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _update(self, param, grad, state, group):
        p, xp = param.array, param._backend.xp
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        if not state:
            state["step"] = 0
            state["prev"] = ag.zeros_like(param)
            state["step_size"] = ag.full_like(param, group["lr"])
        state["step"] += 1
        if group["maximize"]:
            grad = -grad
        prev, step_size = state["prev"].array, state["step_size"].array
        agreement = xp.sign(grad * prev)
        step_size *= xp.where(agreement > 0, etaplus, xp.where(agreement < 0, etaminus, 1.0)).astype(p.dtype)
        xp.clip(step_size, step_size_min, step_size_max, out=step_size)
        grad = xp.where(agreement < 0, 0, grad).astype(p.dtype)
        p -= xp.sign(grad) * step_size
        prev[...] = grad
