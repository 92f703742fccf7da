"""The benchmark cases, by name. A case is a function that builds one step of work for a framework:

    from .registry import case

    @case("mlp_step", group="core", iterations=20)
    def mlp_step(fw, device):
        model = fw.nn.Sequential(fw.nn.Linear(784, 512), fw.nn.ReLU(), fw.nn.Linear(512, 10)).to(device)
        ...
        def step():
            loss = fw.F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
        return step

``fw`` holds one framework under PyTorch's names (``fw.ag`` is ``autograd`` or ``torch``, then
``fw.nn``, ``fw.F``, ``fw.optim``, ``fw.name``), so one function serves ndgrad and PyTorch alike;
``device`` is the device string both understand ("cpu", "cuda:0"). Build inputs from NumPy
arrays (``fw.ag.tensor(array, device=device)``) so both frameworks get the same data. A new file
of cases registers itself by being named in MODULES.

``iterations`` is how many steps one timed block runs: enough that a block takes a few
milliseconds at least. ``group`` names the results file of ``python -m benchmarks --only GROUP``.
``breakdown``, if given, is a function ``breakdown(device) -> {piece: seconds}`` that says where
ndgrad's time goes in the case; it runs in an ndgrad process of its own. ``devices`` names the device
types a case is meant for (``python -m benchmarks --device D`` runs those of D's type): the wide MLP,
say, is a GPU case, too slow to time on a CPU.
"""

import importlib
from dataclasses import dataclass
from typing import Callable, Optional

MODULES = ["benchmarks.core", "benchmarks.conv", "benchmarks.sequence", "benchmarks.ops", "benchmarks.memory"]  # each registers its cases on import


@dataclass
class Case:
    name: str
    build: Callable
    group: str
    iterations: int
    breakdown: Optional[Callable] = None
    description: str = ""
    devices: tuple = ("cpu", "cuda")

    def runs_on(self, device):
        """Whether this case is meant for ``device`` ("cpu", "cuda", "cuda:1" ...)."""
        return device.split(":")[0] in self.devices


CASES = {}


def case(name, group, iterations, breakdown=None, devices=("cpu", "cuda")):
    """Register ``build(fw, device) -> step`` under ``name``; its docstring's first line describes the case."""
    def register(build):
        if name in CASES:
            raise ValueError(f"benchmark case {name!r} is registered twice")
        doc = (build.__doc__ or "").strip().splitlines()
        CASES[name] = Case(name, build, group, iterations, breakdown, doc[0] if doc else "", tuple(devices))
        return build
    return register


def load_cases():
    for module in MODULES:
        importlib.import_module(module)
    return CASES
