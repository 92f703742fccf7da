"""autograd.utils.data against torch.utils.data, and autograd.Generator.

Deterministic outputs (collated batches with their dtypes, dataset indexing, sequential and
batch orders, lengths, split sizes, argument errors) are compared with PyTorch doing the same
thing. Random orders can't match PyTorch's numbers (another RNG), so they are checked for
what must hold: every index once per epoch, frequencies near the weights, and the same order
from the same seed. Worker tests use small datasets; a SIGALRM deadline and a DataLoader
timeout bound each one, so a bug fails the test instead of hanging CI.
"""

import collections
import gc
import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

import autograd as ag
from autograd.utils import data

torch = pytest.importorskip("torch")
tud = torch.utils.data

Point = collections.namedtuple("Point", ["x", "y"])


def assert_same(ours, theirs, where="batch"):
    """Same structure, container types, tensor shapes, dtypes and values as PyTorch's result (or ours)."""
    if isinstance(theirs, (torch.Tensor, ag.Tensor)):  # ag.Tensor: comparing runs with and without workers
        assert isinstance(ours, ag.Tensor), f"{where}: {type(ours).__name__} where PyTorch has a tensor"
        assert tuple(ours.shape) == tuple(theirs.shape), f"{where}: shape {tuple(ours.shape)} != {tuple(theirs.shape)}"
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), f"{where}: {ours.dtype} != {theirs.dtype}"
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=where)
        return
    assert type(ours) is type(theirs), f"{where}: {type(ours).__name__} != {type(theirs).__name__}"
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), f"{where}: keys {list(ours)} != {list(theirs)}"
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}[{key!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), f"{where}: length {len(ours)} != {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert ours == theirs, f"{where}: {ours!r} != {theirs!r}"


# --- collate: every kind of sample, built once per framework (T makes that framework's tensor) ---------

COLLATE_CASES = {
    "float tensors": lambda T: [T(np.arange(6, dtype=np.float32).reshape(2, 3) + i) for i in range(3)],
    "int tensors": lambda T: [T(np.arange(3) * i) for i in range(4)],
    "0-d tensors": lambda T: [T(np.float64(i)) for i in range(3)],
    "numpy float32": lambda T: [np.full((2, 2), i, dtype=np.float32) for i in range(3)],
    "numpy int32 0-d": lambda T: [np.array(i, dtype=np.int32) for i in range(3)],
    "numpy bool": lambda T: [np.array([i % 2 == 0, True]) for i in range(3)],
    "numpy float32 scalars": lambda T: [np.float32(i / 2) for i in range(3)],
    "numpy int64 scalars": lambda T: [np.int64(i) for i in range(3)],
    "numpy bool scalars": lambda T: [np.bool_(i % 2) for i in range(3)],
    "floats": lambda T: [0.5, 1.5, 2.0],
    "ints": lambda T: [1, 2, 3],
    "bools": lambda T: [True, False, True],
    "int then float": lambda T: [1, 2.5],
    "strings": lambda T: ["a", "bc", "def"],
    "bytes": lambda T: [b"a", b"bc"],
    "pairs": lambda T: [(T(np.ones(2, dtype=np.float32) * i), i) for i in range(3)],
    "lists": lambda T: [[1.0 * i, "x", np.float64(i)] for i in range(3)],
    "dicts": lambda T: [{"x": T(np.ones(3) * i), "y": i, "name": f"s{i}"} for i in range(3)],
    "ordered dicts": lambda T: [collections.OrderedDict(b=i, a=float(i)) for i in range(2)],
    "namedtuples": lambda T: [Point(x=T(np.array([i, i + 1], dtype=np.float32)), y=i) for i in range(3)],
    "nested": lambda T: [{"inputs": {"a": np.ones(2) * i, "b": [i, i + 1]},
                          "target": Point(T(np.float32(i)), float(i)), "tags": ("t", i)} for i in range(3)],
}


@pytest.mark.parametrize("case", list(COLLATE_CASES))
def test_default_collate_matches_torch(case):
    make = COLLATE_CASES[case]
    assert_same(data.default_collate(make(ag.tensor)), tud.default_collate(make(torch.tensor)), case)


def test_default_collate_keeps_namedtuple_type_and_stacks_along_a_new_dim():
    batch = data.default_collate([Point(ag.tensor([1.0, 2.0]), 1), Point(ag.tensor([3.0, 4.0]), 2)])
    assert type(batch) is Point
    assert batch.x.tolist() == [[1.0, 2.0], [3.0, 4.0]] and batch.y.tolist() == [1, 2]


def test_default_collate_keeps_gradients_flowing():
    samples = [ag.tensor([1.0, 2.0], requires_grad=True), ag.tensor([3.0, 4.0], requires_grad=True)]
    data.default_collate(samples).sum().backward()
    assert samples[0].grad.tolist() == [1.0, 1.0]


CONVERT_CASES = {
    "numpy array": lambda T: np.arange(4, dtype=np.int32),
    "numpy scalar": lambda T: np.float32(2.5),
    "tensor": lambda T: T(np.ones(2)),
    "tuple": lambda T: (np.ones(2), 3, "s"),
    "list": lambda T: [np.zeros(1), 1.5],
    "dict": lambda T: {"a": np.ones(2, dtype=np.float32), "b": [np.int64(1), "x"]},
    "namedtuple": lambda T: Point(np.ones(1), 2),
    "int": lambda T: 7,
    "string": lambda T: "text",
    "numpy strings": lambda T: np.array(["a", "b"]),
}


@pytest.mark.parametrize("case", list(CONVERT_CASES))
def test_default_convert_matches_torch(case):
    make = CONVERT_CASES[case]
    ours, theirs = data.default_convert(make(ag.tensor)), tud.default_convert(make(torch.tensor))
    if isinstance(theirs, np.ndarray):
        assert ours is not None and np.array_equal(ours, theirs)
    else:
        assert_same(ours, theirs, case)


def test_default_convert_shares_numpy_memory():
    array = np.zeros(3)
    data.default_convert(array)[0] = 5.0
    assert array[0] == 5.0


@pytest.mark.parametrize("batch, error", [
    (lambda T: [T(np.ones(3)), T(np.ones(4))], RuntimeError),
    (lambda T: [np.ones(3), np.ones((3, 1))], RuntimeError),
    (lambda T: [(1, 2), (1, 2, 3)], RuntimeError),
    (lambda T: [object(), object()], TypeError),
    (lambda T: [np.array(["a"]), np.array(["b"])], TypeError),
])
def test_default_collate_errors_match_torch(batch, error):
    with pytest.raises(error):
        tud.default_collate(batch(torch.tensor))
    with pytest.raises(error):
        data.default_collate(batch(ag.tensor))


def test_default_collate_names_the_mismatched_shapes_and_the_fix():
    with pytest.raises(RuntimeError, match=r"shape \(3,\) at index 0 but \(4,\) at index 2.*collate_fn"):
        data.default_collate([ag.ones(3), ag.ones(3), ag.ones(4)])


# --- datasets --------------------------------------------------------------------------------------------

def every_item(dataset):
    return [dataset[i] for i in range(len(dataset))]


def test_tensor_dataset_matches_torch():
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    ours, theirs = data.TensorDataset(ag.tensor(x), ag.tensor(y)), tud.TensorDataset(torch.tensor(x), torch.tensor(y))
    assert len(ours) == len(theirs) == 6
    assert_same(every_item(ours), every_item(theirs))
    assert_same(ours[1:4], theirs[1:4])
    with pytest.raises(ValueError, match=r"sizes \[6, 5\]"):
        data.TensorDataset(ag.tensor(x), ag.tensor(y[:5]))


def test_subset_concat_and_stack_index_like_torch():
    a, b = list(range(10, 15)), list("abc")
    assert every_item(data.Subset(a, [4, 0, 2])) == every_item(tud.Subset(a, [4, 0, 2]))
    ours, theirs = data.ConcatDataset([a, b, a]), tud.ConcatDataset([a, b, a])
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    assert every_item(ours) == every_item(theirs)
    assert [ours[-i] for i in range(1, 14)] == [theirs[-i] for i in range(1, 14)]
    with pytest.raises(IndexError):
        ours[13]
    assert every_item(data.StackDataset(a[:3], b)) == every_item(tud.StackDataset(a[:3], b))
    assert every_item(data.StackDataset(num=a[:3], char=b)) == every_item(tud.StackDataset(num=a[:3], char=b))


def test_subset_passes_batched_reads_through():
    class Batched(data.Dataset):
        def __getitems__(self, indices):
            return [("batched", i) for i in indices]

    assert data.Subset(Batched(), [5, 6, 7]).__getitems__([2, 0]) == [("batched", 7), ("batched", 5)]
    assert data.Subset(list("abcd"), [3, 1]).__getitems__([0, 1]) == ["d", "b"]


def test_stack_dataset_errors_match_torch():
    for make in (lambda m: m.StackDataset([1, 2], [1]), lambda m: m.StackDataset([1], b=[1])):
        with pytest.raises(ValueError):
            make(tud)
        with pytest.raises(ValueError):
            make(data)


class Squares(data.Dataset):
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i

    def __len__(self):
        return self.n


def test_adding_datasets_concatenates_or_chains():
    both = Squares(3) + Squares(2)
    assert isinstance(both, data.ConcatDataset) and every_item(both) == [0, 1, 4, 0, 1]
    chained = RangeStream(0, 3) + RangeStream(10, 12)
    assert isinstance(chained, data.ChainDataset) and list(chained) == [0, 1, 2, 10, 11] and len(chained) == 5
    with pytest.raises(TypeError, match="ChainDataset"):
        data.ConcatDataset([Squares(2), RangeStream(0, 2)])


def test_dataset_base_classes_ask_for_the_missing_method():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        data.Dataset()[0]
    with pytest.raises(NotImplementedError, match="__iter__"):
        iter(data.IterableDataset())


# --- random_split -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, lengths", [
    (11, [0.3, 0.3, 0.4]), (10, [0.5, 0.5]), (7, [0.1, 0.2, 0.7]), (5, [1.0]), (13, [0.25] * 4),
    (10, [3, 7]), (4, [0, 4]), (5, [1]),
])
def test_random_split_lengths_match_torch(n, lengths):
    ours = data.random_split(range(n), lengths, generator=ag.Generator().manual_seed(0))
    theirs = tud.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    taken = sorted(i for subset in ours for i in subset)
    assert taken == list(range(n)), "the parts must be disjoint and cover the dataset"


