"""Samplers: the order in which a DataLoader reads a map-style dataset (torch.utils.data.sampler).

A sampler is an iterable of indices; a BatchSampler turns one into lists of indices. Random
samplers draw from their ``generator`` or, without one, from a seed taken from the global
RNG at the start of each epoch, so ``ag.manual_seed(s)`` makes the epochs reproducible.
"""

import numpy as np

from ...random import numpy_generator


def _positive_int(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{owner}: {name} should be a positive integer, got {name}={value!r}")


def _bool(owner, name, value, error=ValueError):
    if not isinstance(value, bool):
        raise error(f"{owner}: {name} should be a boolean (True or False), got {name}={value!r}")


class Sampler:
    """An iterable of dataset indices; subclasses define ``__iter__`` (and ``__len__`` when known)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__}: a Sampler subclass must define __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A shuffled order. Without replacement every index appears once per pass (and
    ``num_samples`` beyond ``len(data_source)`` starts further passes); with replacement each
    of the ``num_samples`` draws is uniform."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        _bool("RandomSampler", "replacement", replacement, TypeError)  # PyTorch raises TypeError here only
        if num_samples is not None:
            _positive_int("RandomSampler", "num_samples", num_samples)
        self.data_source, self.replacement, self._num_samples, self.generator = \
            data_source, replacement, num_samples, generator

    @property
    def num_samples(self):
        # read lazily: the data source may grow after the sampler is made
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, count = len(self.data_source), self.num_samples
        rng = numpy_generator(self.generator)
        if self.replacement:
            yield from rng.integers(0, n, size=count).tolist()
            return
        for _ in range(count // n):
            yield from rng.permutation(n).tolist()
        yield from rng.permutation(n)[:count % n].tolist()

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order, each once."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        for i in numpy_generator(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices into ``weights``, index i drawn with probability proportional to
    ``weights[i]`` (the weights need not sum to 1)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        _positive_int("WeightedRandomSampler", "num_samples", num_samples)
        _bool("WeightedRandomSampler", "replacement", replacement)
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1-d sequence, got shape {weights.shape}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite and non-negative, with a positive sum; "
                             f"got {weights.tolist() if weights.size <= 10 else weights}")
        if not replacement and num_samples > np.count_nonzero(weights):
            raise ValueError(f"WeightedRandomSampler: can't draw num_samples={num_samples} without replacement from "
                             f"{np.count_nonzero(weights)} non-zero weights; use replacement=True or fewer samples")
        self.weights, self.num_samples, self.replacement, self.generator = weights, num_samples, replacement, generator

    def __iter__(self):
        rng = numpy_generator(self.generator)
        picks = rng.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                           p=self.weights / self.weights.sum())
        return iter(picks.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last may be shorter unless
    ``drop_last``."""

    def __init__(self, sampler, batch_size, drop_last):
        _positive_int("BatchSampler", "batch_size", batch_size)
        _bool("BatchSampler", "drop_last", drop_last)
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)
