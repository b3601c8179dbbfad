"""``ior sweep``: run every unfinished cell of a plan and commit each to the store as it completes.

Resumability. A cell's result reaches the store in one transaction, after the cell has finished, and
nothing else marks a cell done; a model folder appears (by an atomic rename) only once complete. So
after a kill at any moment, the store holds exactly the cells that finished; a restart skips them
and recomputes the others from scratch (a training cell whose model folder was renamed into place
but not yet committed adopts that folder instead of training again). One sweep at a time per output
folder (a lock file), and pool workers exit when the driver dies, so no stale worker writes
alongside the restarted sweep.
"""

from __future__ import annotations

import concurrent.futures as cf
import fcntl
import logging
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ior.experiments.cells import MODELS_DIR, PARTIAL_DIR, STAGING_PREFIX, compute_cell, model_dir, partial_dir
from ior.experiments.config import SweepConfig
from ior.experiments.costs import ExpectedCosts, TimeBudget, worker_seconds
from ior.experiments.data import resolve_identities
from ior.experiments.executors import make_executor
from ior.experiments.grid import Cell, Plan, plan_sweep
from ior.experiments.store import STORE_NAME, ResultStore

logger = logging.getLogger(__name__)

LOCK_NAME = ".sweep.lock"


@dataclass
class SweepSummary:
    """What a sweep run did."""

    out: str
    cells: int
    already_done: int
    computed: int
    failed: list = field(default_factory=list)
    elapsed_seconds: float = 0.0
    not_started: list = field(default_factory=list)  # left by --time-limit: {cell, label, expected_seconds}

    def to_dict(self) -> dict:
        return asdict(self)


def config_record(config: SweepConfig) -> dict:
    """The sweep config as plain data (stored with every sweep start)."""
    record = asdict(config)
    record["datasets"] = [d.to_dict() for d in config.datasets]
    return record


