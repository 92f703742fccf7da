"""One rank of the distributed benchmark (launched by benchmarks/distributed.py under mpiexec -n N):

    python -m benchmarks.distributed            # 1 and 2 ranks, results in benchmarks/results/cpu_distributed.*

An MLP of 11 MB (784-1024-1024-1024-10), batch 64 per rank, SGD. Times a synced DDP step, the same step under
no_sync (no communication) and one blocking all-reduce of all the gradients: what the synced step costs beyond
no_sync is the exposed communication; the rest of the all-reduce's time was hidden behind backward by the
buckets. Best of 3 blocks of 15 steps; rank 0 prints one JSON line.
"""

import json
import sys
import time

import numpy as np

import autograd as ag
import autograd.distributed as dist
import nn
import nn.functional as F
import optim

BATCH = 64

dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
ag.manual_seed(0)
net = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024),
                    nn.ReLU(), nn.Linear(1024, 10))
cap = float(sys.argv[1]) if len(sys.argv) > 1 else 25
ddp = nn.parallel.DistributedDataParallel(net, bucket_cap_mb=cap)
opt = optim.SGD(ddp.parameters(), lr=0.01)
rng = np.random.default_rng(rank)
x, y = ag.tensor(rng.standard_normal((BATCH, 784)).astype(np.float32)), ag.tensor(rng.integers(0, 10, BATCH))


def step(sync):
    opt.zero_grad()
    if sync:
        F.cross_entropy(ddp(x), y).backward()
    else:
        with ddp.no_sync():
            F.cross_entropy(ddp(x), y).backward()
    opt.step()


def best_of_3(f, n=15):
    f()
    dist.barrier()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            f()
        dist.barrier()
        times.append((time.perf_counter() - start) / n)
    return min(times)


synced, local = best_of_3(lambda: step(True)), best_of_3(lambda: step(False))
flat = ag.zeros(sum(p.numel() for p in net.parameters()))
comm = best_of_3(lambda: dist.all_reduce(flat, dist.ReduceOp.AVG))
if rank == 0:
    exposed = max(synced - local, 0.0)
    print(json.dumps({"ranks": size, "buckets": len(ddp._buckets), "bucket_cap_mb": cap,
                      "model_mb": flat.numel() * 4 / 2 ** 20, "step_s": synced, "no_sync_step_s": local,
                      "all_reduce_s": comm, "exposed_s": exposed,
                      "hidden_share": max(0.0, 1 - exposed / comm) if comm > 0 and size > 1 else None,
                      "samples_per_s": BATCH * size / synced}))
dist.destroy_process_group()
