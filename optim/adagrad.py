"""Adagrad: per-coordinate steps shrinking with the sum of all squared gradients so far (PyTorch's rule)."""

import autograd as ag

from .optimizer import Optimizer, _check_execution_options, _check_hyperparameters


class Adagrad(Optimizer):
    r"""For each parameter, at step t, with g its gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        sum = sum + g**2                       (sum starts at initial_accumulator_value)
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_hyperparameters(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                               initial_accumulator_value=initial_accumulator_value, eps=eps)
        _check_execution_options(differentiable, foreach, fused)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))
        # PyTorch fills the accumulators of the constructor's parameters at once, so a state dict
        # saved before the first step already holds them (groups added later get theirs lazily)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, self.state[p], group)

    @staticmethod
    def _init_state(param, state, group):
        # deviation: PyTorch starts every accumulator at the constructor's initial_accumulator_value,
        # ignoring a group's own; here a group's value is used, as for every other per-group option
        if not state:
            state["step"] = 0
            state["sum"] = ag.full_like(param, group["initial_accumulator_value"])

    def _update(self, param, grad, state, group):
        p, xp = param.array, param._backend.xp
        self._init_state(param, state, group)
        state["step"] += 1
        grad = self._decayed_grad(p, grad, group)
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        total = state["sum"].array
        total += grad * grad
        std = xp.sqrt(total)
        std += group["eps"]
        p -= clr * (grad / std)
