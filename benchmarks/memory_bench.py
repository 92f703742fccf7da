"""Memory (issue 11, part 3): how much memory a training step takes in ndgrad and in PyTorch, what
early release saves, how backward scales with graph size, and whether a long run stays flat.

    python -m benchmarks.memory_bench           # everything; results/cpu_memory.json and .png
    python -m benchmarks.memory_bench --quick   # fewer long-run steps and no 100k chain: a smoke test

Every measurement runs in a fresh process of its own (``--child NAME``), one framework per process,
so one run's allocator pools and one library's buffers never count in another's numbers:

- ``step``: the peak RSS growth over one training step after a warm-up step (the kernel's high-water
  mark VmHWM, reset through /proc/self/clear_refs just before the step, minus VmRSS before it), for
  the MLP 784-512-512-10 at batch 256, the LeNet (benchmarks/conv.py) and the LSTM
  (benchmarks/sequence.py), the same builders the timing cases use; for ndgrad also the tracemalloc
  peak over the step (NumPy reports its arrays to tracemalloc), in a second step.
- ``release``: a 20-layer MLP's backward with early release on and off
  (autograd.engine.set_early_release), tracemalloc peaks.
- ``chain``: backward of 1k, 10k and 100k-node chains: time per node and peak memory per node.
- ``longrun``: 10,000 steps of a small MLP, tracemalloc and RSS sampled every 1000 steps, and the
  objects the cycle collector finds each sample (gc.DEBUG_SAVEALL keeps them countable).

Times here are of a shared, loaded machine and noisy; the memory numbers are what count.
"""

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc

import numpy as np

from . import pyplot, save_json
from .run_case import load_framework

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
# glibc's malloc, the same for both frameworks: every block of 64 KiB or more gets pages of its own, handed back
# to the kernel when freed. Left to itself the threshold grows with the blocks freed, and freed arrays stay in
# the heap, so a step after the warm-up would reuse them and the RSS would hardly move, in either framework.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}
TARGET = 0.8  # ndgrad's peak step memory / PyTorch's, at most


# --- reading the kernel's memory counters --------------------------------------------------------------

