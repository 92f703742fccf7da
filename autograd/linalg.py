"""autograd.linalg: PyTorch's torch.linalg, with gradients."""

__all__ = []
