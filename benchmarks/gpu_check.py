"""The first hour on a GPU: one command that checks ndgrad's CUDA path end to end and writes one report.

    python -m benchmarks.gpu_check              # on a GPU machine: tests, examples, benchmarks against PyTorch
    python -m benchmarks.gpu_check --dry-run    # every GPU case (ndgrad side only) and the examples for a step or
                                                # two on whatever CUDA backend ndgrad sees: the CuPy stand-in here

On a machine with an NVIDIA GPU that both ndgrad (CuPy) and PyTorch see, it
1. runs the cuda-marked tests (python -m pytest -m cuda -q) and keeps their counts;
2. trains the examples with --device cuda for a few hundred steps (train.py's MLP and CNN on the digits,
   language_model.py's LSTM), keeping their losses and times;
3. times the GPU cases (GPU_CASES: the wide MLP, LeNet, the conv block, the LSTM and the Transformer layer)
   against PyTorch on the same GPU, each framework in processes of its own, in alternating pairs (the
   harness of python -m benchmarks);
4. writes benchmarks/results/gpu_check.json (everything, with versions and every process's time),
   gpu_check.md (a table of ratios against the targets of issue 9, each met or missed) and gpu_check.png.

Without a GPU it writes the same three files saying "not run on a GPU", with the date and the reason, and
exits 0. A dry run proves the cases, the examples and the report writer work; its timings are not
comparable (on the stand-in, NumPy computes the numbers), so it writes to a temporary folder by default.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

from . import pyplot, save_json
from .__main__ import ROOT, RESULTS, fmt, run_pairs, run_process
from .registry import load_cases
from .run_case import STANDIN_ENV

NOT_RUN = "not run on a GPU"
# issue 9's GPU targets, as the largest ndgrad/PyTorch-eager time ratio that meets them
TARGETS = {"wide MLP": 1.0, "small nets": 1.3}
GPU_CASES = {"mlp_wide": "wide MLP", "lenet_step": "small nets", "conv_block": "small nets",
             "lstm_step": "small nets", "transformer_layer_step": "small nets"}
# (name, script, arguments for a GPU run, arguments for a dry run); digits: 23 steps per epoch at batch 64,
# the default corpus: 132 steps per epoch
EXAMPLES = [
    ("train_mlp", "train.py", ["--model", "mlp", "--epochs", "10"], ["--model", "mlp", "--epochs", "1"]),
    ("train_cnn", "train.py", ["--model", "cnn", "--epochs", "10"], ["--model", "cnn", "--epochs", "1"]),
    ("language_model_lstm", "language_model.py", ["--model", "lstm", "--epochs", "2"],
     ["--model", "lstm", "--epochs", "1", "--max-chars", "20000"]),
]
TEST_COMMAND = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider"]


# --- is there a GPU? what runs there? --------------------------------------------------------------------------

def gpu_status(device="cuda"):
    """(True, None) when ndgrad and PyTorch both see a real GPU for ``device``; else (False, why not)."""
    import autograd as ag
    reasons = []
    if os.environ.get(STANDIN_ENV) == "1":
        reasons.append(f"{STANDIN_ENV}=1: ndgrad's CUDA device is the CuPy stand-in (NumPy), not a GPU")
    elif not ag.cuda.is_available():
        try:
            ag.cuda.get_device_name(device)
            reasons.append("autograd.cuda.is_available() is False")
        except RuntimeError as e:  # says what is missing: CuPy, a driver, a GPU, NVRTC or cuRAND
            reasons.append(f"autograd.cuda.is_available() is False ({e})")
    try:
        import torch
        if not torch.cuda.is_available():
            reasons.append(f"torch.cuda.is_available() is False (PyTorch {torch.__version__}, built for CUDA "
                           f"{torch.version.cuda})")
    except ImportError:
        reasons.append("PyTorch is not installed (pip install 'ndgrad[bench]'), so there is nothing to compare with")
    return not reasons, "; ".join(reasons) or None


def versions():
    """Versions of everything a GPU timing depends on; None where a piece is missing (the error beside it)."""
    import numpy

    import autograd
    found = {"ndgrad": autograd.__version__, "python": platform.python_version(), "numpy": numpy.__version__,
             "torch": None, "torch_cuda": None, "cupy": None, "cuda_driver": None, "cuda_runtime": None}
    try:
        import torch
        found.update(torch=torch.__version__, torch_cuda=torch.version.cuda)
    except ImportError:
        pass
    try:
        import cupy
        found["cupy"] = cupy.__version__
        for key, ask in (("cuda_driver", "driverGetVersion"), ("cuda_runtime", "runtimeGetVersion")):
            try:
                number = getattr(cupy.cuda.runtime, ask)()  # 12040 is CUDA 12.4; a driver of 0: none installed
                found[key] = f"{number // 1000}.{number % 1000 // 10}" if number else None
            except Exception as e:  # no driver, or the stand-in
                found[key + "_error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
    except Exception as e:
        found["cupy_error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
    return found


def device_name(cases):
    """The GPU's name as the benchmark processes saw it (asked here, a CUDA context would sit on the GPU all run)."""
    for entry in cases:
        for about in entry["processes"].values():
            if about and about.get("device_name"):
                return about["device_name"]
    return None


