"""Losses, each with reduction none/mean/sum, with PyTorch's torch.nn.functional signatures.

Three are fused ops, because one pass forward and one formula backward beat a chain of small
ops: ``cross_entropy`` (log-softmax, pick, weight, smoothing), ``nll_loss`` (pick and weight)
and ``binary_cross_entropy_with_logits`` (the stable softplus form); the first two have their gradient
as one op too (``CrossEntropyBackward``, ``NllLossBackward``, differentiable again). The rest are made of
existing differentiable ops, which is as fast and keeps every gradient exact to any order.
The class dim is 1 for batched inputs (N, C, d1, ...) and 0 for an unbatched (C,) input.
"""

import math
import warnings

from .. import dtypes
from ..function import Op, autocast_entry, same_dtype
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor, ones_like
from ._dims import normalize_dim
from .arithmetic import where as _where
from .nn import SoftmaxBackward
from .reduction import max_or_zero

__all__ = ["nll_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss",
           "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "poisson_nll_loss", "gaussian_nll_loss",
           "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
           "multi_margin_loss", "cosine_embedding_loss", "triplet_margin_loss", "cosine_similarity",
           "pairwise_distance"]


# --- fused ops ------------------------------------------------------------------------------------------

def _class_shape(ndim, axis, classes):
    """The shape that puts a (C,) vector along the class axis of an ndim-d input."""
    return tuple(classes if d == axis else 1 for d in range(ndim))


def _along(values, axis):
    """Per-position values (the target's shape) with a class dim of 1 inserted at ``axis``, to broadcast."""
    return values.reshape(values.shape[:axis] + (1,) + values.shape[axis:])


def _at_targets(xp, target, axis, classes):
    """The index of each position's target class in an array whose class dim is ``axis``: one fancy index (an
    arange per other dim), so reading the targets' entries or changing them in place is one indexing call.
    The class indices are taken modulo ``classes``, as CuPy's indexing wraps them: a bad one (on a GPU its
    error comes at the next sync, see _check_targets) reads a wrong entry instead of failing here."""
    ndim = target.ndim
    index = [xp.arange(n).reshape(tuple(n if j == i else 1 for j in range(ndim))) for i, n in enumerate(target.shape)]
    index.insert(axis, target.astype(xp.int64, copy=False) % classes if classes else target)  # uint8 too
    return tuple(index)


class CrossEntropy(Op):
    """-(1 - eps) w[t] log_softmax(x)[t] - eps/C sum_c w[c] log_softmax(x)[c] per position, for class
    indices t; the mean divides by the summed weights of the targets that are not ignored."""
    def forward(ctx, logits, target, weight, reduction, ignore_index, label_smoothing, axis):
        xp = ctx.xp
        valid = target != ignore_index
        safe_target = xp.where(valid, target, 0)
        target_weight = valid.astype(logits.dtype) if weight is None else xp.where(valid, weight[safe_target], 0)
        # log_softmax(x) = shifted - lse with shifted = x - max: what the loss reads of shifted (the target's
        # entry, and the smoothing's weighted sum) is read first, then exp(shifted) is written over it in place
        # for lse, so one (N, C) buffer does what took three
        shifted = logits - max_or_zero(logits, axis)
        picked = shifted[_at_targets(xp, safe_target, axis, logits.shape[axis])]
        if label_smoothing:
            classes = logits.shape[axis]
            weighted = shifted if weight is None else shifted * weight.reshape(_class_shape(logits.ndim, axis,
                                                                                              classes))
            weighted = weighted.sum(axis=axis)
        xp.exp(shifted, out=shifted)
        lse = xp.log(shifted.sum(axis=axis))
        losses = xp.where(valid, (lse - picked) * target_weight, 0)
        if label_smoothing:  # -sum_c w[c] (shifted[c] - lse) = sum(w) lse - sum_c w[c] shifted[c]
            weight_sum = classes if weight is None else weight.sum()
            smooth = xp.where(valid, weight_sum * lse - weighted, 0)
            losses = (1 - label_smoothing) * losses + (label_smoothing / classes) * smooth
        ctx.reduction, ctx.label_smoothing, ctx.axis = reduction, label_smoothing, axis
        total_weight = target_weight.sum()
        ctx.save_for_backward(logits, safe_target, valid, target_weight, weight,
                              xp.where(total_weight == 0, 1, total_weight) if reduction == "mean" else None)
        if reduction == "none":
            return same_dtype(losses, logits)
        total = losses.sum()
        return same_dtype(total / total_weight if reduction == "mean" else total, logits)
    def backward(ctx, grad):
        logits, target, valid, target_weight, weight, total_weight = ctx.saved_tensors
        dlogits = CrossEntropyBackward.apply(grad, logits, target, valid, target_weight, weight, total_weight,
                                             reduction=ctx.reduction, label_smoothing=ctx.label_smoothing,
                                             axis=ctx.axis)
        return dlogits, None, None


