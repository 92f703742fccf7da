"""How the CPU backend's large temporaries get their memory: glibc's malloc, tuned so that freed buffers are reused.

NumPy takes every array's memory from the C library's malloc. glibc gives each block above its mmap threshold
(128 KiB at first, raised as such blocks are freed, up to 32 MiB) pages of their own and unmaps them when the
block is freed; the heap's free top goes back to the kernel too, past the trim threshold. A training step frees
its multi-MiB activations and gradients and allocates the same sizes again in the next step, so each step
pays the kernel to map, zero and fault those pages in again (about 1,200 minor faults per attention call).

The policy "reuse" (the default) raises both thresholds once, when the CPU backend is made, so that freed
buffers stay in the heap and the next step takes them back without a page fault. It is a process-wide setting
of the C library, so it can be declined:

- ``NDGRAD_CPU_ALLOCATOR=system`` in the environment (read when the CPU backend is made): glibc is left alone;
- ``autograd.backends.cpu.allocator = "system"`` (or ``"reuse"``) at any time;
- a user's own ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES=glibc.malloc.*``
  setting wins: the default policy then leaves glibc alone and ``status()`` says why (an explicit
  ``autograd.backends.cpu.allocator = "reuse"`` still applies it).

Switching back to "system" sets glibc's documented starting values again (both thresholds 128 KiB) and hands the
heap's free memory back (malloc_trim). What cannot be restored: glibc's dynamic mmap threshold, which it stops
adjusting for the rest of the process as soon as either threshold has been set by mallopt, and a threshold it had
already raised before the policy was applied. Elsewhere than Linux with glibc nothing is changed.
"""

import ctypes
import os
import sys

ENV = "NDGRAD_CPU_ALLOCATOR"
POLICIES = ("reuse", "system")
USER_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
# "reuse": blocks up to 64 MiB come from the heap, and up to 256 MiB of free heap top is kept before any goes back
# to the kernel. Measured (python -m benchmarks.allocator --thresholds 4,16,256): a 4 MiB threshold still leaves
# the conv block and the Transformer layer ~6,000 minor faults per step, 16 MiB and more none; 64 MiB leaves
# room for larger batches and sequences (attention scores grow with the square of the sequence).
THRESHOLDS = {"reuse": {M_MMAP_THRESHOLD: 64 << 20, M_TRIM_THRESHOLD: 256 << 20},
              "system": {M_MMAP_THRESHOLD: 128 << 10, M_TRIM_THRESHOLD: 128 << 10}}  # glibc's starting values

_state = {"policy": None, "thresholds": {}, "reason": "not applied yet: the CPU backend has not been made"}


def _glibc():
    """The C library as a ctypes handle when it is glibc on Linux, else None."""
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""  # "glibc 2.36"; musl and other systems have none
    except (AttributeError, ValueError, OSError):
        version = ""
    if not sys.platform.startswith("linux") or not version.startswith("glibc"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes, libc.mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = (ctypes.c_size_t,), ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def _user_settings():
    """The environment settings by which the user has tuned glibc's malloc already, as one string ('' if none)."""
    found = [f"{name}={os.environ[name]}" for name in USER_ENV if name in os.environ]
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        found.append(f"GLIBC_TUNABLES={os.environ['GLIBC_TUNABLES']}")
    return ", ".join(found)


def set_policy(policy):
    """Make ``policy`` ("reuse" or "system") the CPU allocator policy now. Returns whether glibc was changed."""
    if policy not in POLICIES:
        raise ValueError(f"cpu allocator: unknown policy {policy!r}; choose one of {', '.join(map(repr, POLICIES))} "
                         f"(or set {ENV}=system before the CPU backend is made)")
    libc = _glibc()
    if libc is None:
        _state.update(policy="system", reason=f"not Linux with glibc ({sys.platform}): the C library's allocator is "
                                              "left alone")
        return False
    if policy == "system" and _state["policy"] in (None, "system"):  # glibc untouched so far: keep its dynamic threshold
        _state.update(policy="system", reason=_state["reason"] if _state["policy"] == "system" else "glibc's defaults")
        return False
    for parameter, value in THRESHOLDS[policy].items():
        if libc.mallopt(parameter, value) != 1:
            raise OSError(f"cpu allocator: glibc's mallopt({parameter}, {value}) refused the {policy!r} policy; "
                          f"set {ENV}=system to leave the allocator alone")
    if policy == "system":
        libc.malloc_trim(0)  # what "reuse" kept in the heap goes back to the kernel
    _state.update(policy=policy, thresholds=THRESHOLDS[policy], reason="set by ndgrad" if policy == "reuse" else
                  "glibc's starting thresholds set again (its dynamic mmap threshold stays off)")
    return True


def apply_default():
    """The policy for a new CPU backend: "reuse" unless the environment says otherwise; once per process."""
    if _state["policy"] is not None:  # chosen already (by the user at runtime, or by an earlier call)
        return
    choice = os.environ.get(ENV, "reuse").strip().lower() or "reuse"
    user = _user_settings()
    if choice == "system":
        _state.update(policy="system", reason=f"{ENV}=system: glibc left alone")
    elif choice != "reuse":
        raise ValueError(f"{ENV}={os.environ[ENV]!r}: expected 'reuse' (the default) or 'system' (leave glibc alone)")
    elif user:
        _state.update(policy="system", reason=f"the user's own malloc settings are kept ({user}): glibc left alone")
    else:
        set_policy("reuse")


def policy():
    """The policy in force: "reuse", "system", or None before the CPU backend is made."""
    return _state["policy"]


def status():
    """The policy in force, the glibc thresholds ndgrad set (None: glibc's own) and why, as a dict."""
    values = _state["thresholds"]
    return {"policy": _state["policy"], "mmap_threshold": values.get(M_MMAP_THRESHOLD),
            "trim_threshold": values.get(M_TRIM_THRESHOLD), "reason": _state["reason"]}
