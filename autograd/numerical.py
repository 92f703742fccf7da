"""Finite differences of any order and accuracy, and gradcheck (analytic vs numerical Jacobians)."""

import math

import numpy as np

from .grad_mode import enable_grad, no_grad


def central_coefficients(order=1, accuracy=2):
    """Weights w_j on the points j = -m..m with f^(order)(x) ~ sum_j w_j f(x + j h) / h^order.

    They solve sum_j w_j j^k = order! [k == order] for k = 0..2m, which cancels every
    Taylor term up to the error O(h^accuracy). ``accuracy`` must be even.
    """
    if order < 1 or accuracy < 2 or accuracy % 2:
        raise ValueError(f"central_coefficients: need order >= 1 and an even accuracy >= 2, got {order}, {accuracy}")
    m = (order - 1) // 2 + accuracy // 2
    points = np.arange(-m, m + 1, dtype=np.float64)
    vandermonde = np.vander(points, increasing=True).T  # row k holds j**k
    rhs = np.zeros(2 * m + 1)
    rhs[order] = math.factorial(order)
    return points, np.linalg.solve(vandermonde, rhs)


def derivative(fn, x, order=1, accuracy=4, eps=None):
    """d^order fn / dx_i^order at every element of ``x`` (``fn`` returns a one-element tensor)."""
    from .tensor import Tensor
    eps = eps if eps is not None else np.finfo(np.float64).eps ** (1.0 / (order + accuracy))
    points, weights = central_coefficients(order, accuracy)
    base = np.array(x.detach().cpu().numpy(), dtype=np.float64)
    out = np.zeros_like(base)
    with no_grad():
        for i in np.ndindex(base.shape):
            total = 0.0
            for p, w in zip(points, weights):
                if w == 0:
                    continue
                shifted = base.copy()
                shifted[i] += p * eps
                total += w * float(fn(Tensor._make(x._backend.asarray(shifted), x._backend)).item())
            out[i] = total / eps ** order
    from .tensor import tensor
    return tensor(out, dtype=np.float64, device=x.device)


def numerical_jacobian(fn, inputs, eps=1e-6, accuracy=2):
    """One array per input, of shape (outputs.size, input.size), by central differences."""
    points, weights = central_coefficients(1, accuracy)
    jacobians = []
    with no_grad():
        for k, x in enumerate(inputs):
            if not getattr(x, "requires_grad", False):  # targets, masks, indices: not perturbed
                jacobians.append(np.zeros((_flat_output(fn(*inputs)).size, _numel(x))))
                continue
            saved = x.array.copy()
            columns = []
            for i in np.ndindex(x.array.shape):  # element by element: works for non-contiguous arrays too
                total = 0
                for p, w in zip(points, weights):
                    if w == 0:
                        continue
                    x.array[i] = saved[i] + p * eps
                    total = total + w * _flat_output(fn(*inputs))
                x.array[i] = saved[i]
                columns.append(total / eps)
            jacobians.append(np.stack(columns, axis=1) if columns else np.zeros((0, 0)))
    return jacobians


