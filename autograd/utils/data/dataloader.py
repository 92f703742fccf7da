"""DataLoader: batches from a dataset, in the main process or in worker processes
(torch.utils.data.DataLoader).

With ``num_workers > 0`` the main process hands out tasks (the indices of one batch, or "your
next batch" for an IterableDataset) round-robin, ``prefetch_factor`` per worker ahead, and
yields the results in task order. Each worker has its own task queue and its own result
pipe, so the main process can wait on all the pipes and on the workers' process sentinels at
once: a batch, a worker's death or the timeout, whichever comes first, and never a hang.
"""

import dataclasses
import itertools
import multiprocessing
import os
import queue
import random
import signal
import sys
import traceback
import weakref
from multiprocessing.connection import wait
from multiprocessing.reduction import ForkingPickler

from backends import manual_seed

from ...random import numpy_generator
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

_PARENT_CHECK_INTERVAL = 1.0  # seconds an idle worker waits before checking that the main process lives
_JOIN_TIMEOUT = 2.0           # seconds a worker gets to exit by itself at shutdown before it is terminated


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: its id, the worker count, the seed
    its RNGs were given and its own copy of the dataset."""
    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info = None


def get_worker_info():
    """This worker's WorkerInfo inside a DataLoader worker process; None in the main process."""
    return _worker_info


class _Fetcher:
    """Reads one batch, or one sample without automatic batching; the same code runs in the
    main process and in the workers."""

    def __init__(self, dataset, auto_batching, batch_size, drop_last, collate_fn):
        self.dataset, self.auto_batching, self.batch_size = dataset, auto_batching, batch_size
        self.drop_last, self.collate_fn = drop_last, collate_fn
        self.iterable = isinstance(dataset, IterableDataset)
        self._stream = None

    def restart(self):
        """Start a new pass over an IterableDataset."""
        self._stream = None
        self._stream = iter(self.dataset)

    def fetch(self, index):
        """The batch for ``index`` (a list of indices, or one index without batching); for an
        IterableDataset the next batch of the stream. Raises StopIteration at the stream's end."""
        if self.iterable:
            if self.batch_size is None:
                return self.collate_fn(next(self._stream))
            samples = list(itertools.islice(self._stream, self.batch_size))
            if not samples or (self.drop_last and len(samples) < self.batch_size):
                raise StopIteration
            return self.collate_fn(samples)
        if not self.auto_batching:
            return self.collate_fn(self.dataset[index])
        if hasattr(self.dataset, "__getitems__"):
            return self.collate_fn(self.dataset.__getitems__(index))
        return self.collate_fn([self.dataset[i] for i in index])


class _Text(str):
    # KeyError's str() is the repr of its argument: this keeps the traceback readable
    def __repr__(self):
        return str(self)


class _WorkerError:
    """An exception caught in a worker, carried to the main process with its traceback text."""

    def __init__(self, where):
        exc_type = sys.exc_info()[0]
        self.exc_type = exc_type
        self.message = f"Caught {exc_type.__name__} {where}.\nOriginal {traceback.format_exc()}"

    def reraise(self):
        message = _Text(self.message) if issubclass(self.exc_type, KeyError) else self.message
        try:
            error = self.exc_type(message)
        except Exception:  # an exception type that doesn't take one message argument
            raise RuntimeError(self.message) from None
        raise error


class _Exhausted:
    """A worker's answer once its copy of an IterableDataset has no more batches this epoch."""


def _worker_loop(fetcher, tasks, results, info, worker_init_fn, parent_pid):
    global _worker_info
    _worker_info = info
    random.seed(info.seed)
    manual_seed(info.seed)  # each worker a different random stream, or all would augment alike
    where = f"in DataLoader worker process {info.id}"
    init_error = None
    try:
        if worker_init_fn is not None:
            worker_init_fn(info.id)
    except Exception:
        init_error = _WorkerError(f"in worker_init_fn of DataLoader worker process {info.id}")
    epoch = None
    try:
        while True:
            try:
                task = tasks.get(timeout=_PARENT_CHECK_INTERVAL)
            except queue.Empty:
                if os.getppid() != parent_pid:
                    return  # the main process is gone without stopping us: don't live on as an orphan
                continue
            if task is None:
                return
            task_epoch, task_id, index = task
            try:
                if init_error is not None:
                    payload = init_error
                else:
                    if fetcher.iterable and task_epoch != epoch:
                        epoch = task_epoch
                        fetcher.restart()
                    payload = fetcher.fetch(index)
            except StopIteration:
                payload = _Exhausted()
            except Exception:
                payload = _WorkerError(where)
            try:
                message = ForkingPickler.dumps((task_epoch, task_id, payload))
            except Exception:  # the batch can't be pickled: say so instead of leaving the main process waiting
                message = ForkingPickler.dumps((task_epoch, task_id, _WorkerError(f"while sending a batch {where}")))
            results.send_bytes(message)
    except (KeyboardInterrupt, OSError):
        pass  # Ctrl-C is the main process's to handle; OSError: it closed our pipe at shutdown


