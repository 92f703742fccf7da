"""ASGD: SGD with a decaying step size that keeps a running (Polyak) average of the iterates
(PyTorch's rule)."""

import autograd as ag

from .optimizer import Optimizer, _check_execution_options, _check_hyperparameters


class ASGD(Optimizer):
    r"""For each parameter, at step t, with g its gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        p = p * (1 - lambd * eta) - eta * g
        ax = ax + mu * (p - ax)                    (ax = p while mu == 1)
        eta = lr / (1 + lambd * lr * t)**alpha     (eta starts at lr)
        mu = 1 / max(1, t - t0)                    (mu starts at 1)

    ``ax`` is the averaged parameter, the answer ASGD is after; ``p`` itself keeps following SGD.
    """

    _scalar_state = {"step": int, "eta": float, "mu": float}

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_hyperparameters(lr=lr, weight_decay=weight_decay)
        _check_execution_options(differentiable, foreach)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _update(self, param, grad, state, group):
        p = param.array
        lr, lambd = group["lr"], group["lambd"]
        if not state:
            state["step"] = 0
            state["eta"] = float(lr)
            state["mu"] = 1.0
            state["ax"] = ag.zeros_like(param)
        state["step"] += 1
        step, eta = state["step"], state["eta"]
        grad = self._decayed_grad(p, grad, group)
        p *= 1 - lambd * eta
        p -= eta * grad
        ax = state["ax"].array
        if state["mu"] != 1:
            ax += state["mu"] * (p - ax)
        else:
            ax[...] = p
        state["eta"] = lr / (1 + lambd * lr * step) ** group["alpha"]
        state["mu"] = 1 / max(1, step - group["t0"])
