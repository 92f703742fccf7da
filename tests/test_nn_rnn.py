"""The recurrent modules against PyTorch from identical weights (copied through state_dict): outputs,
h_n/c_n and every parameter's gradient, in every configuration; nn.utils.rnn; a small LSTM language
model's training trajectory."""

import numpy as np
import pytest
import torch

import autograd as ag
import nn
import optim
from conftest import assert_close, to_numpy

CONFIGS = [
    dict(),
    dict(batch_first=True),
    dict(bidirectional=True),
    dict(num_layers=2),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(bias=False),
]
KINDS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]


def pair(kind, extra, device="cpu", dtype=torch.float64, input_size=3, hidden_size=4, **kwargs):
    theirs = getattr(torch.nn, kind)(input_size, hidden_size, **extra, **kwargs).to(dtype)
    ours = getattr(nn, kind)(input_size, hidden_size, **extra, **kwargs, dtype=str(dtype).replace("torch.", ""))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours.to(device), theirs


def both(array, device, requires_grad=True):
    return (ag.tensor(array, device=device, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


def flat(result):
    """(output, h) or (output, (h, c)) -> [output, h(, c)]; PackedSequence -> its data."""
    out, h = result
    out = out.data if isinstance(out, (nn.utils.rnn.PackedSequence, torch.nn.utils.rnn.PackedSequence)) else out
    return [out] + (list(h) if isinstance(h, tuple) else [h])


def compare(ours, theirs, ours_out, theirs_out, leaves, tol=1e-10):
    """Outputs, then the gradients of a random projection of them for every parameter and leaf."""
    rng = np.random.default_rng(1)
    vs = [rng.standard_normal(tuple(t.shape)) for t in theirs_out]
    for o, t in zip(ours_out, theirs_out):
        assert_close(o, t, rtol=tol, atol=tol)
    sum(((o * ag.tensor(v, device=o.device, dtype=o.dtype)).sum() for o, v in zip(ours_out, vs)),
        ag.tensor(0.0, dtype=ours_out[0].dtype, device=ours_out[0].device)).backward()
    sum((t * torch.tensor(v, dtype=t.dtype)).sum() for t, v in zip(theirs_out, vs)).backward()
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        assert_close(p.grad, tp.grad, rtol=tol, atol=tol, msg=name)
    for o, t in leaves:
        assert_close(o.grad, t.grad, rtol=tol, atol=tol)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
@pytest.mark.parametrize("kind,extra", KINDS, ids=lambda v: v if isinstance(v, str) else ",".join(v.values()))
def test_module_against_torch(kind, extra, config, device):
    ours, theirs = pair(kind, extra, device, **config)
    rng = np.random.default_rng(0)
    T, B = 5, 3
    shape = (B, T, 3) if config.get("batch_first") else (T, B, 3)
    x, tx = both(rng.standard_normal(shape), device)
    compare(ours, theirs, flat(ours(x)), flat(theirs(tx)), [(x, tx)])


@pytest.mark.parametrize("kind,extra", KINDS, ids=lambda v: v if isinstance(v, str) else ",".join(v.values()))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_initial_states_given(kind, extra, bidirectional, device):
    ours, theirs = pair(kind, extra, device, num_layers=2, bidirectional=bidirectional)
    rng = np.random.default_rng(2)
    streams = 4 if bidirectional else 2
    x, tx = both(rng.standard_normal((4, 2, 3)), device)
    h, th = both(rng.standard_normal((streams, 2, 4)), device)
    if kind == "LSTM":
        c, tc = both(rng.standard_normal((streams, 2, 4)), device)
        compare(ours, theirs, flat(ours(x, (h, c))), flat(theirs(tx, (th, tc))), [(x, tx), (h, th), (c, tc)])
    else:
        compare(ours, theirs, flat(ours(x, h)), flat(theirs(tx, th)), [(x, tx), (h, th)])


@pytest.mark.parametrize("config", [dict(), dict(num_layers=2, bidirectional=True)], ids=["one", "two_bidir"])
def test_lstm_proj_size(config, device):
    ours, theirs = pair("LSTM", {}, device, input_size=3, hidden_size=5, proj_size=2, **config)
    rng = np.random.default_rng(3)
    streams = 4 if config else 1
    x, tx = both(rng.standard_normal((4, 2, 3)), device)
    h, th = both(rng.standard_normal((streams, 2, 2)), device)
    c, tc = both(rng.standard_normal((streams, 2, 5)), device)
    compare(ours, theirs, flat(ours(x, (h, c))), flat(theirs(tx, (th, tc))), [(x, tx), (h, th), (c, tc)])


@pytest.mark.parametrize("kind,extra", KINDS, ids=lambda v: v if isinstance(v, str) else ",".join(v.values()))
@pytest.mark.parametrize("config", [dict(), dict(num_layers=2, bidirectional=True), dict(batch_first=True)],
                         ids=["one", "two_bidir", "batch_first"])
def test_packed_sequences_unsorted(kind, extra, config, device):
    """Unsorted lengths (enforce_sorted=False), initial states given: outputs, h_n/c_n and gradients."""
    ours, theirs = pair(kind, extra, device, **config)
    rng = np.random.default_rng(4)
    lengths = [3, 6, 1, 6, 4]
    batch_first = config.get("batch_first", False)
    shape = (5, 6, 3) if batch_first else (6, 5, 3)
    x, tx = both(rng.standard_normal(shape), device)
    streams = 4 if config.get("bidirectional") else 1
    h, th = both(rng.standard_normal((streams, 5, 4)), device)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    tpacked = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=batch_first, enforce_sorted=False)
    assert_close(packed.batch_sizes, tpacked.batch_sizes)
    if kind == "LSTM":
        c, tc = both(rng.standard_normal((streams, 5, 4)), device)
        got, expected, leaves = ours(packed, (h, c)), theirs(tpacked, (th, tc)), [(x, tx), (h, th), (c, tc)]
    else:
        got, expected, leaves = ours(packed, h), theirs(tpacked, th), [(x, tx), (h, th)]
    assert isinstance(got[0], nn.utils.rnn.PackedSequence)
    padded, lens = nn.utils.rnn.pad_packed_sequence(got[0], batch_first=batch_first)
    tpadded, tlens = torch.nn.utils.rnn.pad_packed_sequence(expected[0], batch_first=batch_first)
    assert_close(lens, tlens)
    compare(ours, theirs, [padded] + flat(got)[1:], [tpadded] + flat(expected)[1:], leaves)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_input(kind, device):
    ours, theirs = pair(kind, {}, device, bidirectional=True)
    rng = np.random.default_rng(5)
    x, tx = both(rng.standard_normal((4, 3)), device)
    h, th = both(rng.standard_normal((2, 4)), device)
    if kind == "LSTM":
        c, tc = both(rng.standard_normal((2, 4)), device)
        compare(ours, theirs, flat(ours(x, (h, c))), flat(theirs(tx, (th, tc))), [(x, tx), (h, th), (c, tc)])
    else:
        compare(ours, theirs, flat(ours(x, h)), flat(theirs(tx, th)), [(x, tx), (h, th)])


def test_float32_matches_torch(device):
    ours, theirs = pair("LSTM", {}, device, dtype=torch.float32, num_layers=2)
    rng = np.random.default_rng(6)
    x, tx = both(rng.standard_normal((7, 3, 3)).astype(np.float32), device)
    got = flat(ours(x))
    assert all(t.dtype == ag.float32 for t in got)
    compare(ours, theirs, got, flat(theirs(tx)), [(x, tx)], tol=1e-5)


CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}), ("GRUCell", {}),
         ("LSTMCell", {"bias": False})]


