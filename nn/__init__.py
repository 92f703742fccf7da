"""ndgrad's neural-network package: Module, Parameter, layers, losses, init and functional.

Built on ``autograd`` only, with PyTorch's names: ``import nn; import nn.functional as F``.
Layers live in ``nn/modules/``, one file per family (linear, conv, pooling, normalization,
dropout, activation, loss, container...), as in ``torch.nn.modules``.
"""

from . import functional, init, parallel, utils
from .module import Module
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _layers
from .parameter import Parameter

__all__ = ["Module", "Parameter", *_layers, "functional", "init", "utils"]
