"""PyTorch's ``torch.func`` names: composable transforms of functions of Tensors.

``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian`` take arguments that are
Tensors or nested tuples/lists/dicts of them (``argnums`` picks which are differentiated), and compose:
``hessian`` is ``jacfwd(jacrev(f))``, ``vmap(grad(loss))`` gives per-sample gradients.

How they are built here, unlike functorch:
- Every transform is a wrapper around ``autograd.grad`` (the engine's reverse pass). Forward-mode products
  (``jvp``, ``jacfwd``) come from ``autograd.functional.linearize``, the double-vjp trick for now.
- A transform called inside another one keeps its result differentiable (``create_graph``), so the outer
  transform can differentiate it, closures over the outer variable included; a transform called at the
  top level returns detached results unless its inputs already required grad.
- ``vmap`` runs ``f`` once on per-sample stand-ins and batches each op with its rule (``autograd._vmap``;
  ``autograd._vmap.ops_with_rules()`` lists them); an op without a rule runs per sample and is stacked.
  Where that cannot be right it reruns ``f`` as a per-sample loop (see ``vmap``); ``vmap(grad(f))`` is batched. ``chunk_size`` has no effect.
"""

import contextlib
import threading

from . import _vmap, functional
from .functional import _grad, _jacobian_blocks
from .grad_mode import enable_grad
from .tensor import Tensor, ones_like, zeros_like

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "functional_call", "vmap"]

_local = threading.local()  # .depth: how many differentiating transforms are running in this thread


@contextlib.contextmanager
def _transform():
    if _vmap.levels():  # a transform inside a batched vmap: vmap reruns f as a per-sample loop
        raise _vmap.Unbatchable()
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    try:
        with enable_grad():
            yield depth > 0
    finally:
        _local.depth = depth


# --- pytrees: Tensors nested in tuples, lists and dicts ----------------------------------------------------

def _flatten(tree):
    """``(leaves, spec)``; ``spec`` rebuilds the containers around new leaves (``_unflatten``)."""
    if isinstance(tree, (tuple, list)):
        parts = [_flatten(t) for t in tree]
        return [x for leaves, _ in parts for x in leaves], (type(tree), None, [s for _, s in parts])
    if isinstance(tree, dict):
        parts = [_flatten(t) for t in tree.values()]
        return [x for leaves, _ in parts for x in leaves], (dict, list(tree), [s for _, s in parts])
    return [tree], None


def _unflatten(leaves, spec):
    it = iter(leaves)

    def build(spec):
        if spec is None:
            return next(it)
        kind, keys, children = spec
        values = [build(c) for c in children]
        return dict(zip(keys, values)) if kind is dict else kind(values)
    return build(spec)


def _count(spec):
    return 1 if spec is None else sum(_count(c) for c in spec[2])


def _tensors(leaves, fn_name, what):
    for x in leaves:
        if not isinstance(x, Tensor):
            raise TypeError(f"{fn_name}: expected {what} to be Tensors (or tuples/lists/dicts of Tensors), got "
                            f"{type(x).__name__}; pass it as a Tensor (autograd.tensor(...)) or leave it out of "
                            f"argnums")
    return leaves


def _track(x):
    """``x`` as an input this transform differentiates: still connected to ``x``'s own graph, if it has one."""
    return x.view_as(x) if x.requires_grad else x.detach().requires_grad_()