@pytest.mark.parametrize("kind,extra", CELLS,
                         ids=lambda v: v if isinstance(v, str) else ",".join(map(str, v.values())))
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("state_given", [True, False])
def test_cells_against_torch(kind, extra, batched, state_given, device):
    ours, theirs = pair(kind, extra, device)
    rng = np.random.default_rng(7)
    lead = (2,) if batched else ()
    x, tx = both(rng.standard_normal(lead + (3,)), device)
    leaves = [(x, tx)]
    args, targs = [], []
    if state_given:
        h, th = both(rng.standard_normal(lead + (4,)), device)
        leaves.append((h, th))
        if kind == "LSTMCell":
            c, tc = both(rng.standard_normal(lead + (4,)), device)
            leaves.append((c, tc))
            args, targs = [(h, c)], [(th, tc)]
        else:
            args, targs = [h], [th]
    got, expected = ours(x, *args), theirs(tx, *targs)
    got = list(got) if isinstance(got, tuple) else [got]
    expected = list(expected) if isinstance(expected, tuple) else [expected]
    compare(ours, theirs, got, expected, leaves)


def test_parameters_init_and_repr():
    torch.manual_seed(0)
    for ours, theirs in [(nn.LSTM(3, 16, num_layers=2, bidirectional=True, proj_size=4),
                          torch.nn.LSTM(3, 16, num_layers=2, bidirectional=True, proj_size=4)),
                         (nn.GRU(3, 16, bias=False, batch_first=True),
                          torch.nn.GRU(3, 16, bias=False, batch_first=True)),
                         (nn.RNN(3, 16, nonlinearity="relu", dropout=0.5, num_layers=2),
                          torch.nn.RNN(3, 16, nonlinearity="relu", dropout=0.5, num_layers=2)),
                         (nn.GRUCell(3, 16), torch.nn.GRUCell(3, 16)), (nn.RNNCell(3, 16, nonlinearity="relu"),
                                                                       torch.nn.RNNCell(3, 16, nonlinearity="relu"))]:
        assert repr(ours) == repr(theirs)
        shapes = [(n, tuple(p.shape)) for n, p in ours.named_parameters()]
        assert shapes == [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
        bound = 1 / 16 ** 0.5
        for _, p in ours.named_parameters():
            values = to_numpy(p)
            assert values.min() >= -bound and values.max() <= bound and values.std() > bound / 4


def test_refusals_match_torch():
    for make in [lambda lib: lib.nn.LSTM(3, 4, proj_size=4), lambda lib: lib.nn.RNN(3, 4, nonlinearity="gelu"),
                 lambda lib: lib.nn.LSTM(3, 4, dropout=1.5)]:
        with pytest.raises(ValueError):
            make(torch)
        with pytest.raises(ValueError):
            make(type("lib", (), {"nn": nn}))
    ours, theirs = pair("LSTM", {})
    for shape in [(5, 2, 4), (2,), (1, 5, 2, 3)]:
        with pytest.raises((RuntimeError, ValueError)):
            theirs(torch.zeros(shape, dtype=torch.float64))
        with pytest.raises((RuntimeError, ValueError)):
            ours(ag.zeros(shape, dtype=ag.float64))
    with pytest.raises(RuntimeError, match="hidden size"):
        ours(ag.zeros(5, 2, 3, dtype=ag.float64), (ag.zeros(1, 3, 4, dtype=ag.float64),
                                                   ag.zeros(1, 3, 4, dtype=ag.float64)))


def test_dropout_between_layers_in_training_only():
    ag.manual_seed(0)
    model = nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = ag.randn(4, 2, 3)
    model.eval()
    a, b = model(x)[0], model(x)[0]
    assert_close(a, b)
    model.train()
    c = model(x)[0]
    assert not np.allclose(to_numpy(a), to_numpy(c))
    model.dropout = 0.0
    assert_close(model(x)[0], a)


# --- nn.utils.rnn ------------------------------------------------------------------------------------

def test_pad_sequence_and_packing_utilities():
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal((n, 2)) for n in (3, 5, 1)]
    ours = [ag.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    U, T = nn.utils.rnn, torch.nn.utils.rnn
    for kwargs in [dict(), dict(batch_first=True), dict(padding_value=-1.0, padding_side="left")]:
        assert_close(U.pad_sequence(ours, **kwargs), T.pad_sequence(theirs, **kwargs))
    packed, tpacked = U.pack_sequence(ours, enforce_sorted=False), T.pack_sequence(theirs, enforce_sorted=False)
    for a, b in zip(packed, tpacked):
        assert_close(a, b)
    with pytest.raises(RuntimeError, match="sorted"):
        U.pack_sequence(ours)
    with pytest.raises(RuntimeError):
        T.pack_sequence(theirs)
    padded, lengths = U.pad_packed_sequence(packed, batch_first=True, padding_value=7.0, total_length=6)
    tpadded, tlengths = T.pad_packed_sequence(tpacked, batch_first=True, padding_value=7.0, total_length=6)
    assert_close(padded, tpadded)
    assert_close(lengths, tlengths)
    for a, b in zip(U.unpack_sequence(packed), T.unpack_sequence(tpacked)):
        assert_close(a, b)
    for a, b in zip(U.unpad_sequence(padded, lengths, batch_first=True),
                    T.unpad_sequence(tpadded, tlengths, batch_first=True)):
        assert_close(a, b)
    # gradients flow through packing and padding
    (padded * ag.tensor(rng.standard_normal((3, 6, 2)))).sum().backward()
    (tpadded * torch.tensor(np.random.default_rng(8).standard_normal((3, 6, 2)))).sum()
    for o in ours:
        assert o.grad is not None and o.grad.shape == o.shape


def test_pack_padded_sequence_sorted_and_errors():
    rng = np.random.default_rng(9)
    a = rng.standard_normal((4, 3, 2))
    p = nn.utils.rnn.pack_padded_sequence(ag.tensor(a), [4, 2, 2])
    tp = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(a), [4, 2, 2])
    assert p.sorted_indices is None and tp.sorted_indices is None
    assert_close(p.data, tp.data)
    assert_close(p.batch_sizes, tp.batch_sizes)
    with pytest.raises(RuntimeError):
        torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(a), [4, 0, 2], enforce_sorted=False)
    with pytest.raises(RuntimeError):
        nn.utils.rnn.pack_padded_sequence(ag.tensor(a), [4, 0, 2], enforce_sorted=False)


