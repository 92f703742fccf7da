"""Fused optimizer updates on CUDA: one ElementwiseKernel launch per parameter group and step.

optim/_flat.py holds a group's parameters and state in flat buffers and calls the backend's
kernel named by the optimizer (``sgd_update``, ``adam_update``, ``rmsprop_update``) with the
signature of the generic rule, ``Optimizer._rule(xp, p, g, scratch, work, bufs, key, group)``, which
stays the reference (it costs a dozen launches). Each kernel reads the gradient and the state
once and writes the parameter and the state once; the state and the parameter are outputs
that the kernel also reads (each thread touches only its own element).

Same formula and order of operations as the generic rule. Arithmetic runs in float32 for
float16/bfloat16 (PyTorch's op math) and in the dtype otherwise, rounded once when stored: on
half types the result may differ from the generic rule, which rounds after every operation;
NVRTC may contract a * b + c into one FMA, so in float32/float64 a GPU result may differ from
the generic rule in the last bits.
"""

import math

import cupy

from .cupy_backend import CupyBackend

_PREAMBLE = """
template <typename T> struct ndgrad_opmath { typedef float type; };
template <> struct ndgrad_opmath<double> { typedef double type; };
"""

# the start of every rule: op-math type A, the gradient d (negated for maximize), the parameter w,
# coupled weight decay (AdamW's decoupled decay is the Adam kernel's business)
_GRAD = """
typedef ndgrad_opmath<T>::type A;
A d = maximize ? -(A)g : (A)g;
A w = (A)p;
"""
_COUPLED_DECAY = "if (weight_decay != 0) d += w * (A)weight_decay;\n"


def _momentum_sgd_operation():
    return _GRAD + _COUPLED_DECAY + """
A b;
if (first) {
    b = d;  // the buffer starts at the gradient, without dampening
} else {
    b = (A)buf * (A)momentum + (dampening != 0 ? d * (A)(1 - dampening) : d);
}
buf = (T)b;
d = nesterov ? d + b * (A)momentum : b;
p = (T)(w - d * (A)lr);
"""


def _adam_operation(amsgrad):
    second = """
A vmax = (A)max_exp_avg_sq;
if (!(vmax != vmax) && !(vmax > v)) vmax = v;  // numpy.maximum: a NaN on either side wins
max_exp_avg_sq = (T)vmax;
""" if amsgrad else "A vmax = v;\n"
    return _GRAD + """
if (weight_decay != 0) {
    if (decoupled) w *= (A)(1 - lr * weight_decay); else d += w * (A)weight_decay;
}
A m = (A)exp_avg * (A)beta1 + d * (A)(1 - beta1);
A v = (A)exp_avg_sq * (A)beta2 + d * (A)(1 - beta2) * d;
exp_avg = (T)m;
exp_avg_sq = (T)v;
""" + second + """
A denom = sqrt(vmax) / (A)bias_correction2_sqrt + (A)eps;
p = (T)(w - m / denom * (A)step_size);
"""


def _rmsprop_operation(centered, momentum):
    denom = """
A ga = (A)grad_avg + (d - (A)grad_avg) * (A)(1 - alpha);
grad_avg = (T)ga;
A denom = sqrt(sq - ga * ga) + (A)eps;
""" if centered else "A denom = sqrt(sq) + (A)eps;\n"
    update = """
A b = (A)momentum_buffer * (A)momentum + d / denom;
momentum_buffer = (T)b;
p = (T)(w - b * (A)lr);
""" if momentum else "p = (T)(w - d / denom * (A)lr);\n"
    return _GRAD + _COUPLED_DECAY + """
A sq = (A)square_avg * (A)alpha + d * (A)(1 - alpha) * d;
square_avg = (T)sq;
""" + denom + update


_SGD_IN = "T g, float64 lr, float64 weight_decay, bool maximize"
_ADAM_IN = ("T g, float64 lr, float64 beta1, float64 beta2, float64 eps, float64 weight_decay, "
            "float64 bias_correction2_sqrt, float64 step_size, bool maximize, bool decoupled")
