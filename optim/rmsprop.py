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

    _kernel_name = "rmsprop_update"

    def _state_names(self, group):
        return ("square_avg",) + (("momentum_buffer",) if group["momentum"] > 0 else ()) + (
            ("grad_avg",) if group["centered"] else ())

    def _prepare(self, param, state, group):
        """Key: None (the rule does not depend on the step count)."""
        state.setdefault("step", 0)
        for name in self._state_names(group):
            if state.get(name) is None:
                state[name] = ag.zeros_like(param)
        state["step"] += 1
        return None

    @staticmethod
    def _rule(xp, p, g, scratch, work, bufs, key, group):
        alpha, momentum, eps = group["alpha"], group["momentum"], group["eps"]
        d = Optimizer._rule_grad(xp, p, g, scratch, work, group)
        square_avg = bufs["square_avg"]
        square_avg *= alpha
        xp.multiply(d, 1 - alpha, out=work)
        work *= d
        square_avg += work
        if group["centered"]:
            grad_avg = bufs["grad_avg"]
            xp.subtract(d, grad_avg, out=work)
            work *= 1 - alpha
            grad_avg += work
            xp.multiply(grad_avg, grad_avg, out=work)
            xp.subtract(square_avg, work, out=work)
            xp.sqrt(work, out=work)
        else:
            xp.sqrt(square_avg, out=work)
        work += eps
        xp.divide(d, work, out=work)
        if momentum > 0:
            buf = bufs["momentum_buffer"]
            buf *= momentum
            buf += work
            xp.multiply(buf, group["lr"], out=work)
        else:
            work *= group["lr"]
        p -= work
