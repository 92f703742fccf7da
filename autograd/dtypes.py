"""Dtypes are NumPy dtype objects; promotion follows PyTorch's rules."""

import functools
import math

import numpy as np

bool_ = np.dtype(np.bool_)
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

_names = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32,
          "bool": bool_, "bfloat16": bfloat16}
# category of a dtype: bool < integer < floating; Python scalars are promoted by category only
_BOOL, _INT, _FLOAT = 0, 1, 2
_DEFAULT = {_BOOL: bool_, _INT: int64, _FLOAT: float32}


@functools.lru_cache(maxsize=None)
def _parse(spec):
    if isinstance(spec, str) and spec in _names and _names[spec] is not None:
        return _names[spec]
    if spec is float:
        return float32
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


def scalar_dtype(value):
    """The dtype PyTorch gives a bare Python scalar: float32, int64 or bool."""
    return bool_ if isinstance(value, bool) else int64 if isinstance(value, int) else float32


def result_type(*operands):
    """PyTorch's promotion: the highest category wins; within it, tensors with dims beat
    zero-dim tensors, which beat Python scalars (which never widen a tensor's dtype)."""
    cat = max(category(o.dtype) if hasattr(o, "dtype") else category(scalar_dtype(o)) for o in operands)
    for dims in (True, False):
        found = [o.dtype for o in operands if hasattr(o, "dtype") and (o.ndim > 0) == dims
                 and category(o.dtype) == cat]
        if found:
            return functools.reduce(np.promote_types, found)
    return _DEFAULT[cat]


def short_name(dtype):
    """'float32' for np.float32; how dtypes appear in reprs and messages."""
    return np.dtype(dtype).name
