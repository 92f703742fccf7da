"""Recurrent ops: RNN/LSTM/GRU over a whole sequence (one op per layer and direction) and single cells.

A layer over a sequence is one op, because built from per-step primitive ops it runs 5-9x slower
than PyTorch on the CPU. Its forward does one GEMM for the input projection of every time step,
then per step one GEMM for the recurrence and the gate arithmetic in a few in-place NumPy passes
(the LSTM's gates are kept internally as i, f, o, g so one sigmoid covers a contiguous 3H block).
It saves only what backpropagation through time needs: the activated gates and the cell states
(the LSTM), the gates and the hidden part of the candidate (the GRU), nothing but its output (RNN).
Its backward walks the steps in reverse and gathers the gate gradients of up to ``_CHUNK`` steps,
then turns them into the weight and input gradients with a few large GEMMs; its memory beyond what
forward saved stays that of one chunk, whatever the sequence length.

Packed sequences arrive padded, time-major (T, B, ...), sorted by decreasing length, with
``batch_sizes[t]`` the number of sequences still running at step t: a step updates only those rows
(a prefix), the others carry their state unchanged, and their outputs are zero. The final state of
each sequence is then simply the state after the last step, in either direction.

With ``create_graph=True`` the backward recomputes the layer from the single-cell compositions below
(differentiable ops) and differentiates that, so higher derivatives work; only then is it slow.

The cells (``rnn_tanh_cell``, ``rnn_relu_cell``, ``lstm_cell``, ``gru_cell``, as ``torch.lstm_cell``
and friends) are compositions of differentiable ops: one step does not need a fused kernel.
"""

from .. import dtypes
from ..engine import run_backward
from ..function import Op, autocast_entry
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor, zeros
from .nn import linear
from .shape import cat, stack

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "rnn_layer", "lstm_layer", "gru_layer"]

_CHUNK = 64  # steps whose gate gradients backward gathers before the weight/input GEMMs
_LSTM_ORDER = (0, 1, 3, 2)  # PyTorch's i, f, g, o rows -> our i, f, o, g (and back: the same swap)


# --- shared pieces of the sequence ops -----------------------------------------------------------

def _compute_dtype(xp, dtype):
    """float16/bfloat16 are computed in float32 (NumPy has no fast half GEMM; PyTorch accumulates in
    float32 too) and rounded back at the end."""
    return xp.dtype(xp.float32) if dtypes.is_low_precision(dtype) else dtype


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _active(batch_sizes, t, B):
    return B if batch_sizes is None else batch_sizes[t]


def _as(xp, a, dtype):
    return None if a is None else xp.asarray(a).astype(dtype, copy=False)


def _project_inputs(xp, x, w_ih, bias):
    """One GEMM for every time step: (T, B, I) @ (G, I).T + bias -> (T, B, G), contiguous."""
    T, B, I = x.shape
    out = xp.matmul(x.reshape(T * B, I), w_ih.T).reshape(T, B, w_ih.shape[0])
    if bias is not None:
        out += bias
    return out


def _previous_h(out, h0, t, batch_sizes, reverse, into):
    """The state a step at time t started from, written into ``into`` (B, P): the output of the step
    before it, or h0 for the first step and (backwards, packed) for sequences that start at t."""
    T = out.shape[0]
    before = t + 1 if reverse else t - 1
    if not 0 <= before < T:
        into[...] = h0
        return into
    into[...] = out[before]
    if reverse and batch_sizes is not None and batch_sizes[before] < batch_sizes[t]:
        into[batch_sizes[before]:batch_sizes[t]] = h0[batch_sizes[before]:batch_sizes[t]]
    return into