def test_random_split_fractions_give_the_remainder_to_the_first_parts():
    assert [len(s) for s in data.random_split(range(11), [0.3, 0.3, 0.4])] == [4, 3, 4]


@pytest.mark.parametrize("lengths", [[3, 3], [0.5, 0.6], [1.5, -0.5]])
def test_random_split_rejects_bad_lengths_like_torch(lengths):
    with pytest.raises(ValueError):
        tud.random_split(range(10), lengths)
    with pytest.raises(ValueError):
        data.random_split(range(10), lengths)


def test_random_split_is_reproducible_and_random():
    def split(seed):
        return [list(s) for s in data.random_split(range(20), [5, 15], generator=ag.Generator().manual_seed(seed))]
    assert split(1) == split(1)
    assert split(1) != split(2)
    assert split(1)[0] != list(range(5))


# --- samplers ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False),
                                                      (2, 5, True), (0, 2, False)])
def test_sequential_and_batch_samplers_match_torch(n, batch_size, drop_last):
    ours = data.BatchSampler(data.SequentialSampler(range(n)), batch_size, drop_last)
    theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), batch_size, drop_last)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert list(data.SequentialSampler(range(n))) == list(range(n))


@pytest.mark.parametrize("make, error", [
    (lambda m: m.BatchSampler(range(3), 0, False), ValueError),
    (lambda m: m.BatchSampler(range(3), True, False), ValueError),
    (lambda m: m.BatchSampler(range(3), 2, "no"), ValueError),
    (lambda m: m.RandomSampler(range(3), replacement=1), TypeError),
    (lambda m: m.RandomSampler(range(3), num_samples=0), ValueError),
    (lambda m: m.WeightedRandomSampler([1.0, 2.0], 0), ValueError),
    (lambda m: m.WeightedRandomSampler([[1.0, 2.0]], 2), ValueError),
    (lambda m: m.WeightedRandomSampler([1.0, 2.0], 2, replacement=0), ValueError),
])
def test_sampler_argument_errors_match_torch(make, error):
    with pytest.raises(error):
        make(tud)
    with pytest.raises(error):
        make(data)


