"""The training example and the benchmark runner, end to end on small data."""

import gzip
import json
import os
import struct
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import train  # noqa: E402


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_digits_reaches_95_percent_and_saves(tmp_path):
    pytest.importorskip("sklearn")
    save, plot = str(tmp_path / "model.npz"), str(tmp_path / "curves.png")
    history = train.main(["--device", "cpu", "--epochs", "20", "--no-progress", "--save", save, "--plot", plot])
    assert history[-1]["test_acc"] >= 0.95
    assert all(h["samples_per_s"] > 0 for h in history)
    state = np.load(save)
    assert sorted(state.files) == ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"]
    assert state["0.weight"].shape == (128, 64)
    with open(plot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trip(tmp_path, suffix):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28))
    path = str(tmp_path / f"imgs-idx3-ubyte{suffix}")
    write_idx(path, images)
    np.testing.assert_array_equal(train.read_idx(path), images)


def test_read_idx_rejects_truncated_file(tmp_path):
    path = str(tmp_path / "bad-idx1-ubyte")
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, 1) + struct.pack(">I", 10) + bytes(3))
    with pytest.raises(ValueError, match="expected 10 values"):
        train.read_idx(path)


def test_mnist_folder_trains_one_epoch(tmp_path):
    rng = np.random.default_rng(1)
    for prefix, n in (("train", 64), ("t10k", 32)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 256, (n, 28, 28))
        write_idx(str(tmp_path / f"{prefix}-images-idx3-ubyte.gz"), images)
        write_idx(str(tmp_path / f"{prefix}-labels-idx1-ubyte"), labels)
    history = train.main(["--data", "mnist", "--data-dir", str(tmp_path), "--epochs", "1", "--no-progress",
                          "--hidden", "16"])
    assert len(history) == 1 and 0.0 <= history[0]["test_acc"] <= 1.0


def test_mnist_missing_files_says_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        train.main(["--data", "mnist", "--data-dir", str(tmp_path), "--epochs", "1"])


def test_benchmark_runner_writes_json_and_plot(tmp_path):
    pytest.importorskip("torch")
    from benchmarks.__main__ import main
    main(["--device", "cpu", "--quick", "--out", str(tmp_path)])
    with open(tmp_path / "cpu.json") as f:
        report = json.load(f)
    assert {r["case"] for r in report["results"]} == {"overhead", "mlp_step"}
    for r in report["results"]:
        assert r["ndgrad_s"] > 0 and r["pytorch_s"] > 0
        paired = sorted(x / y for x, y in zip(r["ndgrad_all_s"], r["pytorch_all_s"]))
        assert r["ratio"] == pytest.approx(paired[len(paired) // 2])
    assert report["device_name"]
    assert (tmp_path / "cpu.png").exists()
