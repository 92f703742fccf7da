"""RNN, LSTM, GRU and their cells."""

import math
import numbers

import autograd as ag

from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, packed_to_padded, padded_to_packed

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNBase(Module):
    """What RNN, LSTM and GRU share: PyTorch's arguments, parameter names (weight_ih_l0, ..._reverse,
    weight_hr_l0 with proj_size) in PyTorch's order, init U(-1/sqrt(hidden), 1/sqrt(hidden))."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing the probability of an "
                             f"element being zeroed, got {dropout!r}")
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive integer, got {hidden_size!r}")
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers!r}")
        if proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size has to be smaller than hidden_size (got {proj_size} >= "
                             f"{hidden_size})")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU")
        if dropout > 0 and num_layers == 1:
            import warnings
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        directions = 2 if bidirectional else 1
        gates = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            for direction in range(directions):
                size_in = input_size if layer == 0 else real_hidden * directions
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (gates, size_in)), ("weight_hh", (gates, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for base, shape in shapes:
                    setattr(self, base + suffix, Parameter(ag.empty(*shape, device=device, dtype=dtype)))
                    self._flat_weights_names.append(base + suffix)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in self._layer_names(k)] for k in range(self._streams())]

    def _streams(self):
        return self.num_layers * (2 if self.bidirectional else 1)

    def _layer_names(self, k):
        directions = 2 if self.bidirectional else 1
        layer, direction = divmod(k, directions)
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else [])
        names += ["weight_hr"] if self.proj_size else []
        return [n + suffix for n in names]

    def _weights(self):
        """(w_ih, w_hh, b_ih, b_hh, w_hr) per layer and direction, None where absent."""
        out = []
        for k in range(self._streams()):
            suffix = self._layer_names(k)[0][len("weight_ih"):]
            get = lambda base: getattr(self, base + suffix, None)  # noqa: E731
            out.append((get("weight_ih"), get("weight_hh"), get("bias_ih") if self.bias else None,
                        get("bias_hh") if self.bias else None, get("weight_hr") if self.proj_size else None))
        return out

    def forward(self, input, hx=None):
        name = type(self).__name__
        packed = isinstance(input, PackedSequence)
        batch_sizes = None
        if packed:
            data, sizes, sorted_indices, unsorted_indices = input
            batch_sizes = [int(b) for b in sizes.numpy()]
            x = packed_to_padded(data, batch_sizes)
            unbatched = False
        else:
            if input.ndim not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D input (shape "
                                 f"{tuple(input.shape)}); pass (L, H_in), (L, N, H_in) or with batch_first "
                                 f"(N, L, H_in)")
            unbatched = input.ndim == 2
            x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
            sorted_indices = unsorted_indices = None
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {x.shape[-1]}")
        batch = x.shape[1]
        states = self._initial_states(hx, x, batch, unbatched, sorted_indices)
        output, h = F.recurrent(self.mode, x, states, self._weights(), self.num_layers, self.dropout,
                                self.training, self.bidirectional, batch_sizes)
        if packed:
            output = PackedSequence(padded_to_packed(output, batch_sizes), sizes, sorted_indices, unsorted_indices)
            if unsorted_indices is not None:
                h = tuple(s[:, unsorted_indices] for s in h) if self.mode == "LSTM" else h[:, unsorted_indices]
        else:
            if unbatched:
                output = output.squeeze(1)
                h = tuple(s.squeeze(1) for s in h) if self.mode == "LSTM" else h.squeeze(1)
            elif self.batch_first:
                output = output.transpose(0, 1)
        return output, h

    def _initial_states(self, hx, x, batch, unbatched, sorted_indices):
        name = type(self).__name__
        streams = self._streams()
        sizes = [self.proj_size or self.hidden_size] + ([self.hidden_size] if self.mode == "LSTM" else [])
        if hx is None:
            return tuple(ag.zeros(streams, batch, n, dtype=x.dtype, device=x.device) for n in sizes) \
                if self.mode == "LSTM" else ag.zeros(streams, batch, sizes[0], dtype=x.dtype, device=x.device)
        given = tuple(hx) if self.mode == "LSTM" else (hx,)
        if self.mode == "LSTM" and (not isinstance(hx, (tuple, list)) or len(given) != 2):
            raise RuntimeError(f"{name}: hx must be a tuple (h_0, c_0) for the LSTM")
        states = []
        for s, n in zip(given, sizes):
            expected_dims = 2 if unbatched else 3
            if s.ndim != expected_dims:
                raise RuntimeError(f"{name}: for {'unbatched 2-D' if unbatched else 'batched 3-D'} input, hx should "
                                   f"also be {expected_dims}-D but got {s.ndim}-D tensor (shape {tuple(s.shape)})")
            if unbatched:
                s = s.unsqueeze(1)
            if tuple(s.shape) != (streams, batch, n):
                raise RuntimeError(f"{name}: Expected hidden size {(streams, batch, n)}, got {list(s.shape)}")
            if s.dtype != x.dtype:
                raise RuntimeError(f"{name}: hidden state dtype {s.dtype} differs from input dtype {x.dtype}")
            states.append(s if sorted_indices is None else s[:, sorted_indices])
        return tuple(states) if self.mode == "LSTM" else states[0]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh (or relu)(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype)


class LSTM(RNNBase):
    """LSTM (gates i, f, g, o); with ``proj_size`` > 0 the hidden state is projected to that size."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """GRU (gates r, z, n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         device, dtype)


class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(ag.empty(num_chunks * hidden_size, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(ag.empty(num_chunks * hidden_size, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(ag.empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(ag.empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def _batched(self, input, hx, count):
        """(input as 2-D, the states as 2-D (zeros when not given), whether the input was 1-D)."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead (shape "
                             f"{tuple(input.shape)})")
        unbatched = input.ndim == 1
        if unbatched:
            input = input.unsqueeze(0)
        if hx is None:
            states = tuple(ag.zeros(input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device)
                           for _ in range(count))
        else:
            states = tuple(hx) if count == 2 else (hx,)
            for s in states:
                if s.ndim != (1 if unbatched else 2):
                    raise ValueError(f"{name}: Expected hidden to be {1 if unbatched else 2}D, got {s.ndim}D "
                                     f"instead (shape {tuple(s.shape)})")
            if unbatched:
                states = tuple(s.unsqueeze(0) for s in states)
        return input, states, unbatched

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: Unknown nonlinearity: {nonlinearity}; use 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), unbatched = self._batched(input, hx, 1)
        h = F.rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)
        return h.squeeze(0) if unbatched else h


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        x, states, unbatched = self._batched(input, hx, 2)
        h, c = F.lstm_cell(x, states, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), unbatched = self._batched(input, hx, 1)
        h = F.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h.squeeze(0) if unbatched else h
