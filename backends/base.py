"""The Backend interface: everything autograd needs to know about one kind of device."""

import contextlib

_NOTHING_TO_SILENCE = contextlib.nullcontext()  # stateless, so one instance serves every call


class Backend:
    """One device's array library. Subclasses fill in the methods below.

    ``xp`` is the array namespace (``numpy`` or ``cupy``); op forward kernels are
    written against it once. ``kernels`` maps an op name to a faster kernel that
    replaces the op's generic ``forward`` on this backend (same signature).
    """

    device = None      # the Device this backend serves
    xp = None          # array namespace
    array_type = None  # the namespace's ndarray class: every Tensor.array is exactly one
    kernels = {}       # op name -> override kernel(ctx, *arrays, **attrs); per subclass

    @classmethod
    def register_kernel(cls, op_name):
        """Decorator: use ``fn`` instead of op ``op_name``'s generic forward on this backend."""
        def deco(fn):
            cls.kernels[op_name] = fn
            return fn
        return deco

    # array creation and transfer
    def asarray(self, data, dtype=None):
        raise NotImplementedError

    def to_numpy(self, array):
        raise NotImplementedError

    def from_backend(self, array, source):
        """A copy on this device of ``array``, which lives on backend ``source``."""
        return self.asarray(source.to_numpy(array))

    def is_array(self, obj):
        raise NotImplementedError

    def errstate(self):
        """A context to run kernels in (Op.apply enters it around every kernel): PyTorch gives inf and nan
        silently, so a backend whose array library warns about overflow, division by zero or invalid values
        silences that here; a GPU backend makes its device current, so what a kernel allocates lands there."""
        return _NOTHING_TO_SILENCE

    def run(self, kernel, ctx, arrays, attrs):
        """``kernel(ctx, *arrays, **attrs)`` inside ``errstate()``: how Op.apply calls every kernel. A backend
        may do the same thing faster (it runs once per op, so it is on the hot path)."""
        with self.errstate():
            return kernel(ctx, *arrays, **attrs)

    # special functions the array namespace lacks (NumPy has no erf): SciPy's, by name
    def special(self, name):
        """``scipy.special``'s function ``name`` (erf, digamma, polygamma, i0, ndtri ...) for this backend's
        arrays, elementwise; it returns an array in the dtype of its last argument (SciPy widens float16
        and bfloat16, PyTorch keeps them)."""
        raise NotImplementedError

    def erf(self, array):
        """The error function, elementwise, in ``array``'s dtype."""
        return self.special("erf")(array)

    # the linear algebra the array namespace lacks (xp.linalg has no triangular solve, no LU)
    def scipy_linalg(self):
        """SciPy's linalg for this device's arrays (``scipy.linalg`` or ``cupyx.scipy.linalg``): the
        ``solve_triangular`` and ``lu_factor`` that ``xp.linalg`` lacks, with SciPy's signatures."""
        raise NotImplementedError

    # random numbers
    def seed(self, seed):
        raise NotImplementedError

    def rand(self, shape, dtype):
        raise NotImplementedError

    def randn(self, shape, dtype):
        raise NotImplementedError

    def randint(self, low, high, shape, dtype):
        raise NotImplementedError

    # checks of values on the device
    def check_range(self, key, values, low, high, error, ignore=None):
        """Raise ``error(count, lo, hi)`` when the integer array ``values`` holds entries outside [low, high]
        (entries equal to ``ignore`` excepted): ``count`` of them, with values in [lo, hi]. Here, at once (it
        reads the data on the host). A GPU backend overrides it to record the check on the device without
        waiting and raise at the next host synchronisation instead, as CUDA's device asserts do; checks with
        the same ``key`` share one record there."""
        bad = (values < low) | (values > high)
        if ignore is not None:
            bad &= values != ignore
        if bad.any():
            found = values[bad]
            raise error(int(found.size), int(found.min()), int(found.max()))

    def raise_deferred_errors(self):
        """Raise the first error a deferred ``check_range`` recorded (a no-op where checks are immediate)."""

    # device control
    def synchronize(self):
        raise NotImplementedError

    def memory_stats(self):
        """{"allocated_bytes", "peak_bytes", "reserved_bytes"}: what's in use, its high-water mark, what's held."""
        raise NotImplementedError

    def empty_cache(self):
        """Give cached, unused memory back to the device (a no-op where nothing is cached)."""

    def device_name(self):
        """The hardware's name, for benchmark reports."""
        raise NotImplementedError

    def __reduce__(self):
        # one backend per device: copies and unpickled tensors must find the same object
        from . import get_backend
        return get_backend, (str(self.device),)

    def __repr__(self):
        return f"<{type(self).__name__} {self.device}>"
