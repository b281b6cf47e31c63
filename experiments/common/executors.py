"""Where the items of a :class:`~experiments.common.plan.Plan` execute: in this process one after another,
in a local pool of worker processes, or as tasks on a Ray cluster.

An executor's ``map(execute, jobs, started=None)`` runs ``execute(item, dest)`` for every
``(index, item, dest)`` of ``jobs`` and yields ``(index, record, seconds)`` as each one finishes (in
completion order; ``seconds`` is measured where it ran). It never writes anything: the plan saves each
record atomically in the calling process as it arrives, so one process writes every result file whatever
runs the items, and a result file exists only for an item that finished.

Failure rule (the same for every executor): the first exception stops the plan — no new item starts, the
items already running finish and are yielded (so they are saved), then the exception is raised. Running the
plan again skips what was saved and continues the rest. An interrupt (Ctrl-C) stops the workers; so does a
killed parent (pool workers exit within a second, Ray ends a driver's tasks); whatever an item checkpoints on
its own (training runs: every epoch) is what survives.

``execute`` must be picklable for :class:`LocalPool` (a module-level function or an instance of a
module-level class; the pool uses the ``spawn`` start method, so workers import what it refers to) and for
:class:`RayExecutor` (cloudpickle; the project must be importable on every node). ``setup`` (a picklable
callable, e.g. a :func:`functools.partial`; idempotent) runs in the worker before each item.

Ray is optional and imported only by :class:`RayExecutor` (``pip install 'ray>=2.9'``, or the project's
``[cluster]`` extra).

Example
-------
>>> list(Sequential().map(lambda item, dest: {"y": item * 2}, [(0, 3, None), (1, 4, None)]))[1][:2]
(1, {'y': 8})
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent import futures

from .cli import UsageError

__all__ = ["Sequential", "LocalPool", "RayExecutor", "RAY_MISSING", "import_ray"]

RAY_MISSING = ("--executor: ray is not installed; install it with pip install 'ray>=2.9' (or pip install -e "
               "'.[cluster]' in the repository), or use --executor local")


def import_ray():
    """The ``ray`` module, or :class:`UsageError` naming ``--executor`` and the pip command."""
    try:
        import ray
    except ImportError:
        raise UsageError(RAY_MISSING) from None
    return ray


def _timed(execute, item, dest):
    t0 = time.perf_counter()
    rec = execute(item, dest)
    return rec, time.perf_counter() - t0


def _in_worker(setup, execute, item, dest):
    """What a worker runs for one item: ``setup`` (idempotent: it runs before every item), then ``execute``."""
    if setup is not None:
        setup()
    return _timed(execute, item, dest)


def _bounded(jobs, limit: int, submit, wait, result, started=None, cancel=None):
    """At most ``limit`` jobs in flight; yields ``(index, record, seconds)``; the failure rule above."""
    queue, pending, error = list(jobs), {}, None
    try:
        while queue or pending:
            while queue and error is None and len(pending) < limit:
                k, item, dest = queue.pop(0)
                pending[submit(item, dest)] = k
                if started is not None:
                    started(k)
            if not pending:
                break
            for handle in wait(list(pending)):
                k = pending.pop(handle)
                try:
                    rec, seconds = result(handle)
                except Exception as exc:              # the first failure stops new starts; others drain
                    error = error or exc
                    continue
                yield k, rec, seconds
    except BaseException:
        if cancel is not None:
            cancel(list(pending))
        raise
    if error is not None:
        raise error


class Sequential:
    """Every item in this process, in plan order (what ``--jobs 1`` does)."""

    name = "sequential"

    def map(self, execute, jobs, started=None):
        for k, item, dest in jobs:
            if started is not None:
                started(k)
            rec, seconds = _timed(execute, item, dest)
            yield k, rec, seconds


class LocalPool:
    """``jobs`` worker processes on this machine (``spawn``); each item runs in a worker.

    Parameters
    ----------
    jobs : int
        Worker processes (at most this many items at once).
    setup : callable, optional
        Run in the worker before each item (threads, allocator settings).
    """

    name = "local"

    def __init__(self, jobs: int, setup=None):
        if jobs < 1:
            raise ValueError(f"jobs: expected >= 1, got {jobs}")
        self.jobs, self.setup = int(jobs), setup

    def map(self, execute, jobs, started=None):
        jobs = list(jobs)
        if not jobs:
            return
        ctx = multiprocessing.get_context("spawn")
        pool = futures.ProcessPoolExecutor(max_workers=min(self.jobs, len(jobs)), mp_context=ctx,
                                           initializer=_exit_with_parent, initargs=(os.getpid(),))
        clean = False
        try:
            yield from _bounded(
                jobs, self.jobs,
                submit=lambda item, dest: pool.submit(_in_worker, self.setup, execute, item, dest),
                wait=lambda fs: futures.wait(fs, return_when=futures.FIRST_COMPLETED).done,
                result=lambda f: f.result(), started=started)
            clean = True
        finally:
            if clean:
                pool.shutdown(wait=True)
            else:                                     # interrupted or failed: stop the workers now
                procs = list((getattr(pool, "_processes", None) or {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for p in procs:
                    if p.is_alive():
                        p.terminate()
                for p in procs:
                    p.join(timeout=10)


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """Pool-worker initializer: a daemon thread that ends this worker when its parent is gone (a killed
    driver would otherwise leave its idle workers waiting forever; a run in progress keeps its last
    checkpoint)."""
    import threading

    def watch():
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _ray_task(setup, execute, item, dest):
    return _in_worker(setup, execute, item, dest)


class RayExecutor:
    """Each item a Ray task (``num_cpus=threads``, plus ``num_gpus=1`` with ``gpus``); the driver (this
    process) receives each record as it completes (``ray.wait``) and the plan writes it.

    Parameters
    ----------
    address : str, optional
        The cluster to connect to (``auto``: the one ``ray start`` set up on this node; ``ray://host:10001``:
        Ray Client). None: connect to ``$RAY_ADDRESS`` if set, else start a local Ray instance (stopped at
        the end). If Ray is already initialised in this process, that instance is used as it is.
    threads : int
        CPUs each task asks for (and the torch threads its ``setup`` sets).
    gpus : bool
        Ask one GPU per task.
    jobs : int, optional
        Items in flight at most (None: as many as the cluster's CPUs, or GPUs, hold at once).
    setup : callable, optional
        Run in the Ray worker before each item.
    """

    name = "ray"

    def __init__(self, address=None, *, threads: int = 1, gpus: bool = False, jobs=None, setup=None):
        self.address, self.threads, self.gpus, self.jobs, self.setup = address, int(threads), bool(gpus), jobs, setup

    def _limit(self, ray) -> int:
        if self.jobs:
            return int(self.jobs)
        res = ray.cluster_resources()
        n = res.get("GPU", 0) if self.gpus else res.get("CPU", 1) // self.threads
        return max(1, int(n))

    def map(self, execute, jobs, started=None):
        jobs = list(jobs)
        if not jobs:
            return
        ray = import_ray()
        owned = False
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False)
            owned = True
        try:
            # Ray retries a task whose worker or node died (a retried run resumes from its checkpoint when
            # the runs directory is shared); an exception raised by the run itself is not retried
            remote = ray.remote(num_cpus=self.threads, num_gpus=1 if self.gpus else 0)(_ray_task)
            setup_ref = ray.put(self.setup)
            exec_ref = ray.put(execute)
            yield from _bounded(
                jobs, self._limit(ray),
                submit=lambda item, dest: remote.remote(setup_ref, exec_ref, item, dest),
                wait=lambda refs: ray.wait(refs, num_returns=1)[0],
                result=lambda ref: ray.get(ref), started=started,
                cancel=lambda refs: [ray.cancel(r, force=True) for r in refs])
        finally:
            if owned:
                ray.shutdown()
