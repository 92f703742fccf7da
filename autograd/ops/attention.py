"""Attention: scaled_dot_product_attention and multi_head_attention_forward.

The heavy middle of attention, softmax(scale * Q Kᵀ + mask), is one op (``AttentionWeights``): one
batched GEMM against a contiguous Kᵀ, the mask added in place, the softmax done in place in the same
buffer, so a forward makes one (..., L, S) array and keeps only it (and Q, K for their gradients).
Dropout and the product with V are the existing dropout and matmul ops.

Masks follow PyTorch: for ``scaled_dot_product_attention`` a bool mask says which keys take part and
a float mask is added; ``multi_head_attention_forward`` takes masks the other way round (True: left
out), as ``nn.MultiheadAttention`` does. Rows whose keys are all left out give zeros through
``scaled_dot_product_attention`` (PyTorch's safe softmax) and NaN weights through the weights path of
``multi_head_attention_forward`` (PyTorch's plain softmax there).
"""

import math
import warnings

from .. import dtypes
from ..function import Op, autocast_entry, same_dtype
from ..tensor import Tensor

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


class AttentionWeights(Op):
    """softmax(scale * q @ kᵀ + bias) over the last dim; ``bias`` (optional) is an additive mask that
    broadcasts to (..., L, S). With ``safe`` a row with no finite score gives zeros, not NaN."""
    def forward(ctx, q, k, bias, scale, safe):
        xp = ctx.xp
        kt = xp.ascontiguousarray(xp.swapaxes(k, -1, -2))  # a contiguous Kᵀ: the GEMM runs twice as fast
        s = xp.matmul(q * xp.asarray(scale, q.dtype), kt)  # float32 for bfloat16 inputs (ml_dtypes)
        if bias is not None:
            if s.shape != xp.broadcast_shapes(s.shape, bias.shape):
                s = s + bias  # the mask has batch dims the scores lack: a new, larger array
            else:
                s += bias
        top = s.max(axis=-1, keepdims=True) if s.size else s.sum(axis=-1, keepdims=True)
        if safe:  # rows left out entirely: shift by 0 so exp gives zeros, and divide those by 1
            top = xp.where(top == -math.inf, xp.zeros((), top.dtype), top)
        s -= top
        xp.exp(s, out=s)
        total = s.sum(axis=-1, keepdims=True)
        if safe:
            total = xp.where(total == 0, xp.ones((), total.dtype), total)
        s /= total
        out = same_dtype(s, q)
        ctx.scale = scale
        ctx.save_for_backward(q if ctx.needs_input_grad[1] else None, k if ctx.needs_input_grad[0] else None, out)
        return out
    def backward(ctx, grad):
        q, k, p = ctx.saved_tensors
        need_q, need_k, need_bias = ctx.needs_input_grad
        low = p.dtype in (dtypes.float16, dtypes.bfloat16)  # as PyTorch, the softmax backward in float32
        p32, g32 = (p.float(), grad.float()) if low else (p, grad)
        ds = p32 * (g32 - (g32 * p32).sum(-1, keepdim=True))  # softmax's backward: the score gradient
        if low:
            ds = ds.to(p.dtype)
        gq = (ds @ k) * ctx.scale if need_q else None
        gk = (ds.mT @ q) * ctx.scale if need_k else None
        return gq, gk, (ds if need_bias else None)


# --- scaled_dot_product_attention ----------------------------------------------------------------------

