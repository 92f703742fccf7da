"""Bad input raises an exception whose message names the op, the shapes/dtypes/devices
involved, and what to do instead. Where PyTorch refuses the same thing, the test checks
that it does, so ndgrad is held to PyTorch's behaviour, not to its own.
"""

import contextlib
import re
import sys
import types

import numpy as np
import pytest

import autograd as ag
import backends
from backends import Device
from conftest import SecondDevice

torch = pytest.importorskip("torch")


def torch_raises(fn, error=(RuntimeError, IndexError, ValueError, TypeError)):
    with pytest.raises(error):
        fn()


# --- requires_grad on integer tensors ----------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: ag.tensor([1, 2], requires_grad=True),
    lambda: ag.zeros(3, dtype=ag.int64, requires_grad=True),
    lambda: ag.arange(4, requires_grad=True),
    lambda: ag.tensor([1, 2]).requires_grad_(),
    lambda: ag.tensor([True]).requires_grad_(),
])
def test_integer_tensor_cannot_require_grad(make):
    with pytest.raises(RuntimeError, match=r"floating point") as info:
        make()
    message = str(info.value)
    assert "requires_grad" in message
    assert re.search(r"int64|bool", message)
    assert ".float()" in message
    torch_raises(lambda: torch.tensor([1, 2], requires_grad=True))


def test_setting_requires_grad_on_integer_tensor_attribute():
    t = ag.tensor([1, 2], dtype=ag.int32)
    with pytest.raises(RuntimeError, match=r"int32.*\(shape \(2,\)\)"):
        t.requires_grad = True
    assert not t.requires_grad


# --- mixing devices -------------------------------------------------------------------------------------------

@pytest.fixture
def on_fake_gpu():
    backend = SecondDevice()

    def make(values, requires_grad=False):
        return ag.Tensor._make(np.asarray(values, dtype=np.float32), backend, requires_grad)
    return make


@pytest.mark.parametrize("name, op", [
    ("add", lambda a, b: a + b),
    ("mul", lambda a, b: b * a),
    ("sub", lambda a, b: a - b),
    ("div", lambda a, b: a / b),
    ("matmul", lambda a, b: a @ b),
    ("maximum", lambda a, b: ag.maximum(a, b)),
    ("less", lambda a, b: a < b),
])
def test_mixing_devices_in_one_op(on_fake_gpu, name, op):
    cpu = ag.tensor([1.0, 2.0, 3.0])
    gpu = on_fake_gpu([4.0, 5.0, 6.0])
    assert gpu.device == "cuda:0" and cpu.device == "cpu"
    with pytest.raises(RuntimeError) as info:
        op(cpu, gpu)
    message = str(info.value)
    assert message.startswith(f"{name}:")
    assert "cpu" in message and "cuda:0" in message
    assert "same device" in message
    assert "(3,)" in message            # the shapes of the inputs
    assert ".to(" in message             # and the fix


def test_mixing_devices_in_cat_and_setitem(on_fake_gpu):
    cpu = ag.tensor([1.0, 2.0])
    gpu = on_fake_gpu([3.0, 4.0])
    with pytest.raises(RuntimeError, match=r"cat: .*same device.*cpu and cuda:0"):
        ag.cat([cpu, gpu])
    with pytest.raises(RuntimeError, match=r"setitem: .*cuda:0.*cpu.*\.to\('cpu'\)"):
        cpu[0:2] = gpu


def test_mixing_devices_with_grad(on_fake_gpu):
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    x = on_fake_gpu([1.0, 1.0])
    with pytest.raises(RuntimeError, match=r"mul: .*cpu and cuda:0"):
        w * x


# --- shapes ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [((2, 3), (4, 5)), ((3,), (4,)), ((5, 2, 3), (5, 4, 3)), ((2, 3), (2,))])
def test_matmul_shape_mismatch(a, b):
    with pytest.raises(RuntimeError) as info:
        ag.ones(*a) @ ag.ones(*b)
    message = str(info.value)
    assert message.startswith("matmul:")
    assert str(a) in message and str(b) in message
    torch_raises(lambda: torch.ones(*a) @ torch.ones(*b))


def test_matmul_of_a_scalar():
    with pytest.raises(RuntimeError, match=r"matmul: .*at least 1 dim.*\(\).*use \*"):
        ag.tensor(2.0) @ ag.ones(2)