# --- a training trajectory -----------------------------------------------------------------------------



def test_lstm_language_model_training_trajectory(device):
    torch.manual_seed(0)
    vocab, hidden, T, B = 7, 16, 12, 4
    theirs = torch.nn.ModuleDict(dict(lstm=torch.nn.LSTM(vocab, hidden, num_layers=2),
                                      decoder=torch.nn.Linear(hidden, vocab)))
    ours = nn.ModuleDict(dict(lstm=nn.LSTM(vocab, hidden, num_layers=2), decoder=nn.Linear(hidden, vocab)))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(device)
    rng = np.random.default_rng(10)
    text = rng.integers(0, vocab, (T + 1, B))
    onehot = np.eye(vocab, dtype=np.float32)[text[:-1]]
    x, tx = ag.tensor(onehot, device=device), torch.tensor(onehot)
    y, ty = ag.tensor(text[1:].reshape(-1), device=device), torch.tensor(text[1:].reshape(-1))
    opt, topt = optim.Adam(ours.parameters(), lr=0.01), torch.optim.Adam(theirs.parameters(), lr=0.01)
    losses, tlosses = [], []
    for _ in range(5):
        out, _ = ours["lstm"](x)
        loss = nn.functional.cross_entropy(ours["decoder"](out).reshape(-1, vocab), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tout, _ = theirs["lstm"](tx)
        tloss = torch.nn.functional.cross_entropy(theirs["decoder"](tout).reshape(-1, vocab), ty)
        topt.zero_grad()
        tloss.backward()
        topt.step()
        losses.append(loss.item())
        tlosses.append(tloss.item())
    np.testing.assert_allclose(losses, tlosses, rtol=2e-5, atol=2e-6)
    assert losses[-1] < losses[0]
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        assert_close(p, tp, rtol=1e-4, atol=1e-5, msg=name)