# --- 1. the cuda-marked tests ----------------------------------------------------------------------------------

def count_tests(output):
    """pytest's closing counts ("3 passed, 1 skipped, 2 deselected in 4.2s") as {"passed": 3, ...}."""
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0, "deselected": 0, "xfailed": 0, "xpassed": 0}
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error|skipped|deselected)", line)]
    for number, kind in re.findall(r"(\d+) (\w+)", lines[-1] if lines else ""):
        kind = "errors" if kind.startswith("error") else kind
        if kind in counts:
            counts[kind] = int(number)
    return counts


def run_tests(timeout=3600):
    start = time.perf_counter()
    try:
        done = subprocess.run(TEST_COMMAND, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return tests_not_run(f"still running after {timeout} s")
    tail = done.stdout.strip().splitlines()
    return {"ran": True, "why": None, "command": " ".join(["python"] + TEST_COMMAND[1:]), **count_tests(done.stdout),
            "returncode": done.returncode, "seconds": time.perf_counter() - start, "summary": tail[-1] if tail else ""}


def tests_not_run(why):
    return {"ran": False, "why": why, "command": " ".join(["python"] + TEST_COMMAND[1:]), "passed": None,
            "failed": None, "skipped": None, "errors": None, "returncode": None, "seconds": None, "summary": None}


# --- 2. the training examples ----------------------------------------------------------------------------------

# runs an example's main() in a fresh process and prints what it returns as the last line (the stand-in first,
# when NDGRAD_CUDA_STANDIN=1 asks for it)
_EXAMPLE = ("import json, sys\n"
            "from benchmarks.run_case import install_cuda_standin_if_asked\n"
            "install_cuda_standin_if_asked()\n"
            "sys.path.insert(0, 'examples')\n"
            "import importlib\n"
            "result = importlib.import_module(sys.argv[1]).main(sys.argv[2:])\n"
            "print(json.dumps(result, default=float))\n")


def run_example(name, script, arguments, device, timeout=1800):
    argv = arguments + ["--device", device, "--no-progress"]
    entry = example_not_run(name, script, argv, None)
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", _EXAMPLE, script[:-3]] + argv, cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**entry, "ran": True, "returncode": "timeout", "seconds": float(timeout),
                "error": f"still running after {timeout} s"}
    entry.update(ran=True, returncode=done.returncode, seconds=time.perf_counter() - start)
    if done.returncode != 0:
        entry["error"] = done.stderr.strip()[-3000:]
        return entry
    result = json.loads(done.stdout.strip().splitlines()[-1])
    history = result["history"] if isinstance(result, dict) else result
    entry.update(history=history, epochs=len(history), first_loss=history[0]["train_loss"],
                 final_loss=history[-1]["train_loss"],
                 final={k: v for k, v in history[-1].items() if k not in ("epoch", "lr", "train_loss")})
    return entry


def run_examples(device, dry_run):
    """Every example: a few hundred steps on a GPU run, one short epoch in a dry run."""
    entries = [run_example(name, script, dry if dry_run else full, device) for name, script, full, dry in EXAMPLES]
    for e in entries:
        print(f"example {e['name']}: exit {e['returncode']}, {e['seconds']:.1f} s, final loss {e['final_loss']}")
    return entries


