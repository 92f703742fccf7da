"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (PyTorch's rule)."""

import autograd as ag

from .optimizer import Optimizer, _check_execution_options, _check_hyperparameters


class SGD(Optimizer):
    r"""For each parameter, with g its gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        buf = g                                   on the first step
        buf = momentum * buf + (1 - dampening) * g  afterwards
        g = g + momentum * buf if nesterov else buf  (when momentum != 0)
        p = p - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None):
        _check_hyperparameters(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"Nesterov momentum requires a momentum and zero dampening (got momentum={momentum}, "
                             f"dampening={dampening})")
        _check_execution_options(differentiable, foreach, fused)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    _kernel_name = "sgd_update"

    def _state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _prepare(self, param, state, group):
        """Key: whether this is the buffer's first step (it then starts at the gradient)."""
        if group["momentum"] == 0:
            return None
        first = state.get("momentum_buffer") is None
        if first:
            state["momentum_buffer"] = ag.empty_like(param)
        return first

    @staticmethod
    def _rule(xp, p, g, scratch, work, bufs, first, group):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        d = Optimizer._rule_grad(xp, p, g, scratch, work, group)
        if momentum == 0:
            xp.multiply(d, lr, out=work)
        else:
            buf = bufs["momentum_buffer"]
            if first:  # the first step starts the buffer at the gradient, without dampening
                buf[...] = d
            else:
                buf *= momentum
                if dampening != 0:
                    xp.multiply(d, 1 - dampening, out=work)
                    buf += work
                else:
                    buf += d
            if group["nesterov"]:  # p -= lr * (d + momentum * buf)
                xp.multiply(buf, momentum, out=work)
                work += d
                work *= lr
            else:
                xp.multiply(buf, lr, out=work)
        p -= work