def _stop_workers(workers, task_queues, result_readers):
    # Closing the readers first unblocks a worker stuck sending a large batch nobody will read.
    for reader in result_readers:
        reader.close()
    for tasks in task_queues:
        try:
            tasks.put(None)
        except (OSError, ValueError):
            pass
    for worker in workers:
        worker.join(_JOIN_TIMEOUT)
        if worker.is_alive():  # stuck in user code
            worker.terminate()
            worker.join()
    for tasks in task_queues:
        tasks.cancel_join_thread()  # never let exit wait on a queue no one reads any more
        tasks.close()


class _WorkerPool:
    """``num_workers`` processes, each with a task queue in and a result pipe out."""

    def __init__(self, loader, base_seed):
        context = loader._multiprocessing_context()
        fetcher = loader._fetcher()
        self.task_queues, self.readers, self.workers = [], [], []
        self.epoch = 0
        # registered first, so it also stops the workers already started if a later start fails;
        # it runs when the pool is dropped mid-epoch and at interpreter exit too: no leaked processes
        self._stop = weakref.finalize(self, _stop_workers, self.workers, self.task_queues, self.readers)
        for worker_id in range(loader.num_workers):
            tasks = context.Queue()
            reader, writer = context.Pipe(duplex=False)
            info = WorkerInfo(worker_id, loader.num_workers, base_seed + worker_id, loader.dataset)
            worker = context.Process(target=_worker_loop, daemon=True,
                                     args=(fetcher, tasks, writer, info, loader.worker_init_fn, os.getpid()))
            worker.start()
            writer.close()  # the worker holds the writing end; its death then reads as end-of-file
            self.task_queues.append(tasks)
            self.readers.append(reader)
            self.workers.append(worker)

    @property
    def closed(self):
        return not self._stop.alive

    def shutdown(self):
        self._stop()

    def send(self, worker_id, task):
        self.task_queues[worker_id].put(task)

    def receive(self, timeout):
        """The next (epoch, task id, payload) from any worker. Raises RuntimeError when a worker
        died or, with a timeout, when nothing came within ``timeout`` seconds."""
        if self.closed:
            raise RuntimeError("DataLoader: this iterator's workers were shut down after an earlier error; "
                               "start a new epoch with iter(loader)")
        sentinels = [worker.sentinel for worker in self.workers]
        while True:
            ready = wait(self.readers + sentinels, timeout if timeout > 0 else None)
            if not ready:
                self.shutdown()
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds waiting for a batch from its "
                                   f"workers; raise timeout= (0 waits forever) or make the dataset faster")
            for worker_id, reader in enumerate(self.readers):
                if reader in ready:
                    try:
                        return reader.recv()
                    except (EOFError, OSError):
                        self.workers[worker_id].join(_JOIN_TIMEOUT)  # it died mid-send; reported below
            dead = [(i, w) for i, w in enumerate(self.workers) if not w.is_alive()]
            if dead:
                self.shutdown()
                raise RuntimeError("DataLoader " + "; ".join(_describe_death(i, w) for i, w in dead) +
                                   ". It may have run out of memory, been killed, or crashed in native code; "
                                   "run with num_workers=0 to see the failure in the main process")


def _describe_death(worker_id, worker):
    code = worker.exitcode
    how = f"exit code {code}"
    if code is not None and code < 0:
        try:
            how = f"signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"signal {-code}"
    return f"worker {worker_id} (pid {worker.pid}) exited unexpectedly with {how}"


class _LoaderIterator:
    """One epoch over a DataLoader."""

    def __init__(self, loader):
        self._loader = loader
        iterable = isinstance(loader.dataset, IterableDataset)
        self._indices = None if iterable else iter(loader._index_sampler)

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)


class _SingleProcessIterator(_LoaderIterator):
    def __init__(self, loader):
        super().__init__(loader)
        self._fetcher = loader._fetcher()
        if self._fetcher.iterable:
            self._fetcher.restart()

    def __next__(self):
        return self._fetcher.fetch(None if self._indices is None else next(self._indices))


_NO_MORE = object()


