"""GradScaler: dynamic loss scaling for float16 training (PyTorch's torch.amp.GradScaler).

float16 gradients underflow to zero below about 6e-8. The scaler multiplies the loss by a large
factor before backward, so the gradients are large enough, then divides them back before the
optimizer step. If any gradient came out inf or NaN the scale was too large: the step is skipped
and the scale halved; after ``growth_interval`` steps without one it is doubled.

The inf/NaN check and the scale's update stay on the device (0-d and 1-element arrays, no host
copy); the one synchronisation is ``step()``'s, which must know whether to run the optimizer.
"""

import warnings
from collections import defaultdict

from .. import cuda, dtypes
from ..grad_mode import no_grad
from ..tensor import Tensor, full, zeros

__all__ = ["GradScaler"]

READY, UNSCALED, STEPPED = "ready", "unscaled", "stepped"  # where one optimizer is in the iteration


def _fresh_state():
    return {"stage": READY, "found_inf_per_device": {}}


class GradScaler:
    """``scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()``; ``scaler.unscale_
    (optimizer)`` first to clip or read the true gradients. ``enabled=False`` makes every method a
    pass-through, so one script serves both precisions."""

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = str(device)
        self._enabled = enabled
        if enabled and self._device.startswith("cuda") and not cuda.is_available():
            warnings.warn("GradScaler is enabled on 'cuda', but CUDA is not available: disabling it (pass "
                          "device='cpu' to scale on the CPU)", stacklevel=2)
            self._enabled = False
        if self._enabled:
            if not growth_factor > 1.0:
                raise ValueError(f"GradScaler: the growth factor must be > 1.0, got {growth_factor}")
            if not backoff_factor < 1.0:
                raise ValueError(f"GradScaler: the backoff factor must be < 1.0, got {backoff_factor}")
            self._init_scale, self._growth_factor = init_scale, growth_factor
            self._backoff_factor, self._growth_interval = backoff_factor, growth_interval
            self._init_growth_tracker = 0
            self._scale = None  # a 0-d float32 tensor and a 0-d int32 one, made on the loss's device
            self._growth_tracker = None
            self._per_optimizer_states = defaultdict(_fresh_state)

    def is_enabled(self):
        return self._enabled

    # --- the iteration -------------------------------------------------------------------------------
    def scale(self, outputs):
        """``outputs`` (a Tensor, or lists/tuples of them) times the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._scale = full((), self._init_scale, dtype=dtypes.float32, device=outputs.device)
                self._growth_tracker = full((), self._init_growth_tracker, dtype=dtypes.int32, device=outputs.device)
            return outputs * self._scale.to(outputs.device)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError(f"GradScaler.scale: outputs must be a Tensor or a list/tuple of Tensors, got "
                         f"{type(outputs).__name__}")

    def unscale_(self, optimizer):
        """Divide ``optimizer``'s gradients by the scale, in place, noting on the device whether any is
        inf or NaN. Once per optimizer between updates; ``step()`` does it when you have not."""
        if not self._enabled:
            return
        self._check_scale("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] == UNSCALED:
            raise RuntimeError("GradScaler.unscale_: already called on this optimizer since the last update(); "
                               "call it once per iteration, between backward() and step()")
        if state["stage"] == STEPPED:
            raise RuntimeError("GradScaler.unscale_: called after step(); unscale before step(), and call "
                               "update() to start the next iteration")
        xp = self._scale._backend.xp  # 1 / scale in float64, rounded once, as PyTorch
        inv_scale = Tensor._make(xp.reciprocal(self._scale.array.astype(xp.float64)).astype(xp.float32),
                                 self._scale._backend)
        state["found_inf_per_device"] = self._unscale_grads(optimizer, inv_scale)
        state["stage"] = UNSCALED

    def _unscale_grads(self, optimizer, inv_scale):
        found_inf_per_device = {}
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    if grad.dtype == dtypes.float16:
                        raise ValueError(f"GradScaler.unscale_: attempting to unscale float16 gradients (a parameter "
                                         f"of shape {tuple(p.shape)} is float16); keep the parameters in float32 "
                                         f"and let autocast cast them for the forward pass")
                    backend, xp = grad._backend, grad._backend.xp
                    found_inf = found_inf_per_device.get(backend.device)
                    if found_inf is None:
                        found_inf = found_inf_per_device[backend.device] = zeros(1, dtype=dtypes.float32,
                                                                                 device=backend.device)
                    g = grad.array
                    bad = xp.logical_not(xp.isfinite(g).all()).astype(xp.float32)  # 0-d, on the device
                    xp.maximum(found_inf.array, bad, out=found_inf.array)
                    g *= inv_scale.to(backend.device).array.astype(g.dtype)
                    grad._version[0] += 1
        return found_inf_per_device

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` unless a gradient was inf or NaN (then None, skipped);
        unscales first if ``unscale_`` was not called. The iteration's one host synchronisation."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("GradScaler.step: closure use is not supported while the scaler is enabled; call "
                               "the closure (forward, scaled backward) yourself, then step()")
        self._check_scale("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] == STEPPED:
            raise RuntimeError("GradScaler.step: already called since the last update(); call update() once "
                               "per iteration after step()")
        if state["stage"] == READY:
            self.unscale_(optimizer)
        found = state["found_inf_per_device"]
        if not found:
            raise AssertionError("GradScaler.step: no inf checks were recorded for this optimizer: none of its "
                                 "parameters has a .grad; call scaler.scale(loss).backward() first")
        retval = None
        if not sum(f.item() for f in found.values()):  # the host sync: does the optimizer run?
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = STEPPED
        return retval

    def update(self, new_scale=None):
        """The scale for the next iteration: ``new_scale`` if given, else halved (backoff_factor) after
        an inf/NaN, grown (growth_factor) after growth_interval clean steps. On the device, no sync."""
        if not self._enabled:
            return
        self._check_scale("update")
        scale = self._scale.array
        xp = self._scale._backend.xp
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                if new_scale.numel() != 1 or new_scale.requires_grad or new_scale.device != self._scale.device:
                    raise AssertionError(f"GradScaler.update: new_scale should be a float or a 1-element Tensor on "
                                         f"{self._scale.device} with requires_grad=False, got shape "
                                         f"{tuple(new_scale.shape)} on {new_scale.device} "
                                         f"requires_grad={new_scale.requires_grad}")
                scale[...] = new_scale.array.reshape(()).astype(scale.dtype)
            else:
                scale.fill(float(new_scale))
        else:
            found_infs = [f.to(self._scale.device).array for state in self._per_optimizer_states.values()
                          for f in state["found_inf_per_device"].values()]
            if not found_infs:
                raise AssertionError("GradScaler.update: no inf checks were recorded before update(); call "
                                     "scaler.step(optimizer) (or unscale_) first")
            found = sum(found_infs[1:], found_infs[0]).reshape(()) > 0
            self._update_scale(xp, scale, self._growth_tracker.array, found)
        self._per_optimizer_states = defaultdict(_fresh_state)

    def _update_scale(self, xp, scale, tracker, found):
        """PyTorch's rule, as array ops written into ``scale`` and ``tracker`` in place."""
        clean = tracker + 1
        grown = (scale * self._growth_factor).astype(scale.dtype)
        grow = xp.logical_and(xp.logical_not(found), clean >= self._growth_interval)
        backed_off = (scale * self._backoff_factor).astype(scale.dtype)
        new_scale = xp.where(found, backed_off, xp.where(xp.logical_and(grow, xp.isfinite(grown)), grown, scale))
        tracker[...] = xp.where(xp.logical_or(found, grow), xp.zeros_like(clean), clean)
        scale[...] = new_scale

    def _check_scale(self, name):
        if self._scale is None:
            raise AssertionError(f"GradScaler.{name}: attempted before the scale exists; call "
                                 f"scaler.scale(loss) earlier in the iteration")

    # --- settings and state ------------------------------------------------------------------------------
    def get_scale(self):
        """The current scale as a Python float (a host sync); 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale.item()

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = new_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = new_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = new_interval

    def _get_growth_tracker(self):
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker.item())

    def state_dict(self):
        """``scale``, ``growth_factor``, ``backoff_factor``, ``growth_interval``, ``_growth_tracker``
        (empty when disabled), PyTorch's keys, so checkpoints carry over."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("GradScaler.load_state_dict: the state dict is empty, possibly because it was saved "
                               "from a disabled GradScaler; load it only into a disabled one")
        self._init_scale = state_dict["scale"]
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._scale is not None:
            self._scale.array.fill(state_dict["scale"])
        if self._growth_tracker is not None:
            self._growth_tracker.array.fill(state_dict["_growth_tracker"])
