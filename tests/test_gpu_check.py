"""python -m benchmarks.gpu_check: the report without a GPU, the GPU cases run on the CuPy stand-in (ndgrad's
side, as a dry run does), and the table that marks each case's ratio against issue 9's targets."""

import datetime
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import gpu_check
from benchmarks.registry import load_cases
from benchmarks.run_case import load_framework, time_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# the report's schema, written out here so that a key the report drops (or never filled) fails a test
REPORT_KEYS = {"status", "reason", "date", "command", "device", "device_name", "versions", "targets", "tests",
               "examples", "benchmarks"}
VERSION_KEYS = {"ndgrad", "python", "numpy", "torch", "torch_cuda", "cupy", "cuda_driver", "cuda_runtime"}
TEST_KEYS = {"ran", "command", "passed", "failed", "skipped", "errors", "returncode", "seconds", "summary"}
EXAMPLE_KEYS = {"name", "command", "ran", "returncode", "seconds", "epochs", "first_loss", "final_loss", "final",
                "history", "error"}
CASE_KEYS = {"case", "description", "target", "ndgrad_s", "pytorch_s", "ratio", "ratio_min", "ratio_max",
             "ndgrad_all_s", "pytorch_all_s", "error"}
# issue 9, section 5: which cases run on the GPU and the ratio each must stay under
ISSUE_TARGETS = {"mlp_wide": 1.0, "lenet_step": 1.3, "conv_block": 1.3, "lstm_step": 1.3,
                 "transformer_layer_step": 1.3}


def check_schema(report):
    assert REPORT_KEYS <= set(report), REPORT_KEYS - set(report)
    assert VERSION_KEYS <= set(report["versions"]), VERSION_KEYS - set(report["versions"])
    assert TEST_KEYS <= set(report["tests"]), TEST_KEYS - set(report["tests"])
    assert len(report["examples"]) == 3  # the MLP, the CNN, the language model
    for example in report["examples"]:
        assert EXAMPLE_KEYS <= set(example), EXAMPLE_KEYS - set(example)
        assert "--device cuda" in example["command"]
    assert {"rounds", "blocks_per_process", "cases"} <= set(report["benchmarks"])
    assert {c["case"]: c["target"] for c in report["benchmarks"]["cases"]} == ISSUE_TARGETS
    for entry in report["benchmarks"]["cases"]:
        assert CASE_KEYS <= set(entry), CASE_KEYS - set(entry)