class CrossEntropyBackward(Op):
    """cross_entropy's gradient for the logits as one op: per position, with s the loss's scale (grad, or
    grad / total_weight for the mean), p = (1 - eps) w[t] and q = eps / C,
    s (softmax(x) (p + q sum(w)) - p onehot(t) - q w) (the q terms only at positions not ignored)."""
    def forward(ctx, grad, logits, target, valid, target_weight, weight, total_weight, reduction, label_smoothing,
                axis):
        xp = ctx.xp
        eps, classes = label_smoothing, logits.shape[axis]
        scale = grad if reduction != "mean" else grad / total_weight  # all ignored: total_weight is 1, grad 0
        picked = (1 - eps) * target_weight * scale
        coef = picked
        if eps:
            smooth = (eps / classes) * (valid * scale)
            coef = picked + (classes if weight is None else weight.sum()) * smooth
        # softmax written into the result buffer, its normalisation folded into the per-position coefficient
        out = logits - max_or_zero(logits, axis)
        xp.exp(out, out=out)
        out *= _along(coef / out.sum(axis=axis), axis)
        out[_at_targets(xp, target, axis, classes)] -= picked  # ignored positions point at class 0, with picked 0 there
        if eps:
            smooth = _along(smooth, axis)
            out -= smooth if weight is None else smooth * weight.reshape(_class_shape(logits.ndim, axis, classes))
        ctx.reduction, ctx.label_smoothing, ctx.axis = reduction, label_smoothing, axis
        ctx.save_for_backward(grad, logits, target, valid, target_weight, weight, total_weight)
        return same_dtype(out, logits)
    def backward(ctx, grad_grad):
        grad, logits, target, valid, target_weight, weight, total_weight = ctx.saved_tensors
        need_grad, need_logits = ctx.needs_input_grad[:2]
        reduction, eps, axis = ctx.reduction, ctx.label_smoothing, ctx.axis
        classes = logits.shape[axis]
        gg = gl = None
        if need_logits:  # the logits enter only through softmax(x) times the coefficient: softmax's backward
            coef = (1 - eps) * target_weight
            if eps:
                coef = coef + (eps / classes) * (classes if weight is None else weight.sum()) * valid.to(coef.dtype)
            scale = grad if reduction != "mean" else grad / total_weight
            coef = (coef * scale).unsqueeze(axis) if reduction == "none" else coef.unsqueeze(axis) * scale
            gl = SoftmaxBackward.apply(grad_grad * coef, logits.softmax(axis), dim=axis)
        if need_grad:  # the result is linear in grad: the same op with a unit grad is its derivative
            unit = CrossEntropyBackward.apply(ones_like(grad), logits, target, valid, target_weight, weight, None,
                                              reduction="none" if reduction == "none" else "sum",
                                              label_smoothing=eps, axis=axis)
            product = grad_grad * unit
            gg = product.sum(axis) if reduction == "none" else product.sum()
            if reduction == "mean":
                gg = gg / total_weight
        return gg, gl, None, None, None, None, None


class NllLoss(Op):
    """-w[t] input[t] per position (class indices t); the mean divides by the summed target weights."""
    def forward(ctx, log_probs, target, weight, reduction, ignore_index, axis):
        xp = ctx.xp
        valid = target != ignore_index
        safe_target = xp.where(valid, target, 0)
        picked = log_probs[_at_targets(xp, safe_target, axis, log_probs.shape[axis])]
        target_weight = valid.astype(log_probs.dtype) if weight is None else xp.where(valid, weight[safe_target], 0)
        losses = xp.where(valid, -picked * target_weight, 0)
        ctx.reduction, ctx.axis, ctx.classes = reduction, axis, log_probs.shape[axis]
        total_weight = target_weight.sum()
        ctx.save_for_backward(safe_target, target_weight,
                              xp.where(total_weight == 0, 1, total_weight) if reduction == "mean" else None)
        if reduction == "none":
            return losses
        total = losses.sum()
        return total / total_weight if reduction == "mean" else total
    def backward(ctx, grad):
        target, target_weight, total_weight = ctx.saved_tensors
        return NllLossBackward.apply(grad, target, target_weight, total_weight, reduction=ctx.reduction,
                                     axis=ctx.axis, classes=ctx.classes), None, None


