"""What a text sweep will cost, per cell, from what earlier stores measured: an estimate made before it runs.

    .venv/bin/python bench/estimate_sweep.py configs/repro-cpu-v2.yaml \\
        --reference results/repro-cpu results/gradnorm-steps --out bench/results/estimate-repro-cpu-v2.json

Training: seconds per optimiser step of the same method (and grad-norm) in the reference stores,
the median over their cells (dg-aug's includes its DeepWordBug pass over the training set), times
the cell's steps. Two numbers per cell: ``cap`` (every epoch up to ``epochs``) and ``expected``,
which for a stopping rule on training accuracy takes the first epoch at which a reference model of
the same method reached that accuracy (the cap when none did).

Audits: ``k × n × Σ_attacks c_a × (1 + 0.5 × extra piercings)``, plus ``opt``: ``q × n_opt × c_opt ×
evaluations`` (9 with the plateau stop, 14 for the full search: the counts of the repro-cpu and demo
audits), where c_a is the attack's seconds per example from this repository's attack benchmarks
(``bench/results/textattack_reference.json``: query-bound seconds × the measured wall/bound ratio).
``k`` is fitted (least squares through 0) to the reference audits without ``opt``; ``q`` is the median,
over the reference audits with ``opt`` served on the same side of T_d = 1 (↑conf, ↓conf, as trained),
of what they took beyond ``k ×`` their attack runs, per evaluation they recorded: ``opt`` on a ↓conf
model is the dearest, its attacks failing until T is found and spending their whole query budget. The logits cache is why a piercing costs ~half a served run: most texts recur.

A dataset whose texts are longer than the references' (R8's documents against rt's sentences) costs
more per step and per attacked example: ``--step-scale`` and ``--attack-scale`` multiply the
references' rates by factors measured in a pilot on that dataset (configs/r8-cpu.yaml says which).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ior.data.cache import atomic_write_text  # noqa: E402
from ior.experiments.config import load_sweep_config  # noqa: E402
from ior.experiments.costs import cell_seconds  # noqa: E402
from ior.experiments.data import resolve_identities  # noqa: E402
from ior.experiments.grid import plan_sweep  # noqa: E402
from ior.experiments.store import ResultStore  # noqa: E402

#: Seconds per attacked example on this machine, one thread (query bound × wall/bound, T_d = 1).
OPT_EVALUATIONS = {"plateau": 9, "maxiter": 14}
PIERCING_WEIGHT = 0.5
TRAIN_SIZES = {"rt": 8250, "trec": 4907, "r8": 4936}


def attack_costs() -> dict:
    records = json.loads((ROOT / "bench/results/textattack_reference.json").read_text())
    costs = {}
    for r in records:
        if r.get("recipe") in ("deepwordbug", "pwws", "textfooler", "bae") and r.get("serve_temperature") == 1.0:
            costs[r["recipe"]] = r["query_bound_seconds"] * r["wall_over_query_bound"] / r["n"]
    return costs


def reference_cells(paths) -> tuple[list, list]:
    trains, audits = [], []
    for path in paths:
        with ResultStore(Path(path) / "runs.sqlite") as store:
            trains += store.cells("train")
            audits += store.cells("audit")
    return trains, audits


def per_step(trains) -> dict:
    """(method, grad_norm) -> median seconds per optimiser step; and -> epochs to each accuracy."""
    seconds, curves = {}, {}
    for cell in trains:
        train, metrics = cell["config"]["train"], cell["result"]["metrics"]
        steps = metrics["history"][-1]["step"]
        key = (train.get("method", "standard"), bool(train.get("grad_norm")))
        seconds.setdefault(key, []).append(cell["elapsed_seconds"] / steps)
        curves.setdefault(key, []).append([h["train_accuracy"] for h in metrics["history"]])
    return {k: statistics.median(v) for k, v in seconds.items()}, curves


def epochs_to(curves: list, accuracy: float) -> int | None:
    reached = [next((i + 1 for i, a in enumerate(c) if a >= accuracy), None) for c in curves]
    reached = [r for r in reached if r is not None]
    return max(reached) if reached else None


def audit_units(spec: dict, costs: dict) -> tuple[float, float]:
    """(attack runs, one ``opt`` evaluation × evaluations) of an audit, in attacked-example seconds."""
    settings = spec["audit"]
    n = settings.get("n_examples") or 200
    extra = len([p for p in spec["piercings"] if p not in ("none", "opt")])
    runs = n * sum(costs[a] for a in spec["attacks"]) * (1 + PIERCING_WEIGHT * extra)
    opt = 0.0
    if "opt" in spec["piercings"]:
        evaluations = spec.get("opt_evaluations") or OPT_EVALUATIONS[settings.get("opt_stop", "maxiter")]
        opt = settings.get("n_opt", 100) * costs[settings.get("opt_attack") or "deepwordbug"] * evaluations
    return runs, opt


def side(serve_temperature: float) -> str:
    return "one" if serve_temperature == 1 else "up" if serve_temperature < 1 else "down"


def fit_audits(audits, costs) -> tuple[float, dict, list]:
    """``k`` from the audits without opt, ``q`` per side of T_d = 1 from those with it (module docstring)."""
    measured = []
    for cell in audits:
        result = cell["result"]
        stages = next(iter(result["attacks"].values()))
        piercings = ["none", *[p for p in ("cal", "opt") if stages.get(p) is not None]]
        spec = {"audit": result["config"]["audit"], "attacks": list(result["attacks"]), "piercings": piercings,
                "opt_evaluations": len((result.get("opt") or {}).get("evaluations") or [])}
        measured.append((audit_units(spec, costs), cell_seconds(cell), side(result["serve_temperature"])))
    plain = [(runs, s) for (runs, opt), s, _ in measured if not opt]
    k = sum(u * s for u, s in plain) / sum(u * u for u, _ in plain)
    per_side = {}
    for (runs, opt), s, where in measured:
        if opt:
            per_side.setdefault(where, []).append((s - k * runs) / opt)
    overall = statistics.median([v for values in per_side.values() for v in values]) if per_side else k
    q = {where: statistics.median(per_side.get(where) or [overall]) for where in ("one", "up", "down")}
    fit = [{"side": where, "model_seconds": round(k * runs + q[where] * opt), "measured_seconds": round(s)}
           for (runs, opt), s, where in measured]
    return k, q, fit


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--reference", nargs="+", required=True, help="sweep output folders with runs.sqlite")
    parser.add_argument("--out", required=True)
    parser.add_argument("--step-scale", type=float, default=1.0,
                        help="multiply the references' seconds per training step (longer texts; from a pilot)")
    parser.add_argument("--attack-scale", type=float, default=1.0,
                        help="multiply the attacks' seconds per example (longer texts; from a pilot)")
    args = parser.parse_args(argv)
    if args.step_scale <= 0 or args.attack_scale <= 0:
        parser.error("--step-scale and --attack-scale must be positive")

    costs = attack_costs()
    trains, audits = reference_cells(args.reference)
    step_seconds, curves = per_step(trains)
    # k and q are fitted on the references' own costs; the scales apply to the cells estimated here.
    k, q, fit = fit_audits(audits, costs)
    step_seconds = {key: rate * args.step_scale for key, rate in step_seconds.items()}
    costs = {attack: seconds * args.attack_scale for attack, seconds in costs.items()}

    config = load_sweep_config(args.config)
    # Keys as `ior sweep` makes them: with the data's and the model's fingerprints (an unresolved plan
    # has other keys, and `ior report --estimate` matches cells by key).
    plan = plan_sweep(config, resolve_identities(config))
    rows, totals = [], {"cap": 0.0, "expected": 0.0}
    for cell in plan.cells:
        spec = cell.spec
        if cell.kind == "train":
            train = spec["train"]
            key = (train["method"], bool(train["grad_norm"]))
            n = min(train.get("max_train_examples") or math.inf, TRAIN_SIZES.get(spec["dataset"]["name"], math.inf))
            n = 2 * n if train["method"] == "dg-aug" else n
            steps_per_epoch = math.ceil(n / train["batch_size"])
            rate = step_seconds.get(key) or step_seconds.get((train["method"], False))
            cap = rate * steps_per_epoch * train["epochs"]
            stop = train.get("stop_train_accuracy")
            reached = epochs_to(curves.get(key, []), stop) if stop else None
            expected = rate * steps_per_epoch * min(train["epochs"], reached or train["epochs"])
            rows.append({"key": cell.key, "label": cell.label, "kind": "train", "cap_seconds": round(cap),
                         "expected_seconds": round(expected), "seconds_per_step": round(rate, 2),
                         "steps_per_epoch": steps_per_epoch, "epochs_cap": train["epochs"],
                         "expected_epochs": min(train["epochs"], reached or train["epochs"])})
        else:
            runs, opt = audit_units(spec, costs)
            seconds = k * runs + q[side(spec["serve_temperature"])] * opt
            cap = expected = seconds
            rows.append({"key": cell.key, "label": cell.label, "kind": "audit", "cap_seconds": round(seconds),
                         "expected_seconds": round(seconds), "attacks": spec["attacks"], "piercings": spec["piercings"]})
        totals["cap"] += cap
        totals["expected"] += expected
    result = {"config": args.config, "references": args.reference, "step_scale": args.step_scale,
              "attack_scale": args.attack_scale, "attack_seconds_per_example": costs,
              "audit_factor_k": k, "opt_factor_q_by_side": q, "audit_fit": fit,
              "seconds_per_step": {f"{m}{'*' if g else ''}": round(v, 2) for (m, g), v in step_seconds.items()},
              "cells": rows, "total_seconds": {k2: round(v) for k2, v in totals.items()},
              "total_hours": {k2: round(v / 3600, 1) for k2, v in totals.items()}}
    atomic_write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
    by_kind = {kind: sum(r["expected_seconds"] for r in rows if r["kind"] == kind) for kind in ("train", "audit")}
    print(f"{args.config}: {len(rows)} cells; expected {result['total_hours']['expected']} h of worker time "
          f"(training {by_kind['train'] / 3600:.1f} h, audits {by_kind['audit'] / 3600:.1f} h), "
          f"{result['total_hours']['cap']} h if nothing stops early; audit factor k = {k:.2f}, opt factor q "
          f"{', '.join(f'{w} {v:.2f}' for w, v in q.items())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
