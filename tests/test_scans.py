"""Reductions, scans, sorting and selection beyond the op table's rows (tests/rows_reduction.py): the named
tuples' types and fields, integer and bool inputs, dtype=, unique's variants, tie-breaking and refusals,
each held to what PyTorch does with the same call."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import autograd as ag
from autograd.ops import scans
from conftest import assert_close, to_numpy


def both(fn, *arrays):
    """fn applied to ndgrad tensors and to torch tensors holding the same data."""
    return fn(ag, *[ag.tensor(a) for a in arrays]), fn(torch, *[torch.from_numpy(np.array(a)) for a in arrays])


def assert_same(got, expected):
    """Same structure, dtypes and values (NaN equal to NaN)."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_same(g, e)
        return
    assert str(got.dtype).replace("torch.", "") == str(expected.dtype).replace("torch.", "")
    assert_close(got, expected, rtol=1e-6, atol=1e-12)


# --- named tuples --------------------------------------------------------------------------------------

DATA = np.array([[3.0, -1.0, 2.0, 0.5], [1.0, 4.0, -2.0, 2.5], [0.0, 1.5, -0.5, 3.5]])

NAMED = {
    "sort": lambda lib, x: lib.sort(x, dim=1),
    "topk": lambda lib, x: lib.topk(x, 2),
    "kthvalue": lambda lib, x: lib.kthvalue(x, 2, dim=0),
    "median": lambda lib, x: lib.median(x, 1),
    "nanmedian": lambda lib, x: lib.nanmedian(x, 0),
    "mode": lambda lib, x: lib.mode(x),
    "cummax": lambda lib, x: lib.cummax(x, 1),
    "cummin": lambda lib, x: lib.cummin(x, 0),
    "max": lambda lib, x: lib.max(x, 1),
    "min": lambda lib, x: lib.min(x, dim=0, keepdim=True),
    "aminmax": lambda lib, x: lib.aminmax(x, dim=1),
    "aminmax_all": lambda lib, x: lib.aminmax(x),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_tuples_match_torch_return_types(name):
    got, expected = both(NAMED[name], DATA)
    assert type(got).__name__ == type(expected).__name__
    assert len(got._fields) == expected.n_fields
    for field in got._fields:  # torch's fields are attributes of its result
        assert_same(getattr(got, field), getattr(expected, field))
    values, indices = got if got._fields[0] == "values" else (None, None)
    if values is not None:
        assert indices.dtype == ag.int64 and values.dtype == ag.float64


def test_every_method_is_a_torch_tensor_method():
    for name in scans.METHODS:
        assert hasattr(torch.Tensor, name), name
        assert getattr(ag.Tensor, name) is getattr(scans, name)


# --- integer and bool inputs, dtype= -------------------------------------------------------------------

INTS = np.array([[3, -1, 2, 2], [0, 4, -2, 4], [1, 1, -3, 2]])

INTEGER_CALLS = [
    lambda lib, i: lib.prod(i, 1),
    lambda lib, i: i.prod(),
    lambda lib, i: lib.cumsum(i, 0),
    lambda lib, i: i.cumprod(1),
    lambda lib, i: lib.nansum(i, 1),
    lambda lib, i: lib.count_nonzero(i, 0),
    lambda lib, i: tuple(lib.sort(i, dim=0, stable=True)),
    lambda lib, i: tuple(lib.sort(i, descending=True, stable=True)),
    lambda lib, i: lib.argsort(i, dim=1, stable=True),
    lambda lib, i: tuple(lib.cummax(i, 1)),
    lambda lib, i: tuple(lib.cummin(i, 0)),
    lambda lib, i: tuple(lib.mode(i, 1)),
    lambda lib, i: tuple(lib.topk(i.T, 1)),
    lambda lib, i: tuple(lib.aminmax(i, dim=0)),
    lambda lib, i: tuple(lib.median(i, 0)),
    lambda lib, i: i.median(),
    lambda lib, i: lib.msort(i),
]


@pytest.mark.parametrize("call", range(len(INTEGER_CALLS)))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_integer_and_bool_inputs(call, dtype):
    """Integers stay integers (sums and products in int64), as in PyTorch."""
    fn = INTEGER_CALLS[call]
    data = INTS.astype(dtype)
    expected_error = None
    try:
        expected = fn(torch, torch.from_numpy(data))
    except RuntimeError as e:  # torch has no kernel for some of these on bool
        expected_error = e
    if expected_error is not None:
        with pytest.raises(Exception):
            fn(ag, ag.tensor(data))
        return
    assert_same(fn(ag, ag.tensor(data)), expected)


@pytest.mark.parametrize("fn", [
    lambda lib, x, i: lib.prod(x, 1, dtype=lib.float64),
    lambda lib, x, i: x.prod(dtype=lib.float64),
    lambda lib, x, i: lib.prod(i, dtype=lib.float32),
    lambda lib, x, i: lib.cumsum(i, 1, dtype=lib.float64),
    lambda lib, x, i: i.cumsum(0, dtype=lib.int32),
    lambda lib, x, i: lib.cumprod(x, 0, dtype=lib.float64),
    lambda lib, x, i: lib.nansum(x, dtype=lib.float64),
    lambda lib, x, i: lib.nanmean(x, 1, dtype=lib.float64),
])
def test_dtype_argument(fn):
    got, expected = both(fn, DATA.astype(np.float32), INTS)
    assert_same(got, expected)


def test_dtype_argument_gradient_comes_back_in_the_input_dtype():
    for lib in (ag, torch):
        x = lib.tensor(DATA.astype(np.float32), requires_grad=True)
        lib.cumsum(x, 1, dtype=lib.float64).sum().backward()
        assert str(x.grad.dtype).replace("torch.", "") == "float32"


# --- unique and friends: every combination of flags ----------------------------------------------------

UNIQUE_DATA = np.array([[2, 0, 2, 1], [2, 0, 2, 1], [0, 3, 0, 1]])


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("return_inverse", [False, True])
@pytest.mark.parametrize("return_counts", [False, True])
@pytest.mark.parametrize("fn", ["unique", "unique_consecutive"])
def test_unique_variants(fn, dim, return_inverse, return_counts):
    got, expected = both(lambda lib, x: getattr(lib, fn)(x, return_inverse=return_inverse,
                                                         return_counts=return_counts, dim=dim), UNIQUE_DATA)
    assert_same(got, expected)


@pytest.mark.parametrize("data", [np.array([1.5, np.nan, -0.5, 1.5, 0.0, np.nan]), np.array([], dtype=np.float32),
                                  np.array(True), np.array([[True, False], [True, True]])])
def test_unique_other_dtypes_and_shapes(data):
    for fn in (lambda lib, x: lib.unique(x, return_inverse=True, return_counts=True),
               lambda lib, x: lib.unique_consecutive(x, return_counts=True)):
        got, expected = both(fn, data)
        assert_same(got, expected)


def test_unique_is_not_recorded():
    x = ag.tensor([1.0, 2.0, 1.0], requires_grad=True)
    assert not ag.unique(x).requires_grad  # torch records a node whose backward is not implemented


# --- ties: which index torch picks -----------------------------------------------------------------------

TIES = np.array([[1.0, 2.0, 2.0, 2.0, 3.0], [2.0, 1.0, 2.0, 2.0, 0.0], [5.0, 5.0, 5.0, 5.0, 5.0]])


@pytest.mark.parametrize("fn", [
    lambda lib, x: tuple(lib.sort(x, stable=True)),
    lambda lib, x: tuple(lib.sort(x, descending=True, stable=True)),
    lambda lib, x: tuple(lib.median(x, 1)),
    lambda lib, x: tuple(lib.mode(x, 1)),
    lambda lib, x: tuple(lib.cummax(x, 1)),
    lambda lib, x: tuple(lib.cummin(x, 1)),
])
def test_tie_breaking_matches_torch(fn):
    got, expected = both(fn, TIES)
    assert_same(got, expected)


@pytest.mark.parametrize("fn", [
    lambda lib, x: lib.topk(x, 2),
    lambda lib, x: lib.topk(x, 3, largest=False),
    lambda lib, x: lib.kthvalue(x, 2),
    lambda lib, x: lib.kthvalue(x, 4, dim=1, keepdim=True),
])
def test_ties_in_topk_and_kthvalue_pick_equal_values(fn):
    """Which of tied elements torch's topk and kthvalue pick depends on its selection kernel; the values
    must agree and the indices must point at them (ndgrad picks in stable sorted order)."""
    got, expected = both(fn, TIES)
    assert_same(got.values, expected.values)
    indices = to_numpy(got.indices)
    picked = np.take_along_axis(TIES, indices if indices.ndim == 2 else indices[:, None], 1)
    assert_close(picked.reshape(to_numpy(got.values).shape), expected.values)


NANS = np.array([[1.0, np.nan, 3.0, 0.5, np.nan], [2.0, 4.0, np.nan, 5.0, -1.0], [np.nan] * 5])


@pytest.mark.parametrize("fn", [
    lambda lib, x: tuple(lib.sort(x, stable=True)),
    lambda lib, x: tuple(lib.sort(x, descending=True, stable=True)),
    lambda lib, x: tuple(lib.cummax(x, 1)),
    lambda lib, x: tuple(lib.cummin(x, 1)),
    lambda lib, x: tuple(lib.median(x, 1)),
    lambda lib, x: (*lib.nanmedian(x[:2], 1), lib.nanmedian(x, 1).values),  # (an all-NaN row: torch's index is
    lambda lib, x: (lib.median(x), lib.nanmedian(x), lib.nanmedian(x[:2])),  # an artifact of its selection kernel)
    lambda lib, x: (lib.quantile(x, 0.3, dim=1), lib.nanquantile(x, 0.3, dim=1), lib.nanquantile(x, 0.6)),
    lambda lib, x: (lib.nansum(x, 1), lib.nanmean(x, 1), lib.nanmean(x)),
])
def test_nan_handling_matches_torch(fn):
    got, expected = both(fn, NANS)
    assert_same(got, expected)


def test_median_over_all_elements_shares_the_gradient_between_ties():
    results = []
    for lib in (ag, torch):
        x = lib.tensor(TIES, requires_grad=True)
        x.median().backward()
        results.append(x.grad)
    assert_same(*results)


@pytest.mark.parametrize("fn", [
    lambda lib, x: lib.prod(x, 1),
    lambda lib, x: lib.prod(x),
    lambda lib, x: lib.cumprod(x, 1),
    lambda lib, x: lib.cumprod(x, 0),
])
def test_gradients_with_several_zeros(fn):
    data = np.array([[0.0, 2.0, 0.0, 3.0], [1.5, 0.0, -2.0, 0.5], [0.0, 0.0, 0.0, 1.0]])
    grads = []
    for lib in (ag, torch):
        x = lib.tensor(data, requires_grad=True)
        y = fn(lib, x)
        y.backward(lib.tensor(np.linspace(-1, 1, y.numel()).reshape(tuple(y.shape))))
        grads.append(x.grad)
    assert_same(*grads)


# --- refusals: where torch refuses, with a message that names the op ------------------------------------

REFUSED = {
    "var_int": lambda lib: lib.var(lib.tensor([1, 2, 3])),
    "std_bool": lambda lib: lib.tensor([True, False]).std(),
    "var_unbiased_and_correction": lambda lib: lib.var(lib.tensor([1.0, 2.0]), 0, True, correction=0),
    "topk_k_too_large": lambda lib: lib.topk(lib.tensor([1.0, 2.0]), 3),
    "topk_negative_k": lambda lib: lib.tensor([1.0, 2.0]).topk(-1),
    "kthvalue_zero": lambda lib: lib.kthvalue(lib.tensor([1.0, 2.0]), 0),
    "kthvalue_too_large": lambda lib: lib.tensor([[1.0, 2.0]]).kthvalue(2, dim=0),
    "sort_dim_out_of_range": lambda lib: lib.sort(lib.tensor([1.0, 2.0]), dim=1),
    "cumsum_dim_out_of_range": lambda lib: lib.cumsum(lib.ones(2, 3), dim=-3),
    "median_empty_dim": lambda lib: lib.median(lib.ones(2, 0), 1),
    "mode_empty_dim": lambda lib: lib.mode(lib.ones(0, 2), 0),
    "quantile_q_above_one": lambda lib: lib.quantile(lib.tensor([1.0, 2.0]), 1.5),
    "quantile_int": lambda lib: lib.quantile(lib.tensor([1, 2]), 0.5),
    "quantile_half": lambda lib: lib.quantile(lib.tensor([1.0, 2.0], dtype=lib.float16), 0.5),
    "quantile_empty": lambda lib: lib.quantile(lib.ones(0), 0.5),
    "quantile_q_2d": lambda lib: lib.quantile(lib.tensor([1.0, 2.0]), lib.tensor([[0.5]])),
    "quantile_bad_interpolation": lambda lib: lib.quantile(lib.tensor([1.0, 2.0]), 0.5, interpolation="cubic"),
    "nanmean_int": lambda lib: lib.nanmean(lib.tensor([1, 2])),
    "bincount_2d": lambda lib: lib.bincount(lib.tensor([[1, 2]])),
    "bincount_negative": lambda lib: lib.bincount(lib.tensor([1, -2])),
    "bincount_float": lambda lib: lib.bincount(lib.tensor([1.0, 2.0])),
    "bincount_weights_length": lambda lib: lib.bincount(lib.tensor([1, 2]), lib.tensor([1.0])),
    "histc_int": lambda lib: lib.histc(lib.tensor([1, 2])),
    "histc_min_above_max": lambda lib: lib.histc(lib.tensor([1.0, 2.0]), bins=3, min=2, max=1),
    "searchsorted_left_and_right": lambda lib: lib.searchsorted(lib.tensor([1.0, 2.0]), lib.tensor([1.5]),
                                                               side="left", right=True),
    "searchsorted_rows_mismatch": lambda lib: lib.searchsorted(lib.ones(2, 3), lib.ones(3, 1)),
    "bucketize_2d_boundaries": lambda lib: lib.bucketize(lib.tensor([1.0]), lib.ones(2, 2)),
    "unique_dim_out_of_range": lambda lib: lib.unique(lib.tensor([1, 2]), dim=1),
    "aminmax_empty": lambda lib: lib.aminmax(lib.ones(0)),
    "prod_dims_tuple": lambda lib: lib.prod(lib.ones(2, 3), (0, 1)),
    "logcumsumexp_int": lambda lib: lib.logcumsumexp(lib.tensor([1, 2]), 0),
    "topk_bool": lambda lib: lib.topk(lib.tensor([True, False]), 1),
    "kthvalue_bool": lambda lib: lib.kthvalue(lib.tensor([True, False]), 1),
    "median_bool": lambda lib: lib.median(lib.tensor([True, False])),
    "nanmedian_bool": lambda lib: lib.nanmedian(lib.tensor([True, False]), 0),
    "searchsorted_bool": lambda lib: lib.searchsorted(lib.tensor([False, True]), lib.tensor([True])),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refuses_what_torch_refuses(name):
    fn = REFUSED[name]
    with pytest.raises(Exception) as torch_error:
        fn(torch)
    with pytest.raises(Exception) as error:
        fn(ag)
    # the same kind of exception where torch's is one of Python's own (torch's other errors are RuntimeErrors)
    kind = torch_error.type if torch_error.type in (IndexError, TypeError, ValueError) else RuntimeError
    assert issubclass(error.type, kind) or (kind is RuntimeError and error.type is ValueError), \
        f"{name}: torch raises {torch_error.type.__name__}, ndgrad {error.type.__name__}: {error.value}"
    op = name.split("_")[0]
    assert op in str(error.value), f"{name}: the message does not name the op: {error.value}"


# --- hypothesis: random shapes, dims and flags against torch ---------------------------------------------

@st.composite
def dim_args(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    return shape, draw(st.integers(-len(shape), len(shape) - 1)), draw(st.booleans())


FUNCTIONS = {
    "var": lambda lib, x, d, k: lib.var(x, d, keepdim=k, correction=0 if k else 1),
    "std": lambda lib, x, d, k: x.std(d, keepdim=k),
    "prod": lambda lib, x, d, k: lib.prod(x, d, keepdim=k),
    "cumsum": lambda lib, x, d, k: x.cumsum(d),
    "cumprod": lambda lib, x, d, k: lib.cumprod(x, d),
    "logcumsumexp": lambda lib, x, d, k: lib.logcumsumexp(x, d),
    "cummax": lambda lib, x, d, k: lib.cummax(x, d).values,
    "sort": lambda lib, x, d, k: lib.sort(x, d, descending=k).values,
    "median": lambda lib, x, d, k: lib.median(x, d, keepdim=k).values,
    "kthvalue": lambda lib, x, d, k: lib.kthvalue(x, 1, d, keepdim=k).values,
    "quantile": lambda lib, x, d, k: lib.quantile(x, 0.3, d, keepdim=k),
}


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(sorted(FUNCTIONS)), args=dim_args(), seed=st.integers(0, 2 ** 32 - 1))
def test_random_shapes_and_dims_against_torch(name, args, seed):
    shape, dim, keepdim = args
    data = np.random.default_rng(seed).standard_normal(shape)  # continuous: no ties
    results = []
    for lib in (ag, torch):
        x = lib.tensor(data, requires_grad=True)
        y = FUNCTIONS[name](lib, x, dim, keepdim)
        v = lib.tensor(np.linspace(-1, 1, y.numel()).reshape(tuple(y.shape)))
        (g,) = (ag.grad if lib is ag else torch.autograd.grad)(y, x, v)
        results.append((y, g))
    (y, g), (ty, tg) = results
    assert_close(y, ty, rtol=1e-9, atol=1e-12)
    assert_close(g, tg, rtol=1e-9, atol=1e-12)


# --- CUDA: no host synchronisation where PyTorch needs none ------------------------------------------------

NO_SYNC = {
    "prod": lambda x: x.prod(1), "var": lambda x: x.var(0), "std": lambda x: x.std(), "cumsum": lambda x: x.cumsum(1),
    "cumprod": lambda x: x.cumprod(0), "logcumsumexp": lambda x: x.logcumsumexp(1),
    "cummax": lambda x: x.cummax(1).values, "sort": lambda x: x.sort(0, descending=True).values,
    "topk": lambda x: x.topk(2).values, "kthvalue": lambda x: x.kthvalue(2).values,
    "median": lambda x: x.median(), "median_dim": lambda x: x.median(1).values,
    "nanmedian": lambda x: x.nanmedian(0).values, "mode": lambda x: x.mode(1).values,
    "nansum": lambda x: x.nansum(1), "nanmean": lambda x: x.nanmean(), "aminmax": lambda x: x.aminmax()[1],
}


@pytest.mark.cuda
@pytest.mark.parametrize("name", sorted(NO_SYNC))
def test_no_host_sync_on_cuda(name):
    """Forward and backward stay on the device (the stand-in counts every host synchronisation)."""
    import sys
    import cupy_standin
    if not isinstance(sys.modules.get("cupy"), cupy_standin._FakeModule):
        pytest.skip("host synchronisations are counted by the CuPy stand-in only")
    x = ag.tensor(DATA, device="cuda", requires_grad=True)
    with cupy_standin.count_syncs() as syncs:
        y = NO_SYNC[name](x)
        (g,) = ag.grad(y.sum(), x)
    assert not syncs, f"{name}: host synchronisations {dict(syncs)}"
    assert g.device == x.device


def test_topk_unsorted_gives_the_same_elements():
    """sorted=False leaves the order to the kernel (ndgrad's is sorted): the same elements as torch's."""
    got, expected = both(lambda lib, x: lib.topk(x, 3, dim=0, sorted=False), DATA.T)
    order = np.argsort(to_numpy(got.indices), axis=0)
    expected_order = np.argsort(to_numpy(expected.indices), axis=0)
    assert_close(np.take_along_axis(to_numpy(got.indices), order, 0),
                 np.take_along_axis(to_numpy(expected.indices), expected_order, 0))
    assert_close(np.take_along_axis(to_numpy(got.values), order, 0),
                 np.take_along_axis(to_numpy(expected.values), expected_order, 0))


@settings(max_examples=20, deadline=None)
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=7), values=st.integers(1, 4),
       seed=st.integers(0, 2 ** 32 - 1))
def test_mode_of_random_integers_against_torch(shape, values, seed):
    """Many ties: which value wins (the smallest of the most frequent) and which index (its last)."""
    data = np.random.default_rng(seed).integers(0, values, shape)
    for dim in range(len(shape)):
        got, expected = both(lambda lib, x: tuple(lib.mode(x, dim)), data)
        assert_same(got, expected)


@pytest.mark.parametrize("fn", [
    lambda lib, x: lib.sum(x, []), lambda lib, x: x.mean(dim=()), lambda lib, x: lib.amax(x, []),
    lambda lib, x: x.amin(()), lambda lib, x: lib.var(x, []), lambda lib, x: x.std([], keepdim=True),
    lambda lib, x: lib.var_mean(x, dim=[]), lambda lib, x: lib.nansum(x, []), lambda lib, x: lib.nanmean(x, ()),
    lambda lib, x: lib.count_nonzero(x, []),
])
def test_an_empty_list_of_dims_reduces_all(fn):
    got, expected = both(fn, DATA)
    assert_same(got, expected)
