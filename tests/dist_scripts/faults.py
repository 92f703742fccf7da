"""Run under mpiexec -n 2 with one mode: a fault on rank 1 while rank 0 waits in a collective.

raise:    rank 1 raises; exit: rank 1 calls sys.exit(3) (its barrier at exit times out); silent: rank 1 never joins (rank 0's timeout of 2 s);
forget:   no fault, but no destroy_process_group() at the end either (a warning, exit status 0);
mismatch: rank 1 builds a model with other parameter shapes than rank 0's (DDP construction must refuse).
The test checks that mpiexec returns within its timeout, non-zero, with output naming the rank.
"""

import os
import sys
import time

import autograd as ag
import autograd.distributed as dist
import nn

mode = sys.argv[1]
exiting = mode == "exit" and os.environ.get("OMPI_COMM_WORLD_RANK") == "1"
dist.init_process_group("mpi", timeout=1 if exiting else 10 if mode == "exit" else 2)  # exit: rank 1 gives up first
rank = dist.get_rank()
if mode == "mismatch":
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3 if rank == 0 else 5, 2))
    nn.parallel.DistributedDataParallel(net)
    print(f"rank {rank}: constructed", flush=True)
elif rank == 1:
    if mode == "raise":
        raise ValueError("a bug in rank 1's training step")
    if mode == "exit":
        sys.exit(3)
    if mode == "silent":
        time.sleep(30)
x = ag.ones(3)
dist.all_reduce(x)
print(f"rank {rank}: all_reduce returned {x}", flush=True)
if mode != "forget":
    dist.destroy_process_group()
