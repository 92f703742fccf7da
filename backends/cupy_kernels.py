"""Fused CUDA kernels that replace generic op kernels on the CuPy backend.

Each one computes in a single pass what the generic kernel does in several, and
saves exactly what the generic kernel saves, so backward is unchanged. Inside a
kernel float16/bfloat16 values are computed in float (``A``, from the preamble) and
rounded once; float32 in float, float64 in double. Scalars (slopes, scales) come in
as float64 and are rounded to ``A`` where they are used, as the generic kernels round
a Python float to the array's dtype.
"""

import math

import cupy

from .cupy_backend import CupyBackend

_ADD_AT_FLOATS = (cupy.float16, cupy.float32, cupy.float64)  # what cupy.add.at takes (bfloat16 is not among them)

_threshold_backward = cupy.ElementwiseKernel(
    "T grad, T out", "T result",
    "result = grad * (T)(out > (T)0)",  # a product, like the generic kernel (nan * 0 stays nan)
    "ndgrad_threshold_backward")

_sigmoid = cupy.ElementwiseKernel(
    "T x", "T y",
    "y = (T)1 / ((T)1 + exp(-x))",
    "ndgrad_sigmoid")


@CupyBackend.register_kernel("threshold_backward")
def threshold_backward(ctx, grad, out, in_place=False):
    ctx.save_for_backward(out)
    if in_place:  # the engine's own buffer: the result is written over it
        return _threshold_backward(grad, out, grad)
    return _threshold_backward(grad, out)


@CupyBackend.register_kernel("sigmoid")
def sigmoid(ctx, x):
    out = _sigmoid(x)
    ctx.save_for_backward(out)
    return out


@CupyBackend.register_kernel("index_add")
def index_add(ctx, values, shape, index):
    """Scatter-add for indexing's backward and index_add/scatter_add: cupy.add.at does what numpy.add.at does
    (cupyx.scatter_add is deprecated since CuPy 14), for the dtypes CUDA's atomicAdd has. Integers are added as
    uint64 (two's complement: the same bits as a signed sum, exactly, with int64's wrap-around); bfloat16 is
    summed in float32 and rounded once."""
    ctx.index = index
    if values.dtype in _ADD_AT_FLOATS:
        wide = values.dtype
    elif values.dtype.kind in "iu":
        out = cupy.zeros(shape, dtype=cupy.uint64)
        cupy.add.at(out, index, values.astype(cupy.int64).view(cupy.uint64))
        return out.view(cupy.int64).astype(values.dtype)
    else:
        wide = cupy.float32
    out = cupy.zeros(shape, dtype=wide)
    cupy.add.at(out, index, values.astype(wide, copy=False))
    return out if wide == values.dtype else out.astype(values.dtype)


# --- activations and their backwards ------------------------------------------------------------------------

_ACC = """
template <typename T> struct ndgrad_acc { typedef float type; };
template <> struct ndgrad_acc<double> { typedef double type; };
"""


def _kernel(params, out, body, name):
    """An ElementwiseKernel whose body sees ``A``, the type T is computed in."""
    return cupy.ElementwiseKernel(params, out, "typedef ndgrad_acc<T>::type A;\n" + body, name, preamble=_ACC)


_SQRT_HALF, _INV_SQRT_2PI = "0.70710678118654752440", "0.39894228040143267794"
_K, _C = "0.79788456080286535588", "0.044715"  # sqrt(2/pi) and the cubic term of gelu's tanh form

_gelu = _kernel("T x", "T y", f"const A v = (A)x; y = (T)((A)0.5 * v * ((A)1 + erf(v * (A){_SQRT_HALF})));",
                "ndgrad_gelu")
_gelu_tanh = _kernel(
    "T x", "T y", f"const A v = (A)x; y = (T)((A)0.5 * v * ((A)1 + tanh((A){_K} * (v + (A){_C} * v * v * v))));",
    "ndgrad_gelu_tanh")
