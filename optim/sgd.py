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

    def _update(self, param, grad, state, group):
        p = param.array
        grad = self._decayed_grad(p, grad, group)
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # the first step starts the buffer at the gradient, without dampening
                state["momentum_buffer"] = ag.as_tensor(grad.copy(), device=param.device)
                buf = state["momentum_buffer"].array
            else:
                buf = buf.array
                buf *= momentum
                buf += grad if group["dampening"] == 0 else (1 - group["dampening"]) * grad  # no temporary
            grad = grad + momentum * buf if group["nesterov"] else buf
        p -= group["lr"] * grad
