"""Time one case in one framework, in this process alone, and print the result as one JSON line.

    python -m benchmarks.run_case --framework ndgrad --case mlp_step --device cpu --iterations 20
    python -m benchmarks.run_case --framework ndgrad --case conv_block --breakdown   # where ndgrad's time goes

Only the framework asked for is imported: another library's BLAS/OpenMP worker threads, still
spinning after their last job, would slow this one down (python -m benchmarks runs each
framework in a fresh process of its own for that reason).
"""

import argparse
import json
import os
import statistics
import sys
import time
from types import SimpleNamespace

from .registry import load_cases

STANDIN_ENV = "NDGRAD_CUDA_STANDIN"  # =1: "cuda" is the test suite's CuPy stand-in (as for pytest --cuda-standin)


def install_cuda_standin_if_asked():
    """With NDGRAD_CUDA_STANDIN=1, make ``import cupy`` in this process give tests/cupy_standin.py (NumPy posing
    as CuPy, strictly, on fake GPUs), so that a dry run (python -m benchmarks.gpu_check --dry-run) drives
    ndgrad's real CUDA backend on a machine without a GPU. The stand-in is test code: it is found in tests/,
    only when asked for, and before anything imports CuPy. Returns whether it was installed."""
    if os.environ.get(STANDIN_ENV) != "1":
        return False
    tests = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import cupy_standin
    if not cupy_standin.is_installed():  # (pytest --cuda-standin has installed it already)
        cupy_standin.install(devices=2)
    return True


def load_framework(name, device):
    """The framework under PyTorch's names, its synchronisation, and what the report says about it."""
    if name == "torch":
        import torch
        on_gpu = torch.device(device).type == "cuda"
        about = {"version": torch.__version__, "threads": torch.get_num_threads()}
        if on_gpu:  # PyTorch's defaults, as a user gets them: TF32 off for matmuls, on for cuDNN convolutions
            about.update(device_name=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                         matmul_tf32=torch.backends.cuda.matmul.allow_tf32, cudnn_tf32=torch.backends.cudnn.allow_tf32)
        return SimpleNamespace(name=name, ag=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim,
                               sync=torch.cuda.synchronize if on_gpu else (lambda: None), about=about)
    import numpy as np

    import autograd as ag
    import nn
    import nn.functional as F
    import optim
    from backends import get_backend
    backend = get_backend(device)
    return SimpleNamespace(name=name, ag=ag, nn=nn, F=F, optim=optim, sync=backend.synchronize,
                           about={"numpy": np.__version__, "device_name": backend.device_name()})


def time_step(step, sync, iterations, blocks, warmup=None):
    """Seconds per step for each of ``blocks`` timed blocks of ``iterations`` steps, after a warm-up
    (caches, allocator pools, thread pools) of ``warmup`` steps, by default a quarter block (at least one)."""
    for _ in range(max(1, iterations // 4) if warmup is None else warmup):
        step()
    times = []
    for _ in range(blocks):
        sync()
        start = time.perf_counter()
        for _ in range(iterations):
            step()
        sync()
        times.append((time.perf_counter() - start) / iterations)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", required=True, choices=["ndgrad", "torch"])
    parser.add_argument("--case", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=None, help="steps per timed block (default: the case's)")
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks; their median is reported")
    parser.add_argument("--breakdown", action="store_true", help="ndgrad only: time the case's pieces instead")
    args = parser.parse_args(argv)
    if args.framework == "ndgrad" and args.device.startswith("cuda"):
        install_cuda_standin_if_asked()
    cases = load_cases()
    if args.case not in cases:
        parser.error(f"unknown case {args.case!r}; registered: {', '.join(cases)}")
    case = cases[args.case]
    fw = load_framework(args.framework, args.device)
    result = {"framework": args.framework, "case": case.name, "device": args.device, **fw.about}
    if args.breakdown:
        if args.framework != "ndgrad" or case.breakdown is None:
            parser.error(f"--breakdown: case {case.name!r} has none for {args.framework}")
        result["pieces_s"] = case.breakdown(args.device)
    else:
        iterations = args.iterations or case.iterations
        times = time_step(case.build(fw, args.device), fw.sync, iterations, args.blocks)
        result.update(seconds=statistics.median(times), blocks_s=times, iterations=iterations)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
