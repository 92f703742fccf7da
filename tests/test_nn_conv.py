"""Convolution layers (Conv1d/2d/3d, ConvTranspose1d/2d/3d, Unfold, Fold) against PyTorch's.

Each layer is built in both frameworks from identical weights (torch's state_dict loaded
into ndgrad's layer); outputs and every gradient (input, weight, bias) are compared in
float64 and float32. The functional ops are proved row by row in test_ops.py; here are the
layers, their arguments, init and refusals, and conv2d geometries drawn by hypothesis.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd as ag
import nn
from autograd.ops import conv as conv_ops
from conftest import assert_close, examples

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}

# (layer name, constructor arguments, input shape); the same arguments build torch's layer
LAYERS = [
    ("Conv1d", dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 9)),
    ("Conv1d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=2, dilation=2, groups=2),
     (2, 4, 11)),
    ("Conv1d", dict(in_channels=2, out_channels=3, kernel_size=4, padding="same", padding_mode="circular"), (2, 2, 7)),
    ("Conv2d", dict(in_channels=3, out_channels=5, kernel_size=3), (2, 3, 7, 6)),
    ("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 2),
                    dilation=(1, 2), groups=2, bias=False), (2, 4, 7, 6)),
    ("Conv2d", dict(in_channels=3, out_channels=6, kernel_size=3, padding=1, groups=3), (2, 3, 5, 5)),  # depthwise
    ("Conv2d", dict(in_channels=2, out_channels=3, kernel_size=(2, 3), padding="same", dilation=2), (2, 2, 6, 5)),
    ("Conv2d", dict(in_channels=2, out_channels=3, kernel_size=3, padding="valid"), (2, 2, 5, 5)),
    ("Conv2d", dict(in_channels=2, out_channels=3, kernel_size=3, padding=2, padding_mode="reflect"), (2, 2, 5, 4)),
    ("Conv2d", dict(in_channels=2, out_channels=3, kernel_size=3, padding=(1, 2), stride=2,
                    padding_mode="replicate"), (2, 2, 5, 4)),
    ("Conv2d", dict(in_channels=2, out_channels=2, kernel_size=3, padding=1, padding_mode="circular"), (2, 5, 4)),
    ("Conv3d", dict(in_channels=2, out_channels=4, kernel_size=(2, 3, 2), stride=(1, 2, 1), padding=1, groups=2),
     (2, 2, 3, 5, 4)),
    ("ConvTranspose1d", dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1, output_padding=1),
     (2, 3, 5)),
    ("ConvTranspose2d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1,
                             groups=2), (2, 4, 3, 4)),
    ("ConvTranspose2d", dict(in_channels=2, out_channels=3, kernel_size=(2, 3), dilation=(2, 1), bias=False),
     (2, 2, 4, 3)),
    ("ConvTranspose3d", dict(in_channels=2, out_channels=2, kernel_size=2, stride=2), (1, 2, 2, 3, 2)),
    ("Unfold", dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=2), (2, 3, 5, 6)),
    ("Fold", dict(output_size=(4, 5), kernel_size=2, padding=1, stride=(1, 2)), (2, 8, 15)),
]
LAYER_IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(LAYERS)]


def twins(name, kwargs, dtype=np.float64, seed=0):
    """The same layer in both frameworks: torch's initial weights loaded into ndgrad's."""
    torch.manual_seed(seed)
    tlayer = getattr(torch.nn, name)(**kwargs).to(torch.float64 if dtype == np.float64 else torch.float32)
    layer = getattr(nn, name)(**kwargs).to(dtype=dtype)
    result = layer.load_state_dict({k: v.detach().numpy() for k, v in tlayer.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    return layer, tlayer


def run_both(layer, tlayer, x, call=lambda layer, x: layer(x)):
    """Output and the gradients of (output * v).sum() for the input and every parameter, both frameworks."""
    results = []
    for lib, module in ((ag, layer), (torch, tlayer)):
        xt = ag.tensor(x, requires_grad=True) if lib is ag else torch.tensor(x, requires_grad=True)
        out = call(module, xt)
        cot = np.random.default_rng(1).standard_normal(tuple(out.shape)).astype(x.dtype)
        params = [p for _, p in module.named_parameters()]
        grads = (ag.grad if lib is ag else torch.autograd.grad)(
            out, [xt] + params, ag.tensor(cot) if lib is ag else torch.tensor(cot))
        results.append([out.detach().numpy()] + [g.detach().numpy() for g in grads])
    return results


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, kwargs, shape", LAYERS, ids=LAYER_IDS)
def test_layer_matches_torch(name, kwargs, shape, dtype):
    layer, tlayer = twins(name, kwargs, dtype)
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    got, expected = run_both(layer, tlayer, x)
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert_close(g, e, **TOL[dtype], msg=f"{name} {'output' if i == 0 else f'gradient {i}'}:")


@pytest.mark.parametrize("name, kwargs, shape", LAYERS, ids=LAYER_IDS)
def test_state_dict_and_repr_match_torch(name, kwargs, shape):
    layer, tlayer = twins(name, kwargs)
    assert [(k, tuple(v.shape)) for k, v in layer.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in tlayer.state_dict().items()]
    assert repr(layer) == repr(tlayer)


@pytest.mark.parametrize("output_size", [(7, 8), [2, 6, 7, 8], (8, 7)])
def test_conv_transpose_output_size(output_size):
    """forward(input, output_size) picks the output_padding that reaches the requested size."""
    layer, tlayer = twins("ConvTranspose2d", dict(in_channels=3, out_channels=6, kernel_size=3, stride=2, padding=1))
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    got, expected = run_both(layer, tlayer, x, call=lambda m, t: m(t, output_size=output_size))
    for g, e in zip(got, expected):
        assert_close(g, e)


def test_conv_transpose_refuses_an_unreachable_output_size():
    layer, tlayer = twins("ConvTranspose2d", dict(in_channels=3, out_channels=6, kernel_size=3, stride=2, padding=1))
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    with pytest.raises(ValueError):
        tlayer(torch.tensor(x), output_size=(10, 7))
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        layer(ag.tensor(x), output_size=(10, 7))


@pytest.mark.parametrize("name, in_channels, out_channels, kernel_size", [
    ("Conv2d", 64, 64, 3), ("Conv1d", 6, 4, 5), ("Conv3d", 4, 8, (2, 3, 3)), ("ConvTranspose2d", 16, 32, 3)])
def test_init_has_torchs_distribution(name, in_channels, out_channels, kernel_size):
    """Weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in as torch counts it (for a
    transposed layer: weight.shape[1] * kernel volume): the same bounds as torch's layer draws within."""
    ag.manual_seed(0)
    layer = getattr(nn, name)(in_channels, out_channels, kernel_size)
    tlayer = getattr(torch.nn, name)(in_channels, out_channels, kernel_size)
    fan_in = math.prod(tlayer.weight.shape[1:])
    bound = 1 / math.sqrt(fan_in)
    for p, tp in ((layer.weight, tlayer.weight), (layer.bias, tlayer.bias)):
        values, tvalues = p.detach().numpy(), tp.detach().numpy()
        assert values.shape == tvalues.shape and values.dtype == tvalues.dtype
        assert np.abs(values).max() <= bound and np.abs(tvalues).max() <= bound
    w = layer.weight.detach().numpy()
    if w.size > 10000:  # enough draws to see the spread of a uniform on (-bound, bound)
        assert np.abs(w).max() > 0.99 * bound
        assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
        assert abs(w.mean()) < 0.02 * bound


