"""``autograd.backends``: torch.backends' switches, so scripts that set or read them run unchanged.

Not to be confused with the top-level ``backends`` package (devices and their array libraries):
absolute imports (``import backends``) always find that one, this module is ``autograd.backends``.
The flags are stored only: ndgrad has no MPS backend and does not use cuDNN, and CuPy's matmul
precision is not switched by ``allow_tf32``.
"""


class mps:
    """Apple's Metal backend: not part of ndgrad."""

    @staticmethod
    def is_available():
        return False

    @staticmethod
    def is_built():
        return False


class cuda:
    class matmul:
        allow_tf32 = False
        allow_fp16_reduced_precision_reduction = True


class cudnn:
    enabled = True
    benchmark = False
    deterministic = False

    @staticmethod
    def is_available():
        return False
