"""Module: the base class of layers and models, with PyTorch's registration and state handling.

Assigning a Parameter, a Module or (after ``register_buffer``) a Tensor to an attribute
registers it; ``parameters()``, ``state_dict()``, ``to()`` and friends then walk the tree
of registered submodules. Names follow PyTorch (``0.weight``, ``fc.bias``), so state
dicts carry over key for key.
"""

import sys
import warnings
from collections import OrderedDict, namedtuple

import numpy as np

import autograd as ag
from autograd.graph import _add_hook
from autograd.tensor import parse_to_args

from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer: subclass it, assign layers/Parameters in ``__init__``, define ``forward``."""

    def __init__(self):
        set_ = object.__setattr__
        set_(self, "training", True)
        set_(self, "_parameters", OrderedDict())
        set_(self, "_buffers", OrderedDict())
        set_(self, "_non_persistent_buffers", set())
        set_(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define forward(self, ...) in the subclass")

    _has_hooks = False  # True once a hook is registered on this module: __call__ then takes the hooked path

    def __call__(self, *args, **kwargs):
        if not (self._has_hooks or _global_forward_pre_hooks or _global_forward_hooks):
            return self.forward(*args, **kwargs)
        return _call_with_hooks(self, args, kwargs)

    # --- hooks (PyTorch's names; each returns a handle: handle.remove(), or `with handle:`) ------------
    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` runs before forward and may return new args (a tuple, or one value);
        with ``with_kwargs``, ``hook(module, args, kwargs)`` may return a new ``(args, kwargs)``."""
        with_kw = self._hook_dict("_forward_pre_hooks_with_kwargs")
        handle = _add_hook(self._hook_dict("_forward_pre_hooks"), hook, prepend, extra_dict=with_kw)
        if with_kwargs:
            with_kw[handle.id] = True
        return handle

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """``hook(module, args, output)`` (with ``with_kwargs``: ``hook(module, args, kwargs, output)``) runs
        after forward and may return a new output; ``always_call`` runs it even when forward raised."""
        with_kw, always = self._hook_dict("_forward_hooks_with_kwargs"), self._hook_dict("_forward_hooks_always_called")
        handle = _add_hook(self._hook_dict("_forward_hooks"), hook, prepend, extra_dict=[with_kw, always])
        if with_kwargs:
            with_kw[handle.id] = True
        if always_call:
            always[handle.id] = True
        return handle

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` runs when the gradients of the module's outputs are ready and may
        return replacements for them."""
        return _add_hook(self._hook_dict("_backward_pre_hooks"), hook, prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` runs when the gradients of the module's tensor inputs
        are ready (None for an input that needs none) and may return replacements for grad_input."""
        return _add_hook(self._hook_dict("_backward_hooks"), hook, prepend)

    def _hook_dict(self, name):
        hooks = self.__dict__.get(name)
        if hooks is None:
            hooks = OrderedDict()
            object.__setattr__(self, name, hooks)
        object.__setattr__(self, "_has_hooks", True)
        return hooks

    # --- registration --------------------------------------------------------------
    def _registry(self, what):
        registry = self.__dict__.get(what)
        if registry is None:
            raise AttributeError(f"cannot assign {what[1:-1]}s before Module.__init__() call; "
                                 f"call super().__init__() first in {type(self).__name__}.__init__")
        return registry

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter or None) under ``name``."""
        _check_name(self, name, "parameter", "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' as parameter '{name}' "
                            f"(nn.Parameter or None expected); wrap it: nn.Parameter(tensor)")
        self._registry("_parameters")[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a Tensor (or None) that is state but not a parameter, e.g. running statistics."""
        _check_name(self, name, "buffer", "_buffers")
        if tensor is not None and not isinstance(tensor, ag.Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' as buffer '{name}' (Tensor or None expected)")
        self._registry("_buffers")[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        """Register ``module`` (or None) as a child under ``name``."""
        _check_name(self, name, "module", "_modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass (child '{name}')")
        self._registry("_modules")[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        params, buffers, modules = (self.__dict__.get(k) for k in ("_parameters", "_buffers", "_modules"))
        if isinstance(value, Parameter):
            if params is None:
                self._registry("_parameters")
            _forget(self, name)
            params[name] = value
        elif isinstance(value, Module):
            if modules is None:
                self._registry("_modules")
            _forget(self, name)
            modules[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                f"(nn.Parameter or None expected)")
            params[name] = None
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                f"(nn.Module or None expected)")
            modules[name] = None
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, ag.Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                f"(Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):  # only called when normal lookup fails
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(registry, ()):
                del self.__dict__[registry][name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    # --- iteration over the module tree ------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and value in seen):
                    continue
                seen.add(value)
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(name, Parameter) pairs in registration order, each shared Parameter once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target):
        module = self
        for name in target.split(".") if target else ():
            if name not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule '{name}' (looking up '{target}')")
            module = module._modules[name]
        return module

    def get_parameter(self, target):
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter '{name}' (looking up '{target}')")
        return module._parameters[name]

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first) and on self, e.g. to initialise weights."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # --- modes and gradients ------------------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a bool, got {type(mode).__name__}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set ``.grad`` to None (default) or to zeros."""
        for p in self.parameters():
            _zero_grad(p, set_to_none)

    # --- devices and dtypes ----------------------------------------------------------------
    def _apply(self, fn, floating_only=False):
        """Replace every parameter's array (and grad) by ``fn`` of it, in place, so the Parameter
        objects an optimizer already holds stay the ones the module uses; buffers are replaced."""
        for module in self.modules():
            for p in module._parameters.values():
                if p is None or (floating_only and not p.is_floating_point()):
                    continue
                p.data = fn(p.detach())
                if p.grad is not None:
                    p.grad.data = fn(p.grad.detach())
            for name, b in module._buffers.items():
                if b is not None and not (floating_only and not b.is_floating_point()):
                    module._buffers[name] = fn(b)
        return self

    def to(self, *args, device=None, dtype=None):
        """``to("cuda")``, ``to(ag.float64)``, ``to(device=..., dtype=...)``, ``to(tensor)``; in place.

        A dtype applies to floating-point parameters and buffers only, as in PyTorch.
        """
        device, dtype = parse_to_args(args, device, dtype)
        if dtype is not None:
            dtype = ag.dtypes.to_dtype(dtype)
            if not ag.dtypes.is_floating(dtype):
                raise TypeError(f"Module.to only accepts floating point dtypes, but got dtype={dtype}; "
                                f"integer parameters can't be trained")
        if device is not None:
            self._apply(lambda t: t.to(device=device))
        if dtype is not None:
            self._apply(lambda t: t.to(dtype=dtype), floating_only=True)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to(ag.Device("cuda", device) if isinstance(device, int) else device or "cuda")

    def double(self):
        return self.to(ag.float64)

    def float(self):
        return self.to(ag.float32)

    def half(self):
        return self.to(ag.float16)

    # --- state dicts ---------------------------------------------------------------------------
    def _state_items(self, prefix=""):
        """(key, tensor) for every parameter and persistent buffer, PyTorch's order and keys."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                yield prefix + name, b
        for name, module in self._modules.items():
            if module is not None:
                yield from module._state_items(prefix + name + ".")

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An OrderedDict of parameter and persistent-buffer tensors; detached (sharing memory)
        unless ``keep_vars``."""
        destination = OrderedDict() if destination is None else destination
        for key, t in self._state_items(prefix):
            destination[key] = t if keep_vars else t.detach()
        return destination

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` (ndgrad Tensors or array-likes such as NumPy arrays) into
        this module's parameters and buffers, in place. Returns ``(missing_keys, unexpected_keys)``.

        Shape mismatches always raise; with ``strict`` missing or unexpected keys raise too.
        Nothing is copied when an error is raised.
        """
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        values = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = _loadable(state_dict[key])
            if value is None:
                errors.append(f'While copying the parameter named "{key}", expected a Tensor or a numeric array from '
                              f'checkpoint but received {type(state_dict[key]).__name__} '
                              f'({_short_repr(state_dict[key])}); save tensors, e.g. model.state_dict().')
                continue
            if tuple(value.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from "
                              f"checkpoint, the shape in current model is {tuple(target.shape)}.")
            values[key] = value
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with ag.no_grad():
            for key, value in values.items():
                own[key].copy_(value.detach())
        return IncompatibleKeys(missing, unexpected)

    # --- printing ----------------------------------------------------------------------------------
    def extra_repr(self):
        """The text inside the parentheses of this module's repr, e.g. ``in_features=2, ...``."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _indent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{type(self).__name__}({body})"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))


def _check_name(module, name, what, registry):
    if not isinstance(name, str):
        raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{what} name can't be empty or contain '.', got {name!r}")
    if hasattr(module, name) and name not in module.__dict__.get(registry, ()):
        raise KeyError(f"attribute '{name}' already exists on {type(module).__name__}; pick another {what} name")


def _forget(module, name):
    """Drop ``name`` from wherever it was registered before, so it lives in exactly one place."""
    module.__dict__.pop(name, None)
    for registry in ("_parameters", "_buffers", "_modules"):
        module.__dict__[registry].pop(name, None)
    module._non_persistent_buffers.discard(name)


def _loadable(value):
    """``value`` as a Tensor, or None when it is no numeric data (None, a string, an object)."""
    if isinstance(value, ag.Tensor):
        return value
    if not _is_backend_array(value):
        value = np.asarray(value) if isinstance(value, (list, tuple, np.generic, np.ndarray)) else None
        if value is None or value.dtype.kind not in "biuf":
            return None
    return ag.as_tensor(value)


def _short_repr(value, limit=40):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_backend_array(value):
    module = type(value).__module__
    return (module == "numpy" and isinstance(value, np.ndarray)) or module.startswith("cupy")


def _zero_grad(p, set_to_none):
    if p.grad is None:
        return
    if set_to_none:
        p.grad = None
        return
    # a fresh zero array rather than zeroing in place: the engine may have handed this
    # array to the leaf without copying it, so it can be shared with another tensor
    p.grad = ag.zeros_like(p.grad)


def _indent(text, spaces):
    lines = text.split("\n")
    return lines[0] if len(lines) == 1 else lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


# --- module hooks: the hooked call, the global hooks, the backward hooks ---------------------------------

_global_forward_pre_hooks = OrderedDict()
_global_forward_hooks = OrderedDict()
_global_forward_hooks_with_kwargs = {}
_global_forward_hooks_always_called = {}
_NONE = {}


def register_module_forward_pre_hook(hook):
    """A forward pre-hook (``hook(module, args)``) for every module, run before each module's own."""
    return _add_hook(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs=False, always_call=False):
    """A forward hook (``hook(module, args, output)``) for every module, run before each module's own."""
    handle = _add_hook(_global_forward_hooks, hook,
                       extra_dict=[_global_forward_hooks_with_kwargs, _global_forward_hooks_always_called])
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def _call_with_hooks(module, args, kwargs):
    """Module.__call__ when hooks are registered: pre-hooks, backward-hook wrapping of the inputs,
    forward, forward hooks, backward-hook wrapping of the outputs (PyTorch's order)."""
    own = module.__dict__.get
    pre_hooks, pre_kwargs = own("_forward_pre_hooks") or _NONE, own("_forward_pre_hooks_with_kwargs") or _NONE
    hooks, with_kwargs = own("_forward_hooks") or _NONE, own("_forward_hooks_with_kwargs") or _NONE
    always = own("_forward_hooks_always_called") or _NONE
    backward_hooks = list((own("_backward_hooks") or _NONE).values())
    backward_pre_hooks = list((own("_backward_pre_hooks") or _NONE).values())
    forward_hooks = (*_global_forward_hooks.items(), *hooks.items())
    result, called = None, set()
    try:
        for hook_id, hook in (*_global_forward_pre_hooks.items(), *pre_hooks.items()):
            if hook_id in pre_kwargs:
                new = hook(module, args, kwargs)
                if new is not None:
                    if not (isinstance(new, tuple) and len(new) == 2):
                        raise RuntimeError(f"{type(module).__name__}: a forward pre-hook registered with_kwargs=True "
                                           f"must return None or a tuple (new_args, new_kwargs), but it returned "
                                           f"{new!r}")
                    args, kwargs = new
            else:
                new = hook(module, args)
                if new is not None:
                    args = new if isinstance(new, tuple) else (new,)
        backward_hook = None
        if backward_hooks or backward_pre_hooks:
            backward_hook = _BackwardHook(module, backward_hooks, backward_pre_hooks)
            args = backward_hook.setup_input_hook(args)
        result = module.forward(*args, **kwargs)
        for hook_id, hook in forward_hooks:
            if hook_id in always or hook_id in _global_forward_hooks_always_called:
                called.add(hook_id)
            if hook_id in with_kwargs or hook_id in _global_forward_hooks_with_kwargs:
                new = hook(module, args, kwargs, result)
            else:
                new = hook(module, args, result)
            if new is not None:
                result = new
        if backward_hook is not None:
            if not isinstance(result, (ag.Tensor, tuple)):
                warnings.warn(f"{type(module).__name__}: for backward hooks to be called, the module's output "
                              f"should be a Tensor or a tuple of Tensors, but it is {type(result).__name__}",
                              stacklevel=3)
            result = backward_hook.setup_output_hook(result)
        return result
    except Exception:
        for hook_id, hook in forward_hooks:  # always_call hooks that did not run yet still run, then the error goes on
            if (hook_id in always or hook_id in _global_forward_hooks_always_called) and hook_id not in called:
                try:
                    if hook_id in with_kwargs or hook_id in _global_forward_hooks_with_kwargs:
                        new = hook(module, args, kwargs, result)
                    else:
                        new = hook(module, args, result)
                    if new is not None:
                        result = new
                except Exception as e:
                    warnings.warn(f"{type(module).__name__}: a forward hook with always_call=True raised {e!r}; it "
                                  f"was ignored because forward raised first", stacklevel=3)
        raise


class _BackwardHookFunction(ag.Function):
    """Identity on the module's tensor inputs (or outputs): its graph node is where the module's
    grad_input (or grad_output) can be seen, one gradient per tensor."""

    @staticmethod
    def forward(ctx, *tensors):
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        return grads


class _BackwardHook:
    """The full backward hooks of one call of a module: an identity node on its outputs sees grad_output
    (and runs the backward pre-hooks), one on its inputs sees grad_input (and runs the backward hooks)."""

    def __init__(self, module, hooks, pre_hooks):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs = None
        self.n_inputs, self.input_index = 0, None
        self.n_outputs, self.output_index = 0, None

    def setup_input_hook(self, args):
        args, self.input_index = self._wrap(args, self._input_hook)
        self.n_inputs = len(args)
        return args

    def setup_output_hook(self, result):
        single = not isinstance(result, tuple)
        outputs, self.output_index = self._wrap((result,) if single else result, self._output_hook)
        self.n_outputs = len(outputs)
        return outputs[0] if single else outputs

    def _wrap(self, values, hook):
        """Pass the tensors among ``values`` through the identity; its node gets ``hook``."""
        index = [i for i, v in enumerate(values) if isinstance(v, ag.Tensor)]
        tensors = [values[i] for i in index]
        if not (any(t.requires_grad for t in tensors) and ag.is_grad_enabled()):
            return values, None
        wrapped = _BackwardHookFunction.apply(*tensors)
        node = next(t.grad_fn for t in wrapped if t.grad_fn is not None)
        node.register_hook(hook)
        values = list(values)
        for i, t in zip(index, wrapped):
            values[i] = t
        return tuple(values), index

    def _spread(self, index, grads, size):
        """The gradients of the tensors among the arguments, placed at their positions (None elsewhere)."""
        full = [None] * size
        for i, g in zip(index, grads):
            full[i] = g
        return tuple(full)

    def _output_hook(self, _, grad_outputs):
        self.grad_outputs = self._spread(self.output_index, grad_outputs, self.n_outputs)
        for hook in self.pre_hooks:
            new = hook(self.module, self.grad_outputs)
            if new is not None:
                new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
                if len(new) != len(self.grad_outputs):
                    raise RuntimeError(f"{type(self.module).__name__}: a backward pre-hook returned {len(new)} "
                                       f"grad_outputs, but the module has {len(self.grad_outputs)} outputs")
                self.grad_outputs = new
        grad_outputs = self.grad_outputs
        if self.input_index is None:  # no input needs a gradient: the backward hooks run now, with None for each
            grad_inputs = (None,) * self.n_inputs
            if self.hooks:
                warnings.warn(f"{type(self.module).__name__}: its full backward hook fires with grad_input all None, "
                              f"when the gradients of its outputs are computed, because no input requires grad")
            for hook in self.hooks:
                new = hook(self.module, grad_inputs, self.grad_outputs)
                if new is not None and not all(g is None for g in new):
                    raise RuntimeError(f"{type(self.module).__name__}: no input of this module requires grad, so a "
                                       f"backward hook on it must return None (or None for every grad_input)")
            self.grad_outputs = None
        return tuple(grad_outputs[i] for i in self.output_index)

    def _input_hook(self, grad_inputs, _):
        if self.grad_outputs is None:  # the gradient reached the inputs without passing through the outputs
            return None
        grads = self._spread(self.input_index, grad_inputs, self.n_inputs)
        for hook in self.hooks:
            new = hook(self.module, grads, self.grad_outputs)
            if new is not None:
                new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
                if len(new) != len(grads):
                    raise RuntimeError(f"{type(self.module).__name__}: a backward hook returned {len(new)} "
                                       f"grad_inputs, but the module was called with {len(grads)} arguments")
                grads = new
        self.grad_outputs = None
        return tuple(grads[i] for i in self.input_index)


# PyTorch's path for the global hooks is torch.nn.modules.module: the same module here, under that name too
from . import modules as _modules  # noqa: E402  (the layers import Module from this module, defined above)

_modules.module = sys.modules[__name__]
sys.modules[_modules.__name__ + ".module"] = sys.modules[__name__]