def test_random_sampler_without_replacement_gives_every_index_once_per_pass():
    sampler = data.RandomSampler(range(50), generator=ag.Generator().manual_seed(0))
    first, second = list(sampler), list(sampler)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second and first != list(range(50))
    longer = list(data.RandomSampler(range(10), num_samples=25))
    assert len(longer) == 25 and sorted(longer[:20]) == sorted(list(range(10)) * 2)
    assert len(set(longer[20:])) == 5


def test_random_sampler_with_replacement():
    sampler = data.RandomSampler(range(5), replacement=True, num_samples=3000, generator=ag.Generator().manual_seed(0))
    draws = list(sampler)
    assert len(sampler) == len(tud.RandomSampler(range(5), replacement=True, num_samples=3000)) == len(draws)
    counts = np.bincount(draws, minlength=5) / len(draws)
    assert np.all(np.abs(counts - 0.2) < 0.04), counts


def test_subset_random_sampler_permutes_its_indices():
    indices = [3, 8, 11, 20, 42]
    orders = [list(data.SubsetRandomSampler(indices, generator=ag.Generator().manual_seed(s))) for s in range(5)]
    assert all(sorted(order) == indices for order in orders)
    assert len({tuple(order) for order in orders}) > 1
    assert len(data.SubsetRandomSampler(indices)) == 5