class _Lock:
    """An exclusive advisory lock on ``OUT/.sweep.lock``, released when the process ends (even by kill)."""

    def __init__(self, path: Path):
        self._handle = open(path, "a+")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise RuntimeError(f"another sweep is running on {str(path.parent)!r}") from None

    def release(self) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def prepare(config: SweepConfig, out) -> tuple[Path, Plan]:
    """Validate the output folder and resolve the data: everything that can fail before any work."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a folder")
    return out, plan_sweep(config, resolve_identities(config))


def _remove_staging(out: Path, done: set) -> None:
    """Remove what a killed sweep left behind: half-written model folders, and the finished attack runs
    of audit cells that were committed before their checkpoint was removed (those of unfinished audit
    cells stay: the audit resumes from them)."""
    models = out / MODELS_DIR
    if models.is_dir():
        for path in models.glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)
    partial = out / PARTIAL_DIR
    if partial.is_dir():
        for path in partial.iterdir():
            if path.name in done:
                shutil.rmtree(path, ignore_errors=True)


def check_budget_executor(budget: TimeBudget | None, executor: str) -> None:
    """A time limit decides when cells start, which only a local pool lets the sweep decide."""
    if budget is not None and executor != "local":
        raise ValueError("--time-limit needs --executor local: a Ray cluster queues the cells it is given, so "
                         "when they start is not the sweep's to decide")


def run_sweep(config: SweepConfig, out, *, executor: str = "local", workers: int = 1, address: str | None = None,
              threads: int = 1, progress: bool = True, plan: Plan | None = None,
              audit_workers: int = 1, budget: TimeBudget | None = None, estimate: dict | None = None) -> SweepSummary:
    """Run (or resume) the sweep ``config`` into ``out``.

    Parameters
    ----------
    config : SweepConfig
    out : path
        Output folder: ``runs.sqlite`` and ``models/<key>``.
    executor : {"local", "ray"}
    workers : int
        Local pool size (0 = run cells in this process); for Ray without ``address``, the CPUs of
        the local instance.
    address : str, optional
        Ray cluster address.
    threads : int
        Torch threads per cell (results are identical across executors and worker counts for the
        same value).
    progress : bool
        A progress bar over cells.
    audit_workers : int
        Each audit cell shards its attack runs over this many one-thread processes (results do not
        depend on it); a cell then uses ``audit_workers`` cores (Ray reserves that many CPUs).
    budget : TimeBudget, optional
        A time limit (``TimeBudget(seconds)``, counted from its construction): a cell starts only if
        it is expected to finish inside it (:class:`ior.experiments.costs.ExpectedCosts`; a cell of
        unknown cost starts while any time is left). Running cells are never stopped; the cells left
        are listed in ``summary.not_started`` and a later run resumes them. Local executor only: a
        cluster queues what it is given, so when a cell starts is not the sweep's to decide.
    estimate : dict, optional
        ``{cell key: expected seconds}`` (:func:`ior.experiments.costs.load_estimate`): under
        ``budget``, the price of cells that no finished seed sibling prices.
    """
    if isinstance(audit_workers, bool) or not isinstance(audit_workers, int) or audit_workers < 1:
        raise ValueError(f"audit_workers must be an integer >= 1, got {audit_workers!r}")
    check_budget_executor(budget, executor)
    started = time.time()
    if plan is None:
        out, plan = prepare(config, out)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = _Lock(out / LOCK_NAME)
    store = ResultStore(out / STORE_NAME)
    pool = None
    try:
        done = store.completed_keys() & set(plan.by_key)
        _remove_staging(out, store.completed_keys())  # left by a killed sweep; the lock says no other sweep writes
        # A finished model whose folder is gone (a store carried to another machine without its
        # models) is trained again only if an unfinished cell still needs it.
        needed = {r for c in plan.cells if c.key not in done for r in c.requires}
        retrained = {}  # key -> the weights hash its finished cells were computed on
        for cell in plan.of_kind("train"):
            if cell.key in done & needed and not (model_dir(out, cell.key) / "model.safetensors").is_file():
                warnings.warn(f"model folder of finished cell {cell.label} ({cell.key}) is missing: training it "
                              "again", stacklevel=2)
                done.discard(cell.key)
                retrained[cell.key] = store.cell(cell.key)["result"].get("weights_sha256")
        todo = [c for c in plan.cells if c.key not in done]
        store.start_sweep(name=config.name, config=config_record(config), plan=plan.size() | {"todo": len(todo)},
                          executor=executor)
        summary = SweepSummary(out=str(out), cells=len(plan.cells), already_done=len(plan.cells) - len(todo),
                               computed=0)
        expected = None
        if budget is not None:
            expected = ExpectedCosts.from_store(plan, store, estimate)
        if todo:
            pool = make_executor(executor, workers=workers, address=address, threads=max(threads, audit_workers))
            _schedule(todo, done, plan, store, pool, out, threads, summary, progress, audit_workers, retrained,
                      budget=budget, expected=expected)
    finally:
        if pool is not None:
            pool.shutdown(cancel=True)
        store.close()
        lock.release()
    summary.elapsed_seconds = time.time() - started
    return summary


def _free_slots(pool, running: dict) -> int | None:
    slots = getattr(pool, "slots", None)
    return None if slots is None else max(0, slots - len(running))


def _next_cells(pending: dict, done: set, *, free: int | None, fits=None) -> list[str]:
    """The ready cells to submit now: audits of finished models before new training, ``free`` at most,
    and of those only the ones ``fits(key)`` admits (a time limit) when ``fits`` is given.

    Submitting only as many cells as the pool has workers, audits first, runs the sweep depth-first:
    a model is audited as soon as it exists, so a sweep stopped early (killed, or a machine that does
    not outlive a session) holds complete results for the models it trained, and a resume rarely
    needs a model folder again. With ``free=None`` (a cluster) every ready cell is submitted.
    """
    ready = [k for k, c in pending.items() if all(r in done for r in c.requires) and (fits is None or fits(k))]
    ready.sort(key=lambda k: pending[k].kind != "audit")  # stable: plan order within each kind
    return ready if free is None else ready[:free]


def _running_text(cells, budget: TimeBudget | None = None) -> str:
    labels = [f"{c.kind} {c.label}" for c in cells]
    text = "running: " + "; ".join(labels) if labels else ""
    if budget is not None:
        left = max(0, int(budget.remaining()))
        text += f"{'; ' if text else ''}{left // 3600}:{left // 60 % 60:02d} of the time limit left"
    return text


def _finished(cell: Cell, seconds: float, resumed: int = 0, core_seconds: float | None = None) -> None:
    """One line per finished cell on stderr (above the bar when there is one): a long sweep's record."""
    core = f" ({core_seconds:,.0f} core-seconds)" if core_seconds is not None else ""
    note = f" ({resumed} attack run(s) loaded from a stopped run)" if resumed else ""
    tqdm.write(f"done {cell.kind} {cell.label} ({cell.key}) in {seconds:,.0f} s{core}{note}", file=sys.stderr)


