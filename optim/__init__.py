"""ndgrad's optimizers, with PyTorch's names and update rules; they need only ``autograd``."""

from .adam import Adam, AdamW
from .optimizer import Optimizer, required
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "required"]
