"""MultiheadAttention and the Transformer modules against torch.nn from identical weights (state_dict):
outputs, attention weights, every parameter's gradient, every mask kind, batch_first both ways; dropout
statistics; a 2-layer encoder's Adam trajectory."""

import numpy as np
import pytest
import torch

import autograd as ag
import nn
import nn.functional as F
import optim
from conftest import assert_close, to_numpy

TOL = dict(rtol=2e-4, atol=2e-5)


def _copy(module, tmodule, device):
    module.load_state_dict({k: ag.tensor(v.detach().numpy()) for k, v in tmodule.state_dict().items()})
    assert list(module.state_dict()) == list(tmodule.state_dict())
    return module.to(device)


def _tensors(arrays, device):
    """The same data for both: (ndgrad tensors, torch tensors); floating ones require grad."""
    ours = [ag.tensor(a, device=device, requires_grad=a.dtype.kind == "f") if a is not None else None
            for a in arrays]
    theirs = [torch.from_numpy(a.copy()).requires_grad_(a.dtype.kind == "f") if a is not None else None
              for a in arrays]
    return ours, theirs


def _compare_grads(module, tmodule, inputs, tinputs):
    tparams = dict(tmodule.named_parameters())
    for name, p in module.named_parameters():
        tp = tparams[name]
        assert (p.grad is None) == (tp.grad is None), name
        if tp.grad is not None:
            assert_close(p.grad, tp.grad, msg=f"{name}:", **TOL)
    for x, tx in zip(inputs, tinputs):
        if tx is not None and tx.requires_grad:
            assert_close(x.grad, tx.grad, msg="input grad:", **TOL)


def _backward_both(outs, touts, seed=0):
    rng = np.random.default_rng(seed)
    for out, tout in zip(outs, touts):
        if tout is None:
            assert out is None
            continue
        assert_close(out, tout, msg="output:", **TOL)
    pairs = [(o, t) for o, t in zip(outs, touts) if t is not None]
    gs = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for _, t in pairs]
    total = None
    for (o, _), g in zip(pairs, gs):
        term = (o * ag.tensor(g, device=o.device)).sum()
        total = term if total is None else total + term
    total.backward()
    torch.autograd.backward([t for _, t in pairs], [torch.from_numpy(g) for g in gs])


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


MHA_CASES = {  # name: (constructor kwargs, forward kwargs builder)
    "plain": dict(),
    "no_bias": dict(bias=False),
    "bias_kv_zero_attn": dict(add_bias_kv=True, add_zero_attn=True),
    "kdim_vdim": dict(kdim=3, vdim=5),
    "dropout_eval": dict(dropout=0.5),
}


def _masks(kind, rng, n, heads, L, S):
    if kind == "none":
        return {}
    if kind == "bool_2d":
        return {"attn_mask": rng.random((L, S)) < 0.3}
    if kind == "float_2d":
        return {"attn_mask": _rand(rng, L, S)}
    if kind == "bool_3d":
        return {"attn_mask": rng.random((n * heads, L, S)) < 0.3}
    if kind == "float_3d":
        return {"attn_mask": _rand(rng, n * heads, L, S)}
    if kind == "kpm_bool":
        return {"key_padding_mask": np.array([[False] * (S - 2) + [True] * 2, [False] * S][:n])}
    if kind == "kpm_float":
        return {"key_padding_mask": np.where(np.arange(S) >= S - 1, -np.inf, 0.0).astype(np.float32)[None].repeat(n, 0)}
    if kind == "both_bool":
        return {"attn_mask": rng.random((L, S)) < 0.3, "key_padding_mask": np.array([[False] * (S - 1) + [True]] * n)}
    if kind == "causal":
        return {"attn_mask": np.triu(np.ones((L, S), bool), 1), "is_causal": True}
    raise ValueError(kind)


