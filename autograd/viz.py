"""Seeing the recorded graph: as a picture (``to_dot``), as a program (``tape``), as memory over time
(``memory_timeline``).

    from autograd import viz
    print(viz.tape(loss))                        # v3 = mul(v1, v2)  # (64, 128) float32 ...
    print(viz.tape(loss, backward=True))         # the adjoint program backward runs, and when buffers go
    viz.to_dot(loss, params=dict(model.named_parameters()), show_saved=True, path="graph.svg")
    timeline = viz.memory_timeline(lambda: loss_fn(model(x), y), path="memory.png")

The forward order a tape shows is a topological order of the graph (inputs before the ops that read
them), which is the order the ops ran in up to the order of independent branches: the graph does not
record time. The backward order is the engine's own (the same dependency counting and ready stack).
"""

import weakref

from . import engine
from .function import AccumulateGrad, _Output
from .tensor import Tensor

__all__ = ["to_dot", "tape", "memory_timeline", "Timeline"]


# --- the graph, walked once --------------------------------------------------------------------------

class _Graph:
    """The nodes behind ``roots`` in forward order, a name ``v<k>`` for every value, and its shape and dtype."""

    def __init__(self, roots, params=None):
        roots = [roots] if isinstance(roots, Tensor) else list(roots)
        starts = [r.grad_fn for r in roots if r.grad_fn is not None]
        if not starts:
            raise RuntimeError("viz: the tensor has no recorded graph (grad_fn is None); compute it from tensors "
                               "that require grad, outside no_grad()")
        self.names = {id(p): name for name, p in (params or {}).items()}
        self.nodes = _forward_order(starts)
        self.meta = {}  # (node, output_nr) -> (shape, dtype)
        for node in self.nodes:
            for (nxt, nr), meta in zip(node.next_functions, getattr(node, "input_meta", ())):
                if nxt is not None and meta is not None:
                    self.meta[nxt, nr] = meta
        for r in roots:
            if r.grad_fn is not None:
                self.meta[r.grad_fn, r._output_nr] = (r.array.shape, r.array.dtype)
        self.var = {}  # (node, output_nr) -> "v<k>"
        for node in self.nodes:
            for nr in range(node.num_outputs):
                self.var[node, nr] = f"v{len(self.var) + 1}"
        self.leaf_var = {id(n.variable): self.var[n, 0] for n in self.nodes if type(n) is AccumulateGrad}
        self.roots = roots

    def describe(self, node, nr=0):
        shape, dtype = self.meta.get((node, nr), (None, None))
        return "?" if shape is None else f"{tuple(shape)} {dtype}"

    def inputs(self, node):
        return [self.var[nxt, nr] if nxt is not None else "c" for nxt, nr in node.next_functions]

    def outputs(self, node):
        return [self.var[node, nr] for nr in range(node.num_outputs)]

    def leaf_name(self, node):
        return self.names.get(id(node.variable), "input")

    def saved(self, node):
        """What ``node`` holds for backward: [(what it is, shape, dtype, bytes)], each array once."""
        entries, seen = [], set()
        for tensor, array, _, _ in getattr(node, "_saved", None) or ():
            if not hasattr(array, "nbytes") or id(array) in seen:
                continue
            seen.add(id(array))
            if type(tensor) is _Output:
                what = self.var[node, tensor.nr]
            elif isinstance(tensor, Tensor) and tensor.grad_fn is not None and (tensor.grad_fn, tensor._output_nr) in self.var:
                what = self.var[tensor.grad_fn, tensor._output_nr]
            elif id(tensor) in self.leaf_var:
                what = self.leaf_var[id(tensor)]
            else:
                what = "buffer"  # a helper forward made (a mask, indices), or an input that needs no gradient
            entries.append((what, tuple(array.shape), array.dtype, int(array.nbytes)))
        return entries


def _op(node):
    return getattr(node, "op", None) or node.name()


