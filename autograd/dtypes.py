"""Dtypes are NumPy dtype objects; promotion follows PyTorch's rules."""

import functools
import math

import numpy as np

bool_ = np.dtype(np.bool_)
uint8 = np.dtype(np.uint8)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
try:  # bfloat16 exists where the ml_dtypes package is installed
    import ml_dtypes
    bfloat16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:
    bfloat16 = None

_names = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32, "short": int16,
          "bool": bool_, "bfloat16": bfloat16}
# category of a dtype: bool < integer < floating; Python scalars are promoted by category only
_BOOL, _INT, _FLOAT = 0, 1, 2
_DEFAULT = {_BOOL: bool_, _INT: int64}  # floating: default_float()
_default_float = float32

# Tensor.type()'s names, PyTorch's exact strings (scripts compare them)
TYPE_NAMES = {dtype: name for dtype, name in (
    (float32, "FloatTensor"), (float64, "DoubleTensor"), (float16, "HalfTensor"), (bfloat16, "BFloat16Tensor"),
    (uint8, "ByteTensor"), (int8, "CharTensor"), (int16, "ShortTensor"), (int32, "IntTensor"),
    (int64, "LongTensor"), (bool_, "BoolTensor")) if dtype is not None}


@functools.lru_cache(maxsize=None)
def _parse(spec):
    if isinstance(spec, str) and spec in _names and _names[spec] is not None:
        return _names[spec]
    if spec is float:  # a Python float is a double, in PyTorch as in NumPy
        return float64
    if spec is int:
        return int64
    return np.dtype(spec)


def to_dtype(spec):
    """A dtype from ``ag.float32``, ``"float64"``, ``float``, ``np.int32``... (None stays None)."""
    if spec is None or isinstance(spec, np.dtype):
        return spec
    try:
        return _parse(spec)
    except TypeError:
        raise TypeError(f"dtype: {spec!r} is not a dtype; use ag.float32, ag.int64, 'float64', ...") from None


def category(dtype):
    kind = dtype.kind
    return _BOOL if kind == "b" else _INT if kind in "iu" else _FLOAT


def is_floating(dtype):
    return dtype.kind == "f" or dtype == bfloat16


def is_low_precision(dtype):
    """float16 and bfloat16: PyTorch computes with them in float32 ("op math") and rounds once."""
    return dtype == float16 or (bfloat16 is not None and dtype == bfloat16)


def widened_by_python_floats(dtype):
    """NumPy keeps its own dtypes when a Python float joins in (NEP 50), but takes a bfloat16 array
    (from ml_dtypes) plus a Python float to float32; PyTorch keeps bfloat16."""
    return bfloat16 is not None and dtype == bfloat16


def overflows(dtype, value):
    """Whether a finite Python number is beyond float16/bfloat16's range, which PyTorch refuses
    as a scalar of that dtype (other dtypes take any float)."""
    if not is_low_precision(dtype) or not math.isfinite(value):
        return False
    finfo = np.finfo(dtype) if dtype == float16 else ml_dtypes.finfo(dtype)
    return abs(value) > float(finfo.max)


def default_float():
    """The dtype of Python floats and of floating factories (zeros, rand, arange(0.5) ...): float32
    unless set_default_dtype changed it. Every "default float" in the library asks here."""
    return _default_float


def set_default_dtype(dtype):
    """PyTorch's torch.set_default_dtype: the floating dtype Python floats and factories get."""
    global _default_float
    dtype = to_dtype(dtype)
    if dtype is None or not is_floating(dtype):
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, got "
                        f"{dtype}; use ag.float32 (the default), ag.float64, ag.float16 or ag.bfloat16")
    _default_float = dtype


def get_default_dtype():
    return _default_float


def scalar_dtype(value):
    """The dtype PyTorch gives a bare Python scalar: the default float, int64 or bool."""
    return bool_ if isinstance(value, bool) else int64 if isinstance(value, int) else _default_float


def result_type(*operands):
    """PyTorch's promotion: the highest category wins; within it, tensors with dims beat
    zero-dim tensors, which beat Python scalars (which never widen a tensor's dtype)."""
    cat = max(category(o.dtype) if hasattr(o, "dtype") else category(scalar_dtype(o)) for o in operands)
    for dims in (True, False):
        found = [o.dtype for o in operands if hasattr(o, "dtype") and (o.ndim > 0) == dims
                 and category(o.dtype) == cat]
        if found:
            return functools.reduce(np.promote_types, found)
    return _default_float if cat == _FLOAT else _DEFAULT[cat]


def short_name(dtype):
    """'float32' for np.float32; how dtypes appear in reprs and messages."""
    return np.dtype(dtype).name
