"""Loss modules (and the distance modules) against PyTorch's: outputs and gradients from the same
inputs, buffers and state_dict keys, reprs, legacy arguments, warnings and refusals.

The functional forms are proved row by row in the op table (tests/test_ops.py, "# --- losses").
"""

import warnings

import numpy as np
import pytest
import torch

import autograd as ag
import nn
from conftest import assert_close, to_numpy


def _lib(lib):
    """(tensor module, nn module) for ndgrad or torch."""
    return (torch, torch.nn) if lib is torch else (ag, nn)


def W(lib, values):
    return _lib(lib)[0].tensor(values, dtype=_lib(lib)[0].float64)


def rng_arrays(seed, *makers):
    rng = np.random.default_rng(seed)
    return [m(rng) for m in makers]


def randn(*shape):
    return lambda rng: rng.standard_normal(shape)


def unit(*shape):
    return lambda rng: rng.uniform(0.05, 0.95, shape)


def positive(*shape):
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def classes(c, *shape, ignore=None):
    def make(rng):
        t = rng.integers(0, c, shape)
        if ignore is not None:
            t.reshape(-1)[::3] = ignore
        return t
    return make


def signs(*shape):
    return lambda rng: rng.choice([-1.0, 1.0], shape)


# (id, module from (lib, nn namespace), input makers, input indices that need no gradient in PyTorch)
MODULES = [
    ("CrossEntropyLoss", lambda lib, m: m.CrossEntropyLoss(), [randn(4, 5), classes(5, 4)]),
    ("CrossEntropyLoss_all_options", lambda lib, m: m.CrossEntropyLoss(
        weight=W(lib, [1.0, 2.0, 0.5]), ignore_index=1, reduction="sum", label_smoothing=0.15),
     [randn(2, 3, 4), classes(3, 2, 4, ignore=1)]),
    ("CrossEntropyLoss_probabilities", lambda lib, m: m.CrossEntropyLoss(label_smoothing=0.1),
     [randn(3, 4), positive(3, 4)]),
    ("NLLLoss", lambda lib, m: m.NLLLoss(weight=W(lib, [1.0, 2.0, 0.5, 1.5]), reduction="none"),
     [randn(3, 4, 2), classes(4, 3, 2)]),
    ("NLLLoss_ignore", lambda lib, m: m.NLLLoss(ignore_index=0), [randn(6, 3), classes(3, 6, ignore=0)]),
    ("BCELoss", lambda lib, m: m.BCELoss(weight=W(lib, [1.0, 2.0, 0.5])), [unit(4, 3), unit(4, 3)]),
    ("BCEWithLogitsLoss", lambda lib, m: m.BCEWithLogitsLoss(weight=W(lib, [1.0, 2.0, 0.5]),
                                                              pos_weight=W(lib, [3.0, 1.0, 0.2])),
     [randn(4, 3), unit(4, 3)]),
    ("L1Loss", lambda lib, m: m.L1Loss(reduction="sum"), [randn(3, 4), randn(3, 4)]),
    ("MSELoss", lambda lib, m: m.MSELoss(), [randn(3, 4), randn(3, 4)]),
    ("SmoothL1Loss", lambda lib, m: m.SmoothL1Loss(beta=0.5), [randn(3, 4), randn(3, 4)]),
    ("HuberLoss", lambda lib, m: m.HuberLoss(reduction="none", delta=0.8), [randn(3, 4), randn(3, 4)]),
    ("KLDivLoss", lambda lib, m: m.KLDivLoss(reduction="batchmean"), [randn(3, 4), positive(3, 4)]),
    ("KLDivLoss_log_target", lambda lib, m: m.KLDivLoss(reduction="sum", log_target=True),
     [randn(3, 4), randn(3, 4)]),
    ("PoissonNLLLoss", lambda lib, m: m.PoissonNLLLoss(log_input=False, full=True),
     [positive(3, 4), lambda rng: rng.uniform(1.5, 4, (3, 4))]),
    ("GaussianNLLLoss", lambda lib, m: m.GaussianNLLLoss(full=True, eps=1e-3),
     [randn(3, 4), randn(3, 4), positive(3, 1)]),
    ("MarginRankingLoss", lambda lib, m: m.MarginRankingLoss(margin=0.2), [randn(5), randn(5), signs(5)]),
    ("HingeEmbeddingLoss", lambda lib, m: m.HingeEmbeddingLoss(margin=0.5), [randn(3, 4), signs(3, 4)]),
    ("SoftMarginLoss", lambda lib, m: m.SoftMarginLoss(), [randn(3, 4), lambda rng: rng.choice([-1, 1], (3, 4))]),
    ("MultiLabelSoftMarginLoss", lambda lib, m: m.MultiLabelSoftMarginLoss(weight=W(lib, [1.0, 0.5, 2.0])),
     [randn(4, 3), unit(4, 3)]),
    ("MultiMarginLoss", lambda lib, m: m.MultiMarginLoss(p=2, margin=0.5, weight=W(lib, [1.0, 0.5, 2.0])),
     [randn(4, 3), classes(3, 4)]),
    ("CosineEmbeddingLoss", lambda lib, m: m.CosineEmbeddingLoss(margin=0.1),
     [randn(4, 3), randn(4, 3), lambda rng: np.array([1, -1, -1, 1])]),
    ("TripletMarginLoss", lambda lib, m: m.TripletMarginLoss(margin=0.5, p=1.5, swap=True),
     [randn(4, 3), randn(4, 3), randn(4, 3)]),
    ("CosineSimilarity", lambda lib, m: m.CosineSimilarity(dim=0), [randn(3, 4), randn(3, 4)]),
    ("PairwiseDistance", lambda lib, m: m.PairwiseDistance(p=1.0, keepdim=True), [randn(3, 4), randn(3, 4)]),
]


