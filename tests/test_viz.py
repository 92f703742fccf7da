"""autograd.viz: the DOT graph, the Wengert list and its adjoint program, the memory timeline, checked
structurally against the graph and against what the engine really does."""

import re

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
from autograd import engine, viz
from autograd.function import AccumulateGrad
from conftest import DEVICES


def _mlp_loss():
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    x, t = ag.randn(4, 6), ag.tensor([0, 2, 1, 2])
    return model, lambda: F.cross_entropy(model(x), t)


def _cnn_loss():
    ag.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    x, t = ag.randn(2, 1, 8, 8), ag.tensor([3, 0])
    return model, lambda: F.cross_entropy(model(x), t)


def _nodes(y):
    seen, stack = [], [y.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or any(n is s for s in seen):
            continue
        seen.append(n)
        stack.extend(nxt for nxt, _ in n.next_functions)
    return seen


def _engine_order(y):
    """The node names the engine really runs, in its order, seen through the hook."""
    ran = []
    engine._node_done_hook = lambda node, buffers: ran.append(node)
    try:
        y.backward()
    finally:
        engine._node_done_hook = None
    return ran


@pytest.mark.parametrize("make", [_mlp_loss, _cnn_loss])
def test_tape_is_one_line_per_node_in_an_order_that_can_run(make):
    model, build = make()
    y = build()
    nodes = _nodes(y)
    lines = viz.tape(y, params=dict(model.named_parameters())).splitlines()
    assert len(lines) == len(nodes)
    defined = set()
    for line in lines:
        m = re.fullmatch(r"(v\d+(?:, v\d+)*) = (?:param \S+|input|\w+\((.*)\))  # (.*)", line)
        assert m, line
        used = [v for v in (m.group(2) or "").split(", ") if v and v != "c"]
        assert all(v in defined for v in used), f"{line} reads a value not yet computed"
        defined.update(m.group(1).split(", "))
    ops = [getattr(n, "op", None) for n in nodes if type(n) is not AccumulateGrad]
    for op in ops:
        assert any(f"= {op}(" in line for line in lines), op
    for name, p in model.named_parameters():
        assert f"param {name}  # {tuple(p.shape)} {p.dtype}" in "\n".join(lines)
    assert lines[-1].endswith(f"# {tuple(y.shape)} {y.dtype}")


def test_tape_shapes_are_the_intermediate_values_shapes():
    a = ag.tensor(np.ones((3, 4)), requires_grad=True)
    b = ag.tensor(np.ones((4, 2)), requires_grad=True)
    h = a @ b
    y = (h.exp() * h).sum()
    text = viz.tape(y)
    assert re.search(r"= matmul\(v\d+, v\d+\)  # \(3, 2\) float64", text)
    assert re.search(r"= exp\(v\d+\)  # \(3, 2\) float64", text)
    assert re.search(r"= sum\(v\d+\)  # \(\) float64", text)


@pytest.mark.parametrize("make", [_mlp_loss, _cnn_loss])
@pytest.mark.parametrize("early", [True, False])
def test_backward_tape_runs_in_the_engines_order_and_releases_after_last_use(make, early):
    model, build = make()
    y = build()
    holding = sum(any(hasattr(e[1], "nbytes") for e in n._saved) for n in _nodes(y) if type(n) is not AccumulateGrad)
    engine.set_early_release(early)
    try:
        lines = viz.tape(y, backward=True).splitlines()
        forward = viz.tape(y)
        ran = _engine_order(y)  # consumes the graph: after the tape
    finally:
        engine.set_early_release(True)
    # the nodes' adjoint blocks (each ends in "del vK_bar") follow the engine's order
    dels = [line.split()[1].rstrip(",") for line in lines if line.startswith("del ")]
    ran_ops = [n for n in ran if type(n) is not AccumulateGrad]
    assert len(dels) == len(ran_ops)
    releases = [i for i, line in enumerate(lines) if line.startswith("release ")]
    assert len(releases) == holding  # one per node that holds something
    op_of = dict(re.findall(r"^(v\d+)(?:, v\d+)* = (\w+)\(", forward, re.M))
    assert [op_of[v[:-len("_bar")]] for v in dels] == [n.op for n in ran_ops]  # the engine's order
    for var in dels:
        name = var[:-len("_bar")]
        gone = lines.index(next(line for line in lines if line.startswith(f"del {var}")))
        uses = [i for i, line in enumerate(lines) if re.search(rf"= .*\b{var}\b", line)]
        assert uses and max(uses) < gone  # the gradient buffer is dropped after its last use
        release = [i for i, line in enumerate(lines) if line.startswith(f"release {name}.saved")]
        if release:
            assert max(uses) < release[0]
            if not early:  # with release off, saved tensors go when backward returns, after every adjoint line
                assert release[0] > max(i for i, line in enumerate(lines) if re.search(r"_bar \S?= ", line))
    leaves = [n for n in ran if type(n) is AccumulateGrad]
    assert sum(".grad += " in line for line in lines) == len(leaves)


def test_backward_tape_adjoint_of_mul_reads_the_other_factor():
    a = ag.tensor(np.ones(3), requires_grad=True)
    b = ag.tensor(np.ones(3), requires_grad=True)
    y = (a * b).sum()
    lines = viz.tape(y, backward=True).splitlines()
    fwd = viz.tape(y).splitlines()
    va, vb = (line.split(" = ")[0] for line in fwd[:2])
    prod = re.match(r"(v\d+) = mul", fwd[2]).group(1)
    assert f"{va}_bar += {prod}_bar * {vb}" in lines
    assert f"{vb}_bar += {prod}_bar * {va}" in lines
    assert f"release {prod}.saved  # mul: {va} (3,) float64, {vb} (3,) float64: 48 B" in lines


@pytest.mark.parametrize("make", [_mlp_loss, _cnn_loss])
def test_dot_has_a_box_per_node_and_an_edge_per_graph_edge(make):
    model, build = make()
    y = build()
    params = dict(model.named_parameters())
    text = viz.to_dot(y, params=params, show_saved=True)
    nodes = _nodes(y)
    boxes = re.findall(r"^  n\d+ \[label=", text, re.M)
    assert len(boxes) == len(nodes)
    edges = re.findall(r"^  n\d+ -> n\d+;", text, re.M)
    assert len(edges) == sum(nxt is not None for n in nodes for nxt, _ in n.next_functions)
    for name in params:
        assert f'label="{name}\\n' in text
    saved = [int(t) for t in re.findall(r'saved (\d+) B"', text)]
    for n in nodes:
        if type(n) is not AccumulateGrad:
            assert f"= {n.op}\\n" in text
    total = sum(a.nbytes for n in nodes if type(n) is not AccumulateGrad
                for a in {id(e[1]): e[1] for e in n._saved if hasattr(e[1], "nbytes")}.values())
    assert total > 0 and all(s <= total for s in saved)
    assert len(re.findall(r"\[style=dashed, arrowhead=none\]", text)) == sum(
        len({id(e[1]) for e in n._saved if hasattr(e[1], "nbytes")}) for n in nodes if type(n) is not AccumulateGrad)


def test_dot_written_as_text_without_graphviz(tmp_path):
    a = ag.tensor(np.ones(3), requires_grad=True)
    text = viz.to_dot((a * 2).sum(), path=tmp_path / "g.svg")
    written = list(tmp_path.iterdir())
    assert len(written) == 1 and (written[0].suffix == ".svg" or written[0].read_text() == text)


def test_viz_refuses_a_tensor_without_graph():
    with pytest.raises(RuntimeError, match="no recorded graph"):
        viz.tape(ag.ones(3))


@pytest.mark.parametrize("make", [_mlp_loss, _cnn_loss])
def test_memory_timeline_release_versus_kept(make, tmp_path):
    model, build = make()
    pytest.importorskip("matplotlib")
    timeline = viz.memory_timeline(build, path=tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 0
    rel, kept = timeline.release, timeline.kept
    y = build()
    assert len(rel) == len(kept) == len(_nodes(y)) + 2  # start, one row per node, end
    assert rel[0]["saved"] == kept[0]["saved"] > 0
    assert rel[-1]["live"] == 0 and kept[-1]["live"] == 0  # everything goes when backward returns
    assert all(b["saved"] <= a["saved"] for a, b in zip(rel, rel[1:]))  # released node by node
    assert all(r["saved"] == kept[0]["saved"] for r in kept[:-1])  # kept to the end
    assert viz.Timeline.peak(rel) < viz.Timeline.peak(kept)
    assert engine.early_release and engine._node_done_hook is None  # the switch and the hook are put back
    single = viz.memory_timeline(build())
    assert single.kept is None and [r["live"] for r in single.release] == [r["live"] for r in rel]


def test_the_example_shows_everything(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
    import see_the_graph
    peaks, same = see_the_graph.main(["--out", str(tmp_path)])
    assert same and peaks[4] < peaks[None]
    names = {p.name for p in tmp_path.iterdir()}
    assert {"memory_mlp.png", "memory_cnn.png", "step_sweep.png"} <= names
    assert {"graph_mlp.svg", "graph_mlp.dot"} & names
    printed = capsys.readouterr().out
    assert "= linear(" in printed and "= conv(" in printed and ".grad += " in printed


@pytest.mark.parametrize("device", DEVICES)
def test_tape_dot_and_timeline_on_the_device(device):
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(device)
    x = ag.randn(5, 3, device=device)
    build = lambda: model(x).pow(2).mean()  # noqa: E731
    y = build()
    assert len(viz.tape(y).splitlines()) == len(_nodes(y))
    assert "release " in viz.tape(y, backward=True)
    assert "= linear\\n(5, 4) float32" in viz.to_dot(y)
    timeline = viz.memory_timeline(build)
    assert timeline.release[0]["saved"] > 0 and timeline.release[-1]["live"] == 0
    assert str(model[0].weight.grad.device).startswith(device)  # the timeline's backward ran on the device