def example_not_run(name, script, argv, why):
    return {"name": name, "command": f"python examples/{script} " + " ".join(argv), "ran": False, "why": why,
            "returncode": None, "seconds": None, "epochs": None, "first_loss": None, "final_loss": None,
            "final": None, "history": None, "error": None}


# --- 3. the GPU benchmark cases --------------------------------------------------------------------------------

def summarize(case, ours, theirs):
    """One case's report entry from the per-process results of each framework (``theirs`` empty: not compared)."""
    a = [r["seconds"] for r in ours]
    b = [r["seconds"] for r in theirs]
    ratios = [x / y for x, y in zip(a, b)]
    return {"case": case.name, "description": case.description, "target_kind": GPU_CASES[case.name],
            "target": TARGETS[GPU_CASES[case.name]], "iterations_per_block": ours[0]["iterations"] if ours else None,
            "ndgrad_s": statistics.median(a) if a else None, "pytorch_s": statistics.median(b) if b else None,
            "ratio": statistics.median(ratios) if ratios else None,
            "ratio_min": min(ratios) if ratios else None, "ratio_max": max(ratios) if ratios else None,
            "ndgrad_all_s": a, "pytorch_all_s": b, "ratios": ratios, "error": None,
            "processes": {"ndgrad": _about(ours), "torch": _about(theirs)}}


def _about(runs):
    """What a framework's first process said about itself (versions, device name, settings), timings left out."""
    return {k: v for k, v in runs[0].items() if k not in ("seconds", "blocks_s", "iterations")} if runs else None


def time_case(case, device, rounds, blocks, dry_run):
    """One case's report entry: alternating pairs of processes, or a dry run's one ndgrad process of two steps;
    a process that fails leaves its error in the entry, and the other cases still run."""
    try:
        if dry_run:
            return summarize(case, [run_process("ndgrad", case.name, device, iterations=1, blocks=1)], [])
        return summarize(case, *run_pairs(case, device, rounds, case.iterations, blocks))
    except RuntimeError as e:
        return {**summarize(case, [], []), "error": str(e)[-3000:]}


def gpu_cases():
    cases = load_cases()
    return [cases[name] for name in GPU_CASES]


# --- 4. the report ---------------------------------------------------------------------------------------------

def verdict(ratio, target):
    """"met" when ndgrad's time is at most ``target`` times PyTorch's, "missed" above it, "not run" without one."""
    if ratio is None:
        return "not run"
    return "met" if ratio <= target else "missed"


def target_table(cases):
    """The Markdown table of the benchmark cases against their targets: one row per report entry (the keys
    case, target, ratio, ratio_min, ratio_max, ndgrad_s, pytorch_s)."""
    def time_or_dash(seconds):
        return fmt(seconds) if seconds is not None else "-"

    rows = ["| case | ndgrad | PyTorch | ndgrad / PyTorch (min-max over pairs) | target | |",
            "|---|---:|---:|---:|---:|---|"]
    for c in cases:
        ratio = "-" if c["ratio"] is None else f"{c['ratio']:.2f} ({c['ratio_min']:.2f}-{c['ratio_max']:.2f})"
        mark = "failed (see the JSON)" if c.get("error") else verdict(c["ratio"], c["target"])
        rows.append(f"| {c['case']} | {time_or_dash(c['ndgrad_s'])} | {time_or_dash(c['pytorch_s'])} | {ratio} | "
                    f"<= {c['target']:.1f}x | {mark} |")
    return "\n".join(rows)


