"""autograd.special: PyTorch's torch.special (the special functions, with gradients)."""

from .ops.nn import log_softmax as _log_softmax, softmax as _softmax
from .ops.activation import erf
from .ops.pointwise import (digamma, entr, erfc, erfcx, erfinv, exp2, expm1, i0, i0e, i1, i1e, lgamma as gammaln, log1p,
                            log_ndtr, logit, ndtr, ndtri, polygamma, sinc, xlog1py, xlogy)
from .ops.reduction import logsumexp
from .ops.unary import sigmoid as expit

__all__ = ["erf", "erfc", "erfcx", "erfinv", "expm1", "exp2", "log1p", "logit", "xlogy", "xlog1py", "entr", "digamma",
           "psi", "polygamma", "gammaln", "i0", "i0e", "i1", "i1e", "sinc", "ndtr", "ndtri", "log_ndtr", "expit",
           "logsumexp", "softmax", "log_softmax"]

psi = digamma


def softmax(input, dim, *, dtype=None):
    return _softmax(input if dtype is None else input.to(dtype), dim)


def log_softmax(input, dim, *, dtype=None):
    return _log_softmax(input if dtype is None else input.to(dtype), dim)