_gelu_backward = _kernel("T grad, T x", "T dx", f"""
    const A v = (A)x;
    const A cdf = (A)0.5 * ((A)1 + erf(v * (A){_SQRT_HALF}));
    dx = (T)((A)grad * (cdf + v * exp((A)-0.5 * v * v) * (A){_INV_SQRT_2PI}));""", "ndgrad_gelu_backward")
_gelu_tanh_backward = _kernel("T grad, T x", "T dx", f"""
    const A v = (A)x;
    const A t = tanh((A){_K} * (v + (A){_C} * v * v * v));
    const A du = (A){_K} * ((A)1 + (A)3 * (A){_C} * v * v);
    dx = (T)((A)grad * ((A)0.5 * ((A)1 + t) + (A)0.5 * v * ((A)1 - t * t) * du));""", "ndgrad_gelu_tanh_backward")
_silu = _kernel("T x", "T y", "const A v = (A)x; y = (T)(v / ((A)1 + exp(-v)));", "ndgrad_silu")
_silu_backward = _kernel("T grad, T x", "T dx", """
    const A v = (A)x;
    const A s = (A)1 / ((A)1 + exp(-v));
    dx = (T)((A)grad * s * ((A)1 + v * ((A)1 - s)));""", "ndgrad_silu_backward")
_softplus = _kernel("T x, float64 beta, float64 threshold", "T y", """
    const A bx = (A)x * (A)beta;  // log(1 + exp(bx)) = max(bx, 0) + log1p(exp(-|bx|)), stable both ways
    y = bx > (A)threshold ? x : (T)(((bx > (A)0 ? bx : (A)0) + log1p(exp(-fabs(bx)))) / (A)beta);""",
                    "ndgrad_softplus")
_softplus_backward = _kernel("T grad, T x, float64 beta, float64 threshold", "T dx", """
    const A bx = (A)x * (A)beta;
    dx = bx > (A)threshold ? grad : (T)((A)grad / ((A)1 + exp(-bx)));""", "ndgrad_softplus_backward")
_elu = _kernel("T x, float64 alpha, float64 scale, float64 input_scale", "T y", """
    const A v = (A)x;
    y = (T)(v > (A)0 ? v * (A)scale : (exp(v * (A)input_scale) - (A)1) * (A)(alpha * scale));""", "ndgrad_elu")
_elu_backward = _kernel("T grad, T x, float64 alpha, float64 scale, float64 input_scale", "T dx", """
    const A v = (A)x;
    dx = (T)(v > (A)0 ? (A)grad * (A)scale : (A)grad * exp(v * (A)input_scale) * (A)(alpha * scale * input_scale));""",
                        "ndgrad_elu_backward")
_leaky_relu = _kernel("T x, float64 slope", "T y", "y = (A)x > (A)0 ? x : (T)((A)x * (A)slope);", "ndgrad_leaky_relu")
_leaky_relu_backward = _kernel("T grad, T x, float64 slope", "T dx",
                               "dx = (A)x > (A)0 ? grad : (T)((A)grad * (A)slope);", "ndgrad_leaky_relu_backward")


@CupyBackend.register_kernel("gelu")
def gelu(ctx, x, approximate):
    ctx.approximate = approximate
    ctx.save_for_backward(x)
    return (_gelu_tanh if approximate == "tanh" else _gelu)(x)


@CupyBackend.register_kernel("gelu_backward")
def gelu_backward(ctx, grad, x, approximate):
    ctx.approximate = approximate
    ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, x)
    return (_gelu_tanh_backward if approximate == "tanh" else _gelu_backward)(grad, x)


@CupyBackend.register_kernel("silu")
def silu(ctx, x):
    ctx.save_for_backward(x)
    return _silu(x)


@CupyBackend.register_kernel("silu_backward")
def silu_backward(ctx, grad, x):
    ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, x)
    return _silu_backward(grad, x)


@CupyBackend.register_kernel("softplus")
def softplus(ctx, x, beta, threshold):
    ctx.beta, ctx.threshold = beta, threshold
    ctx.save_for_backward(x)
    return _softplus(x, float(beta), float(threshold))