class _Gradients:
    """Weight, bias and input gradients gathered chunk by chunk from the gate gradients.

    ``in_blocks``/``h_blocks`` pair columns of the gate-gradient buffer with rows of w_ih/w_hh
    (the GRU's candidate has a different gradient on its input and hidden sides)."""

    def __init__(self, xp, x, w_ih, w_hh, needs, in_blocks, h_blocks, dtype):
        self.xp, self.x, self.w_ih, self.in_blocks, self.h_blocks = xp, x, w_ih, in_blocks, h_blocks
        self.need_x, self.need_wih, self.need_whh, self.need_bih, self.need_bhh = needs
        self.dx = xp.zeros(x.shape, dtype) if self.need_x else None
        self.dw_ih = xp.zeros(w_ih.shape, dtype) if self.need_wih else None
        self.dw_hh = xp.zeros(w_hh.shape, dtype) if self.need_whh else None
        self.db_ih = xp.zeros(w_ih.shape[0], dtype) if self.need_bih else None
        self.db_hh = xp.zeros(w_hh.shape[0], dtype) if self.need_bhh else None

    def flush(self, dG, hprev, lo, hi):
        """Gate gradients ``dG`` (n, B, C) of times lo..hi-1 (in time order), states before them."""
        n, B, C = dG.shape
        flat = dG.reshape(n * B, C)
        xs = self.x[lo:hi].reshape(n * B, self.x.shape[-1])
        for cols, rows in self.in_blocks:
            g = flat[:, cols]
            if self.dx is not None:
                self.dx[lo:hi] += self.xp.matmul(g, self.w_ih[rows]).reshape(n, B, -1)
            if self.dw_ih is not None:
                self.dw_ih[rows] += self.xp.matmul(g.T, xs)
            if self.db_ih is not None:
                self.db_ih[rows] += g.sum(axis=0)
        hs = hprev.reshape(n * B, hprev.shape[-1])
        for cols, rows in self.h_blocks:
            g = flat[:, cols]
            if self.dw_hh is not None:
                self.dw_hh[rows] += self.xp.matmul(g.T, hs)
            if self.db_hh is not None:
                self.db_hh[rows] += g.sum(axis=0)


def _run_backward_steps(ctx, T, B, C, P, step, grads_state, gradients, out, h0, batch_sizes, reverse, dtype):
    """Walk the steps backwards; ``step(t, bs, dG_t, hprev_t)`` fills the gate gradients of time t
    and updates the carried state gradients. Gate gradients are flushed every ``_CHUNK`` steps."""
    xp = ctx.xp
    chunk = min(_CHUNK, T)
    dG = xp.zeros((chunk, B, C), dtype)
    hprev = xp.empty((chunk, B, P), dtype)
    times = list(_steps(T, not reverse))  # backward visits the steps in the opposite order
    for start in range(0, T, chunk):
        block = times[start:start + chunk]
        lo, n = min(block), len(block)
        for t in block:
            bs = _active(batch_sizes, t, B)
            k = t - lo
            hp = _previous_h(out, h0, t, batch_sizes, reverse, hprev[k])
            if bs < B:
                dG[k, bs:] = 0
            step(t, bs, dG[k], hp)
        gradients.flush(dG[:n], hprev[:n], lo, lo + n)
    return grads_state


def _round(xp, arrays, like):
    return tuple(None if a is None else a.astype(like, copy=False) for a in arrays)


def _wrap(ctx, arrays):
    return tuple(None if a is None else Tensor._make(a, ctx.backend) for a in arrays)


def _sigmoid_(xp, a):
    """In place: 1 / (1 + exp(-a))."""
    xp.negative(a, out=a)
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)
    return a


class _SequenceOp(Op):
    """What the three sequence ops share: the double-backward path."""
    differentiable = False  # a base, not an op of its own (the op table skips it); the layer ops say True

    def backward(ctx, *grads):
        if is_grad_enabled():  # create_graph: differentiate the layer rebuilt from cells
            return _composed_backward(ctx, grads)
        return ctx.fused_backward(grads)


