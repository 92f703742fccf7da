"""Time ndgrad and PyTorch on the same work, each framework in fresh processes of its own, and report
medians and ratios.

    python -m benchmarks --device cpu              # every case meant for the device; or --device cuda
    python -m benchmarks --device cpu --only conv  # one group of cases
    python -m benchmarks --cases overhead --quick  # named cases; --quick: 2 rounds of short blocks, a smoke test

Every case runs for R rounds; a round is a pair of processes, one per framework (python -m
benchmarks.run_case), the one that goes first alternating round by round. Measured in one
process, either library's BLAS/OpenMP worker threads, spinning after their last job, slow the
other one down, and which one suffers depends on the order. The ratio reported is the median
over pairs of ndgrad's time / PyTorch's (the two of a pair ran seconds apart, so drift in the
machine's speed hits both alike), beside each framework's median time per step.

The cases live in benchmarks/core.py, conv.py and sequence.py (see benchmarks/registry.py to add
one; a case's ``devices`` say where it runs by default: the wide MLP is a GPU case). The GPU check
(python -m benchmarks.gpu_check) times the GPU cases with this harness. Results go to benchmarks/results/<device>.json and a bar plot <device>.png; with --only
GROUP to <device>_GROUP.json and .png beside them, leaving the full run's results alone.
"""

import argparse
import importlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from backends import Device

from . import pyplot, save_json
from .registry import load_cases

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
OWN_RUNNERS = {"distributed": "benchmarks.distributed", "memory": "benchmarks.memory_bench"}


def run_process(framework, case, device, iterations=None, blocks=3, breakdown=False):
    """One fresh Python process running benchmarks.run_case; its JSON result."""
    command = [sys.executable, "-m", "benchmarks.run_case", "--framework", framework, "--case", case,
               "--device", device, "--blocks", str(blocks)]
    if iterations is not None:
        command += ["--iterations", str(iterations)]
    if breakdown:
        command.append("--breakdown")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark process failed ({' '.join(command[1:])}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_pairs(case, device, rounds, iterations, blocks):
    """``rounds`` pairs of processes, ndgrad first in even rounds and PyTorch first in odd ones."""
    runs = {"ndgrad": [], "torch": []}
    for r in range(rounds):
        for framework in (("ndgrad", "torch") if r % 2 == 0 else ("torch", "ndgrad")):
            runs[framework].append(run_process(framework, case.name, device, iterations, blocks))
    return runs["ndgrad"], runs["torch"]


def main(argv=None):
    cases = load_cases()
    groups = sorted({c.group for c in cases.values()})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--rounds", type=int, default=10, help="process pairs per case (medians are reported)")
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks per process (its median counts)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1 short block: a smoke test")
    parser.add_argument("--cases", nargs="*", default=None, choices=list(cases),
                        help="default: every case meant for the device's type (the wide MLP is a GPU case); named cases "
                             "replace their rows in the saved results")
    parser.add_argument("--only", "--suite", dest="only", choices=groups + sorted(OWN_RUNNERS),
                        help="run one group (suite) of cases, saved to <device>_GROUP.json; 'distributed' and 'memory' "
                             "have runners of their own (python -m benchmarks.distributed, benchmarks.memory_bench)")
    parser.add_argument("--out", default=RESULTS, help="folder for the JSON and the plot")
    args = parser.parse_args(argv)
    if args.only in OWN_RUNNERS:  # suites that are not one process per step: their own runner, same results folder
        return importlib.import_module(OWN_RUNNERS[args.only]).main(["--out", args.out])
    if importlib.util.find_spec("torch") is None:
        sys.exit("benchmarks: PyTorch is needed for the comparison: pip install 'ndgrad[bench]' "
                 "(CPU build: pip install torch==2.13.0)")
    if args.cases is None:
        selected = [c for c in cases.values() if c.runs_on(args.device) and args.only in (None, c.group)]
    else:  # named cases (with --only, of that group): their rows replace the same rows in the saved results
        selected = [cases[n] for n in args.cases if args.only in (None, cases[n].group)]
    rounds, blocks = (2, 1) if args.quick else (args.rounds, args.blocks)

    print(f"device: {args.device}; {rounds} rounds of one ndgrad and one PyTorch process per case, "
          f"{blocks} timed block(s) each; times are medians per step")
    print(f"{'case':<22} {'ndgrad':>12} {'pytorch':>12} {'ratio':>7} {'spread':>13}   (ratio: median over process "
          f"pairs of ndgrad/pytorch; spread: their min-max)")
    results, about = [], {}
    for case in selected:
        iterations = max(1, case.iterations // 10) if args.quick else case.iterations
        ours, theirs = run_pairs(case, args.device, rounds, iterations, blocks)
        about = {"device_name": ours[0]["device_name"], "numpy": ours[0]["numpy"], "torch": theirs[0]["version"],
                 "torch_threads": theirs[0]["threads"]}
        a, b = [r["seconds"] for r in ours], [r["seconds"] for r in theirs]
        result = {"case": case.name, "group": case.group, "description": case.description,
                  "ndgrad_s": statistics.median(a), "pytorch_s": statistics.median(b),
                  "ratio": statistics.median(x / y for x, y in zip(a, b)),
                  "ratio_spread": [min(x / y for x, y in zip(a, b)), max(x / y for x, y in zip(a, b))],
                  "ndgrad_all_s": a, "pytorch_all_s": b, "iterations_per_block": iterations}
        if case.breakdown is not None and not args.quick:
            result["ndgrad_pieces_s"] = run_process("ndgrad", case.name, args.device, breakdown=True)["pieces_s"]
        results.append(result)
        low, high = result["ratio_spread"]
        print(f"{case.name:<22} {fmt(result['ndgrad_s']):>12} {fmt(result['pytorch_s']):>12} {result['ratio']:>7.2f} "
              f"{low:>6.2f}-{high:<6.2f}")
        for piece, seconds in result.get("ndgrad_pieces_s", {}).items():
            print(f"    {piece:<55} {fmt(seconds):>10}")

    device = str(Device(args.device))
    report = {"device": device, **about, "python": platform.python_version(), "rounds": rounds,
              "blocks_per_process": blocks, "load_average": os.getloadavg(),
              "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": results}
    print(f"device name: {report.get('device_name')}; load average after the run: "
          f"{' '.join(f'{x:.2f}' for x in report['load_average'])}")
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, device.replace(":", "_") + (f"_{args.only}" if args.only else ""))
    if args.cases is not None and os.path.exists(stem + ".json"):  # a partial re-run: keep the other rows
        with open(stem + ".json") as f:
            earlier = json.load(f)["results"]
        fresh = {r["case"]: r for r in results}
        report["results"] = [fresh.pop(r["case"], r) for r in earlier] + list(fresh.values())
    save_json(report, args.out, os.path.basename(stem))
    plot(report, stem + ".png")
    print(f"saved {stem}.json and {stem}.png")
    if os.path.abspath(args.out) == os.path.abspath(RESULTS):  # the committed results: the README shows them
        from .readme_table import update
        update()


def fmt(seconds):
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def plot(report, path):
    plt = pyplot()
    if plt is None:
        return
    names = [r["case"] for r in report["results"]]
    ratios = [r["ratio"] for r in report["results"]]
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.5, 3))
    ax.bar(names, ratios, color=["tab:green" if r <= 1 else "tab:orange" for r in ratios])
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    for i, r in enumerate(ratios):
        ax.text(i, r, f"{r:.2f}", ha="center", va="bottom")
    ax.set_ylabel("ndgrad time / PyTorch time")
    ax.set_title(f"{report['device']}: {report.get('device_name')}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
