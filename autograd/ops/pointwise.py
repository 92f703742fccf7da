"""Elementwise math beyond the basics, special functions, predicates, logical and bitwise ops."""

__all__ = []
METHODS = ()  # names in __all__ that are also Tensor methods (x.name(...) is name(x, ...))