def test_weighted_random_sampler_frequencies_follow_the_weights():
    weights = [1.0, 2.0, 3.0, 0.0, 4.0]
    draws = list(data.WeightedRandomSampler(weights, 20000, generator=ag.Generator().manual_seed(0)))
    freqs = np.bincount(draws, minlength=5) / len(draws)
    np.testing.assert_allclose(freqs, np.array(weights) / 10, atol=0.02)
    assert freqs[3] == 0


def test_weighted_random_sampler_without_replacement():
    weights = ag.tensor([1.0, 0.0, 5.0, 2.0, 1.0])  # a tensor, as PyTorch users pass
    for seed in range(10):
        draws = list(data.WeightedRandomSampler(weights, 4, replacement=False,
                                                generator=ag.Generator().manual_seed(seed)))
        assert sorted(draws) == [0, 2, 3, 4]
    with pytest.raises(ValueError, match="4 non-zero weights"):
        data.WeightedRandomSampler(weights, 5, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        data.WeightedRandomSampler([1.0, -1.0], 1)


# --- Generator and the global RNG --------------------------------------------------------------------

def test_generator_api_matches_torch():
    ours, theirs = ag.Generator(), torch.Generator()
    assert ours.initial_seed() == theirs.initial_seed()
    assert ours.manual_seed(123) is ours and ours.initial_seed() == 123
    assert str(ours.device) == str(theirs.device) == "cpu"
    fresh = ours.seed()
    assert isinstance(fresh, int) and fresh >= 0 and ours.initial_seed() == fresh
    assert ag.Generator().manual_seed(-1).initial_seed() == -1


def test_generator_state_round_trip():
    g = ag.Generator().manual_seed(7)
    state = g.get_state()
    assert isinstance(state, ag.Tensor) and str(state.dtype) == "uint8"
    first = ag.randperm(20, generator=g).tolist()
    assert ag.randperm(20, generator=g).tolist() != first
    g.set_state(state)
    assert ag.randperm(20, generator=g).tolist() == first
    with pytest.raises(RuntimeError, match="get_state"):
        g.set_state(ag.tensor([1, 2, 3]))


def test_global_rng_seed_and_state():
    ag.manual_seed(5)
    assert ag.initial_seed() == 5
    state = ag.get_rng_state()
    first = ag.rand(4).tolist()
    ag.set_rng_state(state)
    assert ag.rand(4).tolist() == first
    seed = ag.seed()
    assert ag.initial_seed() == seed
    ag.manual_seed(seed)
    a = ag.rand(3).tolist()
    ag.manual_seed(seed)
    assert ag.rand(3).tolist() == a


def test_randperm():
    p = ag.randperm(10)
    assert p.dtype == ag.int64 and sorted(p.tolist()) == list(range(10))
    assert ag.randperm(5, dtype=ag.float32).dtype == ag.float32
    assert ag.randperm(0).tolist() == []
    assert (ag.randperm(30, generator=ag.Generator().manual_seed(3)).tolist()
            == ag.randperm(30, generator=ag.Generator().manual_seed(3)).tolist())
    with pytest.raises(TypeError, match="Generator"):
        list(data.RandomSampler(range(3), generator=np.random.default_rng(0)))


# --- DataLoader in the main process ---------------------------------------------------------------------

class Records(data.Dataset):
    """Samples with every kind of field, from NumPy (so PyTorch's loader can read it too)."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return {"x": np.full(3, i, dtype=np.float32), "label": i % 3, "weight": i / 2, "name": f"n{i}",
                "pair": (np.int32(i), True)}

    def __len__(self):
        return self.n


class RangeStream(data.IterableDataset):
    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        return iter(range(self.start, self.end))

    def __len__(self):
        return self.end - self.start


class TorchRangeStream(RangeStream, tud.IterableDataset):
    """The same stream, a torch IterableDataset too, so torch's DataLoader treats it as one."""


@pytest.mark.parametrize("kwargs", [dict(batch_size=4), dict(batch_size=4, drop_last=True), dict(batch_size=1),
                                    dict(batch_size=None), dict(batch_size=10)])
def test_map_loader_batches_and_len_match_torch(kwargs):
    ours, theirs = data.DataLoader(Records(10), **kwargs), tud.DataLoader(Records(10), **kwargs)
    assert len(ours) == len(theirs) == len(iter(ours))
    assert_same(list(ours), list(theirs), str(kwargs))


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (3, 5, True),
                                                      (10, None, False)])
