"""Functional transforms. This first version has ``grad``; jacobian, hessian, vjp/jvp come later."""

import functools

from .grad_mode import enable_grad


def grad(fn, argnums=0):
    """``grad(f)(x)``: the gradient of scalar ``f`` at ``x`` (a new function, as in functorch)."""
    @functools.wraps(fn)
    def gradient(*args):
        from . import grad as autograd_grad
        with enable_grad():
            args = list(args)
            nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
            for i in nums:
                args[i] = args[i].detach().requires_grad_()
            out = fn(*args)
            grads = autograd_grad(out, [args[i] for i in nums], create_graph=True)
        return grads[0] if isinstance(argnums, int) else grads
    return gradient