class RnnSequence(_SequenceOp):
    """An Elman RNN layer over a sequence: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    differentiable = True
    num_outputs = 2

    def forward(ctx, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", batch_sizes=None,
                reverse=False):
        xp, like = ctx.xp, x.dtype
        dt = _compute_dtype(xp, like)
        inputs = (x, h0, w_ih, w_hh, b_ih, b_hh)  # saved as given: the double backward differentiates them
        x, h0, w_ih, w_hh, b_ih, b_hh = (_as(xp, a, dt) for a in inputs)
        ctx.attrs = dict(nonlinearity=nonlinearity, batch_sizes=batch_sizes, reverse=reverse)
        T, B = x.shape[:2]
        bias = b_ih if b_hh is None else b_hh if b_ih is None else b_ih + b_hh
        out = _project_inputs(xp, x, w_ih, bias)  # becomes the output in place, step by step
        h = h0.copy()
        tmp = xp.empty_like(h)
        for t in _steps(T, reverse):
            bs = _active(batch_sizes, t, B)
            o = out[t, :bs]
            o += xp.matmul(h[:bs], w_hh.T, out=tmp[:bs])
            if nonlinearity == "tanh":
                xp.tanh(o, out=o)
            else:
                xp.maximum(o, 0, out=o)
            out[t, bs:] = 0
            h[:bs] = o
        ctx.save_for_backward(*inputs, out)
        ctx.like = like
        return _round(xp, (out, h), like)

    def fused_backward(ctx, grads):
        xp = ctx.xp
        *inputs, out = (None if s is None else s.array for s in ctx.saved_tensors)
        dt = out.dtype
        x, h0, w_ih, w_hh, b_ih, b_hh = (_as(xp, a, dt) for a in inputs)
        gout, ghn = grads
        T, B = x.shape[:2]
        H = w_hh.shape[0]
        a = ctx.attrs
        needs = ctx.needs_input_grad
        gradients = _Gradients(xp, x, w_ih, w_hh, (needs[0], needs[2], needs[3], needs[4], needs[5]),
                               [(slice(0, H), slice(0, H))], [(slice(0, H), slice(0, H))], dt)
        dh = xp.zeros((B, H), dt) if ghn is None else ghn.array.astype(dt)  # a copy: it is changed in place
        gout = None if gout is None else gout.array.astype(dt, copy=False)

        def step(t, bs, dG, hp):
            d = dh[:bs]
            if gout is not None:
                d += gout[t, :bs]
            o = out[t, :bs]
            if a["nonlinearity"] == "tanh":
                xp.multiply(o, o, out=dG[:bs])
                xp.subtract(1, dG[:bs], out=dG[:bs])
                dG[:bs] *= d
            else:
                xp.multiply(d, o > 0, out=dG[:bs])
            xp.matmul(dG[:bs], w_hh, out=d)

        _run_backward_steps(ctx, T, B, H, H, step, None, gradients, out, h0, a["batch_sizes"], a["reverse"], dt)
        g = _round(xp, (gradients.dx, dh if needs[1] else None, gradients.dw_ih, gradients.dw_hh, gradients.db_ih,
                        gradients.db_hh), ctx.like)
        return _wrap(ctx, g)


class LstmSequence(_SequenceOp):
    """An LSTM layer over a sequence (with ``w_hr``, PyTorch's projected LSTM: h = (o * tanh(c)) W_hr^T)."""
    differentiable = True
    num_outputs = 3

    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, batch_sizes=None, reverse=False):
        xp, like = ctx.xp, x.dtype
        dt = _compute_dtype(xp, like)
        inputs = (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr = (_as(xp, a, dt) for a in inputs)
        ctx.attrs = dict(batch_sizes=batch_sizes, reverse=reverse)
        T, B = x.shape[:2]
        H = c0.shape[-1]
        P = h0.shape[-1]
        wi, wh = _gate_order(w_ih, H), _gate_order(w_hh, H)
        bias = b_ih if b_hh is None else b_hh if b_ih is None else b_ih + b_hh
        gates = _project_inputs(xp, x, wi, None if bias is None else _gate_order(bias, H))
        cells = xp.empty((T, B, H), dt)
        out = xp.zeros((T, B, P), dt)
        h, c = h0.copy(), c0
        tmp, r = xp.empty((B, 4 * H), dt), xp.empty((B, H), dt)
        for t in _steps(T, reverse):
            bs = _active(batch_sizes, t, B)
            g = gates[t, :bs]
            g += xp.matmul(h[:bs], wh.T, out=tmp[:bs])
            _sigmoid_(xp, g[:, :3 * H])
            xp.tanh(g[:, 3 * H:], out=g[:, 3 * H:])
            c_new = cells[t]
            xp.multiply(g[:, H:2 * H], c[:bs], out=c_new[:bs])  # f * c
            xp.multiply(g[:, :H], g[:, 3 * H:], out=r[:bs])     # i * g
            c_new[:bs] += r[:bs]
            if bs < B:
                c_new[bs:] = c[bs:]
            xp.tanh(c_new[:bs], out=r[:bs])
            r[:bs] *= g[:, 2 * H:3 * H]                           # o * tanh(c)
            if w_hr is None:
                out[t, :bs] = r[:bs]
            else:
                xp.matmul(r[:bs], w_hr.T, out=out[t, :bs])
            h[:bs] = out[t, :bs]
            c = c_new
        c_n = c.copy()
        if True in ctx.needs_input_grad:
            ctx.save_for_backward(*inputs, out, gates, cells)
        ctx.like = like
        return _round(xp, (out, h, c_n), like)

    def fused_backward(ctx, grads):
        xp = ctx.xp
        *inputs, out, gates, cells = (None if s is None else s.array for s in ctx.saved_tensors)
        dt = out.dtype
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr = (_as(xp, a, dt) for a in inputs)
        gout, ghn, gcn = grads
        T, B = x.shape[:2]
        H, P = c0.shape[-1], h0.shape[-1]
        a = ctx.attrs
        batch_sizes, reverse = a["batch_sizes"], a["reverse"]
        needs = ctx.needs_input_grad
        wi, wh = _gate_order(w_ih, H), _gate_order(w_hh, H)
        everything = slice(0, 4 * H)
        gradients = _Gradients(xp, x, wi, wh, (needs[0], needs[3], needs[4], needs[5], needs[6]),
                               [(everything, everything)], [(everything, everything)], dt)
        dh = xp.zeros((B, P), dt) if ghn is None else ghn.array.astype(dt)
        dc = xp.zeros((B, H), dt) if gcn is None else gcn.array.astype(dt)
        gout = None if gout is None else gout.array.astype(dt, copy=False)
        dw_hr = xp.zeros(w_hr.shape, dt) if w_hr is not None and needs[7] else None
        tc, u, dr_buf = xp.empty((B, H), dt), xp.empty((B, H), dt), xp.empty((B, H), dt)

        def step(t, bs, dG, hp):
            d = dh[:bs]
            if gout is not None:
                d += gout[t, :bs]
            g = gates[t, :bs]
            i, f, o, gg = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
            before = t + 1 if reverse else t - 1
            c_prev = (cells[before] if 0 <= before < T else c0)[:bs]
            th = xp.tanh(cells[t, :bs], out=tc[:bs])
            if w_hr is None:
                dr = d
            else:
                dr = xp.matmul(d, w_hr, out=dr_buf[:bs])
                if dw_hr is not None:
                    dw_hr[...] += xp.matmul(d.T, th * o)
            di, df, do, dg = dG[:bs, :H], dG[:bs, H:2 * H], dG[:bs, 2 * H:3 * H], dG[:bs, 3 * H:]
            # dc += dr * o * (1 - tanh(c)^2)
            v = u[:bs]
            xp.multiply(th, th, out=v)
            xp.subtract(1, v, out=v)
            v *= o
            v *= dr
            dcs = dc[:bs]
            dcs += v
            # d(pre-activations): sigmoid' = s (1 - s), tanh' = 1 - t^2
            xp.multiply(dr, th, out=do)                       # do = dr * tanh(c)
            xp.multiply(dcs, gg, out=di)                      # di = dc * g
            xp.multiply(dcs, c_prev, out=df)                  # df = dc * c_prev
            xp.multiply(dcs, i, out=dg)                       # dg = dc * i
            sig = g[:, :3 * H]
            dsig = dG[:bs, :3 * H]
            dsig *= sig
            xp.subtract(1, sig, out=tmp3[:bs])
            dsig *= tmp3[:bs]
            xp.multiply(gg, gg, out=v)
            xp.subtract(1, v, out=v)
            dg *= v
            dcs *= f
            xp.matmul(dG[:bs], wh, out=d)

        tmp3 = xp.empty((B, 3 * H), dt)
        _run_backward_steps(ctx, T, B, 4 * H, P, step, None, gradients, out, h0, batch_sizes, reverse, dt)
        dw_ih = None if gradients.dw_ih is None else _gate_order(gradients.dw_ih, H)
        dw_hh = None if gradients.dw_hh is None else _gate_order(gradients.dw_hh, H)
        db_ih = None if gradients.db_ih is None else _gate_order(gradients.db_ih, H)
        db_hh = None if gradients.db_hh is None else _gate_order(gradients.db_hh, H)
        g = _round(xp, (gradients.dx, dh if needs[1] else None, dc if needs[2] else None, dw_ih, dw_hh, db_ih, db_hh,
                        dw_hr), ctx.like)
        return _wrap(ctx, g)


def _gate_order(w, H):
    """Swap the LSTM's g and o blocks (rows of a weight or entries of a bias): PyTorch's i, f, g, o and
    our i, f, o, g map to each other by the same swap."""
    return w.reshape((4, H) + w.shape[1:])[list(_LSTM_ORDER)].reshape(w.shape)


class GruSequence(_SequenceOp):
    """A GRU layer over a sequence: r, z = sigmoid(...), n = tanh(x W_in + b_in + r (h W_hn + b_hn)),
    h' = (1 - z) n + z h."""
    differentiable = True
    num_outputs = 2

    def forward(ctx, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, batch_sizes=None, reverse=False):
        xp, like = ctx.xp, x.dtype
        dt = _compute_dtype(xp, like)
        inputs = (x, h0, w_ih, w_hh, b_ih, b_hh)
        x, h0, w_ih, w_hh, b_ih, b_hh = (_as(xp, a, dt) for a in inputs)
        ctx.attrs = dict(batch_sizes=batch_sizes, reverse=reverse)
        T, B = x.shape[:2]
        H = h0.shape[-1]
        gi = _project_inputs(xp, x, w_ih, b_ih)
        if b_hh is not None:
            gi[..., :2 * H] += b_hh[:2 * H]
        saving = True in ctx.needs_input_grad
        # per step: r, z, the hidden part of the candidate (h W_hn + b_hn), n
        saved = xp.empty((T if saving else 1, B, 4 * H), dt)
        out = xp.zeros((T, B, H), dt)
        h = h0.copy()
        gh = xp.empty((B, 3 * H), dt)
        for t in _steps(T, reverse):
            bs = _active(batch_sizes, t, B)
            s = saved[t if saving else 0, :bs]
            xp.matmul(h[:bs], w_hh.T, out=gh[:bs])
            if b_hh is not None:
                gh[:bs, 2 * H:] += b_hh[2 * H:]
            rz = s[:, :2 * H]
            xp.add(gi[t, :bs, :2 * H], gh[:bs, :2 * H], out=rz)
            _sigmoid_(xp, rz)
            s[:, 2 * H:3 * H] = gh[:bs, 2 * H:]
            n = s[:, 3 * H:]
            xp.multiply(rz[:, :H], gh[:bs, 2 * H:], out=n)
            n += gi[t, :bs, 2 * H:]
            xp.tanh(n, out=n)
            o = out[t, :bs]
            xp.subtract(h[:bs], n, out=o)   # h' = n + z (h - n)
            o *= rz[:, H:]
            o += n
            h[:bs] = o
        if saving:
            ctx.save_for_backward(*inputs, out, saved)
        ctx.like = like
        return _round(xp, (out, h), like)

    def fused_backward(ctx, grads):
        xp = ctx.xp
        *inputs, out, saved = (None if s is None else s.array for s in ctx.saved_tensors)
        dt = out.dtype
        x, h0, w_ih, w_hh, b_ih, b_hh = (_as(xp, a, dt) for a in inputs)
        gout, ghn = grads
        T, B = x.shape[:2]
        H = h0.shape[-1]
        a = ctx.attrs
        needs = ctx.needs_input_grad
        # gate-gradient columns: dr, dz, dn on the hidden side (dn * r), dn on the input side
        gradients = _Gradients(xp, x, w_ih, w_hh, (needs[0], needs[2], needs[3], needs[4], needs[5]),
                               [(slice(0, 2 * H), slice(0, 2 * H)), (slice(3 * H, 4 * H), slice(2 * H, 3 * H))],
                               [(slice(0, 3 * H), slice(0, 3 * H))], dt)
        dh = xp.zeros((B, H), dt) if ghn is None else ghn.array.astype(dt)
        gout = None if gout is None else gout.array.astype(dt, copy=False)
        u, rec = xp.empty((B, H), dt), xp.empty((B, H), dt)

        def step(t, bs, dG, hp):
            d = dh[:bs]
            if gout is not None:
                d += gout[t, :bs]
            s = saved[t, :bs]
            r, z, ghn_, n = s[:, :H], s[:, H:2 * H], s[:, 2 * H:3 * H], s[:, 3 * H:]
            dr, dz, dnh, dn = dG[:bs, :H], dG[:bs, H:2 * H], dG[:bs, 2 * H:3 * H], dG[:bs, 3 * H:]
            v = u[:bs]
            # dn = d (1 - z) (1 - n^2)
            xp.subtract(1, z, out=dn)
            dn *= d
            xp.multiply(n, n, out=v)
            xp.subtract(1, v, out=v)
            dn *= v
            # dz = d (h_prev - n) z (1 - z)
            xp.subtract(hp[:bs], n, out=dz)
            dz *= d
            dz *= z
            xp.subtract(1, z, out=v)
            dz *= v
            # dr = dn * (h W_hn + b_hn) * r (1 - r)
            xp.multiply(dn, ghn_, out=dr)
            dr *= r
            xp.subtract(1, r, out=v)
            dr *= v
            xp.multiply(dn, r, out=dnh)
            # the state gradient: through z directly, and through the recurrence GEMM
            xp.matmul(dG[:bs, :3 * H], w_hh, out=rec[:bs])
            d *= z
            d += rec[:bs]

        _run_backward_steps(ctx, T, B, 4 * H, H, step, None, gradients, out, h0, a["batch_sizes"], a["reverse"], dt)
        g = _round(xp, (gradients.dx, dh if needs[1] else None, gradients.dw_ih, gradients.dw_hh, gradients.db_ih,
                        gradients.db_hh), ctx.like)
        return _wrap(ctx, g)


# --- the cells: compositions of differentiable ops ---------------------------------------------------

def _check_cell(op, input, hx, w_ih, w_hh, gates):
    if input.ndim not in (1, 2):
        raise RuntimeError(f"{op}: expected input with 1 or 2 dims (input_size) or (batch, input_size), got shape "
                           f"{tuple(input.shape)}")
    H = w_hh.shape[-1]
    if w_ih.ndim != 2 or w_hh.ndim != 2 or w_ih.shape[0] != gates * H or w_hh.shape[0] != gates * H:
        raise RuntimeError(f"{op}: expected w_ih of shape ({gates} * hidden_size, input_size) and w_hh of shape "
                           f"({gates} * hidden_size, hidden_size), got {tuple(w_ih.shape)} and {tuple(w_hh.shape)}")
    if input.shape[-1] != w_ih.shape[1]:
        raise RuntimeError(f"{op}: input has {input.shape[-1]} features (shape {tuple(input.shape)}) but w_ih of "
                           f"shape {tuple(w_ih.shape)} expects {w_ih.shape[1]}")
    for h in hx:
        if tuple(h.shape) != tuple(input.shape[:-1]) + (H,):
            raise RuntimeError(f"{op}: hidden state of shape {tuple(h.shape)} does not fit input of shape "
                               f"{tuple(input.shape)} and hidden_size {H}; expected "
                               f"{tuple(input.shape[:-1]) + (H,)}")


def _gates(input, hx, w_ih, w_hh, b_ih, b_hh):
    return linear(input, w_ih, b_ih) + linear(hx, w_hh, b_hh)


@autocast_entry
def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step: tanh(input W_ih^T + b_ih + hx W_hh^T + b_hh) (torch.rnn_tanh_cell)."""
    _check_cell("rnn_tanh_cell", input, (hx,), w_ih, w_hh, 1)
    return _gates(input, hx, w_ih, w_hh, b_ih, b_hh).tanh()


@autocast_entry
def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step with relu (torch.rnn_relu_cell)."""
    _check_cell("rnn_relu_cell", input, (hx,), w_ih, w_hh, 1)
    return _gates(input, hx, w_ih, w_hh, b_ih, b_hh).relu()


@autocast_entry
def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None):
    """One LSTM step; ``hx`` is (h, c); returns (h', c') (torch.lstm_cell). Gates in PyTorch's order
    i, f, g, o; with ``w_hr`` the output is projected: h' = (o * tanh(c')) W_hr^T."""
    h, c = hx
    H = c.shape[-1]
    if w_hr is None:  # the projected cell (only used by the layers) is checked there
        _check_cell("lstm_cell", input, (h, c), w_ih, w_hh, 4)
    g = _gates(input, h, w_ih, w_hh, b_ih, b_hh)
    i, f, gg, o = g[..., :H].sigmoid(), g[..., H:2 * H].sigmoid(), g[..., 2 * H:3 * H].tanh(), g[..., 3 * H:].sigmoid()
    c = f * c + i * gg
    h = o * c.tanh()
    if w_hr is not None:
        h = linear(h, w_hr)
    return h, c


