"""Linear algebra beyond the op table: PyTorch's refusals, named tuples, einsum's contraction order on both
backends, and values the table cannot reach (float16 matrix_exp, lstsq's non-differentiable outputs)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import scipy.linalg
import torch

import autograd as ag
from autograd.ops import linalg as ops_linalg
from conftest import assert_close, to_numpy


def _both(*arrays):
    """The same data as (autograd tensors, torch tensors)."""
    return [ag.tensor(a) for a in arrays], [torch.from_numpy(np.array(a)) for a in arrays]


RNG = np.random.default_rng(0)
SQUARE = RNG.standard_normal((3, 3))
SINGULAR = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
NOT_PD = np.array([[1.0, 2.0], [2.0, 1.0]])

# (name, fn(lib, *tensors), inputs, words the error names): torch refuses each; ndgrad must refuse too
REFUSALS = [
    ("mm_inner", lambda lib, a, b: lib.mm(a, b), (np.ones((2, 3)), np.ones((2, 3))), ["mm", "(2, 3)"]),
    ("mm_3d", lambda lib, a, b: lib.mm(a, b), (np.ones((2, 2, 3)), np.ones((3, 2))), ["mm", "2-D"]),
    ("bmm_batches", lambda lib, a, b: lib.bmm(a, b), (np.ones((2, 2, 3)), np.ones((3, 3, 2))), ["bmm", "batch"]),
    ("mv_matrix", lambda lib, a, b: lib.mv(a, b), (np.ones((2, 3)), np.ones((3, 1))), ["mv", "1-D"]),
    ("dot_2d", lambda lib, a, b: lib.dot(a, b), (np.ones((2, 3)), np.ones((2, 3))), ["dot", "1-D"]),
    ("dot_sizes", lambda lib, a, b: lib.dot(a, b), (np.ones(3), np.ones(4)), ["dot", "(3,)", "(4,)"]),
    ("outer_2d", lambda lib, a, b: lib.outer(a, b), (np.ones((2, 2)), np.ones(3)), ["outer", "1-D"]),
    ("addmm_input", lambda lib, c, a, b: lib.addmm(c, a, b), (np.ones(3), np.ones((2, 2)), np.ones((2, 2))),
     ["addmm", "(3,)"]),
    ("einsum_operands", lambda lib, a: lib.einsum("ij,jk->ik", a), (np.ones((2, 2)),), ["einsum"]),
    ("einsum_subscripts", lambda lib, a: lib.einsum("ijk->i", a), (np.ones((2, 2)),), ["einsum", "ijk"]),
    ("einsum_sizes", lambda lib, a, b: lib.einsum("ij,jk->ik", a, b), (np.ones((2, 3)), np.ones((4, 2))),
     ["einsum", "'j'"]),
    ("tensordot_sizes", lambda lib, a, b: lib.tensordot(a, b, dims=([1], [0])), (np.ones((2, 3)), np.ones((2, 3))),
     ["tensordot", "size"]),
    ("cross_size", lambda lib, a, b: lib.linalg.cross(a, b), (np.ones((2, 4)), np.ones((2, 4))), ["cross", "3"]),
    ("cdist_columns", lambda lib, a, b: lib.cdist(a, b), (np.ones((2, 3)), np.ones((2, 4))), ["cdist", "columns"]),
    ("inv_singular", lambda lib, a: lib.linalg.inv(a), (SINGULAR,), ["linalg.inv", "singular"]),
    ("inv_not_square", lambda lib, a: lib.linalg.inv(a), (np.ones((2, 3)),), ["linalg.inv", "(2, 3)", "square"]),
    ("inv_integer", lambda lib, a: lib.linalg.inv(a), (np.eye(2, dtype=np.int64),), ["linalg.inv", "int64"]),
    ("inv_float16", lambda lib, a: lib.linalg.inv(a.half()), (np.eye(2),), ["linalg.inv", "float16"]),
    ("solve_singular", lambda lib, a, b: lib.linalg.solve(a, b), (SINGULAR, np.ones((3, 1))), ["linalg.solve"]),
    ("solve_shapes", lambda lib, a, b: lib.linalg.solve(a, b), (SQUARE, np.ones((2, 2))), ["linalg.solve", "(2, 2)"]),
    ("cholesky_not_pd", lambda lib, a: lib.linalg.cholesky(a), (NOT_PD,), ["linalg.cholesky", "positive-definite"]),
    ("det_not_square", lambda lib, a: lib.linalg.det(a), (np.ones((3, 2)),), ["linalg.det", "square"]),
    ("slogdet_bfloat16", lambda lib, a: lib.linalg.slogdet(a.bfloat16() if lib is torch else a.to(ag.bfloat16)),
     (np.eye(2),), ["linalg.slogdet", "bfloat16"]),
    ("qr_vector", lambda lib, a: lib.linalg.qr(a), (np.ones(3),), ["linalg.qr", "2 dimensions"]),
    ("vector_norm_integer", lambda lib, a: lib.linalg.vector_norm(a), (np.ones(3, np.int64),),
     ["vector_norm", "int64"]),
    ("vector_norm_inf_empty", lambda lib, a: lib.linalg.vector_norm(a, float("inf")), (np.ones((0, 2)),),
     ["vector_norm", "empty"]),
    ("matrix_norm_vector", lambda lib, a: lib.linalg.matrix_norm(a), (np.ones(3),), ["matrix_norm", "2 dimensions"]),
    ("matrix_norm_ord", lambda lib, a: lib.linalg.matrix_norm(a, 3), (np.ones((2, 2)),), ["matrix_norm", "3"]),
    ("matrix_power_not_square", lambda lib, a: lib.linalg.matrix_power(a, 2), (np.ones((2, 3)),),
     ["matrix_power", "(2, 3)"]),
    ("einsum_dtypes", lambda lib, a, b: lib.einsum("ij,jk", a, b.float()), (np.ones((2, 2)), np.ones((2, 2))),
     ["einsum", "float32", "float64"]),
    ("tensordot_dtypes", lambda lib, a, b: lib.tensordot(a, b.float()), (np.ones((2, 2)), np.ones((2, 2))),
     ["tensordot", "float32"]),
    ("inner_dtypes", lambda lib, a, b: lib.inner(a, b.float()), (np.ones(2), np.ones(2)), ["inner", "float32"]),
    ("cross_dtypes", lambda lib, a, b: lib.linalg.cross(a, b.float()), (np.ones(3), np.ones(3)), ["cross", "float32"]),
    ("cdist_dtypes", lambda lib, a, b: lib.cdist(a, b.float()), (np.ones((2, 2)), np.ones((2, 2))), ["cdist"]),
    ("vecdot_integer", lambda lib, a, b: lib.linalg.vecdot(a, b), (np.ones(3, np.int64), np.ones(3, np.int64)),
     ["vecdot", "int64"]),
    ("multi_dot_one", lambda lib, a: lib.linalg.multi_dot([a]), (np.ones((2, 2)),), ["multi_dot", "2"]),
]


@pytest.mark.parametrize("name, fn, arrays, words", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refuses_what_torch_refuses(name, fn, arrays, words):
    ours, theirs = _both(*arrays)
    with pytest.raises(Exception):
        fn(torch, *theirs)
    with pytest.raises((RuntimeError, ValueError, TypeError, IndexError)) as info:
        fn(ag, *ours)
    for word in words:
        assert word in str(info.value), f"{name}: {word!r} not in {info.value}"


@pytest.mark.parametrize("fn, fields", [
    (lambda lib, a: lib.linalg.slogdet(a), ["sign", "logabsdet"]),
    (lambda lib, a: lib.slogdet(a), ["sign", "logabsdet"]),
    (lambda lib, a: lib.linalg.qr(a), ["Q", "R"]),
    (lambda lib, a: lib.linalg.eigh(a + a.mT), ["eigenvalues", "eigenvectors"]),
    (lambda lib, a: lib.linalg.svd(a), ["U", "S", "Vh"]),
    (lambda lib, a: lib.linalg.lu_factor(a), ["LU", "pivots"]),
    (lambda lib, a: lib.linalg.lstsq(a, a), ["solution", "residuals", "rank", "singular_values"]),
])
def test_named_tuples(fn, fields):
    """Results torch returns as named tuples have its field names and values (pivots: 1-based int32)."""
    ours, theirs = _both(SQUARE + 3 * np.eye(3))
    got, expected = fn(ag, *ours), fn(torch, *theirs)
    assert type(got).__name__ == type(expected).__name__.split(".")[-1]
    assert len(got) == len(expected) == len(fields)
    for field in fields:
        g, e = getattr(got, field), getattr(expected, field)
        assert str(g.dtype).replace("torch.", "") == str(e.dtype).replace("torch.", "") or field in ("Q", "U", "Vh")
        if field not in ("Q", "R", "U", "Vh", "eigenvectors"):  # gauge freedom: compared in the op table
            assert_close(to_numpy(g), e.numpy(), rtol=1e-10, atol=1e-12, msg=field)


def _einsum_steps(monkeypatch, device):
    """The equations of the pairwise steps one contraction runs on ``device``."""
    steps = []
    apply = ops_linalg.Einsum.apply

    def record(*inputs, equation):
        steps.append(equation)
        return apply(*inputs, equation=equation)
    monkeypatch.setattr(ops_linalg.Einsum, "apply", record)
    rng = np.random.default_rng(1)
    shapes = [(8, 2), (2, 9), (9, 3), (3,)]
    xs = [ag.tensor(rng.standard_normal(s), device=device) for s in shapes]
    out = ag.einsum("ab,bc,cd,d->a", *xs)
    monkeypatch.undo()
    return steps, to_numpy(out)


def test_einsum_follows_numpys_path(monkeypatch):
    """The pairwise steps are NumPy's optimiser's (einsum_path on the shapes), not left to right."""
    steps, out = _einsum_steps(monkeypatch, "cpu")
    dummies = [np.empty(s) for s in [(8, 2), (2, 9), (9, 3), (3,)]]
    path = np.einsum_path("ab,bc,cd,d->a", *dummies, optimize="greedy")[0][1:]
    assert len(steps) == len(path) == 3
    terms = ["ab", "bc", "cd", "d"]
    assert path[0] != (0, 1)  # these shapes make the optimiser's order differ from left to right
    assert steps[0].split("->")[0] == ",".join(terms[i] for i in path[0])
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) for s in [(8, 2), (2, 9), (9, 3), (3,)]]
    assert_close(out, np.einsum("ab,bc,cd,d->a", *arrays), rtol=1e-12, atol=1e-12)


@pytest.mark.cuda
def test_einsum_same_path_on_both_backends(monkeypatch):
    cpu_steps, cpu_out = _einsum_steps(monkeypatch, "cpu")
    cuda_steps, cuda_out = _einsum_steps(monkeypatch, "cuda")
    assert cpu_steps == cuda_steps
    assert_close(cuda_out, cpu_out, rtol=1e-12, atol=1e-12)


def test_einsum_gradient_of_a_diagonal_with_broadcast_label():
    """'iij,k->jk': a repeated label (the gradient goes back onto the diagonal) next to a label only one operand
    has; compared with torch."""
    rng = np.random.default_rng(2)
    arrays = rng.standard_normal((3, 3, 2)), rng.standard_normal(4)
    ours, theirs = _both(*arrays)
    for t in ours + theirs:
        t.requires_grad_()
    for lib, xs in ((ag, ours), (torch, theirs)):
        (lib.einsum("iij,k->jk", *xs) ** 2).sum().backward()
    for a, b in zip(ours, theirs):
        assert_close(to_numpy(a.grad), b.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_kron_of_different_ndims():
    """(The op table's transposed views of these make torch's kron refuse, so this runs here.)"""
    rng = np.random.default_rng(3)
    for shapes in [((3,), (2, 2)), ((2, 2, 2), (3,)), ((2, 3), (2, 1, 2))]:
        arrays = [rng.standard_normal(s) for s in shapes]
        ours, theirs = _both(*arrays)
        for t in ours + theirs:
            t.requires_grad_()
        outs = ag.kron(*ours), torch.kron(*theirs)
        assert_close(to_numpy(outs[0]), outs[1].detach().numpy(), rtol=1e-12, atol=1e-12)
        (outs[0] * outs[0]).sum().backward()
        (outs[1] * outs[1]).sum().backward()
        for a, b in zip(ours, theirs):
            assert_close(to_numpy(a.grad), b.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_matrix_exp_of_large_and_low_precision_matrices():
    """Scaling and squaring: a matrix of norm ~40 against SciPy's expm; float16 (where torch's CPU result is
    wrong) within float16's rounding of the float64 result."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((2, 4, 4)) * 10
    got = to_numpy(ag.linalg.matrix_exp(ag.tensor(a)))
    assert_close(got, np.stack([scipy.linalg.expm(m) for m in a]), rtol=1e-9, atol=1e-9)
    small = rng.standard_normal((3, 3)) * 0.5
    half = ag.linalg.matrix_exp(ag.tensor(small).half())
    assert half.dtype == ag.float16
    assert_close(to_numpy(half).astype(np.float64), scipy.linalg.expm(small), rtol=1e-2, atol=1e-2,
                 check_dtype=False)