def _run(lib, make, makers, seed=0):
    arrays = rng_arrays(seed, *makers)
    tlib, nnlib = _lib(lib)
    xs = [tlib.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    module = make(lib, nnlib)
    out = module(*xs)
    wrt = [x for x in xs if x.requires_grad]
    v = tlib.tensor(np.random.default_rng(1).standard_normal(tuple(out.shape)))
    grads = (torch.autograd.grad if lib is torch else ag.grad)([out], wrt, [v], allow_unused=True)
    return module, to_numpy(out), [None if g is None else to_numpy(g) for g in grads]


@pytest.mark.parametrize("name, make, makers", MODULES, ids=[m[0] for m in MODULES])
def test_module_matches_torch(name, make, makers):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, out, grads = _run(ag, make, makers)
        theirs, t_out, t_grads = _run(torch, make, makers)
    assert_close(out, t_out, msg=f"{name} output")
    for g, tg in zip(grads, t_grads):
        if tg is None:
            assert g is None or not np.any(g), f"{name}: a gradient where torch has none"
        else:
            assert_close(g, tg, msg=f"{name} grad")
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [k for k, _ in ours.named_buffers()] == [k for k, _ in theirs.named_buffers()]
    assert list(ours.parameters()) == []
    public = {k for k in vars(theirs) if not k.startswith("_") and k != "training"}
    for key in public:
        ours_value, their_value = getattr(ours, key), getattr(theirs, key)
        if isinstance(their_value, torch.Tensor):
            assert_close(ours_value, their_value, msg=f"{name}.{key}")
        else:
            assert ours_value == their_value, f"{name}.{key}: {ours_value!r} != torch's {their_value!r}"


def test_weight_buffers_follow_the_module():
    loss = nn.CrossEntropyLoss(weight=ag.tensor([1.0, 2.0, 3.0]))
    assert list(loss.state_dict()) == ["weight"]
    loss.double()
    assert loss.weight.dtype == ag.float64
    logits = ag.randn(4, 3, dtype=ag.float64, requires_grad=True)
    loss(logits, ag.tensor([0, 1, 2, 1])).backward()
    assert logits.grad is not None
    bce = nn.BCEWithLogitsLoss(pos_weight=ag.ones(3))
    assert list(bce.state_dict()) == ["pos_weight"] == list(torch.nn.BCEWithLogitsLoss(
        pos_weight=torch.ones(3)).state_dict())
    assert nn.NLLLoss().weight is None and list(nn.NLLLoss().state_dict()) == []


@pytest.mark.parametrize("size_average, reduce", [(None, False), (False, None), (True, True), (False, True)])
def test_legacy_size_average_and_reduce(size_average, reduce):
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        ours = nn.MSELoss(size_average=size_average, reduce=reduce)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.MSELoss(size_average=size_average, reduce=reduce)
        x, y = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
        functional = nn.functional.l1_loss(ag.tensor(x), ag.tensor(y), size_average=size_average, reduce=reduce)
        t_functional = torch.nn.functional.l1_loss(torch.tensor(x), torch.tensor(y), size_average=size_average,
                                                   reduce=reduce)
    assert ours.reduction == theirs.reduction
    assert_close(functional, t_functional)


def test_mse_loss_broadcasts_with_torchs_warning():
    x, y = np.arange(6.0).reshape(2, 3), np.array([1.0, 0.0, 2.0])
    with pytest.warns(UserWarning, match=r"mse_loss: target of shape \(3,\) and input of shape \(2, 3\) differ"):
        ours = nn.functional.mse_loss(ag.tensor(x), ag.tensor(y))
    with pytest.warns(UserWarning, match="different to the input size"):
        theirs = torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y))
    assert_close(ours, theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.functional.mse_loss(ag.tensor(x), ag.tensor(x))  # same shapes: silent
    with pytest.raises(RuntimeError, match="mse_loss: .*must match"), pytest.warns(UserWarning):
        nn.functional.mse_loss(ag.zeros(2, 3), ag.zeros(4))


def test_kl_div_mean_warns_as_torch():
    with pytest.warns(UserWarning, match="reduction='batchmean'"):
        nn.functional.kl_div(ag.zeros(2, 3), ag.ones(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.functional.kl_div(ag.zeros(2, 3), ag.ones(2, 3), reduction="batchmean")


def _refuses_like_torch(ours, theirs, error, match):
    with pytest.raises(error, match=match):
        ours()
    with pytest.raises(Exception):  # noqa: B017  (torch's type may differ; it must refuse too)
        theirs()


REFUSALS = [
    ("label_smoothing", lambda lib, F: F.cross_entropy(lib.zeros(2, 3), lib.tensor([0, 1]), label_smoothing=1.5),
     RuntimeError, "label_smoothing must be between 0.0 and 1.0"),
    ("target_out_of_range", lambda lib, F: F.nll_loss(lib.zeros(2, 3), lib.tensor([0, 3])), IndexError,
     r"nll_loss: target values must be class indices in \[0, 2\]"),
    ("batch_mismatch", lambda lib, F: F.nll_loss(lib.zeros(3, 4), lib.tensor([0, 1])), ValueError,
     r"Expected input batch_size \(3\) to match target batch_size \(2\)"),
    ("kdim_target_shape", lambda lib, F: F.cross_entropy(lib.zeros(2, 3, 4), lib.zeros(2, 5, dtype=lib.int64)),
     RuntimeError, r"Expected target size \[2, 4\], got \[2, 5\]"),
    ("weight_size", lambda lib, F: F.cross_entropy(lib.zeros(2, 3), lib.tensor([0, 1]), weight=lib.ones(4)),
     RuntimeError, "weight tensor should be defined either for all 3 classes"),
    ("int32_target", lambda lib, F: F.nll_loss(lib.zeros(2, 3), lib.tensor([0, 1], dtype=lib.int32)),
     RuntimeError, "expected target dtype to be Long or Byte"),
    ("ignore_index_with_probabilities", lambda lib, F: F.cross_entropy(lib.zeros(2, 3), lib.ones(2, 3),
                                                                       ignore_index=1),
     RuntimeError, "ignore_index is not supported for floating point target"),
    ("bce_out_of_range", lambda lib, F: F.binary_cross_entropy(lib.tensor([0.5, 1.5]), lib.tensor([0.0, 1.0])),
     RuntimeError, "all elements of input should be between 0 and 1"),
    ("bce_shape", lambda lib, F: F.binary_cross_entropy(lib.full((2, 3), 0.5), lib.ones(3)), ValueError,
     r"binary_cross_entropy: target of shape \(3,\) and input of shape \(2, 3\) differ"),
    ("bce_logits_shape", lambda lib, F: F.binary_cross_entropy_with_logits(lib.zeros(3), lib.ones(4)), ValueError,
     "must have the input's shape"),
    ("pos_weight_grad", lambda lib, F: F.binary_cross_entropy_with_logits(
        lib.zeros(3), lib.ones(3), pos_weight=lib.ones(3, requires_grad=True)), RuntimeError,
     "not differentiable with respect to argument 'pos_weight'"),
    ("nll_weight_grad", lambda lib, F: F.nll_loss(lib.zeros(2, 3), lib.tensor([0, 1]),
                                                  weight=lib.ones(3, requires_grad=True)), RuntimeError,
     "not differentiable with respect to argument 'weight'"),
    ("bad_reduction", lambda lib, F: F.l1_loss(lib.zeros(2), lib.zeros(2), reduction="avg"), ValueError,
     "'avg' is not a valid value for reduction"),
    ("huber_delta", lambda lib, F: F.huber_loss(lib.zeros(2), lib.zeros(2), delta=0.0), RuntimeError,
     "huber_loss does not support non-positive values for delta"),
    ("smooth_l1_beta", lambda lib, F: F.smooth_l1_loss(lib.zeros(2), lib.zeros(2), beta=-1.0), RuntimeError,
     "smooth_l1_loss does not support negative values for beta"),
    ("gaussian_var_size", lambda lib, F: F.gaussian_nll_loss(lib.zeros(2, 3), lib.zeros(2, 3), lib.ones(3, 2)),
     ValueError, "var is of incorrect size"),
    ("gaussian_negative_var", lambda lib, F: F.gaussian_nll_loss(lib.zeros(2), lib.zeros(2), lib.tensor([1.0, -1.0])),
     ValueError, "var has negative entry"),
    ("triplet_margin", lambda lib, F: F.triplet_margin_loss(lib.zeros(2, 3), lib.zeros(2, 3), lib.zeros(2, 3),
                                                            margin=0.0), ValueError, "margin must be greater than 0"),
    ("triplet_dims", lambda lib, F: F.triplet_margin_loss(lib.zeros(2, 3), lib.zeros(3), lib.zeros(2, 3)),
     RuntimeError, "same number of dimensions"),
    ("cosine_embedding_target", lambda lib, F: F.cosine_embedding_loss(lib.zeros(2, 3), lib.zeros(2, 3),
                                                                       lib.ones(2, 2)),
     RuntimeError, "0D or 1D target tensor expected"),
    ("margin_ranking_dims", lambda lib, F: F.margin_ranking_loss(lib.zeros(2), lib.zeros(2), lib.ones(1, 2)),
     RuntimeError, "All input tensors should have same dimension"),
    ("soft_margin_grows", lambda lib, F: F.soft_margin_loss(lib.zeros(3), lib.ones(2, 3)), RuntimeError,
     r"doesn't match the broadcast shape"),
]


@pytest.mark.parametrize("name, call, error, match", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_match_torch(name, call, error, match):
    _refuses_like_torch(lambda: call(ag, nn.functional), lambda: call(torch, torch.nn.functional), error, match)


def test_cross_entropy_of_extreme_logits_is_finite():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    for kwargs in ({}, {"label_smoothing": 0.1}):
        ours = nn.functional.cross_entropy(ag.tensor(x), ag.tensor([1, 1]), **kwargs)
        theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor([1, 1]), **kwargs)
        assert_close(ours, theirs)
    z = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    ours = nn.functional.binary_cross_entropy_with_logits(ag.tensor(z, requires_grad=True), ag.tensor(t),
                                                          reduction="none")
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(t), reduction="none")
    assert_close(ours, theirs)


def test_bce_log_is_clamped_at_minus_100():
    x, t = np.array([0.0, 1.0, 0.3]), np.array([1.0, 0.0, 0.2])
    assert_close(nn.functional.binary_cross_entropy(ag.tensor(x), ag.tensor(t), reduction="none"),
                 torch.nn.functional.binary_cross_entropy(torch.tensor(x), torch.tensor(t), reduction="none"))


def test_all_ignored_targets_give_nan_and_zero_gradient():
    for weight in (None, [1.0, 2.0, 3.0]):
        x = ag.randn(3, 3, dtype=ag.float64, requires_grad=True)
        w = None if weight is None else ag.tensor(weight, dtype=ag.float64)
        loss = nn.functional.cross_entropy(x, ag.tensor([-100, -100, -100]), weight=w, label_smoothing=0.2)
        loss.backward()
        assert np.isnan(loss.item()) and not np.any(x.grad.numpy())


def test_losses_train_a_step_like_torch():
    """One SGD step of a Linear classifier with a weighted, smoothed CrossEntropyLoss lands on torch's weights."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    w0, b0 = rng.standard_normal((3, 5)), rng.standard_normal(3)
    weights = [1.0, 0.5, 2.0]
    results = []
    for lib in (ag, torch):
        tlib, nnlib = _lib(lib)
        model = nnlib.Linear(5, 3).double()
        with tlib.no_grad():
            model.weight.copy_(tlib.tensor(w0))
            model.bias.copy_(tlib.tensor(b0))
        loss = nnlib.CrossEntropyLoss(weight=tlib.tensor(weights, dtype=tlib.float64), label_smoothing=0.1)
        loss(model(tlib.tensor(x)), tlib.tensor(y)).backward()
        results.append([to_numpy(model.weight.grad), to_numpy(model.bias.grad)])
    for ours, theirs in zip(*results):
        assert_close(ours, theirs)
