"""Data-parallel scaling on this machine: the DDP step of benchmarks/ddp_step.py on 1 and 2 ranks.

    python -m benchmarks.distributed [--ranks 1 2] [--bucket-cap-mb 25]    (or python -m benchmarks --suite distributed)

Prints samples/s per rank count (the scaling), and on 2+ ranks the all-reduce's time, how much of it the step
still exposes and the share hidden behind backward; saves benchmarks/results/cpu_distributed.json and .png.
Each rank runs with one BLAS thread (autograd.distributed.launch.LOCAL_ENV): on a machine with fewer cores than
ranks x threads, the ranks only take turns.
"""

import argparse
import json
import os
import platform
import time

from autograd.distributed import launch

from . import pyplot, save_json
from .__main__ import RESULTS, ROOT


def run(ranks, cap, timeout=600):
    done = launch.local(ranks, ["-m", "benchmarks.ddp_step", cap], ROOT, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.distributed: {ranks} ranks failed:\n{done.stdout}{done.stderr}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--bucket-cap-mb", type=float, default=25)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    rows = [run(n, args.bucket_cap_mb) for n in args.ranks]
    base = rows[0]["samples_per_s"]
    print(f"{'ranks':>5} {'samples/s':>10} {'scaling':>8} {'step':>9} {'no_sync':>9} {'all-reduce':>11} {'hidden':>7}")
    for r in rows:
        hidden = "-" if r["hidden_share"] is None else f"{r['hidden_share']:.0%}"
        print(f"{r['ranks']:>5} {r['samples_per_s']:>10.0f} {r['samples_per_s'] / base:>7.2f}x "
              f"{r['step_s'] * 1e3:>7.1f}ms {r['no_sync_step_s'] * 1e3:>7.1f}ms {r['all_reduce_s'] * 1e3:>9.1f}ms "
              f"{hidden:>7}")
    report = {"device": "cpu", "cpus": os.cpu_count(), "python": platform.python_version(),
              "load_average": os.getloadavg(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": "python -m benchmarks.distributed", "results": rows}
    stem = save_json(report, args.out, "cpu_distributed")
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar([str(r["ranks"]) for r in rows], [r["samples_per_s"] for r in rows])
        ax.set_xlabel("ranks (processes)")
        ax.set_ylabel("samples / s")
        ax.set_title(f"DDP step, {os.cpu_count()} CPUs", fontsize=9)
        fig.tight_layout()
        fig.savefig(stem + ".png", dpi=100)
        plt.close(fig)
    print(f"saved {stem}.json and .png")


if __name__ == "__main__":
    main()
