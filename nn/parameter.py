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
        self.array, self._backend, self._version = data.array, data._backend, data._version
        self.grad = self.grad_fn = self._accumulator = None
        self._requires_grad = False
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        """A new Parameter with copies of the data and grad on the same device (for copy.deepcopy(model))."""
        copy = Parameter(ag.Tensor._make(self.array.copy(), self._backend), self._requires_grad)
        if self.grad is not None:
            copy.grad = ag.Tensor._make(self.grad.array.copy(), self.grad._backend)
        memo[id(self)] = copy
        return copy
