"""Mixed precision: autocast's dtypes and values against torch.autocast on the CPU (bfloat16 and float16),
GradScaler's trajectories against torch.amp.GradScaler("cpu"), and the CUDA path on the stand-in."""

import threading

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
import optim
from autograd import function
from conftest import assert_close, to_numpy

torch = pytest.importorskip("torch")
TF = torch.nn.functional

LOW = {"bfloat16": (ag.bfloat16, torch.bfloat16), "float16": (ag.float16, torch.float16)}
TOL = {"bfloat16": 3e-2, "float16": 5e-3}  # a few units in the last place of the low dtype, at magnitude ~1


# One row per op: (id, call(lib, F, *inputs), inputs as (shape, kind)). kind: "f32", "low" (made in the
# autocast dtype before the region), "int<n>" (class indices below n), "bool". The same call runs on both.
ROWS = [
    ("matmul", lambda L, F, a, b: L.matmul(a, b), [((3, 4), "f32"), ((4, 5), "f32")]),
    ("matmul_operator_mixed", lambda L, F, a, b: a @ b, [((2, 3, 4), "low"), ((4, 5), "f32")]),
    ("linear", lambda L, F, x, w, b: F.linear(x, w, b), [((2, 3, 4), "f32"), ((5, 4), "f32"), ((5,), "f32")]),
    ("linear_low_input", lambda L, F, x, w, b: F.linear(x, w, b), [((3, 4), "low"), ((5, 4), "f32"), ((5,), "f32")]),
    ("conv1d", lambda L, F, x, w, b: F.conv1d(x, w, b, padding=1), [((2, 3, 8), "f32"), ((4, 3, 3), "f32"),
                                                                     ((4,), "f32")]),
    ("conv2d", lambda L, F, x, w, b: F.conv2d(x, w, b, stride=2), [((2, 3, 6, 6), "low"), ((4, 3, 3, 3), "f32"),
                                                                    ((4,), "f32")]),
    ("conv_transpose2d", lambda L, F, x, w, b: F.conv_transpose2d(x, w, b), [((1, 3, 4, 4), "f32"),
                                                                             ((3, 2, 3, 3), "f32"), ((2,), "f32")]),
    ("scaled_dot_product_attention", lambda L, F, q, k, v: F.scaled_dot_product_attention(q, k, v),
     [((2, 3, 5, 4), "f32"), ((2, 3, 6, 4), "f32"), ((2, 3, 6, 4), "f32")]),
    ("prelu", lambda L, F, x, w: F.prelu(x, w), [((3, 4), "f32"), ((1,), "f32")]),
    # float32 ops on the CPU: the losses
    ("cross_entropy", lambda L, F, x, t: F.cross_entropy(x, t), [((4, 5), "low"), ((4,), "int5")]),
    ("nll_loss", lambda L, F, x, t: F.nll_loss(F.log_softmax(x, 1), t), [((4, 5), "low"), ((4,), "int5")]),
    ("binary_cross_entropy_with_logits", lambda L, F, x, t: F.binary_cross_entropy_with_logits(x, t.sigmoid()),
     [((3, 4), "low"), ((3, 4), "low")]),
    # no policy on the CPU: these keep the dtype they are given, in PyTorch as here
    ("softmax", lambda L, F, x: F.softmax(x, -1), [((3, 4), "low")]),
    ("log_softmax_f32", lambda L, F, x: F.log_softmax(x, -1), [((3, 4), "f32")]),
    ("exp_log", lambda L, F, x: (x.exp() + 1).log(), [((3, 4), "low")]),
    ("sum_pow", lambda L, F, x: (x ** 2).sum(0), [((3, 4), "low")]),
    ("mean_relu", lambda L, F, x: x.relu().mean(), [((3, 4), "low")]),
    ("layer_norm", lambda L, F, x, w, b: F.layer_norm(x, (4,), w, b), [((3, 4), "low"), ((4,), "f32"), ((4,), "f32")]),
    ("batch_norm", lambda L, F, x, w, b: F.batch_norm(x, None, None, w, b, training=True),
     [((5, 3, 2), "low"), ((3,), "f32"), ((3,), "f32")]),
    ("group_norm", lambda L, F, x, w, b: F.group_norm(x, 2, w, b), [((2, 4, 3), "low"), ((4,), "f32"), ((4,), "f32")]),
    # promoted to the widest (cat, stack), or promoted by the op itself (add, where)
    ("cat", lambda L, F, a, b: L.cat([a, b], 0), [((2, 3), "low"), ((1, 3), "f32")]),
    ("cat_low", lambda L, F, a, b: L.cat([a, b], 1), [((2, 3), "low"), ((2, 1), "low")]),
    ("stack", lambda L, F, a, b: L.stack([a, b]), [((2, 3), "f32"), ((2, 3), "low")]),
    ("add", lambda L, F, a, b: a + b, [((2, 3), "low"), ((2, 3), "f32")]),
    ("where", lambda L, F, c, a, b: L.where(c, a, b), [((2, 3), "bool"), ((2, 3), "low"), ((2, 3), "f32")]),
    ("float64_untouched", lambda L, F, a, b: L.matmul(a, b), [((2, 3), "f64"), ((3, 2), "f64")]),
]
ROW_IDS = [r[0] for r in ROWS]


