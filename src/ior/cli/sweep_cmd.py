"""``ior sweep``: train and audit a grid of models into a resumable results store."""

from __future__ import annotations

import argparse
import warnings

DESCRIPTION = """\
Run a sweep: a grid over dataset x training method x training temperature x grad-norm x seed x
serving temperature x attack x piercing (none, cal, opt), described by a YAML file (see
configs/repro-cpu.yaml). Each model is trained once into OUT/models/<key>; each model x serving
temperature is audited once; every result (attack x piercing) and every attacked example goes to
OUT/runs.sqlite, keyed by a hash of its configuration.

The config is validated, every dataset loaded and (local executor) the cached resources of every
text attack still to run checked (BAE's masked LM, TextFooler's vectors, WordNet), before any work
starts. A sweep killed at any moment resumes where it stopped when run again with the same
arguments: finished cells are skipped, unfinished ones recomputed (a stopped training cell resumes
after its last finished epoch, a stopped audit after its last finished attack run). `ior report OUT`
turns the store into tables and figures.

With --time-limit (a batch job's wall time, or a machine that is switched off at a fixed hour), a
cell starts only if it is expected to finish inside the limit: at the largest measured cost of its
finished seed siblings (the same cell with another training seed), else at the cost --estimate gives
it, else (unknown) while any time is left. A cell too long for the time left gives way to a
shorter one further down the plan; running cells are never stopped. The cells left are listed at the
end, and the same command resumes them. The clock starts when the command does; local executor only
(a Ray cluster queues what it is given)."""


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a resumable grid of training runs and audits",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="sweep config (YAML)")
    p.add_argument("--out", required=True, help="output folder (runs.sqlite, models/)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: a process pool on this machine (default); ray: tasks on a Ray cluster")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (e.g. auto, ray://HOST:10001); default: start a local Ray instance")
    p.add_argument("--workers", type=int, default=1,
                   help="local: worker processes (0 = run cells in this process; default 1); ray without "
                        "--address: CPUs of the local instance")
    p.add_argument("--audit-workers", type=int, default=1,
                   help="shard each audit cell's attack runs over N one-thread processes (default 1); results are "
                        "identical, a cell then uses N cores: e.g. --workers 1 --audit-workers 2 for a sweep whose "
                        "audits are few and large")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per cell (default 1); results are identical across executors and worker "
                        "counts for the same value")
    p.add_argument("--only", metavar="REGEX", default=None,
                   help="run only the cells whose '<kind> <label>' matches REGEX (e.g. 'seed=[12]', "
                        "'epochs=(16|32)', 'audit .*T_d=0.01'), and the training cells they need; the keys, "
                        "and so the store, are those of the whole sweep")
    p.add_argument("--time-limit", metavar="DURATION", default=None,
                   help="start no cell expected to end after DURATION from now (e.g. 2h30m, 90m, 5400): see above")
    p.add_argument("--estimate", metavar="FILE", default=None,
                   help="with --time-limit or --dry-run: expected seconds per cell (JSON with cells[].key and "
                        "cells[].expected_seconds, as bench/estimate_sweep.py writes), for cells with no finished "
                        "seed sibling")
    p.add_argument("--rerun-stale", action="store_true",
                   help="first delete from the store the audits that ran on other weights than the model their "
                        "training cell records now (a model trained again, not bit-identically; `ior report` "
                        "flags them), so that this run audits them again")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the config, load the data and print the plan (each unfinished cell with its "
                        "expected cost, as --time-limit judges it) without running it")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=run_sweep_command)