class NllLossBackward(Op):
    """nll_loss's gradient for its input as one op: -w[t] s at each position's target class, zeros elsewhere
    (s the loss's scale: grad, or grad / total_weight for the mean)."""
    def forward(ctx, grad, target, target_weight, total_weight, reduction, axis, classes):
        scale = grad if reduction != "mean" else grad / total_weight
        value = -(target_weight * scale)
        out = ctx.xp.zeros(target.shape[:axis] + (classes,) + target.shape[axis:], dtype=value.dtype)
        out[_at_targets(ctx.xp, target, axis, classes)] = value  # ignored positions: class 0 gets their 0
        ctx.reduction, ctx.axis, ctx.classes = reduction, axis, classes
        ctx.save_for_backward(target, target_weight, total_weight)
        return out
    def backward(ctx, grad_grad):  # linear in grad alone: the same picking, of grad_grad
        target, target_weight, total_weight = ctx.saved_tensors
        onehot = OneHot.apply(target, num_classes=ctx.classes, dtype=grad_grad.dtype, axis=ctx.axis)
        picked = -(grad_grad * onehot).sum(ctx.axis) * target_weight
        if ctx.reduction == "none":
            return picked, None, None, None
        total = picked.sum()
        return (total / total_weight if ctx.reduction == "mean" else total), None, None, None


class OneHot(Op):
    differentiable = False
    def forward(ctx, index, num_classes, dtype, axis=-1):
        classes = ctx.xp.arange(num_classes).reshape(_class_shape(index.ndim + 1, axis % (index.ndim + 1),
                                                                  num_classes))
        return (ctx.xp.expand_dims(index, axis) == classes).astype(dtype)


class BinaryCrossEntropyWithLogits(Op):
    """(1 - t) x + (1 + (p - 1) t) softplus(-x), elementwise, softplus(-x) = max(-x, 0) + log1p(exp(-|x|))."""
    op = "binary_cross_entropy_with_logits"
    def forward(ctx, x, t, pos_weight):
        xp = ctx.xp
        softplus_neg = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
        ctx.save_for_backward(x, t, pos_weight)
        if pos_weight is None:
            return (1 - t) * x + softplus_neg
        return (1 - t) * x + (1 + (pos_weight - 1) * t) * softplus_neg
    def backward(ctx, grad):
        x, t, pos_weight = ctx.saved_tensors
        need_x, need_t, need_p = ctx.needs_input_grad
        softplus_neg = Softplus.apply(-x) if need_t or need_p else None
        log_weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
        gx = grad * ((1 - t) - log_weight * (-x).sigmoid()) if need_x else None
        gt = None
        if need_t:
            gt = grad * (-x if pos_weight is None else (pos_weight - 1) * softplus_neg - x)
        gp = grad * t * softplus_neg if need_p else None
        return gx, gt, gp


class Softplus(Op):
    """log(1 + exp(x)), stable for large |x|: the log-sigmoid pieces of the losses."""
    op = "loss_softplus"  # the activations family owns the public softplus (beta, threshold)
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.maximum(x, 0) + ctx.xp.log1p(ctx.xp.exp(-ctx.xp.abs(x)))
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * x.sigmoid()


# --- argument checks shared by the losses ---------------------------------------------------------------

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(op, reduction, size_average=None, reduce=None, allowed=_REDUCTIONS):
    """``reduction``, or PyTorch's legacy size_average/reduce pair turned into one (with its warning)."""
    if size_average is not None or reduce is not None:
        warnings.warn("size_average and reduce args will be deprecated, please use reduction='{}' instead.".format(
            "none" if reduce is False else "sum" if size_average is False else "mean"), UserWarning, stacklevel=3)
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else "mean" if size_average else "sum"
    if reduction not in allowed:
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; use one of "
                         f"{', '.join(repr(r) for r in allowed)}")
    return reduction


