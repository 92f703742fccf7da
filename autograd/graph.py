"""Looking into and hooking the graph, with PyTorch's names (torch.autograd.graph).

- ``Node``: the class of every ``grad_fn`` (``name()``, ``next_functions``, ``metadata``,
  ``register_hook``, ``register_prehook``).
- ``saved_tensors_hooks(pack_hook, unpack_hook)``: inside it, every tensor an op saves for
  backward is handed to ``pack_hook`` and only what that returns is kept; backward gets the
  tensor back from ``unpack_hook``. ``save_on_cpu()`` uses it to keep saved activations of a
  CUDA forward in host memory.
- ``RemovableHandle``: what every ``register_*hook`` returns; ``handle.remove()`` or ``with handle:``.
"""

import itertools

_ids = itertools.count()

# The saved-tensor hooks in force, innermost last: (pack_hook, unpack_hook). Only the innermost applies.
_saved_hooks = []


class RemovableHandle:
    """Takes a registered hook out again: ``handle.remove()``, or leave a ``with handle:`` block."""

    def __init__(self, hooks, *, extra_dict=None):
        self.id = next(_ids)
        extra = [] if extra_dict is None else [extra_dict] if isinstance(extra_dict, dict) else list(extra_dict)
        self._dicts = (hooks, *extra)

    def remove(self):
        for hooks in self._dicts:
            hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _add_hook(hooks, fn, prepend=False, extra_dict=None):
    """Register ``fn`` in the dict ``hooks`` (called in insertion order, or first with ``prepend``);
    return its handle, which also takes the hook's id out of ``extra_dict`` (a dict or a list of them)."""
    if not callable(fn):
        raise TypeError(f"register hook: the hook must be callable, but got {type(fn).__name__}")
    handle = RemovableHandle(hooks, extra_dict=extra_dict)
    if prepend:
        rest = list(hooks.items())
        hooks.clear()
        hooks[handle.id] = fn
        hooks.update(rest)
    else:
        hooks[handle.id] = fn
    return handle


class saved_tensors_hooks:
    """Context manager: every tensor saved for backward inside it goes through ``pack_hook(tensor)``
    (whatever it returns is kept instead), and backward reads ``unpack_hook(packed)`` back."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self):
        _saved_hooks.append((self.pack_hook, self.unpack_hook))
        return self

    def __exit__(self, *exc):
        _saved_hooks.pop()


class save_on_cpu(saved_tensors_hooks):
    """Keeps the tensors saved for backward in CPU memory and moves each back to its device when
    backward uses it: GPU memory for activations traded for host-device copies.

    ``pin_memory`` is accepted for PyTorch's signature; the copies are plain host arrays here."""

    def __init__(self, pin_memory=False, device_type="cuda"):
        def pack(tensor):
            return tensor.device, tensor.detach().to("cpu")

        def unpack(packed):
            device, tensor = packed
            return tensor.to(device)

        super().__init__(pack, unpack)
        self.pin_memory = pin_memory


from .function import Node  # noqa: E402,F401  (function.py imports this module first)
