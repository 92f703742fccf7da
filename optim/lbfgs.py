"""L-BFGS: a quasi-Newton method that builds its curvature estimate from the last few steps and
gradients, optionally with a strong-Wolfe line search (PyTorch's algorithm, iterate for iterate).

It needs a closure that re-evaluates the loss (zeroing the gradients, running backward and
returning the loss), since one ``step`` may evaluate it many times. It works on one flat
vector made of all parameters, with array operations; unlike the other optimizers it reads
scalars back to the host (step lengths, curvature tests), because every iteration decides
what to do next from them.
"""

import math
from collections import namedtuple

import autograd as ag

from .optimizer import Optimizer, _check_hyperparameters


class LBFGS(Optimizer):
    """``step(closure)`` runs up to ``max_iter`` iterations and ``max_eval`` closure calls. Without a line
    search each iteration moves by ``lr`` along the L-BFGS direction (the first by
    ``lr * min(1, 1 / sum|g|)``); with ``line_search_fn="strong_wolfe"`` the step length comes from a
    line search meeting the strong Wolfe conditions."""

    # PyTorch keeps these as 0-d tensors (or plain numbers); here they are numbers, see optimizer.py
    _scalar_state = {"func_evals": int, "n_iter": int, "t": float, "H_diag": float, "prev_loss": float,
                     "ro": float, "al": float}

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        _check_hyperparameters(lr=lr)
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"Invalid line_search_fn: {line_search_fn!r}; LBFGS supports None or 'strong_wolfe'")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): it treats all "
                             "parameters as one vector; pass a single list of parameters")
        super().add_param_group(param_group)

    @property
    def _params(self):
        return self.param_groups[0]["params"]

    # --- the flat view ---------------------------------------------------------------------------
    def _flat_grad(self):
        xp = self._params[0]._backend.xp
        return xp.concatenate([p.grad.array.reshape(-1) if p.grad is not None else xp.zeros(p.numel(), p.array.dtype)
                               for p in self._params])

    def _move(self, t, direction):
        """params += t * direction, each parameter taking its slice of the flat vector."""
        offset = 0
        for p in self._params:
            n = p.numel()
            p.array += t * direction[offset:offset + n].reshape(p.shape)
            p._version[0] += 1
            offset += n

    def _evaluate(self, closure):
        with ag.enable_grad():
            loss = closure()
        return loss, float(loss), self._flat_grad()

    def _evaluate_at(self, closure, t, direction):
        """Loss and flat gradient at params + t * direction; the parameters are put back afterwards."""
        saved = [p.array.copy() for p in self._params]
        self._move(t, direction)
        _, loss, grad = self._evaluate(closure)
        for p, value in zip(self._params, saved):
            p.array[...] = value
            p._version[0] += 1
        return loss, grad

    # --- the iteration ---------------------------------------------------------------------------
    def step(self, closure=None):
        """Minimise from the current parameters; returns the loss of the first closure call."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that zeroes the gradients, computes the loss, calls "
                               "backward() and returns the loss: opt.step(closure)")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        xp, device = self._params[0]._backend.xp, self._params[0].device
        state = self.state[self._params[0]]  # the whole method's state lives under the first parameter
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss, loss, flat_grad = self._evaluate(closure)
        evals = 1
        state["func_evals"] += 1
        if float(xp.abs(flat_grad).max()) <= tolerance_grad:
            return orig_loss  # already at a stationary point

        array = lambda v: v.array if isinstance(v, ag.Tensor) else v  # noqa: E731
        d, t = array(state.get("d")), state.get("t")
        old_dirs = [array(v) for v in state.get("old_dirs") or []]  # gradient differences y
        old_stps = [array(v) for v in state.get("old_stps") or []]  # parameter steps s
        ro, H_diag = list(state.get("ro") or []), state.get("H_diag")
        prev_flat_grad, prev_loss = array(state.get("prev_flat_grad")), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, H_diag = [], [], [], 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y @ s)
                if ys > 1e-10:  # keep the pair only where the curvature is positive (else the estimate breaks)
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(y @ y)
                al = state.setdefault("al", [None] * history_size)
                d = _two_loop(-flat_grad, old_dirs, old_stps, ro, al, H_diag)
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            t = (min(1.0, 1.0 / float(xp.abs(flat_grad).sum())) if state["n_iter"] == 1 else 1.0) * lr
            gtd = float(flat_grad @ d)
            if gtd > -tolerance_change:
                break  # not a descent direction any more

            if group["line_search_fn"] == "strong_wolfe":
                loss, flat_grad, t, ls_evals = _strong_wolfe(
                    lambda step_length: self._evaluate_at(closure, step_length, d), t, d, loss, flat_grad, gtd,
                    tolerance_change=tolerance_change, max_ls=max_eval - evals)
                self._move(t, d)
            else:
                self._move(t, d)
                ls_evals = 0
                if n_iter != max_iter:  # the last iteration's loss would never be looked at
                    _, loss, flat_grad = self._evaluate(closure)
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evals >= max_eval:
                break
            if float(xp.abs(flat_grad).max()) <= tolerance_grad:
                break
            if float(xp.abs(d * t).max()) <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break  # no more progress

        tensor = lambda a: ag.as_tensor(a, device=device)  # noqa: E731
        state.update(d=tensor(d), t=t, old_dirs=[tensor(v) for v in old_dirs],
                     old_stps=[tensor(v) for v in old_stps], ro=ro, H_diag=H_diag,
                     prev_flat_grad=tensor(prev_flat_grad), prev_loss=prev_loss)
        return orig_loss


def _two_loop(q, old_dirs, old_stps, ro, al, H_diag):
    """The L-BFGS two-loop recursion: the inverse-Hessian estimate applied to q (= -gradient).
    ``al`` is scratch space PyTorch keeps in the state, so it is filled in place."""
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = float(old_stps[i] @ q) * ro[i]
        q = q - al[i] * old_dirs[i]
    r = q * H_diag
    for i in range(len(old_dirs)):
        be_i = float(old_dirs[i] @ r) * ro[i]
        r = r + (al[i] - be_i) * old_stps[i]
    return r


_Point = namedtuple("_Point", "t f g gtd")  # a step length with the loss, gradient and slope found there


def _cubic_minimum(a, b, bounds=None):
    """Minimiser of the cubic matching the values and slopes at points ``a`` and ``b``, clipped to
    ``bounds`` (default: between them); the middle of the bounds when the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else (min(a.t, b.t), max(a.t, b.t))
    d1 = a.gtd + b.gtd - 3 * (a.f - b.f) / (a.t - b.t)
    d2_square = d1 ** 2 - a.gtd * b.gtd
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if a.t <= b.t:
        at = b.t - (b.t - a.t) * ((b.gtd + d2 - d1) / (b.gtd - a.gtd + 2 * d2))
    else:
        at = a.t - (a.t - b.t) * ((a.gtd + d2 - d1) / (a.gtd - b.gtd + 2 * d2))
    return min(max(at, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step length along ``d`` meeting the strong Wolfe conditions (Nocedal & Wright, algorithms 3.5
    and 3.6, with cubic interpolation): first grow the step until an interval must hold such a point,
    then shrink that interval. Returns (loss, flat gradient, step length, closure evaluations)."""
    d_norm = float(abs(d).max())
    start = _Point(0, f, g, gtd)

    def probe(step_length):
        f_new, g_new = evaluate(step_length)
        return _Point(step_length, f_new, g_new, float(g_new @ d))

    def sufficient_decrease(p):
        return p.f <= f + c1 * p.t * gtd

    def flat_enough(p):
        return abs(p.gtd) <= -c2 * gtd

    prev, new = start, probe(t)
    evals, ls_iter, done = 1, 0, False
    bracket = None
    while ls_iter < max_ls:  # bracketing phase
        if not sufficient_decrease(new) or (ls_iter > 1 and new.f >= prev.f):
            bracket = [prev, new]  # overshot: a good point lies between them
            break
        if flat_enough(new):
            bracket, done = [new], True
            break
        if new.gtd >= 0:
            bracket = [prev, new]  # the slope turned: a minimum lies between them
            break
        # still going downhill: extrapolate, at least a little further and at most ten times as far
        t = _cubic_minimum(prev, new, bounds=(new.t + 0.01 * (new.t - prev.t), new.t * 10))
        prev, new = new, probe(t)
        evals += 1
        ls_iter += 1
    if ls_iter == max_ls:
        bracket = [start, new]

    insufficient_progress = False
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    while not done and ls_iter < max_ls:  # zoom phase
        lo_t, hi_t = min(bracket[0].t, bracket[1].t), max(bracket[0].t, bracket[1].t)
        if (hi_t - lo_t) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0], bracket[1])
        # a trial point hugging an end of the interval shrinks it too slowly: push it inwards, at
        # once if it is at or outside an end, else when it happens twice in a row
        margin = 0.1 * (hi_t - lo_t)
        if min(hi_t - t, t - lo_t) < margin:
            if insufficient_progress or t >= hi_t or t <= lo_t:
                t = hi_t - margin if abs(t - hi_t) < abs(t - lo_t) else lo_t + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        new = probe(t)
        evals += 1
        ls_iter += 1
        if not sufficient_decrease(new) or new.f >= bracket[low].f:
            bracket[high] = new
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if flat_enough(new):
                done = True
            elif new.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = new
    best = bracket[low]
    return best.f, best.g, best.t, evals
