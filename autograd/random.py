"""Random generators with PyTorch's API (torch.Generator, torch.seed, torch.get_rng_state ...).

A Generator wraps a NumPy ``np.random.Generator``. PyTorch's exact random numbers can't be
reproduced (another bit generator); what carries over is the API and reproducibility:
the same seed gives the same numbers. The global RNG is the CPU backend's generator, the
one ``ag.manual_seed`` seeds.
"""

import json

import numpy as np

import backends
from backends import Device, get_backend

from . import dtypes
from .ops.inplace import check_leaf, fill
from .tensor import Tensor, _device_backend, _float_dtype, from_numpy, shape_tuple

# PyTorch gives every new Generator this seed, so an unseeded one is still deterministic
DEFAULT_SEED = 67280421310721


def _fresh_seed():
    """A seed from the OS's entropy, in the range PyTorch's seeds take (non-negative int64)."""
    return int(np.random.SeedSequence().entropy % 2**63)


def _state_tensor(rng):
    # a uint8 tensor like PyTorch's ByteTensor; JSON (not pickle) so set_state never runs code
    text = json.dumps(rng.bit_generator.state).encode()
    return from_numpy(np.frombuffer(text, dtype=np.uint8).copy())


def _load_state(rng, state):
    try:
        rng.bit_generator.state = json.loads(np.asarray(state, dtype=np.uint8).tobytes().decode())
    except (ValueError, TypeError, KeyError) as err:
        raise RuntimeError(f"set_state: expected a state from get_state()/get_rng_state(), got "
                           f"{type(state).__name__} that doesn't hold one ({err})") from None


class Generator:
    """An independent random stream: ``Generator().manual_seed(42)`` for reproducible shuffles
    and splits that don't disturb (or depend on) the global RNG."""

    def __init__(self, device="cpu"):
        self.device = Device(device)
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed):
        seed = int(seed)
        self._initial_seed = seed
        # PyTorch accepts negative seeds too: NumPy wants non-negative, so fold into uint64
        self._rng = np.random.default_rng(seed % 2**64)
        return self

    def initial_seed(self):
        return self._initial_seed

    def seed(self):
        """Re-seed from the OS's entropy; returns the seed so the run can be repeated."""
        seed = _fresh_seed()
        self.manual_seed(seed)
        return seed

    def get_state(self):
        return _state_tensor(self._rng)

    def set_state(self, new_state):
        _load_state(self._rng, new_state)
        return self

    def __repr__(self):
        return f"<autograd.Generator device={self.device} initial_seed={self._initial_seed}>"


def numpy_generator(generator=None):
    """The NumPy generator to draw from: ``generator``'s, or without one a new one seeded from
    the global RNG. Drawing one seed (not the numbers themselves) from the global RNG keeps
    what it hands out per epoch the same whatever the dataset size, as in PyTorch, so that
    ``ag.manual_seed(s)`` fixes every epoch's order."""
    if generator is not None:
        if not isinstance(generator, Generator):
            raise TypeError(f"generator: expected an autograd.Generator, got {type(generator).__name__}; "
                            f"use autograd.Generator().manual_seed(seed)")
        return generator._rng
    return np.random.default_rng(int(get_backend("cpu").generator.integers(2**63)))


def initial_seed():
    """The seed of the global RNG."""
    if backends._seed is None:
        # The CPU backend starts from unrecorded OS entropy. Re-seeding it from a fresh, recorded
        # seed is indistinguishable from that, and gives PyTorch's answer from then on.
        backends.manual_seed(_fresh_seed())
    return backends._seed


def seed():
    """Seed the global RNG from the OS's entropy and return that seed."""
    seed = _fresh_seed()
    backends.manual_seed(seed)
    return seed


def get_rng_state():
    """The global CPU RNG's state as a uint8 tensor, for ``set_rng_state``."""
    return _state_tensor(get_backend("cpu").generator)


def set_rng_state(new_state):
    _load_state(get_backend("cpu").generator, new_state)


# --- sampling: PyTorch's distributions, drawn on the tensor's device ------------------------------
#
# Everything is built from three draws: uniform [0, 1), standard normal and integers. They come from
# the device's own generator (what ag.manual_seed seeds), or from a Generator: drawn on the host by
# its NumPy generator, then moved. Samples are made outside the graph; the in-place fills write them
# through autograd.ops' fill, which refuses a leaf that requires grad and bumps the version counter.