def _reduce(loss, reduction):
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _tensor_like(op, value, like, name):
    """``value`` as a Tensor on ``like``'s device (numbers and arrays become ``like``'s dtype)."""
    if isinstance(value, Tensor):
        if value._backend is not like._backend:
            raise RuntimeError(f"{op}: {name} is on {value.device} but the input is on {like.device}; move it "
                               f"with .to({str(like.device)!r})")
        return value
    return Tensor._make(like._backend.xp.asarray(value, dtype=like.dtype), like._backend)


def _broadcast_pair(op, input, target, warn=True):
    """PyTorch's elementwise losses broadcast input and target, warning when their shapes differ."""
    target = _tensor_like(op, target, input, "target")
    if tuple(target.shape) == tuple(input.shape):
        return input, target
    if warn:
        warnings.warn(f"{op}: target of shape {_size(target)} and input of shape {_size(input)} differ, so they are "
                      f"broadcast against each other, which is rarely what a loss should do; give the target the "
                      f"input's shape", UserWarning, stacklevel=3)
    shape = _broadcast_shape(op, input.shape, target.shape, "input", "target")
    return input.expand(*shape), target.expand(*shape)


def _broadcast_shape(op, a, b, name_a, name_b):
    shape = []
    for x, y in zip(((1,) * len(b) + tuple(a))[-max(len(a), len(b)):], ((1,) * len(a) + tuple(b))[-max(len(a),
                                                                                                       len(b)):]):
        if x != y and 1 not in (x, y):
            raise RuntimeError(f"{op}: the size of {name_a} {tuple(a)} must match the size of {name_b} {tuple(b)} "
                               f"at non-singleton dimensions (they must broadcast); reshape one of them")
        shape.append(y if x == 1 else x)
    return tuple(shape)


def _size(t):
    return str(tuple(t.shape))


def _check_in_place_broadcast(op, input, other, name):
    """Losses PyTorch computes into a buffer of the input's shape: ``other`` may broadcast to it, not grow it."""
    shape = _broadcast_shape(op, input.shape, other.shape, "input", name)
    if shape != tuple(input.shape):
        raise RuntimeError(f"{op}: output with shape {tuple(input.shape)} doesn't match the broadcast shape "
                           f"{shape} of input and {name} {tuple(other.shape)}; give {name} the input's shape")


def _check_float(op, input):
    if not dtypes.is_floating(input.dtype):
        raise RuntimeError(f"{op}: expected a floating-point input, got {input.dtype} (shape {tuple(input.shape)}); "
                           f"convert it with .float()")


# --- class-index losses ---------------------------------------------------------------------------------

def _class_axis(op, input, target):
    """The class axis (1, or 0 for an unbatched (C,) input); checks the target's shape against the input's."""
    if input.ndim == 0:
        raise ValueError(f"{op}: Expected 1 or more dimensions (got 0): the input needs a class dim, (C,) or "
                         f"(N, C, d1, ...)")
    if target.dtype not in (dtypes.int64, dtypes.uint8):
        raise RuntimeError(f"{op}: expected target dtype to be Long or Byte (class indices), but got "
                           f"{target.dtype}; convert it with target.long()")
    if input.ndim == 1:
        if target.ndim != 0:
            raise RuntimeError(f"{op}: an unbatched input of shape {tuple(input.shape)} expects a 0-d target, got "
                               f"shape {tuple(target.shape)}")
        return 0
    if target.ndim == 0 or target.shape[0] != input.shape[0]:
        raise ValueError(f"{op}: Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({target.shape[0] if target.ndim else '0-d target'}); input shape {tuple(input.shape)}, "
                         f"target shape {tuple(target.shape)}")
    expected = tuple(input.shape[:1]) + tuple(input.shape[2:])
    if tuple(target.shape) != expected:
        raise RuntimeError(f"{op}: Expected target size {list(expected)}, got {list(target.shape)} (input shape "
                           f"{tuple(input.shape)}: the target drops the class dim 1)")
    return 1


def _check_weight(op, weight, input, classes):
    if weight is None:
        return None
    weight = _tensor_like(op, weight, input, "weight")
    if tuple(weight.shape) != (classes,):
        raise RuntimeError(f"{op}: weight tensor should be defined either for all {classes} classes or no classes "
                           f"but got weight tensor of shape: {list(weight.shape)}")
    if weight.dtype != input.dtype:
        raise RuntimeError(f"{op}: expected scalar type {input.dtype} but found {weight.dtype} for weight; convert "
                           f"it with weight.to(input.dtype)")
    _not_differentiable(op, weight, "weight")
    return weight


