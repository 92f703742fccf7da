"""RMSprop: steps scaled by a running root mean square of the gradient (PyTorch's rule)."""

import autograd as ag

from .optimizer import Optimizer, _check_execution_options, _check_hyperparameters


class RMSprop(Optimizer):
    r"""For each parameter, with g its gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g**2
        grad_avg = alpha * grad_avg + (1 - alpha) * g            (centered)
        denom = sqrt(square_avg - grad_avg**2) + eps             (centered; else sqrt(square_avg) + eps)
        buf = momentum * buf + g / denom;  p = p - lr * buf      (momentum > 0)
        p = p - lr * g / denom                                   (otherwise)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_hyperparameters(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        _check_execution_options(differentiable, foreach)
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _update(self, param, grad, state, group):
        p, xp = param.array, param._backend.xp
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = ag.zeros_like(param)
            if momentum > 0:
                state["momentum_buffer"] = ag.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = ag.zeros_like(param)
        state["step"] += 1
        grad = self._decayed_grad(p, grad, group)
        square_avg = state["square_avg"].array
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state["grad_avg"].array
            grad_avg += (1 - alpha) * (grad - grad_avg)
            denom = square_avg - grad_avg * grad_avg
            xp.sqrt(denom, out=denom)
        else:
            denom = xp.sqrt(square_avg)
        denom += group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"].array
            buf *= momentum
            buf += grad / denom
            p -= group["lr"] * buf
        else:
            p -= group["lr"] * (grad / denom)
