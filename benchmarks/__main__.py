"""Run ndgrad and PyTorch on the same work, interleaved, and report medians and ratios.

    python -m benchmarks --device cpu            # or --device cuda
    python -m benchmarks --device cpu --quick    # fewer rounds, for a smoke test

Cases:
  overhead  a 3-op graph (mul, add, sum) on 4 elements, forward + backward
  mlp_step  one training step of an MLP 784-512-512-10 at batch 256, float32:
            forward, cross-entropy, backward, SGD with momentum
  conv_block  a 3x3 conv 64->64 at 32x32, batch 32, float32, forward + backward (benchmarks/conv.py)

Results go to benchmarks/results/<device>.json and <device>.png. A group's cases (conv_block
is the group "conv") run with --only GROUP, saved to <device>_GROUP.json and .png beside them.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import autograd as ag
import nn
import nn.functional as F
import optim
from backends import get_backend

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def timed(fn, sync, iterations):
    """Seconds per call of ``fn``, averaged over ``iterations`` calls (synchronised at both ends)."""
    sync()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    sync()
    return (time.perf_counter() - start) / iterations


SETTLE_S = 0.3  # BLAS/OpenMP worker threads spin for a while after their last job: let them go idle


def interleave(ours, theirs, sync_ours, sync_theirs, rounds, iterations):
    """Alternate the two frameworks round by round so drift in machine speed hits both alike.

    Before each timed block the other framework's thread pool is given SETTLE_S to stop
    spinning; without it, whichever framework runs second shares the cores with the
    first one's busy-waiting threads (seen here: PyTorch's MLP step 5.1 ms alone, 8.1 ms
    right after NumPy's OpenBLAS).
    """
    for fn, sync in ((ours, sync_ours), (theirs, sync_theirs)):
        timed(fn, sync, max(1, iterations // 4))  # warm up: caches, allocator pools, BLAS threads
    a, b = [], []
    for _ in range(rounds):
        time.sleep(SETTLE_S)
        a.append(timed(ours, sync_ours, iterations))
        time.sleep(SETTLE_S)
        b.append(timed(theirs, sync_theirs, iterations))
    return a, b


# --- the two frameworks' versions of each case ---------------------------------------------

def overhead_case(device, torch):
    x = ag.randn(4, device=device, requires_grad=True)
    y = ag.randn(4, device=device, requires_grad=True)
    tx = torch.randn(4, device=torch_device(device), requires_grad=True)
    ty = torch.randn(4, device=torch_device(device), requires_grad=True)

    def ours():
        ((x * y + y).sum()).backward()

    def theirs():
        ((tx * ty + ty).sum()).backward()

    return ours, theirs, 2000


def mlp_case(device, torch, batch=256, sizes=(784, 512, 512, 10)):
    ag.manual_seed(0)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to(device)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    ys = rng.integers(0, sizes[-1], batch)
    xb, yb = ag.tensor(xs, device=device), ag.tensor(ys, device=device)

    tdev = torch_device(device)
    tlayers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        tlayers.append(torch.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            tlayers.append(torch.nn.ReLU())
    tmodel = torch.nn.Sequential(*tlayers)
    tmodel.load_state_dict({k: torch.tensor(v.cpu().numpy()) for k, v in model.state_dict().items()})
    tmodel = tmodel.to(tdev)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
    txb, tyb = torch.tensor(xs, device=tdev), torch.tensor(ys, device=tdev)

    def ours():
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def theirs():
        loss = torch.nn.functional.cross_entropy(tmodel(txb), tyb)
        topt.zero_grad()
        loss.backward()
        topt.step()

    return ours, theirs, 20


from .conv import breakdown as conv_breakdown, conv_block_case  # noqa: E402

CASES = {"overhead": overhead_case, "mlp_step": mlp_case, "conv_block": conv_block_case}
GROUPS = {"conv": ["conv_block"]}  # --only GROUP: these cases, saved apart from the full run
BREAKDOWNS = {"conv": conv_breakdown}  # where ndgrad's time goes, per piece, saved with the group


def torch_device(device):
    return "cuda" if ag.Device(device).type == "cuda" else "cpu"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per case (median is reported)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of few iterations: a smoke test")
    grouped = {case for cases in GROUPS.values() for case in cases}  # run with --only GROUP (or --cases)
    parser.add_argument("--cases", nargs="*", default=[c for c in CASES if c not in grouped], choices=list(CASES))
    parser.add_argument("--only", choices=list(GROUPS), help="run one group of cases, saved to <device>_GROUP.json")
    parser.add_argument("--out", default=RESULTS, help="folder for the JSON and the plot")
    args = parser.parse_args(argv)
    if args.only:
        args.cases = GROUPS[args.only]
    try:
        import torch
    except ImportError:
        sys.exit("benchmarks: PyTorch is needed for the comparison: pip install 'ndgrad[bench]' "
                 "(CPU build: pip install torch==2.13.0)")

    backend = get_backend(args.device)
    device_name = backend.device_name()
    tdev = torch_device(args.device)
    sync_ours = backend.synchronize
    sync_theirs = torch.cuda.synchronize if tdev == "cuda" else (lambda: None)
    rounds = 3 if args.quick else args.rounds

    print(f"device: {args.device} ({device_name}); ndgrad vs PyTorch {torch.__version__}, "
          f"numpy {np.__version__}, {rounds} interleaved rounds, median per call")
    print(f"{'case':<10} {'ndgrad':>12} {'pytorch':>12} {'ratio':>7}   (ratio: median over rounds of "
          f"ndgrad/pytorch)")
    results = []
    for name in args.cases:
        ours, theirs, iterations = CASES[name](args.device, torch)
        if args.quick:
            iterations = max(1, iterations // 10)
        a, b = interleave(ours, theirs, sync_ours, sync_theirs, rounds, iterations)
        ours_s, theirs_s = statistics.median(a), statistics.median(b)
        ratio = statistics.median(x / y for x, y in zip(a, b))  # paired by round: robust to drift
        results.append({"case": name, "ndgrad_s": ours_s, "pytorch_s": theirs_s, "ratio": ratio,
                        "ndgrad_all_s": a, "pytorch_all_s": b, "iterations_per_round": iterations})
        print(f"{name:<10} {fmt(ours_s):>12} {fmt(theirs_s):>12} {ratio:>7.2f}")

    report = {"device": str(ag.Device(args.device)), "device_name": device_name, "torch": torch.__version__,
              "numpy": np.__version__, "python": platform.python_version(), "rounds": rounds,
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": results}
    if args.only in BREAKDOWNS:
        pieces = BREAKDOWNS[args.only](args.device)
        report["ndgrad_pieces_s"] = pieces
        print("where ndgrad's time goes (best of 7 per piece):")
        for piece, seconds in pieces.items():
            print(f"  {piece:<55} {fmt(seconds):>10}")
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, str(ag.Device(args.device)).replace(":", "_") + (f"_{args.only}" if args.only else ""))
    with open(stem + ".json.tmp", "w") as f:
        json.dump(report, f, indent=2)
    os.replace(stem + ".json.tmp", stem + ".json")
    plot(report, stem + ".png")
    print(f"saved {stem}.json and {stem}.png")


def fmt(seconds):
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def plot(report, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    names = [r["case"] for r in report["results"]]
    ratios = [r["ratio"] for r in report["results"]]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(names, ratios, color=["tab:green" if r <= 1 else "tab:orange" for r in ratios])
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    for i, r in enumerate(ratios):
        ax.text(i, r, f"{r:.2f}", ha="center", va="bottom")
    ax.set_ylabel("ndgrad time / PyTorch time")
    ax.set_title(f"{report['device']}: {report['device_name']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
