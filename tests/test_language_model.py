"""examples/language_model.py end to end on a small slice of its corpus, once on ndgrad and once on PyTorch.

The script is a PyTorch script with only its imports changed, so the same file runs on PyTorch when
its imports are pointed at torch (``load_example("torch")``): that run checks the script's own logic
(data, training, sampling, checkpoints) independently of ndgrad's layers. The ndgrad run of the same
tests needs nn.Embedding, nn.LSTM, nn.GRU and nn.TransformerEncoder; until they land it is skipped.
The checks of the corpus and of --text errors run before any layer is built, so they run on ndgrad now.
"""

import contextlib
import importlib.util
import os
import sys

import numpy as np
import pytest

import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "language_model.py")


def needs_sequence_modules():
    """Skip an ndgrad run until ndgrad's nn has the layers the example builds."""
    missing = [name for name in ("LSTM", "Embedding", "TransformerEncoder") if not hasattr(nn, name)]
    return pytest.mark.skipif(bool(missing), reason="nn.LSTM/nn.Embedding/nn.TransformerEncoder not built yet")


@contextlib.contextmanager
def torch_as_ndgrad():
    """While active, ``import autograd``, ``nn``, ``nn.functional``, ``optim`` and ``autograd.utils.data``
    give torch, torch.nn, torch.nn.functional, torch.optim and torch.utils.data (ndgrad's naming rule
    backwards); ndgrad's modules are put back afterwards."""
    import torch
    import torch.nn.functional
    import torch.optim
    import torch.utils.data
    shim = {"autograd": torch, "autograd.utils": torch.utils, "autograd.utils.data": torch.utils.data,
            "nn": torch.nn, "nn.functional": torch.nn.functional, "optim": torch.optim}
    saved = {name: sys.modules.get(name) for name in shim}
    sys.modules.update(shim)
    try:
        yield torch
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def load_example(backend):
    """examples/language_model.py as a fresh module whose ``ag``, ``nn``, ``F`` and ``optim`` are
    ndgrad's (backend "ndgrad") or PyTorch's (backend "torch")."""
    spec = importlib.util.spec_from_file_location(f"language_model_{backend}", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    if backend == "torch":
        with torch_as_ndgrad():
            spec.loader.exec_module(module)
    else:
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=["torch", pytest.param("ndgrad", marks=needs_sequence_modules())])
def lm(request):
    if request.param == "torch":
        torch = pytest.importorskip("torch")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small layers: a second thread only contends with the other workers
        yield load_example("torch")
        torch.set_num_threads(threads)
    else:
        yield load_example("ndgrad")


@pytest.fixture(scope="module")
def lm_ndgrad():
    """The script on ndgrad, for what runs before any sequence layer is built."""
    return load_example("ndgrad")


QUICK = ["--no-progress", "--max-chars", "30000", "--seq-len", "32", "--hidden", "64", "--batch-size", "16"]
FLOAT64 = ["--dtype", "float64"]
MODELS = {"lstm": ["--model", "lstm"], "gru": ["--model", "gru"], "transformer": ["--model", "transformer"],
          "transformer-sinusoidal": ["--model", "transformer", "--positions", "sinusoidal"]}


def weights(lm, path):
    return {k: np.asarray(v.numpy()) for k, v in lm.ag.load(path)["model"].items()}


def without_speed(history):
    return [{k: v for k, v in h.items() if k != "chars_per_s"} for h in history]


# --- training, sampling, checkpoints (need the sequence layers) -----------------------------

@pytest.mark.parametrize("model", MODELS)
def test_loss_falls_well_below_unigram_entropy(lm, model, capsys):
    result = lm.main(QUICK + MODELS[model] + ["--epochs", "2", "--sample", "60"])
    history, entropy = result["history"], result["unigram_entropy"]
    out = capsys.readouterr().out
    assert "unigram entropy" in out and "perplexity" in out
    assert 2.5 < entropy < 3.5  # Python source: about 4.4 bits per character
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_loss"] < 0.85 * entropy
    assert history[-1]["val_perplexity"] == pytest.approx(np.exp(history[-1]["val_loss"]))
    assert len(result["sample"]) == 60
    assert result["sample"] in out


def test_sample_prints_n_characters_and_temperature_zero_is_greedy(lm, capsys):
    args = QUICK + ["--epochs", "1", "--prompt", "def ", "--sample", "45"]
    greedy = [lm.main(args + ["--temperature", "0", "--seed", str(seed)])["sample"] for seed in (0, 0)]
    assert len(greedy[0]) == 45 and greedy[0] == greedy[1]
    assert f"def {greedy[0]}" in capsys.readouterr().out
    hot = lm.main(args + ["--temperature", "1.5"])["sample"]
    assert len(hot) == 45
    with pytest.raises(ValueError, match="not in the corpus's vocabulary"):
        lm.main(QUICK + ["--epochs", "0", "--prompt", "\u00e9\u00e9", "--sample", "5"])


