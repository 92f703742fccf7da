"""The CUDA path's own defects (issue 9, section 2), each pinned by a test.

All are marked ``cuda``: they run on a GPU, and on a CPU-only machine with
``python -m pytest -m cuda --cuda-standin`` (tests/cupy_standin.py: CuPy's rules, two fake GPUs).
"""

import warnings

import numpy as np
import pytest

import autograd as ag
import backends
import nn
from conftest import assert_close

pytestmark = pytest.mark.cuda

LOW_PRECISION = [ag.float16] + ([ag.bfloat16] if ag.bfloat16 is not None else [])


def _two_gpus():
    if ag.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices (the stand-in has two: --cuda-standin)")


# 1. cuRAND makes float32/float64 only: float16/bfloat16 factories and modules must still work
@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=str)
def test_random_factories_in_low_precision(dtype):
    for make in (ag.rand, ag.randn):
        t = make(4, 5, dtype=dtype, device="cuda")
        assert t.dtype == dtype and t.device == "cuda:0" and t.shape == (4, 5)
        assert np.isfinite(t.cpu().float().numpy()).all()
    assert (ag.rand(1000, dtype=dtype, device="cuda").cpu().float().numpy() >= 0).all()
    layer = nn.Linear(3, 2, dtype=dtype, device="cuda")
    assert layer.weight.dtype == dtype and layer(ag.ones(4, 3, dtype=dtype, device="cuda")).dtype == dtype


# 2. backward(gradient=) in another dtype is cast to the output's (PyTorch does): the fused relu backward
#    kernel takes one type for both operands and raised a type mismatch
def test_backward_casts_the_given_gradient_to_the_output_dtype():
    x = ag.tensor([-1.0, 0.5, 2.0], device="cuda", requires_grad=True)
    x.relu().backward(ag.ones(3, dtype=ag.float64, device="cuda"))
    assert x.grad.dtype == ag.float32
    assert_close(x.grad, np.array([0.0, 1.0, 1.0], np.float32))


# 3. host data written into a device tensor goes through the backend, as on the CPU
@pytest.mark.parametrize("write", [
    lambda t: t.__setitem__(slice(0, 2), np.array([1.0, 2.0])),
    lambda t: t.__setitem__(slice(0, 2), [1.0, 2.0]),
    lambda t: t.__setitem__((slice(0, 2),), (1.0, 2.0)),
    lambda t: t.copy_(np.array([1.0, 2.0, 0.0])),
    lambda t: t.copy_([1.0, 2.0, 0.0]),
], ids=["setitem-ndarray", "setitem-list", "setitem-tuple", "copy_-ndarray", "copy_-list"])
@pytest.mark.parametrize("requires_grad", [False, True], ids=["data", "graph"])
def test_host_data_written_into_a_device_tensor(write, requires_grad):
    base = ag.zeros(3, device="cuda", requires_grad=requires_grad)
    t = base * 1 if requires_grad else base
    write(t)
    assert_close(t.detach().cpu(), np.array([1.0, 2.0, 0.0], np.float32))
    if requires_grad:
        t.sum().backward()
        assert base.grad.device == "cuda:0"