@autocast_entry
def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step (torch.gru_cell): gates r, z, n in PyTorch's order."""
    _check_cell("gru_cell", input, (hx,), w_ih, w_hh, 3)
    H = hx.shape[-1]
    gi, gh = linear(input, w_ih, b_ih), linear(hx, w_hh, b_hh)
    r = (gi[..., :H] + gh[..., :H]).sigmoid()
    z = (gi[..., H:2 * H] + gh[..., H:2 * H]).sigmoid()
    n = (gi[..., 2 * H:] + r * gh[..., 2 * H:]).tanh()
    return n + z * (hx - n)


# --- the layers: checks, then the fused op ------------------------------------------------------------

def _check_layer(op, x, states, w_ih, w_hh, gates, w_hr=None, batch_sizes=None):
    if x.ndim != 3:
        raise RuntimeError(f"{op}: expected input of shape (seq_len, batch, input_size), got {tuple(x.shape)}")
    T, B, I = x.shape
    if T == 0:
        raise RuntimeError(f"{op}: expected sequence length to be larger than 0, got input of shape "
                           f"{tuple(x.shape)}")
    if not dtypes.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating input, got {x.dtype}")
    H = w_hh.shape[0] // gates if w_hh.ndim == 2 else -1
    P = w_hr.shape[0] if w_hr is not None else H
    if (w_ih.ndim != 2 or w_hh.ndim != 2 or w_ih.shape != (gates * H, I) or w_hh.shape != (gates * H, P)
            or H == 0 and I == 0):
        raise RuntimeError(f"{op}: weights of shapes {tuple(w_ih.shape)} and {tuple(w_hh.shape)} do not fit input "
                           f"of shape {tuple(x.shape)}; expected w_ih ({gates} * hidden_size, {I}) and w_hh "
                           f"({gates} * hidden_size, {'proj_size' if w_hr is not None else 'hidden_size'})")
    if w_hr is not None and (w_hr.ndim != 2 or w_hr.shape[1] != H):
        raise RuntimeError(f"{op}: w_hr of shape {tuple(w_hr.shape)} does not fit hidden_size {H}")
    for name, s, size in zip(("hx", "cx"), states, (P, H)):
        if tuple(s.shape) != (B, size):
            raise RuntimeError(f"{op}: expected {name} of shape {(B, size)}, got {tuple(s.shape)}")
    for t in (w_ih, w_hh, w_hr, *states):
        if t is not None and t.dtype != x.dtype:
            raise RuntimeError(f"{op}: input dtype {x.dtype} differs from a weight or state dtype {t.dtype}; "
                               f"convert one of them (e.g. module.to({x.dtype}))")
    if batch_sizes is not None:
        if len(batch_sizes) != T or list(batch_sizes) != sorted(batch_sizes, reverse=True) or batch_sizes[0] != B \
                or batch_sizes[-1] < 1:
            raise RuntimeError(f"{op}: batch_sizes {list(batch_sizes)} must be {T} non-increasing counts starting "
                               f"at the batch size {B}")