def _run_mha(case, mask_kind, batch_first, need_weights, average, device, unbatched=False, self_attn=False):
    rng = np.random.default_rng(hash((case, mask_kind, batch_first, need_weights, average)) % 2 ** 32)
    kwargs = dict(MHA_CASES[case])
    E, H, L, S, N = 6, 2, 4, 5 if not self_attn else 4, 2
    torch.manual_seed(0)
    t = torch.nn.MultiheadAttention(E, H, batch_first=batch_first, **kwargs).eval()
    m = _copy(nn.MultiheadAttention(E, H, batch_first=batch_first, **kwargs), t, device).eval()
    kd, vd = kwargs.get("kdim", E), kwargs.get("vdim", E)

    def shape(length, dim):
        if unbatched:
            return (length, dim)
        return (N, length, dim) if batch_first else (length, N, dim)

    q = _rand(rng, *shape(L, E))
    k, v = (q, q) if self_attn else (_rand(rng, *shape(S, kd)), _rand(rng, *shape(S, vd)))
    masks = _masks(mask_kind, rng, 1 if unbatched else N, H, L, S)
    if unbatched and "key_padding_mask" in masks:
        masks["key_padding_mask"] = masks["key_padding_mask"][0]
    names = [n for n in ("attn_mask", "key_padding_mask") if n in masks]
    arrays = [q] if self_attn else [q, k, v]
    (xs, txs) = _tensors(arrays + [masks[n] for n in names], device)
    for x in xs[len(arrays):]:
        x.requires_grad_(False)
    for x in txs[len(arrays):]:
        x.requires_grad_(False)
    ours_in = (xs[0], xs[0], xs[0]) if self_attn else tuple(xs[:3])
    theirs_in = (txs[0], txs[0], txs[0]) if self_attn else tuple(txs[:3])
    extra = dict(zip(names, xs[len(arrays):]))
    textra = dict(zip(names, txs[len(arrays):]))
    flags = dict(need_weights=need_weights, average_attn_weights=average, is_causal=masks.get("is_causal", False))
    out, w = m(*ours_in, **extra, **flags)
    tout, tw = t(*theirs_in, **textra, **flags)
    _backward_both([out, w], [tout, tw])
    _compare_grads(m, t, xs[:len(arrays)], txs[:len(arrays)])


@pytest.mark.parametrize("case", list(MHA_CASES))
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_options(case, batch_first, device):
    _run_mha(case, "bool_2d", batch_first, True, True, device)


@pytest.mark.parametrize("mask_kind", ["none", "bool_2d", "float_2d", "bool_3d", "float_3d", "kpm_bool", "kpm_float",
                                       "both_bool", "causal"])
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
def test_mha_masks_and_weights(mask_kind, need_weights, average, device):
    _run_mha("plain", mask_kind, False, need_weights, average, device)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_self_attention_and_unbatched(need_weights):
    _run_mha("plain", "kpm_bool", True, need_weights, True, "cpu", self_attn=True)
    _run_mha("plain", "float_3d", False, need_weights, False, "cpu", unbatched=True)
    _run_mha("kdim_vdim", "kpm_bool", False, need_weights, True, "cpu", unbatched=True)


def test_mha_parameters_and_init():
    m = nn.MultiheadAttention(8, 2, add_bias_kv=True)
    t = torch.nn.MultiheadAttention(8, 2, add_bias_kv=True)
    assert list(m.state_dict()) == list(t.state_dict())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert np.all(to_numpy(m.in_proj_bias) == 0) and np.all(to_numpy(m.out_proj.bias) == 0)
    bound = np.sqrt(6 / (8 + 24))
    assert np.abs(to_numpy(m.in_proj_weight)).max() <= bound
    sep = nn.MultiheadAttention(8, 2, kdim=3, vdim=4, bias=False)
    tsep = torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=4, bias=False)
    assert list(sep.state_dict()) == list(tsep.state_dict())
    assert sep.in_proj_weight is None and tuple(sep.k_proj_weight.shape) == (8, 3)
    with pytest.raises(AssertionError, match="divisible"):
        nn.MultiheadAttention(7, 2)