class _MultiProcessIterator(_LoaderIterator):
    def __init__(self, loader, pool):
        super().__init__(loader)
        self._pool = pool
        pool.epoch += 1
        self._epoch = pool.epoch  # results of an abandoned earlier epoch (persistent workers) are dropped
        self._active = set(range(loader.num_workers))  # workers whose stream still has data
        self._turn = itertools.cycle(range(loader.num_workers))
        self._sent = self._yielded = 0
        self._owner, self._arrived = {}, {}
        for _ in range(loader.prefetch_factor * loader.num_workers):
            self._send_task()

    def _send_task(self):
        index = None
        if self._indices is not None:
            index = next(self._indices, _NO_MORE)
            if index is _NO_MORE:
                return
        elif not self._active:
            return
        worker = next(w for w in self._turn if w in self._active)
        self._pool.send(worker, (self._epoch, self._sent, index))
        self._owner[self._sent] = worker
        self._sent += 1

    def __next__(self):
        while True:
            if self._yielded == self._sent:
                if not self._loader.persistent_workers:
                    self._pool.shutdown()
                raise StopIteration
            task = self._yielded
            while task not in self._arrived:  # results come in any order; they leave in task order
                epoch, task_id, payload = self._pool.receive(self._loader.timeout)
                if epoch == self._epoch:
                    self._arrived[task_id] = payload
            payload, worker = self._arrived.pop(task), self._owner.pop(task)
            self._yielded += 1
            if isinstance(payload, _Exhausted):
                self._active.discard(worker)
            self._send_task()
            if isinstance(payload, _WorkerError):
                payload.reraise()
            if not isinstance(payload, _Exhausted):
                return payload


class DataLoader:
    """Batches from ``dataset``, with PyTorch's arguments and their rules.

    ``batch_size=None`` turns automatic batching off (samples come one by one through
    ``default_convert``); ``num_workers > 0`` loads in worker processes. ``pin_memory`` is
    accepted and ignored: host memory here is never pinned.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if num_workers < 0:
            raise ValueError(f"DataLoader: num_workers should be non-negative, got {num_workers}; "
                             f"use num_workers=0 to load in the main process")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout should be non-negative, got {timeout}")
        if num_workers == 0:
            if prefetch_factor is not None:
                raise ValueError("DataLoader: prefetch_factor only applies to worker processes; set num_workers > 0 "
                                 "or leave prefetch_factor=None")
            if persistent_workers:
                raise ValueError("DataLoader: persistent_workers needs num_workers > 0")
            if multiprocessing_context is not None:
                raise ValueError("DataLoader: multiprocessing_context only applies to worker processes; set "
                                 "num_workers > 0 or leave it None")
        elif prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor <= 0:
            raise ValueError(f"DataLoader: prefetch_factor should be a positive integer, got {prefetch_factor}")

        if isinstance(dataset, IterableDataset):
            for name, value, unset in (("shuffle", shuffle, (None, False)), ("sampler", sampler, (None,)),
                                       ("batch_sampler", batch_sampler, (None,))):
                if value not in unset:
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, but got "
                                     f"{name}={value!r}; an IterableDataset decides its own order")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle; shuffle with a "
                             "RandomSampler as the sampler instead")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last; the batch_sampler alone decides the batches")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive "
                             "with drop_last")
        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and sampler is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self.num_workers, self.prefetch_factor = num_workers, prefetch_factor
        self.persistent_workers, self.timeout, self.worker_init_fn = persistent_workers, timeout, worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.pin_memory, self.pin_memory_device, self.in_order = pin_memory, pin_memory_device, in_order
        auto_batching = batch_sampler is not None or (batch_size is not None and isinstance(dataset, IterableDataset))
        self.collate_fn = collate_fn or (default_collate if auto_batching else default_convert)
        self._auto_batching = auto_batching
        self._pool = None  # the workers kept between epochs with persistent_workers

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def _fetcher(self):
        return _Fetcher(self.dataset, self._auto_batching, self.batch_size, self.drop_last, self.collate_fn)

    def _multiprocessing_context(self):
        context = self.multiprocessing_context
        if isinstance(context, str):
            return multiprocessing.get_context(context)
        if context is not None:
            return context
        # fork starts workers fastest and needs nothing picklable; macOS and Windows default to
        # spawn because forking there is unsafe or impossible
        return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)

    def __iter__(self):
        # drawn in every mode, so a seeded generator gives the same order with and without workers
        base_seed = int(numpy_generator(self.generator).integers(2**63 - 2**16))
        if self.num_workers == 0:
            return _SingleProcessIterator(self)
        if not self.persistent_workers:
            return _MultiProcessIterator(self, _WorkerPool(self, base_seed))
        if self._pool is None or self._pool.closed:
            self._pool = _WorkerPool(self, base_seed)
        return _MultiProcessIterator(self, self._pool)

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            length = len(self.dataset)  # TypeError when the stream has no length, as in PyTorch
            if self.batch_size is None:
                return length
            return length // self.batch_size if self.drop_last else -(-length // self.batch_size)
        return len(self._index_sampler)