@pytest.mark.parametrize("name, op", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("maximum", lambda a, b: ag.maximum(a, b)), ("less", lambda a, b: a < b),
    ("equal", lambda a, b: a == b),
])
def test_broadcast_mismatch_names_op_and_shapes(name, op):
    with pytest.raises(RuntimeError) as info:
        op(ag.ones(2, 3), ag.ones(4))
    message = str(info.value)
    assert message.startswith(f"{name}:")
    assert "(2, 3)" in message and "(4,)" in message
    assert "broadcast" in message
    torch_raises(lambda: torch.ones(2, 3) + torch.ones(4))


def test_broadcast_mismatch_with_grad():
    x = ag.ones(3, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"mul: .*\(3, 2\).*\(3,\)"):
        x * ag.ones(3)


@pytest.mark.parametrize("shape", [(4, 2), (-1, 4), (-1, -1), (7,), (0, -1)])
def test_reshape_to_an_invalid_shape(shape):
    t = ag.ones(2, 3)
    with pytest.raises(RuntimeError) as info:
        t.reshape(*shape)
    message = str(info.value)
    assert message.startswith("reshape:")
    assert str(list(shape)) in message and "6" in message and "(2, 3)" in message
    torch_raises(lambda: torch.ones(2, 3).reshape(*shape))
    with pytest.raises(RuntimeError, match="reshape"):
        t.view(shape)


@pytest.mark.parametrize("op, dim", [(op, dim) for op in ["sum", "mean", "amax", "softmax", "logsumexp"]
                                      for dim in [2, -3, (0, 5)]
                                      if not (op == "softmax" and isinstance(dim, tuple))])  # softmax: one dim
def test_dim_out_of_range(op, dim):
    t = ag.ones(2, 3)
    with pytest.raises(IndexError) as info:
        getattr(t, op)(dim)
    message = str(info.value)
    assert message.startswith(f"{op}:")
    bad = dim[1] if isinstance(dim, tuple) else dim
    assert f"Dimension out of range (expected to be in range of [-2, 1], but got {bad})" in message
    assert "2 dims" in message and "(2, 3)" in message
    torch_raises(lambda: getattr(torch.ones(2, 3), op)(dim), IndexError)


def test_unsqueeze_dim_out_of_range():
    with pytest.raises(IndexError, match=r"unsqueeze: Dimension out of range \(expected to be in range of \[-3, 2\], "
                                         r"but got 3\) for the 2 dims of shape \(2, 3\)"):
        ag.ones(2, 3).unsqueeze(3)


def test_cat_shape_mismatch():
    with pytest.raises(RuntimeError, match=r"cat: .*dim 0.*\(2, 3\).*\(2, 4\)"):
        ag.cat([ag.ones(2, 3), ag.ones(2, 4)])


def test_stack_shape_mismatch():
    with pytest.raises(RuntimeError, match=r"stack: .*\(2,\).*\(3,\)"):
        ag.stack([ag.ones(2), ag.ones(3)])


def test_expand_to_incompatible_shape():
    with pytest.raises(RuntimeError, match=r"expand: .*\(3,\).*\[2, 4\]"):
        ag.ones(3).expand(2, 4)


def test_index_out_of_range():
    with pytest.raises(IndexError, match=r"getitem: .*\(2, 3\)"):
        ag.ones(2, 3)[5]
    with pytest.raises(IndexError, match=r"getitem: .*integer or bool.*float32"):
        ag.ones(3)[ag.tensor([0.0, 1.0])]


# --- backward misuse -------------------------------------------------------------------------------------------

def test_second_backward_through_a_freed_graph():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"MulBackward0: .*second time.*retain_graph=True"):
        y.backward()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = (tx * tx).sum()
    ty.backward()
    torch_raises(ty.backward)


def test_second_autograd_grad_through_a_freed_graph():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp().sum()
    ag.grad(y, x)
    with pytest.raises(RuntimeError, match=r"ExpBackward0: .*retain_graph=True"):
        ag.grad(y, x)


def test_backward_of_non_scalar_without_gradient():
    x = ag.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError) as info:
        y.backward()
    message = str(info.value)
    assert message.startswith("backward:")
    assert "scalar" in message and "(2, 3)" in message
    assert "gradient=" in message and ".sum().backward()" in message
    torch_raises((torch.ones(2, 3, requires_grad=True) * 2).backward)


def test_backward_gradient_of_the_wrong_shape():
    y = ag.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"backward: gradient has shape \(3,\) but the output has shape \(2, 3\)"):
        y.backward(ag.ones(3))


def test_backward_of_a_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match=r"backward: .*shape \(\)\).*does not require grad.*requires_grad=True"):
        ag.ones(2).sum().backward()
    with ag.no_grad():
        y = (ag.ones(2, requires_grad=True) * 2).sum()
    with pytest.raises(RuntimeError, match="no_grad"):
        y.backward()


