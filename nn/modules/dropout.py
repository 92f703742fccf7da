"""Dropout modules: active in training (module.train()), the identity in eval."""

from .. import functional as F
from ..module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]


class _DropoutNd(Module):
    function = None

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return type(self).function(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    function = staticmethod(F.dropout)


class Dropout1d(_DropoutNd):
    function = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    function = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    function = staticmethod(F.dropout3d)


class AlphaDropout(_DropoutNd):
    function = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    function = staticmethod(F.feature_alpha_dropout)
