"""Containers: Sequential, ModuleList."""

from collections import OrderedDict

from ..module import Module

__all__ = ["Sequential", "ModuleList"]


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: children named "0", "1", ... kept in order."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def _index(self, i):
        n = len(self._modules)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for {type(self).__name__} of length {n}")
        return i % n


class Sequential(_ModuleSequence):
    """Modules run one after the other: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Children are named "0", "1", ... (or by the keys of an OrderedDict), as in PyTorch.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[self._index(i)]

    def __setitem__(self, i, module):
        self.add_module(list(self._modules)[self._index(i)], module)

    def __delitem__(self, i):
        keys = list(self._modules)
        for key in keys[i] if isinstance(i, slice) else [keys[self._index(i)]]:
            del self._modules[key]
        if all(k.isdigit() for k in keys):  # keep the names 0..n-1, as PyTorch does
            modules = list(self._modules.values())
            self._modules.clear()
            for j, module in enumerate(modules):
                self._modules[str(j)] = module

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are registered (named "0", "1", ...)."""

    def __init__(self, modules=None):
        super().__init__()
        for module in modules or ():
            self.append(module)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(list(self._modules.values())[i])
        return list(self._modules.values())[i]

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self