def _argnums(argnums, nargs, fn_name):
    nums = (argnums,) if isinstance(argnums, int) else argnums
    if not isinstance(nums, tuple) or not nums or not all(isinstance(i, int) for i in nums):
        raise RuntimeError(f"{fn_name}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    out = []
    for i in nums:
        if not -nargs <= i < nargs:
            raise RuntimeError(f"{fn_name}: got argnums={argnums!r}, but only {nargs} positional inputs; each "
                               f"argnum must be in [-{nargs}, {nargs})")
        out.append(i % nargs)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{fn_name}: argnums={argnums!r} has duplicates; name each input once")
    return tuple(out)


def _prepare(args, argnums, fn_name):
    """Track the differentiated arguments: ``(rebuild, their tracked leaves, [spec per argnum], whether any
    required grad)``; ``rebuild(leaves)`` is the argument list with those leaves put in."""
    args = list(args)
    nums = _argnums(argnums, len(args), fn_name)
    leaves, specs, tracked_before = [], [], False
    for i in nums:
        xs, spec = _flatten(args[i])
        _tensors(xs, fn_name, f"the inputs at argnums={argnums!r}")
        tracked_before = tracked_before or any(x.requires_grad for x in xs)
        leaves += [_track(x) for x in xs]
        specs.append(spec)

    def rebuild(new_leaves):
        out, start = list(args), 0
        for i, spec in zip(nums, specs):
            n = _count(spec)
            out[i] = _unflatten(new_leaves[start:start + n], spec)
            start += n
        return out
    return rebuild, leaves, specs, tracked_before


def _leaf_caller(func, rebuild, has_aux, fn_name, kwargs):
    """``call(*leaves) -> the flat outputs of func`` (for linearize and the Jacobians, which run func
    themselves); ``seen`` keeps the output's structure and the aux of the last call."""
    seen = {}

    def call(*leaves):
        out, seen["aux"] = _split_aux(func(*rebuild(list(leaves)), **kwargs), has_aux, fn_name)
        outs, seen["spec"] = _flatten(out)
        seen["out"] = out
        return tuple(_tensors(outs, fn_name, "the outputs of f"))
    return call, seen


def _regroup(flat, specs, argnums):
    """Flat per-input results back into the argnums' structure (one arg's tree, or a tuple of them)."""
    out, start = [], 0
    for spec in specs:
        n = _count(spec)
        out.append(_unflatten(flat[start:start + n], spec))
        start += n
    return out[0] if isinstance(argnums, int) else tuple(out)


def _split_aux(out, has_aux, fn_name):
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise RuntimeError(f"{fn_name}(f)(*args): output of function f should be a tuple: (output, aux) if "
                           f"has_aux is True; return (output, aux) from f or pass has_aux=False")
    return out[0], out[1]


def _detach(tree, keep):
    if keep:
        return tree
    leaves, spec = _flatten(tree)
    return _unflatten([x.detach() if isinstance(x, Tensor) else x for x in leaves], spec)


def _zeros_for_none(grads, like):
    return [zeros_like(x) if g is None else g for g, x in zip(grads, like)]


# --- gradients ----------------------------------------------------------------------------------------------

def grad_and_value(func, argnums=0, has_aux=False):
    """``grad_and_value(f)(*args) -> (gradient, f(*args))`` (``(gradient, (value, aux))`` with has_aux) for
    ``f`` returning a 0-dim Tensor; the gradient has the structure of the ``argnums`` inputs."""
    def wrapper(*args, **kwargs):
        if _vmap.levels() and not getattr(_local, "depth", 0):  # directly inside a batched vmap
            return _batched_grad_and_value(func, argnums, has_aux, args, kwargs)
        with _transform() as nested:
            rebuild, leaves, specs, tracked = _prepare(args, argnums, "grad_and_value")
            keep = nested or tracked
            out, aux = _split_aux(func(*rebuild(leaves), **kwargs), has_aux, "grad_and_value")
            if not isinstance(out, Tensor) or out.dim() != 0:
                what = f"tensor with {out.dim()} dims" if isinstance(out, Tensor) else type(out).__name__
                raise RuntimeError(f"grad_and_value(f)(*args): expected f(*args) to return a scalar (0-dim) Tensor, "
                                   f"got {what}. Reduce it (.sum(), .mean()) or use the vjp or jacrev APIs instead")
            grads = _grad((out,), leaves, (ones_like(out),), create_graph=keep, retain_graph=keep)
            grads = _regroup(_zeros_for_none(grads, leaves), specs, argnums)
        value = _detach(out, keep)
        return (grads, (value, _detach(aux, keep))) if has_aux else (grads, value)
    return wrapper


def _batched_grad_and_value(func, argnums, has_aux, args, kwargs):
    """``vmap(grad(f))`` in one backward pass: every differentiated input becomes a batch leaf (an unmapped
    one is expanded, one copy per sample), and since the samples never mix, the gradient of the summed
    per-sample outputs w.r.t. the batch leaves holds each sample's own gradient."""
    level = _vmap.levels()[-1]
    args, leaves, specs = list(args), [], []
    for i in _argnums(argnums, len(args), "grad_and_value"):
        xs, spec = _flatten(args[i])
        proxies = []
        for x in _tensors(xs, "grad_and_value", f"the inputs at argnums={argnums!r}"):
            full = level.full(x)
            if x.requires_grad or (full is not None and full.requires_grad):
                raise _vmap.Unbatchable()  # keeping the result connected to x's graph: the loop does that
            full = x.unsqueeze(0).expand(level.size, *x.shape) if full is None else full.detach()
            leaves.append(full.requires_grad_())
            proxies.append(level.proxy(full))
        args[i] = _unflatten(proxies, spec)
        specs.append(spec)
    with enable_grad():
        out, aux = _split_aux(func(*args, **kwargs), has_aux, "grad_and_value")
    batch = level.full(out)
    if batch is None or out.dim() != 0:
        raise _vmap.Unbatchable()  # not a per-sample scalar of this level: the loop says what is wrong
    grads = _grad((batch,), leaves, (ones_like(batch),), create_graph=False, retain_graph=False)
    grads = [level.proxy(zeros_like(x) if g is None else g) for g, x in zip(grads, leaves)]
    grads = _regroup(grads, specs, argnums)
    return (grads, (out.detach(), _detach(aux, False))) if has_aux else (grads, out.detach())


def grad(func, argnums=0, has_aux=False):
    """``grad(f)(*args)``: the gradient of ``f`` (a 0-dim Tensor) w.r.t. the ``argnums`` inputs
    (``(gradient, aux)`` with has_aux)."""
    both = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        grads, value = both(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads
    return wrapper


def vjp(func, *primals, has_aux=False):
    """``(f(*primals), vjp_fn)`` (and aux): ``vjp_fn(cotangents)`` returns a tuple with one cotangent-Jacobian
    product per primal, each shaped like it; it may be called many times."""
    with _transform() as nested:
        rebuild, leaves, specs, tracked = _prepare(primals, tuple(range(len(primals))), "vjp")
        keep = nested or tracked
        out, aux = _split_aux(func(*rebuild(leaves)), has_aux, "vjp")
        outs, out_spec = _flatten(out)
        _tensors(outs, "vjp", "the outputs of f")

    def vjp_fn(cotangents):
        cots, cot_spec = _flatten(cotangents)
        if cot_spec != out_spec or len(cots) != len(outs):
            raise RuntimeError("vjp_fn: expected cotangents with the same structure as the primal output of "
                               f"f: {len(outs)} Tensor(s) in the same containers; got {len(cots)}")
        for i, (c, o) in enumerate(zip(cots, outs)):
            if not isinstance(c, Tensor) or tuple(c.shape) != tuple(o.shape):
                got = tuple(c.shape) if isinstance(c, Tensor) else type(c).__name__
                raise RuntimeError(f"vjp_fn: mismatch in shape: cotangent {i} has shape {got} but the primal "
                                   f"output {i} has shape {tuple(o.shape)}; pass one cotangent per output, shaped "
                                   f"like it")
        with _transform():
            grads = _grad(outs, leaves, cots, create_graph=keep, retain_graph=True)
        return tuple(_regroup(_zeros_for_none(grads, leaves), specs, tuple(range(len(primals)))))
    result = (_detach(out, keep), vjp_fn)
    return (*result, _detach(aux, keep)) if has_aux else result


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(f(*primals), J @ tangents)`` (and aux): ``tangents`` has the structure and shapes of ``primals``."""
    if not isinstance(primals, tuple):
        raise RuntimeError("jvp(f, primals, tangents): expected primals to be a tuple, e.g. it should be valid to "
                           "call f(*primals); wrap a single Tensor as (x,)")
    if not isinstance(tangents, tuple) or len(tangents) != len(primals):
        raise RuntimeError("jvp(f, primals, tangents): expected tangents to be a tuple with one entry per primal "
                           f"({len(primals)}), got {type(tangents).__name__}")
    with _transform() as nested:
        rebuild, leaves, specs, tracked = _prepare(primals, tuple(range(len(primals))), "jvp")
        keep = nested or tracked
        ts, _ = _flatten(tangents)
        _tensors(ts, "jvp", "tangents")
        if len(ts) != len(leaves) or any(tuple(t.shape) != tuple(x.shape) for t, x in zip(ts, leaves)):
            raise RuntimeError("jvp(f, primals, tangents): expected tangents to have the same structure and shapes "
                               f"as primals: {[tuple(x.shape) for x in leaves]}, got {[tuple(t.shape) for t in ts]}")
        call, seen = _leaf_caller(func, rebuild, has_aux, "jvp", {})
        outs, product = functional.linearize(call, leaves, keep)  # read at call time: the switch
        out, aux, out_spec = seen["out"], seen["aux"], seen["spec"]
        products = product(ts)
        if strict and all(p is None for p in products):
            raise RuntimeError("jvp(f, primals, tangents, strict=True): the output of f is independent of the "
                               "inputs; this is not allowed with strict=True (pass strict=False for zeros)")
        products = _unflatten(_zeros_for_none(products, outs), out_spec)
    result = (_detach(out, keep), _detach(products, keep))
    return (*result, _detach(aux, keep)) if has_aux else result


# --- Jacobians -------------------------------------------------------------------------------------------

def _jacobian(func, argnums, has_aux, strategy, fn_name):
    def wrapper(*args, **kwargs):
        with _transform() as nested:
            rebuild, leaves, specs, tracked = _prepare(args, argnums, fn_name)
            keep = nested or tracked
            call, seen = _leaf_caller(func, rebuild, has_aux, fn_name, kwargs)
            blocks = _jacobian_blocks(call, leaves, keep, False, strategy, fn_name)
            jac = _unflatten([_regroup(list(row), specs, argnums) for row in blocks], seen["spec"])
        return (jac, _detach(seen["aux"], keep)) if has_aux else jac
    return wrapper


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """The Jacobian of ``func`` w.r.t. the ``argnums`` inputs, a row (one reverse pass) per output element.
    Per output leaf, the argnums' structure of blocks shaped ``out.shape + in.shape``."""
    return _jacobian(func, argnums, has_aux, "reverse-mode", "jacrev")


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """``jacrev``'s result, built a column (one jvp) per input element."""
    return _jacobian(func, argnums, has_aux, "forward-mode", "jacfwd")


def hessian(func, argnums=0):
    """The Hessian of ``func`` (returning a 0-dim Tensor or one with one element): ``jacfwd(jacrev(func))``."""
    return jacfwd(jacrev(func, argnums), argnums)


# --- calling a module with other parameters -----------------------------------------------------------------

def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """``module(*args, **kwargs)`` with the named parameters and buffers replaced by the given Tensors for
    this call only; the module's own are put back afterwards, also when the call raises."""
    dicts = (parameter_and_buffer_dicts if isinstance(parameter_and_buffer_dicts, (tuple, list))
             else (parameter_and_buffer_dicts,))
    values = {}
    for d in dicts:
        twice = sorted(set(values) & set(d))
        if twice:
            raise ValueError(f"functional_call: got multiple values for keys {twice}, which are used in more than "
                             f"one of the parameter_and_buffer_dicts; give each name once")
        values.update(d)
    if tie_weights:  # a tensor registered under several names: replacing one name replaces all
        names_of = {}
        named = [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]
        for name, t in named:
            names_of.setdefault(id(t), []).append(name)
        for names in names_of.values():
            given = [n for n in names if n in values]
            for n in given[1:]:
                if values[n] is not values[given[0]]:
                    raise ValueError(f"functional_call: got values for both {given[0]!r} and {n!r}, which are tied "
                                     f"(the same tensor in the module); give one, or pass tie_weights=False")
            if given:
                values.update({n: values[given[0]] for n in names if n not in values})
    if strict:
        expected = {n for n, _ in module.named_parameters(remove_duplicate=False)}
        expected |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
        missing, unexpected = sorted(expected - set(values)), sorted(set(values) - expected)
        if missing or unexpected:
            raise RuntimeError(f"functional_call: error(s) in reparametrizing {type(module).__name__} (strict=True):"
                               f" unexpected key(s) {unexpected}, missing key(s) {missing}; pass every parameter and "
                               f"buffer name exactly, or strict=False")
    args = args if isinstance(args, tuple) else (() if args is None else (args,))
    restore = [_swap(module, name, value) for name, value in values.items()]
    try:
        return module(*args, **(kwargs or {}))
    finally:
        for undo in reversed(restore):
            undo()


_MISSING = object()


def _swap(module, name, value):
    """Put ``value`` at dotted ``name`` in the module tree (a parameter, a buffer or a plain attribute) and
    return what puts the old one back."""
    owner_name, _, attr = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    for registry in (owner._parameters, owner._buffers):
        if attr in registry:
            old = registry[attr]
            registry[attr] = value
            return lambda: registry.__setitem__(attr, old)
    old = owner.__dict__.get(attr, _MISSING)
    object.__setattr__(owner, attr, value)
    return lambda: object.__delattr__(owner, attr) if old is _MISSING else object.__setattr__(owner, attr, old)


# --- vmap: batching rules, or a per-sample loop ------------------------------------------------------------------------------

def _broadcast_dims(dims, tree, fn_name, what):
    """One dim (int or None) per leaf of ``tree``: an int/None applies to a whole subtree."""
    if dims is None or isinstance(dims, int):
        return [dims] * len(_flatten(tree)[0])
    same = (isinstance(dims, (tuple, list)) and isinstance(tree, (tuple, list)) and len(dims) == len(tree)) or \
        (isinstance(dims, dict) and isinstance(tree, dict) and set(dims) == set(tree))
    if not same:
        raise ValueError(f"{fn_name}: {what} {dims!r} is not compatible with the structure of the "
                         f"{'inputs' if what == 'in_dims' else 'outputs'}: give an int or None, or a "
                         f"tuple/list/dict of them shaped like the {'inputs' if what == 'in_dims' else 'outputs'}")
    keys = list(tree) if isinstance(tree, dict) else range(len(tree))
    return [d for k in keys for d in _broadcast_dims(dims[k], tree[k], fn_name, what)]


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``vmap(f)(*args)``: ``f`` applied to every slice of the arguments along ``in_dims`` (None: not mapped),
    the results stacked along ``out_dims``; nests freely.

    ``f`` runs once, on per-sample stand-ins (Tensors of one sample's shape): every op on them runs once on
    the whole batch by its batching rule (``autograd._vmap.ops_with_rules()``: the elementwise ops of
    arithmetic/unary/pointwise, sum/mean/amax/amin/max/min/logsumexp/softmax/log_softmax, matmul/linear,
    reshape/view/expand/permute/transpose/(un)squeeze/select/narrow/basic indexing); any other op runs per
    sample and is stacked (the fallback). ``f`` is instead called once per sample (a Python loop) when it
    reads a stand-in's values (item, bool, numpy, ``.array``), writes into one (in-place ops), calls
    backward on one or a transform other than ``grad``/``grad_and_value`` inside, when randomness is not
    "error", for a vmap nested in a batched one, and when the batched run raises (the loop then raises the
    per-sample error). ``vmap(grad(f))`` is batched: one backward pass gives every sample's gradient.

    randomness: "error" refuses a function that draws from the global RNG, "different" lets every sample
    draw its own numbers, "same" restarts the RNG for each sample so they all draw the same."""
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"vmap: only allows randomness to be 'error', 'different', or 'same', got {randomness!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0, got {chunk_size!r}")
    name = f"vmap({getattr(func, '__name__', 'f')}, in_dims={in_dims!r}, ...)(<inputs>)"

    def wrapper(*args, **kwargs):
        from . import get_rng_state, set_rng_state, stack
        if not isinstance(in_dims, (int, tuple, list)):
            raise ValueError(f"{name}: expected in_dims to be an int or a (possibly nested) tuple matching the "
                             f"structure of the inputs, got {type(in_dims).__name__}")
        if isinstance(in_dims, (tuple, list)) and len(in_dims) != len(args):
            raise ValueError(f"{name}: in_dims has {len(in_dims)} entries but {len(args)} positional inputs were "
                             f"given; give one in_dim per input")
        leaves, spec = _flatten(args)
        dims = _broadcast_dims(tuple(in_dims) if isinstance(in_dims, list) else in_dims, args, name, "in_dims")
        sizes = []
        for i, (x, d) in enumerate(zip(leaves, dims)):
            if d is None:
                continue
            if not isinstance(x, Tensor):
                raise ValueError(f"{name}: got in_dim={d} for an input but the input is of type {type(x).__name__}; "
                                 f"vmap cannot map over non-Tensor arguments, use None as its in_dim")
            if x.dim() == 0 or not -x.dim() <= d < x.dim():
                raise ValueError(f"{name}: got in_dim={d} for an input with {x.dim()} dims (shape {tuple(x.shape)});"
                                 f" in_dim must be in [-{x.dim()}, {x.dim()}), or None for an unmapped input")
            dims[i] = d % x.dim()
            sizes.append(x.shape[dims[i]])
        if not sizes:
            raise ValueError(f"{name}: at least one of the inputs must be a Tensor mapped over (in_dims not all None)")
        if len(set(sizes)) != 1:
            raise ValueError(f"{name}: expected all tensors to have the same size in the mapped dimension, got sizes "
                             f"{sizes} for the mapped dimension")
        if sizes[0] == 0:
            raise ValueError(f"{name}: the mapped dimension has size 0; this vmap runs f once per sample, so it "
                             f"needs at least one sample to learn the outputs' shapes")
        start = get_rng_state()
        start_bytes = start.numpy().tobytes()
        if randomness == "error" and not _vmap.levels():
            try:
                out = _batched(func, leaves, dims, spec, sizes[0], kwargs, out_dims, name)
            except Exception:  # Unbatchable, or an error the loop reports for the sample it belongs to
                set_rng_state(start)
            else:
                if get_rng_state().numpy().tobytes() != start_bytes:
                    set_rng_state(start)
                    raise RuntimeError("vmap: called a random operation while in randomness='error' mode; pass "
                                       "randomness='same' or 'different' to vmap, or draw the random numbers "
                                       "outside it")
                return out
        results = []
        for b in range(sizes[0]):
            if randomness == "same":
                set_rng_state(start)
            sample = [x if d is None else x.select(d, b) for x, d in zip(leaves, dims)]
            results.append(func(*_unflatten(sample, spec), **kwargs))
            if randomness == "error" and get_rng_state().numpy().tobytes() != start_bytes:
                set_rng_state(start)
                raise RuntimeError("vmap: called a random operation while in randomness='error' mode; pass "
                                   "randomness='same' or 'different' to vmap, or draw the random numbers outside it")
        outs, out_spec = _flatten(results[0]) if results else ([], None)
        per_sample = [_flatten(r)[0] for r in results]
        odims = _broadcast_dims(tuple(out_dims) if isinstance(out_dims, list) else out_dims, results[0], name,
                                "out_dims")
        stacked = []
        for k, (o, d) in enumerate(zip(outs, odims)):
            if d is None:
                stacked.append(o)
                continue
            if not isinstance(o, Tensor):
                raise ValueError(f"{name}: `f` must only return Tensors (or tuples/lists/dicts of them) for mapped "
                                 f"outputs, got {type(o).__name__}; return a Tensor or use out_dims=None for it")
            if not -(o.dim() + 1) <= d <= o.dim():
                raise ValueError(f"{name}: out_dim={d} is out of range for an output with {o.dim()} dims; it must "
                                 f"be in [-{o.dim() + 1}, {o.dim()}]")
            stacked.append(stack([r[k] for r in per_sample], dim=d))
        return _unflatten(stacked, out_spec)
    return wrapper


def _batched(func, leaves, dims, spec, size, kwargs, out_dims, name):
    """One call of ``func`` on per-sample proxies, each op batched (``autograd._vmap``); the outputs are the
    proxies' batches with the batch dim moved to ``out_dims``. Raises ``_vmap.Unbatchable`` where only the
    per-sample loop is right."""
    level = _vmap.Level(size)
    with _vmap.running(level):
        sample = [x if d is None else level.proxy(x.movedim(d, 0)) for x, d in zip(leaves, dims)]
        out = func(*_unflatten(sample, spec), **kwargs)
    outs, out_spec = _flatten(out)
    odims = _broadcast_dims(tuple(out_dims) if isinstance(out_dims, list) else out_dims, out, name, "out_dims")
    results = []
    for o, d in zip(outs, odims):
        full = level.full(o)
        if d is None or not isinstance(o, Tensor) or not -(o.dim() + 1) <= d <= o.dim():
            if full is not None or d is not None:
                raise _vmap.Unbatchable()  # the loop gives these their results or errors
            results.append(o)
            continue
        if full is None:  # independent of the mapped inputs: the same for every sample
            full = o.unsqueeze(0).expand(size, *o.shape)
        results.append(full.movedim(0, d))
    return _unflatten(results, out_spec)