def make_inputs(specs, low, seed=0):
    """ndgrad and torch inputs holding the same values (those made low are rounded alike)."""
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for shape, kind in specs:
        if kind.startswith("int"):
            data = rng.integers(0, int(kind[3:]), shape)
            ours.append(ag.tensor(data, dtype=ag.int64))
            theirs.append(torch.from_numpy(data))
            continue
        if kind == "bool":
            data = rng.random(shape) > 0.5
            ours.append(ag.tensor(data))
            theirs.append(torch.from_numpy(data))
            continue
        data = rng.standard_normal(shape)
        if kind == "f64":
            ours.append(ag.tensor(data, dtype=ag.float64, requires_grad=True))
            theirs.append(torch.tensor(data, requires_grad=True))
            continue
        t = torch.tensor(data, dtype=torch.float32)
        if kind == "low":
            t = t.to(LOW[low][1])
        ours.append(ag.tensor(t.float().numpy(), dtype=LOW[low][0] if kind == "low" else ag.float32,
                              requires_grad=True))
        theirs.append(t.requires_grad_())
    return ours, theirs


def as_float64(t):
    return to_numpy(t.float() if isinstance(t, ag.Tensor) else t.float()).astype(np.float64)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_cpu_autocast_matches_torch(row, low):
    """Under autocast the output dtype is torch's, the values agree within the low dtype's precision, and
    every floating leaf gets its gradient in its own dtype, close to torch's."""
    name, call, specs = row
    if low == "float16" and name.startswith(("cat", "stack")):
        pytest.skip("torch's CPU autocast cannot promote float16 tensors: 'Unexpected floating ScalarType'")
    ours, theirs = make_inputs(specs, low)
    with ag.autocast("cpu", dtype=LOW[low][0]):
        out = call(ag, F, *ours)
    with torch.autocast("cpu", dtype=LOW[low][1]):
        expected = call(torch, TF, *theirs)
    assert str(out.dtype) == str(expected.dtype).replace("torch.", ""), f"{name}: {out.dtype} vs {expected.dtype}"
    tol = TOL[low] if out.dtype != ag.float64 else 1e-12
    np.testing.assert_allclose(as_float64(out), as_float64(expected), rtol=tol, atol=tol, err_msg=name)
    # backward outside the region, as PyTorch recommends
    weights = np.random.default_rng(1).standard_normal(tuple(out.shape))
    (out.float() * ag.tensor(weights, dtype=ag.float32)).sum().backward()
    (expected.float() * torch.tensor(weights, dtype=torch.float32)).sum().backward()
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if not b.requires_grad:
            continue
        assert a.grad is not None and a.grad.dtype == a.dtype, f"{name}: input {i} gradient {a.grad}"
        g_tol = 4 * tol
        np.testing.assert_allclose(as_float64(a.grad), as_float64(b.grad), rtol=g_tol, atol=g_tol,
                                   err_msg=f"{name}: gradient of input {i}")


@pytest.mark.filterwarnings("ignore:reduction")
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "kl_div", "binary_cross_entropy"])
def test_composite_losses_run_in_float32_as_torch(name):
    """PyTorch runs these losses in float32 under CPU autocast. Here they are compositions of other ops, so the
    cast happens at the function (@autocast_entry): float32 out, the gradient back in the input's dtype."""
    ours, theirs = make_inputs([((3, 4), "low"), ((3, 4), "low")], "bfloat16")
    with ag.autocast("cpu"):
        out = getattr(F, name)(ours[0].sigmoid(), ours[1].sigmoid())
    with torch.autocast("cpu"):
        expected = getattr(TF, name)(theirs[0].sigmoid(), theirs[1].sigmoid())
    assert expected.dtype == torch.float32 and out.dtype == ag.float32
    np.testing.assert_allclose(as_float64(out), as_float64(expected), rtol=1e-2, atol=1e-3)
    out.backward()
    assert ours[0].grad.dtype == ours[0].dtype


