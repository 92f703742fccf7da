"""autograd.special: PyTorch's torch.special."""

__all__ = []
