"""Reductions beyond sum/mean/max, scans, sorting and selection."""

__all__ = []
METHODS = ()  # names in __all__ that are also Tensor methods (x.name(...) is name(x, ...))
