"""Recurrent ops: RNN/LSTM/GRU over a whole sequence (one op per layer and direction) and single cells."""

from ..function import Op  # noqa: F401

__all__ = []
