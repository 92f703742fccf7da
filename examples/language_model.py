"""Train a character-level language model with ndgrad: a PyTorch script with only its imports changed.

    python examples/language_model.py                          # LSTM on ~300 KB of the stdlib's own source
    python examples/language_model.py --model transformer --sample 400
    python examples/language_model.py --text book.txt --epochs 10 --save lm.pt
    python examples/language_model.py --save lm.pt --resume lm.pt --epochs 20   # continue where lm.pt ended
    python examples/language_model.py --resume lm.pt --epochs 0 --sample 1000 --temperature 0.7

The default corpus downloads nothing and ships nothing: it is the running interpreter's own standard
library (its public top-level modules, in sorted order, up to 300,000 characters), so it is the same on
every machine with the same Python version. The model predicts each character from the ones before it;
the loss is the cross-entropy in nats per character, and the unigram entropy of the corpus (what a model
that ignores context can reach at best) is printed for reference.
"""

import argparse
import math
import os
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import autograd as ag  # noqa: E402
import nn  # noqa: E402
import nn.functional as F  # noqa: E402
import optim  # noqa: E402
from autograd.utils.data import DataLoader, TensorDataset  # noqa: E402

DEFAULT_CHARS = 300_000


# --- data ----------------------------------------------------------------------------------

def stdlib_corpus(limit=DEFAULT_CHARS):
    """The standard library's public top-level modules (``abc.py``, ``aifc.py``, ...), in sorted order,
    concatenated up to ``limit`` characters. Private modules are left out: ``_sysconfigdata_*.py``
    differs from build to build, and the corpus should depend on the Python version only."""
    folder = Path(sysconfig.get_paths()["stdlib"])
    parts, size = [], 0
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text)
        size += len(text)
        if size >= limit:
            break
    if not parts:
        raise FileNotFoundError(f"no Python sources found in the standard library folder {folder}; "
                                f"give a text file with --text PATH")
    return "".join(parts)[:limit]


def read_text(path):
    """A UTF-8 text file's contents, or an error that says what is wrong with the file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"--text {path}: no such file")
    if os.path.isdir(path):
        raise IsADirectoryError(f"--text {path}: is a directory; give a text file")
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"--text {path}: not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start}); "
                         f"give a UTF-8 text file, or convert it first (iconv -t utf-8)") from None
    if "\x00" in text:
        raise ValueError(f"--text {path}: holds NUL bytes at offset {text.index(chr(0))}, so it looks like a binary "
                         f"file; give a text file")
    return text


class Vocabulary:
    """The corpus's distinct characters, each with an index."""

    def __init__(self, chars):
        self.chars = "".join(sorted(set(chars)))
        self.codes = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)  # sorted code points

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = np.minimum(np.searchsorted(self.codes, codes), len(self.codes) - 1)
        unknown = sorted({text[i] for i in np.flatnonzero(self.codes[ids] != codes)})
        if unknown:
            raise ValueError(f"characters not in the corpus's vocabulary: {''.join(unknown)!r}")
        return ids.astype(np.int64)

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


def windows(ids, seq_len):
    """Non-overlapping (input, target) windows: the target is the input shifted one character on."""
    n = (len(ids) - 1) // seq_len
    inputs = ids[:n * seq_len].reshape(n, seq_len)
    targets = ids[1:n * seq_len + 1].reshape(n, seq_len)
    return TensorDataset(ag.from_numpy(inputs.copy()), ag.from_numpy(targets.copy()))


def split(text, seq_len, val_fraction=0.1):
    """The first 90 % of the text to train on, the last 10 % held out; each long enough for one window."""
    cut = int(len(text) * (1 - val_fraction))
    need = math.ceil((seq_len + 1) / val_fraction)
    if len(text) < need:
        raise ValueError(f"the corpus has {len(text):,} characters, too few for --seq-len {seq_len}: the held-out "
                         f"last {val_fraction:.0%} must hold one sequence of {seq_len} + 1, so give at least "
                         f"{need:,} characters (or a smaller --seq-len)")
    return text[:cut], text[cut:]


def unigram_entropy(ids, vocab_size):
    """The entropy (nats per character) of the character frequencies: the loss of the best context-free model."""
    p = np.bincount(ids, minlength=vocab_size) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


# --- models ----------------------------------------------------------------------------------

