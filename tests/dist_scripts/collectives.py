"""Run under mpiexec -n 2: every collective against the same computation done locally from all ranks' inputs.

Each rank can make every rank's input (seeded by rank), so the expected result is computed here with NumPy.
Prints "collectives ok N" on success; any mismatch raises (and the fault handler aborts the job, naming the rank).
"""

import numpy as np

import autograd as ag
import autograd.distributed as dist

dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool"]
checks = 0


def data(r, dtype, shape=(3, 4), salt=0):
    rng = np.random.default_rng([r, salt, DTYPES.index(dtype)])
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if "int" in dtype:
        return rng.integers(1, 5, shape).astype(dtype)
    return rng.uniform(-2, 2, shape).astype(np.float32)  # rounded to dtype by ag.tensor


def t(r, dtype, **kw):
    return ag.tensor(data(r, dtype, **kw), dtype=dtype)


def same(got, want, dtype, what):
    global checks
    got = np.asarray(got.numpy(), np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (what, dtype, got.shape, want.shape)
    assert np.array_equal(got, want) or np.allclose(got, want, rtol=1e-6, atol=0), (what, dtype, got, want)
    checks += 1


def local_reduce(arrays, op, dtype):
    """The reference: reduce all ranks' values in float64 (float32 for low precision), round once to dtype."""
    a = np.stack([np.asarray(x.numpy(), np.float64) for x in arrays])
    if dtype == "bool":
        out = {"sum": a.any(0), "product": a.all(0), "max": a.max(0), "min": a.min(0)}[op]
        return out
    out = {"sum": a.sum(0), "avg": a.sum(0), "product": a.prod(0), "max": a.max(0), "min": a.min(0)}[op]
    if op == "avg":
        out = out / size
    if dtype in ("float16", "bfloat16"):
        out = out.astype(np.float32)  # MPI reduces these as float32, then rounds once
    if dtype.startswith(("int", "uint")):
        out = out.astype(dtype)       # the integer sum wraps as it would in the dtype
    return ag.tensor(out, dtype=dtype).numpy()


for dtype in DTYPES:
    inputs = [t(r, dtype) for r in range(size)]
    for op in dist.ReduceOp:
        if op is dist.ReduceOp.AVG and dtype in ("bool", "int8", "uint8", "int32", "int64"):
            continue
        x = t(rank, dtype)
        dist.all_reduce(x, op)
        same(x, local_reduce(inputs, op.value, dtype), dtype, f"all_reduce {op}")
        # async + wait, and reduce_scatter_tensor (rank r keeps chunk r of the reduction along dim 0)
        y = t(rank, dtype, shape=(size * 2, 3), salt=1)
        out = ag.zeros(2, 3, dtype=dtype)
        work = dist.reduce_scatter_tensor(out, y, op, async_op=True)
        work.wait()
        full = local_reduce([t(r, dtype, shape=(size * 2, 3), salt=1) for r in range(size)], op.value, dtype)
        same(out, full[rank * 2:rank * 2 + 2], dtype, f"reduce_scatter_tensor {op}")

    for src in range(size):
        x = t(rank, dtype)
        dist.broadcast(x, src=src)
        same(x, inputs[src].numpy(), dtype, "broadcast")

    outs = [ag.zeros(3, 4, dtype=dtype) for _ in range(size)]
    dist.all_gather(outs, t(rank, dtype))
    for r in range(size):
        same(outs[r], inputs[r].numpy(), dtype, "all_gather")

    big = ag.zeros(size * 3, 4, dtype=dtype)
    dist.all_gather_into_tensor(big, t(rank, dtype))
    same(big, np.concatenate([x.numpy() for x in inputs]), dtype, "all_gather_into_tensor")

    dst = size - 1
    gl = [ag.zeros(3, 4, dtype=dtype) for _ in range(size)] if rank == dst else None
    dist.gather(t(rank, dtype), gl, dst=dst)
    if rank == dst:
        for r in range(size):
            same(gl[r], inputs[r].numpy(), dtype, "gather")

    src = 0
    chunks = [t(100 + r, dtype) for r in range(size)]  # what the source hands out
    got = ag.zeros(3, 4, dtype=dtype)
    dist.scatter(got, chunks if rank == src else None, src=src)
    same(got, chunks[rank].numpy(), dtype, "scatter")

    # send/recv in a ring: each rank sends to the next and receives from the previous
    nxt, prev = (rank + 1) % size, (rank - 1) % size
    box = ag.zeros(3, 4, dtype=dtype)
    work = dist.isend(t(rank, dtype), nxt)
    sender = dist.recv(box, src=None)
    work.wait()
    assert sender == prev, (sender, prev)
    same(box, inputs[prev].numpy(), dtype, "send/recv")

# a 0-d tensor and a barrier, sync and async
x = ag.tensor(float(rank + 1))
dist.all_reduce(x)
same(x, np.float64(sum(range(1, size + 1))), "float32", "all_reduce 0-d")
dist.barrier()
dist.barrier(async_op=True).wait()

# a group of rank 0 alone: collectives in it see one rank
g = dist.new_group([0])
if rank == 0:
    x = ag.tensor([1.0, 2.0])
    dist.all_reduce(x, group=g)
    same(x, np.array([1.0, 2.0]), "float32", "new_group all_reduce")
else:
    assert g is None

# refusals name the op and the fix
for call, words in [(lambda: dist.all_reduce(ag.tensor([1, 2]), dist.ReduceOp.AVG), "AVG needs a floating"),
                    (lambda: dist.all_gather([ag.zeros(2)], ag.zeros(2)), "one tensor per rank"),
                    (lambda: dist.all_gather_into_tensor(ag.zeros(3), ag.zeros(2)), "world_size"),
                    (lambda: dist.broadcast(ag.zeros(2), src=size), "not in the group")]:
    try:
        call()
    except (ValueError, TypeError) as e:
        assert words in str(e), (words, str(e))
        checks += 1
    else:
        raise AssertionError(f"no error: {words}")

dist.destroy_process_group()
print(f"rank {rank}: collectives ok {checks}", flush=True)
