"""Turning a list of samples into a batch (torch.utils.data default_collate / default_convert).

The batch keeps the samples' structure: tensors, arrays and numbers become one tensor with a
new leading batch dimension; dicts, namedtuples and sequences are collated field by field.
"""

import collections.abc
import copy

import numpy as np

from ... import dtypes
from ...ops import stack
from ...tensor import Tensor, from_numpy, tensor


def _is_numpy_text(array):
    # bytes, unicode and object arrays have no tensor dtype: they pass through unchanged
    return array.dtype.kind in "SUO"


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def _check_same_shape(batch):
    shapes = [tuple(item.shape) for item in batch]
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise RuntimeError(f"default_collate: can't stack samples of different shapes into one batch: shape "
                               f"{shapes[0]} at index 0 but {shape} at index {i}; pad or crop them to one shape "
                               f"in the dataset, or pass a collate_fn that handles variable sizes")


def _stack_tensors(batch):
    if not all(isinstance(t, Tensor) for t in batch):
        raise TypeError(f"default_collate: a batch that starts with a Tensor must hold only Tensors, got "
                        f"{sorted({type(t).__name__ for t in batch})}")
    _check_same_shape(batch)
    first = batch[0]
    if any(t.requires_grad for t in batch) or any(t._backend is not first._backend for t in batch):
        return stack(batch)  # the op records the graph and checks devices
    # the common case, data with no history: one stack on the arrays, no graph
    xp = first._backend.xp
    array = xp.stack([t.array for t in batch]).astype(dtypes.result_type(*batch), copy=False)
    return Tensor._make(array, first._backend)


def _collate_mapping(elem, batch, collate):
    values = {key: collate([sample[key] for sample in batch]) for key in elem}
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)  # keeps the mapping's type and any attributes it carries
            clone.update(values)
            return clone
        return type(elem)(values)
    except TypeError:  # a mapping type that can't be rebuilt from a dict
        return values


def _rebuild_sequence(elem, items):
    """A sequence of ``elem``'s type holding ``items``; a plain list when the type won't take them."""
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            clone[:] = items
            return clone
        return type(elem)(items)
    except TypeError:
        return items


def default_collate(batch):
    """One batch from a list of samples: tensors are stacked, NumPy arrays and scalars become
    stacked tensors, Python floats float64, ints int64 and bools bool tensors; strings stay a
    list; dicts are collated per key, namedtuples per field, and tuples/lists are transposed
    (a list of (x, y) pairs becomes [xs, ys])."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        if _is_numpy_text(elem):
            raise TypeError(f"default_collate: NumPy arrays of dtype {elem.dtype} can't become tensors; "
                            f"convert them to numbers, or pass a collate_fn")
        _check_same_shape(batch)
        return from_numpy(np.stack(batch))
    if isinstance(elem, (np.bool_, np.number)):
        return from_numpy(np.array(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=dtypes.float64)
    if isinstance(elem, int):  # bool too: tensor() keeps [True, False] as a bool tensor
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _collate_mapping(elem, batch, default_collate)
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(field) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        sizes = [len(sample) for sample in batch]
        if len(set(sizes)) > 1:
            raise RuntimeError(f"default_collate: each sequence in the batch should have the same length, got "
                               f"lengths {sizes}; make the samples equally long, or pass a collate_fn")
        fields = [default_collate(field) for field in zip(*batch)]  # strings stay tuples here, as in PyTorch
        return fields if isinstance(elem, tuple) else _rebuild_sequence(elem, fields)
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem)}; pass a collate_fn for other types")


def default_convert(data):
    """What a DataLoader with ``batch_size=None`` does to each sample: NumPy arrays and scalars
    become tensors (sharing memory), containers are converted element by element, and
    everything else (tensors, Python numbers, strings) is returned as it is."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _is_numpy_text(data) else from_numpy(data)
    if isinstance(data, (np.bool_, np.number)):
        return from_numpy(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _collate_mapping(data, [data], lambda values: default_convert(values[0]))
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data