_RMSPROP_IN = "T g, float64 lr, float64 alpha, float64 eps, float64 weight_decay, float64 momentum, bool maximize"

_sgd = cupy.ElementwiseKernel(
    _SGD_IN, "T p", _GRAD + _COUPLED_DECAY + "p = (T)(w - d * (A)lr);\n", "ndgrad_sgd", preamble=_PREAMBLE)
_sgd_momentum = cupy.ElementwiseKernel(
    _SGD_IN + ", float64 momentum, float64 dampening, bool nesterov, bool first", "T p, T buf",
    _momentum_sgd_operation(), "ndgrad_sgd_momentum", preamble=_PREAMBLE)
_adam = cupy.ElementwiseKernel(
    _ADAM_IN, "T p, T exp_avg, T exp_avg_sq", _adam_operation(False), "ndgrad_adam", preamble=_PREAMBLE)
_adam_amsgrad = cupy.ElementwiseKernel(
    _ADAM_IN, "T p, T exp_avg, T exp_avg_sq, T max_exp_avg_sq", _adam_operation(True), "ndgrad_adam_amsgrad",
    preamble=_PREAMBLE)
_rmsprop = cupy.ElementwiseKernel(
    _RMSPROP_IN, "T p, T square_avg", _rmsprop_operation(False, False), "ndgrad_rmsprop", preamble=_PREAMBLE)
_rmsprop_momentum = cupy.ElementwiseKernel(
    _RMSPROP_IN, "T p, T square_avg, T momentum_buffer", _rmsprop_operation(False, True), "ndgrad_rmsprop_momentum",
    preamble=_PREAMBLE)
_rmsprop_centered = cupy.ElementwiseKernel(
    _RMSPROP_IN, "T p, T square_avg, T grad_avg", _rmsprop_operation(True, False), "ndgrad_rmsprop_centered",
    preamble=_PREAMBLE)
_rmsprop_centered_momentum = cupy.ElementwiseKernel(
    _RMSPROP_IN, "T p, T square_avg, T momentum_buffer, T grad_avg", _rmsprop_operation(True, True),
    "ndgrad_rmsprop_centered_momentum", preamble=_PREAMBLE)


@CupyBackend.register_kernel("sgd_update")
def sgd_update(xp, p, g, scratch, work, bufs, first, group):
    lr, weight_decay, maximize = group["lr"], group["weight_decay"], bool(group["maximize"])
    if group["momentum"] == 0:
        _sgd(g, lr, weight_decay, maximize, p)
    else:
        _sgd_momentum(g, lr, weight_decay, maximize, group["momentum"], group["dampening"], bool(group["nesterov"]),
                      bool(first), p, bufs["momentum_buffer"])


@CupyBackend.register_kernel("adam_update")
def adam_update(xp, p, g, scratch, work, bufs, step, group):
    (beta1, beta2), lr = group["betas"], group["lr"]
    args = (g, lr, beta1, beta2, group["eps"], group["weight_decay"], math.sqrt(1 - beta2 ** step),
            lr / (1 - beta1 ** step), bool(group["maximize"]), bool(group["decoupled_weight_decay"]),
            p, bufs["exp_avg"], bufs["exp_avg_sq"])
    if group["amsgrad"]:
        _adam_amsgrad(*args, bufs["max_exp_avg_sq"])
    else:
        _adam(*args)


@CupyBackend.register_kernel("rmsprop_update")
def rmsprop_update(xp, p, g, scratch, work, bufs, key, group):
    args = (g, group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"],
            bool(group["maximize"]), p, bufs["square_avg"])
    momentum, centered = group["momentum"] > 0, group["centered"]
    if centered and momentum:
        _rmsprop_centered_momentum(*args, bufs["momentum_buffer"], bufs["grad_avg"])
    elif centered:
        _rmsprop_centered(*args, bufs["grad_avg"])
    elif momentum:
        _rmsprop_momentum(*args, bufs["momentum_buffer"])
    else:
        _rmsprop(*args)
