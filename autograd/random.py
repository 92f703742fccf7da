"""Random generators with PyTorch's API (torch.Generator, torch.seed, torch.get_rng_state ...).

A Generator wraps a NumPy ``np.random.Generator``. PyTorch's exact random numbers can't be
reproduced (another bit generator); what carries over is the API and reproducibility:
the same seed gives the same numbers. The global RNG is the CPU backend's generator, the
one ``ag.manual_seed`` seeds.
"""

import json

import numpy as np

import backends
from backends import Device, get_backend

from .tensor import from_numpy

# PyTorch gives every new Generator this seed, so an unseeded one is still deterministic
DEFAULT_SEED = 67280421310721


def _fresh_seed():
    """A seed from the OS's entropy, in the range PyTorch's seeds take (non-negative int64)."""
    return int(np.random.SeedSequence().entropy % 2**63)


def _state_tensor(rng):
    # a uint8 tensor like PyTorch's ByteTensor; JSON (not pickle) so set_state never runs code
    text = json.dumps(rng.bit_generator.state).encode()
    return from_numpy(np.frombuffer(text, dtype=np.uint8).copy())


def _load_state(rng, state):
    try:
        rng.bit_generator.state = json.loads(np.asarray(state, dtype=np.uint8).tobytes().decode())
    except (ValueError, TypeError, KeyError) as err:
        raise RuntimeError(f"set_state: expected a state from get_state()/get_rng_state(), got "
                           f"{type(state).__name__} that doesn't hold one ({err})") from None


class Generator:
    """An independent random stream: ``Generator().manual_seed(42)`` for reproducible shuffles
    and splits that don't disturb (or depend on) the global RNG."""

    def __init__(self, device="cpu"):
        self.device = Device(device)
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed):
        seed = int(seed)
        self._initial_seed = seed
        # PyTorch accepts negative seeds too: NumPy wants non-negative, so fold into uint64
        self._rng = np.random.default_rng(seed % 2**64)
        return self

    def initial_seed(self):
        return self._initial_seed

    def seed(self):
        """Re-seed from the OS's entropy; returns the seed so the run can be repeated."""
        seed = _fresh_seed()
        self.manual_seed(seed)
        return seed

    def get_state(self):
        return _state_tensor(self._rng)

    def set_state(self, new_state):
        _load_state(self._rng, new_state)
        return self

    def __repr__(self):
        return f"<autograd.Generator device={self.device} initial_seed={self._initial_seed}>"


def numpy_generator(generator=None):
    """The NumPy generator to draw from: ``generator``'s, or without one a new one seeded from
    the global RNG. Drawing one seed (not the numbers themselves) from the global RNG keeps
    what it hands out per epoch the same whatever the dataset size, as in PyTorch, so that
    ``ag.manual_seed(s)`` fixes every epoch's order."""
    if generator is not None:
        if not isinstance(generator, Generator):
            raise TypeError(f"generator: expected an autograd.Generator, got {type(generator).__name__}; "
                            f"use autograd.Generator().manual_seed(seed)")
        return generator._rng
    return np.random.default_rng(int(get_backend("cpu").generator.integers(2**63)))


def initial_seed():
    """The seed of the global RNG."""
    if backends._seed is None:
        # The CPU backend starts from unrecorded OS entropy. Re-seeding it from a fresh, recorded
        # seed is indistinguishable from that, and gives PyTorch's answer from then on.
        backends.manual_seed(_fresh_seed())
    return backends._seed


def seed():
    """Seed the global RNG from the OS's entropy and return that seed."""
    seed = _fresh_seed()
    backends.manual_seed(seed)
    return seed


def get_rng_state():
    """The global CPU RNG's state as a uint8 tensor, for ``set_rng_state``."""
    return _state_tensor(get_backend("cpu").generator)


def set_rng_state(new_state):
    _load_state(get_backend("cpu").generator, new_state)