def _draw(kind, backend, generator, *args):
    """``backend.rand(shape, dtype)``, ``randn(shape, dtype)`` or ``randint(low, high, shape, dtype)``,
    from the device's generator or from ``generator``."""
    if generator is None:
        return getattr(backend, kind)(*args)
    rng = numpy_generator(generator)
    if generator.device.type != backend.device.type:
        raise RuntimeError(f"generator: expected a '{backend.device.type}' device type for generator but found "
                           f"'{generator.device.type}'; use autograd.Generator(device='{backend.device.type}')")
    if kind == "randint":
        low, high, shape, dtype = args
        array = rng.integers(low, high, size=shape, dtype=dtype)
    else:
        shape, dtype = args
        array = rng.random(shape, dtype=dtype) if kind == "rand" else rng.standard_normal(shape, dtype=dtype)
    return array if backend.device.type == "cpu" else backend.asarray(array)


def _working_dtype(dtype):
    """The dtype to draw floats in (both backends' generators make float32 and float64)."""
    return dtypes.float64 if dtype == dtypes.float64 else dtypes.float32


def _check_floating(t, op):
    if not dtypes.is_floating(t.dtype):
        raise RuntimeError(f"{op}: expects a floating-point tensor, got {t.dtype} (shape {tuple(t.shape)}); "
                           f"convert it first, e.g. t = t.float()")


def _fill(t, array, op):
    """Write the sample ``array`` into ``t`` in place (outside the graph, version bumped)."""
    return fill(t, Tensor._make(array.astype(t.dtype, copy=False), t._backend), op)


def _check_probability(p, op):
    if not 0 <= p <= 1:
        raise RuntimeError(f"{op}: expects p to be in [0, 1], but got p={p}")


def _check_probabilities(array, op):
    """One host read: probabilities that lie outside [0, 1] (or are nan) are an error, as in PyTorch."""
    if not bool(((array >= 0) & (array <= 1)).all()):
        raise RuntimeError(f"{op}: expected every probability to be in [0, 1] (no nan), but some are not")


def uniform_(t, low=0.0, high=1.0, generator=None):
    _check_floating(t, "uniform_")
    if low > high:
        raise RuntimeError(f"uniform_: expects to return a [from, to) range, but found from={low} > to={high}")
    check_leaf(t, "uniform_")  # before drawing: a refused call leaves the generator as it was
    u = _draw("rand", t._backend, generator, t.shape, _working_dtype(t.dtype))
    return _fill(t, u * (high - low) + low, "uniform_")


def normal_(t, mean=0.0, std=1.0, generator=None):
    _check_floating(t, "normal_")
    if std < 0:
        raise RuntimeError(f"normal_: expects std >= 0.0, but found std {std}")
    check_leaf(t, "normal_")
    z = _draw("randn", t._backend, generator, t.shape, _working_dtype(t.dtype))
    return _fill(t, z * std + mean, "normal_")


def exponential_(t, lambd=1.0, generator=None):
    _check_floating(t, "exponential_")
    if not lambd > 0:
        raise RuntimeError(f"exponential_: expects lambda > 0.0, but found lambda={lambd}")
    check_leaf(t, "exponential_")
    u = _draw("rand", t._backend, generator, t.shape, _working_dtype(t.dtype))
    return _fill(t, -t._backend.xp.log1p(-u) / lambd, "exponential_")  # inverse CDF; 1 - u > 0


def bernoulli_(t, p=0.5, generator=None):
    """Each element 1 with probability ``p`` (a number, or a tensor that broadcasts to t), else 0."""
    xp = t._backend.xp
    if isinstance(p, Tensor):
        if p._backend is not t._backend:
            raise RuntimeError(f"bernoulli_: p is on {p.device} but the tensor is on {t.device}; move p first")
        _check_probabilities(p.array, "bernoulli_")
        p = xp.broadcast_to(p.array, t.shape)  # raises for a p that doesn't fit
    else:
        _check_probability(p, "bernoulli_")
    check_leaf(t, "bernoulli_")
    u = _draw("rand", t._backend, generator, t.shape, dtypes.float64)
    return _fill(t, u < p, "bernoulli_")