def test_backward_with_mismatched_tensor_and_gradient_counts():
    x = ag.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"backward: got 2 tensors but 1 gradients"):
        ag.backward([x.sum(), (x * 2).sum()], [ag.tensor(1.0)])


def test_requires_grad_false_on_a_non_leaf():
    y = ag.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"leaf.*detach"):
        y.requires_grad_(False)


def test_numpy_of_a_tensor_requiring_grad():
    with pytest.raises(RuntimeError, match=r"numpy.*requires grad.*detach\(\)\.numpy\(\)"):
        ag.ones(2, requires_grad=True).numpy()


# --- in place ----------------------------------------------------------------------------------------------------

def test_inplace_change_of_a_saved_output():
    # exp saves its output; changing it in place makes the gradient wrong, so backward refuses
    x = ag.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()
    y.add_(1.0)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    message = str(info.value)
    assert message.startswith("ExpBackward0:")
    assert "in-place" in message and "(2,)" in message and "float32" in message
    assert "version 1, expected 0" in message
    assert ".clone()" in message
    tx = torch.tensor([0.5, 1.0], requires_grad=True)
    ty = tx.exp()
    ty.add_(1.0)
    torch_raises(ty.sum().backward)


def test_inplace_change_of_a_saved_input():
    x = ag.tensor([0.5, 1.0], requires_grad=True)
    h = x * 1
    z = (h * h).sum()
    h.mul_(2.0)
    with pytest.raises(RuntimeError, match=r"MulBackward0: .*modified by an in-place operation"):
        z.backward()
    tx = torch.tensor([0.5, 1.0], requires_grad=True)
    th = tx * 1
    tz = (th * th).sum()
    th.mul_(2.0)
    torch_raises(tz.backward)


def test_inplace_change_of_a_saved_leaf_under_no_grad():
    w = ag.tensor([0.5, 1.0], requires_grad=True)
    z = (w.sin()).sum()
    with ag.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match=r"SinBackward0: .*in-place"):
        z.backward()


def test_inplace_change_through_a_detached_alias():
    x = ag.tensor([0.5, 1.0], requires_grad=True)
    y = x.tanh()
    y.detach().mul_(0.0)          # same memory, same version counter
    with pytest.raises(RuntimeError, match=r"TanhBackward0: .*in-place"):
        y.sum().backward()


def test_inplace_change_through_setitem():
    x = ag.tensor([0.5, 1.0], requires_grad=True)
    h = x * 1
    z = h.log().sum()
    h[0] = 3.0
    with pytest.raises(RuntimeError, match=r"LogBackward0: .*in-place"):
        z.backward()