def _forward_order(starts):
    """Every node reachable from ``starts``, each after all the nodes it reads from (iterative post-order)."""
    order, done, stack = [], set(), [(n, False) for n in reversed(starts)]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if expanded:
            done.add(node)
            order.append(node)
            continue
        stack.append((node, True))
        for nxt, _ in reversed(node.next_functions):
            if nxt is not None and nxt not in done:
                stack.append((nxt, False))
    return order


def _backward_order(starts):
    """The order the engine runs nodes in: the same dependency counts and the same last-in-first-out ready list."""
    dependencies = engine._count_dependencies(starts)
    ready, order = [n for n in starts if dependencies.get(n, 0) == 0], []
    while ready:
        node = ready.pop()
        order.append(node)
        for nxt, _ in node.next_functions:
            if nxt is not None:
                dependencies[nxt] -= 1
                if dependencies[nxt] == 0:
                    ready.append(nxt)
    return order


def _size(nbytes):
    for unit in ("B", "KiB", "MiB"):
        if nbytes < 1024 or unit == "MiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


# --- the Wengert list -----------------------------------------------------------------------------------

# How the adjoint of a few common ops reads (y: the output, x0, x1: the inputs, ybar: the incoming gradient);
# any other op is shown as the call of its vector-Jacobian product.
_ADJOINTS = {
    "add": ("{ybar}", "{ybar}"),
    "sub": ("{ybar}", "-{ybar}"),
    "mul": ("{ybar} * {x1}", "{ybar} * {x0}"),
    "div": ("{ybar} / {x1}", "-{ybar} * {y} / {x1}"),
    "neg": ("-{ybar}",),
    "matmul": ("{ybar} @ {x1}.T", "{x0}.T @ {ybar}"),
    "exp": ("{ybar} * {y}",),
    "log": ("{ybar} / {x0}",),
    "tanh": ("{ybar} * (1 - {y}**2)",),
    "sigmoid": ("{ybar} * {y} * (1 - {y})",),
    "relu": ("{ybar} * ({x0} > 0)",),
    "sum": ("broadcast({ybar})",),
    "mean": ("broadcast({ybar}) / n",),
}


def tape(y, backward=False, params=None):
    """The computation behind ``y`` as a Wengert list, one primitive per line::

        v1 = input  # (4, 8) float32
        v2 = param fc.weight  # (3, 8) float32
        v3 = linear(v1, v2, v4)  # (4, 3) float32

    With ``backward=True``, the adjoint program the engine runs, in its order: one ``x_bar += ...`` line
    per input gradient, ``del v_bar`` where a gradient buffer is dropped and ``release v.saved`` where a
    node's saved tensors are freed (at the end, when autograd.engine.set_early_release(False)).
    ``params`` (a name -> tensor dict, e.g. ``dict(model.named_parameters())``) names the leaves."""
    graph = _Graph(y, params)
    lines = []
    for node in graph.nodes:
        if type(node) is AccumulateGrad:
            kind = "param " + graph.leaf_name(node) if id(node.variable) in graph.names else "input"
            lines.append(f"{graph.var[node, 0]} = {kind}  # {graph.describe(node)}")
            continue
        outs = graph.outputs(node)
        shapes = ", ".join(graph.describe(node, nr) for nr in range(node.num_outputs))
        lines.append(f"{', '.join(outs)} = {_op(node)}({', '.join(graph.inputs(node))})  # {shapes}")
    if not backward:
        return "\n".join(lines)

    lines = [f"# backward of {graph.var[graph.roots[0].grad_fn, graph.roots[0]._output_nr]}: "
             f"{graph.var[graph.roots[0].grad_fn, graph.roots[0]._output_nr]}_bar = 1"]
    late = []  # release lines deferred to the end when early release is off
    for node in _backward_order(list(dict.fromkeys(r.grad_fn for r in graph.roots if r.grad_fn is not None))):
        if type(node) is AccumulateGrad:
            name = graph.leaf_name(node) if id(node.variable) in graph.names else graph.var[node, 0]
            lines.append(f"{name}.grad += {graph.var[node, 0]}_bar")
            continue
        outs, ins = graph.outputs(node), graph.inputs(node)
        values = {"y": outs[0], "ybar": outs[0] + "_bar"}
        values.update({f"x{i}": v for i, v in enumerate(ins)})
        rules = _ADJOINTS.get(_op(node)) if node.num_outputs == 1 else None
        for i, x in enumerate(ins):
            if x == "c":
                continue
            if rules is not None and i < len(rules):
                rule = rules[i].format(**values)
                sign = "-=" if rule.startswith("-") else "+="
                lines.append(f"{x}_bar {sign} {rule.lstrip('-')}")
            else:
                bars = ", ".join(o + "_bar" for o in outs)
                lines.append(f"{x}_bar += {_op(node)}_vjp[{i}]({bars})")
        frees = [f"del {', '.join(o + '_bar' for o in outs)}"]
        saved = graph.saved(node)
        if saved:
            held = ", ".join(f"{what} {shape} {dtype}" for what, shape, dtype, _ in saved)
            frees.append(f"release {outs[0]}.saved  # {_op(node)}: {held}: "
                         f"{_size(sum(b for *_, b in saved))}")
        if engine.early_release:
            lines += frees
        else:
            late += frees
    return "\n".join(lines + late)


