"""Functions with PyTorch's ``torch.nn.functional`` names, as thin wrappers over autograd's ops.

``import nn.functional as F``; every function takes and returns ndgrad Tensors.
"""

import warnings

import autograd as ag
from autograd import ops


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``; weight has shape (out_features, in_features)."""
    return ops.linear(input, weight, bias)


def relu(input):
    return ops.relu(input)


def sigmoid(input):
    return ops.sigmoid(input)


def tanh(input):
    return ops.tanh(input)


def softmax(input, dim=None):
    return ops.softmax(input, _implicit_dim("softmax", input, dim))


def log_softmax(input, dim=None):
    return ops.log_softmax(input, _implicit_dim("log_softmax", input, dim))


def _implicit_dim(name, input, dim):
    """PyTorch's legacy rule for dim=None, with its deprecation warning: dim 0 for 0-, 1- and 3-d
    inputs, else dim 1 (the class dim of a batch)."""
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  f"as an argument.", UserWarning, stacklevel=3)
    return 0 if input.ndim in (0, 1, 3) else 1


def flatten(input, start_dim=0, end_dim=-1):
    return ops.flatten(input, start_dim, end_dim)


# --- convolution ---------------------------------------------------------------------------------


# --- pooling -------------------------------------------------------------------------------------


# --- padding and resampling ----------------------------------------------------------------------


# --- normalization -------------------------------------------------------------------------------


# --- dropout -------------------------------------------------------------------------------------


# --- activations ---------------------------------------------------------------------------------


# --- losses --------------------------------------------------------------------------------------

# PyTorch's signatures, reductions, weights and checks live with the ops (autograd/ops/loss.py);
# these names are the ops themselves, so nothing is lost in between.
nll_loss = ops.nll_loss
cross_entropy = ops.cross_entropy
binary_cross_entropy = ops.binary_cross_entropy
binary_cross_entropy_with_logits = ops.binary_cross_entropy_with_logits
mse_loss = ops.mse_loss
l1_loss = ops.l1_loss
smooth_l1_loss = ops.smooth_l1_loss
huber_loss = ops.huber_loss
kl_div = ops.kl_div
poisson_nll_loss = ops.poisson_nll_loss
gaussian_nll_loss = ops.gaussian_nll_loss
margin_ranking_loss = ops.margin_ranking_loss
hinge_embedding_loss = ops.hinge_embedding_loss
soft_margin_loss = ops.soft_margin_loss
multilabel_soft_margin_loss = ops.multilabel_soft_margin_loss
multi_margin_loss = ops.multi_margin_loss
cosine_embedding_loss = ops.cosine_embedding_loss
triplet_margin_loss = ops.triplet_margin_loss
cosine_similarity = ops.cosine_similarity
pairwise_distance = ops.pairwise_distance
