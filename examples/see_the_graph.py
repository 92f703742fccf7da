"""See what autograd records and runs, on a small MLP and a small CNN:

    python examples/see_the_graph.py                 # prints the tapes, writes the pictures to ./see_the_graph/
    python examples/see_the_graph.py --out /tmp/viz

1. the graph as a picture (graph_mlp.svg with `pip install 'ndgrad[viz]'` and Graphviz's dot, else graph_mlp.dot),
2. the forward pass as a Wengert list, and the adjoint program backward runs, with where buffers are released,
3. live memory during backward, with and without early release (memory_mlp.png, memory_cnn.png),
4. numerical differentiation: the error of a central difference over step sizes, the U-shaped curve
   (step_sweep.png), beside the complex step, which has no such floor,
5. gradient checkpointing: the same gradients from a checkpointed model, and its lower peak memory.
"""

import argparse
import os
import sys
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import autograd as ag  # noqa: E402
import nn  # noqa: E402
import nn.functional as F  # noqa: E402
from autograd import numerical, viz  # noqa: E402
from autograd.utils.checkpoint import checkpoint_sequential  # noqa: E402


def models():
    ag.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32, 10))
    x_mlp, x_cnn, y = ag.randn(16, 64), ag.randn(16, 1, 8, 8), ag.randint(0, 10, (16,))
    return {"mlp": (mlp, x_mlp, y), "cnn": (cnn, x_cnn, y)}


def show_graphs(out):
    for name, (model, x, y) in models().items():
        params = dict(model.named_parameters())
        loss = F.cross_entropy(model(x), y)
        print(f"=== {name}: the forward pass, one primitive per line ===")
        print(viz.tape(loss, params=params))
        print(f"=== {name}: the adjoint program backward runs ===")
        print(viz.tape(loss, backward=True, params=params))
        viz.to_dot(loss, params=params, show_saved=True, path=os.path.join(out, f"graph_{name}.svg"))
        timeline = viz.memory_timeline(lambda: F.cross_entropy(model(x), y),
                                       path=os.path.join(out, f"memory_{name}.png") if _has_matplotlib() else None)
        print(f"=== {name}: {timeline} ===\n")


def show_step_sizes(out):
    f, x = (lambda v: np.exp(v) * np.sin(v)), 1.0
    print("=== numerical differentiation of exp(x) sin(x) at x = 1 ===")
    for accuracy in (2, 4):
        sweep = numerical.error_sweep(f, x, accuracy=accuracy)
        print(f"central difference, accuracy {accuracy}: {sweep}")
    exact = np.exp(x) * (np.sin(x) + np.cos(x))
    print(f"complex step error: {abs(numerical.complex_step(f, x) - exact):.1e}; Richardson (h=0.1, 3 levels) "
          f"error: {abs(numerical.richardson(f, x, 0.1, levels=3) - exact):.1e}\n")
    if not _has_matplotlib():
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for accuracy in (2, 4):
        sweep = numerical.error_sweep(f, x, accuracy=accuracy)
        line, = ax.loglog(sweep.steps, sweep.errors, label=f"central, accuracy {accuracy}")
        ax.loglog(sweep.steps, sweep.truncation + sweep.rounding, ":", color=line.get_color())
        ax.axvline(sweep.optimal_step, color=line.get_color(), alpha=0.3)
    ax.set_ylim(1e-17, 1)
    ax.set_xlabel("step h")
    ax.set_ylabel("|error|")
    ax.set_title("truncation (right) vs rounding (left); dotted: the model")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "step_sweep.png"))
    plt.close(fig)


def show_checkpointing():
    ag.manual_seed(0)
    layers = []
    for _ in range(16):
        layers += [nn.Linear(64, 64), nn.Tanh()]
    model = nn.Sequential(*layers)
    x = ag.randn(512, 64)
    peaks, grads = {}, {}
    for segments in (None, 4):
        model.zero_grad()
        tracemalloc.start()
        out = model(x) if segments is None else checkpoint_sequential(model, segments, x, use_reentrant=False)
        out.sum().backward()
        peaks[segments] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        grads[segments] = model[0].weight.grad.numpy().copy()
    same = np.allclose(grads[None], grads[4], rtol=1e-5, atol=1e-7)
    print(f"=== checkpointing a 16-layer MLP in 4 segments: peak {peaks[4] / 2**20:.1f} MiB instead of "
          f"{peaks[None] / 2**20:.1f} MiB, same gradients: {same} ===")
    return peaks, same


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="see_the_graph", help="folder for the pictures")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    show_graphs(args.out)
    show_step_sizes(args.out)
    return show_checkpointing()


if __name__ == "__main__":
    main()