# --- the picture --------------------------------------------------------------------------------------

def to_dot(y, params=None, show_saved=False, path=None):
    """The graph behind ``y`` as Graphviz DOT text: one box per op (its name, output shape and dtype, and
    the bytes it holds for backward), one per leaf (named from ``params``), edges in the direction data
    flows. ``show_saved`` adds the saved tensors themselves. With ``path`` ("graph.svg", "graph.png")
    it is also rendered there through the ``graphviz`` package (``pip install 'ndgrad[viz]'`` and
    Graphviz's ``dot``); without them the DOT text is written to that path with the suffix ``.dot``."""
    graph = _Graph(y, params)
    lines = ["digraph autograd {", '  rankdir="TB";', '  node [shape=box, fontname="monospace", fontsize=10];']
    for node in graph.nodes:
        nid = f"n{id(node)}"
        if type(node) is AccumulateGrad:
            name = graph.leaf_name(node)
            fill = "lightblue" if id(node.variable) in graph.names else "lightgray"
            lines.append(f'  {nid} [label="{name}\\n{graph.describe(node)}", style=filled, fillcolor={fill}];')
            continue
        saved = graph.saved(node)
        holds = sum(b for *_, b in saved)
        shapes = "\\n".join(graph.describe(node, nr) for nr in range(node.num_outputs))
        label = f"{', '.join(graph.outputs(node))} = {_op(node)}\\n{shapes}\\nsaved {_size(holds)}"
        lines.append(f'  {nid} [label="{label}"];')
        for nxt, _ in node.next_functions:
            if nxt is not None:
                lines.append(f"  n{id(nxt)} -> {nid};")
        if show_saved:
            for k, (what, shape, dtype, nbytes) in enumerate(saved):
                sid = f"s{id(node)}_{k}"
                lines.append(f'  {sid} [label="saved {what}\\n{shape} {dtype}\\n{_size(nbytes)}", shape=ellipse, '
                             f'style=dashed];')
                lines.append(f"  {sid} -> {nid} [style=dashed, arrowhead=none];")
    for r in graph.roots:
        lines.append(f'  out{id(r)} [label="output\\n{tuple(r.shape)} {r.dtype}", style=filled, fillcolor=gold];')
        lines.append(f"  n{id(r.grad_fn)} -> out{id(r)};")
    lines.append("}")
    text = "\n".join(lines)
    if path is not None:
        _render(text, str(path))
    return text


