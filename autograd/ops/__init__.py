"""All ops, one module per family. Each op is an Op subclass next to the function users call."""

from .arithmetic import (add, clamp, compare, div, logical, maximum, minimum, mul, neg, operands, pow, reciprocal,
                         sign, sub, where)
from .inplace import apply_inplace, fill, inplace
from .linalg import matmul
from .nn import linear, log_softmax, softmax
from .reduction import (all, amax, amin, any, argmax, argmin, logsumexp, max, mean, min, sum)
from .shape import (cast, cat, clone, expand, flatten, getitem, narrow, permute, reshape, select, setitem_, squeeze,
                    stack, sum_to_shape, t, to_device, transpose, unsqueeze, view)
from ._dims import normalize_dim
from .unary import abs, cos, exp, log, relu, sigmoid, sin, sqrt, tan, tanh

# one family per module; each lists its public functions in __all__
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .resize import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .pointwise import *  # noqa: F401,F403
from .scans import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403

# Tensor methods that are these functions with the tensor first (x.log1p() is log1p(x)): each family lists
# its own in METHODS; a method written out in tensor.py wins.
from . import indexing as _indexing, linalg as _linalg, pointwise as _pointwise, scans as _scans  # noqa: E402
from ..tensor import Tensor as _Tensor  # noqa: E402

for _family in (_pointwise, _scans, _indexing, _linalg):
    for _name in _family.METHODS:
        if _name not in _Tensor.__dict__:
            setattr(_Tensor, _name, getattr(_family, _name))