class RecurrentLM(nn.Module):
    """Embedding -> LSTM or GRU (batch_first) -> Linear, with dropout around the recurrent layers."""

    def __init__(self, kind, vocab_size, hidden, layers, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden)
        rnn = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn = rnn(hidden, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        out, state = self.rnn(self.drop(self.embedding(x)), state)
        return self.head(self.drop(out)), state


def sinusoidal_positions(length, width):
    """The Transformer paper's fixed position encodings: sin/cos at geometrically spaced frequencies."""
    position = np.arange(length)[:, None]
    frequency = np.exp(np.arange(0, width, 2) * (-math.log(10000.0) / width))
    table = np.zeros((length, width), dtype=np.float32)
    table[:, 0::2] = np.sin(position * frequency)
    table[:, 1::2] = np.cos(position * frequency)[:, :width // 2]
    return ag.from_numpy(table)


class TransformerLM(nn.Module):
    """Embedding + positions -> TransformerEncoder under a causal mask -> Linear."""

    def __init__(self, vocab_size, hidden, layers, heads, dropout, context, positions):
        super().__init__()
        self.context = context
        self.embedding = nn.Embedding(vocab_size, hidden)
        if positions == "learned":
            self.positions = nn.Embedding(context, hidden)
        else:
            self.positions = None
            self.register_buffer("position_table", sinusoidal_positions(context, hidden), persistent=False)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(hidden, heads, dim_feedforward=4 * hidden, dropout=dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        length = x.shape[1]
        if length > self.context:
            raise ValueError(f"a sequence of {length} characters is longer than the model's context {self.context}")
        if self.positions is not None:
            where = self.positions(ag.arange(length, device=x.device))
        else:
            where = self.position_table[:length]
        h = self.drop(self.embedding(x) + where)
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=x.device, dtype=h.dtype)
        return self.head(self.encoder(h, mask=mask)), None


def build_model(args, vocab_size):
    if args.model == "transformer":
        if args.hidden % args.heads:
            raise ValueError(f"--hidden {args.hidden} must be a multiple of --heads {args.heads}")
        return TransformerLM(vocab_size, args.hidden, args.layers, args.heads, args.dropout, args.seq_len,
                             args.positions)
    return RecurrentLM(args.model, vocab_size, args.hidden, args.layers, args.dropout)


# --- training and sampling -------------------------------------------------------------------

def evaluate(model, loader, device, vocab_size):
    """Mean cross-entropy (nats per character) over every window of ``loader``."""
    model.eval()
    total, count = 0.0, 0
    with ag.no_grad():
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            logits, _ = model(xb)
            total += F.cross_entropy(logits.reshape(-1, vocab_size), yb.reshape(-1), reduction="sum").item()
            count += yb.numel()
    model.train()
    return total / count


def generate(model, vocab, prompt, length, temperature, device, context):
    """``length`` characters drawn one at a time after ``prompt``; temperature 0 takes the likeliest."""
    model.eval()
    ids = [int(i) for i in vocab.encode(prompt)]
    recurrent = isinstance(model, RecurrentLM)
    out, state = [], None
    with ag.no_grad():
        feed = ids if recurrent else ids[-context:]
        for _ in range(length):
            logits, state = model(ag.tensor([feed], dtype=ag.int64, device=device), state)
            logits = logits[0, -1]
            if temperature == 0:
                nxt = int(logits.argmax().item())
            else:
                nxt = int(ag.multinomial(F.softmax(logits / temperature, dim=-1), 1).item())
            out.append(nxt)
            ids.append(nxt)
            feed = [nxt] if recurrent else ids[-context:]  # a recurrent model carries the rest in its state
    model.train()
    return vocab.decode(out)


def plot_history(history, entropy, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="held out")
    ax.axhline(entropy, color="gray", linestyle="--", label="unigram entropy")
    ax.set_xlabel("epoch"); ax.set_ylabel("cross-entropy (nats/char)"); ax.legend()
    fig.tight_layout()
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


ARCHITECTURE = ("model", "hidden", "layers", "heads", "positions", "seq_len", "dtype")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train a character-level language model with ndgrad.")
    parser.add_argument("--model", default="lstm", choices=["lstm", "gru", "transformer"])
    parser.add_argument("--text", default=None, metavar="PATH",
                        help="a UTF-8 text file to train on (default: ~300 KB of the standard library's source)")
    parser.add_argument("--max-chars", type=int, default=None, help="use only the first N characters of the corpus")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=64, help="characters per training sequence")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate")
    parser.add_argument("--hidden", type=int, default=128, help="embedding and hidden width (d_model)")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4, help="attention heads (transformer)")
    parser.add_argument("--positions", default="learned", choices=["learned", "sinusoidal"],
                        help="position encodings (transformer)")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--clip", type=float, default=1.0, metavar="MAX_NORM",
                        help="clip the gradient norm (0: no clipping)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, metavar="PATH",
                        help="after every epoch, write a checkpoint (model, optimizer, epoch, RNG states)")
    parser.add_argument("--resume", default=None, metavar="PATH", help="continue from a checkpoint")
    parser.add_argument("--sample", type=int, default=0, metavar="N", help="print N generated characters at the end")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (0: always the likeliest)")
    parser.add_argument("--prompt", default=None, help="text to start sampling from (default: the corpus's first "
                                                       "character)")
    parser.add_argument("--plot", default=None, metavar="FILE.png", help="save the loss curves")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    args = parser.parse_args(argv)
    for name in ("epochs", "max_chars"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0")
    for name in ("seq_len", "batch_size", "hidden", "layers", "heads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.sample < 0 or args.temperature < 0 or not 0 <= args.dropout < 1:
        parser.error("--sample and --temperature must be >= 0, --dropout in [0, 1)")
    if args.prompt == "":
        parser.error("--prompt must hold at least one character")

    text = read_text(args.text) if args.text else stdlib_corpus(args.max_chars or DEFAULT_CHARS)
    if args.max_chars is not None:
        text = text[:args.max_chars]
    train_text, val_text = split(text, args.seq_len)
    vocab = Vocabulary(text)
    train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
    entropy = unigram_entropy(train_ids, len(vocab))
    source = args.text or f"the standard library of Python {sys.version.split()[0]}"
    print(f"{source}: {len(text):,} characters ({len(train_text):,} train, {len(val_text):,} held out), "
          f"vocabulary {len(vocab)}")
    print(f"unigram entropy {entropy:.3f} nats/char ({entropy / math.log(2):.3f} bits, perplexity "
          f"{math.exp(entropy):.1f}): the best a model that ignores context can do (uniform: "
          f"{math.log(len(vocab)):.3f})")

    dtype = getattr(ag, args.dtype)
    ag.manual_seed(args.seed)
    generator = ag.Generator().manual_seed(args.seed)  # the shuffling order, saved in checkpoints
    train_loader = DataLoader(windows(train_ids, args.seq_len), batch_size=args.batch_size, shuffle=True,
                              generator=generator)
    val_loader = DataLoader(windows(val_ids, args.seq_len), batch_size=256)
    model = build_model(args, len(vocab)).to(device=args.device, dtype=dtype)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    print(model)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters; device {args.device}, {args.dtype}")

    history, start_epoch = [], 1
    if args.resume:
        checkpoint = ag.load(args.resume, map_location="cpu")
        if checkpoint["vocab"] != vocab.chars:
            raise ValueError(f"--resume {args.resume}: the checkpoint was trained on another corpus (a vocabulary of "
                             f"{len(checkpoint['vocab'])} characters, this one has {len(vocab)}); give the same "
                             f"--text and --max-chars")
        changed = {k: (checkpoint["architecture"][k], getattr(args, k)) for k in ARCHITECTURE
                   if checkpoint["architecture"][k] != getattr(args, k)}
        if changed:
            options = ", ".join(f"--{k.replace('_', '-')} {old} (not {new})" for k, (old, new) in changed.items())
            raise ValueError(f"--resume {args.resume}: the checkpoint was trained with other options: {options}")
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        ag.set_rng_state(checkpoint["rng_state"])
        generator.set_state(checkpoint["loader_rng_state"])
        history, start_epoch = checkpoint["history"], checkpoint["epoch"] + 1
        print(f"resumed from {args.resume} after epoch {checkpoint['epoch']}")

    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    for epoch in range(start_epoch, args.epochs + 1):
        start = time.perf_counter()
        batches = train_loader
        if tqdm is not None and not args.no_progress:
            batches = tqdm(train_loader, desc=f"epoch {epoch}/{args.epochs}", leave=False)
        total, count = 0.0, 0
        for step, (xb, yb) in enumerate(batches):
            xb, yb = xb.to(args.device), yb.to(args.device)
            logits, _ = model(xb)
            loss = F.cross_entropy(logits.reshape(-1, len(vocab)), yb.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            if args.clip:
                nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            total = total + loss.detach() * yb.numel()  # stays on the device: no wait for the GPU per step
            count += yb.numel()
            if tqdm is not None and not args.no_progress and step % 20 == 0:
                batches.set_postfix(loss=f"{loss.item():.3f}")
        train_loss = float(total.item()) / count
        elapsed = time.perf_counter() - start
        val_loss = evaluate(model, val_loader, args.device, len(vocab))
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                        "val_perplexity": math.exp(val_loss), "chars_per_s": count / elapsed})
        print(f"epoch {epoch:3d}  loss {train_loss:.4f}  held-out loss {val_loss:.4f}  perplexity "
              f"{math.exp(val_loss):.2f}  ({val_loss / math.log(2):.3f} bits/char)  {count / elapsed:,.0f} chars/s")
        if args.save:
            ag.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "rng_state": ag.get_rng_state(), "loader_rng_state": generator.get_state(),
                     "history": history, "vocab": vocab.chars,
                     "architecture": {k: getattr(args, k) for k in ARCHITECTURE}}, args.save)

    if history:
        print(f"final held-out loss {history[-1]['val_loss']:.4f} nats/char against the unigram entropy "
              f"{entropy:.4f}")
    if args.plot:
        plot_history(history, entropy, args.plot)
        print(f"saved curves to {args.plot}")
    sample = ""
    if args.sample:
        prompt = args.prompt if args.prompt is not None else text[0]
        sample = generate(model, vocab, prompt, args.sample, args.temperature, args.device, args.seq_len)
        print(f"--- {args.sample} characters at temperature {args.temperature} after {prompt!r} ---")
        print(prompt + sample)
    return {"history": history, "unigram_entropy": entropy, "sample": sample}


if __name__ == "__main__":
    main()