def _not_differentiable(op, tensor, name):
    """PyTorch has no gradient for some arguments (class weights, pos_weight) and refuses one that needs it."""
    if tensor is not None and tensor.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}: the function is not differentiable with respect to argument '{name}'; this input "
                           f"cannot have requires_grad True (pass {name}.detach())")


def _check_targets(op, target, classes, ignore_index, input_shape):
    """A wrong class index must not pass silently. On the CPU the error comes at once; on a GPU the check
    runs on the device and its error comes at the next host sync (item, tolist, numpy, .cpu(), synchronize),
    deferred as CUDA's device-side asserts are in PyTorch, so a training step never waits for it."""
    def error(count, low, high):
        return IndexError(f"{op}: target values must be class indices in [0, {classes - 1}] (n_classes={classes}, "
                          f"logits shape {tuple(input_shape)}), found {count} outside it, with values in "
                          f"[{low}, {high}]; fix the labels or the number of classes")
    target._backend.check_range((op, classes, ignore_index, tuple(input_shape)), target.array, 0, classes - 1, error,
                                ignore=ignore_index)


@autocast_entry
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """-input[t] (times weight[t]) for log-probabilities ``input`` (C,) or (N, C, d1, ...) and class indices."""
    reduction = _reduction("nll_loss", reduction, size_average, reduce)
    axis = _class_axis("nll_loss", input, target)
    classes = input.shape[axis]
    weight = _check_weight("nll_loss", weight, input, classes)
    _check_targets("nll_loss", target, classes, ignore_index, input.shape)
    return NllLoss.apply(input, target, weight, reduction=reduction, ignore_index=ignore_index, axis=axis)


