"""``autograd.backends``: torch.backends' switches, so scripts that set or read them run unchanged.

Not to be confused with the top-level ``backends`` package (devices and their array libraries):
absolute imports (``import backends``) always find that one, this module is ``autograd.backends``.
``cuda.matmul.allow_tf32`` (False, as in PyTorch) switches CuPy's float32 matmuls to TF32 tensor cores on
every GPU; it rules the convolutions too, which are matmuls here (no cuDNN). The other flags are stored only:
ndgrad has no MPS backend and does not use cuDNN.
``cpu.allocator`` ("reuse" or "system") is ndgrad's own: how glibc's malloc treats large freed CPU buffers
(backends/cpu_allocator.py; ``NDGRAD_CPU_ALLOCATOR=system`` declines it before it is applied).
"""

from backends import cpu_allocator, cupy_backend  # no CuPy import: that happens when a GPU is first used


class mps:
    """Apple's Metal backend: not part of ndgrad."""

    @staticmethod
    def is_available():
        return False

    @staticmethod
    def is_built():
        return False


class _Matmul:
    allow_fp16_reduced_precision_reduction = True

    @property
    def allow_tf32(self):
        return cupy_backend._tf32["allowed"]

    @allow_tf32.setter
    def allow_tf32(self, allowed):
        cupy_backend.set_allow_tf32(allowed)


class cuda:
    matmul = _Matmul()


class _Cpu:
    @property
    def allocator(self):
        """"reuse": large freed buffers stay in the heap for the next step; "system": glibc's own thresholds."""
        return cpu_allocator.policy()

    @allocator.setter
    def allocator(self, policy):
        cpu_allocator.set_policy(policy)

    @staticmethod
    def allocator_status():
        """The policy in force, the glibc thresholds ndgrad set and why (a user's MALLOC_* settings, say)."""
        return cpu_allocator.status()


cpu = _Cpu()


class cudnn:
    enabled = True
    benchmark = False
    deterministic = False

    @staticmethod
    def is_available():
        return False