@pytest.mark.parametrize("name, update", [
    ("add_", lambda w: w.add_(1.0)), ("sub_", lambda w: w.sub_(1.0)), ("mul_", lambda w: w.mul_(2.0)),
    ("div_", lambda w: w.div_(2.0)), ("zero_", lambda w: w.zero_()), ("fill_", lambda w: w.fill_(2.0)),
    ("copy_", lambda w: w.copy_(ag.ones(2))), ("setitem", lambda w: w.__setitem__(0, 1.0)),
    ("add_", lambda w: w.__iadd__(1.0)),
])
def test_inplace_on_a_leaf_requiring_grad(name, update):
    w = ag.tensor([0.5, 1.0], requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        update(w)
    message = str(info.value)
    assert message.startswith(f"{name}:")
    assert "leaf" in message and "requires grad" in message and "(2,)" in message
    assert "no_grad" in message
    assert w.detach().tolist() == [0.5, 1.0]
    assert w._version[0] == 0               # refused: nothing changed
    tw = torch.tensor([0.5, 1.0], requires_grad=True)
    torch_raises(lambda: tw.add_(1.0))


def test_inplace_that_would_change_the_shape():
    t = ag.zeros(3)
    with pytest.raises(RuntimeError, match=r"add_: the result has shape \(2, 3\) .*shape \(3,\)"):
        t += ag.ones(2, 3)
    assert t._version[0] == 0
    torch_raises(lambda: torch.zeros(3).add_(torch.ones(2, 3)))


def test_inplace_that_would_change_the_dtype():
    t = ag.tensor([1, 2])
    with pytest.raises(RuntimeError, match=r"mul_: result type float32 can't be cast to .*int64"):
        t *= 1.5
    assert t.tolist() == [1, 2] and t._version[0] == 0
    torch_raises(lambda: torch.tensor([1, 2]).mul_(1.5))


# --- CUDA without CuPy or without a GPU ---------------------------------------------------------------------------

@pytest.fixture
def no_cuda_backends(monkeypatch):
    """Forget any CUDA backend made earlier, so the next CUDA request imports CuPy afresh."""
    kept = {k: v for k, v in backends._backends.items() if Device(k).type == "cpu"}
    monkeypatch.setattr(backends, "_backends", kept)


@pytest.mark.parametrize("request_cuda", [
    lambda: ag.zeros(2, device="cuda"),
    lambda: ag.tensor([1.0], device="cuda:0"),
    lambda: ag.randn(3, device=Device("cuda")),
    lambda: ag.ones(2).to("cuda"),
    lambda: ag.ones(2).cuda(),
])
def test_cuda_without_cupy_names_the_install_extra(monkeypatch, no_cuda_backends, request_cuda):
    monkeypatch.setitem(sys.modules, "cupy", None)     # `import cupy` now raises ImportError
    with pytest.raises(RuntimeError) as info:
        request_cuda()
    message = str(info.value)
    assert "cuda:0" in message and "CuPy is not installed" in message
    assert "ndgrad[cuda" in message
    assert not ag.cuda.is_available()


def test_cuda_with_cupy_but_no_gpu(monkeypatch, no_cuda_backends):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(RuntimeError, match=r"cuda:0 was requested but no CUDA GPU is usable.*device='cpu'"):
        ag.zeros(2, device="cuda")
    assert not ag.cuda.is_available()


def test_cuda_index_beyond_the_visible_gpus(monkeypatch, no_cuda_backends):
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(RuntimeError, match=r"cuda:3 was requested but only 1 CUDA GPU\(s\) are visible"):
        ag.zeros(2, device="cuda:3")


def test_unknown_device_string():
    with pytest.raises(ValueError, match=r"Device: unknown device 'tpu'.*'cpu', 'cuda' or 'cuda:N'"):
        ag.zeros(2, device="tpu")


# --- losses and dtypes --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [[0, 3, 1, 2], [0, -5, 1, 2], [7, 7, 0, 0]])
def test_cross_entropy_targets_out_of_range(target):
    F = pytest.importorskip("nn.functional")
    logits = ag.randn(4, 3, requires_grad=True)
    with pytest.raises(IndexError) as info:
        F.cross_entropy(logits, ag.tensor(target))
    message = str(info.value)
    assert message.startswith("cross_entropy:")
    assert "[0, 2]" in message and "(4, 3)" in message
    bad = [t for t in target if not 0 <= t < 3]
    assert str(bad[0]) in message
    torch_raises(lambda: torch.nn.functional.cross_entropy(torch.randn(4, 3), torch.tensor(target)))


def test_cross_entropy_ignore_index_is_not_out_of_range():
    F = pytest.importorskip("nn.functional")
    logits = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]])
    ours = F.cross_entropy(ag.tensor(logits), ag.tensor([2, -100]))
    theirs = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor([2, -100]))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)


def test_cross_entropy_float_targets():
    F = pytest.importorskip("nn.functional")
    with pytest.raises(TypeError, match=r"cross_entropy: target must be .*class indices.*float32"):
        F.cross_entropy(ag.randn(2, 3), ag.tensor([0.0, 1.0]))


def test_unknown_dtype():
    with pytest.raises(TypeError, match=r"dtype: .*'float99'.*is not a dtype.*ag.float32"):
        ag.zeros(2, dtype="float99")


def test_item_and_bool_of_many_elements():
    with pytest.raises(RuntimeError, match=r"item: .*3 elements.*\(3,\)"):
        ag.ones(3).item()
    with pytest.raises(RuntimeError, match=r"bool: .*ambiguous.*any\(\)"):
        bool(ag.ones(3))


def test_grad_of_unused_input_names_allow_unused():
    x, u = ag.ones(2, requires_grad=True), ag.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"autograd.grad: .*\(3,\).*not used.*allow_unused=True"):
        ag.grad((x * 2).sum(), [x, u])


# --- assigning .grad ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make_grad, what", [
    (lambda lib: lib.ones(3), "shape"),
    (lambda lib: lib.ones(2, dtype=lib.float64), "dtype"),
    (lambda lib: lib.ones(2, dtype=lib.int64), "dtype"),
])
def test_assigning_a_gradient_that_does_not_fit_is_refused(make_grad, what):
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"grad: attempting to assign a gradient of {what}"):
        a.grad = make_grad(ag)
    assert a.grad is None
    torch_raises(lambda: setattr(torch.tensor([1.0, 2.0], requires_grad=True), "grad", make_grad(torch)))
    a.grad = ag.ones(2)                      # a fitting gradient is taken
    (a * 2).sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]


