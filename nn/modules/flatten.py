"""Flatten and Unflatten."""

from autograd.ops import normalize_dim

from .. import functional as F
from ..module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` (by default all but the batch dim)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (one entry may be -1); the inverse of Flatten."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if isinstance(dim, str):
            raise TypeError("Unflatten: named dims (a str dim) need named tensors, which ndgrad does not have; "
                            "pass the dim's index")
        if not isinstance(unflattened_size, (tuple, list)) or \
                not all(isinstance(s, int) and not isinstance(s, bool) for s in unflattened_size):
            raise TypeError(f"unflattened_size must be a tuple of ints, but found type "
                            f"{type(unflattened_size).__name__} ({unflattened_size!r})")
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input):
        dim = normalize_dim("unflatten", self.dim, input.shape)
        sizes = tuple(self.unflattened_size)
        known = 1
        for s in sizes:
            known *= s if s != -1 else 1
        size = input.shape[dim] if input.ndim else 1
        if sizes.count(-1) > 1 or (-1 not in sizes and known != size) or \
                (-1 in sizes and (known == 0 or size % known)):
            raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
                               f"({size}) in the input tensor of shape {tuple(input.shape)}")
        return input.reshape(*input.shape[:dim], *sizes, *input.shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
