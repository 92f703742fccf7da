"""Process groups and collectives, as in ``torch.distributed``: MPI (mpi4py) for CPU tensors, NCCL (CuPy) for CUDA.

Launch one process per rank with ``mpirun -n N python script.py``; rank and world size come from the launcher.
Every collective is started as a request and waited for with a deadline (``timeout=`` of init_process_group), so a
peer that died makes the others fail instead of hang; a rank that raises or exits after init aborts the whole job
with a message naming it.
"""

import atexit
import datetime
import enum
import sys
import time

from ..dtypes import is_floating

__all__ = ["ReduceOp", "ProcessGroup", "Work", "init_process_group", "destroy_process_group", "is_initialized",
           "is_available", "get_rank", "get_world_size", "get_backend", "new_group", "barrier", "all_reduce",
           "broadcast", "all_gather", "all_gather_into_tensor", "reduce_scatter_tensor", "gather", "scatter", "send",
           "recv", "isend", "irecv", "all_gather_object"]


class ReduceOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


class ProcessGroup:
    """A set of ranks and the communicator they talk over (``backend``: ``_mpi.MPIComm`` or ``_nccl.NCCLComm``)."""

    def __init__(self, backend, ranks):
        self.backend, self.ranks = backend, ranks

    def rank(self):
        return self.backend.rank

    def size(self):
        return self.backend.size

    def __repr__(self):
        return f"ProcessGroup(backend={self.backend.name!r}, ranks={self.ranks})"


class Work:
    """What an ``async_op=True`` collective returns: ``wait()`` blocks (up to the group's timeout) until it is done."""

    def __init__(self, op, wait, test, finish=None):
        self._op, self._wait, self._test, self._finish, self._done = op, wait, test, finish, False

    def wait(self, timeout=None):
        if not self._done:
            self._wait(self._op, timeout)
            if self._finish is not None:
                self._finish()
            self._done = True
        return True

    def is_completed(self):
        """Whether it has finished (without blocking; polling also lets MPI move the transfer along)."""
        return self._done or self._test(self._op)


_WORLD = None
_TIMEOUT = 60.0


def is_available():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_initialized():
    return _WORLD is not None


def init_process_group(backend="mpi", init_method=None, world_size=-1, rank=-1, timeout=None, group_name=""):
    """Join the job started by ``mpirun``; ``backend="nccl"`` talks over NCCL (its unique id sent over MPI)."""
    global _WORLD, _TIMEOUT
    if _WORLD is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized; call "
                           "destroy_process_group() first")
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"init_process_group: backend {backend!r} is not supported; use 'mpi' (CPU tensors) or "
                         f"'nccl' (CUDA tensors)")
    from . import _mpi
    _TIMEOUT = _seconds(timeout) if timeout is not None else 60.0
    comm = _mpi.MPIComm(_mpi.world(), _TIMEOUT)
    for what, given, actual in (("world_size", world_size, comm.size), ("rank", rank, comm.rank)):
        if given not in (-1, None) and given != actual:
            raise ValueError(f"init_process_group: {what}={given} but the MPI launcher started this process with "
                             f"{what} {actual}; leave {what} out (it comes from mpirun)")
    if backend == "nccl":
        from . import _nccl
        comm = _nccl.NCCLComm(comm)
    _WORLD = ProcessGroup(comm, list(range(comm.size)))
    _install_fault_handlers(comm.rank)


def destroy_process_group(group=None):
    global _WORLD
    if group is None or group is _WORLD:
        if _WORLD is not None:
            _WORLD.backend.close()
        _WORLD = None


def get_rank(group=None):
    return _group(group, "get_rank").backend.rank


def get_world_size(group=None):
    return _group(group, "get_world_size").backend.size


def get_backend(group=None):
    return _group(group, "get_backend").backend.name


def new_group(ranks=None, timeout=None, backend=None):
    """A group of ``ranks`` (all by default). Every process must call it, also those not in ``ranks``."""
    world = _group(None, "new_group")
    ranks = sorted(set(range(world.backend.size) if ranks is None else ranks))
    if any(not 0 <= r < world.backend.size for r in ranks):
        raise ValueError(f"new_group: ranks {ranks} must lie in [0, {world.backend.size})")
    comm = world.backend.split(ranks)
    return ProcessGroup(comm, ranks) if comm is not None else None


