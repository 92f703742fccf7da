"""RAdam: Adam whose adaptive step is switched on, and scaled, only once the variance of its
second-moment estimate is tractable (PyTorch's rule)."""

import math

import autograd as ag

from .optimizer import Optimizer, _check_execution_options, _check_hyperparameters


class RAdam(Optimizer):
    r"""For each parameter, at step t, with g its gradient (negated when ``maximize``)::

        g = g + weight_decay * p                (decoupled_weight_decay: p = p * (1 - lr * weight_decay))
        exp_avg = beta1 * exp_avg + (1 - beta1) * g
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g**2
        m_hat = exp_avg / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        if rho_t > 5:
            r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            p = p - lr * r * m_hat * sqrt(1 - beta2**t) / (sqrt(exp_avg_sq) + eps)
        else:
            p = p - lr * m_hat
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_hyperparameters(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        _check_execution_options(differentiable, foreach)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable))

    def _update(self, param, grad, state, group):
        p, xp = param.array, param._backend.xp
        lr, (beta1, beta2) = group["lr"], group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = ag.zeros_like(param)
            state["exp_avg_sq"] = ag.zeros_like(param)
        state["step"] += 1
        step = state["step"]
        grad = self._decayed_grad(p, grad, group)
        exp_avg, exp_avg_sq = state["exp_avg"].array, state["exp_avg_sq"].array
        exp_avg += (1 - beta1) * (grad - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        bias_correction2 = 1 - beta2 ** step
        m_hat = exp_avg / (1 - beta1 ** step)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * beta2 ** step / bias_correction2
        # rho_t is a function of the step count alone, so this branch never looks at the data
        if rho_t > 5:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            denom = xp.sqrt(exp_avg_sq)
            denom += group["eps"]
            m_hat *= lr * rect * math.sqrt(bias_correction2)
            p -= m_hat / denom
        else:
            p -= lr * m_hat
