"""Train an MLP or a LeNet-style CNN with ndgrad: a PyTorch training script with only its imports changed.

    python examples/train.py --device cpu                      # scikit-learn's bundled digits, an MLP
    python examples/train.py --model cnn                       # the same digits as 1x8x8 images, a small CNN
    python examples/train.py --device cuda --epochs 30 --scheduler cosine --clip 1.0
    python examples/train.py --device cuda --amp               # mixed precision: float16 autocast + GradScaler
    python examples/train.py --amp                             # on the CPU: bfloat16 autocast, no scaler
    python examples/train.py --data mnist --data-dir ~/mnist   # MNIST IDX files you downloaded
    python examples/train.py --plot curves.png --save model.npz
    python examples/train.py --checkpoint ckpt.pt              # saved after every epoch; after a crash:
    python examples/train.py --checkpoint ckpt.pt --resume ckpt.pt   # same options: continues exactly
    mpirun -n 2 python examples/train.py --distributed         # data-parallel: one process per CPU share or GPU
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
from autograd.serialization import save_npz  # noqa: E402
from autograd.utils.data import DataLoader, DistributedSampler, TensorDataset, random_split  # noqa: E402


# --- data ----------------------------------------------------------------------------------

def load_digits(dtype, seed, as_images=False):
    """scikit-learn's 8x8 digits (1797 images, shipped with the package: no download), 80/20 split; each
    sample a flat vector of 64 features, or with ``as_images`` a 1x8x8 image."""
    from sklearn.datasets import load_digits as sklearn_digits
    data = sklearn_digits()
    pixels = data.images.reshape(-1, 1, 8, 8) if as_images else data.data
    dataset = TensorDataset(ag.tensor(pixels / 16.0, dtype=dtype), ag.tensor(data.target, dtype=ag.int64))
    return random_split(dataset, [0.8, 0.2], generator=ag.Generator().manual_seed(seed))


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


def load_mnist(folder, dtype, as_images=False):
    """The MNIST train and test sets as TensorDatasets of (image in [0, 1], label): flattened to 784 values,
    or with ``as_images`` kept as 1x28x28."""
    folder = os.path.expanduser(folder)
    datasets = []
    for prefix in ("train", "t10k"):
        images = read_idx(find_idx(folder, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(find_idx(folder, f"{prefix}-labels-idx1-ubyte"))
        pixels = images.reshape(len(images), 1, 28, 28) if as_images else images.reshape(len(images), -1)
        datasets.append(TensorDataset(ag.tensor(pixels / 255.0, dtype=dtype),
                                      ag.tensor(labels, dtype=ag.int64)))
    return datasets


# --- training --------------------------------------------------------------------------------

def build_model(n_in, n_classes, hidden):
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, n_classes))


class LeNet(nn.Module):
    """LeNet-style: two 3x3 convolutions, each with BatchNorm, ReLU and 2x2 max-pooling, then linear layers
    with dropout. A 1x8x8 digit becomes 16x4x4, then 32x2x2; a 1x28x28 MNIST image 16x14x14, then 32x7x7."""

    def __init__(self, image_size, n_classes, hidden, channels=(16, 32), dropout=0.25):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        )
        layers, width = [], c2 * (image_size // 4) ** 2
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.classifier = nn.Sequential(*layers, nn.Linear(width, n_classes))

    def forward(self, x):
        return self.classifier(ag.flatten(self.features(x), 1))


def build_scheduler(name, optimizer, args, steps_per_epoch):
    if name == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    if name == "step":
        return optim.lr_scheduler.StepLR(optimizer, step_size=max(1, args.epochs // 3), gamma=0.1)
    if name == "onecycle":
        return optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                             steps_per_epoch=steps_per_epoch)
    return None


def evaluate(model, loader, device):
    model.eval()
    correct, total_loss = 0, 0.0
    with ag.no_grad():
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    model.train()
    return total_loss / len(loader.dataset), correct / len(loader.dataset)


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
    parser = argparse.ArgumentParser(description="Train an MLP or a LeNet-style CNN with ndgrad.")
    parser.add_argument("--model", default="mlp", choices=["mlp", "cnn"],
                        help="mlp: linear layers on flattened images; cnn: LeNet-style convolutions on 1xHxW images")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
    parser.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files (for --data mnist)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (0: load in this one)")
    parser.add_argument("--lr", type=float, default=3e-3, help="learning rate (the peak one for onecycle)")
    parser.add_argument("--scheduler", default="cosine", choices=["none", "cosine", "step", "onecycle"],
                        help="cosine and step change the lr every epoch, onecycle every batch")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision: autocast to float16 with a GradScaler on CUDA, to bfloat16 on the CPU")
    parser.add_argument("--clip", type=float, default=None, metavar="MAX_NORM", help="clip the gradient norm")
    parser.add_argument("--hidden", type=int, nargs="*", default=None,
                        help="hidden linear layer widths (for cnn: those after the convolutions)")
    parser.add_argument("--dropout", type=float, default=0.25, help="cnn: dropout after each hidden linear layer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None, metavar="PATH", help="save a checkpoint after every epoch")
    parser.add_argument("--resume", default=None, metavar="PATH", help="continue from a checkpoint")
    parser.add_argument("--plot", default=None, metavar="FILE.png", help="save loss/accuracy curves")
    parser.add_argument("--save", default=None, metavar="FILE",
                        help="save the model's state_dict: .npz for NumPy, any other name for autograd.save")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel under mpirun -n N: DistributedDataParallel over MPI (cpu) or NCCL (cuda, "
                             "one GPU per rank); --batch-size is per rank; only rank 0 prints and saves")
    args = parser.parse_args(argv)

    rank, log = 0, print
    if args.distributed:
        import autograd.distributed as dist
        dist.init_process_group("nccl" if ag.Device(args.device).type == "cuda" else "mpi")
        rank = dist.get_rank()
        if ag.Device(args.device).type == "cuda":  # one GPU per rank: the launcher says which on this machine
            args.device = f"cuda:{int(os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', rank))}"
        if rank != 0:
            log, args.no_progress = (lambda *a, **k: None), True

    dtype = getattr(ag, args.dtype)
    if args.amp and dtype != ag.float32:
        parser.error("--amp needs --dtype float32: autocast leaves float64 as it is")
    images = args.model == "cnn"
    if args.data == "mnist":
        if not args.data_dir:
            parser.error("--data mnist needs --data-dir PATH (the folder with the IDX files)")
        train_set, test_set = load_mnist(args.data_dir, dtype, as_images=images)
        default_hidden = [128] if images else [256, 128]
    else:
        train_set, test_set = load_digits(dtype, args.seed, as_images=images)
        default_hidden = [64] if images else [128, 64]
    hidden = default_hidden if args.hidden is None else args.hidden

    ag.manual_seed(args.seed)
    generator = ag.Generator().manual_seed(args.seed)  # the shuffling order, saved in checkpoints
    sampler = DistributedSampler(train_set, seed=args.seed) if args.distributed else None  # this rank's share
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler,
                              generator=generator, num_workers=args.workers)
    train_eval_loader = DataLoader(train_set, batch_size=1024)
    test_loader = DataLoader(test_set, batch_size=1024)
    sample_shape, n_classes = tuple(train_set[0][0].shape), 10  # digits and MNIST both have ten classes
    if images:
        model = LeNet(sample_shape[-1], n_classes, hidden, dropout=args.dropout)
    else:
        model = build_model(sample_shape[0], n_classes, hidden)
    model = model.to(device=args.device, dtype=dtype)
    net = model  # what is evaluated and saved: the model itself, also under DDP
    if args.distributed:  # rank 0's weights are broadcast; gradients are averaged across ranks during backward
        model = nn.parallel.DistributedDataParallel(model)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = build_scheduler(args.scheduler, optimizer, args, len(train_loader))
    # mixed precision: the weights stay float32, autocast runs the forward pass in float16 (CUDA) or bfloat16
    # (CPU); float16 gradients underflow, so on CUDA the loss is scaled (disabled, the scaler passes through)
    device_type = ag.Device(args.device).type
    amp_dtype = ag.float16 if device_type == "cuda" else ag.bfloat16
    scaler = ag.amp.GradScaler(device_type, enabled=args.amp and device_type == "cuda")
    log(f"{args.data}: {len(train_set)} train / {len(test_set)} test samples of shape {sample_shape}, "
          f"{n_classes} classes; device {args.device}, {args.dtype}"
          + (f", {dist.get_world_size()} ranks" if args.distributed else "")
          + (f", autocast to {amp_dtype}" + (" with a GradScaler" if scaler.is_enabled() else "") if args.amp else ""))
    log(model)

    history, start_epoch = [], 1
    if args.resume:
        checkpoint = ag.load(args.resume, map_location="cpu")
        net.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if checkpoint.get("scaler"):
            scaler.load_state_dict(checkpoint["scaler"])
        if scheduler is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])
        ag.set_rng_state(checkpoint["rng_state"])
        generator.set_state(checkpoint["loader_rng_state"])
        history, start_epoch = checkpoint["history"], checkpoint["epoch"] + 1
        log(f"resumed from {args.resume} after epoch {checkpoint['epoch']}")

    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    for epoch in range(start_epoch, args.epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        if sampler is not None:
            sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        batches = train_loader
        if tqdm is not None and not args.no_progress:
            batches = tqdm(train_loader, desc=f"epoch {epoch}/{args.epochs}", leave=False)
        for xb, yb in batches:
            xb, yb = xb.to(args.device), yb.to(args.device)
            with ag.autocast(device_type, dtype=amp_dtype, enabled=args.amp):
                loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            scaler.scale(loss).backward()  # backward outside autocast, as PyTorch recommends
            if args.clip is not None:
                scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            scaler.step(optimizer)  # skipped when a gradient is inf/NaN
            scaler.update()
            if args.scheduler == "onecycle":
                scheduler.step()
        if scheduler is not None and args.scheduler != "onecycle":
            scheduler.step()
        if ag.Device(args.device).type == "cuda":
            ag.cuda.synchronize(args.device)
        elapsed = time.perf_counter() - start
        train_loss, train_acc = evaluate(net, train_eval_loader, args.device)
        test_loss, test_acc = evaluate(net, test_loader, args.device)
        history.append({"epoch": epoch, "lr": lr, "train_loss": train_loss, "test_loss": test_loss,
                        "train_acc": train_acc, "test_acc": test_acc, "samples_per_s": len(train_set) / elapsed})
        log(f"epoch {epoch:3d}  lr {lr:.2e}  loss {train_loss:.4f}  train acc {train_acc:.4f}  "
              f"test acc {test_acc:.4f}  {len(train_set) / elapsed:,.0f} samples/s")
        if args.checkpoint and rank == 0:
            ag.save({"epoch": epoch, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict() if scheduler is not None else None,
                     "scaler": scaler.state_dict(),
                     "rng_state": ag.get_rng_state(), "loader_rng_state": generator.get_state(),
                     "history": history}, args.checkpoint)

    if history:
        log(f"final test accuracy: {history[-1]['test_acc']:.4f}")
    if args.plot and rank == 0:
        plot_history(history, args.plot)
        log(f"saved curves to {args.plot}")
    if args.save and rank == 0:
        if args.save.endswith(".npz"):
            save_npz(net.state_dict(), args.save)
        else:
            ag.save(net.state_dict(), args.save)
        log(f"saved state_dict to {args.save}")
    if args.distributed:
        dist.destroy_process_group()
    return history


if __name__ == "__main__":
    main()
