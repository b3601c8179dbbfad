"""A whole audit (served + cal + opt) by ``ior`` against the same attack runs through TextAttack.

Run from the repository root in our venv::

    .venv/bin/python bench/audit_reference.py --model runs/minilm-rt-cpu --serve-temperature 0.01 \\
        [--attack pwws] [--n 200] [--n-opt 100]

An audit attacks the same texts many times at different temperatures: the test set as served,
after ``cal`` and after ``opt``, and the validation subset once per evaluation of ``opt``'s
objective Q(T) (DeepWordBug, the audit's default ``opt_attack``). A text's logits do not depend on
the temperature, so ``ior`` computes each text once per audit (``TextClassifier``'s exact-text
cache; the temperature is applied after it). TextAttack has no such cache across runs: each run
starts from nothing.

1. Ours: ``Auditor`` on a fresh ``TextClassifier`` (empty cache), wall and CPU time of
   ``Auditor.run``, which also fits ``cal`` on the whole validation split and re-scores every
   adversarial text with a fresh forward pass.
2. TextAttack: every attack run the audit made, one by one, at the audit's own temperatures
   (``T_d`` then the piercing temperature, divided in turn in float32 as ``ior`` does), through
   ``bench/textattack_worker.py``; the time is the sum of the attack loops only (imports and
   model loading excluded, which favours TextAttack).
3. Outcomes: per example on the three test runs (served, cal, opt); adversarial accuracy on every
   opt evaluation. Writes the ``{"recipe": "audit", ...}`` record into
   ``bench/results/textattack_reference.json`` (other records kept) and the raw runs to
   ``bench/results/textattack_reference/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import textattack_reference as ref  # noqa: E402  (bench sibling)


def run_our_audit(args, base, suite, test, val, runtime="torch") -> dict:
    import attack_speed

    from ior.audit.config import AuditConfig
    from ior.audit.run import Auditor
    from ior.models.onnx_runtime import with_runtime

    classifier = with_runtime(attack_speed.fresh_classifier(base), args.model, runtime, threads=args.threads)
    config = AuditConfig(serve_temperature=args.serve_temperature, attacks=(args.attack,), n_examples=len(test),
                         n_opt=args.n_opt, piercings=("cal", "opt"), seed=args.seed, n_bootstrap=1000)
    start, cpu_start = time.perf_counter(), time.process_time()
    audit = Auditor(classifier, suite, config, progress=False).run(
        list(test.texts), list(test.labels), list(val.texts), list(val.labels), name="bench")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    distinct = classifier.cached_texts()  # every text the audit ran through the network once
    bound = attack_speed.query_bound(attack_speed.fresh_classifier(base), distinct) if runtime == "torch" else None
    stages = {}
    for row in audit.examples:
        stages.setdefault(row["stage"], []).append(row)
    result = audit.attacks[args.attack]
    return {
        "runtime": runtime,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "network_texts": classifier.forward_count,
        "distinct_texts": len(distinct),
        "query_bound": bound,
        "cal_temperature": audit.calibration["cal_temperature"],
        "opt": audit.opt,
        "adv_acc": {stage: result[stage] for stage in ("served", "cal", "opt")},
        "queries": {stage: sum(r["queries"] for r in rows) for stage, rows in stages.items()},
        "outcomes": {stage: [r["outcome"] for r in sorted(rows, key=lambda r: r["index"])]
                     for stage, rows in stages.items()},
    }


def planned_runs(args, ours) -> list[dict]:
    """The attack runs the audit made, in its order: served, opt's evaluations, cal, opt."""
    t_d = args.serve_temperature
    runs = [{"stage": "served", "recipe": args.attack, "split": "test", "temperatures": [t_d]}]
    for e in ours["opt"]["evaluations"]:
        runs.append({"stage": f"opt T={e['temperature']:.6g}", "recipe": ours["opt"]["attack"], "split": "validation",
                     "temperatures": [t_d, e["temperature"]], "ours_adv_acc": e["adversarial_accuracy"]})
    runs.append({"stage": "cal", "recipe": args.attack, "split": "test", "temperatures": [t_d, ours["cal_temperature"]]})
    runs.append({"stage": "opt", "recipe": args.attack, "split": "test",
                 "temperatures": [t_d, ours["opt"]["temperature"]]})
    return runs