def test_assigning_a_gradient_on_another_device_is_refused(on_fake_gpu):
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"grad: .*device cuda:0 to a tensor of device cpu"):
        a.grad = on_fake_gpu([1.0, 1.0])
    with pytest.raises(TypeError, match="Tensor or None"):
        a.grad = np.ones(2)


# --- NumPy's messages said in the op's words ---------------------------------------------------------------------

def test_a_value_error_that_is_not_about_broadcasting_gets_no_broadcasting_hint():
    from autograd.function import Op

    class Refuses(Op):
        op = "test_refuses"
        def forward(ctx, x):
            raise ValueError("the kernel refuses")

    with pytest.raises(RuntimeError, match="test_refuses: .*the kernel refuses") as info:
        Refuses.apply(ag.ones(2))
    assert "broadcast" not in str(info.value)
    with pytest.raises(RuntimeError, match=r"add: .*\(2,\).*\(3,\).*Shapes broadcast when"):
        ag.ones(2) + ag.ones(3)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_setitem_out_of_range_names_the_op_and_shape(requires_grad):
    x = ag.zeros(3, requires_grad=requires_grad) * 1
    with pytest.raises(IndexError, match=r"setitem: .*index 7.*shape \(3,\)"):
        x[7] = 1.0
    torch_raises(lambda: torch.zeros(3).__setitem__(7, 1.0), IndexError)
# --- dims: every op that takes one goes through one normaliser (PyTorch's IndexError) -----------------------------

def _functional(lib):
    return torch.nn.functional if lib is torch else ag.ops


# (name in our messages, fn(lib, x, dim)); each is swept over every dim from -5 to 4 on a 3-d and a 0-d tensor
DIM_OPS = [
    ("sum", lambda lib, x, d: x.sum(d)),
    ("sum", lambda lib, x, d: lib.sum(x, (0, d), keepdim=True)),
    ("mean", lambda lib, x, d: x.mean(d)),
    ("amax", lambda lib, x, d: x.amax(d)),
    ("amin", lambda lib, x, d: lib.amin(x, (d,))),
    ("max", lambda lib, x, d: x.max(d)),
    ("min", lambda lib, x, d: lib.min(x, d, keepdim=True)),
    ("argmax", lambda lib, x, d: x.argmax(d)),
    ("argmin", lambda lib, x, d: lib.argmin(x, dim=d, keepdim=True)),
    ("any", lambda lib, x, d: (x > 0).any(d)),
    ("all", lambda lib, x, d: (x > 0).all(d)),
    ("logsumexp", lambda lib, x, d: x.logsumexp(d)),
    ("softmax", lambda lib, x, d: x.softmax(d)),
    ("softmax", lambda lib, x, d: _functional(lib).softmax(x, dim=d)),
    ("log_softmax", lambda lib, x, d: _functional(lib).log_softmax(x, d)),
    ("squeeze", lambda lib, x, d: x.squeeze(d)),
    ("squeeze", lambda lib, x, d: lib.squeeze(x, (d, -1))),
    ("unsqueeze", lambda lib, x, d: x.unsqueeze(d)),
    ("flatten", lambda lib, x, d: x.flatten(d)),
    ("flatten", lambda lib, x, d: lib.flatten(x, 0, d)),
    ("transpose", lambda lib, x, d: x.transpose(d, 0)),
    ("transpose", lambda lib, x, d: lib.transpose(x, -1, d)),
    ("permute", lambda lib, x, d: x.permute(*range(x.ndim - 1), d) if x.ndim else x.permute(d)),
    ("cat", lambda lib, x, d: lib.cat([x, x * 2], d)),
    ("stack", lambda lib, x, d: lib.stack([x, x * 2], dim=d)),
    ("size", lambda lib, x, d: lib.tensor(x.size(d))),
    ("narrow", lambda lib, x, d: x.narrow(d, 0, 1)),
]
DIM_CASES = [pytest.param(name, fn, shape, d, id=f"{name}{i}-{len(shape)}d-dim{d}")
             for i, (name, fn) in enumerate(DIM_OPS) for shape in [(2, 1, 3), ()] for d in range(-5, 5)]


def _outcome(lib, fn, shape, dim):
    x = np.asarray(np.arange(1.0, 1.0 + int(np.prod(shape))).reshape(shape) * 0.25)
    try:
        result = fn(lib, torch.from_numpy(x) if lib is torch else ag.tensor(x), dim)
    except Exception as e:  # noqa: BLE001 (the outcome compared is the exception)
        return e
    return [np.asarray(r.detach().numpy() if lib is torch else r.numpy()) for r in
            (result if isinstance(result, tuple) else (result,))]