@autocast_entry
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Cross entropy of logits ``input`` (C,) or (N, C, d1, ...) against class indices (the input's shape
    without the class dim) or class probabilities (the input's shape, floating)."""
    reduction = _reduction("cross_entropy", reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if not isinstance(target, Tensor):
        raise TypeError(f"cross_entropy: target must be a tensor of class indices (int64) or class probabilities, "
                        f"got {type(target).__name__}")
    if dtypes.is_floating(target.dtype):
        if tuple(target.shape) != tuple(input.shape):
            raise TypeError(f"cross_entropy: target must be a tensor of class indices (int64) of the input's shape "
                            f"without the class dim, or class probabilities of the input's shape "
                            f"{tuple(input.shape)}; got {target.dtype} of shape {tuple(target.shape)}")
        return _cross_entropy_probabilities(input, target, weight, reduction, ignore_index, label_smoothing)
    if target.dtype.kind not in "iub":
        raise TypeError(f"cross_entropy: target must be a tensor of class indices (int64), got {target.dtype}")
    if input.ndim == 0:
        raise IndexError(f"cross_entropy: Dimension specified as 1 but tensor has no dimensions (input shape (), "
                         f"target shape {tuple(target.shape)}); logits need a class dim, (C,) or (N, C, d1, ...)")
    axis = _class_axis("cross_entropy", input, target)
    classes = input.shape[axis]
    weight = _check_weight("cross_entropy", weight, input, classes)
    _check_targets("cross_entropy", target, classes, ignore_index, input.shape)
    return CrossEntropy.apply(input, target, weight, reduction=reduction, ignore_index=ignore_index,
                              label_smoothing=float(label_smoothing), axis=axis)


def _cross_entropy_probabilities(input, target, weight, reduction, ignore_index, label_smoothing):
    if input.ndim == 0:
        raise IndexError("cross_entropy: Dimension specified as 1 but tensor has no dimensions (input and target "
                         "are 0-d); logits need a class dim, (C,) or (N, C, d1, ...)")
    if ignore_index != -100:
        raise RuntimeError("cross_entropy: ignore_index is not supported for floating point target (class "
                           "probabilities); mask those positions out of the target instead")
    axis = 1 if input.ndim >= 2 else 0
    classes = input.shape[axis]
    weight = _check_weight("cross_entropy", weight, input, classes)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    log_probs = input.log_softmax(axis)
    if weight is not None:
        log_probs = log_probs * weight.reshape(_class_shape(input.ndim, axis, classes))
    losses = -(log_probs * target).sum(axis)
    if reduction == "mean":
        positions = input.numel() // classes if classes else 0
        return losses.sum() / positions if positions else losses.sum() * math.nan
    return _reduce(losses, reduction)


# --- binary cross entropy -------------------------------------------------------------------------------

@autocast_entry
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(t log x + (1 - t) log(1 - x)) for probabilities ``x``, each log clamped at -100 as PyTorch does."""
    reduction = _reduction("binary_cross_entropy", reduction, size_average, reduce)
    target = _tensor_like("binary_cross_entropy", target, input, "target")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"binary_cross_entropy: target of shape {_size(target)} and input of shape {_size(input)} "
                         f"differ; this loss does not broadcast, so give the target the input's shape")
    _check_float("binary_cross_entropy", input)
    if input.numel() and not ((input >= 0) & (input <= 1)).all().item():  # one host read, as PyTorch's CPU check
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1; pass logits "
                           "to binary_cross_entropy_with_logits instead")
    loss = -(target * input.log().clamp(min=-100) + (1 - target) * (1 - input).log().clamp(min=-100))
    if weight is not None:
        weight = _tensor_like("binary_cross_entropy", weight, input, "weight")
        _check_in_place_broadcast("binary_cross_entropy", target, weight, "weight")
        _not_differentiable("binary_cross_entropy", weight, "weight")
        loss = loss * weight
    return _reduce(loss, reduction)


@autocast_entry
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """binary_cross_entropy(sigmoid(input), target) in a stable form; ``pos_weight`` weighs the positive term."""
    op = "binary_cross_entropy_with_logits"
    reduction = _reduction(op, reduction, size_average, reduce)
    target = _tensor_like(op, target, input, "target")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: target of shape {_size(target)} must have the input's shape {_size(input)}")
    _check_float(op, input)
    if pos_weight is not None:
        pos_weight = _tensor_like(op, pos_weight, input, "pos_weight")
        _check_in_place_broadcast(op, input, pos_weight, "pos_weight")
        _not_differentiable(op, pos_weight, "pos_weight")
    loss = BinaryCrossEntropyWithLogits.apply(input, target, pos_weight)
    if weight is not None:
        weight = _tensor_like(op, weight, input, "weight")
        _check_in_place_broadcast(op, input, weight, "weight")
        _not_differentiable(op, weight, "weight")
        loss = loss * weight
    return _reduce(loss, reduction)


# --- regression losses ----------------------------------------------------------------------------------

@autocast_entry
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """(input - target)**2; a target of another shape broadcasts, with PyTorch's warning."""
    reduction = _reduction("mse_loss", reduction, size_average, reduce)
    input, target = _broadcast_pair("mse_loss", input, target)
    return _reduce(_weighted("mse_loss", (input - target) ** 2, weight, input), reduction)


@autocast_entry
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """|input - target|; a target of another shape broadcasts, with PyTorch's warning."""
    reduction = _reduction("l1_loss", reduction, size_average, reduce)
    input, target = _broadcast_pair("l1_loss", input, target)
    return _reduce(_weighted("l1_loss", (input - target).abs(), weight, input), reduction)


def _weighted(op, loss, weight, input):
    if weight is None:
        return loss
    weight = _tensor_like(op, weight, input, "weight")
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: Weights and input must have the same size (weight {tuple(weight.shape)}, input "
                         f"{tuple(input.shape)})")
    return loss * weight


@autocast_entry
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d**2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta=0 is l1_loss."""
    reduction = _reduction("smooth_l1_loss", reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got {beta})")
    input, target = _broadcast_pair("smooth_l1_loss", input, target)
    diff = (input - target).abs()
    if beta == 0:
        return _reduce(diff, reduction)
    return _reduce(_where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta), reduction)


@autocast_entry
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d**2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target)."""
    reduction = _reduction("huber_loss", reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta (got {delta})")
    input, target = _broadcast_pair("huber_loss", input, target)
    diff = (input - target).abs()
    loss = _where(diff < delta, 0.5 * diff * diff, delta * (diff - 0.5 * delta))
    return _reduce(_weighted("huber_loss", loss, weight, input), reduction)


@autocast_entry
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """target * (log(target) - input) (input holds log-probabilities); 'batchmean' divides the sum by N."""
    if size_average is None and reduce is None and reduction == "mean":
        warnings.warn("kl_div: reduction='mean' averages over every element, not over the batch, so it is not the "
                      "KL divergence per sample; pass reduction='batchmean' for that (PyTorch plans to make 'mean' "
                      "mean 'batchmean')", UserWarning, stacklevel=2)
    batchmean = reduction == "batchmean" and size_average is None and reduce is None
    reduction = "sum" if batchmean else _reduction("kl_div", reduction, size_average, reduce,
                                                   allowed=_REDUCTIONS)
    target = _tensor_like("kl_div", target, input, "target")
    if log_target:
        loss = target.exp() * (target - input)
    else:
        zero = target == 0  # 0 log 0 = 0 (xlogy); the log sees 1 there so no nan reaches the gradient
        loss = _where(zero, 0.0, target * _where(zero, 1.0, target).log()) - target * input
    loss = _reduce(loss, reduction)
    return loss / input.shape[0] if batchmean and input.ndim else loss


@autocast_entry
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """exp(input) - target * input (log_input), else input - target * log(input + eps); ``full`` adds
    Stirling's approximation of log(target!) where target > 1."""
    reduction = _reduction("poisson_nll_loss", reduction, size_average, reduce)
    target = _tensor_like("poisson_nll_loss", target, input, "target")
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        big = target > 1
        t = _where(big, target, 1.0)  # the term is 0 where target <= 1; keep log's argument positive there
        stirling = t * t.log() - t + 0.5 * (2 * math.pi * t).log()
        loss = loss + _where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 (log(var) + (input - target)**2 / var), var clamped at ``eps`` (the gradient passes the clamp)."""
    op = "gaussian_nll_loss"
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(f"{op}: var has negative entry/entries (var={var})")
        var = _tensor_like(op, float(var), input, "var").expand(*input.shape)
    else:
        var = _tensor_like(op, var, input, "var")
        if (var < 0).any().item():
            raise ValueError(f"{op}: var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):  # one variance per sample: broadcast over the last dim
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and
                  sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):  # one dim of size 1 broadcasts
            raise ValueError(f"{op}: var is of incorrect size {tuple(var.shape)} for input {tuple(input.shape)}; "
                             f"give it the input's shape, the input's shape without the last dim, or the input's "
                             f"shape with one dim of size 1")
    reduction = _reduction(op, reduction)
    var = var + (var.clamp(min=eps) - var).detach()  # clamped value, identity gradient (PyTorch's no_grad clamp)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


# --- margin and embedding losses ------------------------------------------------------------------------

@autocast_entry
def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target * (input1 - input2) + margin)."""
    reduction = _reduction("margin_ranking_loss", reduction, size_average, reduce)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"margin_ranking_loss: All input tensors should have same dimension but got sizes: "
                           f"input1: {tuple(input1.shape)}, input2: {tuple(input2.shape)}, target: "
                           f"{tuple(target.shape)}")
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


@autocast_entry
def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """input where target == 1, max(0, margin - input) where target == -1."""
    reduction = _reduction("hinge_embedding_loss", reduction, size_average, reduce)
    target = _tensor_like("hinge_embedding_loss", target, input, "target")
    loss = _where(target != 1, (margin - input).clamp(min=0), 0.0) + _where(target != -1, input, 0.0)
    return _reduce(loss, reduction)


@autocast_entry
def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)), averaged over every element for 'mean'."""
    reduction = _reduction("soft_margin_loss", reduction, size_average, reduce)
    target = _tensor_like("soft_margin_loss", target, input, "target")
    _check_in_place_broadcast("soft_margin_loss", input, target, "target")
    _not_differentiable("soft_margin_loss", target, "target")
    return _reduce(Softplus.apply(-target * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(t log sigmoid(x) + (1 - t) log sigmoid(-x)), weighted, averaged over the classes (last dim)."""
    reduction = _reduction("multilabel_soft_margin_loss", reduction, size_average, reduce)
    if input.ndim == 0:
        raise IndexError("multilabel_soft_margin_loss: Dimension specified as -1 but tensor has no dimensions; "
                         "the input needs a class dim, (C,) or (N, C)")
    target = _tensor_like("multilabel_soft_margin_loss", target, input, "target")
    loss = target * Softplus.apply(-input) + (1 - target) * Softplus.apply(input)
    if weight is not None:
        loss = loss * _tensor_like("multilabel_soft_margin_loss", weight, input, "weight")
    loss = loss.sum(-1) / input.shape[-1]
    return _reduce(loss, reduction)


