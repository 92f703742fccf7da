"""Train an MLP classifier with ndgrad.

    python examples/train.py --device cpu                      # scikit-learn's bundled digits
    python examples/train.py --device cuda --epochs 30
    python examples/train.py --data mnist --data-dir ~/mnist   # MNIST IDX files you downloaded
    python examples/train.py --plot curves.png --save model.npz
"""

import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import autograd as ag  # noqa: E402
import nn  # noqa: E402
import nn.functional as F  # noqa: E402
import optim  # noqa: E402


# --- data ----------------------------------------------------------------------------------

def load_digits(seed):
    """scikit-learn's 8x8 digits (1797 images, shipped with the package: no download), 80/20 split."""
    from sklearn.datasets import load_digits as sklearn_digits
    data = sklearn_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    split = int(0.8 * len(x))
    return x[order[:split]], y[order[:split]], x[order[split:]], y[order[split:]]


def read_idx(path):
    """One IDX file (the MNIST format), plain or gzipped, as a NumPy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        zero, dtype_code, ndim = struct.unpack(">HBB", f.read(4))
        if zero != 0 or dtype_code != 0x08:
            raise ValueError(f"{path}: not an unsigned-byte IDX file (header {zero:#x} {dtype_code:#x})")
        shape = struct.unpack(f">{ndim}I", f.read(4 * ndim))
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {int(np.prod(shape))} values for shape {shape}, found {data.size}")
    return data.reshape(shape)


def find_idx(folder, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"MNIST file {stem}[.gz] not found in {folder}; download the four IDX files "
                            f"(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                            f"t10k-labels-idx1-ubyte) into it")


def load_mnist(folder):
    folder = os.path.expanduser(folder)
    parts = []
    for prefix in ("train", "t10k"):
        images = read_idx(find_idx(folder, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(find_idx(folder, f"{prefix}-labels-idx1-ubyte"))
        parts += [(images.reshape(len(images), -1) / 255.0).astype(np.float32), labels.astype(np.int64)]
    return parts


def batches(x, y, batch_size, rng=None):
    order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


# --- training --------------------------------------------------------------------------------

def build_model(n_in, n_classes, hidden):
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, n_classes))


def evaluate(model, x, y, device, batch_size=1024):
    model.eval()
    correct, total_loss = 0, 0.0
    with ag.no_grad():
        for xb, yb in batches(x, y, batch_size):
            logits = model(ag.tensor(xb, device=device))
            target = ag.tensor(yb, device=device)
            total_loss += F.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
    model.train()
    return total_loss / len(x), correct / len(x)


def save_state(model, path):
    """Write the state_dict as .npz atomically: a crash mid-write never leaves a broken file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, **{k: v.cpu().numpy() for k, v in model.state_dict().items()})
    os.replace(tmp, path)


def plot_history(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax1.plot(epochs, [h["test_loss"] for h in history], label="test")
    ax1.set_xlabel("epoch"); ax1.set_ylabel("cross-entropy"); ax1.legend()
    ax2.plot(epochs, [h["train_acc"] for h in history], label="train")
    ax2.plot(epochs, [h["test_acc"] for h in history], label="test")
    ax2.set_xlabel("epoch"); ax2.set_ylabel("accuracy"); ax2.legend()
    fig.tight_layout()
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train an MLP with ndgrad.")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
    parser.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files (for --data mnist)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, nargs="*", default=None, help="hidden layer widths")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=None, metavar="FILE.png", help="save loss/accuracy curves")
    parser.add_argument("--save", default=None, metavar="FILE.npz", help="save the model's state_dict")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    args = parser.parse_args(argv)

    if args.data == "mnist":
        if not args.data_dir:
            parser.error("--data mnist needs --data-dir PATH (the folder with the IDX files)")
        x_train, y_train, x_test, y_test = load_mnist(args.data_dir)
        hidden = args.hidden or [256, 128]
    else:
        x_train, y_train, x_test, y_test = load_digits(args.seed)
        hidden = args.hidden or [128, 64]

    ag.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    model = build_model(x_train.shape[1], n_classes, hidden).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(f"{args.data}: {len(x_train)} train / {len(x_test)} test samples, {x_train.shape[1]} features, "
          f"{n_classes} classes; device {args.device}")
    print(model)

    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    history = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        steps = batches(x_train, y_train, args.batch_size, rng)
        n_batches = -(-len(x_train) // args.batch_size)
        if tqdm is not None and not args.no_progress:
            steps = tqdm(steps, total=n_batches, desc=f"epoch {epoch}/{args.epochs}", leave=False)
        for xb, yb in steps:
            loss = F.cross_entropy(model(ag.tensor(xb, device=args.device)), ag.tensor(yb, device=args.device))
            opt.zero_grad()
            loss.backward()
            opt.step()
        ag.cuda.synchronize(args.device) if ag.Device(args.device).type == "cuda" else None
        elapsed = time.perf_counter() - start
        train_loss, train_acc = evaluate(model, x_train, y_train, args.device)
        test_loss, test_acc = evaluate(model, x_test, y_test, args.device)
        history.append({"epoch": epoch, "train_loss": train_loss, "test_loss": test_loss,
                        "train_acc": train_acc, "test_acc": test_acc, "samples_per_s": len(x_train) / elapsed})
        print(f"epoch {epoch:3d}  loss {train_loss:.4f}  train acc {train_acc:.4f}  test acc {test_acc:.4f}  "
              f"{len(x_train) / elapsed:,.0f} samples/s")

    print(f"final test accuracy: {history[-1]['test_acc']:.4f}")
    if args.plot:
        plot_history(history, args.plot)
        print(f"saved curves to {args.plot}")
    if args.save:
        save_state(model, args.save)
        print(f"saved state_dict to {args.save}")
    return history


if __name__ == "__main__":
    main()
