"""The benchmark harness's bookkeeping (no timing): the README table generated from results files."""

import json

from benchmarks import readme_table


def _report(cases):
    return {"device": "cpu", "device_name": "Test CPU", "numpy": "2.0", "torch": "2.13.0", "torch_threads": 2,
            "rounds": 3, "time": "2026-01-02T03:04:05", "load_average": [0.5, 0.25, 0.125],
            "results": [{"case": name, "ndgrad_s": a, "pytorch_s": b, "ratio": a / b, "ratio_spread": [0.9, 1.1]}
                        for name, a, b in cases]}


def test_readme_block_is_rewritten_from_the_results(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "cpu.json").write_text(json.dumps(_report([("mlp_step", 2e-3, 1e-3), ("overhead", 30e-6, 20e-6)])))
    (results / "gpu_check.json").write_text("{}")  # has its own report: left out
    (results / "cpu_memory.json").write_text(json.dumps({"step": {}}))  # another kind of report: left out
    (results / "cpu_distributed.json").write_text(json.dumps({"results": [{"ranks": 1}]}))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{readme_table.BEGIN}\nstale table\n{readme_table.END}\noutro\n")
    assert readme_table.update(str(readme), str(results))
    text = readme.read_text()
    assert "stale table" not in text and text.startswith("intro\n") and text.endswith("outro\n")
    assert "| mlp_step | 2.00 ms | 1.00 ms | 2.00 | 0.90-1.10 |" in text
    assert "| overhead | 30.0 us | 20.0 us | 1.50 | 0.90-1.10 |" in text
    assert "Test CPU" in text and "2026-01-02" in text and readme_table.blas() in text


def test_readme_without_markers_is_left_alone(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    assert not readme_table.update(str(readme), str(tmp_path))
    assert readme.read_text() == "no markers here\n"