# 4. indexing's backward scatters with cupy.add.at (cupyx.scatter_add is deprecated in CuPy 14), bfloat16 too
@pytest.mark.parametrize("dtype", [ag.float32, ag.float64] + LOW_PRECISION, ids=str)
def test_indexing_backward_scatters_without_deprecation(dtype):
    x = ag.ones(5, 3, dtype=dtype, device="cuda", requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        x[ag.tensor([0, 2, 0], device="cuda")].sum().backward()
    expected = np.zeros((5, 3), np.float32)
    expected[[0, 2]] = [[2.0] * 3, [1.0] * 3]
    assert x.grad.dtype == dtype
    assert_close(x.grad.cpu().float(), expected)


# 5. memory statistics are the asked device's, not the current one's
def test_memory_stats_read_the_asked_device():
    _two_gpus()
    ag.cuda.empty_cache()
    before = ag.cuda.memory_allocated("cuda:1")
    keep = ag.zeros(1 << 16, dtype=ag.float64, device="cuda:1")
    assert ag.cuda.memory_allocated("cuda:1") - before >= keep.numel() * 8
    assert ag.cuda.memory_allocated("cuda:0") < ag.cuda.memory_allocated("cuda:1")


# 6. is_available() and the backend's start check the libraries the first op needs
def test_is_available_needs_nvrtc_and_curand(monkeypatch):
    import cupy

    from backends import cupy_backend
    assert backends.cuda_is_available() and cupy_backend.missing_libraries(cupy) == []

    class Missing:
        def getVersion(self):
            raise ImportError('Failure finding "libcurand.so.11 or libcurand.so.10"')
    monkeypatch.setattr(cupy.cuda, "curand", Missing())
    assert not backends.cuda_is_available()
    with pytest.raises(RuntimeError, match=r"curand.*ndgrad\[cuda12\]"):
        cupy_backend.import_cupy(backends.Device("cuda:0"))


# 7. bool: randint and sign as on the CPU (and in PyTorch)
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_bool_randint_and_sign(device):
    r = ag.randint(0, 2, (64,), dtype=ag.bool, device=device)
    assert r.dtype == ag.bool and r.device.type == device
    flags = ag.tensor([True, False, True], device=device)
    s = ag.ops.sign(flags)
    assert s.dtype == ag.bool and s.tolist() == [True, False, True]
    with pytest.raises(ValueError, match="bool"):
        ag.randint(0, 3, (2,), dtype=ag.bool, device=device)


# 8. cuda:N: every array an op, a factory, backward or the engine makes lands on the inputs' device
def _on(t, index):
    assert t.device == f"cuda:{index}", t.device
    assert t.array.device.id == index, f"the array lives on GPU {t.array.device.id}, the tensor says cuda:{index}"


@pytest.mark.parametrize("make", [
    lambda d: ag.zeros(2, 3, device=d), lambda d: ag.ones(2, device=d), lambda d: ag.empty(2, device=d),
    lambda d: ag.full((2,), 1.5, device=d), lambda d: ag.arange(4, device=d), lambda d: ag.linspace(0, 1, 5, device=d),
    lambda d: ag.eye(2, device=d), lambda d: ag.rand(2, device=d), lambda d: ag.randn(2, device=d),
    lambda d: ag.randint(0, 5, (3,), device=d), lambda d: ag.tensor([1.0, 2.0], device=d),
    lambda d: ag.tensor(ag.ones(2, device="cuda:0"), device=d), lambda d: ag.ones(2).to(d),
    lambda d: ag.zeros_like(ag.ones(2, device=d)),
], ids=lambda f: "")
def test_factories_allocate_on_the_asked_gpu(make):
    _two_gpus()
    _on(make("cuda:1"), 1)


def test_ops_and_backward_run_on_the_inputs_gpu():
    _two_gpus()
    x = ag.randn(4, 3, device="cuda:1", requires_grad=True)
    w = ag.randn(3, 2, device="cuda:1", requires_grad=True)
    y = (x @ w).relu().sigmoid()
    y = y[ag.tensor([0, 2, 2], device="cuda:1")] * 2
    _on(y, 1)
    y.sum().backward()
    for t in (x.grad, w.grad):
        _on(t, 1)
    x.grad = None
    (x * x).backward(ag.ones(4, 3, device="cuda:1"))
    _on(x.grad, 1)


# --- issue 9, section 3: fast by design on the GPU -----------------------------------------------------

def _count_syncs():
    """The stand-in's counter of host synchronisations (a real GPU has none to read: skipped there)."""
    import cupy
    if not hasattr(cupy, "_real"):
        pytest.skip("counting host synchronisations needs the CuPy stand-in (--cuda-standin)")
    import cupy_standin
    return cupy_standin.count_syncs()


def _examples():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
    import train
    return train


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_a_training_step_never_waits_for_the_gpu(model):
    """Forward, cross_entropy, backward, optimizer step and zero_grad of the examples' models: no host sync
    (cross_entropy's target check used to read its answer back every step)."""
    train = _examples()
    ag.manual_seed(0)
    if model == "mlp":
        net, x = train.build_model(64, 10, [32]).to("cuda"), ag.randn(16, 64, device="cuda")
    else:
        net, x = train.LeNet(8, 10, [32]).to("cuda"), ag.randn(16, 1, 8, 8, device="cuda")
    y = ag.randint(0, 10, (16,), device="cuda")
    opt = __import__("optim").Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(2):  # the second step too: Adam's state exists by then
        with _count_syncs() as syncs:
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
        assert not syncs, f"a {model} training step synchronised with the host: {dict(syncs)}"
        losses.append(loss.item())
    assert losses[1] < losses[0]


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_a_bad_target_on_the_gpu_raises_at_the_next_sync(loss):
    fn = getattr(nn.functional, loss)
    logits = ag.randn(4, 3, device="cuda:0", requires_grad=True)
    out = fn(logits, ag.tensor([0, 2, -1, 1], device="cuda:0"))  # fine: ignore_index is -100, -1 is not it
    out = fn(logits, ag.tensor([0, 7, 5, -100], device="cuda:0"))  # 5 and 7 are bad, -100 is ignored
    out.backward()  # no sync so far: the check waits on the device
    with pytest.raises(IndexError, match=rf"{loss}: target values must be class indices in \[0, 2\] "
                                         rf"\(n_classes=3.*found 3 outside it, with values in \[-1, 7\]"):
        out.item()
    assert np.isfinite(fn(logits, ag.tensor([0, 1, 2, 2], device="cuda:0")).item())  # reported once, then clear


def test_a_bad_target_is_reported_by_synchronize_and_by_a_copy_to_the_cpu():
    logits = ag.randn(2, 3, device="cuda")
    nn.functional.cross_entropy(logits, ag.tensor([0, 3], device="cuda"))
    with pytest.raises(IndexError, match=r"cross_entropy: .*values in \[3, 3\]"):
        ag.cuda.synchronize()
    nn.functional.cross_entropy(logits, ag.tensor([0, 3], device="cuda"))
    with pytest.raises(IndexError, match="cross_entropy: target values"):
        ag.ones(2, device="cuda").cpu()


def test_a_bad_target_on_the_cpu_raises_at_once():
    with pytest.raises(IndexError, match=r"cross_entropy: .*found 1 outside it, with values in \[3, 3\]"):
        nn.functional.cross_entropy(ag.randn(2, 3), ag.tensor([0, 3]))


def test_tf32_is_off_by_default_and_the_switch_reaches_the_matmul():
    import cupy
    if not hasattr(cupy, "_real"):
        pytest.skip("reading the compute type at each matmul needs the CuPy stand-in (--cuda-standin)")
    import cupy_standin
    x, w = ag.randn(4, 3, device="cuda:1", requires_grad=True), ag.randn(3, 2, device="cuda:1")
    assert ag.backends.cuda.matmul.allow_tf32 is False
    (x @ w).sum().backward()
    assert cupy_standin.MATMUL_COMPUTE_TYPES[-2:] == [cupy_standin.COMPUTE_TYPE_DEFAULT] * 2  # forward and backward
    try:
        ag.backends.cuda.matmul.allow_tf32 = True
        assert ag.backends.cuda.matmul.allow_tf32 is True
        nn.functional.linear(x, w.T).sum().backward()
        assert cupy_standin.MATMUL_COMPUTE_TYPES[-2:] == [cupy_standin.COMPUTE_TYPE_TF32] * 2
    finally:
        ag.backends.cuda.matmul.allow_tf32 = False
    x @ w
    assert cupy_standin.MATMUL_COMPUTE_TYPES[-1] == cupy_standin.COMPUTE_TYPE_DEFAULT


def test_memory_counters_and_peak_per_gpu():
    _two_gpus()
    import gc
    for d in ("cuda:0", "cuda:1"):
        ag.cuda.reset_peak_memory_stats(d)
    base0, base1 = ag.cuda.memory_allocated(0), ag.cuda.memory_allocated("cuda:1")
    assert ag.cuda.max_memory_allocated("cuda:1") == base1
    big = ag.zeros(1 << 16, dtype=ag.float64, device="cuda:1")  # 512 KiB
    held = ag.cuda.memory_allocated(big.device)
    assert held - base1 >= big.numel() * 8
    del big
    gc.collect()
    assert ag.cuda.memory_allocated("cuda:1") < held  # freed ...
    assert ag.cuda.max_memory_allocated("cuda:1") >= held  # ... but the peak remembers it
    assert ag.cuda.max_memory_allocated(0) - base0 < (1 << 16) * 8  # the other GPU's peak did not move
    assert ag.cuda.memory_reserved("cuda:1") >= ag.cuda.memory_allocated("cuda:1")
    ag.cuda.reset_peak_memory_stats(ag.device("cuda:1"))
    assert ag.cuda.max_memory_allocated("cuda:1") == ag.cuda.memory_allocated("cuda:1")
    ag.cuda.empty_cache()
    assert ag.cuda.memory_reserved("cuda:1") >= ag.cuda.memory_allocated("cuda:1")


def test_the_peak_of_a_training_step_is_counted_between_its_allocations():
    """An intermediate freed before the step ends still counts toward the peak (the pool's own counters
    at the end would miss it)."""
    ag.cuda.reset_peak_memory_stats()
    start = ag.cuda.memory_allocated()
    x = ag.randn(256, 256, device="cuda", requires_grad=True)
    (x.exp() * 2).sum().backward()  # exp's output and the product live only during the step
    after = ag.cuda.memory_allocated()
    assert ag.cuda.max_memory_allocated() >= after + 2 * 256 * 256 * 4 > start


@pytest.mark.parametrize("size", [1, 1 << 15], ids=["item", "large_copy"])
def test_the_sync_after_a_step_reads_data_and_checks_together(size):
    """A small copy (a loss's .item()) brings the pending check records along: still one transfer, the right
    value; a large one reads them apart. Either way a good target raises nothing, a bad one raises."""
    syncs = _count_syncs()
    logits = ag.randn(3, 4, device="cuda")
    data = ag.arange(size, dtype=ag.float64, device="cuda") * 0.5
    nn.functional.cross_entropy(logits, ag.tensor([0, 3, 1], device="cuda"))
    with syncs as counted:
        values = data.tolist() if size > 1 else data.item()
    assert (values == 0.0 if size == 1 else values == [k * 0.5 for k in range(size)])
    assert sum(counted.values()) == (1 if size == 1 else 2)
    nn.functional.cross_entropy(logits, ag.tensor([0, 4, 1], device="cuda"))
    with pytest.raises(IndexError, match=r"values in \[4, 4\]"):
        data.tolist()


@pytest.mark.cuda
def test_setting_one_element_by_integer_indices():
    """t[i, j] = v writes the element on CUDA as on the CPU (the stand-in once dropped such writes)."""
    for device in ("cpu", "cuda"):
        t = ag.zeros(2, 3, device=device)
        t[1, 2] = 5.0
        t[0][1] = 2.0
        assert t.cpu().tolist() == [[0.0, 2.0, 0.0], [0.0, 0.0, 5.0]]


@pytest.mark.cuda
def test_integer_scatter_add_is_exact_on_cuda():
    """index_add/scatter_add of int64 values beyond float32's 24-bit mantissa add up exactly, as on the CPU."""
    big = 2 ** 40 + 3
    for device in ("cpu", "cuda"):
        x = ag.zeros(3, dtype=ag.int64, device=device)
        src = ag.tensor([big, 1, big, -5], dtype=ag.int64, device=device)
        index = ag.tensor([0, 0, 2, 2], device=device)
        assert x.index_add(0, index, src).cpu().tolist() == [big + 1, 0, big - 5]
        assert x.scatter_add(0, index, src).cpu().tolist() == [big + 1, 0, big - 5]
