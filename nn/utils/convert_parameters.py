"""Parameters as one flat vector and back (torch.nn.utils.convert_parameters)."""

import autograd as ag
from autograd.tensor import Tensor


def _check_same_device(param, device):
    if device is not None and param.device != device:
        raise TypeError(f"parameters_to_vector: found parameters on two devices ({device} and {param.device}); "
                        f"one vector lives on one device, so move the model to one device first (model.to(...))")
    return param.device


def parameters_to_vector(parameters):
    """One 1-D Tensor with every parameter flattened and concatenated in order (differentiable: a new tensor)."""
    device, pieces = None, []
    for param in parameters:
        device = _check_same_device(param, device)
        pieces.append(param.reshape(-1))
    return ag.cat(pieces)


def vector_to_parameters(vec, parameters):
    """Point each parameter's data at its slice of ``vec``, in order: they share ``vec``'s memory afterwards,
    as with PyTorch's ``param.data = ...``. Extra trailing elements of ``vec`` are ignored, as in PyTorch."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a Tensor, but got {type(vec).__name__}; "
                        f"wrap it with autograd.tensor(...)")
    parameters = list(parameters)
    needed = sum(p.numel() for p in parameters)
    if vec.ndim != 1 or vec.numel() < needed:
        raise RuntimeError(f"vector_to_parameters: the parameters need a 1-D vector of {needed} elements, got "
                           f"shape {tuple(vec.shape)}; make it with parameters_to_vector on the same parameters")
    device, offset = None, 0
    with ag.no_grad():
        for param in parameters:
            device = _check_same_device(param, device)
            n = param.numel()
            param.data = vec[offset:offset + n].view_as(param)
            offset += n
