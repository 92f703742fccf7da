"""DistributedDataParallel: one model replica per process, gradients averaged in buckets during backward.

At construction rank 0's parameters and buffers are broadcast, so every replica starts equal. Parameters (in reverse
order, roughly the order backward reaches them) are grouped into buckets of at most ``bucket_cap_mb``. A hook runs
when backward has accumulated a parameter's gradient; when a bucket's last gradient is in, the bucket is flattened
and its all-reduce (an average) starts asynchronously while backward goes on with the layers below. After the last
bucket has started, the results are waited for and written back into each ``.grad``.
"""

import contextlib

import autograd as ag
import autograd.distributed as dist

from ..module import Module


class _Bucket:
    def __init__(self, params):
        self.params, self.pending, self.work, self.flat = params, len(params), None, None


class DistributedDataParallel(Module):
    """Wrap ``module`` (already on this rank's device) so that backward leaves every rank the average gradient.

    ``device_ids``, ``output_device`` and ``dim`` are taken for torch's signature: one process drives one device,
    the module's. ``gradient_as_bucket_view`` is taken too, but the averages are always copied back into ``.grad``.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=25, find_unused_parameters=False, gradient_as_bucket_view=False):
        super().__init__()
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: the default process group is not initialized; call "
                               "autograd.distributed.init_process_group() first (and launch with mpirun -n N)")
        if not any(p.requires_grad for p in module.parameters()):
            raise RuntimeError("DistributedDataParallel: the module has no parameter that requires a gradient, so "
                               "there is nothing to average; run it as it is on each rank")
        self.module = module
        self.process_group = process_group
        self.find_unused_parameters = find_unused_parameters
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self._check_same_model()
        with ag.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t, 0, group=process_group)

        params = [p for p in module.parameters() if p.requires_grad]
        self._buckets, cap, current, size = [], bucket_cap_mb * 2 ** 20, [], 0
        for p in reversed(params):
            nbytes = p.array.nbytes
            if current and (size + nbytes > cap or p.dtype != current[0].dtype or p.device != current[0].device):
                self._buckets.append(_Bucket(current))
                current, size = [], 0
            current.append(p)
            size += nbytes
        if current:
            self._buckets.append(_Bucket(current))
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in params]
        self._armed = False       # a forward with grad sync on ran; its backward should reduce
        self._next = 0            # the next bucket to start: buckets start in order on every rank

    def _check_same_model(self):
        """Every rank must hold the same parameters (names, shapes, dtypes): checked before anything is broadcast."""
        mine = [(name, tuple(p.shape), str(p.dtype)) for name, p in self.module.named_parameters()]
        everyone = [None] * dist.get_world_size(self.process_group)
        dist.all_gather_object(everyone, mine, group=self.process_group)
        for rank, theirs in enumerate(everyone):
            if theirs == everyone[0]:
                continue
            for (n0, s0, d0), (n, s, d) in zip(everyone[0], theirs):
                if (n0, s0, d0) != (n, s, d):
                    raise RuntimeError(f"DistributedDataParallel: rank {rank}'s parameter {n!r} is {s} {d} but rank "
                                       f"0's {n0!r} is {s0} {d0}; every rank must build the same model")
            raise RuntimeError(f"DistributedDataParallel: rank {rank} has {len(theirs)} parameters but rank 0 has "
                               f"{len(everyone[0])}; every rank must build the same model")

    def forward(self, *inputs, **kwargs):
        if self._armed and any(b.pending < len(b.params) for b in self._buckets):
            waiting = [n for n, p in self.module.named_parameters() if p.requires_grad
                       and self._bucket_of[id(p)].work is None and p.grad is None]
            raise RuntimeError(f"DistributedDataParallel: the previous backward did not finish reducing gradients: "
                               f"parameters {waiting[:5]} got no gradient. Pass find_unused_parameters=True if parts "
                               f"of the model are not used in every step")
        if self.broadcast_buffers and self.require_backward_grad_sync:
            with ag.no_grad():
                for b in self.module.buffers():
                    dist.broadcast(b, 0, group=self.process_group)
        out = self.module(*inputs, **kwargs)
        self._armed = ag.is_grad_enabled() and self.require_backward_grad_sync
        self._next = 0
        for bucket in self._buckets:
            bucket.pending, bucket.work = len(bucket.params), None
        if self._armed and self.find_unused_parameters:
            used = _reachable_leaves(out)
            for p in [p for b in self._buckets for p in b.params]:
                if id(p) not in used:
                    self._grad_ready(p)
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, forward/backward only accumulate local gradients; the first synced backward after averages them."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _grad_ready(self, param):
        bucket = self._bucket_of.get(id(param))
        if not self._armed or bucket is None:
            return
        bucket.pending -= 1
        for started in self._buckets[:self._next]:  # MPI moves a non-blocking transfer on only when called
            started.work.is_completed()
        while self._next < len(self._buckets) and self._buckets[self._next].pending == 0:
            self._start(self._buckets[self._next])
            self._next += 1
        if self._next == len(self._buckets):
            self._finish()

    def _start(self, bucket):
        p0 = bucket.params[0]
        xp = p0._backend.xp
        parts = [xp.zeros(p.numel(), p.array.dtype) if p.grad is None else p.grad.array.reshape(-1)
                 for p in bucket.params]
        bucket.flat = ag.Tensor._make(xp.concatenate(parts), p0._backend)
        bucket.work = dist.all_reduce(bucket.flat, dist.ReduceOp.AVG, group=self.process_group, async_op=True)

    def _finish(self):
        self._armed, self._next = False, 0
        for bucket in self._buckets:
            bucket.work.wait()
            flat, offset = bucket.flat.array, 0
            for p in bucket.params:
                n = p.numel()
                values = flat[offset:offset + n].reshape(p.array.shape)
                if p.grad is None:
                    p.grad = ag.Tensor._make(values.copy(), p._backend)
                else:
                    p.grad.array[...] = values
                offset += n
            bucket.flat = bucket.work = None


def _reachable_leaves(out):
    """ids of the leaf tensors the graph of ``out`` (a tensor or a nest of them) reaches."""
    from autograd.function import AccumulateGrad
    stack, seen, leaves = [], set(), set()
    todo = [out]
    while todo:
        x = todo.pop()
        if isinstance(x, ag.Tensor):
            if x.grad_fn is not None:
                stack.append(x.grad_fn)
            elif x.requires_grad:
                leaves.add(id(x))
        elif isinstance(x, (list, tuple)):
            todo.extend(x)
        elif isinstance(x, dict):
            todo.extend(x.values())
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if type(node) is AccumulateGrad:
            leaves.add(id(node.variable))
            continue
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return leaves