@pytest.mark.parametrize("mode", ["RNN", "GRU"])
def test_recurrent_layers_match_torch(mode):
    """nn.RNN runs in bfloat16 under CPU autocast, nn.GRU in float32 (torch's CPU list has no GRU)."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, mode)(4, 3, batch_first=True)
    ours = getattr(nn, mode)(4, 3, batch_first=True)
    ours.load_state_dict({k: ag.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    with ag.autocast("cpu"):
        out, h = ours(ag.tensor(x))
    with torch.autocast("cpu"):
        expected, h_expected = theirs(torch.tensor(x))
    assert str(out.dtype) == str(expected.dtype).replace("torch.", "")
    assert str(h.dtype) == str(h_expected.dtype).replace("torch.", "")
    np.testing.assert_allclose(as_float64(out), as_float64(expected), rtol=3e-2, atol=3e-2)


def test_transformer_encoder_layer_matches_torch():
    """A whole nn.TransformerEncoderLayer (attention, linear, layer_norm, residuals) under CPU autocast: output
    dtype and values as torch's, and float32 gradients on every weight close to torch's."""
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    ours = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    ours.load_state_dict({k: ag.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    with ag.autocast("cpu"):
        out = ours(ag.tensor(x))
    with torch.autocast("cpu"):
        expected = theirs(torch.tensor(x))
    assert str(out.dtype) == str(expected.dtype).replace("torch.", "")
    np.testing.assert_allclose(as_float64(out), as_float64(expected), rtol=3e-2, atol=3e-2)
    out.float().sum().backward()
    expected.float().sum().backward()
    theirs_by_name = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad.dtype == ag.float32, name
        np.testing.assert_allclose(to_numpy(p.grad), theirs_by_name[name].grad.numpy(), rtol=5e-2, atol=5e-2,
                                   err_msg=name)


def test_model_gradients_reach_float32_weights_in_float32():
    """A two-layer MLP and its loss under autocast: the weights stay float32 and get float32 gradients
    close to torch's, and the forward pass ran in bfloat16 (the hidden activation)."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ours = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    ours.load_state_dict({k: ag.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)
    with ag.autocast("cpu"):
        hidden = ours[1](ours[0](ag.tensor(x)))
        loss = F.cross_entropy(ours[2](hidden), ag.tensor(y))
    with torch.autocast("cpu"):
        expected = TF.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
    assert hidden.dtype == ag.bfloat16 and loss.dtype == ag.float32 and expected.dtype == torch.float32
    loss.backward()
    expected.backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert p.dtype == ag.float32 and p.grad.dtype == ag.float32, name
        np.testing.assert_allclose(to_numpy(p.grad), q.grad.numpy(), rtol=5e-2, atol=2e-2, err_msg=name)
    assert_close(loss, expected.detach(), rtol=2e-2, atol=2e-2)


def test_state_nesting_and_enabled_false_like_torch():
    """is_autocast_enabled / get_autocast_dtype through nested regions, enabled=False inside, the decorator
    form and the defaults, step for step against torch's."""
    def state(lib):
        return (lib.is_autocast_enabled("cpu"), str(lib.get_autocast_dtype("cpu")).replace("torch.", ""),
                lib.is_autocast_enabled(), str(lib.get_autocast_dtype("cuda")).replace("torch.", ""))

    def trace(lib, f16):
        seen = [state(lib)]
        with lib.autocast("cpu"):
            seen.append(state(lib))
            with lib.autocast("cpu", dtype=f16):
                seen.append(state(lib))
                with lib.autocast("cpu", enabled=False):
                    seen.append(state(lib))
                    with lib.autocast("cpu"):  # dtype=None: the enclosing region's
                        seen.append(state(lib))
                seen.append(state(lib))
            seen.append(state(lib))
        seen.append(state(lib))

        @lib.autocast("cpu", dtype=f16)
        def decorated():
            return state(lib)
        seen.append(decorated())
        seen.append(state(lib))
        return seen

    assert trace(ag, ag.float16) == trace(torch, torch.float16)
    assert function.autocast_hook is None  # off again: Op.apply pays one check