def run_textattack_runs(args, env, base, runs, examples) -> None:
    for run in runs:
        what = {k: run[k] for k in ("recipe", "split", "temperatures")}
        key = ref.fingerprint({"model": str(args.model), "run": what, "examples": examples[run["split"]]["fingerprint"],
                               "threads": args.threads})
        path = ref.RAW / f"audit-textattack-{run['recipe']}-{key}.json"
        if path.exists() and not args.rerun:
            run["textattack"] = json.loads(path.read_text())
        else:
            print(f"TextAttack: {run['recipe']} {run['stage']} on {run['split']} at T = {run['temperatures']}",
                  file=sys.stderr, flush=True)
            job = {"model": str(Path(args.model).resolve()), "max_length": base.max_length, "recipe": run["recipe"],
                   "serve_temperature": run["temperatures"], "threads": args.threads,
                   "examples": examples[run["split"]]["path"], "output": str(path)}
            run["textattack"] = ref.run_textattack(args.venv, env, job, path.with_suffix(".job"),
                                                   path.with_suffix(".log"))
            path.write_text(json.dumps(run["textattack"]) + "\n")


def runtime_summary(ours, other, ta_seconds, ta_cpu) -> dict:
    """Our audit searched with a faster runtime (``--runtime onnx``) next to the torch one: time, speed-up
    over torch and over TextAttack, and whether every counted outcome is the same."""
    same = {stage: other["outcomes"].get(stage) == outcomes for stage, outcomes in ours["outcomes"].items()}
    return {"seconds": other["seconds"], "cpu_seconds": other["cpu_seconds"],
            "speedup_over_torch": ours["seconds"] / other["seconds"],
            "speedup": ta_seconds / other["seconds"], "speedup_cpu": ta_cpu / other["cpu_seconds"],
            "adv_acc": other["adv_acc"], "opt_temperature": other["opt"]["temperature"],
            "same_outcomes": all(same.values()), "same_outcomes_by_stage": same}


def summarize(args, ours, runs, others=()) -> dict:
    def accuracy(records):
        return sum(r["outcome"] == "failed" for r in records) / len(records)

    agreement, ta_acc = {}, {}
    for run in runs:
        records = run["textattack"]["records"]
        ta_acc[run["stage"]] = accuracy(records)
        if run["split"] == "test":
            theirs = [r["outcome"] for r in records]
            mine = ours["outcomes"][run["stage"]]
            agreement[run["stage"]] = sum(a == b for a, b in zip(mine, theirs)) / len(mine)
    ta_seconds = sum(run["textattack"]["seconds"] for run in runs)
    ta_cpu = sum(run["textattack"]["cpu_seconds"] for run in runs)
    return {
        "recipe": "audit",
        "attack": args.attack,
        "opt_attack": ours["opt"]["attack"],
        "serve_temperature": args.serve_temperature,
        "n": args.n,
        "n_opt": args.n_opt,
        "runs": len(runs),
        "ours": {"adv_acc": ours["adv_acc"], "seconds": ours["seconds"], "cpu_seconds": ours["cpu_seconds"],
                 "queries": sum(ours["queries"].values()), "network_texts": ours["network_texts"],
                 "cal_temperature": ours["cal_temperature"], "opt_temperature": ours["opt"]["temperature"],
                 "opt_evaluations": ours["opt"]["evaluations"]},
        "textattack": {"adv_acc": {s: ta_acc[s] for s in ("served", "cal", "opt")}, "seconds": ta_seconds,
                       "cpu_seconds": ta_cpu,
                       "queries": sum(sum(r["queries"] for r in run["textattack"]["records"]) for run in runs),
                       "distinct_texts": sum(sum(r["distinct_texts"] for r in run["textattack"]["records"])
                                             for run in runs),
                       "opt_evaluations": [{"temperature": run["temperatures"][1], "adversarial_accuracy": ta_acc[
                           run["stage"]], "ours": run["ours_adv_acc"]} for run in runs if "ours_adv_acc" in run],
                       "versions": runs[0]["textattack"]["versions"]},
        "outcome_agreement": agreement,
        "speedup": ta_seconds / ours["seconds"],
        "speedup_cpu": ta_cpu / ours["cpu_seconds"],
        "query_bound_seconds": ours["query_bound"]["seconds"],
        "query_bound_cpu_seconds": ours["query_bound"]["cpu_seconds"],
        "threads": args.threads,
        "ours_runtimes": {other["runtime"]: runtime_summary(ours, other, ta_seconds, ta_cpu) for other in others},
    }