def _batch_sizes(batch_sizes):
    return None if batch_sizes is None else tuple(int(b) for b in batch_sizes)


@autocast_entry
def rnn_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", batch_sizes=None, reverse=False):
    """One Elman RNN layer over a time-major sequence (T, B, I): returns (output (T, B, H), h_n (B, H)).

    ``batch_sizes`` (non-increasing, one per step) runs a padded packed batch sorted by length;
    ``reverse`` runs the steps backwards (the second direction of a bidirectional layer)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_layer: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
    _check_layer("rnn_layer", input, (hx,), w_ih, w_hh, 1, batch_sizes=batch_sizes)
    return RnnSequence.apply(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity,
                             batch_sizes=_batch_sizes(batch_sizes), reverse=bool(reverse))


@autocast_entry
def lstm_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, batch_sizes=None, reverse=False):
    """One LSTM layer over (T, B, I); ``hx`` is (h0, c0). Returns (output (T, B, P), h_n, c_n)."""
    h0, c0 = hx
    _check_layer("lstm_layer", input, (h0, c0), w_ih, w_hh, 4, w_hr, batch_sizes)
    return LstmSequence.apply(input, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, batch_sizes=_batch_sizes(batch_sizes),
                              reverse=bool(reverse))


@autocast_entry
def gru_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, batch_sizes=None, reverse=False):
    """One GRU layer over (T, B, I): returns (output (T, B, H), h_n (B, H))."""
    _check_layer("gru_layer", input, (hx,), w_ih, w_hh, 3, batch_sizes=batch_sizes)
    return GruSequence.apply(input, hx, w_ih, w_hh, b_ih, b_hh, batch_sizes=_batch_sizes(batch_sizes),
                             reverse=bool(reverse))


# --- double backward: the same layer from cells, differentiated ------------------------------------------

def _composed_sequence(op, inputs, attrs):
    """The layer built step by step from the cells above (differentiable ops): the same outputs."""
    if isinstance(op, LstmSequence):
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr = inputs
        state = (h0, c0)
        cell = lambda x_t, s: lstm_cell(x_t, s, w_ih, w_hh, b_ih, b_hh, w_hr)  # noqa: E731
    elif isinstance(op, GruSequence):
        x, h0, w_ih, w_hh, b_ih, b_hh = inputs
        state = (h0,)
        cell = lambda x_t, s: (gru_cell(x_t, s[0], w_ih, w_hh, b_ih, b_hh),)  # noqa: E731
    else:
        x, h0, w_ih, w_hh, b_ih, b_hh = inputs
        state = (h0,)
        fn = rnn_tanh_cell if attrs["nonlinearity"] == "tanh" else rnn_relu_cell
        cell = lambda x_t, s: (fn(x_t, s[0], w_ih, w_hh, b_ih, b_hh),)  # noqa: E731
    T, B = x.shape[:2]
    batch_sizes = attrs["batch_sizes"]
    outs = [None] * T
    for t in _steps(T, attrs["reverse"]):
        bs = _active(batch_sizes, t, B)
        new = cell(x[t, :bs], tuple(s[:bs] for s in state))
        if bs < B:
            state = tuple(cat([n, s[bs:]]) for n, s in zip(new, state))
            outs[t] = cat([new[0], zeros(B - bs, new[0].shape[-1], dtype=x.dtype, device=x.device)])
        else:
            state = new
            outs[t] = new[0]
    return (stack(outs),) + tuple(state)


def _composed_backward(ctx, grads):
    saved = ctx.saved_tensors
    n_inputs = len(ctx.needs_input_grad)
    inputs = saved[:n_inputs]
    outs = _composed_sequence(ctx, inputs, ctx.attrs)
    pairs = [(o, g) for o, g in zip(outs, grads) if g is not None]
    wrt = [x for x, need in zip(inputs, ctx.needs_input_grad) if need]
    got = iter(run_backward([o for o, _ in pairs], [g for _, g in pairs], retain_graph=True, create_graph=True,
                            inputs=wrt, allow_unused=True))
    return tuple(next(got) if need else None for need in ctx.needs_input_grad)
