"""Optimizer: parameter groups, per-parameter state, zero_grad, step, and state dicts.

Updates run on the raw backend arrays (``p.array``, ``p.grad.array``) outside the
graph, in place, with array operators only, so the same code runs on NumPy and CuPy
and a step never waits for the GPU. After changing a parameter an optimizer bumps its
version counter, so a graph that saved the old value refuses to backward through it.

State dict format (PyTorch's): ``{"state": {index: {name: value}}, "param_groups":
[{hyperparameters..., "params": [index, ...]}]}`` with parameters numbered in group
order. State arrays are ndgrad Tensors that share memory with the live state, as in
PyTorch (save or deep-copy the dict to keep a snapshot). Scalar state (step counts, and
the few running scalars some optimizers keep: ASGD's ``eta``/``mu``, NAdam's
``mu_product``, LBFGS's bookkeeping) is kept as Python numbers, where PyTorch keeps 0-d
tensors: reading them never waits for a GPU, and they stay in double precision. Each
optimizer lists these names in ``_scalar_state``; ``load_state_dict`` turns whatever it
is given under those names (a PyTorch 0-d tensor, an array, a number) back into numbers,
and PyTorch's own ``load_state_dict`` turns our numbers into its tensors, so state dicts
travel both ways. Other entries may be ndgrad Tensors, NumPy/CuPy arrays or torch
tensors; each is copied onto its parameter's device (floating state cast to the
parameter's dtype).

Fused steps (SGD, Adam, AdamW, RMSprop; ``optim/_flat.py``): with ``fused`` or ``foreach``
True, a group whose parameters share one device and one floating dtype is updated over flat
buffers that its parameters' ``.data`` and their state tensors view: a handful of NumPy calls,
or one CUDA kernel launch (the backend's kernel named by ``_kernel_name``), for the whole group,
with the same per-element arithmetic as the per-parameter rule. With both None (the default)
the fused path is chosen where it pays: always where the backend has the fused kernel (CUDA),
and on the CPU for groups of small parameters (``_flat_pays``). ``fused=False`` or
``foreach=False`` (and neither True) runs the per-parameter rule, as in PyTorch. A group that
does not qualify (mixed devices or dtypes, a parameter whose array is a view of another array)
runs the per-parameter rule whatever the flags say. Deviations: PyTorch's default (both None)
is the per-parameter loop on the CPU and ``foreach`` on CUDA; here it is chosen by cost, as the
numbers are the same either way. The first fused step moves each parameter's memory into the
group's flat buffer (``p.data`` becomes a view of it), so a tensor that shared memory with a
parameter (``t`` after ``p.data = t``) no longer sees the optimizer's updates; a tensor a user
assigns later with ``p.data = t`` is copied in at the next step. ``capturable`` is accepted and
kept in the param groups (updates never wait for the GPU anyway); ``differentiable=True`` is
refused.
"""

from collections import defaultdict

import numpy as np

import autograd as ag

from ._flat import FlatGroup, eligible


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()  # a default the caller must give (per group or to the constructor)