def test_regions_leave_nothing_behind():
    """After the last region (also one left by an exception) both hooks are gone."""
    with pytest.raises(ZeroDivisionError):
        with ag.autocast("cpu"):
            assert function.autocast_hook is not None and function.entry_hook is not None
            1 / 0
    assert function.autocast_hook is None and function.entry_hook is None
    assert F.linear(ag.ones(1, 2), ag.ones(3, 2)).dtype == ag.float32
    assert not ag.is_autocast_enabled("cpu")


def test_enabled_false_and_nested_dtype_change_ops():
    x, w = ag.randn(3, 4), ag.randn(5, 4, requires_grad=True)
    with ag.autocast("cpu"):
        assert F.linear(x, w).dtype == ag.bfloat16
        with ag.autocast("cpu", enabled=False):
            assert F.linear(x, w).dtype == ag.float32
            with ag.autocast("cpu", dtype=ag.float16):
                assert F.linear(x, w).dtype == ag.float16
        assert F.linear(x, w).dtype == ag.bfloat16
    assert F.linear(x, w).dtype == ag.float32


def test_autocast_is_per_thread_and_per_device_type():
    """A region in one thread leaves other threads alone; autocast("cuda") leaves CPU tensors alone."""
    x, w = ag.randn(3, 4), ag.randn(5, 4)
    inside, outside = threading.Event(), threading.Event()
    seen = []

    def other():
        inside.wait()
        seen.append(F.linear(x, w).dtype)
        outside.set()

    thread = threading.Thread(target=other)
    thread.start()
    with ag.autocast("cpu"):
        inside.set()
        outside.wait()
        assert F.linear(x, w).dtype == ag.bfloat16
    thread.join()
    assert seen == [ag.float32]
    with ag.autocast("cuda"):
        assert F.linear(x, w).dtype == ag.float32


def test_weight_cast_cache_per_region():
    """A weight (leaf requiring grad) is cast once per region and reused, as PyTorch caches it; not across
    regions, not with cache_enabled=False, and again after the weight changed in place."""
    x, w = ag.randn(3, 4), ag.randn(5, 4, requires_grad=True)

    def cast_node(y):  # the cast node on the weight's edge of the linear node
        return y.grad_fn.next_functions[1][0]

    with ag.autocast("cpu"):
        a, b = F.linear(x, w), F.linear(x * 2, w)
        assert cast_node(a) is cast_node(b)
        with ag.no_grad():
            w.mul_(2.0)
        c = F.linear(x, w)
        assert cast_node(c) is not cast_node(a)
        assert_close(c, (x.to(ag.bfloat16) @ w.to(ag.bfloat16).T), rtol=0, atol=0)
    with ag.autocast("cpu"):
        assert cast_node(F.linear(x, w)) is not cast_node(c)
    with ag.autocast("cpu", cache_enabled=False):
        assert cast_node(F.linear(x, w)) is not cast_node(F.linear(x, w))
    (a.float().sum() + b.float().sum()).backward()  # two uses of one cast: the gradients add up
    expected = (torch.ones(3, 5).T @ torch.from_numpy(to_numpy(x)).bfloat16().float() * 3)
    np.testing.assert_allclose(to_numpy(w.grad), expected.numpy(), rtol=3e-2, atol=3e-2)


def test_refusals_like_torch():
    with pytest.raises(RuntimeError, match="tpu"):
        ag.autocast("tpu")
    with pytest.raises(RuntimeError):
        torch.autocast("tpu")
    with pytest.warns(UserWarning, match="not supported"):
        with ag.autocast("cpu", dtype=ag.float64):
            assert not ag.is_autocast_enabled("cpu")
    with pytest.warns(UserWarning):
        with torch.autocast("cpu", dtype=torch.float64):
            assert not torch.is_autocast_enabled("cpu")


def test_amp_namespace():
    assert ag.amp.autocast is ag.autocast
    assert {"autocast", "GradScaler", "is_autocast_enabled", "get_autocast_dtype"} <= set(ag.amp.__all__)


