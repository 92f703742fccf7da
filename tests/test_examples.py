"""The training example and the benchmark runner, end to end on small data."""

import gzip
import json
import os
import statistics
import struct
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import autograd as ag  # noqa: E402
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


def test_cnn_on_digits_reaches_98_percent(tmp_path):
    """--model cnn with 10 epochs instead of the default 20 (98.0-99.7 % over seeds 0-9 either way)."""
    pytest.importorskip("sklearn")
    save = str(tmp_path / "cnn.npz")
    history = train.main(["--model", "cnn", "--epochs", "10", "--no-progress", "--save", save])
    assert history[-1]["test_acc"] >= 0.98
    state = np.load(save)
    assert state["features.0.weight"].shape == (16, 1, 3, 3) and state["features.4.weight"].shape == (32, 16, 3, 3)
    assert state["features.1.running_var"].shape == (16,) and int(state["features.5.num_batches_tracked"]) == 230
    assert state["classifier.0.weight"].shape == (64, 32 * 2 * 2)  # 8x8 pooled twice: 2x2


def test_cnn_on_mnist_images(tmp_path):
    """--model cnn --data mnist takes 1x28x28 images: 32x7x7 features after the two poolings."""
    rng = np.random.default_rng(2)
    for prefix, n in (("train", 32), ("t10k", 16)):
        write_idx(str(tmp_path / f"{prefix}-images-idx3-ubyte"), rng.integers(0, 256, (n, 28, 28)))
        write_idx(str(tmp_path / f"{prefix}-labels-idx1-ubyte"), rng.integers(0, 10, n))
    save = str(tmp_path / "cnn.npz")
    history = train.main(["--model", "cnn", "--data", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
                          "--no-progress", "--save", save])
    assert len(history) == 1 and 0.0 <= history[0]["test_acc"] <= 1.0
    assert np.load(save)["classifier.0.weight"].shape == (128, 32 * 7 * 7)


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


QUICK = ["--device", "cpu", "--no-progress", "--hidden", "16", "--batch-size", "128"]
FLOAT64 = ["--dtype", "float64"]


def weights(path):
    return {k: v.numpy() for k, v in ag.load(path)["model"].items()}


def same_metrics(a, b):
    """Equal, bitwise, in everything but the wall-clock throughput."""
    drop = lambda h: {k: v for k, v in h.items() if k != "samples_per_s"}  # noqa: E731
    return [drop(h) for h in a] == [drop(h) for h in b]


def run_script(args, crash_after_saves=None, timeout=120):
    """examples/train.py in a fresh Python process; with ``crash_after_saves`` the process dies (os._exit,
    no cleanup) right after that many checkpoints were written, as a killed run would."""
    code = (f"import os, sys; sys.path.insert(0, {os.path.join(ROOT, 'examples')!r}); import train\n"
            f"save, count = train.ag.save, []\n"
            f"def save_then_maybe_die(obj, f):\n"
            f"    save(obj, f); count.append(1)\n"
            f"    if len(count) == {crash_after_saves!r}: os._exit(3)\n"
            f"train.ag.save = save_then_maybe_die\n"
            f"train.main(sys.argv[1:])\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


@pytest.mark.parametrize("name", ["cosine", "step", "onecycle"])
def test_scheduler_lr_sequence_matches_pytorch(name):
    pytest.importorskip("sklearn")
    torch = pytest.importorskip("torch")
    epochs, lr = 4, 1e-2
    history = train.main(QUICK + ["--epochs", str(epochs), "--lr", str(lr), "--scheduler", name])
    steps_per_epoch = -(-1438 // 128)  # 1438 training digits in batches of 128
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = {"cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs),
             "step": lambda: torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.1),
             "onecycle": lambda: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs,
                                                                     steps_per_epoch=steps_per_epoch)}[name]()
    expected = []
    for _ in range(epochs):
        expected.append(opt.param_groups[0]["lr"])
        for _ in range(steps_per_epoch):
            opt.step()
            if name == "onecycle":
                sched.step()
        if name != "onecycle":
            sched.step()
    assert [h["lr"] for h in history] == pytest.approx(expected, rel=1e-12, abs=0)
    assert len(set(expected)) > 1  # the schedule moved


