"""Adamax: Adam with the infinity norm in place of the second moment (PyTorch's rule)."""

import autograd as ag

from .optimizer import Optimizer, _check_execution_options, _check_hyperparameters


class Adamax(Optimizer):
    r"""For each parameter, at step t, with g its gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        exp_avg = beta1 * exp_avg + (1 - beta1) * g
        exp_inf = max(beta2 * exp_inf, |g| + eps)
        p = p - lr / (1 - beta1**t) * exp_avg / exp_inf
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_hyperparameters(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        _check_execution_options(differentiable, foreach)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _update(self, param, grad, state, group):
        p, xp = param.array, param._backend.xp
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = ag.zeros_like(param)
            state["exp_inf"] = ag.zeros_like(param)
        state["step"] += 1
        grad = self._decayed_grad(p, grad, group)
        exp_avg, exp_inf = state["exp_avg"].array, state["exp_inf"].array
        exp_avg += (1 - beta1) * (grad - exp_avg)
        exp_inf *= beta2
        xp.maximum(exp_inf, xp.abs(grad) + group["eps"], out=exp_inf)
        p -= group["lr"] / (1 - beta1 ** state["step"]) * (exp_avg / exp_inf)