def _scaled_matmul(lib, cast_inputs):
    """The same user Function in both libraries: forward a @ b, backward in whatever autocast state
    custom_bwd restores; it records the dtypes and autocast states it saw."""
    seen = []

    class ScaledMatmul(lib.autograd.Function if lib is torch else lib.Function):
        @staticmethod
        @lib.amp.custom_fwd(device_type="cpu", cast_inputs=cast_inputs)
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            out = a @ b
            seen.append(("forward", str(a.dtype), str(out.dtype), lib.is_autocast_enabled("cpu")))
            return out

        @staticmethod
        @lib.amp.custom_bwd(device_type="cpu")
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            ga, gb = grad @ b.mT, a.mT @ grad
            seen.append(("backward", str(ga.dtype), lib.is_autocast_enabled("cpu")))
            return ga, gb
    return ScaledMatmul, seen


@pytest.mark.parametrize("cast_inputs", [None, "float32"])
def test_custom_fwd_bwd_like_torch(cast_inputs):
    """custom_fwd(cast_inputs=float32) runs a Function's forward in float32 with autocast off inside a region;
    with None forward sees the region, and custom_bwd gives backward the forward's autocast state."""
    results = []
    for lib, f32 in ((ag, ag.float32), (torch, torch.float32)):
        fn, seen = _scaled_matmul(lib, None if cast_inputs is None else f32)
        a, b = lib.ones(2, 3, requires_grad=True), lib.ones(3, 4, requires_grad=True)
        with lib.autocast("cpu"):
            out = fn.apply(a, b)
            out.float().sum().backward()  # inside the region, so custom_bwd's state is what shows
        seen.append(("out", str(out.dtype), str(a.grad.dtype)))
        results.append([tuple(v.replace("torch.", "") if isinstance(v, str) else v for v in row) for row in seen])
    assert results[0] == results[1]


def test_grad_scaler_without_cuda_disables_itself_like_torch():
    if ag.cuda.is_available():
        pytest.skip("CUDA (or the stand-in) is available here")
    with pytest.warns(UserWarning, match="CUDA is not available"):
        ours = ag.amp.GradScaler()
    with pytest.warns(UserWarning):
        theirs = torch.amp.GradScaler("cuda")
    assert ours.is_enabled() == theirs.is_enabled() is False


# --- GradScaler against torch.amp.GradScaler("cpu") ------------------------------------------------------------

