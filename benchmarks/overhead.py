"""Where the per-op time goes on the hot path, in microseconds, against the budget (issue 11):

    python -m benchmarks.overhead          # ndgrad and PyTorch, each in a process of its own

Rows: the array library's own call (the floor), an op without grad (one wrapper + the kernel), an op that
records a node, and one engine step of backward per node (a 1000-op chain). Each is the best of several
repeats of many calls: the fastest run is the one least disturbed by the rest of the machine.
"""

import argparse
import json
import subprocess
import sys
import timeit

import numpy as np

BUDGET_US = {"op with grad, on top of the no-grad op": 5.0}


def measure(framework):
    if framework == "torch":
        import torch as lib
    else:
        import autograd as lib
    a = np.arange(4.0, dtype=np.float32)
    x, y = lib.tensor(a), lib.tensor(a + 1)
    xg, yg = lib.tensor(a, requires_grad=True), lib.tensor(a + 1, requires_grad=True)

    def best(fn, number=20000):
        return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6

    rows = {"array library add (floor)": best(lambda: np.add(a, a)) if framework != "torch" else None,
            "add, no grad": best(lambda: x + y),
            "add, recording a node": best(lambda: xg + yg)}

    def chain():
        z = xg
        for _ in range(1000):
            z = z + yg
        return z.sum()

    build = min(timeit.repeat(chain, number=5, repeat=5)) / 5
    both = min(timeit.repeat(lambda: chain().backward(), number=5, repeat=5)) / 5
    rows["backward, per node"] = (both - build) / 1001 * 1e6
    return {k: v for k, v in rows.items() if v is not None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=["ndgrad", "torch"])
    args = parser.parse_args()
    if args.framework:
        print(json.dumps(measure(args.framework)))
        return
    results = {}
    for framework in ("ndgrad", "torch"):
        done = subprocess.run([sys.executable, "-m", "benchmarks.overhead", "--framework", framework],
                              capture_output=True, text=True, check=True)
        results[framework] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{'':<32} {'ndgrad us':>10} {'torch us':>10}")
    for row, ours in results["ndgrad"].items():
        theirs = results["torch"].get(row)
        print(f"{row:<32} {ours:>10.2f} {'' if theirs is None else f'{theirs:>10.2f}'}")
    extra = results["ndgrad"]["add, recording a node"] - results["ndgrad"]["add, no grad"]
    print(f"recording a node costs {extra:.2f} us on top of the no-grad op "
          f"(budget {BUDGET_US['op with grad, on top of the no-grad op']:.0f} us)")


if __name__ == "__main__":
    main()
