"""A Transformer encoder layer step: d_model 128, 4 heads, sequence 128, batch 8, float32, training mode
(PyTorch's defaults: dim_feedforward 2048, dropout 0.1, post-norm), forward and backward, against PyTorch.

    python -m benchmarks.transformer            # ratio, absolute times, where ndgrad's time goes
    python -m benchmarks.transformer --quick
    python -m benchmarks.transformer --threads 1   # both frameworks on one BLAS/OpenMP thread

Each framework runs in its own subprocess (neither's thread pool or allocator disturbs the other's),
the two alternating in pairs of runs; the median of each side's per-run best is reported. Results go
to benchmarks/results/cpu_transformer.json and .png.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
D_MODEL, HEADS, SEQ, BATCH = 128, 4, 128, 8


def _step_ndgrad(dropout):
    import numpy as np
    import autograd as ag
    import nn
    ag.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, dropout=dropout, batch_first=True)
    x = ag.tensor(np.random.default_rng(0).standard_normal((BATCH, SEQ, D_MODEL)).astype(np.float32),
                  requires_grad=True)
    grad = ag.tensor(np.random.default_rng(1).standard_normal((BATCH, SEQ, D_MODEL)).astype(np.float32))

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x).backward(grad)
    return step


def _step_torch(dropout):
    import numpy as np
    import torch
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, dropout=dropout, batch_first=True)
    x = torch.tensor(np.random.default_rng(0).standard_normal((BATCH, SEQ, D_MODEL)).astype(np.float32),
                     requires_grad=True)
    grad = torch.tensor(np.random.default_rng(1).standard_normal((BATCH, SEQ, D_MODEL)).astype(np.float32))

    def step():
        layer.zero_grad()
        x.grad = None
        layer(x).backward(grad)
    return step


def _time(step, iterations):
    for _ in range(3):
        step()
    best = float("inf")
    for _ in range(iterations):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def worker(framework, dropout, iterations):
    """One run in this process: the best of ``iterations`` steps, in seconds (printed as JSON)."""
    step = (_step_torch if framework == "torch" else _step_ndgrad)(dropout)
    print(json.dumps({"seconds": _time(step, iterations)}))


def _thread_env(threads):
    env = dict(os.environ)
    if threads:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    return env


def _spawn(framework, dropout, iterations, threads):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-m", "benchmarks.transformer", "--worker", framework,
                          "--dropout", str(dropout), "--iterations", str(iterations)],
                         cwd=root, check=True, capture_output=True, text=True, env=_thread_env(threads)).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def breakdown(dropout=0.1, repeats=5):
    """Seconds (best of ``repeats``) per piece of ndgrad's step: the ops recorded, grouped by kind, timed
    by wrapping each Op's forward and backward kernels."""
    import autograd.function as function
    step = _step_ndgrad(dropout)
    step()
    totals = {}
    originals = {}
    for name, cls in function.registry.items():
        if not cls.__module__.startswith("autograd.ops"):
            continue
        for kind in ("forward",):
            fn = cls.__dict__.get(kind)
            if fn is None:
                continue
            originals[(cls, kind)] = fn

            def timed(*args, _fn=fn, _name=name, **kwargs):
                start = time.perf_counter()
                try:
                    return _fn(*args, **kwargs)
                finally:
                    totals[_name] = totals.get(_name, 0.0) + time.perf_counter() - start
            setattr(cls, kind, timed)
    try:
        best = None
        for _ in range(repeats):
            totals.clear()
            start = time.perf_counter()
            step()
            wall = time.perf_counter() - start
            if best is None or wall < best[0]:
                best = (wall, dict(totals))
    finally:
        for (cls, kind), fn in originals.items():
            setattr(cls, kind, fn)
    wall, pieces = best
    pieces = dict(sorted(pieces.items(), key=lambda kv: -kv[1]))
    pieces["(outside the kernels: graph, engine, Python)"] = wall - sum(pieces.values())
    return wall, pieces


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["ndgrad", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=5, help="alternating (ndgrad, torch) subprocess pairs")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="BLAS/OpenMP threads for both (0: their defaults)")
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.dropout, args.iterations)
    if args.quick:
        args.pairs, args.iterations = 2, 3
    ours, theirs = [], []
    for _ in range(args.pairs):
        ours.append(_spawn("ndgrad", args.dropout, args.iterations, args.threads))
        theirs.append(_spawn("torch", args.dropout, args.iterations, args.threads))
    a, b = statistics.median(ours), statistics.median(theirs)
    import torch
    device_name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            device_name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"Transformer encoder layer step (d_model {D_MODEL}, {HEADS} heads, seq {SEQ}, batch {BATCH}, "
          f"dropout {args.dropout}, forward + backward) on cpu ({device_name}, {os.cpu_count()} cores, "
          f"{args.threads or 'default'} threads)")
    print(f"  ndgrad {a * 1e3:8.2f} ms   torch {b * 1e3:8.2f} ms   ratio {a / b:5.2f}x")
    wall, pieces = json.loads(subprocess.run(  # in a subprocess too, under the same thread settings
        [sys.executable, "-c", "import json, benchmarks.transformer as b; print(json.dumps(b.breakdown(%r)))"
         % args.dropout], cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), check=True,
        capture_output=True, text=True, env=_thread_env(args.threads)).stdout.strip().splitlines()[-1])
    print(f"where ndgrad's time goes (one step of {wall * 1e3:.2f} ms, forward kernels of each op incl. those run "
          f"by backward):")
    for name, seconds in pieces.items():
        print(f"  {name:<50} {seconds * 1e3:8.2f} ms")
    import numpy as np
    report = {"case": "transformer_encoder_layer_step", "device": "cpu", "device_name": device_name,
              "cores": os.cpu_count(), "threads": args.threads or "default", "torch": torch.__version__, "numpy": np.__version__,
              "python": platform.python_version(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "shape": {"d_model": D_MODEL, "heads": HEADS, "seq": SEQ, "batch": BATCH, "dropout": args.dropout},
              "ndgrad_s": ours, "torch_s": theirs, "ndgrad_median_s": a, "torch_median_s": b, "ratio": a / b,
              "ndgrad_pieces_s": pieces}
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "cpu_transformer")
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=2)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        left.bar(["ndgrad", "PyTorch"], [a * 1e3, b * 1e3], color=["tab:blue", "tab:orange"])
        left.set_ylabel("ms per step (median of best-of runs)")
        left.set_title(f"encoder layer step: {a / b:.2f}x PyTorch")
        top = list(pieces.items())[:10]
        right.barh([n for n, _ in top][::-1], [s * 1e3 for _, s in top][::-1])
        right.set_xlabel("ms in one ndgrad step")
        right.set_title("where ndgrad's time goes")
        fig.tight_layout()
        fig.savefig(stem + ".png", dpi=100)
    except ImportError:
        print("(matplotlib not installed: no plot)")
    print(f"saved {stem}.json")


if __name__ == "__main__":
    main()
