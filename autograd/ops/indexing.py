"""Shape and indexing ops beyond views and getitem: splits, flips, gathers, scatters, masks, triangles."""

__all__ = []
METHODS = ()  # names in __all__ that are also Tensor methods (x.name(...) is name(x, ...))
