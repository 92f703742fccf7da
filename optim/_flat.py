"""Fused optimizer steps: one parameter group's parameters and state as views into flat buffers.

A ``FlatGroup`` owns one flat buffer for the group's parameters and one per state entry
(``exp_avg``, ``momentum_buffer``, ...). Each parameter's ``.data`` and each state tensor's
memory are views into them, so an update rule applied to the flat buffers (a few whole-array
calls on NumPy, one ElementwiseKernel launch on CUDA) updates every parameter at once. The
gradients are gathered into a flat buffer of their own each step (one ``concatenate``): the
engine replaces ``.grad`` arrays at will, so views into a buffer would not stay valid.

The rule applied is the optimizer's per-parameter rule (``Optimizer._rule``), unchanged, or
the backend's fused kernel of the same name; the update is elementwise, so running it over
a concatenation changes no element's arithmetic.

Everything a user may do between steps is checked at the start of each step, by identity:
- ``p.data = t`` (or anything else that rebinds ``p.array``): the new values are copied into
  the parameter's slot and ``p.data`` becomes a view again (a different shape, dtype or device
  rebuilds the layout, or sends the group back to the per-parameter rule);
- ``load_state_dict`` (or any other replacement of a state tensor or its array): the same, for
  the state;
- parameters without a gradient this step are skipped as PyTorch skips them: the update runs
  over runs of neighbouring parameters that have one (and whose rule key, e.g. Adam's step
  count, agrees), so they and their state are left untouched.

Caveat (documented in optimizer.py): the first fused step moves each parameter's memory into
the flat buffer, so a tensor that shared memory with a parameter before (``t`` after
``p.data = t``) stops seeing its updates. A parameter whose array is a view of another array
(it may share memory on purpose) is never moved, unless the view is one a FlatGroup made (of
this optimizer, or of an earlier one over the same parameters): its group keeps the
per-parameter rule.
"""

import weakref

import autograd as ag

# id(parameter) -> (weak reference to it, id of the view a FlatGroup made its array); not a WeakKeyDictionary,
# which compares keys with ==, elementwise for tensors
_installed = {}


def _installed_view(p):
    entry = _installed.get(id(p))
    return entry[1] if entry is not None and entry[0]() is p else None


def _install(p, view):
    if id(p) not in _installed:
        weakref.finalize(p, _installed.pop, id(p), None)
    _installed[id(p)] = (weakref.ref(p), id(view))


def eligible(params):
    """True when ``params`` can live in one flat buffer: one device, one real floating dtype, and
    arrays that own their memory or are the views a FlatGroup installed."""
    first = params[0]
    for p in params:
        a = p.array
        if p._backend is not first._backend or a.dtype != first.array.dtype or not ag.dtypes.is_floating(a.dtype):
            return False
        if a.base is not None and _installed_view(p) != id(a):  # the id of a live array (p holds it): unique
            return False
    return True


class FlatGroup:
    """A group's parameters and state entries ``names`` held as views into flat buffers."""

    def __init__(self, params, names):
        self.params = list(params)
        self.names = tuple(names)
        self.backend = backend = params[0]._backend
        xp, dtype = backend.xp, params[0].array.dtype
        self.shapes = [p.array.shape for p in self.params]
        self.bounds, total = [], 0
        for p in self.params:
            self.bounds.append((total, total + p.array.size))
            total += p.array.size
        with backend.errstate():  # the parameters' device is current: the buffers land there
            self.data = xp.empty(total, dtype=dtype)
            self.grad = xp.empty(total, dtype=dtype)
            self.work = xp.empty(total, dtype=dtype)  # scratch for the rule's intermediates
            self.state = {name: xp.zeros(total, dtype=dtype) for name in self.names}
            self.views = [None] * len(self.params)            # the array installed as p.array
            self.state_views = [dict() for _ in self.params]  # name -> array installed in the state tensor
            for i, p in enumerate(self.params):
                self._adopt(i, p.array)

    def matches(self, params, names):
        """Whether this layout still fits ``params`` (same tensors, shapes, dtype, device) and ``names``."""
        if names != self.names or len(params) != len(self.params):
            return False
        dtype = self.data.dtype
        for p, q, shape in zip(params, self.params, self.shapes):
            if p is not q or p.array.shape != shape or p.array.dtype != dtype or p._backend is not self.backend:
                return False
        return True

    def _slot(self, buffer, i):
        lo, hi = self.bounds[i]
        return buffer[lo:hi].reshape(self.shapes[i])

    def _adopt(self, i, array):
        """Copy ``array`` into parameter i's slot and make p.array a view of it."""
        view = self._slot(self.data, i)
        view[...] = array
        p = self.params[i]
        p.array, self.views[i] = view, view
        _install(p, view)

    def sync(self, state):
        """Re-adopt whatever was rebound since the last step: parameter arrays and state tensors."""
        for i, p in enumerate(self.params):
            if p.array is not self.views[i]:
                self._adopt(i, p.array)
            s = state.get(p)
            if not s:
                continue
            installed = self.state_views[i]
            for name in self.names:
                t = s.get(name)
                if t is None or t.array is installed.get(name):
                    continue
                if not isinstance(t, ag.Tensor):  # a raw array put there by hand
                    t = s[name] = ag.as_tensor(t, device=p.device)
                view = self._slot(self.state[name], i)
                view[...] = t.array.astype(view.dtype, copy=False)
                t.array = installed[name] = view

    def segments(self, keys):
        """(lo, hi, key, indices) for each run of neighbouring parameters that have a key (a gradient this
        step) and share it; ``keys[i]`` is ``skip`` for a parameter without a gradient."""
        runs, start = [], None
        for i, key in enumerate(keys + [SKIP]):
            if start is not None and (key is SKIP or key != keys[start]):
                runs.append((self.bounds[start][0], self.bounds[i - 1][1], keys[start], range(start, i)))
                start = None
            if start is None and key is not SKIP:
                start = i
        return runs

    def step(self, optimizer, group):
        """One update of every parameter of the group that has a gradient."""
        state = optimizer.state
        with self.backend.errstate():  # the parameters' device current: kernels launch and allocate there
            keys = [SKIP if p.grad is None else optimizer._prepare(p, state[p], group) for p in self.params]
            self.sync(state)
            rule = self.backend.kernels.get(optimizer._kernel_name, type(optimizer)._rule)
            xp = self.backend.xp
            for lo, hi, key, indices in self.segments(keys):
                grads = [self.params[i].grad.array.reshape(-1) for i in indices]
                g = self.grad[lo:hi]
                xp.concatenate(grads, out=g)
                bufs = {name: buffer[lo:hi] for name, buffer in self.state.items()}
                rule(xp, self.data[lo:hi], g, g, self.work[lo:hi], bufs, key, group)  # g is ours to overwrite
                for i in indices:
                    self.params[i]._version[0] += 1  # changed in place


class _Skip:
    def __repr__(self):
        return "<no gradient>"


SKIP = _Skip()  # the key of a parameter without a gradient this step (None is a valid key)