def _models():
    torch.manual_seed(0)
    theirs = torch.nn.Linear(4, 3)
    ours = nn.Linear(4, 3)
    ours.load_state_dict({k: ag.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


def _scaler_step(lib, F_, model, opt, scaler, x, y, poison, clip=None):
    """One AMP iteration; ``poison``: "inf" or "nan" written into one gradient after backward."""
    with lib.autocast("cpu"):
        loss = F_.cross_entropy(model(x), y)
    opt.zero_grad()
    scaler.scale(loss).backward()
    if poison:
        with (ag.no_grad() if lib is ag else torch.no_grad()):
            model.weight.grad[0, 1] = float(poison)
    if clip is not None:
        scaler.unscale_(opt)
        (nn.utils if lib is ag else torch.nn.utils).clip_grad_norm_(model.parameters(), clip)
    stepped = scaler.step(opt)
    scaler.update()
    return stepped


@pytest.mark.parametrize("clip", [None, 0.5])
def test_grad_scaler_trajectory_matches_torch(clip):
    """Skipped steps on inf/NaN, backoff, growth after growth_interval clean steps, the parameters: all as
    torch's scaler does, step by step (with and without unscale_ + clipping)."""
    ours, theirs = _models()
    opt_ours, opt_theirs = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    kw = dict(init_scale=2.0 ** 10, growth_factor=4.0, backoff_factor=0.25, growth_interval=3)
    s_ours, s_theirs = ag.amp.GradScaler("cpu", **kw), torch.amp.GradScaler("cpu", **kw)
    rng = np.random.default_rng(0)
    poisons = [None, "inf", None, None, None, "nan", None, None, None, None, "inf", None]
    for step, poison in enumerate(poisons):
        x, y = rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 3, 6)
        before = to_numpy(ours.weight).copy()
        _scaler_step(ag, F, ours, opt_ours, s_ours, ag.tensor(x), ag.tensor(y), poison, clip)
        _scaler_step(torch, TF, theirs, opt_theirs, s_theirs, torch.tensor(x), torch.tensor(y), poison, clip)
        assert s_ours.get_scale() == s_theirs.get_scale(), f"step {step}"
        assert s_ours._get_growth_tracker() == s_theirs._get_growth_tracker(), f"step {step}"
        assert (poison is not None) == np.array_equal(to_numpy(ours.weight), before), f"step {step}"
        for p, q in zip(ours.parameters(), theirs.parameters()):
            np.testing.assert_allclose(to_numpy(p), q.detach().numpy(), rtol=2e-3, atol=2e-3, err_msg=f"step {step}")
    assert s_ours.state_dict() == s_theirs.state_dict()


def test_grad_scaler_state_dict_round_trip():
    """state_dict is torch's (same keys and values after the same history); a scaler loaded from it
    continues exactly as the original, and loading works before and after the scale exists."""
    ours, theirs = _models()
    opt, t_opt = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    scaler = ag.amp.GradScaler("cpu", init_scale=256.0, growth_interval=2)
    x, y = np.ones((6, 4), np.float32), np.array([0, 1, 2, 0, 1, 2])
    for poison in (None, "inf", None):
        _scaler_step(ag, F, ours, opt, scaler, ag.tensor(x), ag.tensor(y), poison)
    state = scaler.state_dict()
    reference = torch.amp.GradScaler("cpu")
    reference.load_state_dict(state)
    assert reference.state_dict() == state
    fresh, used = ag.amp.GradScaler("cpu"), ag.amp.GradScaler("cpu")
    fresh.load_state_dict(state)
    used.scale(ag.ones(()))  # the scale exists already: loading overwrites it
    used.load_state_dict(state)
    assert fresh.state_dict() == used.state_dict() == state
    for s in (scaler, fresh, used):  # one clean step more: the growth_interval-th, so the scale grows
        _scaler_step(ag, F, ours, opt, s, ag.tensor(x), ag.tensor(y), None)
    _scaler_step(torch, TF, theirs, t_opt, reference, torch.tensor(x), torch.tensor(y), None)
    assert scaler.state_dict() == fresh.state_dict() == used.state_dict() == reference.state_dict()
    assert reference.get_scale() != state["scale"]


def test_grad_scaler_refusals_like_torch():
    ours, theirs = _models()
    ag_opt, t_opt = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    pairs = [(ag.amp.GradScaler("cpu"), ag_opt, ours, ag.ones((1, 4))),
             (torch.amp.GradScaler("cpu"), t_opt, theirs, torch.ones((1, 4)))]
    for scaler, opt, model, x in pairs:
        with pytest.raises(AssertionError):
            scaler.step(opt)  # before scale(): no scale yet
        scaler.scale(model(x).sum()).backward()
        scaler.unscale_(opt)
        with pytest.raises(RuntimeError, match="unscale_"):
            scaler.unscale_(opt)
        scaler.step(opt)
        with pytest.raises(RuntimeError, match="step"):
            scaler.step(opt)
        with pytest.raises(RuntimeError, match="unscale_"):
            scaler.unscale_(opt)
        with pytest.raises(RuntimeError, match="losure"):
            scaler.step(opt, closure=lambda: None)
        scaler.update()
        with pytest.raises(RuntimeError, match="empty"):
            scaler.load_state_dict({})
    half = nn.Linear(2, 2).to(dtype=ag.float16)
    scaler = ag.amp.GradScaler("cpu")
    scaler.scale(half(ag.ones((1, 2), dtype=ag.float16)).float().sum()).backward()
    with pytest.raises(ValueError, match="float16"):
        scaler.unscale_(optim.SGD(half.parameters(), lr=0.1))


def test_grad_scaler_update_new_scale_and_disabled():
    for lib, make in ((ag, lambda v: ag.tensor(v)), (torch, lambda v: torch.tensor(v))):
        scaler = lib.amp.GradScaler("cpu", init_scale=8.0)
        scaler.scale(make([1.0]))
        scaler.update(new_scale=2.0)
        assert scaler.get_scale() == 2.0
        scaler.update(new_scale=make(32.0))
        assert scaler.get_scale() == 32.0
        with pytest.raises(AssertionError):
            scaler.update(new_scale=make([1.0, 2.0]))
        off = lib.amp.GradScaler("cpu", enabled=False)
        loss = make([3.0])
        assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}
        assert not off.is_enabled() and scaler.is_enabled()