def test_mha_fully_masked_rows_follow_torch():
    """A key_padding_mask that hides every key: NaN weights and outputs through the weights path, zeros
    through scaled_dot_product_attention (need_weights=False), as in PyTorch."""
    torch.manual_seed(0)
    t = torch.nn.MultiheadAttention(4, 2).eval()
    m = _copy(nn.MultiheadAttention(4, 2), t, "cpu").eval()
    x = np.random.default_rng(0).standard_normal((3, 2, 4)).astype(np.float32)
    kpm = np.array([[True] * 3, [False] * 3])
    for need in (True, False):
        out, _ = m(ag.tensor(x), ag.tensor(x), ag.tensor(x), key_padding_mask=ag.tensor(kpm), need_weights=need)
        tout, _ = t(*(torch.from_numpy(x),) * 3, key_padding_mask=torch.from_numpy(kpm), need_weights=need)
        np.testing.assert_allclose(to_numpy(out), tout.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_sdpa_dropout_statistics():
    """With value = identity the output is the dropped weights: a fraction p of zeros, the rest scaled by
    1 / (1 - p); the mean over many draws is the undropped weights."""
    ag.manual_seed(0)
    rng = np.random.default_rng(0)
    q, k = ag.tensor(_rand(rng, 200, 4, 6)), ag.tensor(_rand(rng, 200, 6, 6))
    eye = ag.tensor(np.broadcast_to(np.eye(6, dtype=np.float32), (200, 6, 6)).copy())
    p = 0.3
    weights = to_numpy(F.scaled_dot_product_attention(q, k, eye))
    dropped = to_numpy(F.scaled_dot_product_attention(q, k, eye, dropout_p=p))
    zero = dropped == 0
    assert abs(zero.mean() - p) < 0.02
    np.testing.assert_allclose(dropped[~zero], weights[~zero] / (1 - p), rtol=1e-5)
    runs = np.mean([to_numpy(F.scaled_dot_product_attention(q, k, eye, dropout_p=p)) for _ in range(30)], axis=0)
    assert abs((runs - weights).mean()) < 0.01
    # the gradient uses the same mask
    qg = ag.tensor(to_numpy(q), requires_grad=True)
    ag.manual_seed(1)
    F.scaled_dot_product_attention(qg, k, eye, dropout_p=0.999).sum().backward()
    assert np.isfinite(to_numpy(qg.grad)).all()


def test_mha_dropout_in_training():
    ag.manual_seed(0)
    m = nn.MultiheadAttention(4, 1, dropout=0.5)
    x = ag.randn(3, 8, 4)
    _, w = m(x, x, x, average_attn_weights=False)
    w = to_numpy(w)
    assert 0.3 < (w == 0).mean() < 0.7  # PyTorch returns the dropped weights
    m.eval()
    _, w = m(x, x, x)
    np.testing.assert_allclose(to_numpy(w).sum(-1), 1.0, rtol=1e-5)


def test_sdpa_refusals():
    q = ag.randn(2, 3, 4)
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ag.ones(3, 3, dtype=ag.bool), is_causal=True)
    with pytest.raises(RuntimeError, match="at least 2"):
        F.scaled_dot_product_attention(ag.randn(4), ag.randn(4), ag.randn(4))
    with pytest.raises(RuntimeError, match="same dtype"):
        F.scaled_dot_product_attention(q, q.double(), q)
    with pytest.raises(RuntimeError, match="attn_mask dtype"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ag.ones(3, 3, dtype=ag.int64))


# --- Transformer layers -----------------------------------------------------------------------------

def _layer_pair(cls, tcls, device, **kwargs):
    torch.manual_seed(0)
    t = tcls(**kwargs)
    m = _copy(cls(**kwargs), t, device)
    return m, t


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
def test_encoder_layer(norm_first, batch_first, activation, device):
    act = {"relu": "relu", "gelu": "gelu"}.get(activation)
    m, t = _layer_pair(nn.TransformerEncoderLayer, torch.nn.TransformerEncoderLayer, device, d_model=8, nhead=2,
                       dim_feedforward=16, norm_first=norm_first, batch_first=batch_first,
                       activation=act or F.silu, layer_norm_eps=1e-4)
    if act is None:
        t.activation = torch.nn.functional.silu
    m.eval(), t.eval()
    rng = np.random.default_rng(0)
    x = _rand(rng, 2, 5, 8) if batch_first else _rand(rng, 5, 2, 8)
    mask = np.triu(np.ones((5, 5), bool), 1)
    kpm = np.array([[False] * 4 + [True], [False] * 5])
    (xs, txs) = _tensors([x, mask, kpm], device)
    out = m(xs[0], src_mask=xs[1], src_key_padding_mask=xs[2])
    tout = t(txs[0], src_mask=txs[1], src_key_padding_mask=txs[2])
    _backward_both([out], [tout])
    _compare_grads(m, t, xs[:1], txs[:1])


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer(norm_first, batch_first, device):
    m, t = _layer_pair(nn.TransformerDecoderLayer, torch.nn.TransformerDecoderLayer, device, d_model=8, nhead=2,
                       dim_feedforward=16, norm_first=norm_first, batch_first=batch_first, activation="gelu")
    m.eval(), t.eval()
    rng = np.random.default_rng(1)
    tgt = _rand(rng, 2, 4, 8) if batch_first else _rand(rng, 4, 2, 8)
    mem = _rand(rng, 2, 6, 8) if batch_first else _rand(rng, 6, 2, 8)
    tgt_mask = np.triu(np.ones((4, 4), bool), 1)
    mem_kpm = np.array([[False] * 5 + [True], [False] * 6])
    (xs, txs) = _tensors([tgt, mem, tgt_mask, mem_kpm], device)
    out = m(xs[0], xs[1], tgt_mask=xs[2], memory_key_padding_mask=xs[3], tgt_is_causal=True)
    tout = t(txs[0], txs[1], tgt_mask=txs[2], memory_key_padding_mask=txs[3], tgt_is_causal=True)
    _backward_both([out], [tout])
    _compare_grads(m, t, xs[:2], txs[:2])