def _check_sdpa(q, k, v, attn_mask, dropout_p, is_causal):
    op = "scaled_dot_product_attention"
    if not all(isinstance(t, Tensor) for t in (q, k, v)):
        raise TypeError(f"{op}: query, key and value must be Tensors, got "
                        f"{', '.join(type(t).__name__ for t in (q, k, v))}")
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise RuntimeError(f"{op}: expected query, key and value to all be at least 2-dimensional, but got "
                           f"shapes {tuple(q.shape)}, {tuple(k.shape)} and {tuple(v.shape)}; give them a sequence "
                           f"dim, (..., L, E)")
    if not (q.dtype == k.dtype == v.dtype):
        raise RuntimeError(f"{op}: expected query, key and value to have the same dtype, but got {q.dtype}, "
                           f"{k.dtype} and {v.dtype}; convert them, e.g. key.to(query.dtype)")
    if not dtypes.is_floating(q.dtype):
        raise RuntimeError(f"{op}: expected floating-point query, key and value, got {q.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise RuntimeError(f"{op}: query's last dim ({q.shape[-1]}, shape {tuple(q.shape)}) must equal key's "
                           f"({k.shape[-1]}, shape {tuple(k.shape)})")
    if k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f"{op}: key (shape {tuple(k.shape)}) and value (shape {tuple(v.shape)}) must have the "
                           f"same sequence length (dim -2)")
    if attn_mask is not None:
        if is_causal:
            raise RuntimeError(f"{op}: explicit attn_mask should not be set when is_causal=True; pass one or the "
                               f"other")
        if attn_mask.dtype != dtypes.bool_ and attn_mask.dtype != q.dtype:
            raise RuntimeError(f"{op}: expected attn_mask dtype to be bool or to match the query dtype, but got "
                               f"attn_mask.dtype {attn_mask.dtype} and query.dtype {q.dtype}; convert the mask, "
                               f"e.g. attn_mask.to(query.dtype)")
    if not 0 <= dropout_p <= 1:
        raise ValueError(f"{op}: dropout_p has to be between 0 and 1, but got {dropout_p}")


def _additive(mask, like):
    """A bool "take part" mask as 0 / -inf in ``like``'s dtype; a float mask as it is."""
    if mask is None or mask.dtype != dtypes.bool_:
        return mask
    xp = mask._backend.xp
    zero, minus_inf = xp.zeros((), like.dtype), xp.asarray(-math.inf, like.dtype)
    return Tensor._make(xp.where(mask.array, zero, minus_inf), mask._backend)


def _causal_bias(q, k):
    """0 on and below the diagonal (top-left aligned: query i sees keys 0..i), -inf above."""
    xp = q._backend.xp
    L, S = q.shape[-2], k.shape[-2]
    keep = xp.arange(S)[None, :] <= xp.arange(L)[:, None]
    return Tensor._make(xp.where(keep, xp.zeros((), q.dtype), xp.asarray(-math.inf, q.dtype)), q._backend)


def _repeat_heads(t, groups):
    """(..., Hk, S, E) -> (..., Hk * groups, S, E), each head repeated ``groups`` times in a row."""
    shape = tuple(t.shape)
    return t.unsqueeze(-3).expand(*shape[:-2], groups, *shape[-2:]).reshape(
        *shape[:-3], shape[-3] * groups, *shape[-2:])


