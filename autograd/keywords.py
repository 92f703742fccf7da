"""NumPy's keyword names where PyTorch accepts them: ``axis=`` for ``dim=``, ``keepdims=`` for ``keepdim=``.

PyTorch takes ``x.sum(axis=1, keepdims=True)`` on its reductions (and ``axis=`` on softmax, cat,
stack, squeeze ...). One decorator gives the same to every function and Tensor method that wears it.
"""

import functools
import inspect


def numpy_keywords(fn):
    """Let ``fn`` take ``axis=`` for its ``dim`` and, when it has a ``keepdim``, ``keepdims=`` for it."""
    aliases = {"axis": "dim"}
    if "keepdim" in inspect.signature(fn).parameters:
        aliases["keepdims"] = "keepdim"

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if kwargs:  # the common call has none: nothing to look up
            for alias, name in aliases.items():
                if alias in kwargs:
                    if name in kwargs:
                        raise TypeError(f"{fn.__name__}: got both {name}= and its NumPy alias {alias}=; pass one")
                    kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)
    return wrapper
