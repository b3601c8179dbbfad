"""One audit on several cores or Ray workers: every attack run's examples split into shards.

The audit (:class:`ior.audit.run.Auditor`) stays in the driver: clean metrics, ``cal`` (one fit),
``opt`` (one search, whose every Q(T) is a sharded attack run), re-scoring and the report. Only the
attack runs leave it. :class:`ShardedSuite` has the attack-suite protocol, so the audit cannot tell
it from the suite it wraps; its ``run`` cuts the examples into chunks and hands each to its worker.

Why the outcomes are the ones one process gets, example by example:

* randomness is per example (text: stream ``[seed, index]``; images: batch ``b`` seeded ``seed + b``),
  and a chunk is attacked with its offset in the whole set, so it draws what it would unsharded
  (image chunks are whole attack batches for the same reason);
* chunks are pinned (a chunk of an input set always goes to the same worker, chosen once by text
  length to balance the load), so a text classifier's logits
  cache in a worker holds, for its examples, what the single process's cache held: the candidates of
  the served run are cached when the ``cal`` and ``opt`` runs query them again;
* the driver sends each chunk the logits it already computed for those inputs (the clean pass), so
  the original texts are scored in the same batches as unsharded (batch composition moves float32
  logits by ~1e-6, which can break a tie differently);
* the worker also re-scores its chunk's adversarial inputs (fresh, uncached, on the reference
  runtime) and computes their input gradients, in the fixed groups of consecutive examples the
  audit itself uses (``rescore_group``; a chunk starts on a group boundary), so those numbers are
  the single process's to the bit and the driver's serial share of the audit stays small.

Workers build the model and the suite once, from picklable :class:`Recipe` objects, with one torch
thread each by default; a worker is a spawned process (``executor="local"``) or a Ray actor
(``executor="ray"``, a local instance or ``address`` of a running cluster whose nodes have ``ior``
and see the same paths).
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import math
import multiprocessing
import os
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ior.models.temperature import rewrap, temperature_chain

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Recipe:
    """A picklable way to build an object in a worker: ``module:function`` and its keyword arguments."""

    target: str
    kwargs: dict = field(default_factory=dict)

    def build(self):
        module, _, path = self.target.partition(":")
        target = importlib.import_module(module)
        for name in path.split("."):  # a function, or Class.classmethod
            target = getattr(target, name)
        return target(**self.kwargs)


class ShardWorker:
    """Holds one model and one suite in a worker process and attacks chunks with them."""

    def __init__(self, model: Recipe, suite: Recipe, threads: int = 1):
        import torch

        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        torch.set_num_threads(int(threads))
        self.model = model.build()
        self.suite = suite.build()

    def _wrapped(self, temperatures):
        return rewrap(self.model, temperatures)

    def run(self, name, temperatures, inputs, labels, offset, known_logits=None):
        """Attack one chunk on the model re-wrapped in the driver's temperatures (innermost first);
        returns the results, the raw re-scored logits of their adversarial inputs, the forward passes
        and the CPU seconds this process spent on it."""
        from ior.audit.run import RESCORE_GROUP, fresh_raw_logits

        cpu = time.process_time()
        cache = getattr(self.model, "_cache", None)
        if cache is not None and known_logits is not None:
            for text, row in zip(inputs, known_logits):
                cache.setdefault(text, row)
        before = getattr(self.model, "forward_count", 0)
        results = self.suite.run(name, self._wrapped(temperatures), inputs, labels, desc="shard", offset=offset)
        raw = fresh_raw_logits(self.model, self.suite.adversarial_inputs(results),
                               int(getattr(self.suite, "rescore_group", RESCORE_GROUP)))
        return results, raw, getattr(self.model, "forward_count", 0) - before, time.process_time() - cpu

    def ready(self) -> bool:
        """Nothing: a first task that makes a process start, load its model and suite, and say so."""
        return True

    def gradients(self, temperatures, inputs, labels):
        """Input-gradient norms of one chunk (the audit's gradient diagnostic) and the CPU seconds they took."""
        cpu = time.process_time()
        norms = self.suite.input_gradient_norms(self._wrapped(temperatures), inputs, labels)
        return norms, time.process_time() - cpu


_WORKER: ShardWorker | None = None


def _init_local(model: Recipe, suite: Recipe, threads: int, parent_pid: int) -> None:
    from ior.experiments.executors import _init_worker

    _init_worker(parent_pid)  # exits with the driver, quiet libraries
    global _WORKER
    _WORKER = ShardWorker(model, suite, threads)


def _run_local(method, *args):
    return getattr(_WORKER, method)(*args)


class _LocalWorker:
    """One spawned process holding a :class:`ShardWorker` (a pool of one: tasks stay pinned to it)."""

    def __init__(self, model, suite, threads):
        self._pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_init_local,
                                            initargs=(model, suite, threads, os.getpid()))

    def submit(self, method, *args) -> cf.Future:
        return self._pool.submit(_run_local, method, *args)

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