def analytic_jacobian(fn, inputs):
    """One array per input, of shape (outputs.size, input.size), by backward passes (one per output element)."""
    from . import grad
    from .tensor import Tensor
    out = fn(*inputs)
    flat_out = out.reshape(-1)
    wrt = [k for k, x in enumerate(inputs) if getattr(x, "requires_grad", False)]
    rows = [[] for _ in inputs]
    for j in range(flat_out.shape[0]):
        grads = grad(flat_out[j], [inputs[k] for k in wrt], retain_graph=True, allow_unused=True)
        for k, g in zip(wrt, grads):
            x = inputs[k]
            rows[k].append(np.zeros(x.numel()) if g is None else np.asarray(g.detach().cpu().numpy()).reshape(-1))
    return [np.stack(r) if r else np.zeros((flat_out.shape[0], _numel(x))) for r, x in zip(rows, inputs)]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compare backward's Jacobian of ``fn`` with central differences; inputs should be float64."""
    inputs = tuple(inputs)
    differentiable = [x for x in inputs if getattr(x, "requires_grad", False)]
    if not differentiable:
        raise ValueError("gradcheck: at least one input must require grad")
    for x in differentiable:
        if x.dtype != np.float64:
            raise ValueError(f"gradcheck: input of dtype {x.dtype} is too imprecise for finite differences; "
                             f"use float64 inputs (x.double())")

    def call(*xs):
        return fn(*xs)

    analytic = analytic_jacobian(call, inputs)
    numerical = numerical_jacobian(call, inputs, eps)
    for k, (a, n) in enumerate(zip(analytic, numerical)):
        if not getattr(inputs[k], "requires_grad", False):
            continue
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            if raise_exception:
                worst = np.unravel_index(np.argmax(np.abs(a - n)), a.shape)
                raise AssertionError(f"gradcheck: Jacobian mismatch for input {k} at (output, input) {worst}: "
                                     f"backward gives {a[worst]:.6g}, finite differences {n[worst]:.6g}\n"
                                     f"analytic:\n{a}\nnumerical:\n{n}")
            return False
    return True


def _flat_output(out):
    return np.asarray(out.detach().cpu().numpy(), dtype=np.float64).reshape(-1)


def _numel(x):
    return x.numel() if hasattr(x, "numel") else 1


# --- second order -------------------------------------------------------------------------------------

def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check second derivatives as PyTorch's gradgradcheck does: gradcheck the function
    ``(inputs, grad_outputs) -> autograd.grad(fn(inputs), inputs, grad_outputs, create_graph=True)``,
    i.e. compare the double backward of ``fn`` with central differences of its backward.
    ``grad_outputs`` (one per output, float64) are random normal when not given."""
    from . import cat, grad, zeros
    from .tensor import tensor
    inputs = tuple(inputs)
    wrt = [x for x in inputs if getattr(x, "requires_grad", False)]
    if not wrt:
        raise ValueError("gradgradcheck: at least one input must require grad")
    outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(tensor(rng.standard_normal(tuple(o.shape)), dtype=np.float64, device=o.device,
                                    requires_grad=True) for o in outputs)
    grad_outputs = tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"gradgradcheck: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs; "
                         f"pass one per output")
    n = len(inputs)

    def first_derivatives(*values):
        xs, gs = values[:n], values[n:]
        with enable_grad():  # also when gradcheck's finite differences call this under no_grad
            outs = fn(*xs)
            outs = outs if isinstance(outs, tuple) else (outs,)
            found = grad(list(outs), [x for x in xs if getattr(x, "requires_grad", False)], list(gs),
                         create_graph=True, allow_unused=True)
        flat = [(g if g is not None else zeros(tuple(x.shape), dtype=x.dtype, device=x.device)).reshape(-1)
                for g, x in zip(found, [x for x in xs if getattr(x, "requires_grad", False)])]
        return cat(flat)

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


# --- plain NumPy functions: complex step, stencils, Richardson, the step-size sweep ---------------------------
#
# These take ``f(x: ndarray) -> ndarray`` acting element by element (np.sin, lambda x: x**3 / (1 + x*x)), not
# ndgrad tensors: the complex step needs complex arithmetic all the way through, which NumPy has and ndgrad's
# ops do not promise.

def complex_step(f, x, h=1e-20):
    """f'(x) as Im f(x + ih) / h, element by element: no difference of nearby values, so no cancellation, and
    exact to machine precision for any h small enough (the error is O(h^2)) when ``f`` is real-analytic and
    written with complex-safe operations. Not for ``abs``, comparisons, ``np.real`` or anything that drops
    the imaginary part; a function that returns real values for complex input is refused."""
    x = np.asarray(x, dtype=np.float64)
    out = np.asarray(f(x + 1j * h))
    if not np.iscomplexobj(out):
        raise TypeError(f"complex_step: f returned {out.dtype} values for a complex input, so the imaginary part "
                        f"that carries the derivative was lost; f must compute with complex numbers "
                        f"(np.sin, **, /; not abs, np.real or comparisons), or use stencil() instead")
    return out.imag / h


def stencil(f, x, h, order=1, accuracy=2):
    """The ``order``-th derivative of an element-wise ``f`` at ``x`` by the central stencil of that
    ``accuracy`` (error O(h^accuracy)) with step ``h``."""
    x = np.asarray(x, dtype=np.float64)
    points, weights = central_coefficients(order, accuracy)
    total = np.zeros_like(x)
    for p, w in zip(points, weights):
        if w != 0:
            total = total + w * np.asarray(f(x + p * h), dtype=np.float64)
    return total / h ** order


def richardson(f, x, h=0.1, order=1, accuracy=2, levels=2, ratio=2.0):
    """Richardson extrapolation of ``stencil``: estimates at steps h, h/ratio, h/ratio^2, ... combined so that
    the leading error terms cancel. A central stencil's error runs in powers h^accuracy, h^(accuracy+2), ...,
    so each level raises the order of the error by two: ``levels=k`` gives O(h^(accuracy + 2(k-1)))."""
    if levels < 1 or ratio <= 1:
        raise ValueError(f"richardson: need levels >= 1 and ratio > 1, got {levels}, {ratio}")
    row = [stencil(f, x, h / ratio ** k, order, accuracy) for k in range(levels)]
    for level in range(1, levels):
        factor = ratio ** (accuracy + 2 * (level - 1))
        row = [(factor * fine - coarse) / (factor - 1) for coarse, fine in zip(row, row[1:])]
    return row[0]


class StepSweep:
    """What ``error_sweep`` measured: ``steps``, the ``errors`` there, the ``truncation`` and ``rounding``
    models of the error, the measured ``best_step`` and the model's ``optimal_step``."""

    def __init__(self, steps, errors, truncation, rounding, optimal_step):
        self.steps, self.errors, self.truncation, self.rounding = steps, errors, truncation, rounding
        self.best_step = float(steps[np.nanargmin(errors)])
        self.optimal_step = float(optimal_step)

    def __repr__(self):
        return (f"StepSweep(best step {self.best_step:.3g} (error {np.nanmin(self.errors):.3g}), "
                f"model's optimal step {self.optimal_step:.3g})")


