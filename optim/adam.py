"""Adam (with AMSGrad and L2 weight decay) and AdamW (decoupled weight decay), PyTorch's update rules."""

import math

import autograd as ag

from .optimizer import Optimizer, _check_execution_options, _check_hyperparameters


class Adam(Optimizer):
    r"""For each parameter, at step t, with g its gradient (negated when ``maximize``)::

        g = g + weight_decay * p                    (AdamW, or decoupled_weight_decay: p = p * (1 - lr * weight_decay))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v)                       (amsgrad; then v_max replaces v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_hyperparameters(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        _check_execution_options(differentiable, foreach, fused)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    _kernel_name = "adam_update"

    def _state_names(self, group):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")

    def _prepare(self, param, state, group):
        """Key: the step count (the bias corrections depend on it)."""
        state.setdefault("step", 0)
        for name in self._state_names(group):
            if state.get(name) is None:
                state[name] = ag.zeros_like(param)
        state["step"] += 1
        return state["step"]

    @staticmethod
    def _rule(xp, p, g, scratch, work, bufs, step, group):
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        decoupled = group["decoupled_weight_decay"]
        if decoupled and weight_decay != 0:
            p *= 1 - lr * weight_decay
        d = Optimizer._rule_grad(xp, p, g, scratch, work, group, coupled=not decoupled)
        exp_avg, exp_avg_sq = bufs["exp_avg"], bufs["exp_avg_sq"]
        exp_avg *= beta1
        xp.multiply(d, 1 - beta1, out=work)
        exp_avg += work
        exp_avg_sq *= beta2
        xp.multiply(d, 1 - beta2, out=work)
        work *= d
        exp_avg_sq += work
        if group["amsgrad"]:
            max_sq = bufs["max_exp_avg_sq"]
            xp.maximum(max_sq, exp_avg_sq, out=max_sq)
            xp.sqrt(max_sq, out=work)
        else:
            xp.sqrt(exp_avg_sq, out=work)
        work /= math.sqrt(1 - beta2 ** step)  # denominator: sqrt(v) / sqrt(1 - beta2**t) + eps
        work += eps
        xp.divide(exp_avg, work, out=work)
        work *= lr / (1 - beta1 ** step)
        p -= work


class AdamW(Adam):
    """Adam with decoupled weight decay: the parameter shrinks by ``lr * weight_decay`` before the Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