@pytest.mark.parametrize("name, fn, shape, dim", DIM_CASES)
def test_every_dim_argument_against_torch(name, fn, shape, dim):
    """In range (negative too) the values are PyTorch's; out of range both raise IndexError, ours with
    PyTorch's text after the op's name; other refusals (a dim twice, start_dim after end_dim) match its type."""
    ours, theirs = _outcome(ag, fn, shape, dim), _outcome(torch, fn, shape, dim)
    if isinstance(theirs, Exception):
        assert isinstance(ours, Exception), f"torch raises {theirs!r}, ndgrad returns {ours}"
        assert type(ours) is type(theirs), f"ndgrad raises {ours!r}, torch {theirs!r}"
        message = str(ours)
        assert message.startswith(f"{name}:"), message
        assert str(tuple(shape)) in message, message
        if isinstance(theirs, IndexError):
            assert str(theirs) in message, message
        return
    assert not isinstance(ours, Exception), f"torch returns a result, ndgrad raises {ours!r}"
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4)])
@pytest.mark.parametrize("name", ["t", "mT", "select"])
def test_matrix_transposes_and_select_by_rank(name, shape):
    """t() takes <= 2 dims, mT >= 2 (or 0), select >= 1: torch's values where it gives them, its refusals."""
    fns = {"t": lambda x: x.t(), "mT": lambda x: x.mT, "select": lambda x: x.select(-1, 1)}
    x = np.arange(1.0, 1.0 + int(np.prod(shape))).reshape(shape)
    try:
        with pytest.warns(UserWarning) if name == "mT" and shape == () else contextlib.nullcontext():
            expected = fns[name](torch.from_numpy(x))
    except (RuntimeError, IndexError) as e:
        with pytest.raises(type(e), match=rf"^{name}: .*{re.escape(str(tuple(shape)))}"):
            fns[name](ag.tensor(x))
        return
    got = fns[name](ag.tensor(x))
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("dim", [1.0, True, None, "1"])
def test_a_dim_that_is_not_an_int(dim):
    with pytest.raises(TypeError, match=r"sum: dim must be an int, got"):
        ag.ones(2, 3).sum((0, dim))
    with pytest.raises(TypeError, match=r"transpose: dim must be an int"):
        ag.ones(2, 3).transpose(0, dim)
    torch_raises(lambda: torch.ones(2, 3).transpose(0, dim), TypeError)


def test_a_dim_given_as_a_numpy_or_tensor_integer():
    x = np.arange(6.0).reshape(2, 3)
    for dim in (np.int64(-1), ag.tensor(1)):
        np.testing.assert_array_equal(ag.tensor(x).sum(dim).numpy(), x.sum(1))
        np.testing.assert_allclose(ag.tensor(x).softmax(dim).numpy(), torch.from_numpy(x).softmax(int(dim)).numpy(),
                                   rtol=1e-12)


# --- smaller crashes and unclear errors (factories, nn, state dicts, formatting) ----------------------------------

def _same_outcome(ours, theirs, rtol=1e-12):
    """Run both; the same exception type (returned for message checks), or equal values."""
    results = []
    for fn in (ours, theirs):
        try:
            results.append(fn())
        except Exception as e:  # noqa: BLE001 (the outcome compared is the exception)
            results.append(e)
    got, expected = results
    if isinstance(expected, Exception):
        assert type(got) is type(expected), f"torch raises {expected!r}, ndgrad gives {got!r}"
        return got
    assert not isinstance(got, Exception), f"torch gives {expected!r}, ndgrad raises {got!r}"
    if isinstance(expected, torch.Tensor):
        assert tuple(got.shape) == tuple(expected.shape)
        assert str(got.dtype) == str(expected.dtype).replace("torch.", "")
        np.testing.assert_allclose(np.asarray(got.detach().numpy(), np.float64),
                                   expected.detach().double().numpy(), rtol=rtol)
    else:
        assert got == expected
    return None


