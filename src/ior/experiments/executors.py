"""Where cells run: this process, a local process pool, or an existing Ray cluster.

Every executor takes ``submit(fn, *args)`` and returns a :class:`concurrent.futures.Future`, so the
runner waits on all of them the same way. Workers only compute; the driver alone writes the store,
so results do not depend on the executor, and a cell computed twice by two executors is identical
(given the same torch thread count per cell).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import threading
import time

logger = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")


def _watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent_pid:  # the driver died (kill -9): stop instead of working for nobody
            os._exit(1)


def _init_worker(parent_pid: int) -> None:
    """Runs in each pool worker: one thread per worker unless a cell says otherwise, and exit with the driver."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="ior-parent-watch").start()
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


class InlineExecutor:
    """Runs each cell in this process when it is submitted (``--workers 0``; for debugging)."""

    name = "inline"
    slots = 1

    def submit(self, fn, *args) -> cf.Future:
        future = cf.Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # handed to the runner like any worker failure
            future.set_exception(exc)
        return future

    def shutdown(self, *, cancel: bool = False) -> None:
        pass


class LocalExecutor:
    """A pool of ``workers`` processes on this machine (spawned: no forked torch state).

    A worker exits on its own when the driver dies, so a sweep killed with SIGKILL leaves no orphan
    finishing (and writing) a cell that the restarted sweep also runs.
    """

    name = "local"

    def __init__(self, workers: int = 1):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers = workers
        self.slots = workers
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_init_worker, initargs=(os.getpid(),))

    def submit(self, fn, *args) -> cf.Future:
        return self._pool.submit(fn, *args)

    def shutdown(self, *, cancel: bool = False) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


class RayExecutor:
    """Cells as Ray tasks of ``threads`` CPUs each.

    Parameters
    ----------
    address : str, optional
        An existing cluster (``auto``, ``ray://host:10001``, ``host:6379``). None starts a local Ray
        instance for the lifetime of the sweep (as the tests do). Every node must have ``ior``
        installed and see the sweep's output folder at the same path (a shared filesystem): training
        cells write models there and audit cells read them. The store stays with the driver.
    threads : int
        CPUs reserved per task.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, threads: int = 1, workers: int | None = None):
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("--executor ray needs the 'ray' package (pip install 'ray>=2.9')") from exc
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if address is None:
                kwargs["num_cpus"] = workers or os.cpu_count() or 1
            else:
                kwargs["address"] = address
            ray.init(**kwargs)
            self._started = True
        self.threads = threads
        # A cluster's size is its own business: keep every ready cell submitted.
        self.slots = workers if address is None and workers else None
        self._remote = {}

    def submit(self, fn, *args) -> cf.Future:
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self._ray.remote(num_cpus=self.threads, max_retries=1)(fn)
        return remote.remote(*args).future()

    def shutdown(self, *, cancel: bool = False) -> None:
        if self._started:
            self._ray.shutdown()


def make_executor(name: str, *, workers: int = 1, address: str | None = None, threads: int = 1):
    """The executor called ``name`` (``local``: ``workers`` processes, 0 = this process; ``ray``)."""
    if name == "local":
        if address is not None:
            raise ValueError("--address applies to --executor ray only")
        return InlineExecutor() if workers == 0 else LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address, threads=threads, workers=workers or None)
    raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {name!r}")
