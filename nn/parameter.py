"""Parameter: a leaf Tensor that a Module registers as one of its learnable weights."""

import autograd as ag


class Parameter(ag.Tensor):
    """A Tensor that requires grad and is registered by ``Module.__setattr__``.

    ``Parameter(t)`` shares ``t``'s array and version counter (no copy), like
    ``torch.nn.Parameter``. Ops on a Parameter return plain Tensors.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = ag.empty(0)
        elif not isinstance(data, ag.Tensor):
            data = ag.as_tensor(data)
        self._setup(data.array, data._backend, version=data._version)
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