def format_summary(row) -> str:
    o, t = row["ours"], row["textattack"]
    lines = [f"audit of one model at T_d = {row['serve_temperature']:g}: {row['attack']} served/cal/opt on the first "
             f"{row['n']} rt test examples, opt = {row['opt_attack']} on {row['n_opt']} validation examples; "
             f"{row['runs']} attack runs",
             f"{'stage':<8} {'adv_acc ours':>12} {'TA':>7} {'same outcome':>13}"]
    for stage in ("served", "cal", "opt"):
        lines.append(f"{stage:<8} {100 * o['adv_acc'][stage]:>11.1f}% {100 * t['adv_acc'][stage]:>6.1f}% "
                     f"{100 * row['outcome_agreement'][stage]:>12.1f}%")
    lines.append("opt evaluations (T: Q ours / TA): " + ", ".join(
        f"{e['temperature']:.3g}: {100 * e['ours']:.0f}/{100 * e['adversarial_accuracy']:.0f}"
        for e in t["opt_evaluations"]))
    lines.append(f"wall s: ours {o['seconds']:.1f} (query bound {row['query_bound_seconds']:.1f}), TextAttack "
                 f"{t['seconds']:.1f} -> {row['speedup']:.2f}x; CPU s: ours {o['cpu_seconds']:.1f}, TextAttack "
                 f"{t['cpu_seconds']:.1f} -> {row['speedup_cpu']:.2f}x")
    lines.append(f"texts through the network: ours {o['network_texts']}, TextAttack {t['distinct_texts']} distinct "
                 f"per example per run ({t['queries']} as it counts queries)")
    for runtime, r in row.get("ours_runtimes", {}).items():
        lines.append(f"ours with --runtime {runtime}: {r['seconds']:.1f} s wall ({r['speedup_over_torch']:.2f}x torch), "
                     f"TextAttack {t['seconds']:.1f} -> {r['speedup']:.2f}x; CPU {r['speedup_cpu']:.2f}x; "
                     f"same outcomes as torch: {r['same_outcomes']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/minilm-rt-cpu")
    parser.add_argument("--serve-temperature", type=float, default=0.01)
    parser.add_argument("--attack", default="pwws", choices=["pwws", "deepwordbug"],
                        help="attack of the served/cal/opt test runs (pwws: deterministic, outcomes comparable)")
    parser.add_argument("--n", type=int, default=200, help="first N rt test examples (200)")
    parser.add_argument("--n-opt", type=int, default=100, help="validation examples per opt evaluation (100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--onnx", action="store_true",
                        help="also run our audit with --runtime onnx (export made before the clock starts)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in both engines (1)")
    parser.add_argument("--venv", type=Path, default=ref.DEFAULT_VENV)
    parser.add_argument("--rerun", action="store_true", help="ignore TextAttack raw results of earlier runs")
    parser.add_argument("--out", type=Path, default=ref.RESULTS / "textattack_reference.json")
    args = parser.parse_args(argv)

    ref.setup_venv(args.venv)
    env = ref.prepare_offline_data(args.venv)
    import torch

    torch.set_num_threads(args.threads)
    env["OMP_NUM_THREADS"] = str(args.threads)
    from ior.attacks.suite import TextAttackSuite
    from ior.data.loaders import load_text_dataset
    from ior.data.wordnet import load_wordnet
    from ior.models.victim import TextClassifier

    test = load_text_dataset("rt", "test").head(args.n)
    val = load_text_dataset("rt", "validation")
    base = TextClassifier.from_pretrained(args.model)
    ref.RAW.mkdir(parents=True, exist_ok=True)
    examples = {}
    for split, data in (("test", test), ("validation", val.head(args.n_opt))):
        path = ref.RAW / f"audit-examples-{split}-{data.fingerprint()[:16]}.json"
        path.write_text(json.dumps({"texts": list(data.texts), "labels": [int(y) for y in data.labels]}))
        examples[split] = {"path": str(path), "fingerprint": data.fingerprint()}

    suite = TextAttackSuite(wordnet=load_wordnet(), seed=args.seed, progress=False)
    print(f"ours: auditing {args.model} at T_d = {args.serve_temperature:g}", file=sys.stderr, flush=True)
    ours = run_our_audit(args, base, suite, test, val)
    others = []
    if args.onnx:
        print("ours: the same audit with --runtime onnx", file=sys.stderr, flush=True)
        fresh_suite = TextAttackSuite(wordnet=load_wordnet(), seed=args.seed, progress=False)  # no warm caches
        others.append(run_our_audit(args, base, fresh_suite, test, val, runtime="onnx"))
    runs = planned_runs(args, ours)
    run_textattack_runs(args, env, base, runs, examples)
    row = summarize(args, ours, runs, others)
    print(format_summary(row))

    ref.merge_rows(args.out, [row])
    return 0


if __name__ == "__main__":
    sys.exit(main())