def random_(t, low=0, high=None, generator=None):
    """Integers in [low, high) (stored in t's dtype); high=None: up to 2**mantissa for floats
    (every integer there is exact), the dtype's largest value for integers."""
    dtype = t.dtype
    if high is None:
        high = 2 if dtype == dtypes.bool_ else 2 ** _mantissa_bits(dtype) + 1 if dtypes.is_floating(dtype) \
            else int(np.iinfo(dtype).max) + 1
    if low >= high:
        raise RuntimeError(f"random_: expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if dtype.kind in "iu" and not np.iinfo(dtype).min <= low < high - 1 <= np.iinfo(dtype).max:
        raise RuntimeError(f"random_: [from, to) = [{low}, {high}) is out of bounds for {dtype} "
                           f"([{np.iinfo(dtype).min}, {np.iinfo(dtype).max}]); narrow the range or convert "
                           f"the tensor first")
    check_leaf(t, "random_")
    return _fill(t, _draw("randint", t._backend, generator, low, high, t.shape, dtypes.int64), "random_")


def _mantissa_bits(dtype):
    return np.finfo(dtype).nmant + 1  # float32: 24, float64: 53, float16: 11, bfloat16: 8


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Samples of N(mean, std**2). With a tensor mean and/or std, one sample per element of their
    broadcast shape (their dtype and device); with numbers, ``size`` samples of the default float."""
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    if tensors:
        if size is not None:
            raise TypeError("normal: size= goes with a float mean and std only; with a tensor mean or std the "
                            "result has their (broadcast) shape")
        if len(tensors) == 2 and mean._backend is not std._backend:
            raise RuntimeError(f"normal: mean is on {mean.device} but std on {std.device}; move one of them")
        backend, dtype = tensors[0]._backend, dtypes.result_type(*tensors)
        for t in tensors:
            _check_floating(t, "normal")
        try:
            shape = np.broadcast_shapes(*(t.shape for t in tensors))
        except ValueError:
            raise RuntimeError(f"normal: mean of shape {tuple(mean.shape)} and std of shape {tuple(std.shape)} "
                               f"don't broadcast to one shape") from None
    else:
        if size is None:
            raise TypeError("normal: with a float mean and std, give the shape: normal(mean, std, size=(2, 3))")
        backend, dtype, shape = _device_backend(device), _float_dtype(dtype), shape_tuple((size,))
    if isinstance(std, Tensor):
        if not bool((std.array >= 0).all()):
            raise RuntimeError("normal: expects all elements of std >= 0.0")
    elif std < 0:
        raise RuntimeError(f"normal: expects std >= 0.0, but found std {std}")
    z = _draw("randn", backend, generator, shape, _working_dtype(dtype))
    z = z * (std.array if isinstance(std, Tensor) else std) + (mean.array if isinstance(mean, Tensor) else mean)
    out = Tensor._make(z.astype(dtype, copy=False), backend)
    return out.requires_grad_() if requires_grad else out


def bernoulli(input, p=None, *, generator=None):
    """0/1 samples of ``input``'s dtype and shape: 1 with probability ``input`` (elementwise), or ``p``."""
    if p is None:
        _check_floating(input, "bernoulli")
        _check_probabilities(input.array, "bernoulli")
        p = input.array
    else:
        _check_probability(p, "bernoulli")
    u = _draw("rand", input._backend, generator, input.shape, dtypes.float64)
    return Tensor._make((u < p).astype(input.dtype), input._backend)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Category indices (int64) drawn from each row of ``input``'s (unnormalised) probabilities."""
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {tuple(input.shape)}")
    if not dtypes.is_floating(input.dtype):
        raise RuntimeError(f"multinomial: only supports floating-point dtypes for input, got {input.dtype}; "
                           f"convert with .float()")
    num_samples, categories = int(num_samples), input.shape[-1]
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples (num_samples={num_samples})")
    if not replacement and num_samples > categories:
        raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement "
                           f"({num_samples} > {categories} categories); pass replacement=True or ask for at "
                           f"most {categories}")
    backend, xp = input._backend, input._backend.xp
    rows = input.shape[0] if input.ndim == 2 else 1
    p = input.array.reshape(rows, categories).astype(dtypes.float64)
    if not bool((xp.isfinite(p) & (p >= 0)).all()):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    if rows and not bool((p.sum(axis=-1) > 0).all()):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    if replacement:
        # inverse CDF: sample i is the first category whose cumulative probability exceeds u. The rows are
        # searched at once by shifting row r's CDF and draws to [r, r + 1].
        cdf = xp.cumsum(p, axis=-1)
        cdf /= cdf[:, -1:]  # the last entry exactly 1
        u = _draw("rand", backend, generator, (rows, num_samples), dtypes.float64)
        shift = xp.arange(rows, dtype=dtypes.float64)[:, None]
        flat = xp.searchsorted((cdf + shift).ravel(), (u + shift).ravel(), side="right").reshape(rows, num_samples)
        index = xp.minimum(flat - xp.arange(rows)[:, None] * categories, categories - 1)
    else:
        # an exponential race: category i finishes at E_i / p_i; the first num_samples to finish are a draw
        # without replacement (zero-probability categories finish last, at inf)
        u = _draw("rand", backend, generator, (rows, categories), dtypes.float64)
        with backend.errstate():
            finish = -xp.log1p(-u) / p
        index = xp.argsort(finish, axis=-1)[:, :num_samples]
    index = index.astype(dtypes.int64, copy=False)
    return Tensor._make(index if input.ndim == 2 else index.reshape(num_samples), backend)