def attention_weights(q, k, bias=None, scale=None, safe=True):
    """softmax(scale * q @ kᵀ + bias) in one op (``bias``: an additive float mask or None)."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return AttentionWeights.apply(q, k, bias, scale=scale, safe=safe)


@autocast_entry
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ keyᵀ * scale + mask) @ value over the last two dims, as PyTorch's.

    ``attn_mask``: bool (True: the key takes part) or float (added to the scores), broadcasting to
    (..., L, S). ``is_causal``: query i sees keys 0..i. ``scale`` defaults to 1 / sqrt(E).
    ``enable_gqa``: key and value may have fewer heads (dim -3) than query, each shared by a group of
    query heads. Dropout (``dropout_p``) is applied to the weights, always (as PyTorch: pass 0.0 in eval).
    """
    _check_sdpa(query, key, value, attn_mask, dropout_p, is_causal)
    if enable_gqa and query.ndim >= 3 and key.ndim >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hk != hv or (hq != hk and (hk == 0 or hq % hk)):
            raise RuntimeError(f"scaled_dot_product_attention: with enable_gqa the number of query heads ({hq}) "
                               f"must be a multiple of the key heads ({hk}), which must equal the value heads "
                               f"({hv}); shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if hq != hk:
            key, value = _repeat_heads(key, hq // hk), _repeat_heads(value, hq // hk)
    bias = _causal_bias(query, key) if is_causal else _additive(attn_mask, query)
    if bias is not None and (query.numel() == 0 or key.numel() == 0):
        bias = None  # nothing to mask (PyTorch does not look at the mask then either)
    weights = attention_weights(query, key, bias, scale, safe=True)
    if dropout_p > 0:
        from .dropout import dropout
        weights = dropout(weights, dropout_p, training=True)
    from .linalg import matmul
    return matmul(weights, value)


# --- multi_head_attention_forward --------------------------------------------------------------------

def _canonical_mask(mask, name, other_name, other, target_dtype):
    """PyTorch's rule for nn.MultiheadAttention masks: bool True (left out) becomes -inf, False 0; a float
    mask is added as it is."""
    if mask is None:
        return None
    if mask.dtype != dtypes.bool_ and not dtypes.is_floating(mask.dtype):
        raise AssertionError(f"multi_head_attention_forward: only bool and floating types of {name} are supported, "
                             f"got {mask.dtype}")
    if other is not None and other.dtype != mask.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same type for both "
                      f"instead.", UserWarning, stacklevel=4)
    if mask.dtype == dtypes.bool_:
        xp = mask._backend.xp
        return Tensor._make(xp.where(mask.array, xp.asarray(-math.inf, target_dtype), xp.zeros((), target_dtype)),
                            mask._backend)
    return mask


def _in_projection(query, key, value, w, b, w_q, w_k, w_v, separate, e):
    from .nn import linear
    op = "multi_head_attention_forward"
    expected = [(b, (3 * e,), "in_proj_bias")]
    if separate:
        expected += [(w_q, (e, e), "q_proj_weight"), (w_k, (e, key.shape[-1]), "k_proj_weight"),
                     (w_v, (e, value.shape[-1]), "v_proj_weight")]
    else:
        expected += [(w, (3 * e, e), "in_proj_weight")]
        if key.shape[-1] != e or value.shape[-1] != e:
            raise AssertionError(f"{op}: key and value must have embed_dim ({e}) features when the projections are "
                                 f"packed in in_proj_weight, got shapes {tuple(key.shape)} and {tuple(value.shape)}; "
                                 f"use separate q/k/v_proj_weight (kdim, vdim)")
    for t, shape, name in expected:
        if t is None and name != "in_proj_bias":
            raise AssertionError(f"{op}: {name} is None but is needed here")
        if t is not None and tuple(t.shape) != shape:
            raise AssertionError(f"{op}: expecting {name} of shape {shape}, but got {tuple(t.shape)}")
    if not separate:
        if query is key and key is value:  # self-attention: one GEMM for q, k and v
            qkv = linear(query, w, b)
            return qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if key is value:
            kv = linear(key, w[e:], None if b is None else b[e:])
            return linear(query, w[:e], bq), kv[..., :e], kv[..., e:]
        return linear(query, w[:e], bq), linear(key, w[e:2 * e], bk), linear(value, w[2 * e:], bv)
    bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
    return linear(query, w_q, bq), linear(key, w_k, bk), linear(value, w_v, bv)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """PyTorch's F.multi_head_attention_forward: sequence-first (L, N, E) inputs (or unbatched (L, E));
    returns (output, weights), weights averaged over heads (N, L, S) or per head (N, H, L, S), or None
    when ``need_weights`` is False. Masks: True (or -inf) leaves a key out."""
    op = "multi_head_attention_forward"
    from .dropout import dropout
    from .shape import cat
    batched = query.ndim == 3
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertionError(f"{op}: query, key and value must all be 3-D (L, N, E) or all 2-D (L, E) unbatched, "
                             f"got shapes {tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}")
    if key_padding_mask is not None and key_padding_mask.ndim != (2 if batched else 1):
        raise AssertionError(f"{op}: key_padding_mask should be {'2-D (N, S)' if batched else '1-D (S,)'} for "
                             f"{'batched' if batched else 'unbatched'} inputs, got shape "
                             f"{tuple(key_padding_mask.shape)}")
    if not batched:
        query, key, value = _unsqueeze_same(query, key, value)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
        if attn_mask is not None and attn_mask.ndim == 3:
            pass  # (H, L, S) for one sample: already (N * H, L, S)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"{op}: was expecting embedding dimension of {embed_dim_to_check}, but got "
                             f"{embed_dim} (query shape {tuple(query.shape)})")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"{op}: embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if key.shape[:2] != value.shape[:2]:
        raise AssertionError(f"{op}: key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)} "
                             f"in the sequence and batch dims")
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", "attn_mask", attn_mask, query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError(f"{op}: need attn_mask if specifying the is_causal hint; you may use "
                           f"Transformer.generate_square_subsequent_mask to create it")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the causal hint alone goes to scaled_dot_product_attention
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", "key_padding_mask", None, query.dtype)
        if key_padding_mask is not None:
            is_causal = False  # the merged mask is no longer causal

    # input projections
    q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, q_proj_weight, k_proj_weight,
                             v_proj_weight, use_separate_proj_weight, embed_dim)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"{op}: the shape of the 2-D attn_mask is {tuple(attn_mask.shape)}, but should "
                                   f"be {(tgt_len, src_len)}")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"{op}: the shape of the 3-D attn_mask is {tuple(attn_mask.shape)}, but should "
                                   f"be {(bsz * num_heads, tgt_len, src_len)}")
        else:
            raise RuntimeError(f"{op}: attn_mask's dimension {attn_mask.ndim} is not supported (2-D or 3-D)")

    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError(f"{op}: bias cannot be added to static key/value")
        k = cat([k, bias_k.expand(1, bsz, embed_dim)])
        v = cat([v, bias_v.expand(1, bsz, embed_dim)])
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    elif (bias_k is None) != (bias_v is None):
        raise AssertionError(f"{op}: bias_k and bias_v must both be given or both be None")

    # (L, N, E) -> (N * H, L, head_dim)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1) if static_k is None else static_k
    v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1) if static_v is None else static_v
    if add_zero_attn:
        zeros = k.new_zeros((bsz * num_heads, 1, head_dim))
        k, v = cat([k, zeros], dim=1), cat([v, zeros.new_zeros((bsz * num_heads, 1, v.shape[-1]))], dim=1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[1]

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(f"{op}: expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                                 f"{tuple(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len).reshape(
            bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm

    if not training:
        dropout_p = 0.0

    from .linalg import matmul
    from .nn import linear
    if need_weights:
        weights = attention_weights(q, k, attn_mask, 1.0 / math.sqrt(head_dim), safe=False)
        if dropout_p > 0:
            weights = dropout(weights, dropout_p, training=True)
        out = matmul(weights, v)  # (N * H, L, head_dim)
        out = linear(out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim), out_proj_weight, out_proj_bias)
        out = out.reshape(tgt_len, bsz, out.shape[-1])
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        attn_mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else attn_mask.reshape(
            bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, v.shape[-1])
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = linear(out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim), out_proj_weight, out_proj_bias)
    out = out.reshape(tgt_len, bsz, out.shape[-1])
    return (out if batched else out.squeeze(1)), None


def _unsqueeze_same(query, key, value):
    """Unsqueeze dim 1 of each, keeping ``query is key is value`` (the self-attention fast path) true."""
    q = query.unsqueeze(1)
    k = q if key is query else key.unsqueeze(1)
    v = k if value is key else (q if value is query else value.unsqueeze(1))
    return q, k, v


def _pad_last(mask):
    """One more key at the end, taking part (a zero column)."""
    if mask is None:
        return None
    from .shape import cat
    return cat([mask, mask.new_zeros(tuple(mask.shape[:-1]) + (1,))], dim=-1)