@CupyBackend.register_kernel("softplus_backward")
def softplus_backward(ctx, grad, x, beta, threshold):
    ctx.beta, ctx.threshold = beta, threshold
    ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, x)
    return _softplus_backward(grad, x, float(beta), float(threshold))


@CupyBackend.register_kernel("elu")
def elu(ctx, x, alpha, scale, input_scale):
    ctx.params = alpha, scale, input_scale
    ctx.save_for_backward(x)
    return _elu(x, float(alpha), float(scale), float(input_scale))


@CupyBackend.register_kernel("elu_backward")
def elu_backward(ctx, grad, x, alpha, scale, input_scale):
    ctx.params = alpha, scale, input_scale
    ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, x)
    return _elu_backward(grad, x, float(alpha), float(scale), float(input_scale))


@CupyBackend.register_kernel("leaky_relu")
def leaky_relu(ctx, x, negative_slope):
    ctx.negative_slope = negative_slope
    ctx.save_for_backward(x)
    return _leaky_relu(x, float(negative_slope))


@CupyBackend.register_kernel("leaky_relu_backward")
def leaky_relu_backward(ctx, grad, x, negative_slope):
    ctx.negative_slope = negative_slope
    ctx.save_for_backward(x)
    return _leaky_relu_backward(grad, x, float(negative_slope))


# --- softmax and log_softmax: CuPy's reductions (max, sum) around fused elementwise passes -------------------

_exp_shifted = _kernel("T x, T m", "T e", "e = (T)exp((A)x - (A)m);", "ndgrad_exp_shifted")
_log_softmax_out = _kernel("T x, T m, T s", "T y", "y = (T)((A)x - (A)m - log((A)s));", "ndgrad_log_softmax_out")
_product = _kernel("T a, T b", "T y", "y = (T)((A)a * (A)b);", "ndgrad_product")
_softmax_backward = _kernel("T grad, T out, T s", "T dx", "dx = (T)((A)out * ((A)grad - (A)s));",
                            "ndgrad_softmax_backward")
_log_softmax_backward = _kernel("T grad, T out, T s", "T dx", "dx = (T)((A)grad - exp((A)out) * (A)s);",
                                "ndgrad_log_softmax_backward")


@CupyBackend.register_kernel("softmax")
def softmax(ctx, x, dim):
    """max, exp(x - max), sum, divide: four launches and one buffer where the generic kernel takes five and two."""
    if x.size == 0:
        return type(ctx).forward(ctx, x, dim)
    e = _exp_shifted(x, x.max(axis=dim, keepdims=True))
    out = cupy.divide(e, e.sum(axis=dim, keepdims=True), out=e)
    ctx.dim = dim
    ctx.save_for_backward(out)
    return out


@CupyBackend.register_kernel("log_softmax")
def log_softmax(ctx, x, dim):
    if x.size == 0:
        return type(ctx).forward(ctx, x, dim)
    m = x.max(axis=dim, keepdims=True)
    out = _log_softmax_out(x, m, _exp_shifted(x, m).sum(axis=dim, keepdims=True))
    ctx.dim = dim
    ctx.save_for_backward(out)
    return out


@CupyBackend.register_kernel("softmax_backward")
def softmax_backward(ctx, grad, out, dim):
    ctx.dim = dim
    ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, out)
    return _softmax_backward(grad, out, _product(grad, out).sum(axis=dim, keepdims=True))


@CupyBackend.register_kernel("log_softmax_backward")
def log_softmax_backward(ctx, grad, out, dim):
    ctx.dim = dim
    ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, out)
    return _log_softmax_backward(grad, out, grad.sum(axis=dim, keepdims=True))


# --- dropout: the mask applied and the scale multiplied in one pass ---------------------------------------------

_dropout = _kernel("T x, bool mask, float64 scale", "T y", "y = (T)((A)x * ((A)mask * (A)scale));", "ndgrad_dropout")


