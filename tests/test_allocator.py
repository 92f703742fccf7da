"""The CPU allocator policy (backends/cpu_allocator.py): what glibc does with a large freed block under each setting.

glibc's decisions are observed in fresh processes, so that this one's heap is not changed: whether a 32 MiB
block came from the heap or from a mapping of its own (mallinfo2's hblkhd, the bytes in such mappings), and
the minor page faults of taking it again after it was freed (bounds loose enough for a loaded machine).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import autograd as ag
from backends import cpu_allocator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
glibc_only = pytest.mark.skipif(cpu_allocator._glibc() is None or not hasattr(cpu_allocator._glibc(), "mallinfo2"),
                                reason="the policy tunes glibc's malloc (observed with mallinfo2, glibc >= 2.33): "
                                       "elsewhere it changes nothing to observe")

PROBE = r"""
import ctypes, json, resource, sys
import autograd, autograd.backends
from backends import get_backend

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Mallinfo2
SIZE = 32 << 20

def block():
    '''Take, touch and free a 32 MiB block twice; the second time: was it mapped apart, and its page faults.'''
    for _ in range(2):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        p = libc.malloc(SIZE)
        ctypes.memset(p, 1, SIZE)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        mapped = libc.mallinfo2().hblkhd >= SIZE
        libc.free(p)
    return {"mapped": mapped, "faults": faults, "policy": autograd.backends.cpu.allocator,
            "reason": autograd.backends.cpu.allocator_status()["reason"]}

out = {}
for step in sys.argv[1:]:
    if step == "backend":
        get_backend("cpu")
    elif step.startswith("set="):
        autograd.backends.cpu.allocator = step[4:]
    else:
        out[step] = block()
print(json.dumps(out))
"""


def probe(*steps, **env):
    """Run PROBE's ``steps`` in a fresh process with ``env`` (and no inherited malloc settings)."""
    environment = {k: v for k, v in os.environ.items() if k not in cpu_allocator.USER_ENV + (cpu_allocator.ENV,)}
    environment.pop("GLIBC_TUNABLES", None)
    done = subprocess.run([sys.executable, "-c", PROBE, *steps], cwd=ROOT, capture_output=True, text=True,
                          env={**environment, **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# one 32 MiB block is at least 16 faults (2 MiB pages) when mapped afresh; taken back from the heap, next to none
FRESH, REUSED = 16, 100


def assert_reused(result):
    assert result["policy"] == "reuse" and not result["mapped"] and result["faults"] < REUSED, result


def assert_mapped_afresh(result):
    assert result["mapped"] and result["faults"] >= FRESH, result


@glibc_only
def test_default_policy_reuses_freed_blocks_and_the_env_var_opts_out():
    ours = probe("backend", "after")["after"]
    assert_reused(ours)
    declined = probe("backend", "after", NDGRAD_CPU_ALLOCATOR="system")["after"]
    assert_mapped_afresh(declined)
    assert declined["policy"] == "system" and "NDGRAD_CPU_ALLOCATOR=system" in declined["reason"]
    assert declined["faults"] > ours["faults"]


@glibc_only
def test_runtime_switch_before_and_after_the_backend_is_made():
    out = probe("before", "set=system", "backend", "kept", "set=reuse", "on", "set=system", "off")
    assert_mapped_afresh(out["before"])  # importing autograd alone changes nothing
    assert out["kept"]["policy"] == "system"  # the user's choice outlives the backend's default
    assert_mapped_afresh(out["kept"])
    assert_reused(out["on"])
    assert_mapped_afresh(out["off"])
    assert out["off"]["policy"] == "system"


@glibc_only
@pytest.mark.parametrize("env", [{"MALLOC_MMAP_THRESHOLD_": str(128 << 10)}, {"MALLOC_TRIM_THRESHOLD_": str(128 << 10)},
                                 {"GLIBC_TUNABLES": f"glibc.malloc.mmap_threshold={128 << 10}"}])
def test_users_own_malloc_settings_are_left_in_force(env):
    result = probe("backend", "after", **env)["after"]
    assert result["policy"] == "system" and list(env)[0] in result["reason"], result
    if "TRIM" not in list(env)[0]:  # the user's 128 KiB threshold, not ours, decides: the block is mapped apart
        assert_mapped_afresh(result)


def test_unknown_policies_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="unknown policy 'fast'.*'reuse', 'system'"):
        ag.backends.cpu.allocator = "fast"
    monkeypatch.setattr(cpu_allocator, "_state", {"policy": None, "thresholds": {}, "reason": ""})
    monkeypatch.setenv(cpu_allocator.ENV, "sometimes")
    with pytest.raises(ValueError, match="NDGRAD_CPU_ALLOCATOR='sometimes'.*'system'"):
        cpu_allocator.apply_default()


def test_without_glibc_nothing_is_changed(monkeypatch):
    monkeypatch.setattr(cpu_allocator, "_state", {"policy": None, "thresholds": {}, "reason": ""})
    monkeypatch.setattr(cpu_allocator, "_glibc", lambda: None)
    monkeypatch.delenv(cpu_allocator.ENV, raising=False)
    cpu_allocator.apply_default()
    assert cpu_allocator.policy() == "system" and "not Linux with glibc" in cpu_allocator.status()["reason"]
    assert cpu_allocator.status()["mmap_threshold"] is None


def test_numerics_untouched_under_the_policy():
    """A smoke test: with large buffers reused from the heap, a matmul-relu backward still matches PyTorch's."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 384, 384)).astype(np.float32)
    grads = []
    for lib in (ag, torch):
        for _ in range(2):  # the second step runs on the buffers the first one freed
            x, w = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
            lib.relu(x @ w).square().sum().backward()
        grads.append([x.grad.numpy(), w.grad.numpy()])
    assert ag.backends.cpu.allocator in ("reuse", "system")
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-2)
