"""ndgrad's neural-network package: Module, Parameter, layers, losses, init and functional.

Built on ``autograd`` only, with PyTorch's names: ``import nn; import nn.functional as F``.
"""

from . import functional, init, utils
from .layers import (CrossEntropyLoss, Flatten, Identity, Linear, LogSoftmax, ModuleList, MSELoss, ReLU, Sequential,
                     Sigmoid, Softmax, Tanh)
from .module import Module
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Linear", "Identity", "Flatten", "ReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
           "Sequential", "ModuleList", "CrossEntropyLoss", "MSELoss", "functional", "init", "utils"]
