"""Anomaly mode (PyTorch's detect_anomaly / set_detect_anomaly).

While it is on, every graph node keeps the traceback of the forward call that made it; when a
node's backward raises, or (``check_nan``) returns a gradient with NaN in it, that traceback is
shown as a warning before the error, so the error points at the forward line to blame. Off, it
costs one flag check per recorded node.
"""

import functools
import warnings

enabled = False   # read by function.Node._link (record tracebacks) and by the engine (check each node)
check_nan = True


def is_anomaly_enabled():
    return enabled


def is_anomaly_check_nan_enabled():
    return check_nan


def _set(mode, nan):
    global enabled, check_nan
    enabled, check_nan = bool(mode), bool(nan)


class set_detect_anomaly:
    """Turn anomaly mode on or off: a plain call, or a context manager that restores the previous state."""

    def __init__(self, mode, check_nan=True):
        self.previous = (enabled, globals()["check_nan"])
        _set(mode, check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(*self.previous)


class detect_anomaly:
    """Anomaly mode for a block (``with detect_anomaly():``) or a function (``@detect_anomaly()``)."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only "
                      "be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        self.previous = (enabled, check_nan)
        _set(True, self.check_nan)
        return self

    def __exit__(self, *exc):
        _set(*self.previous)

    def __call__(self, fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            previous = (enabled, check_nan)  # per call, so that recursive calls restore correctly
            _set(True, self.check_nan)
            try:
                return fn(*args, **kwargs)
            finally:
                _set(*previous)
        return run
