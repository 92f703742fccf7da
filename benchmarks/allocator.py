"""The CPU allocator policy (issue 11): what keeping large freed buffers in glibc's heap does to a training step.

    python -m benchmarks.allocator                        # results/cpu_allocator.json and .png (about 3 minutes)
    python -m benchmarks.allocator --rounds 5 --thresholds 8,32,64   # more pairs; also other glibc thresholds

Each configuration runs in a fresh process of its own (``--child``), in alternating pairs, so neither one's heap,
thread pools nor page cache leak into the other's numbers:

- ndgrad "reuse": the default policy (backends/cpu_allocator.py raises glibc's mmap and trim thresholds);
- ndgrad "system": ``NDGRAD_CPU_ALLOCATOR=system``, glibc left alone;
- PyTorch "system" and "tuned" (the same thresholds as "reuse", set through ``MALLOC_MMAP_THRESHOLD_`` and
  ``MALLOC_TRIM_THRESHOLD_``), for reference;
- with ``--thresholds``, ndgrad under other mmap thresholds (MiB; trim threshold 4x), through the same variables.

Per step, after warm-up steps: minor page faults (getrusage's ru_minflt), time (median step), and the process's
peak RSS (VmHWM). Then the memory targets' measurement of benchmarks/memory_bench.py (peak RSS growth over one
step and over its backward), done here without memory_bench's own MALLOC_MMAP_THRESHOLD_=65536, which would make
the policy step aside. Times are of a shared machine: read the per-pair ratios and their spread.
"""

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

from . import pyplot, save_json
from .memory_bench import _status
from .run_case import load_framework

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
CASES = {"mlp_step": (2, 10), "conv_block": (1, 3), "transformer_layer_step": (1, 3)}  # warm-up steps, measured steps
MEMORY_MODELS = ("mlp", "lenet", "lstm")
TUNED = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}  # = the "reuse" values
CLEARED = ("NDGRAD_CPU_ALLOCATOR", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
           "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")


def configurations(thresholds=()):
    """(framework, label, environment changes) for every configuration measured."""
    configs = [("ndgrad", "reuse", {}), ("ndgrad", "system", {"NDGRAD_CPU_ALLOCATOR": "system"}),
               ("torch", "system", {}), ("torch", "tuned", TUNED)]
    for mib in thresholds:
        configs.append(("ndgrad", f"mmap {mib} MiB", {"MALLOC_MMAP_THRESHOLD_": str(mib << 20),
                                                       "MALLOC_TRIM_THRESHOLD_": str(4 * mib << 20)}))
    return configs


# --- in the child process ----------------------------------------------------------------------------------

def _minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure_case(framework, name):
    """Minor faults, seconds per step and peak RSS of ``name``'s step, after its warm-up."""
    from .registry import load_cases
    fw = load_framework(framework, "cpu")
    step = load_cases()[name].build(fw, "cpu")
    warmup, steps = CASES[name]
    for _ in range(warmup):
        step()
    gc.collect()
    faults, times = _minor_faults(), []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    faults = (_minor_faults() - faults) / steps
    # peak RSS: the kernel's high-water mark of this process's memory (ru_maxrss would be no good: a child
    # started by fork and exec inherits its parent's, the driver's with PyTorch imported)
    result = {"faults_per_step": faults, "seconds": statistics.median(times), "step_seconds": times,
              "max_rss": _status("VmHWM")}
    if framework == "ndgrad":
        from backends import cpu_allocator
        result["allocator"] = cpu_allocator.status()
    return result


def measure_memory(framework, model):
    from .memory_bench import measure_step
    return measure_step(framework, model)


def child(kind, arg):
    framework, name = arg.split(":")
    print(json.dumps((measure_case if kind == "case" else measure_memory)(framework, name)))