@pytest.mark.parametrize("name, kwargs", [
    ("Conv2d", dict(in_channels=3, out_channels=4, kernel_size=3, groups=2)),
    ("Conv2d", dict(in_channels=4, out_channels=3, kernel_size=3, groups=2)),
    ("Conv2d", dict(in_channels=4, out_channels=4, kernel_size=3, groups=0)),
    ("Conv2d", dict(in_channels=3, out_channels=4, kernel_size=3, padding="full")),
    ("Conv2d", dict(in_channels=3, out_channels=4, kernel_size=3, padding="same", stride=2)),
    ("Conv2d", dict(in_channels=3, out_channels=4, kernel_size=3, padding_mode="mirror")),
    ("ConvTranspose2d", dict(in_channels=3, out_channels=4, kernel_size=3, padding_mode="reflect")),
])
def test_constructor_refusals_match_torch(name, kwargs):
    with pytest.raises(Exception) as expected:
        getattr(torch.nn, name)(**kwargs)
    with pytest.raises(type(expected.value)):
        getattr(nn, name)(**kwargs)


def _refusal_cases():
    x, w = np.ones((2, 4, 5, 5)), np.ones((6, 2, 3, 3))
    return [
        ("conv2d", (np.ones((4, 5)), w), {}),                        # too few dims
        ("conv2d", (x, np.ones((6, 2, 3))), {}),                     # weight dims
        ("conv2d", (x, w), dict(groups=3)),                          # channels do not match
        ("conv2d", (x, w), dict(groups=4)),                          # weight not divisible by groups
        ("conv2d", (x, w, np.ones(5)), dict(groups=2)),              # bias size
        ("conv2d", (x, np.ones((6, 2, 7, 7))), dict(groups=2)),      # kernel larger than the padded input
        ("conv2d", (x, w), dict(groups=2, stride=0)),
        ("conv2d", (x, w), dict(groups=2, padding=-1)),
        ("conv2d", (x, w), dict(groups=2, dilation=0)),
        ("conv2d", (x, w), dict(groups=2, padding="same", stride=2)),
        ("conv2d", (x, w), dict(groups=2, padding="full")),
        ("conv2d", (x, w), dict(groups=2, stride=(1, 2, 3))),
        ("conv_transpose2d", (np.ones((2, 6, 3, 3)), w), dict(groups=3, stride=2, output_padding=2)),
        ("conv_transpose2d", (np.ones((2, 5, 3, 3)), w), dict(groups=3)),
        ("conv_transpose2d", (np.ones((2, 6, 3, 3)), w), dict(groups=3, padding="same")),
        ("unfold", (np.ones((1, 2, 3, 4, 5)), 2), {}),
        ("unfold", (np.ones((1, 2, 3, 3)), 4), {}),
        ("fold", (np.ones((2, 8, 15)), (5, 5), 2), {}),
        ("fold", (np.ones((2, 7, 16)), (5, 5), 2), {}),
    ]