def run_sweep_command(args) -> int:
    from ior.experiments.config import load_sweep_config
    from ior.experiments.grid import select_cells
    from ior.experiments.costs import TimeBudget, load_estimate, parse_duration
    from ior.experiments.runner import check_budget_executor, prepare, run_sweep
    from ior.experiments.store import STORE_NAME, ResultStore

    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    if args.audit_workers < 1:
        raise ValueError(f"--audit-workers must be >= 1, got {args.audit_workers}")
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.address is not None and args.executor != "ray":
        raise ValueError("--address applies to --executor ray only")
    # The clock starts now: loading the data and hashing the model count against a job's wall time.
    budget = None if args.time_limit is None else TimeBudget(parse_duration(args.time_limit))
    check_budget_executor(budget, args.executor)
    if args.estimate is not None and budget is None and not args.dry_run:
        raise ValueError("--estimate applies with --time-limit or --dry-run only (ior report --estimate compares "
                         "costs)")
    estimate = None if args.estimate is None else load_estimate(args.estimate)
    config = load_sweep_config(args.config)
    out, plan = prepare(config, args.out)
    if args.only is not None:
        whole = len(plan.cells)
        plan = select_cells(plan, args.only)
        print(f"--only {args.only!r}: {len(plan.cells)} of the sweep's {whole} cells")
    if estimate is not None and not set(estimate) & set(plan.by_key):
        warnings.warn(f"--estimate {args.estimate!r} prices none of this sweep's cells (an estimate of another "
                      "config, or of its keys before a change?)", stacklevel=2)
    size = plan.size()
    store_path = out / STORE_NAME
    rerun = _forget_stale(store_path, plan, dry_run=args.dry_run) if args.rerun_stale else set()
    done_keys = _completed(store_path, plan) - rerun
    done = len(done_keys)
    print(f"sweep {config.name}: {size['train_cells']} training cells, {size['audit_cells']} audit cells, "
          f"{size['results']} results; {done} of {len(plan.cells)} cells already done")
    if args.dry_run:
        expected = _expected(store_path, plan, estimate)
        for cell in plan.cells:
            seconds, source = expected.get(cell.key)
            cost = "done" if cell.key in done_keys else (
                "cost unknown" if seconds is None else f"~{seconds:,.0f} s ({source})")
            print(f"  {cell.key}  {cell.kind:5}  {cell.label}  [{cost}]")
        return 0
    if args.executor == "local":  # a Ray cluster's workers have caches of their own
        _check_text_resources(plan, done_keys=done_keys)
    summary = run_sweep(config, out, executor=args.executor, workers=args.workers, address=args.address,
                        threads=args.threads, progress=not args.no_progress, plan=plan,
                        audit_workers=args.audit_workers, budget=budget, estimate=estimate)
    print(f"computed {summary.computed} cells in {summary.elapsed_seconds:.0f} s "
          f"({summary.already_done} were already done); store: {store_path}")
    if summary.not_started:
        print(f"time limit: {len(summary.not_started)} cell(s) not started (they would not have finished inside "
              f"--time-limit {args.time_limit}, or wait on one that would not); run the same command to resume:")
        for cell in summary.not_started:
            seconds = cell["expected_seconds"]
            print(f"  {cell['cell']}  {cell['label']}  (expected {'?' if seconds is None else f'{seconds:,.0f}'} s)")
    if summary.failed:
        for failure in summary.failed:
            print(f"  failed: {failure['label']} ({failure['cell']}): {failure['error']}")
        raise RuntimeError(f"{len(summary.failed)} cell(s) failed; fix the cause and run the same command to resume")
    return 0


def _forget_stale(store_path, plan, *, dry_run: bool) -> set:
    """Delete the plan's stale audits (``ResultStore.stale_audits``) from the store (not with
    ``dry_run``), say which, and return their keys."""
    from ior.experiments.store import ResultStore

    if not store_path.is_file():
        return set()
    with ResultStore(store_path) as store:
        stale = [s for s in store.stale_audits() if s["cell"] in plan.by_key]
        if not stale:
            print("--rerun-stale: no audit ran on other weights than its model's")
            return set()
        if not dry_run:
            store.forget(s["cell"] for s in stale)
    verb = "would delete" if dry_run else "deleted"
    print(f"--rerun-stale: {verb} {len(stale)} audit(s) computed on earlier weights, to run again:")
    for s in stale:
        print(f"  {s['cell']}  {s['label']}  (audited {s['audited_weights_sha256'][:12]}, "
              f"model now {s['model_weights_sha256'][:12]})")
    return {s["cell"] for s in stale}


def _completed(store_path, plan) -> set:
    """Keys of the plan's cells the store already holds."""
    from ior.experiments.store import ResultStore

    if not store_path.is_file():
        return set()
    with ResultStore(store_path) as store:
        return store.completed_keys() & set(plan.by_key)


def _expected(store_path, plan, estimate):
    """Each cell's expected cost and where it comes from, as --time-limit judges it at the start."""
    from ior.experiments.costs import ExpectedCosts
    from ior.experiments.store import ResultStore

    if not store_path.is_file():
        return ExpectedCosts(plan, {}, estimate)
    with ResultStore(store_path) as store:
        return ExpectedCosts.from_store(plan, store, estimate)


def _check_text_resources(plan, *, done_keys: set) -> None:
    """Fail before any cell runs if a text attack of an unfinished audit cell lacks a resource it loads
    from the cache (BAE's masked LM, TextFooler's vectors, WordNet), not hours in when that cell starts."""
    attacks = set()
    for cell in plan.of_kind("audit"):
        if cell.key in done_keys or cell.spec["modality"] != "text":
            continue
        attacks.update(cell.spec["attacks"])
        if "opt" in cell.spec["piercings"]:
            attacks.add(cell.spec["audit"]["opt_attack"])
        attacks.update((cell.spec["word_importance"] or {}).get("attacks", ()))
    if attacks:
        from ior.attacks.suite import TextAttackSuite

        TextAttackSuite().check_resources(sorted(attacks))