class _RayWorker:
    """One Ray actor holding a :class:`ShardWorker`."""

    def __init__(self, actor_class, model, suite, threads):
        self._actor = actor_class.options(num_cpus=threads).remote(model, suite, threads)

    def submit(self, method, *args) -> cf.Future:
        return getattr(self._actor, method).remote(*args).future()

    def close(self):
        import ray

        ray.kill(self._actor)


class ShardedResults(list):
    """A sharded attack run's results, with the raw logits its workers re-scored the adversarial
    inputs to (``rescored_raw_logits``, [N, C] float32, no temperature applied)."""

    rescored_raw_logits = None


class ShardedSuite:
    """An attack suite whose runs are split over ``workers`` processes or Ray actors.

    Parameters
    ----------
    suite : AttackSuite
        The suite the driver would use alone: names, hyperparameters, records, gradients and
        re-scoring helpers come from it; the workers build its twin from ``suite_recipe``.
    model : object
        The driver's base classifier (temperature wrappers are re-applied in the workers).
    model_recipe, suite_recipe : Recipe
        How a worker builds the same model and suite.
    workers : int
        Worker processes (>= 1).
    executor : {"local", "ray"}
    address : str, optional
        Ray cluster address (``auto``, ``host:6379``, ``ray://host:10001``); None starts a local Ray.
    threads : int
        Torch threads (and Ray CPUs) per worker.
    chunk : int, optional
        Examples per chunk for text (default: about 8 chunks per worker per run); image chunks are
        the suite's attack batches.
    progress : bool
        One bar per attack run over its examples.
    """

    def __init__(self, suite, model, *, model_recipe: Recipe, suite_recipe: Recipe, workers: int = 2,
                 executor: str = "local", address: str | None = None, threads: int = 1, chunk: int | None = None,
                 progress: bool = True):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {executor!r}")
        if address is not None and executor != "ray":
            raise ValueError("--address applies to --executor ray only")
        self.suite, self.model = suite, model
        self.default_opt_attack = suite.default_opt_attack
        self.workers, self.executor, self.chunk, self.progress = workers, executor, chunk, progress
        self.worker_forward_passes = 0
        self.worker_cpu_seconds = 0.0  # what the workers spent on attacks and gradients: the audit's core-seconds
        self._ray_started = False
        if executor == "local":
            self._workers = [_LocalWorker(model_recipe, suite_recipe, threads) for _ in range(workers)]
        else:
            self._workers = self._ray_workers(model_recipe, suite_recipe, threads, workers, address)
        # Start every worker now: loading overlaps the driver's clean pass and the cal fit.
        self._ready = [worker.submit("ready") for worker in self._workers]
        self._assignments: dict = {}

    def _ray_workers(self, model_recipe, suite_recipe, threads, workers, address):
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("--executor ray needs the 'ray' package (pip install 'ray>=2.9')") from exc
        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if address is None:
                kwargs["num_cpus"] = workers * threads
            else:
                kwargs["address"] = address
            ray.init(**kwargs)
            self._ray_started = True
        actor = ray.remote(ShardWorker)
        return [_RayWorker(actor, model_recipe, suite_recipe, threads) for _ in range(workers)]

    # -- the attack-suite protocol: everything but ``run`` is the driver's suite ------------------
    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.suite, name)

    def chunks(self, n: int) -> list[tuple[int, int]]:
        """(start, stop) of each chunk of ``n`` examples, in order: whole re-scoring groups (images:
        whole attack batches, which keep their seeds), about 8 chunks per worker."""
        group = int(getattr(self.suite, "rescore_group", 1))
        batch = getattr(getattr(self.suite, "config", None), "batch_size", None)
        if batch is not None:
            size = batch
        else:
            size = self.chunk or max(1, math.ceil(n / (8 * self.workers)))
            size = math.ceil(size / group) * group
        return [(lo, min(lo + size, n)) for lo in range(0, n, size)]

    def assignment(self, inputs, spans) -> list[int]:
        """The worker of each chunk: longest first to the least loaded worker (text length as the cost;
        images cost the same), remembered per input set so a chunk goes to the same worker every run
        (its logits cache) and its cost is the same whatever temperature the run attacks at."""
        key = (id(inputs), len(inputs), tuple(spans))
        if key not in self._assignments:
            costs = [sum(len(t) for t in inputs[lo:hi]) if isinstance(inputs, list) else hi - lo for lo, hi in spans]
            loads, owner = [0] * self.workers, [0] * len(spans)
            for c in sorted(range(len(spans)), key=lambda c: (-costs[c], c)):
                w = min(range(self.workers), key=lambda w: (loads[w], w))
                owner[c], loads[w] = w, loads[w] + costs[c]
            self._assignments[key] = owner
        return self._assignments[key]

    def _gather(self, jobs, n: int, desc: str, progress: bool, owners):
        """Submit (size, method, args) jobs of chunks covering ``n`` examples, chunk c to worker
        ``owners[c]``; their outcomes in order."""
        futures = [(size, self._workers[owners[c]].submit(method, *args)) for c, (size, method, args) in enumerate(jobs)]
        with tqdm(total=n, desc=desc, disable=not progress, leave=False) as bar:
            for size, future in futures:  # in order: outcomes keep the examples' order
                yield future.result()
                bar.update(size)

    def input_gradient_norms(self, model, inputs, labels):
        """The gradient diagnostic's norms, chunk by chunk in the workers (None when the suite cannot
        differentiate the model)."""
        base, temperatures = temperature_chain(model)
        if base is not self.model:
            raise ValueError("a sharded suite differentiates the classifier it was built for")
        labels = np.asarray(labels)
        spans = self.chunks(len(labels))
        jobs = [(hi - lo, "gradients", (temperatures, inputs[lo:hi], labels[lo:hi])) for lo, hi in spans]
        parts = []
        for norms, cpu in self._gather(jobs, len(labels), "gradients", False, self.assignment(inputs, spans)):
            parts.append(norms)
            self.worker_cpu_seconds += cpu
        if any(part is None for part in parts):
            return None
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)

    def run(self, name, model, inputs, labels, *, desc: str = "attack") -> list:
        base, temperatures = temperature_chain(model)
        if base is not self.model:
            raise ValueError("a sharded suite attacks the classifier it was built for (and its temperature wrappers)")
        name = self.suite.canonical(name)
        labels = np.asarray(labels)
        n = len(labels)
        cache = getattr(base, "_cache", None)
        jobs, spans = [], self.chunks(n)
        for lo, hi in spans:
            part = inputs[lo:hi]
            known = None
            if cache is not None:
                known = [cache.get(text) for text in part]
                known = None if any(row is None for row in known) else known
            jobs.append((hi - lo, "run", (name, temperatures, part, labels[lo:hi], lo, known)))
        results, raws = ShardedResults(), []
        for chunk_results, raw, passes, cpu in self._gather(jobs, n, desc, self.progress,
                                                            self.assignment(inputs, spans)):
            results.extend(chunk_results)
            raws.append(raw)
            self.worker_forward_passes += passes
            self.worker_cpu_seconds += cpu
        results.rescored_raw_logits = np.concatenate(raws) if raws else None
        return results

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        if self._ray_started:
            import ray

            ray.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