# ---- collectives: each checks its tensors, starts a request on the group's backend and waits unless async_op ----

def barrier(group=None, async_op=False, device_ids=None):
    g = _group(group, "barrier")
    return _run(g, *g.backend.barrier(), async_op)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    g = _group(group, "all_reduce")
    _check(g, "all_reduce", tensor)
    op = _reduce_op("all_reduce", op, tensor)
    return _run(g, *g.backend.all_reduce(tensor, op), async_op)


def broadcast(tensor, src=0, group=None, async_op=False):
    g = _group(group, "broadcast")
    _check(g, "broadcast", tensor)
    return _run(g, *g.backend.broadcast(tensor, _local(g, src, "broadcast", "src")), async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    g = _group(group, "all_gather")
    _check(g, "all_gather", tensor, *tensor_list)
    _check_list(g, "all_gather", "tensor_list", tensor_list, tensor)
    return _run(g, *g.backend.all_gather(tensor_list, tensor), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    g = _group(group, "all_gather_into_tensor")
    _check(g, "all_gather_into_tensor", input_tensor, output_tensor)
    _check_stacked(g, "all_gather_into_tensor", output_tensor, input_tensor)
    return _run(g, *g.backend.all_gather_into(output_tensor, input_tensor), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    g = _group(group, "reduce_scatter_tensor")
    _check(g, "reduce_scatter_tensor", input, output)
    _check_stacked(g, "reduce_scatter_tensor", input, output)
    op = _reduce_op("reduce_scatter_tensor", op, input)
    return _run(g, *g.backend.reduce_scatter(output, input, op), async_op)


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    g = _group(group, "gather")
    dst = _local(g, dst, "gather", "dst")
    _check(g, "gather", tensor, *(gather_list or ()))
    if g.backend.rank == dst:
        _check_list(g, "gather", "gather_list", gather_list, tensor)
    elif gather_list:
        raise ValueError(f"gather: gather_list must be empty on ranks other than dst={dst} (this is rank "
                         f"{g.backend.rank})")
    return _run(g, *g.backend.gather(tensor, gather_list, dst), async_op)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    g = _group(group, "scatter")
    src = _local(g, src, "scatter", "src")
    _check(g, "scatter", tensor, *(scatter_list or ()))
    if g.backend.rank == src:
        _check_list(g, "scatter", "scatter_list", scatter_list, tensor)
    elif scatter_list:
        raise ValueError(f"scatter: scatter_list must be empty on ranks other than src={src} (this is rank "
                         f"{g.backend.rank})")
    return _run(g, *g.backend.scatter(tensor, scatter_list, src), async_op)


def all_gather_object(object_list, obj, group=None):
    """Fill ``object_list`` (one slot per rank) with every rank's picklable ``obj``."""
    g = _group(group, "all_gather_object")
    if len(object_list) != g.backend.size:
        raise ValueError(f"all_gather_object: object_list must have one slot per rank ({g.backend.size}), got "
                         f"{len(object_list)}")
    object_list[:] = g.backend.all_gather_object(obj)


def isend(tensor, dst, group=None, tag=0):
    g = _group(group, "isend")
    _check(g, "send", tensor)
    dst = _local(g, dst, "send", "dst")
    if dst == g.backend.rank:
        raise ValueError(f"send: dst={dst} is this process's own rank; send to another rank")
    return _run(g, *g.backend.send(tensor, dst, tag), True)


def irecv(tensor, src=None, group=None, tag=0):
    g = _group(group, "irecv")
    _check(g, "recv", tensor)
    src = None if src is None else _local(g, src, "recv", "src")
    return _run(g, *g.backend.recv(tensor, src, tag), True)


def send(tensor, dst, group=None, tag=0):
    isend(tensor, dst, group, tag).wait()


def recv(tensor, src=None, group=None, tag=0):
    """Receive into ``tensor``; returns the sender's rank (``src=None``: from whichever rank sends first)."""
    g = _group(group, "recv")
    work = irecv(tensor, src, group, tag)
    work.wait()
    return g.ranks[work._op.source]


# ---- shared checks ----

def _group(group, op):
    if _WORLD is None:
        raise RuntimeError(f"{op}: the default process group is not initialized; call "
                           f"autograd.distributed.init_process_group() first (and launch with mpirun -n N)")
    if group is not None and not isinstance(group, ProcessGroup):
        raise TypeError(f"{op}: group must be a ProcessGroup from new_group(), got {type(group).__name__} "
                        f"(this rank may not belong to the group: new_group returns None there)")
    return _WORLD if group is None else group


def _run(group, op, finish, async_op):
    """Wrap a started request (and what to do once it is done) in a Work; wait for it unless ``async_op``."""
    work = Work(op, group.backend.wait, group.backend.test, finish)
    if async_op:
        return work
    work.wait()
    return None


def _check(group, op, *tensors):
    from ..tensor import Tensor
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected Tensors, got {type(t).__name__}")
        group.backend.check_device(op, t)
    if tensors and any(t.dtype != tensors[0].dtype for t in tensors):
        raise TypeError(f"{op}: all tensors must have one dtype, got "
                        f"{sorted({str(t.dtype) for t in tensors})}")


def _check_list(group, op, name, tensors, like):
    n = group.backend.size
    if tensors is None or len(tensors) != n:
        raise ValueError(f"{op}: {name} must hold one tensor per rank ({n}), got "
                         f"{0 if tensors is None else len(tensors)}")
    for t in tensors:
        if tuple(t.shape) != tuple(like.shape):
            raise ValueError(f"{op}: every tensor in {name} must have the shape {tuple(like.shape)} of the "
                             f"input, got {tuple(t.shape)}")


def _check_stacked(group, op, big, small):
    n = group.backend.size
    want = (small.shape[0] * n, *small.shape[1:]) if small.dim() else (n,)
    if tuple(big.shape) != tuple(want) and big.numel() != small.numel() * n:
        raise ValueError(f"{op}: the larger tensor must hold world_size ({n}) times the smaller one along dim 0: "
                         f"got {tuple(big.shape)} and {tuple(small.shape)}; expected {want}")


def _reduce_op(op, reduce, tensor):
    if not isinstance(reduce, ReduceOp):
        raise TypeError(f"{op}: op must be a ReduceOp (SUM, AVG, PRODUCT, MIN, MAX), got {reduce!r}")
    if reduce is ReduceOp.AVG and not is_floating(tensor.dtype):
        raise TypeError(f"{op}: ReduceOp.AVG needs a floating tensor, got {tensor.dtype}; reduce with SUM and "
                        f"divide")
    return reduce


def _local(group, rank, op, name):
    if rank not in group.ranks:
        raise ValueError(f"{op}: {name}={rank} is not in the group's ranks {group.ranks}")
    return group.ranks.index(rank)


def _seconds(timeout):
    return timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else float(timeout)


def _deadline_wait(test, timeout, what):
    """Poll ``test()`` until it is true or ``timeout`` seconds have passed (then raise, naming ``what``)."""
    deadline = time.monotonic() + (_TIMEOUT if timeout is None else _seconds(timeout))
    pause = 1e-6
    while not test():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not complete within the timeout; a peer rank may have failed or "
                               f"not reached the same collective (every rank must call collectives in one order)")
        time.sleep(pause)
        pause = min(pause * 2, 1e-3)


# ---- faults: a rank that raises or exits while the group is up takes the job down, saying which rank ----

_hooks_installed = False


def _install_fault_handlers(rank):
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    previous = sys.excepthook

    def abort_on_exception(kind, value, tb):
        previous(kind, value, tb)
        if _WORLD is not None:
            sys.stderr.write(f"autograd.distributed: rank {_WORLD.backend.rank} raised {kind.__name__}: {value}; "
                             f"aborting the job\n")
            sys.stderr.flush()
            _WORLD.backend.abort(1)

    sys.excepthook = abort_on_exception
    atexit.register(_abort_if_left_open)


def _abort_if_left_open():
    """At exit with the group still up: if every rank got here, the script only left out destroy_process_group();
    if the others do not come within the timeout, they are waiting for this rank, so the job is aborted."""
    if _WORLD is None:
        return
    rank = _WORLD.backend.rank
    if _WORLD.backend.exit_barrier():
        sys.stderr.write(f"autograd.distributed: rank {rank} exited without destroy_process_group(); call it at the "
                         f"end of the script\n")
        destroy_process_group()
        return
    sys.stderr.write(f"autograd.distributed: rank {rank} exited while its peers had not (without "
                     f"destroy_process_group()); aborting the job so they do not wait for it\n")
    sys.stderr.flush()
    _WORLD.backend.abort(1)