@pytest.mark.parametrize("ndim", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("make", [
    lambda lib, nn: nn.Softmax(), lambda lib, nn: nn.LogSoftmax(), lambda lib, nn: nn.Softmax(dim=None),
    lambda lib, nn: (lambda x: nn.functional.softmax(x)), lambda lib, nn: (lambda x: nn.functional.log_softmax(x, None)),
], ids=["Softmax", "LogSoftmax", "Softmax_None", "F.softmax", "F.log_softmax"])
def test_softmax_with_the_implicit_dim(make, ndim):
    nn = pytest.importorskip("nn")
    import nn.functional  # noqa: F401
    x = np.random.default_rng(ndim).standard_normal((2, 3, 4, 5)[:ndim])
    outputs = []
    for lib, namespace in ((ag, nn), (torch, torch.nn)):
        with pytest.warns(UserWarning, match="Implicit dimension choice for (log_)?softmax has been deprecated"):
            outputs.append(make(lib, namespace)(_tensor_of(lib, x)))
    _same_outcome(lambda: outputs[0], lambda: outputs[1])


def _tensor_of(lib, array):
    return torch.from_numpy(np.array(array)) if lib is torch else ag.tensor(np.array(array))


@pytest.mark.parametrize("features", [(0, 3), (3, 0), (0, 0)])
def test_linear_with_no_features(features):
    nn = pytest.importorskip("nn")
    with pytest.warns(UserWarning, match="zero-element"):
        layer = nn.Linear(*features)
    with pytest.warns(UserWarning, match="zero-element"):
        reference = torch.nn.Linear(*features)
    with torch.no_grad():
        reference.bias.copy_(torch.from_numpy(layer.bias.detach().numpy()))
    x = np.ones((2, features[0]), np.float32)
    _same_outcome(lambda: layer(ag.tensor(x)), lambda: reference(torch.from_numpy(x)))
    layer(ag.tensor(x)).sum().backward()
    assert layer.weight.grad.shape == tuple(features[::-1]) and layer.bias.grad.tolist() == [2.0] * features[1]


def test_linear_on_a_0d_input():
    nn = pytest.importorskip("nn")
    error = _same_outcome(lambda: nn.Linear(3, 2)(ag.tensor(1.0)), lambda: torch.nn.Linear(3, 2)(torch.tensor(1.0)))
    assert re.match(r"linear: both arguments to linear need to be at least 1D, but they are 0D and 2D \(input shape "
                    r"\(\), weight shape \(2, 3\)\); .*reshape", str(error))


ARANGES = [(5,), (2, 9), (0, 5, 0), (0, 5, -1), (5, 0, 1), (5, 0, -1), (5, 5), (1.0, 0.0), (0, 1, 0.1), (1, 1.3, 0.1),
           (1, 2.5, 0.5), (-1, 1, 0.3), (0, 0.9, 0.3), (0.1, 0.4, 0.1), (2.5,), (-3.5,), (0, -2, -0.25), (0, 1, 0.0),
           (0, float("nan")), (0, float("inf")), (float("-inf"), 0), (0, 1, 1e-3), (10, -10, -3)]


@pytest.mark.parametrize("dtype", [None, "float64", "int64", "float16"])
@pytest.mark.parametrize("args", ARANGES, ids=str)
def test_arange_against_torch(args, dtype):
    kwargs = {} if dtype is None else {"dtype": dtype}
    # lengths exactly; values within a rounding step (PyTorch's vectorised kernel adds in float32/float16)
    ulp = {"float16": 2 ** -10, "float64": 1e-15}.get(dtype, 2 ** -23)
    error = _same_outcome(lambda: ag.arange(*args, **kwargs),
                          lambda: torch.arange(*args, **{k: getattr(torch, v) for k, v in kwargs.items()}), rtol=ulp)
    if error is not None:
        assert str(error).startswith("arange:") and str(args[-1]) in str(error)


def test_arange_of_tensors_and_numpy_numbers():
    for args in [(ag.tensor(3),), (np.int64(2), np.int64(7)), (np.float64(3.5),), (ag.tensor(1.5), 4)]:
        theirs = [torch.tensor(a.item()) if isinstance(a, ag.Tensor) else a for a in args]
        _same_outcome(lambda: ag.arange(*args), lambda: torch.arange(*theirs))


@pytest.mark.parametrize("name, args", [
    ("ones", (2.5, 3)), ("ones", ((2.5, 3),)), ("zeros", (True, 3)), ("zeros", (None,)), ("empty", (2.5,)),
    ("rand", (2.5,)), ("randn", ((3, 1.0),)), ("ones", ("2",)),
    ("zeros", (-1,)), ("ones", (2, -3)), ("empty", ((0, -1),)), ("randn", (-1,)), ("rand", (3, -2)),
], ids=str)
def test_factory_sizes_against_torch(name, args):
    error = _same_outcome(lambda: getattr(ag, name)(*args), lambda: getattr(torch, name)(*args))
    assert error is not None
    message = str(error)
    assert message.startswith(f"{name}:")
    assert ("negative dimension" in message and ">= 0" in message) if isinstance(error, RuntimeError) else \
        ("tuple of ints" in message and "position" in message)


@pytest.mark.parametrize("args", [(ag.tensor(2), 3), (np.int64(2), 3), (ag.tensor([2]), 3), ([2, 3],), ((0, 2),)],
                         ids=str)
def test_factory_sizes_that_are_integers(args):
    theirs = [torch.tensor(a.tolist()) if isinstance(a, ag.Tensor) else a for a in args]
    _same_outcome(lambda: ag.ones(*args), lambda: torch.ones(*theirs))


@pytest.mark.parametrize("name, ours, theirs", [
    ("full", lambda: ag.full((-1,), 2.0), lambda: torch.full((-1,), 2.0)),
    ("eye", lambda: ag.eye(-1), lambda: torch.eye(-1)),
    ("eye", lambda: ag.eye(2.5), lambda: torch.eye(2.5)),
    ("linspace", lambda: ag.linspace(0, 1, -1), lambda: torch.linspace(0, 1, -1)),
    ("randint", lambda: ag.randint(5, 2, (3,)), lambda: torch.randint(5, 2, (3,))),
    ("randint", lambda: ag.randint(5, 5, (3,)), lambda: torch.randint(5, 5, (3,))),
    ("randint", lambda: ag.randint(0, size=(3,)), lambda: torch.randint(0, (3,))),
    ("randint", lambda: ag.randint(5, size=(-1,)), lambda: torch.randint(5, (-1,))),
    ("randint", lambda: ag.randint(2.5, size=(2,)), lambda: torch.randint(2.5, (2,))),
], ids=lambda v: v if isinstance(v, str) else "")
def test_other_factory_arguments_against_torch(name, ours, theirs):
    error = _same_outcome(ours, theirs)
    assert error is not None and str(error).startswith(f"{name}:")


def test_randint_names_low_and_high():
    with pytest.raises(RuntimeError, match=r"randint: expects low to be less than high, but got low=5 >= high=2; "
                                           r"it draws from \[low, high\)"):
        ag.randint(5, 2, (3,))


@pytest.mark.parametrize("data, error, where", [
    ([[1, 2], [3]], ValueError, r"expected sequence of length 2 at dim 1 \(got 1\)"),
    ([[[1], [2]], [[3]]], ValueError, r"expected sequence of length 2 at dim 1 \(got 1\)"),
    ([[1.0], [2.0, 3.0]], ValueError, r"expected sequence of length 1 at dim 1 \(got 2\)"),
    ([[[1, 2]], [[3]]], ValueError, r"expected sequence of length 2 at dim 2 \(got 1\)"),
    ([[1, 2], 3], TypeError, r"expected a sequence of length 2 at dim 1, but got int 3"),
], ids=str)
def test_ragged_lists(data, error, where):
    with pytest.raises(error, match=rf"^tensor: {where}.*rectangular"):
        ag.tensor(data)
    torch_raises(lambda: torch.tensor(data), error)


@pytest.mark.parametrize("value", [None, "weights.pt", object(), ["a", "b"]], ids=repr)
def test_load_state_dict_with_a_value_that_is_not_data(value):
    nn = pytest.importorskip("nn")
    model = nn.Linear(2, 3)
    before = model.weight.detach().numpy().copy()
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict({"weight": value, "bias": ag.zeros(3)})
    message = str(info.value)
    assert f'"weight", expected a Tensor or a numeric array' in message and type(value).__name__ in message
    assert "size mismatch" not in message
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)  # nothing was copied
    torch_raises(lambda: torch.nn.Linear(2, 3).load_state_dict({"weight": value, "bias": torch.zeros(3)}),
                 RuntimeError)


@pytest.mark.parametrize("values, spec", [
    (1.23456, ".2f"), (0.5, ">7f"), (0.5, ""), (3, "d"), (3, "05"), (True, ""), (-2.5, "+.1e"),
    ([1.5], ".2f"), ([0.5, 1.0], ".2f"), ([[1, 2]], "d"),
], ids=str)
def test_format_of_tensors(values, spec):
    _same_outcome(lambda: format(ag.tensor(values), spec), lambda: format(torch.tensor(values), spec))
    _same_outcome(lambda: f"{ag.tensor(values):{spec}}", lambda: f"{torch.tensor(values):{spec}}")


def test_format_of_a_loss_that_requires_grad():
    loss = (ag.tensor([0.25, 0.5], requires_grad=True) * 2).sum()
    assert f"loss: {loss:>7f}" == "loss: 1.500000" and "{:.2f}".format(loss) == "1.50"
    assert f"{ag.tensor([0.5, 1.0])}" == str(ag.tensor([0.5, 1.0]))