def test_lstsq_residuals_and_singular_values():
    rng = np.random.default_rng(5)
    arrays = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 2))
    ours, theirs = _both(*arrays)
    for driver in ("gelsd", "gelss", None):
        got, expected = ag.linalg.lstsq(*ours, driver=driver), torch.linalg.lstsq(*theirs, driver=driver)
        for field in ("solution", "residuals", "rank", "singular_values"):
            assert_close(to_numpy(getattr(got, field)), getattr(expected, field).numpy(), rtol=1e-10, atol=1e-12,
                         msg=f"{driver} {field}")


def test_tensor_methods_and_torch_names():
    a = ag.tensor(SQUARE + 3 * np.eye(3))
    t = torch.from_numpy(SQUARE + 3 * np.eye(3))
    for name in ("det", "logdet", "inverse", "pinverse", "matrix_exp"):
        assert_close(to_numpy(getattr(a, name)()), getattr(t, name)().numpy(), rtol=1e-10, atol=1e-12, msg=name)
    assert_close(to_numpy(a.norm(p=1)), t.norm(p=1).numpy(), rtol=1e-12, atol=1e-12)
    assert_close(to_numpy(a.matrix_power(-1)), t.matrix_power(-1).numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_reads_one_triangle(uplo):
    """A non-symmetric input: eigh uses only the UPLO triangle, values and gradients as torch's."""
    a = np.random.default_rng(6).standard_normal((3, 3)) + np.diag([0.0, 3.0, 6.0])
    ours, theirs = _both(a)
    ours[0].requires_grad_()
    theirs[0].requires_grad_()
    got, expected = ag.linalg.eigvalsh(ours[0], UPLO=uplo), torch.linalg.eigvalsh(theirs[0], UPLO=uplo)
    assert_close(to_numpy(got), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    (got * ag.tensor([1.0, 2.0, 3.0])).sum().backward()
    (expected * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
    assert_close(to_numpy(ours[0].grad), theirs[0].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_det_gradient_of_a_singular_matrix_is_torchs():
    """An exactly singular matrix: torch's first-order det gradient is 0 there (no error)."""
    ours, theirs = _both(np.stack([SINGULAR, SQUARE]))
    for t in ours + theirs:
        t.requires_grad_()
    ag.linalg.det(ours[0]).sum().backward()
    torch.linalg.det(theirs[0]).sum().backward()
    assert_close(to_numpy(ours[0].grad), theirs[0].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cholesky_solve_and_inverse_read_one_triangle():
    """Given a full matrix, torch reads only the factor's triangle (values; the gradient is compared in the op
    table, for triangular factors)."""
    rng = np.random.default_rng(7)
    factor, b = np.tril(rng.standard_normal((3, 3))) + 3 * np.eye(3) + 0.1, rng.standard_normal((3, 2))
    ours, theirs = _both(factor, b)
    for upper in (False, True):
        f_ours, f_theirs = (ours[0].mT, theirs[0].mT) if upper else (ours[0], theirs[0])
        assert_close(to_numpy(ag.cholesky_solve(ours[1], f_ours, upper=upper)),
                     torch.cholesky_solve(theirs[1], f_theirs, upper=upper).numpy(), rtol=1e-10, atol=1e-12)
        assert_close(to_numpy(ag.cholesky_inverse(f_ours, upper=upper)),
                     torch.cholesky_inverse(f_theirs, upper=upper).numpy(), rtol=1e-10, atol=1e-12)


def test_lu_permutation_and_torch_svd_without_vectors():
    rng = np.random.default_rng(8)
    for shape in [(3, 3), (2, 4, 3), (3, 5)]:
        ours, theirs = _both(rng.standard_normal(shape))
        for g, e in zip(ag.linalg.lu(ours[0]), torch.linalg.lu(theirs[0])):
            assert_close(to_numpy(g), e.numpy(), rtol=1e-10, atol=1e-12)
    ours, theirs = _both(rng.standard_normal((3, 4)))
    for g, e in zip(ag.svd(ours[0], compute_uv=False), torch.svd(theirs[0], compute_uv=False)):
        assert_close(to_numpy(g), e.numpy(), rtol=1e-10, atol=1e-12)


@st.composite
def einsum_cases(draw):
    """1 to 3 operands over labels a-d (sizes fixed per label, a label repeated inside an operand sometimes),
    with an explicit output (a subset of the labels, any order) or the implicit one."""
    sizes = {c: draw(st.integers(1, 3)) for c in "abcd"}
    terms = [draw(st.text("abcd", min_size=0, max_size=3)) for _ in range(draw(st.integers(1, 3)))]
    used = sorted(set("".join(terms)))
    if draw(st.booleans()):
        output = "".join(draw(st.permutations(used))[:draw(st.integers(0, len(used)))])
        equation = ",".join(terms) + "->" + output
    else:
        equation = ",".join(terms)
    shapes = [tuple(sizes[c] for c in term) for term in terms]
    return equation, shapes


@settings(max_examples=30, deadline=None)
@given(einsum_cases(), st.integers(0, 2**16))
def test_einsum_against_torch(case, seed):
    equation, shapes = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours, theirs = _both(*arrays)
    for t in ours + theirs:
        t.requires_grad_()
    got, expected = ag.einsum(equation, *ours), torch.einsum(equation, *theirs)
    assert_close(to_numpy(got), expected.detach().numpy(), rtol=1e-10, atol=1e-12, msg=equation)
    weights = rng.standard_normal(tuple(expected.shape))
    (got * ag.tensor(weights)).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    for a, b in zip(ours, theirs):
        assert_close(to_numpy(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-12, msg=equation)