def _status(field):
    """VmRSS or VmHWM of this process, in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"memory_bench: no {field} in /proc/self/status; this runner needs Linux")


def _reset_high_water_mark():
    """Make VmHWM start again from the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _give_back_free_memory():
    """Hand the C heap's free pages back to the kernel (glibc's malloc_trim), so that the RSS before a step
    is what is alive, not what earlier steps freed and the allocator kept."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the RSS then includes the allocator's free lists
        pass


def rss_growth(fn):
    """Peak RSS growth while ``fn()`` runs, in bytes, over the RSS before it."""
    gc.collect()
    _give_back_free_memory()
    before = _status("VmRSS")
    _reset_high_water_mark()
    fn()
    return _status("VmHWM") - before


def traced_growth(fn):
    """Peak tracemalloc growth while ``fn()`` runs, in bytes, over what was traced before it."""
    gc.collect()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        if started:
            tracemalloc.stop()


# --- the models ----------------------------------------------------------------------------------------

def _models():
    from .conv import lenet_step
    from .core import mlp_step
    from .sequence import _lstm
    return {"mlp": (mlp_step, "MLP 784-512-512-10, batch 256, SGD momentum"),
            "lenet": (lenet_step, "LeNet-5, 1x28x28, batch 64, SGD momentum"),
            "lstm": (_lstm, "LSTM 64->128, 35 steps, batch 32, forward + backward")}


class BackwardMeter:
    """Measures every ``Tensor.backward`` call of a framework while installed: the peak growth over the call."""

    def __init__(self, tensor_class, growth):
        self.tensor_class, self.growth, self.peaks = tensor_class, growth, []
        self.original = tensor_class.backward

    def __enter__(self):
        meter, original = self, self.original

        def backward(tensor, *args, **kwargs):
            meter.peaks.append(meter.growth(lambda: original(tensor, *args, **kwargs)))
        self.tensor_class.backward = backward
        return self

    def __exit__(self, *exc):
        self.tensor_class.backward = self.original


def measure_step(framework, model):
    """One model's step in one framework, after a warm-up step: peak RSS growth over the step and over its
    backward alone (and tracemalloc's, for ndgrad)."""
    fw = load_framework(framework, "cpu")
    step = _models()[model][0](fw, "cpu")
    step()  # warm-up: parameters' .grad, optimizer state, allocator pools, thread pools
    result = {"rss_peak_growth": rss_growth(step)}
    with BackwardMeter(fw.ag.Tensor, rss_growth) as meter:
        step()
    result["rss_backward_peak_growth"] = meter.peaks[0]
    if framework == "ndgrad":
        tracemalloc.start()  # from before the forward: what backward frees of it must count
        try:
            result["traced_peak_growth"] = traced_growth(step)
            with BackwardMeter(fw.ag.Tensor, traced_growth) as meter:
                step()
            result["traced_backward_peak_growth"] = meter.peaks[0]
        finally:
            tracemalloc.stop()
    return result


def deep_mlp(ag, nn, layers=20, width=256, batch=128):
    """A ``layers``-deep MLP (Linear + tanh) and a function running its loss forward; ndgrad only."""
    ag.manual_seed(0)
    blocks = []
    for _ in range(layers):
        blocks += [nn.Linear(width, width), nn.Tanh()]
    model = nn.Sequential(*blocks)
    x = ag.tensor(np.random.default_rng(0).standard_normal((batch, width)).astype(np.float32))
    return model, lambda: model(x).square().mean()


def release_peaks(layers=20):
    """The tracemalloc peak of a ``layers``-deep MLP's backward, with early release on and off."""
    import autograd as ag
    import nn
    from autograd import engine
    model, loss_of = deep_mlp(ag, nn, layers)
    peaks = {}
    for release in (True, False, True):  # on twice: the first warms up and is overwritten
        engine.set_early_release(release)
        try:
            model.zero_grad()
            loss = loss_of()
            peaks[release] = traced_growth(loss.backward)
            del loss
        finally:
            engine.set_early_release(True)
    return {"released": peaks[True], "kept": peaks[False], "ratio": peaks[False] / peaks[True]}


def chain(ag, nodes, size=16):
    """A leaf and a ``nodes``-op chain of multiplications on it (each op one graph node)."""
    x = ag.ones(size, dtype=ag.float32, requires_grad=True)
    h = x
    for _ in range(nodes):
        h = h * 1.0
    return x, h.sum()


def chain_costs(nodes):
    """Building, backward and freeing a ``nodes``-node chain: seconds per node (timed without tracemalloc, which
    slows allocations down) and bytes per node (the first chain, traced)."""
    import autograd as ag
    _, warm = chain(ag, 10)  # the first backward's one-off allocations (caches, lazy imports) are not per node
    warm.backward()
    del warm
    gc.collect()
    gc.disable()  # nothing here may need the cycle collector, and its passes would blur the times
    try:
        tracemalloc.start()  # first, so that no earlier chain's objects wait in Python's free lists
        x, loss = chain(ag, nodes)
        graph = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1]
        del loss
        left = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()

        start = time.perf_counter()
        x, loss = chain(ag, nodes)
        build = time.perf_counter() - start
        start = time.perf_counter()
        loss.backward()
        backward = time.perf_counter() - start
        start = time.perf_counter()
        del loss
        free = time.perf_counter() - start
    finally:
        gc.enable()
    return {"nodes": nodes, "build_s_per_node": build / nodes, "backward_s_per_node": backward / nodes,
            "free_s_per_node": free / nodes, "graph_bytes_per_node": graph / nodes,
            "backward_peak_bytes_per_node": peak / nodes, "bytes_left_after_free": left}


