"""Shared test helpers: the device parameters and comparisons against PyTorch.

Nothing here imports CuPy: whether CUDA is usable is asked only when a test marked
``cuda`` is about to run, and such a test is skipped when it is not.
"""

import functools
import os

import numpy as np
import pytest
from hypothesis import settings

import autograd as ag
import backends
from backends import Device, NumpyBackend

# hypothesis: a quick profile by default (CI), a thorough one on demand (HYPOTHESIS_PROFILE=thorough python -m
# pytest); tests size their example counts with examples(n), which the profile scales
settings.register_profile("quick", deadline=None)
settings.register_profile("thorough", deadline=None)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "quick")
settings.load_profile(PROFILE)


def examples(n):
    """``n`` hypothesis examples in the quick profile, 20 times as many in the thorough one."""
    return n * 20 if PROFILE == "thorough" else n


# every test that takes ``device`` runs once per entry; the CUDA one carries the marker
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def pytest_addoption(parser):
    parser.addoption("--cuda-standin", action="store_true", default=os.environ.get("NDGRAD_CUDA_STANDIN") == "1",
                     help="run the cuda-marked tests on tests/cupy_standin.py (NumPy posing as CuPy, strictly, on two "
                          "fake GPUs) instead of skipping them where there is no GPU; also NDGRAD_CUDA_STANDIN=1")


def pytest_configure(config):
    if config.getoption("--cuda-standin"):
        import cupy_standin
        cupy_standin.install(devices=2)  # before anything imports CuPy: backends then find the stand-in


def pytest_report_header(config):
    if config.getoption("--cuda-standin"):
        return "cuda: the CuPy stand-in (NumPy, CuPy's rules, NVRTC compiles when installed): plumbing, not numbers"


def pytest_terminal_summary(terminalreporter):
    """The op table's coverage, after any run that included it: how many public ops, rows and checks."""
    outcomes = {kind: sum(1 for r in terminalreporter.stats.get(kind, ()) if "test_ops.py" in r.nodeid)
                for kind in ("passed", "failed", "skipped", "xfailed")}
    if not any(outcomes.values()):
        return
    from optable import public_ops
    from test_ops import OPS
    counts = ", ".join(f"{n} {kind}" for kind, n in outcomes.items() if n)
    terminalreporter.write_line(f"op table: {len(public_ops())} public ops (functions and Tensor methods counted once), "
                                f"{len(OPS)} rows; checks run: {counts}")


@functools.lru_cache(maxsize=None)
def cuda_available():
    return ag.cuda.is_available()


def pytest_runtest_setup(item):
    if item.get_closest_marker("cuda") is not None and not cuda_available():
        pytest.skip("needs an NVIDIA GPU with CuPy (pip install 'ndgrad[cuda12]' or 'ndgrad[cuda13]')")


@pytest.fixture(params=DEVICES)
def device(request):
    """The device a test runs on: "cpu", and "cuda" (marked; skipped without a GPU)."""
    return request.param


class SecondDevice(NumpyBackend):
    """NumPy arrays that live on "cuda:0" as far as ndgrad can tell (generic kernels only):
    a second device for device-plumbing and device-mixing tests on machines without a GPU."""
    kernels = {}

    def __init__(self):
        super().__init__()
        self.device = Device("cuda:0")


@pytest.fixture
def gpu(monkeypatch):
    """A SecondDevice registered as cuda:0 for the test's duration; returns that backend."""
    table = dict(backends._backends)
    table[Device("cuda:0")] = backend = SecondDevice()
    monkeypatch.setattr(backends, "_backends", table)
    return backend


def to_numpy(t):
    """A NumPy copy of an ndgrad tensor, a torch tensor or array-like data."""
    if isinstance(t, ag.Tensor):
        return t.detach().cpu().numpy()
    module = type(t).__module__
    if module.startswith("torch"):
        return t.detach().cpu().numpy(force=True)  # force: torch's lazy zero tensors too
    if module.startswith("cupy"):
        return t.get()
    return np.asarray(t)


def to_torch(t, requires_grad=False):
    """A CPU torch tensor holding the same data (and dtype) as an ndgrad tensor or an array."""
    import torch
    out = torch.from_numpy(np.array(to_numpy(t), copy=True))
    return out.requires_grad_(requires_grad) if requires_grad else out


def assert_close(actual, expected, rtol=1e-10, atol=1e-12, check_dtype=True, msg=""):
    """Same shape, same dtype (unless told not to) and close values; either side may be any array-like."""
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"{msg} shape {a.shape} != expected {e.shape}"
    if check_dtype:
        assert a.dtype == e.dtype, f"{msg} dtype {a.dtype} != expected {e.dtype}"
    np.testing.assert_allclose(a.astype(np.float64) if a.dtype.kind == "b" else a,
                               e.astype(np.float64) if e.dtype.kind == "b" else e,
                               rtol=rtol, atol=atol, err_msg=msg)