def test_clip_bounds_the_gradient_norm(monkeypatch):
    pytest.importorskip("sklearn")
    max_norm, before, after = 0.05, [], []
    clip = train.nn.utils.clip_grad_norm_

    def recording_clip(parameters, limit, *args, **kwargs):
        total = clip(parameters, limit, *args, **kwargs)
        before.append(total.item())
        return total

    adam_step = train.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        grads = [p.grad.numpy() for g in self.param_groups for p in g["params"] if p.grad is not None]
        after.append(float(np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))))
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(train.nn.utils, "clip_grad_norm_", recording_clip)
    monkeypatch.setattr(train.optim.Adam, "step", recording_step)
    train.main(QUICK + ["--epochs", "1", "--clip", str(max_norm)])
    assert len(before) == len(after) == 12
    assert max(before) > 2 * max_norm  # clipping did have work to do
    assert max(after) <= max_norm * (1 + 1e-5)
    for pre, post in zip(before, after):
        assert post == pytest.approx(min(pre, max_norm), rel=1e-4)


def test_checkpoint_written_every_epoch_and_loadable(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    path, final = str(tmp_path / "ckpt.pt"), str(tmp_path / "final.pt")
    saved = []
    save = train.ag.save

    def recording_save(obj, f):
        save(obj, f)
        if f == path:
            saved.append(ag.load(f)["epoch"])

    monkeypatch.setattr(train.ag, "save", recording_save)
    history = train.main(QUICK + ["--epochs", "3", "--scheduler", "cosine", "--checkpoint", path, "--save", final])
    assert saved == [1, 2, 3]
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt", "final.pt"]  # no temporary files left behind
    checkpoint = ag.load(path)
    assert {"epoch", "model", "optimizer", "scheduler", "rng_state", "loader_rng_state", "history"} <= set(checkpoint)
    assert checkpoint["scheduler"]["last_epoch"] == 3
    assert same_metrics(checkpoint["history"], history)
    model = train.build_model(64, 10, [16])
    model.load_state_dict(checkpoint["model"])
    final_state = ag.load(final)  # --save with a name other than .npz goes through autograd.save
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), final_state[key].numpy())


@pytest.mark.parametrize("scheduler", ["cosine", "onecycle"])
def test_resume_in_fresh_process_equals_uninterrupted_run(tmp_path, scheduler):
    pytest.importorskip("sklearn")
    args = QUICK + FLOAT64 + ["--epochs", "4", "--scheduler", scheduler, "--clip", "1.0", "--lr", "3e-3"]
    whole, part = str(tmp_path / "whole.pt"), str(tmp_path / "part.pt")
    train.main(args + ["--checkpoint", whole])
    crashed = run_script(args + ["--checkpoint", part], crash_after_saves=2)
    assert crashed.returncode == 3, crashed.stderr
    assert ag.load(part)["epoch"] == 2
    resumed = run_script(args + ["--checkpoint", part, "--resume", part])
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "epoch   1 " not in resumed.stdout and "epoch   4 " in resumed.stdout
    a, b = ag.load(whole), ag.load(part)
    assert a["epoch"] == b["epoch"] == 4
    assert same_metrics(a["history"], b["history"])
    wa, wb = weights(whole), weights(part)
    assert wa.keys() == wb.keys() and all(wa[k].dtype == np.float64 for k in wa)
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key])


def test_workers_give_the_same_run_as_the_main_process(tmp_path):
    pytest.importorskip("sklearn")
    runs = {}
    for workers in ("0", "2"):
        path = str(tmp_path / f"w{workers}.pt")
        runs[workers] = (train.main(QUICK + FLOAT64 + ["--epochs", "2", "--workers", workers, "--checkpoint", path]),
                         weights(path))
    assert same_metrics(runs["0"][0], runs["2"][0])
    for key, value in runs["0"][1].items():
        np.testing.assert_array_equal(value, runs["2"][1][key])


