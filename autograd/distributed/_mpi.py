"""Collectives on CPU tensors over MPI (mpi4py): each starts a non-blocking request on the tensors' NumPy arrays.

MPI reduces float32/float64 and the integer types itself; float16, bfloat16 and bool travel as float32 (the sum of
the ranks' values rounded once, as a reduction in op math would) and are rounded back. Collectives that only move
data send raw bytes, so every dtype goes through them unchanged.
"""

import numpy as np

from ..dtypes import is_floating

_OPS = {"sum": "SUM", "avg": "SUM", "product": "PROD", "min": "MIN", "max": "MAX"}
_NATIVE = {np.dtype(t) for t in ("float32", "float64", "int8", "int16", "int32", "int64", "uint8")}


def world():
    from mpi4py import MPI
    return MPI.COMM_WORLD


class MPIComm:
    name = "mpi"

    def __init__(self, comm, timeout):
        from mpi4py import MPI
        self.MPI, self.comm, self.timeout = MPI, comm, timeout
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        # a communicator of its own for the barrier at exit, so it cannot match a collective the peers are in
        self.exit_comm = comm.Dup()

    def split(self, ranks):
        inside = self.rank in ranks
        comm = self.comm.Split(0 if inside else self.MPI.UNDEFINED, ranks.index(self.rank) if inside else 0)
        return MPIComm(comm, self.timeout) if inside else None

    def close(self):
        self.exit_comm.Free()
        if self.comm is not self.MPI.COMM_WORLD:
            self.comm.Free()

    def exit_barrier(self):
        """Whether every rank reached its exit within the timeout."""
        request = self.exit_comm.Ibarrier()
        try:
            self.wait(request, None)
        except RuntimeError:
            return False
        return True

    def abort(self, code):
        self.comm.Abort(code)

    def check_device(self, op, t):
        if t.device.type != "cpu":
            raise RuntimeError(f"{op}: the 'mpi' backend takes CPU tensors, got one on {t.device}; move it with "
                               f".cpu() or init_process_group(backend='nccl') for CUDA tensors")

    def wait(self, request, timeout):
        from . import _deadline_wait
        _deadline_wait(request.Test, self.timeout if timeout is None else timeout, f"rank {self.rank}: MPI request")

    def test(self, request):
        return request.Test()

    # each returns (request, finish): finish runs after the request completed, to copy results into place

    def all_gather_object(self, obj):
        return self.comm.allgather(obj)

    def barrier(self):
        return self.comm.Ibarrier(), None

    def all_reduce(self, tensor, op):
        send = _reducible(tensor.array)
        out = np.empty_like(send)
        request = self.comm.Iallreduce(send, out, getattr(self.MPI, _OPS[op.value]))
        return request, lambda: _store(tensor, _finish_reduce(out, op, self.size))

    def reduce_scatter(self, output, input, op):
        send = _reducible(input.array)
        out = np.empty(output.array.shape, send.dtype)
        request = self.comm.Ireduce_scatter_block(send, out, getattr(self.MPI, _OPS[op.value]))
        return request, lambda: _store(output, _finish_reduce(out, op, self.size))

    def broadcast(self, tensor, src):
        buf = _bytes(tensor.array)
        return self.comm.Ibcast(buf, root=src), lambda: _store(tensor, _unbytes(buf, tensor.array))

    def all_gather_into(self, output, input):
        send = _bytes(input.array)
        out = np.empty(send.size * self.size, np.uint8)
        return self.comm.Iallgather(send, out), lambda: _store(output, _unbytes(out, output.array))

    def all_gather(self, tensor_list, tensor):
        send = _bytes(tensor.array)
        out = np.empty((self.size, send.size), np.uint8)

        def finish():
            for t, part in zip(tensor_list, out):
                _store(t, _unbytes(part, t.array))
        return self.comm.Iallgather(send, out), finish

    def gather(self, tensor, gather_list, dst):
        send = _bytes(tensor.array)
        out = np.empty((self.size, send.size), np.uint8) if self.rank == dst else None

        def finish():
            for t, part in zip(gather_list or (), out if out is not None else ()):
                _store(t, _unbytes(part, t.array))
        return self.comm.Igather(send, out, root=dst), finish

    def scatter(self, tensor, scatter_list, src):
        out = np.empty(tensor.array.nbytes, np.uint8)
        send = np.stack([_bytes(t.array) for t in scatter_list]) if self.rank == src else None
        return self.comm.Iscatter(send, out, root=src), lambda: _store(tensor, _unbytes(out, tensor.array))

    def send(self, tensor, dst, tag):
        return self.comm.Isend(_bytes(tensor.array), dest=dst, tag=tag), None

    def recv(self, tensor, src, tag):
        out = np.empty(tensor.array.nbytes, np.uint8)
        source = self.MPI.ANY_SOURCE if src is None else src
        request = _Received(self.comm.Irecv(out, source=source, tag=tag), self.MPI.Status())
        return request, lambda: _store(tensor, _unbytes(out, tensor.array))


class _Received:
    """An Irecv request that remembers who sent (recv returns the sender's rank)."""

    def __init__(self, request, status):
        self.request, self.status, self.source = request, status, None

    def Test(self):
        done = self.request.Test(self.status)
        if done:
            self.source = self.status.Get_source()
        return done


def _reducible(array):
    array = np.ascontiguousarray(array)
    return array if array.dtype in _NATIVE else array.astype(np.float32)


def _finish_reduce(out, op, size):
    if op.value == "avg":
        out = out / np.asarray(size, out.dtype)
    return out


def _bytes(array):
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _unbytes(buf, like):
    return np.ascontiguousarray(buf).view(like.dtype).reshape(like.shape)


def _store(tensor, values):
    """Write a collective's result into ``tensor`` in place (a new version, as any in-place write)."""
    dtype = tensor.array.dtype
    if values.dtype != dtype and dtype == np.bool_:
        values = values != 0
    tensor.array[...] = values.astype(dtype, copy=False) if is_floating(dtype) or dtype == np.bool_ else values
    tensor._version[0] += 1