def test_grad_scaler_scales_lists_and_keeps_dtype():
    scaler, reference = ag.amp.GradScaler("cpu", init_scale=4.0), torch.amp.GradScaler("cpu", init_scale=4.0)
    ours = scaler.scale([ag.ones(2, dtype=ag.bfloat16), (ag.ones(()),)])
    theirs = reference.scale([torch.ones(2, dtype=torch.bfloat16), (torch.ones(()),)])
    assert ours[0].dtype == ag.bfloat16 and theirs[0].dtype == torch.bfloat16
    np.testing.assert_array_equal(as_float64(ours[0]), as_float64(theirs[0]))
    assert isinstance(ours[1], tuple) and isinstance(theirs[1], tuple)
    assert_close(ours[1][0], theirs[1][0])


# --- the CUDA path, on the stand-in (or a GPU) ------------------------------------------------------------------------

def _standin_syncs():
    """cupy_standin.count_syncs when the stand-in poses as CuPy, else None (a real GPU counts nothing)."""
    import sys
    import cupy_standin
    return cupy_standin.count_syncs if sys.modules.get("cupy") is not None and cupy_standin._saved is not None \
        else None


@pytest.mark.cuda
def test_cuda_autocast_float16_policies():
    """On "cuda" tensors: linear/conv/matmul in float16, softmax, log_softmax, exp, sum and layer_norm in
    float32 (CUDA's list), batch_norm in the input's dtype; CPU tensors in the same region untouched."""
    x, w = ag.randn(3, 4, device="cuda"), ag.randn(5, 4, device="cuda", requires_grad=True)
    img, k = ag.randn(1, 2, 5, 5, device="cuda"), ag.randn(3, 2, 3, 3, device="cuda")
    with ag.autocast("cuda"):
        assert ag.get_autocast_dtype("cuda") == ag.float16 and ag.is_autocast_enabled()
        y = F.linear(x, w)
        assert y.dtype == ag.float16
        assert F.conv2d(img, k).dtype == ag.float16
        assert (x @ w.T).dtype == ag.float16
        assert F.softmax(y, -1).dtype == ag.float32 and F.log_softmax(y, -1).dtype == ag.float32
        assert y.exp().dtype == ag.float32 and y.sum().dtype == ag.float32
        assert F.layer_norm(y, (5,)).dtype == ag.float32
        assert F.batch_norm(y, None, None, ag.ones(5, device="cuda"), None, training=True).dtype == ag.float16
        assert F.cross_entropy(y, ag.tensor([0, 1, 2], device="cuda")).dtype == ag.float32
        assert F.linear(ag.randn(3, 4), ag.randn(5, 4)).dtype == ag.float32
        loss = F.cross_entropy(y, ag.tensor([0, 1, 2], device="cuda"))
    loss.backward()
    assert w.grad.dtype == ag.float32 and w.grad.device == w.device


@pytest.mark.cuda
def test_cuda_grad_scaler_syncs_only_in_step():
    """A float16-autocast training step with GradScaler("cuda"): scale, backward, unscale_, update make no host
    synchronisation; step() makes exactly the one that decides whether the optimizer runs (stand-in count).
    The forward pass is left out of the count: cross_entropy's target check still syncs (issue 9, part 3)."""
    counter = _standin_syncs()
    if counter is None:
        pytest.skip("counts host synchronisations only on the CuPy stand-in (--cuda-standin)")
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.1)
    scaler = ag.amp.GradScaler("cuda", init_scale=2.0 ** 8, growth_interval=1)
    x, y = ag.randn(6, 4, device="cuda"), ag.tensor([0, 1, 2, 0, 1, 2], device="cuda")
    for poison in (None, "inf"):
        with ag.autocast("cuda"):
            loss = F.cross_entropy(model(x), y)
        with counter() as before_step:
            opt.zero_grad()
            scaler.scale(loss).backward()
            if poison:
                # a slice: the stand-in's ndarray drops a scalar written at integer indices (CuPy writes it)
                model[0].weight.grad.array[0:1, 0:1] = float(poison)
            scaler.unscale_(opt)
        with counter() as in_step:
            scaler.step(opt)
        with counter() as in_update:
            scaler.update()
        assert sum(before_step.values()) == 0, before_step
        assert sum(in_step.values()) == 1, in_step
        assert sum(in_update.values()) == 0, in_update
    assert scaler.get_scale() == 2.0 ** 8  # grown once (interval 1), then backed off once