@CupyBackend.register_kernel("dropout")
def dropout(ctx, x, mask, scale):
    ctx.scale = scale
    ctx.save_for_backward(mask)
    return _dropout(x, mask, float(scale))


# --- normalization (batch, layer, group, instance norm): fused statistics and output passes ----------------------

_squared_deviation = _kernel("T x, T mean", "T y", "const A d = (A)x - (A)mean; y = (T)(d * d);",
                             "ndgrad_squared_deviation")
_inverse_std = _kernel("T ssd, float64 count, float64 eps", "T invstd",
                       "invstd = (T)((A)1 / sqrt((A)ssd / (A)count + (A)eps));", "ndgrad_inverse_std")
_normalized = _kernel("T x, T mean, T invstd", "T y", "y = (T)(((A)x - (A)mean) * (A)invstd);", "ndgrad_normalized")
_normalized_affine = _kernel("T x, T mean, T invstd, T weight, T bias", "T y",
                             "y = (T)(((A)x - (A)mean) * (A)invstd * (A)weight + (A)bias);", "ndgrad_normalized_affine")
_running_update = _kernel("T batch, T old, float64 momentum, float64 factor", "T running",
                          "running = (T)((A)old * (A)(1 - momentum) + (A)momentum * ((A)batch * (A)factor));",
                          "ndgrad_running_update")
_grad_terms = _kernel("T grad, T x, T mean, T invstd, T weight", "T g, T g_xhat", """
    const A gw = (A)grad * (A)weight;
    g = (T)gw;
    g_xhat = (T)(gw * ((A)x - (A)mean) * (A)invstd);""", "ndgrad_grad_terms")
_grad_input = _kernel("T grad, T x, T mean, T invstd, T weight, T sum_g, T sum_g_xhat, float64 count", "T gx", """
    const A xhat = ((A)x - (A)mean) * (A)invstd;
    const A g = (A)grad * (A)weight - (A)sum_g / (A)count - xhat * ((A)sum_g_xhat / (A)count);
    gx = (T)(g * (A)invstd);""", "ndgrad_grad_input")


def _plain(x, weight):
    """What a fused normalization pass covers: float32/float64 data, a weight and bias both given or both absent
    (the generic kernel does the rest: low precision computed in float32, a weight without a bias ...)."""
    return x.dtype in (cupy.float32, cupy.float64) and x.size > 0


@CupyBackend.register_kernel("normalize")
def normalize(ctx, x, weight, bias, running_mean, running_var, dims, eps, training, momentum, stats_shape):
    """mean (a reduction), the squared deviations and their sum, 1/std, and one pass for the output (with the
    weight and bias): five launches where the generic kernel takes a dozen; the running statistics move in one
    pass each."""
    count = math.prod(x.shape[d] for d in dims)
    rows = 1 if running_mean is None else math.prod(x.shape) // count // running_mean.size  # instance norm: > 1
    if not (training and _plain(x, weight) and (weight is None) == (bias is None) and rows == 1):
        return type(ctx).forward(ctx, x, weight, bias, running_mean, running_var, dims, eps, training, momentum,
                                 stats_shape)
    ctx.dims, ctx.eps, ctx.training = dims, eps, training
    mean = x.mean(axis=dims, keepdims=True)
    ssd = _squared_deviation(x, mean).sum(axis=dims, keepdims=True)
    invstd = _inverse_std(ssd, float(count), float(eps))
    if running_mean is not None:
        _running_update(mean.reshape(running_mean.shape), running_mean, float(momentum), 1.0, running_mean)
        _running_update(ssd.reshape(running_var.shape), running_var, float(momentum),  # unbiased: ssd / (count - 1)
                        1.0 / (count - 1) if count > 1 else math.nan, running_var)
    ctx.save_for_backward(x, mean, invstd, weight if ctx.needs_input_grad[0] else None)
    return _normalized(x, mean, invstd) if weight is None else _normalized_affine(x, mean, invstd, weight, bias)