def read_report(folder):
    with open(os.path.join(folder, "gpu_check.json")) as f:
        report = json.load(f)
    with open(os.path.join(folder, "gpu_check.md")) as f:
        text = f.read()
    with open(os.path.join(folder, "gpu_check.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    return report, text


def test_no_gpu_writes_a_not_run_report(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check, "gpu_status", lambda device: (False, "no GPU in this test"))
    assert gpu_check.main(["--out", str(tmp_path)]) == 0
    report, text = read_report(tmp_path)
    check_schema(report)
    assert report["status"] == "not run on a GPU" and report["reason"] == "no GPU in this test"
    assert report["date"].startswith(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))
    assert "not run on a GPU" in text and "no GPU in this test" in text and report["date"] in text
    assert not report["tests"]["ran"] and not any(e["ran"] for e in report["examples"])
    assert all(c["ratio"] is None and c["ndgrad_s"] is None for c in report["benchmarks"]["cases"])
    assert set(table_marks(report["benchmarks"]["cases"]).values()) == {"not run"}


def test_this_machine_is_detected_without_a_gpu(tmp_path):
    """Where PyTorch sees no GPU the real detection says so (the CuPy stand-in, if installed, is no GPU)."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: python -m benchmarks.gpu_check runs for real")
    has_gpu, why = gpu_check.gpu_status("cuda")
    assert not has_gpu and "torch.cuda.is_available() is False" in why


def test_the_committed_report_has_the_schema():
    report, text = read_report(os.path.join(ROOT, "benchmarks", "results"))
    check_schema(report)
    assert report["status"] in text


def test_gpu_cases_are_left_out_of_the_cpu_suite():
    cases = load_cases()
    assert not cases["mlp_wide"].runs_on("cpu") and cases["mlp_wide"].runs_on("cuda:1")
    assert all(cases[name].runs_on("cuda") for name in ISSUE_TARGETS)
    assert {n for n, c in cases.items() if c.runs_on("cpu")} == set(cases) - {"mlp_wide"}


@pytest.mark.cuda
@pytest.mark.parametrize("name", list(ISSUE_TARGETS))
def test_dry_run_of_each_gpu_case(name, tmp_path):
    """What --dry-run runs in a process of its own per case, ndgrad's side of a GPU case on ndgrad's CUDA backend
    (the stand-in where there is no GPU), for one step (the dry run adds a warm-up step); then the report
    written from it."""
    case = load_cases()[name]
    fw = load_framework("ndgrad", "cuda")
    seconds = time_step(case.build(fw, "cuda"), fw.sync, iterations=1, blocks=1, warmup=0)
    entry = gpu_check.summarize(case, [{"seconds": seconds[0], "blocks_s": seconds, "iterations": 1, **fw.about}], [])
    assert entry["ndgrad_s"] == seconds[0] > 0 and entry["ratio"] is None
    assert entry["processes"]["ndgrad"]["device_name"] == fw.about["device_name"]
    report = gpu_check.new_report("dry run", None, "cuda", "test", rounds=0, blocks=1)
    report["benchmarks"]["cases"] = [entry if c["case"] == name else c for c in report["benchmarks"]["cases"]]
    gpu_check.write_report(report, str(tmp_path))
    written, text = read_report(tmp_path)
    check_schema(written)
    row = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
    assert row.split("|")[2].strip() == gpu_check.fmt(seconds[0]) and row.split("|")[-2].strip() == "not run"


def table_marks(cases):
    """{case: the last column of its row} of gpu_check.target_table(cases)."""
    rows = gpu_check.target_table(cases).splitlines()[2:]
    return {row.split("|")[1].strip(): row.split("|")[-2].strip() for row in rows}


@pytest.mark.parametrize("kind", ["wide MLP", "small nets"])
def test_target_table_marks_met_and_missed(kind):
    target = {"wide MLP": 1.0, "small nets": 1.3}[kind]  # issue 9's numbers
    assert gpu_check.TARGETS[kind] == target
    ratios = [0.5 * target, target, target * 1.001, 2.0 * target, None]
    cases = [{"case": f"c{i}", "target": gpu_check.TARGETS[kind], "ratio": r,
              "ratio_min": None if r is None else 0.9 * r, "ratio_max": None if r is None else 1.1 * r,
              "ndgrad_s": None if r is None else 1e-3 * r, "pytorch_s": None if r is None else 1e-3}
             for i, r in enumerate(ratios)]
    expected = {f"c{i}": "not run" if r is None else ("met" if r <= target else "missed") for i, r in enumerate(ratios)}
    assert table_marks(cases) == expected
    assert expected == {"c0": "met", "c1": "met", "c2": "missed", "c3": "missed", "c4": "not run"}


def test_count_tests_reads_pytest_counts(tmp_path):
    """The counts parsed from a real pytest run of a file with known outcomes."""
    (tmp_path / "test_known.py").write_text(
        "import pytest\n"
        "def test_a(): pass\n"
        "def test_b(): pass\n"
        "def test_c(): assert False\n"
        "@pytest.mark.skip(reason='x')\n"
        "def test_d(): pass\n"
        "@pytest.fixture\n"
        "def broken(): raise RuntimeError\n"
        "def test_e(broken): pass\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_known.py", "-k",
                           "not test_b"], cwd=tmp_path, capture_output=True, text=True)
    counts = gpu_check.count_tests(done.stdout)
    assert counts == {"passed": 1, "failed": 1, "skipped": 1, "errors": 1, "deselected": 1, "xfailed": 0,
                      "xpassed": 0}


def test_report_of_a_gpu_run_from_given_process_times(tmp_path):
    """The GPU run's path from per-process times to the report (no GPU needed: the times are given): medians,
    ratios over pairs with their spread, met/missed against the issue's targets, a failed case marked."""
    cases = load_cases()
    rng = np.random.default_rng(0)
    entries = []
    for name, target in ISSUE_TARGETS.items():
        ours = rng.uniform(1e-3, 3e-3, 5)
        theirs = rng.uniform(1e-3, 3e-3, 5)
        about = {"iterations": 10, "device_name": "Some GPU"}
        entry = gpu_check.summarize(cases[name], [{"seconds": s, **about} for s in ours],
                                    [{"seconds": s, **about} for s in theirs])
        ratios = ours / theirs
        assert entry["ratio"] == pytest.approx(np.median(ratios))
        assert (entry["ratio_min"], entry["ratio_max"]) == pytest.approx((ratios.min(), ratios.max()))
        assert (entry["ndgrad_s"], entry["pytorch_s"]) == pytest.approx((np.median(ours), np.median(theirs)))
        entries.append(entry)
    entries[-1] = {**gpu_check.summarize(cases["transformer_layer_step"], [], []), "error": "benchmark process failed"}
    report = gpu_check.new_report("run on a GPU", None, "cuda", "test", rounds=5, blocks=3)
    report["benchmarks"]["cases"] = entries
    report["device_name"] = gpu_check.device_name(entries)
    gpu_check.write_report(report, str(tmp_path))
    written, text = read_report(tmp_path)
    check_schema(written)
    assert written["device_name"] == "Some GPU" and "Some GPU" in text
    marks = table_marks(written["benchmarks"]["cases"])
    for entry in entries[:-1]:
        assert marks[entry["case"]] == ("met" if entry["ratio"] <= ISSUE_TARGETS[entry["case"]] else "missed")
    assert marks["transformer_layer_step"].startswith("failed")
    assert gpu_check.failures(written) == ["case transformer_layer_step: benchmark process failed"]


def test_gpu_run_wiring(tmp_path, monkeypatch):
    """With a GPU reported, main() runs the tests, the examples and every GPU case in pairs on that device, and
    exits 1 when something failed (the pieces that need a GPU are replaced: they are tested above or on one)."""
    calls = []

    def fake_pairs(case, device, rounds, iterations, blocks):
        calls.append((case.name, device, rounds, iterations, blocks))
        run = {"seconds": 2e-3, "iterations": iterations, "device_name": "Some GPU"}
        return [run] * rounds, [{**run, "seconds": 1e-3}] * rounds  # ndgrad twice PyTorch's time: all missed

    monkeypatch.setattr(gpu_check, "gpu_status", lambda device: (True, None))
    monkeypatch.setattr(gpu_check, "run_pairs", fake_pairs)
    tests = {**gpu_check.tests_not_run(None), "ran": True, "passed": 9, "failed": 1, "errors": 0, "skipped": 0,
             "returncode": 1, "summary": "1 failed, 9 passed"}
    monkeypatch.setattr(gpu_check, "run_tests", lambda: tests)
    monkeypatch.setattr(gpu_check, "run_examples", lambda device, dry_run: [])
    assert gpu_check.main(["--device", "cuda:1", "--rounds", "3", "--out", str(tmp_path)]) == 1
    cases = load_cases()
    assert calls == [(name, "cuda:1", 3, cases[name].iterations, 3) for name in ISSUE_TARGETS]
    report, text = read_report(tmp_path)
    assert report["status"] == "run on a GPU" and report["device_name"] == "Some GPU"
    assert report["tests"]["passed"] == 9 and "9 passed" in text
    assert [c["ratio"] for c in report["benchmarks"]["cases"]] == [2.0] * len(ISSUE_TARGETS)
    assert set(table_marks(report["benchmarks"]["cases"]).values()) == {"missed"}
