"""Post-accumulate-grad hooks: ``hook(param)`` runs right after backward has added into ``param.grad``.

Tensor.register_post_accumulate_grad_hook is used where the Tensor has it. Until then this module provides the
same for DDP alone: AccumulateGrad.accumulate is wrapped once, and it looks the leaf up in a table of hooks (empty
unless a DDP exists), so leaves without hooks pay one dict lookup.
"""

import weakref

from autograd.function import AccumulateGrad

_HOOKS = {}  # id(tensor) -> (weakref to it, [hooks])
_original = None


class _Handle:
    def __init__(self, tensor, hook):
        self.key, self.hook = id(tensor), hook

    def remove(self):
        entry = _HOOKS.get(self.key)
        if entry is not None and self.hook in entry[1]:
            entry[1].remove(self.hook)
            if not entry[1]:
                del _HOOKS[self.key]


def register_post_accumulate_grad_hook(tensor, hook):
    native = getattr(type(tensor), "register_post_accumulate_grad_hook", None)
    if native is not None:
        return native(tensor, hook)
    _install()
    key = id(tensor)
    entry = _HOOKS.get(key)
    if entry is None or entry[0]() is not tensor:
        entry = _HOOKS[key] = (weakref.ref(tensor, lambda _: _HOOKS.pop(key, None)), [])
    entry[1].append(hook)
    return _Handle(tensor, hook)


def _install():
    global _original
    if _original is not None:
        return
    _original = AccumulateGrad.accumulate

    def accumulate(self, grad, create_graph, exclusive=False):
        _original(self, grad, create_graph, exclusive)
        entry = _HOOKS.get(id(self.variable))
        if entry is not None and entry[0]() is self.variable:
            for hook in list(entry[1]):
                hook(self.variable)

    AccumulateGrad.accumulate = accumulate