def _render(text, path):
    import os
    import shutil
    stem, suffix = os.path.splitext(path)
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is None or shutil.which("dot") is None:
        with open(stem + ".dot", "w") as f:
            f.write(text)
        return stem + ".dot"
    return graphviz.Source(text).render(outfile=path, format=(suffix.lstrip(".") or "svg"), cleanup=True)


# --- memory over the backward pass ------------------------------------------------------------------------

class Timeline:
    """Live bytes after every node of a backward pass: ``release`` with early release (the engine's default),
    ``kept`` with it off (None when ``memory_timeline`` was given a tensor, whose graph runs only once).
    Each is a list of rows ``{"step", "node", "saved", "grads", "live"}``; row 0 is before the first node."""

    def __init__(self, release, kept):
        self.release, self.kept = release, kept

    @staticmethod
    def peak(trace):
        return max(row["live"] for row in trace)

    def __repr__(self):
        text = f"Timeline({len(self.release)} steps, peak {_size(self.peak(self.release))} with early release"
        if self.kept is not None:
            text += f", {_size(self.peak(self.kept))} without"
        return text + ")"


def memory_timeline(loss, path=None):
    """Run backward from ``loss`` and record, after every node, the bytes alive for it: the tensors nodes
    still hold for backward plus the gradient buffers between nodes (the leaves' ``.grad`` are the result,
    not counted). Pass a function that builds the loss (``lambda: F.mse_loss(model(x), y)``) to get the same
    pass with early release off beside it; ``path`` plots both with matplotlib. Returns a ``Timeline``."""
    build = loss if callable(loss) and not isinstance(loss, Tensor) else None
    release = _trace(build() if build else loss, True)
    kept = _trace(build(), False) if build else None
    timeline = Timeline(release, kept)
    if path is not None:
        _plot(timeline, path)
    return timeline


def _trace(loss, early):
    if not isinstance(loss, Tensor) or loss.grad_fn is None:
        raise RuntimeError("memory_timeline: expected a loss tensor with a recorded graph (or a function returning "
                           "one)")
    nodes = [n for n in _forward_order([loss.grad_fn]) if type(n) is not AccumulateGrad]
    grads = {}  # id(array) -> (weak reference, bytes): every gradient buffer seen, alive while referenced

    def row(step, name, buffers):
        for node, slots in buffers.items():
            if type(node) is not AccumulateGrad:
                for g in slots:
                    known = grads.get(id(g.array)) if g is not None else None
                    if g is not None and (known is None or known[0]() is not g.array):  # ids of dead arrays recur
                        grads[id(g.array)] = (weakref.ref(g.array), int(g.array.nbytes))
        saved, seen = 0, set()
        for node in nodes:
            for _, array, _, _ in node._saved or ():
                if hasattr(array, "nbytes") and id(array) not in seen:
                    seen.add(id(array))
                    saved += int(array.nbytes)
        live_grads = sum(n for ref, n in grads.values() if ref() is not None)
        trace.append({"step": step, "node": name, "saved": saved, "grads": live_grads, "live": saved + live_grads})

    trace = []
    row(0, "start", {})
    previous_hook, previous_release = engine._node_done_hook, engine.early_release
    engine._node_done_hook = lambda node, buffers: row(len(trace), node.name(), buffers)
    engine.set_early_release(early)
    try:
        loss.backward()
    finally:
        engine._node_done_hook = previous_hook
        engine.set_early_release(previous_release)
    row(len(trace), "end", {})
    return trace


def _plot(timeline, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for trace, label in ((timeline.release, "early release (default)"), (timeline.kept, "early release off")):
        if trace is not None:
            ax.step([r["step"] for r in trace], [r["live"] / 1024 for r in trace], where="post", label=label)
    ax.set_xlabel("backward node")
    ax.set_ylabel("live KiB (saved + gradient buffers)")
    ax.set_title("memory during backward")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