def small_mlp_step(ag, nn, F, optim, batch=32):
    """One training step of a 64-128-10 MLP with Adam: the long run's unit of work."""
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = ag.tensor(rng.standard_normal((batch, 64)).astype(np.float32))
    y = ag.tensor(rng.integers(0, 10, batch))

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def cyclic_garbage(step, steps):
    """How many objects ``steps`` calls of ``step`` leave for the cycle collector (0: reference counting
    frees everything). Leaves the collector as it found it."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(steps):
            step()
        gc.collect()
        return len(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


def long_run(steps=10_000, every=1000):
    import autograd as ag
    import nn
    import nn.functional as F
    import optim
    step = small_mlp_step(ag, nn, F, optim)
    for _ in range(10):
        step()
    tracemalloc.start()
    samples, start = [], time.perf_counter()
    for i in range(0, steps, every):
        garbage = cyclic_garbage(step, every)
        samples.append({"step": i + every, "traced": tracemalloc.get_traced_memory()[0], "rss": _status("VmRSS"),
                        "cyclic_garbage": garbage})
    tracemalloc.stop()
    return {"steps": steps, "seconds": time.perf_counter() - start, "samples": samples}


CHILDREN = {
    "release": lambda arg: release_peaks(),
    "chain": lambda arg: chain_costs(int(arg)),
    "longrun": lambda arg: long_run(int(arg)),
    "step": lambda arg: measure_step(*arg.split(":")),
}


def child(name, arg):
    sys.setrecursionlimit(1000)  # the default: a deep graph must not need more
    if name != "step" or arg.startswith("ndgrad"):
        import autograd  # noqa: F401  (ndgrad's own cases: import it before anything is measured)
    print(json.dumps(CHILDREN[name](arg)))


def spawn(name, arg=""):
    command = [sys.executable, "-m", "benchmarks.memory_bench", "--child", name, arg]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **MALLOC_ENV})
    if done.returncode != 0:
        raise RuntimeError(f"memory_bench: process failed ({' '.join(command[1:])}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the suite -----------------------------------------------------------------------------------------

def mib(n):
    return f"{n / 2 ** 20:8.2f} MiB"


def run(quick=False, rounds=3):
    report = {"python": platform.python_version(), "numpy": np.__version__, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": "python -m benchmarks.memory_bench" + (" --quick" if quick else ""), "target_ratio": TARGET}
    import torch
    report["torch"], report["torch_threads"] = torch.__version__, torch.get_num_threads()

    print(f"peak RSS growth (MiB) over one training step after a warm-up step, and over its backward alone, each "
          f"framework in fresh processes (median of {rounds}); ndgrad's tracemalloc peaks beside; target: backward "
          f"ndgrad/PyTorch <= {TARGET}")
    print(f"{'model':<7} {'step: ndgrad':>12} {'traced':>8} {'PyTorch':>8} {'ratio':>6}   "
          f"{'backward: ndgrad':>16} {'traced':>8} {'PyTorch':>8} {'ratio':>6}")
    steps = {}
    for model, (_, description) in _models().items():
        ours = [spawn("step", f"ndgrad:{model}") for _ in range(rounds)]
        theirs = [spawn("step", f"torch:{model}") for _ in range(rounds)]
        row = {"description": description}
        for part, key in (("step", "peak_growth"), ("backward", "backward_peak_growth")):
            rss = float(np.median([r["rss_" + key] for r in ours]))
            torch_rss = float(np.median([r["rss_" + key] for r in theirs]))
            row[part] = {"ndgrad_rss": rss, "ndgrad_traced": float(np.median([r["traced_" + key] for r in ours])),
                         "pytorch_rss": torch_rss, "ratio": rss / torch_rss,
                         "ndgrad_rss_all": [r["rss_" + key] for r in ours],
                         "pytorch_rss_all": [r["rss_" + key] for r in theirs]}
        steps[model] = row
        a, b = row["step"], row["backward"]
        print(f"{model:<7} {a['ndgrad_rss'] / 2 ** 20:>12.2f} {a['ndgrad_traced'] / 2 ** 20:>8.2f} "
              f"{a['pytorch_rss'] / 2 ** 20:>8.2f} {a['ratio']:>6.2f}   {b['ndgrad_rss'] / 2 ** 20:>16.2f} "
              f"{b['ndgrad_traced'] / 2 ** 20:>8.2f} {b['pytorch_rss'] / 2 ** 20:>8.2f} {b['ratio']:>6.2f}"
              f"{'' if b['ratio'] <= TARGET else '  (target missed)'}")
    report["step"] = steps

    release = spawn("release")
    report["early_release"] = release
    print(f"\n20-layer MLP backward, tracemalloc peak: early release on {mib(release['released'])}, "
          f"off {mib(release['kept'])} ({release['ratio']:.2f}x; target >= 1.30x)")

    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    report["chain"] = [spawn("chain", str(n)) for n in sizes]
    print("\nchains of multiplications (times are of a loaded machine: noisy):")
    print(f"{'nodes':>8} {'build/node':>11} {'backward/node':>14} {'free/node':>10} {'graph B/node':>13} "
          f"{'bwd peak B/node':>16}")
    for c in report["chain"]:
        print(f"{c['nodes']:>8} {c['build_s_per_node'] * 1e6:>9.2f}us {c['backward_s_per_node'] * 1e6:>12.2f}us "
              f"{c['free_s_per_node'] * 1e6:>8.2f}us {c['graph_bytes_per_node']:>13.0f} "
              f"{c['backward_peak_bytes_per_node']:>16.0f}")
    per_node = [c["backward_s_per_node"] for c in report["chain"]]
    report["chain_time_spread"] = max(per_node) / min(per_node)
    print(f"backward time per node, largest / smallest: {report['chain_time_spread']:.2f} (target <= 1.5)")

    steps_long = 2_000 if quick else 10_000
    report["long_run"] = long = spawn("longrun", str(steps_long))
    print(f"\n{steps_long} steps of a 64-128-10 MLP with Adam ({long['seconds']:.1f} s), sampled every 1000:")
    for s in long["samples"]:
        print(f"  step {s['step']:>6}: traced {mib(s['traced'])}, RSS {mib(s['rss'])}, "
              f"objects left to the cycle collector {s['cyclic_garbage']}")
    return report


def plot(report, path):
    plt = pyplot()
    if plt is None:
        return
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 3.4))
    models = list(report["step"])
    xs = np.arange(len(models))
    for offset, part, framework, label in ((-0.3, "step", "ndgrad", "ndgrad step"), (-0.1, "step", "pytorch", "PyTorch step"),
                                           (0.1, "backward", "ndgrad", "ndgrad backward"),
                                           (0.3, "backward", "pytorch", "PyTorch backward")):
        a.bar(xs + offset, [report["step"][m][part][framework + "_rss"] / 2 ** 20 for m in models], 0.2, label=label)
    for x, m in zip(xs, models):
        row = report["step"][m]["backward"]
        a.text(x + 0.2, max(row["ndgrad_rss"], row["pytorch_rss"]) / 2 ** 20, f"{row['ratio']:.2f}x", ha="center",
               va="bottom", fontsize=8)
    a.set_xticks(xs, models)
    a.set_ylabel("peak RSS growth (MiB)")
    a.set_title("one training step / its backward (ratio: backward)", fontsize=9)
    a.legend(fontsize=7)
    nodes = [ch["nodes"] for ch in report["chain"]]
    b.semilogx(nodes, [ch["backward_s_per_node"] * 1e6 for ch in report["chain"]], "o-", label="backward us/node")
    b.semilogx(nodes, [ch["backward_peak_bytes_per_node"] / 100 for ch in report["chain"]], "s--",
               label="backward peak (100 B)/node")
    b.set_ylim(bottom=0)
    b.set_xlabel("nodes in the chain")
    b.set_title("backward of a chain", fontsize=9)
    b.legend(fontsize=8)
    samples = report["long_run"]["samples"]
    c.plot([s["step"] for s in samples], [s["traced"] / 2 ** 20 for s in samples], "o-", label="traced")
    c.plot([s["step"] for s in samples], [s["rss"] / 2 ** 20 for s in samples], "s-", label="RSS")
    c.set_ylim(bottom=0)
    c.set_xlabel("training step")
    c.set_ylabel("MiB")
    c.set_title("small MLP, long run", fontsize=9)
    c.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: 1 round, no 100k chain, 2000 steps")
    parser.add_argument("--rounds", type=int, default=3, help="processes per framework and model (median)")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--child", nargs=2, metavar=("NAME", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)
    report = run(args.quick, 1 if args.quick else args.rounds)
    report["load_average"] = os.getloadavg()
    stem = save_json(report, args.out, "cpu_memory")
    plot(report, stem + ".png")
    print(f"saved {stem}.json and {stem}.png")


if __name__ == "__main__":
    main()
