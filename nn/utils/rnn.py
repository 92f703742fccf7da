"""Variable-length batches for the recurrent modules, with PyTorch's names (torch.nn.utils.rnn).

A PackedSequence holds the sequences of a batch sorted by decreasing length and interleaved time
step by time step: ``data`` has the ``batch_sizes[0]`` first elements, then the ``batch_sizes[1]``
second elements, ... ; ``sorted_indices`` says which original sequence each sorted one is.
Packing and padding are gathers (getitem with an index array), so gradients flow through both.
"""

from typing import NamedTuple, Optional

import numpy as np

import autograd as ag

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence",
           "unpad_sequence", "unpack_sequence"]


class PackedSequence(NamedTuple):
    data: ag.Tensor
    batch_sizes: ag.Tensor                 # int64, on the CPU, one count per time step
    sorted_indices: Optional[ag.Tensor] = None
    unsorted_indices: Optional[ag.Tensor] = None

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = lambda t: None if t is None else t.to(data.device)  # noqa: E731
        return PackedSequence(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to(device or "cuda")

    def double(self):
        return self.to(ag.float64)

    def float(self):
        return self.to(ag.float32)

    def half(self):
        return self.to(ag.float16)

    @property
    def is_cuda(self):
        return self.data.device.type == "cuda"


def _sizes(batch_sizes):
    return [int(b) for b in np.asarray(batch_sizes.numpy() if isinstance(batch_sizes, ag.Tensor) else batch_sizes)]


def packed_positions(batch_sizes, batch):
    """Where each element of packed data sits in the time-major padded (T * batch) rows."""
    return np.concatenate([t * batch + np.arange(b) for t, b in enumerate(batch_sizes)])


def packed_to_padded(data, batch_sizes, padding_value=0.0, total_length=None):
    """(sum(batch_sizes), *) packed data -> (T, B, *) padded, time-major, still in sorted batch order."""
    T, B = max(len(batch_sizes), total_length or 0), batch_sizes[0]
    source = np.full(T * B, data.shape[0])           # the padding row, appended below
    source[packed_positions(batch_sizes, B)] = np.arange(data.shape[0])
    pad = ag.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    rows = ag.cat([data, pad])[ag.tensor(source, device=data.device)]
    return rows.reshape((T, B) + tuple(data.shape[1:]))


def padded_to_packed(padded, batch_sizes):
    """(T, B, *) time-major padded -> packed data (sum(batch_sizes), *)."""
    T, B = padded.shape[:2]
    flat = padded.reshape((T * B,) + tuple(padded.shape[2:]))
    return flat[ag.tensor(packed_positions(batch_sizes, B), device=padded.device)]


def _invert(permutation):
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(len(permutation))
    return inverse


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (or (B, T, *) with ``batch_first``) of sequences of ``lengths``."""
    lengths = np.asarray(lengths.numpy() if isinstance(lengths, ag.Tensor) else lengths, dtype=np.int64).reshape(-1)
    batch_dim = 0 if batch_first else 1
    if input.ndim < 2 or lengths.shape[0] != input.shape[batch_dim]:
        raise ValueError(f"pack_padded_sequence: expected {input.shape[batch_dim] if input.ndim >= 2 else '?'} "
                         f"lengths, one per sequence of the input of shape {tuple(input.shape)}, got "
                         f"{lengths.shape[0]}")
    if lengths.size and lengths.min() <= 0:
        raise RuntimeError("pack_padded_sequence: the length of every sequence has to be greater than 0, got "
                           f"lengths {lengths.tolist()}; drop empty sequences before packing")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(f"pack_padded_sequence: `lengths` array must be sorted in decreasing order when "
                               f"`enforce_sorted` is True, got {lengths.tolist()}; pass enforce_sorted=False to "
                               f"have it sorted for you")
        sorted_indices = unsorted_indices = None
        order = np.arange(len(lengths))
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = ag.tensor(order, device=input.device)
        unsorted_indices = ag.tensor(_invert(order), device=input.device)
    T = int(lengths.max())
    if T > input.shape[1 - batch_dim]:
        raise RuntimeError(f"pack_padded_sequence: a length of {T} exceeds the {input.shape[1 - batch_dim]} steps "
                           f"of the input of shape {tuple(input.shape)}")
    x = input.transpose(0, 1) if batch_first else input
    if sorted_indices is not None:
        x = x[:, sorted_indices]
    sorted_lengths = lengths[order]
    batch_sizes = (sorted_lengths[None, :] > np.arange(T)[:, None]).sum(axis=1)
    data = padded_to_packed(x[:T], batch_sizes.tolist())
    return PackedSequence(data, ag.tensor(batch_sizes.astype(np.int64)), sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded (T, B, *) or (B, T, *), lengths int64)."""
    batch_sizes = _sizes(sequence.batch_sizes)
    if total_length is not None and total_length < len(batch_sizes):
        raise ValueError(f"pad_packed_sequence: expected total_length to be at least the length of the longest "
                         f"sequence ({len(batch_sizes)}), got {total_length}")
    padded = packed_to_padded(sequence.data, batch_sizes, padding_value, total_length)
    lengths = (np.asarray(batch_sizes)[:, None] > np.arange(batch_sizes[0])[None, :]).sum(axis=0)
    if sequence.unsorted_indices is not None:
        padded = padded[:, sequence.unsorted_indices]
        lengths = lengths[sequence.unsorted_indices.cpu().numpy()]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, ag.tensor(lengths.astype(np.int64))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of shapes (L_i, *) into (L_max, B, *) (or (B, L_max, *)), padding each one."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    if isinstance(sequences, ag.Tensor):
        sequences = [sequences[i] for i in range(sequences.shape[0])]
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            pad = ag.full((missing,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
            s = ag.cat([s, pad] if padding_side == "right" else [pad, s])
        padded.append(s)
    return ag.stack(padded, dim=0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of sequences (L_i, *): pad_sequence, then pack_padded_sequence."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences in a padded batch, each cut to its length."""
    lengths = np.asarray(lengths.numpy() if isinstance(lengths, ag.Tensor) else lengths).reshape(-1)
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :int(n)] for i, n in enumerate(lengths)]


def unpack_sequence(packed_sequences):
    """The list of sequences in a PackedSequence, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