def test_plot_is_written(lm, tmp_path):
    pytest.importorskip("matplotlib")
    plot = str(tmp_path / "curves.png")
    lm.main(QUICK + ["--epochs", "1", "--plot", plot])
    with open(plot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["curves.png"]


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_resume_continues_bitwise_like_an_uninterrupted_run(lm, model, tmp_path, capsys):
    args = QUICK + FLOAT64 + MODELS[model] + ["--max-chars", "12000", "--hidden", "32", "--dropout", "0.2",
                                              "--layers", "2", "--sample", "30"]
    whole, part = str(tmp_path / "whole.pt"), str(tmp_path / "part.pt")
    a = lm.main(args + ["--epochs", "2", "--save", whole])
    lm.main(args + ["--epochs", "1", "--save", part])
    assert lm.ag.load(part)["epoch"] == 1
    capsys.readouterr()
    b = lm.main(args + ["--epochs", "2", "--save", part, "--resume", part])
    out = capsys.readouterr().out
    assert "resumed from" in out and "epoch   1 " not in out and "epoch   2 " in out
    assert without_speed(a["history"]) == without_speed(b["history"])
    assert a["sample"] == b["sample"]  # the RNG state came back too
    wa, wb = weights(lm, whole), weights(lm, part)
    assert wa.keys() == wb.keys() and all(w.dtype == np.float64 for w in wa.values())
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key])
    checkpoint = lm.ag.load(part)
    assert {"epoch", "model", "optimizer", "rng_state", "loader_rng_state", "history", "vocab"} <= set(checkpoint)
    assert sorted(os.listdir(tmp_path)) == ["part.pt", "whole.pt"]  # no temporary files left behind


def test_resume_after_the_last_epoch_only_samples(lm, tmp_path, capsys):
    path = str(tmp_path / "lm.pt")
    trained = lm.main(QUICK + ["--epochs", "1", "--save", path])
    capsys.readouterr()
    result = lm.main(QUICK + ["--epochs", "1", "--resume", path, "--sample", "20"])
    out = capsys.readouterr().out
    assert "resumed from" in out and "epoch   1 " not in out
    assert without_speed(result["history"]) == without_speed(trained["history"])
    assert len(result["sample"]) == 20


def test_resume_refuses_other_options_or_corpus(lm, tmp_path):
    path = str(tmp_path / "lm.pt")
    lm.main(QUICK + ["--epochs", "1", "--save", path])
    with pytest.raises(ValueError, match=r"--hidden 64 \(not 32\)"):
        lm.main(QUICK + ["--epochs", "2", "--hidden", "32", "--resume", path])
    text = tmp_path / "other.txt"
    text.write_text("0123456789\n" * 100)
    with pytest.raises(ValueError, match="another corpus"):
        lm.main(QUICK + ["--epochs", "2", "--text", str(text), "--resume", path])


# --- the corpus and --text (no sequence layers needed) --------------------------------------

def test_default_corpus_is_the_stdlib_in_a_fixed_order(lm_ndgrad):
    text = lm_ndgrad.stdlib_corpus()
    assert len(text) == lm_ndgrad.DEFAULT_CHARS == 300_000
    assert text == lm_ndgrad.stdlib_corpus()
    import abc
    with open(abc.__file__, encoding="utf-8") as f:
        assert text.startswith(f.read())  # abc.py sorts first among the public modules
    assert lm_ndgrad.stdlib_corpus(1000) == text[:1000]


def test_vocabulary_round_trip_and_unigram_entropy(lm_ndgrad):
    vocab = lm_ndgrad.Vocabulary("hello, w\u00f6rld\n")
    ids = vocab.encode("w\u00f6rld hello")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "w\u00f6rld hello"
    with pytest.raises(ValueError, match="'xz'"):
        vocab.encode("zox")
    assert lm_ndgrad.unigram_entropy(np.array([0, 1, 0, 1]), 3) == pytest.approx(np.log(2))


@pytest.mark.parametrize("case", ["missing", "directory", "latin1", "binary", "nul", "empty", "short"])
def test_bad_text_paths_say_what_is_wrong(lm_ndgrad, tmp_path, case):
    path = tmp_path / "corpus.txt"
    error, match = ValueError, None
    if case == "missing":
        error, match = FileNotFoundError, "no such file"
    elif case == "directory":
        path.mkdir()
        error, match = IsADirectoryError, "is a directory"
    elif case == "latin1":
        path.write_bytes("caf\u00e9 ".encode("latin-1") * 500)
        match = r"not UTF-8 text \(byte 0xe9 at offset 3\)"
    elif case == "binary":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
        match = "not UTF-8 text"
    elif case == "nul":
        path.write_bytes(b"abc\x00" * 500)
        match = "NUL bytes at offset 3"
    elif case == "empty":
        path.write_bytes(b"")
        match = "0 characters, too few for --seq-len 32"
    else:
        path.write_text("x" * 200)
        match = "200 characters, too few for --seq-len 32: .* at least 330"
    with pytest.raises(error, match=match) as info:
        lm_ndgrad.main(["--no-progress", "--seq-len", "32", "--text", str(path)])
    assert str(path) in str(info.value) or case in ("empty", "short")