@pytest.mark.parametrize("name, args, kwargs", _refusal_cases())
def test_functional_refusals_match_torch(name, args, kwargs):
    """Where torch's functional refuses, so does ndgrad's, naming the op."""
    def call(lib):
        fn = getattr(torch.nn.functional if lib is torch else ag.ops, name)
        tensors = [lib.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
        return fn(*tensors, **kwargs)
    with pytest.raises(Exception):
        call(torch)
    with pytest.raises(Exception, match=name):
        call(ag)


def test_mixed_dtypes_are_refused():
    x, w = ag.ones(1, 2, 4, 4), ag.ones(3, 2, 3, 3, dtype=ag.float64)
    with pytest.raises(RuntimeError, match=r"conv2d: input type \(float32\) and weight type \(float64\)"):
        ag.ops.conv2d(x, w)


@pytest.mark.parametrize("chunk_bytes", [1500, 12000])
@pytest.mark.parametrize("case", ["conv_stride1", "conv_strided", "transpose_strided", "grouped"])
def test_chunked_batches_match_torch(case, chunk_bytes, monkeypatch):
    """With a tiny chunk size the batch goes through one or two samples per GEMM (as a large batch
    does): the same outputs and gradients as torch's, also when the last chunk is shorter."""
    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4, 6, 5))
    if case == "transpose_strided":
        w = rng.standard_normal((4, 3, 3, 3))
        fn = lambda lib, x, w: (torch.nn.functional if lib is torch else ag.ops).conv_transpose2d(  # noqa: E731
            x, w, stride=2, padding=1, output_padding=1)
    else:
        groups = 2 if case == "grouped" else 1
        stride = 2 if case == "conv_strided" else 1
        w = rng.standard_normal((6, 4 // groups, 3, 3))
        fn = lambda lib, x, w: (torch.nn.functional if lib is torch else ag.ops).conv2d(  # noqa: E731
            x, w, stride=stride, padding=1, groups=groups)
    _check_against_torch(fn, x, w)


def _check_against_torch(fn, x, w, tol=1e-10):
    results = []
    for lib in (ag, torch):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        out = fn(lib, xt, wt)
        cot = np.random.default_rng(2).standard_normal(tuple(out.shape))
        grads = (ag.grad if lib is ag else torch.autograd.grad)(out, [xt, wt], lib.tensor(cot))
        results.append([out.detach().numpy()] + [g.detach().numpy() for g in grads])
    for kind, g, e in zip(("output", "input gradient", "weight gradient"), *results):
        assert_close(g, e, rtol=tol, atol=tol, msg=kind)


@st.composite
def conv2d_geometry(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    in_channels, out_channels = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if all(s == 1 for s in stride) and draw(st.booleans()):
        padding = draw(st.sampled_from(["same", "valid"]))
    else:
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    pads = (0, 0) if isinstance(padding, str) else padding  # "same" pads enough by itself
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    shape = tuple(max(r - 2 * p, 1) + draw(st.integers(0, 4)) for r, p in zip(reach, pads))  # the kernel fits
    return dict(in_channels=in_channels, out_channels=out_channels, kernel=kernel, stride=stride,
                dilation=dilation, padding=padding, groups=groups, shape=shape, batch=draw(st.integers(1, 2)),
                bias=draw(st.booleans()))


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=conv2d_geometry(), seed=st.integers(0, 2 ** 16))
def test_conv2d_geometries_match_torch(g, seed):
    """conv2d with stride, padding (ints, "same", "valid"), dilation and groups drawn together: the
    output and the gradients of input, weight and bias match torch's."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((g["batch"], g["in_channels"]) + g["shape"])
    w = rng.standard_normal((g["out_channels"], g["in_channels"] // g["groups"]) + g["kernel"])
    b = rng.standard_normal(g["out_channels"]) if g["bias"] else None
    results = []
    for lib in (ag, torch):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        bt = lib.tensor(b, requires_grad=True) if b is not None else None
        fn = torch.nn.functional.conv2d if lib is torch else ag.ops.conv2d
        out = fn(xt, wt, bt, g["stride"], g["padding"], g["dilation"], g["groups"])
        cot = np.random.default_rng(seed + 1).standard_normal(tuple(out.shape))
        wrt = [xt, wt] + ([bt] if bt is not None else [])
        grads = (ag.grad if lib is ag else torch.autograd.grad)(out, wrt, lib.tensor(cot))
        results.append([out.detach().numpy()] + [t.detach().numpy() for t in grads])
    for i, (got, expected) in enumerate(zip(*results)):
        assert_close(got, expected, msg=f"{g} {'output' if i == 0 else f'gradient {i}'}:")


def test_sgd_steps_match_torch():
    """A conv - relu - transposed conv model trained a few SGD steps: the same weights as torch's."""
    import optim
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1, stride=2), torch.nn.ReLU(),
                                 torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)).double()
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, stride=2), nn.ReLU(),
                          nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)).double()
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    opt, topt = optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(tmodel.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((3, 2, 6, 6))
        loss = ((model(ag.tensor(x)) - ag.tensor(x)) ** 2).mean()
        tloss = ((tmodel(torch.tensor(x)) - torch.tensor(x)) ** 2).mean()
        opt.zero_grad(), topt.zero_grad()
        loss.backward(), tloss.backward()
        opt.step(), topt.step()
        assert_close(loss.detach().numpy(), tloss.detach().numpy())
    for (k, v), (tk, tv) in zip(model.state_dict().items(), tmodel.state_dict().items()):
        assert k == tk
        assert_close(v.numpy(), tv.numpy(), msg=k)