def test_transformer_full(device):
    kwargs = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=16,
                  batch_first=True)
    m, t = _layer_pair(nn.Transformer, torch.nn.Transformer, device, **kwargs)
    m.eval(), t.eval()
    rng = np.random.default_rng(2)
    src, tgt = _rand(rng, 2, 5, 8), _rand(rng, 2, 4, 8)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4)
    assert_close(tgt_mask, torch.nn.Transformer.generate_square_subsequent_mask(4))
    (xs, txs) = _tensors([src, tgt], device)
    out = m(xs[0], xs[1], tgt_mask=tgt_mask.to(device))
    tout = t(txs[0], txs[1], tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(4))
    _backward_both([out], [tout])
    _compare_grads(m, t, xs, txs)
    assert repr(m.encoder.layers[0].linear1) == repr(t.encoder.layers[0].linear1)
    with pytest.raises(RuntimeError, match="batch number"):
        m(ag.randn(2, 5, 8, device=device), ag.randn(3, 4, 8, device=device))


def test_encoder_stack_has_independent_layers_and_norm():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    enc = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(8), enable_nested_tensor=False)
    tenc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16), 3, norm=torch.nn.LayerNorm(8),
                                       enable_nested_tensor=False)
    assert list(enc.state_dict()) == list(tenc.state_dict())
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight


def test_encoder_training_trajectory_matches_torch():
    """A 2-layer encoder (dropout 0) trained 5 Adam steps on a regression target: the same losses and
    weights as PyTorch's, to float32 tolerance."""
    torch.manual_seed(0)
    tlayer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    tenc = torch.nn.TransformerEncoder(tlayer, 2, enable_nested_tensor=False)
    enc = _copy(nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 2), tenc,
                "cpu")
    rng = np.random.default_rng(3)
    x, y = _rand(rng, 4, 6, 8), _rand(rng, 4, 6, 8)
    opt = optim.Adam(enc.parameters(), lr=1e-2)
    topt = torch.optim.Adam(tenc.parameters(), lr=1e-2)
    mask = nn.Transformer.generate_square_subsequent_mask(6)
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(6)
    for _ in range(5):
        loss = F.mse_loss(enc(ag.tensor(x), mask=mask), ag.tensor(y))
        tloss = torch.nn.functional.mse_loss(tenc(torch.from_numpy(x), mask=tmask), torch.from_numpy(y))
        assert_close(loss, tloss, rtol=1e-4, atol=1e-6)
        opt.zero_grad(), topt.zero_grad()
        loss.backward(), tloss.backward()
        opt.step(), topt.step()
    tparams = dict(tenc.named_parameters())
    for name, p in enc.named_parameters():
        got, expected = to_numpy(p), tparams[name].detach().numpy()
        if name.endswith("in_proj_bias"):
            # the key bias adds the same q.b_k to every score of a row, which softmax ignores: its exact
            # gradient is 0, both libraries get rounding noise there, and Adam turns noise into full steps
            got, expected = np.delete(got, slice(8, 16)), np.delete(expected, slice(8, 16))
        assert_close(got, expected, rtol=1e-4, atol=1e-5, msg=name)
