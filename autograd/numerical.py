"""Finite differences of any order and accuracy, and gradcheck (analytic vs numerical Jacobians)."""

import math

import numpy as np

from .grad_mode import no_grad


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