def test_benchmark_runner_writes_json_and_plot(tmp_path):
    pytest.importorskip("torch")
    from benchmarks.__main__ import main
    main(["--device", "cpu", "--quick", "--cases", "overhead", "mlp_step", "--out", str(tmp_path)])
    with open(tmp_path / "cpu.json") as f:
        report = json.load(f)
    assert [r["case"] for r in report["results"]] == ["overhead", "mlp_step"]
    for r in report["results"]:
        assert r["ndgrad_s"] > 0 and r["pytorch_s"] > 0
        assert len(r["ndgrad_all_s"]) == len(r["pytorch_all_s"]) == report["rounds"] == 2  # one per process
        assert r["ratio"] == pytest.approx(statistics.median(x / y for x, y in zip(r["ndgrad_all_s"],
                                                                                   r["pytorch_all_s"])))
    assert report["device_name"] and report["torch"]
    assert (tmp_path / "cpu.png").exists()


def test_benchmark_process_imports_only_its_framework():
    """A case's process for ndgrad never loads torch, nor one for torch ndgrad: their thread pools stay apart."""
    pytest.importorskip("torch")
    probe = ("import json, sys; from benchmarks.run_case import main; main(sys.argv[1:]); "
             "print(json.dumps(sorted(m for m in ('torch', 'autograd') if m in sys.modules)))")
    for framework, loaded in (("ndgrad", ["autograd"]), ("torch", ["torch"])):
        done = subprocess.run([sys.executable, "-c", probe, "--framework", framework, "--case", "overhead",
                               "--iterations", "2", "--blocks", "1"], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        result, modules = (json.loads(line) for line in done.stdout.splitlines())
        assert result["framework"] == framework and result["seconds"] > 0
        assert modules == loaded


def test_benchmark_case_registry_builds_steps_for_both_frameworks():
    """Every registered case builds a step that runs in both frameworks (one step each, in this process:
    a correctness check, not a timing)."""
    pytest.importorskip("torch")
    from benchmarks.registry import load_cases
    from benchmarks.run_case import load_framework
    cases = load_cases()
    assert {"overhead", "mlp_step", "conv_block", "lenet_step"} <= set(cases)
    for framework in ("ndgrad", "torch"):
        fw = load_framework(framework, "cpu")
        for case in cases.values():
            assert case.description and case.iterations >= 1
            if case.runs_on("cpu"):  # the GPU-only cases run on the stand-in: tests/test_gpu_check.py
                case.build(fw, "cpu")()


def test_amp_on_cpu_learns_like_float32(tmp_path, capsys):
    """--amp on the CPU: the forward pass in bfloat16 (autocast), no GradScaler; an epoch ends with the float32
    run's loss and accuracy (within bfloat16's precision), and the checkpoint carries the (empty) scaler state."""
    pytest.importorskip("sklearn")
    ckpt = str(tmp_path / "amp.pt")
    args = ["--epochs", "1", "--hidden", "32", "--scheduler", "none", "--no-progress"]
    amp = train.main(args + ["--amp", "--checkpoint", ckpt])
    assert "autocast to bfloat16" in capsys.readouterr().out
    full = train.main(args)
    assert abs(amp[-1]["test_acc"] - full[-1]["test_acc"]) <= 0.05
    assert amp[-1]["train_loss"] == pytest.approx(full[-1]["train_loss"], rel=0.05)
    assert ag.load(ckpt)["scaler"] == {}


@pytest.mark.cuda
def test_amp_on_cuda_uses_float16_and_a_grad_scaler(capsys):
    """--device cuda --amp: float16 autocast with a GradScaler, one epoch end to end."""
    pytest.importorskip("sklearn")
    history = train.main(["--device", "cuda", "--amp", "--epochs", "1", "--no-progress", "--hidden", "32"])
    assert "autocast to float16 with a GradScaler" in capsys.readouterr().out
    assert len(history) == 1 and 0.0 <= history[0]["test_acc"] <= 1.0