def test_iterable_loader_batches_and_len_match_torch(n, batch_size, drop_last):
    ours = data.DataLoader(RangeStream(0, n), batch_size=batch_size, drop_last=drop_last)
    theirs = tud.DataLoader(TorchRangeStream(0, n), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    assert_same(list(ours), list(theirs))


def test_loader_with_batch_sampler_collate_fn_and_pin_memory():
    batches = [[3, 1], [0], [2, 2]]
    loader = data.DataLoader(Squares(4), batch_sampler=batches, collate_fn=list, pin_memory=True)
    assert list(loader) == [[9, 1], [0], [4, 4]] and len(loader) == 3
    assert loader.batch_size is None and loader.sampler is not None


def test_loader_with_a_sampler():
    loader = data.DataLoader(Squares(6), batch_size=2, sampler=[5, 4, 0])
    assert [b.tolist() for b in loader] == [[25, 16], [0]]


@pytest.mark.parametrize("dataset, kwargs", [
    ("map", dict(shuffle=True, sampler=[0, 1])),
    ("map", dict(batch_sampler=[[0]], batch_size=2)),
    ("map", dict(batch_sampler=[[0]], shuffle=True)),
    ("map", dict(batch_sampler=[[0]], sampler=[0])),
    ("map", dict(batch_sampler=[[0]], drop_last=True)),
    ("map", dict(batch_size=None, drop_last=True)),
    ("map", dict(num_workers=-1)),
    ("map", dict(timeout=-1)),
    ("map", dict(prefetch_factor=2)),
    ("map", dict(persistent_workers=True)),
    ("map", dict(multiprocessing_context="spawn")),
    ("iterable", dict(shuffle=True)),
    ("iterable", dict(sampler=[0])),
    ("iterable", dict(batch_sampler=[[0]])),
])
def test_loader_argument_conflicts_raise_like_torch(dataset, kwargs):
    ours, theirs = (Squares(4), list(range(4))) if dataset == "map" else (RangeStream(0, 4), TorchRangeStream(0, 4))
    with pytest.raises(ValueError):
        tud.DataLoader(theirs, **kwargs)
    with pytest.raises(ValueError):
        data.DataLoader(ours, **kwargs)


def shuffled_epochs(seed=None, generator_seed=None, epochs=2, num_workers=0):
    if seed is not None:
        ag.manual_seed(seed)
    generator = None if generator_seed is None else ag.Generator().manual_seed(generator_seed)
    loader = data.DataLoader(Squares(30), batch_size=7, shuffle=True, generator=generator, num_workers=num_workers,
                             timeout=10 if num_workers else 0)
    return [[b.tolist() for b in loader] for _ in range(epochs)]


def test_shuffle_is_reproducible_from_a_generator_or_the_global_seed():
    a = shuffled_epochs(generator_seed=1)
    assert a == shuffled_epochs(generator_seed=1)
    assert a != shuffled_epochs(generator_seed=2)
    assert a[0] != a[1], "each epoch gets a new order"
    assert sorted(sum(a[0], [])) == [i * i for i in range(30)]
    assert shuffled_epochs(seed=3) == shuffled_epochs(seed=3)
    assert shuffled_epochs(seed=3) != shuffled_epochs(seed=4)


def test_worker_info_is_none_in_the_main_process():
    assert data.get_worker_info() is None


# --- DataLoader with worker processes --------------------------------------------------------------------

DEADLINE_S = 30


@pytest.fixture
def workers():
    """Bounds a worker test in time (SIGALRM, as no timeout plugin is assumed) and fails it if it
    leaves child processes behind."""
    if not hasattr(signal, "SIGALRM"):
        pytest.skip("needs SIGALRM for its deadline")

    def expire(signum, frame):
        raise TimeoutError(f"worker test ran past its {DEADLINE_S} s deadline: a DataLoader hang?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(DEADLINE_S)
    try:
        yield
        gc.collect()
        assert multiprocessing.active_children() == [], "worker processes leaked"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def loader(dataset, **kwargs):
    kwargs.setdefault("num_workers", 2)
    kwargs.setdefault("timeout", 10)  # a broken worker fails the test instead of hanging it
    return data.DataLoader(dataset, **kwargs)


def test_workers_give_the_same_batches_as_the_main_process(workers):
    for kwargs in (dict(batch_size=3), dict(batch_size=None), dict(batch_size=4, drop_last=True)):
        expected = list(data.DataLoader(Records(10), **kwargs))
        got = list(loader(Records(10), **kwargs))
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert_same(a, b)
        assert multiprocessing.active_children() == []


def test_workers_with_a_seeded_shuffle_give_the_main_process_order(workers):
    assert shuffled_epochs(generator_seed=5, num_workers=2) == shuffled_epochs(generator_seed=5)


class SlowFirst(data.Dataset):
    """Index 0 takes longest, so worker 1's batches arrive before worker 0's."""

    def __getitem__(self, i):
        if i == 0:
            time.sleep(0.3)
        return i

    def __len__(self):
        return 8


def test_workers_keep_the_sampler_order(workers):
    assert [b.tolist() for b in loader(SlowFirst(), batch_size=2, prefetch_factor=3)] == [[0, 1], [2, 3], [4, 5],
                                                                                           [6, 7]]


_init_marks = []


def mark_worker(worker_id):
    _init_marks.append(("init", worker_id, data.get_worker_info().id))


class WhoLoads(data.Dataset):
    def __getitem__(self, i):
        info = data.get_worker_info()
        return {"index": i, "worker": info.id, "workers": info.num_workers, "seed": info.seed,
                "pid": os.getpid(), "marks": list(_init_marks), "draw": ag.rand(1).item(),
                "same_dataset": info.dataset is self}

    def __len__(self):
        return 8


def test_worker_init_fn_and_worker_info_run_in_each_worker(workers):
    got = list(loader(WhoLoads(), batch_size=None, worker_init_fn=mark_worker))
    assert [s["index"] for s in got] == list(range(8))
    by_worker = {s["worker"]: s for s in got}
    assert set(by_worker) == {0, 1} and all(s["workers"] == 2 for s in got)
    assert all(s["marks"] == [["init", s["worker"], s["worker"]]] for s in got)  # tuples convert to lists
    assert _init_marks == [], "worker_init_fn must run in the workers, not here"
    assert os.getpid() not in {s["pid"] for s in got} and by_worker[0]["pid"] != by_worker[1]["pid"]
    assert by_worker[1]["seed"] == by_worker[0]["seed"] + 1
    assert by_worker[0]["draw"] != by_worker[1]["draw"], "workers must not share a random stream"
    assert all(s["same_dataset"] for s in got)


def plain(batch):
    return batch.tolist() if hasattr(batch, "tolist") else batch


def worker_share(n, info):
    """One worker's items of range(n) (every num_workers-th, from its id; all of them outside a worker),
    the split PyTorch's docs suggest; ``info`` is what get_worker_info() returned."""
    start, step = (0, 1) if info is None else (info.id, info.num_workers)
    return iter(range(start, n, step))


class ShardedStream(data.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return worker_share(self.n, data.get_worker_info())


class TorchShardedStream(ShardedStream, tud.IterableDataset):
    def __iter__(self):  # inside torch's workers only torch knows which worker this is
        return worker_share(self.n, tud.get_worker_info())


@pytest.mark.parametrize("n, batch_size", [(11, 2), (4, None)])
def test_iterable_dataset_workers_interleave_like_torch(workers, n, batch_size):
    ours = [plain(b) for b in loader(ShardedStream(n), batch_size=batch_size)]
    theirs = [plain(b) for b in tud.DataLoader(TorchShardedStream(n), batch_size=batch_size, num_workers=2,
                                                 timeout=10)]
    assert ours == theirs


def test_iterable_dataset_without_sharding_is_read_once_per_worker(workers):
    got = list(loader(RangeStream(0, 3), batch_size=None))
    assert sorted(got) == [0, 0, 1, 1, 2, 2]


def test_persistent_workers_serve_every_epoch(workers):
    the_loader = loader(WhoLoads(), batch_size=None, persistent_workers=True)
    epochs = [[s["pid"] for s in the_loader] for _ in range(2)]
    assert epochs[0] == epochs[1], "the same workers load the second epoch"
    it = iter(the_loader)
    next(it)  # abandoned mid-epoch: the next epoch must not see its leftovers
    del it
    assert [s["index"] for s in the_loader] == list(range(8))
    stream = loader(RangeStream(0, 3), batch_size=None, persistent_workers=True)
    assert sorted(stream) == sorted(stream) == [0, 0, 1, 1, 2, 2]
    del the_loader, stream


def test_abandoned_iterator_stops_its_workers(workers):
    it = iter(loader(Squares(100), batch_size=2))
    assert next(it).tolist() == [0, 1]
    assert len(multiprocessing.active_children()) == 2
    del it
    for batch in loader(Squares(100), batch_size=2):
        break
    del batch


class Faulty(data.Dataset):
    def __init__(self, error):
        self.error = error

    def __getitem__(self, i):
        if i == 3:
            raise self.error
        return i

    def __len__(self):
        return 6


class NeedsTwoArgs(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


@pytest.mark.parametrize("error, expected, match", [
    (ValueError("bad sample 3"), ValueError, "bad sample 3"),
    (KeyError("missing"), KeyError, "missing"),
    (NeedsTwoArgs("x", "y"), RuntimeError, "NeedsTwoArgs: x and y"),
])
def test_worker_exception_surfaces_with_its_traceback(workers, error, expected, match):
    got = []
    with pytest.raises(expected) as info:
        for batch in loader(Faulty(error), batch_size=None):
            got.append(batch)
    message = str(info.value)
    assert got == [0, 1, 2]
    assert f"Caught {type(error).__name__} in DataLoader worker process 1" in message
    assert "Original Traceback (most recent call last)" in message
    assert "in __getitem__" in message and "raise self.error" in message, message
    assert match in message
    del info


def test_iteration_can_continue_after_a_worker_exception(workers):
    it = iter(loader(Faulty(ValueError("skip me")), batch_size=None))
    got = []
    while True:
        try:
            got.append(next(it))
        except ValueError:
            got.append("error")
        except StopIteration:
            break
    assert got == [0, 1, 2, "error", 4, 5]


def failing_init(worker_id):
    raise RuntimeError(f"init failed in {worker_id}")


def test_worker_init_fn_exception_surfaces(workers):
    with pytest.raises(RuntimeError, match=r"(?s)Caught RuntimeError in worker_init_fn.*init failed in"):
        list(loader(Squares(4), worker_init_fn=failing_init))


class Dies(data.Dataset):
    def __init__(self, how):
        self.how = how

    def __getitem__(self, i):
        if i == 2:
            if self.how == "exit":
                os._exit(3)
            os.kill(os.getpid(), signal.SIGKILL)
        return i

    def __len__(self):
        return 6


@pytest.mark.parametrize("how, match", [("exit", "exit code 3"), ("kill", "signal SIGKILL")])
def test_a_dead_worker_raises_instead_of_hanging(workers, how, match):
    # timeout=0: no DataLoader timeout, so only the liveness check can end this (the alarm bounds it)
    with pytest.raises(RuntimeError, match=rf"worker 0 \(pid \d+\) exited unexpectedly with {match}"):
        list(loader(Dies(how), batch_size=None, timeout=0))


class Slow(data.Dataset):
    def __getitem__(self, i):
        time.sleep(1.0)
        return i

    def __len__(self):
        return 2


def test_timeout_raises(workers):
    with pytest.raises(RuntimeError, match="timed out after 0.2 seconds"):
        next(iter(loader(Slow(), timeout=0.2, num_workers=1)))


class Unpicklable(data.Dataset):
    def __getitem__(self, i):
        return lambda: i  # a batch that can't travel between processes

    def __len__(self):
        return 2


def test_a_batch_that_cannot_be_sent_raises_in_the_main_process(workers):
    with pytest.raises(Exception, match="while sending a batch in DataLoader worker process 0"):
        list(loader(Unpicklable(), batch_size=None, collate_fn=lambda x: x, num_workers=1,
                    multiprocessing_context="fork"))


def test_spawned_workers(workers):
    dataset = data.TensorDataset(ag.arange(6).float(), ag.arange(6))
    got = list(loader(dataset, batch_size=4, num_workers=1, multiprocessing_context="spawn"))
    assert [(x.tolist(), y.tolist()) for x, y in got] == [([0.0, 1.0, 2.0, 3.0], [0, 1, 2, 3]),
                                                           ([4.0, 5.0], [4, 5])]
    assert got[1][1].dtype == ag.int64