@autocast_entry
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """sum over classes c != y of max(0, margin - x[y] + x[c])**p (times weight[y]), divided by C."""
    op = "multi_margin_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 supported, got p={p}")
    if input.ndim not in (1, 2):
        raise RuntimeError(f"{op}: Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                           f"{list(input.shape)}")
    batched = input.ndim == 2
    classes = input.shape[-1]
    if input.numel() == 0 and not (batched and input.shape[0] == 0 and classes):
        raise RuntimeError(f"{op}: Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                           f"{list(input.shape)}")
    expected = (input.shape[0],) if batched else ()
    if tuple(target.shape) != expected and not (not batched and tuple(target.shape) == (1,)):
        raise RuntimeError(f"{op}: inconsistent target size: {list(target.shape)} for input of size: "
                           f"{list(input.shape)}")
    _check_targets(op, target, classes, -2**62, input.shape)
    x = input if batched else input.reshape(1, classes)
    t = target.reshape(-1)
    onehot = OneHot.apply(t, num_classes=classes, dtype=input.dtype)
    picked = (x * onehot).sum(-1, keepdim=True)
    hinge = (margin - picked + x).clamp(min=0)
    if p == 2:
        hinge = hinge * hinge
    if weight is not None:
        weight = _check_weight(op, weight, input, classes)
        hinge = hinge * weight[t].unsqueeze(-1)
    loss = (hinge * (1 - onehot)).sum(-1) / classes
    loss = loss if batched else loss.reshape(())
    return _reduce(loss, reduction)


@autocast_entry
def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(input1, input2) where target == 1, max(0, cos - margin) where target == -1."""
    op = "cosine_embedding_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    if target.ndim not in (0, 1):
        raise RuntimeError(f"{op}: 0D or 1D target tensor expected, multi-target not supported (target shape "
                           f"{tuple(target.shape)})")
    if target.ndim == 1 and not (input1.ndim == 2 and input2.ndim == 2):
        raise RuntimeError(f"{op}: 1D target tensor expects 2D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    if target.ndim == 0 and not (input1.ndim == 1 and input2.ndim == 1):
        raise RuntimeError(f"{op}: 0D target tensor expects 1D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    dim = target.ndim
    dot = (input1 * input2).sum(dim)
    norms = (((input1 * input1).sum(dim) + 1e-12) * ((input2 * input2).sum(dim) + 1e-12)).sqrt()
    cos = dot / norms
    loss = _where(target == 1, 1 - cos, 0.0) + _where(target == -1, (cos - margin).clamp(min=0), 0.0)
    return _reduce(loss, reduction)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps over the last dim."""
    ndim = max(x1.ndim, x2.ndim)
    diff = x1 - x2 + eps
    if ndim == 0:  # PyTorch: the norm of a 0-d difference is its absolute value
        return diff.abs()
    return _norm(diff, p, ndim - 1, keepdim)


def _norm(x, p, dim, keepdim=False):
    if p == 2:
        return (x * x).sum(dim, keepdim=keepdim).sqrt()
    if p == 1:
        return x.abs().sum(dim, keepdim=keepdim)
    if p == math.inf:
        return x.abs().amax(dim, keepdim=keepdim)
    if p == 0:
        return (x != 0).to(x.dtype).sum(dim, keepdim=keepdim)
    return (x.abs() ** p).sum(dim, keepdim=keepdim) ** (1.0 / p)


@autocast_entry
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, margin + d(anchor, positive) - d(anchor, negative)), d the pairwise p-distance."""
    op = "triplet_margin_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"{op}: The anchor, positive, and negative tensors are expected to have the same number "
                           f"of dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
                           f"negative {negative.ndim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp(min=0), reduction)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(|x1|, eps) max(|x2|, eps)) along ``dim`` (each norm clamped, identity gradient)."""
    shape = _broadcast_shape("cosine_similarity", x1.shape, x2.shape, "x1", "x2")
    dim = normalize_dim("cosine_similarity", dim, shape)
    x1, x2 = x1.expand(*shape), x2.expand(*shape)
    n1, n2 = _norm(x1, 2, dim, keepdim=True), _norm(x2, 2, dim, keepdim=True)
    n1 = n1 + (n1.clamp(min=eps) - n1).detach()
    n2 = n2 + (n2.clamp(min=eps) - n2).detach()
    return ((x1 / n1) * (x2 / n2)).sum(dim)
