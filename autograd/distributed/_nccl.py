"""Collectives on CUDA tensors over NCCL (``cupy.cuda.nccl``): rank 0's unique id is broadcast over MPI, then every
call is enqueued on the current CUDA stream and a Work waits on an event recorded after it.

gather and scatter are point-to-point sends and receives inside one NCCL group call, as NCCL has no gather.
"""

_DTYPES = {"float16": "NCCL_FLOAT16", "bfloat16": "NCCL_BFLOAT16", "float32": "NCCL_FLOAT32",
           "float64": "NCCL_FLOAT64", "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32",
           "int64": "NCCL_INT64", "bool": "NCCL_UINT8"}
_OPS = {"sum": "NCCL_SUM", "avg": "NCCL_AVG", "product": "NCCL_PROD", "min": "NCCL_MIN", "max": "NCCL_MAX"}


def _nccl():
    from cupy.cuda import nccl
    if not getattr(nccl, "available", True) or not hasattr(nccl, "NcclCommunicator"):
        raise RuntimeError("init_process_group(backend='nccl'): CuPy cannot load NCCL here; install it with "
                           "pip install 'nvidia-nccl-cu12>=2.18.1,<3', or use backend='mpi' with CPU tensors")
    return nccl


class NCCLComm:
    name = "nccl"

    def __init__(self, mpi_comm, nccl=None):
        self.mpi, self.nccl = mpi_comm, nccl or _nccl()
        self.rank, self.size, self.timeout = mpi_comm.rank, mpi_comm.size, mpi_comm.timeout
        uid = self.nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi_comm.comm.bcast(uid, root=0)
        self.comm = self.nccl.NcclCommunicator(self.size, uid, self.rank)

    def split(self, ranks):
        mpi = self.mpi.split(ranks)
        return NCCLComm(mpi, self.nccl) if mpi is not None else None

    def close(self):
        self.comm.destroy()
        self.mpi.close()

    def exit_barrier(self):
        return self.mpi.exit_barrier()

    def abort(self, code):
        self.comm.abort()
        self.mpi.abort(code)

    def check_device(self, op, t):
        if t.device.type != "cuda":
            raise RuntimeError(f"{op}: the 'nccl' backend takes CUDA tensors, got one on {t.device}; move it with "
                               f".to('cuda:{{local_rank}}') or use init_process_group(backend='mpi') for CPU tensors")

    def wait(self, enqueued, timeout):
        from . import _deadline_wait
        _deadline_wait(lambda: enqueued.event.done, self.timeout if timeout is None else timeout,
                       f"rank {self.rank}: NCCL call")

    def test(self, enqueued):
        return enqueued.event.done

    def _enqueued(self, finish=None, source=None):
        return _Enqueued(source), finish

    def _stream(self):
        import cupy
        return cupy.cuda.get_current_stream().ptr

    def _type(self, array):
        return getattr(self.nccl, _DTYPES[str(array.dtype)])

    def barrier(self):  # an all-reduce of one byte, as torch's NCCL barrier does
        import cupy
        one = cupy.zeros(1, cupy.uint8)
        self.comm.allReduce(one.data.ptr, one.data.ptr, 1, self.nccl.NCCL_UINT8, self.nccl.NCCL_SUM, self._stream())
        return self._enqueued()

    def all_reduce(self, tensor, op):
        a = _contiguous(tensor)
        self.comm.allReduce(a.data.ptr, a.data.ptr, a.size, self._type(a), getattr(self.nccl, _OPS[op.value]),
                            self._stream())
        return self._enqueued(lambda: _store(tensor, a))

    def reduce_scatter(self, output, input, op):
        a, out = _contiguous(input), _contiguous(output)
        self.comm.reduceScatter(a.data.ptr, out.data.ptr, out.size, self._type(a),
                                getattr(self.nccl, _OPS[op.value]), self._stream())
        return self._enqueued(lambda: _store(output, out))

    def broadcast(self, tensor, src):
        a = _contiguous(tensor)
        self.comm.broadcast(a.data.ptr, a.data.ptr, a.size, self._type(a), src, self._stream())
        return self._enqueued(lambda: _store(tensor, a))

    def all_gather_into(self, output, input):
        a, out = _contiguous(input), _contiguous(output)
        self.comm.allGather(a.data.ptr, out.data.ptr, a.size, self._type(a), self._stream())
        return self._enqueued(lambda: _store(output, out))

    def all_gather(self, tensor_list, tensor):
        import cupy
        a = _contiguous(tensor)
        out = cupy.empty((self.size,) + a.shape, a.dtype)
        self.comm.allGather(a.data.ptr, out.data.ptr, a.size, self._type(a), self._stream())

        def finish():
            for t, part in zip(tensor_list, out):
                _store(t, part)
        return self._enqueued(finish)

    def gather(self, tensor, gather_list, dst):
        a = _contiguous(tensor)
        outs = [_contiguous(t) for t in gather_list] if self.rank == dst else []
        self.nccl.groupStart()
        if self.rank == dst:
            for peer, out in enumerate(outs):
                if peer == dst:
                    out[...] = a
                else:
                    self.comm.recv(out.data.ptr, out.size, self._type(out), peer, self._stream())
        else:
            self.comm.send(a.data.ptr, a.size, self._type(a), dst, self._stream())
        self.nccl.groupEnd()
        return self._enqueued(lambda: [_store(t, o) for t, o in zip(gather_list or (), outs)])

    def scatter(self, tensor, scatter_list, src):
        out = _contiguous(tensor)
        self.nccl.groupStart()
        if self.rank == src:
            for peer, t in enumerate(scatter_list):
                a = _contiguous(t)
                if peer == src:
                    out[...] = a
                else:
                    self.comm.send(a.data.ptr, a.size, self._type(a), peer, self._stream())
        else:
            self.comm.recv(out.data.ptr, out.size, self._type(out), src, self._stream())
        self.nccl.groupEnd()
        return self._enqueued(lambda: _store(tensor, out))

    def send(self, tensor, dst, tag):
        a = _contiguous(tensor)
        self.comm.send(a.data.ptr, a.size, self._type(a), dst, self._stream())
        return self._enqueued()

    def recv(self, tensor, src, tag):
        if src is None:
            raise ValueError("recv: the 'nccl' backend needs src (NCCL cannot receive from any rank)")
        out = _contiguous(tensor)
        self.comm.recv(out.data.ptr, out.size, self._type(out), src, self._stream())
        return self._enqueued(lambda: _store(tensor, out), source=src)

    def all_gather_object(self, obj):
        return self.mpi.all_gather_object(obj)


class _Enqueued:
    """Work enqueued on the current stream: done when an event recorded after it has passed."""

    def __init__(self, source=None):
        import cupy
        self.event, self.source = cupy.cuda.Event(), source
        self.event.record()


def _contiguous(tensor):
    import cupy
    return cupy.ascontiguousarray(tensor.array)


def _store(tensor, values):
    if values is not tensor.array:
        tensor.array[...] = values.reshape(tensor.array.shape)
    tensor._version[0] += 1
