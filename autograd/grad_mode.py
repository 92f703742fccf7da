"""Grad modes: whether ops record the graph. Thread-local, like PyTorch's."""

import functools
import threading


class _State(threading.local):
    enabled = True  # a class default: each thread starts with grad on, and reading it needs no getattr fallback


_state = _State()


def is_grad_enabled():
    return _state.enabled


def _set_enabled(mode):
    _state.enabled = bool(mode)


class _GradMode:
    """Base of the grad-mode context managers; each also works as a decorator."""

    mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        _set_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)(*self._args()):
                return fn(*args, **kwargs)
        return wrapper

    def _args(self):
        return ()


class no_grad(_GradMode):
    """Ops inside record nothing: no graph, no saved tensors."""
    mode = False


class enable_grad(_GradMode):
    """Turn recording back on inside a ``no_grad`` block."""
    mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` is ``no_grad()``; as a plain call it sets the mode at once."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self._prev = is_grad_enabled()
        _set_enabled(self.mode)  # PyTorch: calling it as a function takes effect immediately

    def __enter__(self):
        return self

    def __call__(self, fn):
        _set_enabled(self._prev)  # used as a decorator: the mode applies inside fn only
        return super().__call__(fn)

    def _args(self):
        return (self.mode,)