def error_sweep(f, x, exact=None, order=1, accuracy=2, steps=None):
    """The error of ``stencil(f, x, h, order, accuracy)`` at a scalar ``x`` over a sweep of steps: the
    U-shaped curve. Large steps: truncation, about C_t |f^(order+accuracy)(x)| h^accuracy. Small steps:
    rounding, about C_r eps |f(x)| / h^order (C_r = sum of |weights|). Their sum is least at
    h* = (order C_r eps |f| / (accuracy C_t |f^(order+accuracy)|))^(1 / (order+accuracy)).
    ``exact`` is the true derivative (by default: the complex step for order 1, else Richardson)."""
    x = float(x)
    steps = np.logspace(-13, 0, 66) if steps is None else np.asarray(steps, dtype=np.float64)
    if exact is None:
        exact = complex_step(f, x) if order == 1 else richardson(f, x, 1e-2, order, accuracy, levels=4)
    errors = np.array([abs(float(stencil(f, x, h, order, accuracy)) - float(exact)) for h in steps])
    points, weights = central_coefficients(order, accuracy)
    p = order + accuracy
    c_trunc = abs(float(np.sum(weights * points ** p))) / math.factorial(p)
    c_round = float(np.sum(np.abs(weights)))
    eps = np.finfo(np.float64).eps
    size = abs(float(np.asarray(f(np.float64(x)))))
    higher = abs(float(richardson(f, x, 0.05, p, 2, levels=3)))  # |f^(order+accuracy)(x)|, well away from rounding
    truncation = c_trunc * higher * steps ** accuracy
    rounding = c_round * eps * size / steps ** order
    optimal = (order * c_round * eps * size / (accuracy * c_trunc * max(higher, 1e-300))) ** (1.0 / p)
    return StepSweep(steps, errors, truncation, rounding, optimal)
