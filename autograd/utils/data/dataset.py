"""Datasets: what a DataLoader reads from (torch.utils.data.dataset).

A map-style Dataset answers ``dataset[i]`` and ``len(dataset)``; an IterableDataset is a
stream read with ``iter(dataset)``. The rest wrap or combine datasets without copying data.
"""

import bisect
import itertools
import math
import warnings

from ...tensor import randperm


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__`` (and usually ``__len__``)."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: a Dataset subclass must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define ``__iter__``. With DataLoader workers each worker
    iterates its own copy, so a dataset that must not repeat samples shards itself by
    ``get_worker_info()``."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__}: an IterableDataset subclass must define __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Sample i is ``(t[i] for t in tensors)``: the tensors share their first dimension."""

    def __init__(self, *tensors):
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) > 1:
            raise ValueError(f"TensorDataset: every tensor needs the same size in dim 0, got sizes {sizes} "
                             f"(shapes {[tuple(t.shape) for t in tensors]})")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class StackDataset(Dataset):
    """Sample i gathers sample i of each dataset: a tuple from ``StackDataset(a, b)``, a dict
    from ``StackDataset(image=a, label=b)``."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("StackDataset: pass the datasets either positionally (samples are tuples) or "
                             "by keyword (samples are dicts), not both")
        if not args and not kwargs:
            raise ValueError("StackDataset: needs at least one dataset")
        self.datasets = args or kwargs
        lengths = {name: len(ds) for name, ds in (kwargs.items() if kwargs else enumerate(args))}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"StackDataset: the datasets must have equal lengths, got {lengths}")
        self._length = next(iter(lengths.values()))

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {name: ds[index] for name, ds in self.datasets.items()}
        return tuple(ds[index] for ds in self.datasets)

    def __len__(self):
        return self._length


class ConcatDataset(Dataset):
    """Map-style datasets one after another: index ``len(a)`` is ``b[0]``."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for i, ds in enumerate(self.datasets):
            if isinstance(ds, IterableDataset):
                raise TypeError(f"ConcatDataset: dataset {i} ({type(ds).__name__}) is an IterableDataset, which has "
                                f"no indices; chain iterable datasets with ChainDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(ds) for ds in self.datasets))

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"ConcatDataset: index {index} is out of range for a dataset of length {len(self)}")
        index %= len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


class ChainDataset(IterableDataset):
    """Iterable datasets one after another."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for ds in self.datasets:
            yield from ds

    def __len__(self):
        return sum(len(ds) for ds in self.datasets)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, renumbered 0..len(indices)-1."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices):
        # the batched read the DataLoader prefers; passed on when the wrapped dataset has one
        inner = [self.indices[i] for i in indices]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(inner)
        return [self.dataset[i] for i in inner]

    def __len__(self):
        return len(self.indices)


def _lengths_from_fractions(fractions, total):
    """Each part gets floor(fraction * total); the leftover samples go one each to the parts in
    order, round-robin, so [0.3, 0.3, 0.4] of 11 is [4, 3, 4] (PyTorch's rule)."""
    for i, frac in enumerate(fractions):
        if not 0 <= frac <= 1:
            raise ValueError(f"random_split: fraction at index {i} is {frac}, not between 0 and 1")
    lengths = [math.floor(total * frac) for frac in fractions]
    for i in range(total - sum(lengths)):
        lengths[i % len(lengths)] += 1
    for i, length in enumerate(lengths):
        if length == 0:
            warnings.warn(f"random_split: part {i} of the split is empty (fraction {fractions[i]} of {total} samples)")
    return lengths


def random_split(dataset, lengths, generator=None):
    """Disjoint random Subsets of ``dataset`` with the given lengths (ints summing to
    ``len(dataset)``, or fractions summing to 1). Pass ``generator`` for a reproducible split."""
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        lengths = _lengths_from_fractions(lengths, len(dataset))
    if sum(lengths) != len(dataset):
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the dataset has "
                         f"{len(dataset)} samples; give lengths that sum to {len(dataset)} or fractions that sum to 1")
    order = randperm(sum(lengths), generator=generator).tolist()
    ends = list(itertools.accumulate(lengths))
    return [Subset(dataset, order[end - length:end]) for end, length in zip(ends, lengths)]