def _check_retrained(cell: Cell, before: str | None, after: str | None, plan: Plan, done: set) -> None:
    """Warn when a model trained again (its folder was gone) has other weights than the one its finished
    cells were computed on: those results then describe the earlier model, and the report flags them."""
    if before is None or after is None or before == after:
        return
    stale = [c.label for c in plan.cells if cell.key in c.requires and c.key in done]
    if stale:
        warnings.warn(f"model {cell.label} ({cell.key}) trained again has other weights than before "
                      f"(sha256 {after[:12]} vs {before[:12]}): {len(stale)} finished cell(s) describe the earlier "
                      f"model ({', '.join(stale)}); run the sweep again with --rerun-stale to audit the new one",
                      stacklevel=2)


def _schedule(todo: list[Cell], done: set, plan: Plan, store: ResultStore, pool, out: Path, threads: int,
              summary: SweepSummary, progress: bool, audit_workers: int = 1, retrained: dict | None = None, *,
              budget: TimeBudget | None = None, expected: ExpectedCosts | None = None) -> None:
    pending = {c.key: c for c in todo}
    fits = None if budget is None else (lambda key: budget.fits(expected.seconds(key)))
    failed: set[str] = set()
    running: dict[cf.Future, Cell] = {}
    bar = tqdm(total=summary.cells, initial=summary.already_done, desc="cells", unit="cell", disable=not progress)
    try:
        while pending or running:
            for key in _next_cells(pending, done, free=_free_slots(pool, running), fits=fits):
                cell = pending.pop(key)
                running[pool.submit(compute_cell, cell.spec, str(out), threads, audit_workers)] = cell
            bar.set_postfix_str(_running_text(running.values(), budget))
            for key in [k for k, c in pending.items() if any(r in failed for r in c.requires)]:
                failed.add(key)
                summary.failed.append({"cell": key, "label": pending.pop(key).label, "error": "a dependency failed"})
            if not running:
                if pending and budget is not None:  # nothing left fits in the time limit
                    summary.not_started = [{"cell": k, "label": c.label, "expected_seconds": expected.seconds(k)}
                                           for k, c in pending.items()]
                    break
                if pending:  # pragma: no cover - plans are acyclic and dependencies come first
                    raise RuntimeError(f"{len(pending)} cells wait on dependencies that are not in the plan")
                break
            finished, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for future in finished:
                cell = running.pop(future)
                try:
                    payload = future.result()
                except Exception as exc:  # a failed cell must not stop the independent ones
                    logger.error("cell %s (%s) failed: %s", cell.label, cell.key, exc)
                    failed.add(cell.key)
                    summary.failed.append({"cell": cell.key, "label": cell.label,
                                           "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"})
                    continue
                if retrained and cell.key in retrained:
                    _check_retrained(cell, retrained[cell.key], payload["result"].get("weights_sha256"), plan, done)
                store.commit_cell(key=cell.key, kind=cell.kind, label=cell.label, config=cell.config,
                                  requires=cell.requires, result=payload["result"], rows=payload["rows"],
                                  examples=payload["examples"], elapsed_seconds=payload["elapsed_seconds"],
                                  core_seconds=payload.get("core_seconds"), worker=payload["worker"])
                shutil.rmtree(partial_dir(out, cell.key), ignore_errors=True)  # committed: no longer needed
                done.add(cell.key)
                if expected is not None:
                    expected.record(cell.key, worker_seconds({"kind": cell.kind, "result": payload["result"],
                                                              "elapsed_seconds": payload["elapsed_seconds"]}))
                summary.computed += 1
                _finished(cell, payload["elapsed_seconds"], payload.get("resumed_runs", 0), payload.get("core_seconds"))
                bar.update(1)
    finally:
        bar.close()