def spawn(kind, framework, name, env):
    environment = {key: value for key, value in os.environ.items() if key not in CLEARED}
    command = [sys.executable, "-m", "benchmarks.allocator", "--child", kind, f"{framework}:{name}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**environment, **env})
    if done.returncode != 0:
        raise RuntimeError(f"allocator: process failed ({' '.join(command[1:])}, env {env}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the suite ---------------------------------------------------------------------------------------------

def _spread(values):
    return [min(values), max(values)]


def run(rounds, memory_rounds, thresholds=()):
    import numpy as np
    import torch
    from backends import get_backend
    report = {"device": get_backend("cpu").device_name(), "python": platform.python_version(),
              "numpy": np.__version__, "torch": torch.__version__, "glibc": platform.libc_ver()[1],
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rounds": rounds,
              "command": "python -m benchmarks.allocator " + " ".join(sys.argv[1:]), "cases": {}, "memory": {}}
    configs = configurations(thresholds)
    print(f"{report['device']}, glibc {report['glibc']}; {rounds} rounds, configurations alternating in each, "
          "each in a process of its own")
    print(f"{'case':<23} {'framework':<9} {'allocator':<12} {'faults/step':>11} {'ms/step':>9} {'spread':>15} "
          f"{'peak RSS MiB':>12} {'time / system':>14}")
    for name in CASES:
        runs = {(fw, label): [] for fw, label, _ in configs}
        for r in range(rounds):
            order = configs if r % 2 == 0 else configs[::-1]  # alternate which goes first
            for fw, label, env in order:
                runs[fw, label].append(spawn("case", fw, name, env))
        rows = {}
        for (fw, label), results in runs.items():
            seconds = [x["seconds"] for x in results]
            base = runs[fw, "system"]
            ratios = [x["seconds"] / b["seconds"] for x, b in zip(results, base)]  # per round: a pair
            row = {"framework": fw, "allocator": label, "seconds": statistics.median(seconds),
                   "seconds_spread": _spread(seconds), "seconds_all": seconds,
                   "faults_per_step": statistics.median(x["faults_per_step"] for x in results),
                   "max_rss": statistics.median(x["max_rss"] for x in results),
                   "ratio_to_system": statistics.median(ratios), "ratio_spread": _spread(ratios)}
            if fw == "ndgrad":
                row["allocator_status"] = results[0]["allocator"]
            rows[f"{fw}/{label}"] = row
            print(f"{name:<23} {fw:<9} {label:<12} {row['faults_per_step']:>11.0f} {row['seconds'] * 1e3:>9.1f} "
                  f"{'%.1f-%.1f' % tuple(s * 1e3 for s in row['seconds_spread']):>15} {row['max_rss'] / 2 ** 20:>12.0f} "
                  f"{row['ratio_to_system']:>8.2f} ({row['ratio_spread'][0]:.2f}-{row['ratio_spread'][1]:.2f})")
        report["cases"][name] = rows

    print(f"\npeak RSS growth (MiB) over one step and over its backward (benchmarks/memory_bench.py's measurement, "
          f"median of {memory_rounds}; backward ratio ndgrad / PyTorch 'system', target <= 0.8)")
    print(f"{'model':<7} {'allocator':<10} {'ndgrad step':>11} {'backward':>9} {'ratio':>6}")
    torch_memory = {m: [spawn("memory", "torch", m, {}) for _ in range(memory_rounds)] for m in MEMORY_MODELS}
    for model in MEMORY_MODELS:
        theirs = statistics.median(x["rss_backward_peak_growth"] for x in torch_memory[model])
        report["memory"][model] = {"pytorch_backward": theirs,
                                   "pytorch_step": statistics.median(x["rss_peak_growth"] for x in torch_memory[model])}
        for label, env in (("reuse", {}), ("system", {"NDGRAD_CPU_ALLOCATOR": "system"})):
            ours = [spawn("memory", "ndgrad", model, env) for _ in range(memory_rounds)]
            step = statistics.median(x["rss_peak_growth"] for x in ours)
            backward = statistics.median(x["rss_backward_peak_growth"] for x in ours)
            report["memory"][model][label] = {"step": step, "backward": backward, "ratio": backward / theirs}
            print(f"{model:<7} {label:<10} {step / 2 ** 20:>11.2f} {backward / 2 ** 20:>9.2f} {backward / theirs:>6.2f}")
        print(f"{model:<7} {'(PyTorch)':<10} {report['memory'][model]['pytorch_step'] / 2 ** 20:>11.2f} "
              f"{theirs / 2 ** 20:>9.2f}")
    return report


def plot(report, path):
    plt = pyplot()
    if plt is None:
        return
    import numpy as np
    names = list(report["cases"])
    labels = list(report["cases"][names[0]])
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    xs, width = np.arange(len(names)), 0.8 / len(labels)
    for i, label in enumerate(labels):
        offset = (i - (len(labels) - 1) / 2) * width
        for ax, key, scale in zip(axes, ("faults_per_step", "ratio_to_system", "max_rss"), (1, 1, 2 ** -20)):
            ax.bar(xs + offset, [report["cases"][n][label][key] * scale for n in names], width, label=label)
    for ax, title in zip(axes, ("minor page faults per step", "time per step / same framework's 'system'",
                                "peak RSS (MiB)")):
        ax.set_xticks(xs, [n.replace("_step", "") for n in names], fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[1].axhline(1.0, color="gray", lw=0.8)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"CPU allocator policy, {report['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of every configuration")
    parser.add_argument("--memory-rounds", type=int, default=1, help="processes per memory measurement (median)")
    parser.add_argument("--thresholds", default="", help="also ndgrad under these glibc mmap thresholds (MiB, commas)")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)
    thresholds = [int(t) for t in args.thresholds.split(",") if t]
    report = run(args.rounds, args.memory_rounds, thresholds)
    report["load_average"] = os.getloadavg()
    stem = save_json(report, args.out, "cpu_allocator")
    plot(report, stem + ".png")
    print(f"saved {stem}.json and {stem}.png")


if __name__ == "__main__":
    main()
