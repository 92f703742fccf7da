"""An LSTM step (input 64, hidden 128, sequence 35, batch 32, float32, forward + backward of a sum)
against PyTorch; each framework in its own subprocess, the pairs alternated.

    python -m benchmarks.lstm [--device cpu] [--rounds 7] [--quick] [--profile]

Saves benchmarks/results/<device>_lstm.json and .png. ``--profile`` prints where ndgrad's time goes.
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
INPUT, HIDDEN, SEQ, BATCH = 64, 128, 35, 32


def _ours(device):
    import numpy as np
    import autograd as ag
    import nn
    from backends import get_backend
    ag.manual_seed(0)
    model = nn.LSTM(INPUT, HIDDEN).to(device)
    x = ag.tensor(np.random.default_rng(0).standard_normal((SEQ, BATCH, INPUT)).astype(np.float32), device=device)
    backend = get_backend(device)

    def step():
        out, (h, c) = model(x)
        out.sum().backward()
    return step, backend.synchronize, backend.device_name()


def _theirs(device):
    import numpy as np
    import torch
    torch.manual_seed(0)
    model = torch.nn.LSTM(INPUT, HIDDEN).to(device)
    x = torch.tensor(np.random.default_rng(0).standard_normal((SEQ, BATCH, INPUT)).astype(np.float32), device=device)

    def step():
        out, (h, c) = model(x)
        out.sum().backward()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    return step, sync, torch.__version__


def worker(which, device, iterations):
    """Seconds per step after a warm-up, printed as JSON (run in a fresh process)."""
    step, sync, info = (_ours if which == "ours" else _theirs)(device)
    for _ in range(max(2, iterations // 4)):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    sync()
    print(json.dumps({"seconds": (time.perf_counter() - start) / iterations, "info": info}))


def _run(which, device, iterations):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-m", "benchmarks.lstm", "--worker", which, "--device", device,
                          "--iterations", str(iterations)], capture_output=True, text=True, cwd=root, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def profile(device):
    import cProfile
    import pstats
    step, sync, _ = _ours(device)
    step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(20):
        step()
    sync()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=7, help="alternated pairs of runs (median reported)")
    parser.add_argument("--iterations", type=int, default=40, help="steps per run")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 steps: a smoke test")
    parser.add_argument("--profile", action="store_true", help="cProfile ndgrad's step instead")
    parser.add_argument("--worker", choices=["ours", "theirs"], help=argparse.SUPPRESS)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.device, args.iterations)
    if args.profile:
        return profile(args.device)
    rounds, iterations = (2, 5) if args.quick else (args.rounds, args.iterations)
    ours, theirs, device_name, torch_version = [], [], "", ""
    for _ in range(rounds):
        a, b = _run("ours", args.device, iterations), _run("theirs", args.device, iterations)
        ours.append(a["seconds"])
        theirs.append(b["seconds"])
        device_name, torch_version = a["info"], b["info"]
    ratio = statistics.median(x / y for x, y in zip(ours, theirs))
    report = {"case": "lstm_step", "shape": dict(input=INPUT, hidden=HIDDEN, seq=SEQ, batch=BATCH),
              "device": args.device, "device_name": device_name, "torch": torch_version,
              "python": platform.python_version(), "rounds": rounds, "iterations": iterations,
              "ndgrad_s": statistics.median(ours), "pytorch_s": statistics.median(theirs), "ratio": ratio,
              "ndgrad_all_s": ours, "pytorch_all_s": theirs, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    print(f"device: {args.device} ({device_name}); PyTorch {torch_version}; {rounds} alternated pairs of "
          f"{iterations} steps, each framework in its own process")
    print(f"lstm_step  ndgrad {report['ndgrad_s'] * 1e3:.2f} ms  pytorch {report['pytorch_s'] * 1e3:.2f} ms  "
          f"ratio {ratio:.2f}")
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"{args.device.replace(':', '_')}_lstm")
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=2)
    _plot(report, stem + ".png")
    print(f"saved {stem}.json and {stem}.png")


def _plot(report, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(["ndgrad", "PyTorch"], [report["ndgrad_s"] * 1e3, report["pytorch_s"] * 1e3],
           color=["tab:orange", "tab:blue"])
    ax.set_ylabel("ms per step (forward + backward)")
    ax.set_title(f"LSTM step, ratio {report['ratio']:.2f} ({report['device']}: {report['device_name']})", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