def markdown(report):
    v = report["versions"]
    lines = [f"# GPU check: {report['status']}", "",
             f"{report['date']}, `{report['command']}`" + (f". Why: {report['reason']}" if report["reason"] else ""),
             "", f"Device: {report['device']} ({report['device_name'] or 'no GPU'}); ndgrad {v['ndgrad']}, "
             f"PyTorch {v['torch']} (CUDA {v['torch_cuda'] or '-'}), CuPy {v['cupy']}, CUDA driver "
             f"{v['cuda_driver'] or '-'}, runtime {v['cuda_runtime'] or '-'}.", "",
             f"Targets (issue 9): the wide MLP <= {TARGETS['wide MLP']}x PyTorch eager, small nets <= "
             f"{TARGETS['small nets']}x (ndgrad's time per step / PyTorch's, each in processes of its own)."]
    bench = report["benchmarks"]
    if bench["rounds"]:
        lines[-1] += (f" Times are medians per step over {bench['rounds']} process pair(s) of "
                      f"{bench['blocks_per_process']} timed block(s) each.")
    lines += ["", target_table(bench["cases"]), ""]
    t = report["tests"]
    lines.append(f"Tests (`{t['command']}`): " + (f"{t['passed']} passed, {t['failed']} failed, {t['errors']} errors, "
                                                   f"{t['skipped']} skipped" if t["ran"] else f"not run ({t['why']})."))
    lines += ["", "| example | epochs | loss after epoch 1 | final loss | seconds (whole process) |",
              "|---|---:|---:|---:|---:|"]
    for e in report["examples"]:
        if not e["ran"] or e["returncode"] != 0:
            state = "not run" if not e["ran"] else f"failed (exit {e['returncode']})"
            lines.append(f"| `{e['command']}` | {state} | | | |")
        else:
            lines.append(f"| `{e['command']}` | {e['epochs']} | {e['first_loss']:.4f} | {e['final_loss']:.4f} | "
                         f"{e['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(report, path):
    plt = pyplot()
    if plt is None:
        return
    cases = report["benchmarks"]["cases"]
    fig, ax = plt.subplots(figsize=(1.3 * len(cases) + 2.5, 3.2))
    names = [c["case"] for c in cases]
    ratios = [c["ratio"] if c["ratio"] is not None else 0.0 for c in cases]
    colors = {"met": "tab:green", "missed": "tab:orange", "not run": "lightgray"}
    ax.bar(names, ratios, color=[colors[verdict(c["ratio"], c["target"])] for c in cases])
    for i, c in enumerate(cases):
        ax.hlines(c["target"], i - 0.4, i + 0.4, color="black", linestyle="--", linewidth=0.8)
        if c["ratio"] is not None:
            ax.errorbar(i, c["ratio"], yerr=[[c["ratio"] - c["ratio_min"]], [c["ratio_max"] - c["ratio"]]],
                        color="black", capsize=3)
            ax.text(i + 0.06, c["ratio"], f"{c['ratio']:.2f}", ha="left", va="bottom")
        elif c.get("error"):
            ax.text(i, 0.05, "failed", ha="center", va="bottom")
    if all(c["ratio"] is None for c in cases):
        ax.text(0.5, 0.5, f"{report['status']}\n{report['date']}", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(0, max([c["ratio_max"] or 0.0 for c in cases] + [c["target"] for c in cases]) * 1.15)
    ax.set_ylabel("ndgrad time / PyTorch time")
    ax.set_title(f"{report['device']} ({report['device_name'] or 'no GPU'}): median over process pairs, whiskers "
                 f"min-max, dashed: target", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def new_report(status, reason, device, command, rounds=0, blocks=0):
    """A report with every key, filled as "nothing ran": the GPU run and the dry run fill in what they do."""
    return {"status": status, "reason": reason,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "command": command,
            "device": device, "device_name": None,  # filled in from the benchmark processes
            "versions": versions(), "targets": TARGETS,
            "tests": tests_not_run(status),
            "examples": [example_not_run(name, script, args + ["--device", device, "--no-progress"], status)
                         for name, script, args, _ in EXAMPLES],
            "benchmarks": {"rounds": rounds, "blocks_per_process": blocks,
                           "cases": [summarize(case, [], []) for case in gpu_cases()]}}


def write_report(report, out):
    """gpu_check.json, gpu_check.md and gpu_check.png in ``out``; their paths."""
    stem = save_json(report, out, "gpu_check")
    with open(stem + ".md", "w") as f:
        f.write(markdown(report))
    plot(report, stem + ".png")
    return [stem + ".json", stem + ".md", stem + ".png"]


# --- the command -----------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="the GPU to check: cuda or cuda:N")
    parser.add_argument("--rounds", type=int, default=5, help="process pairs per benchmark case")
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks per process")
    parser.add_argument("--dry-run", action="store_true",
                        help="every GPU case for two steps (ndgrad only) and the examples for an epoch on whatever "
                             "CUDA backend ndgrad sees (without a GPU: the CuPy stand-in); no timings to compare")
    parser.add_argument("--no-tests", action="store_true", help="leave out the cuda-marked tests")
    parser.add_argument("--no-examples", action="store_true", help="leave out the training examples")
    parser.add_argument("--out", default=None, help=f"folder for the report (default: {RESULTS}; a dry run: a "
                                                    f"temporary folder)")
    args = parser.parse_args(argv)
    command = " ".join(["python -m benchmarks.gpu_check"] + (argv if argv is not None else sys.argv[1:]))
    has_gpu, why_not = gpu_status(args.device)

    if args.dry_run:
        if not has_gpu:  # the processes it starts get the stand-in (this one reports the CuPy installed)
            os.environ[STANDIN_ENV] = "1"
        report = dry_run(args, command, why_not)
        out = args.out or tempfile.mkdtemp(prefix="gpu_check_dry_run_")
    elif not has_gpu:
        print(f"gpu_check: {NOT_RUN}: {why_not}")
        report = new_report(NOT_RUN, why_not, args.device, command)
        out = args.out or RESULTS
    else:
        report = gpu_run(args, command)
        out = args.out or RESULTS
    print("saved " + ", ".join(write_report(report, out)))
    problems = failures(report)
    for problem in problems:
        print(f"gpu_check: FAILED: {problem}")
    return 1 if problems else 0


def failures(report):
    """What broke: failing tests, an example that crashed, a case whose process failed (targets missed are
    results, not failures)."""
    found = []
    t = report["tests"]
    if t["ran"] and (t["returncode"] != 0 or t["failed"] or t["errors"]):
        found.append(f"tests: {t['summary']}")
    found += [f"example {e['name']}: {_last_line(e['error'])}" for e in report["examples"]
              if e["ran"] and e["returncode"] != 0]
    found += [f"case {c['case']}: {_last_line(c['error'])}" for c in report["benchmarks"]["cases"] if c["error"]]
    return found


def _last_line(text):
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else "(no message)"


def dry_run(args, command, why_not):
    status = ("dry run: ndgrad side only, two steps per case" +
              (" on the CuPy stand-in (NumPy posing as CuPy): plumbing, not speed" if why_not else " on the GPU"))
    report = new_report(status, why_not, args.device, command, rounds=0, blocks=1)  # no pairs: ndgrad alone
    report["tests"] = tests_not_run("a dry run leaves them out (python -m pytest -m cuda; without a GPU add "
                                    "--cuda-standin)")
    if not args.no_examples:
        report["examples"] = run_examples(args.device, dry_run=True)
    report["benchmarks"]["cases"] = [time_case(case, args.device, 1, 1, dry_run=True) for case in gpu_cases()]
    report["device_name"] = device_name(report["benchmarks"]["cases"])
    for entry in report["benchmarks"]["cases"]:
        print(f"{entry['case']:<24} " + (f"ndgrad {fmt(entry['ndgrad_s'])} per step (one step after one warm-up)"
                                         if entry["error"] is None else f"FAILED: {entry['error']}"))
    return report


def gpu_run(args, command):
    report = new_report("run on a GPU", None, args.device, command, rounds=args.rounds, blocks=args.blocks)
    print(f"gpu_check on {args.device}: {report['versions']}")
    if not args.no_tests:
        report["tests"] = run_tests()
        print(f"tests: {report['tests']['summary']}")
    if not args.no_examples:
        report["examples"] = run_examples(args.device, dry_run=False)
    report["benchmarks"]["cases"] = []
    for case in gpu_cases():
        entry = time_case(case, args.device, args.rounds, args.blocks, dry_run=False)
        report["benchmarks"]["cases"].append(entry)
        if entry["error"] is not None:
            print(f"{case.name:<24} FAILED: {entry['error']}")
        else:
            print(f"{case.name:<24} {fmt(entry['ndgrad_s']):>10} {fmt(entry['pytorch_s']):>10} {entry['ratio']:6.2f} "
                  f"(target <= {entry['target']}: {verdict(entry['ratio'], entry['target'])})")
    report["device_name"] = device_name(report["benchmarks"]["cases"])
    return report


if __name__ == "__main__":
    sys.exit(main())