def _check_hyperparameters(**hyperparameters):
    """Raise PyTorch's ``Invalid <what>: <value> (must be ...)`` for the first value out of its range.

    ``betas`` must each lie in [0, 1), ``rho`` in [0, 1], everything else (lr, eps, weight_decay,
    momentum, alpha, lr_decay, ...) must be >= 0. Deviation: the ``>= 0`` checks test ``value < 0``,
    so a NaN passes them (PyTorch's ``not 0.0 <= value`` refuses it); the interval checks refuse it."""
    for name, value in hyperparameters.items():
        if name == "betas":
            for i, beta in enumerate(value):
                if not 0 <= beta < 1:
                    raise ValueError(f"Invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
        elif name == "rho":
            if not 0 <= value <= 1:
                raise ValueError(f"Invalid rho value: {value} (must be in [0, 1])")
        elif value < 0:
            what = {"lr": "learning rate", "eps": "epsilon value"}.get(name, f"{name} value")
            hint = "; typically just below 1, e.g. 0.99" if name == "alpha" else ""
            raise ValueError(f"Invalid {what}: {value} (must be >= 0{hint})")


def _check_execution_options(differentiable=False, foreach=None, fused=None):
    """Refuse the execution options ndgrad cannot honour; the others are accepted as hints."""
    if differentiable:
        raise NotImplementedError("differentiable=True is not supported: ndgrad optimizers update parameters in "
                                  "place outside the autograd graph, so a step cannot be differentiated; pass "
                                  "differentiable=False (the default)")
    if fused and foreach:
        raise RuntimeError(f"fused={fused} and foreach={foreach} cannot both be true; pick at most one")


class Optimizer:
    # state entries kept as Python numbers, with the type load_state_dict converts them to
    _scalar_state = {"step": int}

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)  # parameter -> its state (momentum buffers, step counts...)
        self.param_groups = []
        if isinstance(params, ag.Tensor):
            raise TypeError(f"params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got a single Tensor (shape {tuple(params.shape)}); wrap it in a list: [t]")
        param_groups = list(params)
        if not param_groups:
            raise ValueError("optimizer got an empty parameter list; pass model.parameters() of a model that has "
                             "parameters, or a non-empty list of tensors (or of dicts with a 'params' entry)")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group of parameters with its own hyperparameters (missing ones taken from the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, ag.Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs; use a list instead")
        elif params is None:
            raise ValueError("a parameter group must have a 'params' entry (a list of tensors)")
        params = list(params)
        for p in params:
            if not isinstance(p, ag.Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor (shape {tuple(p.shape)}, made by "
                                 f"{p.grad_fn.name()}); optimize the leaf it was computed from, or use "
                                 f"t.detach().requires_grad_()")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter group contains the same tensor more than once; pass each parameter once")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter "
                                 f"{name}; give it in the group or to the optimizer")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def __getstate__(self):
        # an LR scheduler wraps ``step`` on the instance to count calls; that wrapper is the
        # scheduler's business and must not travel with a pickled or deep-copied optimizer
        state = dict(self.__dict__)
        state.pop("step", None)
        state.pop("_flat", None)  # the fused layout is rebuilt at the next step (copies would not view it)
        return state

    def zero_grad(self, set_to_none=True):
        """Forget the gradients of every parameter: ``.grad = None`` (default) or zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:  # a fresh array: the engine may share a leaf's grad array with another tensor
                    p.grad = ag.zeros_like(p.grad)

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss and returns it."""
        loss = None
        if closure is not None:
            with ag.enable_grad():
                loss = closure()
        for group in self.param_groups:
            flat = self._flat_group(group)
            if flat is not None:
                flat.step(self, group)
                continue
            for p in group["params"]:
                if p.grad is not None:
                    with p._backend.errstate():  # p's device current: what the update makes lands there
                        self._update(p, p.grad.array, self.state[p], group)
                    p._version[0] += 1  # the parameter changed in place
        return loss

    # --- the update rule ------------------------------------------------------------------------------
    # An optimizer either overrides _update, or gives _prepare, _state_names and _rule, which both the
    # per-parameter path (_update below) and the fused path (optim/_flat.py) run.
    # _rule(xp, p, g, scratch, work, bufs, key, group) is a staticmethod that updates arrays p and bufs (the
    # state named by _state_names) in place from the gradient g, which it leaves alone; ``scratch`` (where the
    # decayed gradient may go: None to allocate it, or g itself when g may be overwritten) and ``work`` are
    # scratch buffers shaped like p. Elementwise, so the same call on flat buffers updates every parameter.
    _rule = None
    _kernel_name = None  # the backend kernel (same signature) that replaces _rule on a group's flat buffers

    def _update(self, param, grad, state, group):
        """Change ``param.array`` in place from ``grad`` (an array); the subclass's update rule."""
        if self._rule is None:
            raise NotImplementedError
        key = self._prepare(param, state, group)
        bufs = {name: state[name].array for name in self._state_names(group)}
        type(self)._rule(param._backend.xp, param.array, grad, None, param._backend.xp.empty_like(grad), bufs, key,
                         group)

    def _prepare(self, param, state, group):
        """Create ``param``'s missing state and advance its step count; return the value the rule depends on
        besides the group (e.g. the step count): parameters with equal keys are updated together."""
        raise NotImplementedError

    def _state_names(self, group):
        """The state entries (arrays shaped like the parameter) the rule updates, for this group's settings."""
        raise NotImplementedError

    def _flat_group(self, group):
        """The FlatGroup that updates ``group`` in one go, or None to run the per-parameter rule."""
        fused, foreach = group.get("fused"), group.get("foreach")
        if self._rule is None or group.get("differentiable") or (
                not (fused or foreach) and (fused is False or foreach is False)):
            return None
        params = group["params"]
        if fused:  # checked for the parameters with a gradient, as PyTorch does
            for p in params:
                if p.grad is not None and not ag.dtypes.is_floating(p.dtype):
                    raise RuntimeError(f"{type(self).__name__}: `fused=True` requires all the params to be floating "
                                       f"point Tensors, but one is {p.dtype} on {p.device} (shape "
                                       f"{tuple(p.shape)}); pass fused=None or give it its own group with "
                                       f"fused=False")
        if not params or all(p.grad is None for p in params):
            return None
        flats = self.__dict__.setdefault("_flat", {})  # id(group) -> (group, FlatGroup)
        names = tuple(self._state_names(group))
        entry = flats.get(id(group))
        previous = entry[1] if entry is not None and entry[0] is group else None
        if previous is not None and previous.matches(params, names):
            return previous
        flats.pop(id(group), None)
        if not eligible(params):
            return None
        if fused is None and foreach is None and previous is None and not self._flat_pays(params):
            return None
        flat = FlatGroup(params, names)
        flats[id(group)] = (group, flat)
        return flat

    # Without a fused kernel the flat path runs the generic rule over the flat buffers: it saves the per-call
    # overhead of every parameter (~10-20 us each on NumPy) and pays one more pass over the gradients (the
    # gather) and the cache locality of updating one parameter at a time. Timed on the CPU (fused/per-parameter
    # step time, float32): 0.25-0.4x for 20 layers of 32x32, 0.7-0.9x for 20 of 128x128 (8K elements per
    # parameter on average), 1.15-1.5x for 10 of 256x256 (33K) and for the 784-512-512-10 MLP (112K).
    GENERIC_FLAT_MAX_MEAN_NUMEL = 16384

    def _flat_pays(self, params):
        """Whether, with neither flag given, the fused path is worth taking for ``params``: always with the
        backend's fused kernel (one launch instead of a dozen per parameter), else for small parameters."""
        if self._kernel_name in params[0]._backend.kernels:
            return True
        return sum(p.array.size for p in params) <= self.GENERIC_FLAT_MAX_MEAN_NUMEL * len(params)

    @staticmethod
    def _rule_grad(xp, p, g, scratch, work, group, coupled=True):
        """The gradient the fused-capable rules start from: ``g`` itself, or (negated when ``maximize``, plus
        ``weight_decay * p`` when ``coupled``) written into ``scratch`` (allocated when None); ``work`` is
        overwritten. Same values, bit for bit, as _decayed_grad's ``-g + weight_decay * p``."""
        weight_decay, maximize = group["weight_decay"] if coupled else 0, group["maximize"]
        if weight_decay == 0 and not maximize:
            return g
        if scratch is None:
            scratch = xp.empty_like(g)
        if weight_decay == 0:
            return xp.negative(g, out=scratch)
        xp.multiply(p, weight_decay, out=work)
        return (xp.subtract if maximize else xp.add)(work, g, out=scratch)

    @staticmethod
    def _decayed_grad(p, grad, group):
        """The gradient PyTorch's update rules start from: negated when ``maximize``, then weight decay,
        either coupled (L2: ``grad + weight_decay * p``) or, when the group has ``decoupled_weight_decay``
        (AdamW), applied to ``p`` in place (``p *= 1 - lr * weight_decay``) with the gradient left alone."""
        if group["maximize"]:
            grad = -grad
        weight_decay = group["weight_decay"]
        if weight_decay != 0:
            if group.get("decoupled_weight_decay", False):
                p *= 1 - group["lr"] * weight_decay
            else:
                grad = grad + weight_decay * p
        return grad

    # --- state dicts -------------------------------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}`` (PyTorch's layout)."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Take hyperparameters and state from ``state_dict`` (copied, so the source is left alone)."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}) than this optimizer ({len(self.param_groups)})")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group: group {i} has {len(saved['params'])} parameters in the "
                                 f"state dict and {len(group['params'])} here")
        by_index = {}
        for saved, group in zip(saved_groups, self.param_groups):
            by_index.update(zip(saved["params"], group["params"]))
        state = defaultdict(dict)
        for index, saved_state in state_dict["state"].items():
            if index not in by_index:
                raise ValueError(f"loaded state dict has state for parameter {index}, which is in none of its "
                                 f"parameter groups")
            p = by_index[index]
            state[p] = {name: _restore(value, p, self._scalar_state.get(name))
                        for name, value in saved_state.items()}
        self.state = state
        for saved, group in zip(saved_groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        lines.append(")")
        return "\n".join(lines)


def _restore(value, param, scalar_type=None):
    """A copy of one saved state entry, on ``param``'s device (floating arrays in its dtype); a scalar
    entry (``scalar_type`` int or float) becomes a Python number; lists are restored entry by entry."""
    if isinstance(value, (list, tuple)):
        return [_restore(v, param, scalar_type) for v in value]
    if value is None:
        return None
    if scalar_type is not None:
        return scalar_type(value.item() if hasattr(value, "item") else value)
    if not hasattr(value, "dtype"):  # a Python number or flag
        return value
    module = type(value).__module__
    if not isinstance(value, ag.Tensor) and module != "numpy" and not module.startswith("cupy"):
        value = np.asarray(value)  # anything else that converts to an array
    floating = ag.dtypes.is_floating(np.dtype(value.dtype))
    return ag.tensor(value, dtype=param.dtype if floating else None, device=param.device)  # always a copy
