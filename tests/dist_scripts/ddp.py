"""Run under mpiexec -n 2: DDP on 2 ranks x batch 32 against one local model on the whole batch of 64, step by step.

Every rank builds its replica from a different seed (construction must broadcast rank 0's), and keeps a plain copy
of the broadcast model that it trains on the global batch; after every optimizer step both must agree.
Prints "ddp ok N" on success.
"""

import copy

import numpy as np

import autograd as ag
import autograd.distributed as dist
import nn
import nn.functional as F
import optim

dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
checks = 0


def model(seed):
    ag.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.BatchNorm1d(32),
                         nn.Linear(32, 4))


def close(a, b, what):
    global checks
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=2e-5, atol=2e-6, err_msg=what)
    checks += 1


def run(make_opt, accumulate, bucket_cap_mb, steps=4):
    net = model(seed=1000 + rank)
    ddp = nn.parallel.DistributedDataParallel(net, bucket_cap_mb=bucket_cap_mb)
    ref = copy.deepcopy(net)
    everyone = [None] * size
    dist.all_gather_object(everyone, [p.detach().numpy() for p in net.parameters()])
    for theirs in everyone:  # construction broadcast rank 0's parameters
        for a, b in zip(theirs, everyone[0]):
            np.testing.assert_array_equal(a, b)
    opt, ref_opt = make_opt(ddp.parameters()), make_opt(ref.parameters())
    rng = np.random.default_rng(7)  # the same global batches on every rank
    for step in range(steps):
        x = ag.tensor(rng.standard_normal((64, 8)).astype(np.float32))
        y = ag.tensor(rng.standard_normal((64, 4)).astype(np.float32))
        opt.zero_grad()
        ref_opt.zero_grad()
        micro = [(x, y)] if not accumulate else [(x[:32], y[:32]), (x[32:], y[32:])]
        for i, (xm, ym) in enumerate(micro):
            n = xm.shape[0] // size  # this rank's share of the micro-batch
            mine = slice(rank * n, rank * n + n)
            last = i == len(micro) - 1
            with (ddp.no_sync() if not last else _nothing()):
                F.mse_loss(ddp(xm[mine]), ym[mine]).backward()
            # the reference: BatchNorm sees each rank's share apart, as the replicas do; the loss is their mean
            ref_loss = sum(F.mse_loss(ref(xm[r * n:r * n + n]), ym[r * n:r * n + n]) for r in range(size)) / size
            ref_loss.backward()
        opt.step()
        ref_opt.step()
        for (name, p), q in zip(ddp.module.named_parameters(), ref.parameters()):
            close(p, q, f"{make_opt.__name__} accumulate={accumulate} step {step} {name}")
    return ddp


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def sgd(params):
    return optim.SGD(params, lr=0.1, momentum=0.9)


def adam(params):
    return optim.Adam(params, lr=1e-2)


for make_opt in (sgd, adam):
    for accumulate in (False, True):
        ddp = run(make_opt, accumulate, bucket_cap_mb=0.002)  # ~2 KB buckets: the model's gradients fill several
        assert len(ddp._buckets) >= 3, len(ddp._buckets)
# the buckets' all-reduces start during backward, as they fill: when the first starts, the first layers' gradients
# are not in yet
net = model(seed=5)
ddp = nn.parallel.DistributedDataParallel(net, bucket_cap_mb=0.002)
missing_at_start, all_reduce = [], dist.all_reduce


def recording_all_reduce(tensor, *args, **kwargs):
    missing_at_start.append(sum(p.grad is None for p in net.parameters()))
    return all_reduce(tensor, *args, **kwargs)


dist.all_reduce = recording_all_reduce
F.mse_loss(ddp(ag.ones(4, 8)), ag.zeros(4, 4)).backward()
dist.all_reduce = all_reduce
assert len(missing_at_start) == len(ddp._buckets) >= 3 and missing_at_start[0] > 0, missing_at_start
assert missing_at_start == sorted(missing_at_start, reverse=True) and missing_at_start[-1] == 0, missing_at_start
checks += 1

ddp = run(sgd, False, bucket_cap_mb=25, steps=2)          # one bucket
assert len(ddp._buckets) == 1

# state_dict keys are the module's, prefixed with "module." as in torch
keys = list(ddp.state_dict())
assert keys and all(k.startswith("module.") for k in keys), keys
assert [k[len("module."):] for k in keys] == list(ddp.module.state_dict()), keys


# a parameter unused in forward: find_unused_parameters=True still averages the rest; without it the next forward
# says what went wrong
class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, x):
        return self.a(x)


for find_unused in (True, False):
    ag.manual_seed(3)
    ddp = nn.parallel.DistributedDataParallel(TwoHeads(), find_unused_parameters=find_unused)
    x = ag.tensor(np.full((2, 4), rank + 1.0, np.float32))
    ddp(x).sum().backward()
    if find_unused:
        want = [np.full((2, 4), 2 * sum(range(1, size + 1)) / size, np.float32)]  # d sum(xW^T)/dW: 2 rows of x
        close(ddp.module.a.weight.grad, ag.tensor(want[0]), "find_unused_parameters a.weight.grad")
    else:
        try:
            ddp(x)
        except RuntimeError as e:
            assert "find_unused_parameters=True" in str(e), str(e)
            checks += 1
        else:
            raise AssertionError("an unused parameter without find_unused_parameters went unnoticed")

try:
    nn.parallel.DistributedDataParallel(nn.ReLU())
except RuntimeError as e:
    assert "no parameter that requires a gradient" in str(e), str(e)
    checks += 1
else:
    raise AssertionError("DDP of a module without parameters was accepted")

dist.destroy_process_group()
print(f"rank {rank}: ddp ok {checks}", flush=True)