@CupyBackend.register_kernel("normalize_backward")
def normalize_backward(ctx, grad, x, mean, invstd, weight, dims, training):
    """The two statistics sum(g) and sum(g * xhat) from one pass and two reductions, then one pass for gx."""
    if not (training and _plain(x, weight) and grad.dtype == x.dtype):
        return type(ctx).forward(ctx, grad, x, mean, invstd, weight, dims, training)
    weight = cupy.ones((), x.dtype) if weight is None else weight
    g, g_xhat = _grad_terms(grad, x, mean, invstd, weight)
    count = math.prod(x.shape[d] for d in dims)
    return _grad_input(grad, x, mean, invstd, weight, g.sum(axis=dims, keepdims=True),
                       g_xhat.sum(axis=dims, keepdims=True), float(count))


# --- cross_entropy with class indices: the log-softmax never materialised -----------------------------------------

_safe_target = cupy.ElementwiseKernel("int64 t, float64 ignore", "int64 safe", "safe = (double)t != ignore ? t : 0",
                                      "ndgrad_safe_target")
_cross_entropy_terms = _kernel("int64 t, T picked, T m, T s, float64 ignore", "T loss, bool valid, T w", """
    valid = (double)t != ignore;
    w = (T)(valid ? 1 : 0);
    loss = valid ? (T)(-(((A)picked - (A)m) - log((A)s))) : (T)0;""", "ndgrad_cross_entropy_terms")


@CupyBackend.register_kernel("cross_entropy")
def cross_entropy(ctx, logits, target, weight, reduction, ignore_index, label_smoothing, axis):
    """-log_softmax(x)[t] from the max, the sum of exp(x - max) and the picked logit alone: about half the
    generic kernel's launches and no (N, C) temporaries. Class weights, label smoothing, low precision and
    other target dtypes take the generic kernel."""
    if weight is not None or label_smoothing or logits.size == 0 or target.dtype != cupy.int64 \
            or logits.dtype not in (cupy.float32, cupy.float64):
        return type(ctx).forward(ctx, logits, target, weight, reduction, ignore_index, label_smoothing, axis)
    m = logits.max(axis=axis, keepdims=True)
    s = _exp_shifted(logits, m).sum(axis=axis, keepdims=True)
    safe_target = _safe_target(target, float(ignore_index))
    picked = cupy.take_along_axis(logits, cupy.expand_dims(safe_target, axis), axis=axis).squeeze(axis)
    losses, valid, target_weight = _cross_entropy_terms(target, picked, m.squeeze(axis), s.squeeze(axis),
                                                        float(ignore_index))
    ctx.reduction, ctx.label_smoothing, ctx.axis = reduction, label_smoothing, axis
    total_weight = target_weight.sum()
    ctx.save_for_backward(logits, safe_target, valid, target_weight, weight,
                          cupy.where(total_weight == 0, 1, total_weight) if reduction == "mean" else None)
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / total_weight if reduction == "mean" else total


# --- deferred range checks (CupyBackend.check_range): the bad values marked in one pass ---------------------------

_out_of_range = cupy.ElementwiseKernel(
    "int64 v, float64 low, float64 high, float64 ignore", "int64 bad, int64 lo, int64 hi", """
    const bool out = ((double)v < low || (double)v > high) && (double)v != ignore;
    bad = out;
    lo = out ? v : 0x7fffffffffffffffLL;
    hi = out ? v : -0x7fffffffffffffffLL - 1;""", "ndgrad_out_of_range")


def out_of_range_record(values, low, high, ignore=None):
    """[count, lowest, highest] of the entries of ``values`` outside [low, high] (``ignore`` excepted), on the device:
    one pass and three reductions, nothing read back."""
    bad, lo, hi = _out_of_range(values.astype(cupy.int64, copy=False), float(low), float(high),
                                math.nan if ignore is None else float(ignore))
    return cupy.stack((bad.sum(), lo.min(), hi.max()))
