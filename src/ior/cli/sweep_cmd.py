"""``ior sweep``: train and audit a grid of models into a resumable results store."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Run a sweep: a grid over dataset x training method x training temperature x grad-norm x seed x
serving temperature x attack x piercing (none, cal, opt), described by a YAML file (see
configs/repro-cpu.yaml). Each model is trained once into OUT/models/<key>; each model x serving
temperature is audited once; every result (attack x piercing) and every attacked example goes to
OUT/runs.sqlite, keyed by a hash of its configuration.

The config is validated, every dataset loaded and (local executor) the cached resources of every
text attack still to run checked (BAE's masked LM, TextFooler's vectors, WordNet), before any work
starts. A sweep killed at any moment resumes where it stopped when run again with the same
arguments: finished cells are skipped, unfinished ones recomputed. `ior report OUT` turns the store
into tables and figures."""


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
    p.add_argument("--dry-run", action="store_true",
                   help="validate the config, load the data and print the plan without running it")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=run_sweep_command)


def run_sweep_command(args) -> int:
    from ior.experiments.config import load_sweep_config
    from ior.experiments.runner import prepare, run_sweep
    from ior.experiments.store import STORE_NAME, ResultStore

    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    if args.audit_workers < 1:
        raise ValueError(f"--audit-workers must be >= 1, got {args.audit_workers}")
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.address is not None and args.executor != "ray":
        raise ValueError("--address applies to --executor ray only")
    config = load_sweep_config(args.config)
    out, plan = prepare(config, args.out)
    size = plan.size()
    store_path = out / STORE_NAME
    done_keys = _completed(store_path, plan)
    done = len(done_keys)
    print(f"sweep {config.name}: {size['train_cells']} training cells, {size['audit_cells']} audit cells, "
          f"{size['results']} results; {done} of {len(plan.cells)} cells already done")
    if args.dry_run:
        for cell in plan.cells:
            print(f"  {cell.key}  {cell.kind:5}  {cell.label}")
        return 0
    if args.executor == "local":  # a Ray cluster's workers have caches of their own
        _check_text_resources(plan, done_keys=done_keys)
    summary = run_sweep(config, out, executor=args.executor, workers=args.workers, address=args.address,
                        threads=args.threads, progress=not args.no_progress, plan=plan,
                        audit_workers=args.audit_workers)
    print(f"computed {summary.computed} cells in {summary.elapsed_seconds:.0f} s "
          f"({summary.already_done} were already done); store: {store_path}")
    if summary.failed:
        for failure in summary.failed:
            print(f"  failed: {failure['label']} ({failure['cell']}): {failure['error']}")
        raise RuntimeError(f"{len(summary.failed)} cell(s) failed; fix the cause and run the same command to resume")
    return 0


def _completed(store_path, plan) -> set:
    """Keys of the plan's cells the store already holds."""
    from ior.experiments.store import ResultStore

    if not store_path.is_file():
        return set()
    with ResultStore(store_path) as store:
        return store.completed_keys() & set(plan.by_key)


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
