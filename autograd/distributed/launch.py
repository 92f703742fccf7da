"""Ranks on this machine only: ``mpiexec -n N python ...`` with loopback and shared-memory transport, so nothing
listens beyond 127.0.0.1 (what the tests and benchmarks use; on several machines call mpirun yourself)."""

import os
import shutil
import subprocess
import sys

# Open MPI as root (containers), N ranks on fewer cores, TCP only on the loopback interface, one BLAS/OpenMP thread
# per rank (each rank's BLAS spinning on every core starves the other ranks)
LOCAL_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
             "OMPI_MCA_btl": "self,vader,tcp", "OMPI_MCA_btl_tcp_if_include": "lo", "OMPI_MCA_oob_tcp_if_include": "lo",
             "OMPI_MCA_rmaps_base_oversubscribe": "1", "PRTE_MCA_rmaps_default_mapping_policy": ":oversubscribe",
             "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def mpiexec():
    """The launcher's path, or a clear error naming the extra that brings it."""
    path = shutil.which("mpiexec")
    if path is None:
        raise RuntimeError("distributed: no mpiexec on PATH; pip install 'ndgrad[distributed]' (mpi4py and the Open "
                           "MPI wheel, which brings mpiexec)")
    return path


def local(n, argv, root, timeout=None):
    """Run ``python *argv`` on ``n`` ranks of this machine from folder ``root`` (which goes on PYTHONPATH);
    returns the CompletedProcess (stdout and stderr as text). ``timeout`` bounds the whole run."""
    env = dict(os.environ, **LOCAL_ENV, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([mpiexec(), "-n", str(n), "--oversubscribe", sys.executable, *map(str, argv)], cwd=root,
                          env=env, capture_output=True, text=True, errors="replace", timeout=timeout)
