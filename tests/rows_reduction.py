"""Op-table rows: reductions, scans, sorting and selection (prod, var, cumsum, sort, topk, unique ...)."""

import numpy as np

from optable import *  # noqa: F401,F403


def with_nans(*shape):
    """Normal samples, every fourth one NaN (nansum, nanmedian, nanquantile)."""
    def sample(rng):
        x = rng.standard_normal(shape)
        x.reshape(-1)[1::4] = np.nan
        return x
    return sample


def zero_in_rows(*shape):
    """Normal samples with exactly one zero in each row but the last, which has two (prod, cumprod)."""
    def sample(rng):
        x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
        rows = x.reshape(-1, shape[-1])
        for i, row in enumerate(rows):
            row[rng.integers(shape[-1])] = 0.0
        rows[-1, :2] = 0.0
        return x
    return sample


OPS = [
    # products (gradients at zeros: PyTorch's, no division by zero)
    op("prod", lambda lib, x: x.prod(), randn(3, 4)),
    op("prod_dim", lambda lib, x: x.prod(1), randn(3, 4)),
    op("prod_dim_keepdim", lambda lib, x: lib.prod(x, 0, keepdim=True), randn(3, 4, 2)),
    op("prod_zero_in_rows", lambda lib, x: x.prod(-1), zero_in_rows(3, 4)),
    op("prod_all_with_one_zero", lambda lib, x: x.prod(), lambda rng: np.array([[0.5, -1.5, 0.0], [2.0, 1.2, 0.8]])),
    op("prod_dtype", lambda lib, x: lib.prod(x, 1, dtype=x.dtype), randn(3, 4)),
    # running sums and products
    op("cumsum", lambda lib, x: x.cumsum(1), randn(3, 4)),
    op("cumsum_neg_dim", lambda lib, x: lib.cumsum(x, dim=-3), randn(2, 3, 4)),
    op("cumsum_inplace", lambda lib, x: (x * 1).cumsum_(0), randn(3, 4)),
    op("cumprod", lambda lib, x: x.cumprod(1), randn(3, 4)),
    op("cumprod_zero_in_rows", lambda lib, x: lib.cumprod(x, -1), zero_in_rows(3, 5)),
    op("cumprod_zeros_dim0", lambda lib, x: x.cumprod(dim=0), with_zeros(4, 3)),
    op("cumprod_inplace", lambda lib, x: (x * 1).cumprod_(1), randn(2, 3)),
    op("logcumsumexp", lambda lib, x: x.logcumsumexp(1), randn(3, 5, scale=3)),
    op("logcumsumexp_wide_range", lambda lib, x: lib.logcumsumexp(x, 0), uniform(-300, 300, 6, 2)),
    op("cummax", lambda lib, x: lib.cummax(x, 1), distinct(3, 5)),
    op("cummin", lambda lib, x: x.cummin(dim=0), distinct(4, 3)),
    op("cummax_ties", lambda lib, x: x.cummax(-1), ties(3, 6), gradcheck=False),
    op("cummin_ties", lambda lib, x: lib.cummin(x, 0), ties(6, 2), gradcheck=False),
    # variance and standard deviation
    op("var", lambda lib, x: x.var(), randn(3, 4)),
    op("var_dim", lambda lib, x: x.var(1), randn(3, 4)),
    op("var_unbiased_false_keepdim", lambda lib, x: lib.var(x, 0, unbiased=False, keepdim=True), randn(3, 4)),
    op("var_dims_correction", lambda lib, x: x.var(dim=(0, 2), correction=2), randn(3, 2, 4)),
    op("var_unbiased_positional", lambda lib, x: lib.var(x, False), randn(5)),
    op("std", lambda lib, x: x.std(), randn(3, 4)),
    op("std_dim_keepdim", lambda lib, x: lib.std(x, -1, keepdim=True), randn(3, 4)),
    op("std_correction0", lambda lib, x: x.std(dim=0, correction=0), randn(4, 3)),
    op("std_constant_rows", lambda lib, x: x.std(1), lambda rng: np.array([[1.5, 1.5, 1.5], [0.2, -0.7, 1.1]]),
       gradcheck=False),  # the gradient at std == 0 is 0 by convention, not a derivative
    op("var_mean", lambda lib, x: lib.var_mean(x, 1), randn(3, 4)),
    op("var_mean_correction_keepdim", lambda lib, x: lib.var_mean(x, dim=0, correction=0, keepdim=True),
       randn(3, 4)),
    op("std_mean", lambda lib, x: lib.std_mean(x), randn(3, 4)),
    op("std_mean_dims", lambda lib, x: lib.std_mean(x, (0, 1), unbiased=False), randn(2, 3, 4)),
    # NaN-aware reductions, counting, extremes
    op("nansum", lambda lib, x: x.nansum(), with_nans(3, 4)),
    op("nansum_dim_keepdim", lambda lib, x: lib.nansum(x, 1, keepdim=True), with_nans(3, 4)),
    op("nanmean", lambda lib, x: x.nanmean(), with_nans(3, 4)),
    op("nanmean_dim", lambda lib, x: lib.nanmean(x, dim=0), with_nans(4, 3)),
    op("count_nonzero", lambda lib, x: (lib.count_nonzero(x), x.count_nonzero(0), x * 1), with_zeros(3, 4)),
    op("aminmax", lambda lib, x: lib.aminmax(x), distinct(3, 4)),
    op("aminmax_dim_keepdim", lambda lib, x: x.aminmax(dim=1, keepdim=True), distinct(3, 4)),
    op("aminmax_ties", lambda lib, x: lib.aminmax(x, dim=0), ties(5, 3), gradcheck=False),
    # sorting
    op("sort", lambda lib, x: x.sort(), distinct(3, 4)),
    op("sort_dim0_descending", lambda lib, x: lib.sort(x, dim=0, descending=True), distinct(3, 4)),
    op("sort_stable_ties", lambda lib, x: lib.sort(x, stable=True), ties(3, 6), gradcheck=False),
    op("sort_stable_ties_descending", lambda lib, x: x.sort(dim=0, descending=True, stable=True), ties(6, 3),
       gradcheck=False),
    op("sort_nan", lambda lib, x: (*lib.sort(x, 1), *lib.sort(x, 1, descending=True)), with_nans(3, 4),
       gradcheck=False),
    op("argsort", lambda lib, x: (lib.argsort(x), x.sort().values), distinct(3, 4)),
    op("argsort_descending_stable", lambda lib, x: (x.argsort(dim=0, descending=True, stable=True), x.sort(0).values),
       ties(6, 2), gradcheck=False),
    op("msort", lambda lib, x: lib.msort(x), distinct(4, 3)),
    op("topk", lambda lib, x: x.topk(2), distinct(3, 5)),
    op("topk_smallest_dim0", lambda lib, x: lib.topk(x, 3, dim=0, largest=False), distinct(4, 3)),
    op("topk_all", lambda lib, x: lib.topk(x, 4), distinct(2, 4)),
    op("kthvalue", lambda lib, x: x.kthvalue(2), distinct(3, 5)),
    op("kthvalue_dim0_keepdim", lambda lib, x: lib.kthvalue(x, 3, dim=0, keepdim=True), distinct(4, 3)),
    op("median", lambda lib, x: x.median(), distinct(3, 5)),
    op("median_even", lambda lib, x: lib.median(x), distinct(3, 4)),
    op("median_dim", lambda lib, x: x.median(1), distinct(3, 4)),
    op("median_dim0_keepdim", lambda lib, x: lib.median(x, dim=0, keepdim=True), distinct(5, 2)),
    op("median_ties", lambda lib, x: x.median(), ties(3, 5), gradcheck=False),
    op("median_nan", lambda lib, x: (x.median(), *x.median(0)), with_nans(3, 4), gradcheck=False,
       jvp=False),  # torch's forward mode gives nan for a nan median; the gradient rule picks an element
    op("nanmedian", lambda lib, x: x.nanmedian(), with_nans(3, 5), gradcheck=False),
    op("nanmedian_dim", lambda lib, x: lib.nanmedian(x, 1), with_nans(3, 5), gradcheck=False),
    op("mode", lambda lib, x: lib.mode(x), ties(3, 6), gradcheck=False),
    op("mode_dim0_keepdim", lambda lib, x: x.mode(0, keepdim=True), ties(6, 3), gradcheck=False),
    op("quantile", lambda lib, x: x.quantile(0.3), randn(3, 4)),
    op("quantile_tensor_q_dim", lambda lib, x: lib.quantile(x, x.new_tensor([0.0, 0.25, 0.5, 1.0]), dim=1),
       distinct(3, 5)),
    op("quantile_keepdim_lower", lambda lib, x: x.quantile(0.4, dim=0, keepdim=True, interpolation="lower"),
       distinct(4, 3)),
    op("quantile_higher_midpoint_nearest", lambda lib, x: tuple(lib.quantile(x, 0.35, -1, interpolation=i) for i in
                                                               ("higher", "midpoint", "nearest")), distinct(3, 6)),
    op("quantile_nan", lambda lib, x: lib.quantile(x, 0.5, dim=1), with_nans(3, 4), gradcheck=False),
    op("nanquantile", lambda lib, x: lib.nanquantile(x, x.new_tensor([0.2, 0.9]), dim=1), with_nans(3, 5),
       gradcheck=False),
    op("nanquantile_all", lambda lib, x: x.nanquantile(0.75), with_nans(3, 4), gradcheck=False),
    # distinct values, counting and bucketing have no gradients (nor in PyTorch); the table differentiates every
    # row, so these rows also hand back their floating input (x * 1) next to the integer results
    op("unique", lambda lib, x, i: (x * 1, *lib.unique(i, return_inverse=True, return_counts=True)), randn(2),
       ints(0, 4, 3, 4)),
    op("unique_dim", lambda lib, x, i: (x * 1, *i.unique(dim=1, return_inverse=True, return_counts=True)), randn(2),
       ints(0, 2, 2, 6)),
    op("unique_values_only", lambda lib, x, i: (x * 1, i.unique(), lib.unique(x.detach(), sorted=True).long()),
       ties(5), ints(0, 4, 6)),
    op("unique_consecutive", lambda lib, x, i: (x * 1, *lib.unique_consecutive(i, return_inverse=True,
                                                                                return_counts=True)),
       randn(2), ints(0, 2, 3, 4)),
    op("unique_consecutive_dim0", lambda lib, x, i: (x * 1, *i.unique_consecutive(dim=0, return_counts=True)),
       randn(2), lambda rng: np.array([[0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1]])),
    op("bincount", lambda lib, x, i: (x * 1, lib.bincount(i), i.bincount(minlength=9)), randn(2), ints(0, 6, 8)),
    op("histc", lambda lib, x: (x * 1, lib.histc(x.detach(), bins=5, min=-1, max=1).long(),
                                x.detach().histc(4).long()), randn(20)),
    op("searchsorted", lambda lib, v: (v * 1, *(lib.searchsorted(v.new_tensor([-1.0, 0.0, 0.0, 1.0, 2.0]),
                                                                 v.detach(), **k)
                                                for k in ({}, {"right": True}, {"side": "right"},
                                                          {"out_int32": True}))),
       ties(2, 3)),
    op("searchsorted_rows", lambda lib, s, v: (v * 1, lib.searchsorted(s.detach().sort().values, v.detach()),
                                               lib.searchsorted(s.detach(), v.detach(), sorter=s.detach().argsort())),
       randn(2, 5), randn(2, 3)),
    op("bucketize", lambda lib, x: (x * 1, *(lib.bucketize(x.detach(), x.new_tensor([-1.0, 0.0, 1.0]), right=r)
                                             for r in (False, True))), ties(3, 4)),
]
