"""Automatic mixed precision (PyTorch's torch.amp): ``autocast`` for the forward pass in float16 or
bfloat16, ``GradScaler`` for float16's loss scaling."""

from .autocast_mode import (autocast, clear_autocast_cache, custom_bwd, custom_fwd, get_autocast_dtype,
                            is_autocast_cache_enabled, is_autocast_enabled, set_autocast_cache_enabled)
from .grad_scaler import GradScaler

__all__ = ["autocast", "custom_fwd", "custom_bwd", "GradScaler", "is_autocast_enabled", "get_autocast_dtype",
           "is_autocast_cache_enabled", "set_autocast_cache_enabled", "clear_autocast_cache"]
