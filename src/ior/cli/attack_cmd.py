"""``ior attack``: run attacks on a served model and keep every example."""

from __future__ import annotations

import json
import time

from ior.cli.common import (ATTACK_HELP, add_model_and_data, attack_suite, check_out_dir, dataset_provenance,
                            head, load_classifier, load_split, model_provenance, positive_float)


def register(sub) -> None:
    p = sub.add_parser(
        "attack", help="attack a served model with one or more recipes",
        description="Attack a classifier served at --serve-temperature (logits/T_d), optionally through an "
                    "attacker's temperature --attack-temperature (the attack sees logits/(T_d*T_a); results "
                    "are scored on the served model). Writes OUT/<attack>.jsonl (every example) and "
                    "OUT/summary.json, and prints clean accuracy, adversarial accuracy, success rate, mean "
                    "queries and mean confidence on clean and adversarial text.")
    add_model_and_data(p)
    p.add_argument("--attack", nargs="+", default=["deepwordbug"],
                   help=ATTACK_HELP + " (default: deepwordbug)")
    p.add_argument("--serve-temperature", type=positive_float, default=1.0, metavar="T_d",
                   help="serving temperature (default 1)")
    p.add_argument("--attack-temperature", type=positive_float, default=1.0, metavar="T_a",
                   help="temperature the attacker applies on top of the served logits (default 1)")
    p.set_defaults(handler=run_attack)


def run_attack(args) -> int:
    from ior.attacks.results import summarize
    from ior.attacks.suite import canonical_attack
    from ior.audit.run import fresh_logits
    from ior.data.cache import atomic_write_text
    from ior.models.temperature import serve

    from ior.modality import modality_for

    if modality_for("auto", dataset=args.dataset, model=args.model) == "image":
        raise ValueError("ior attack runs text attacks; for images use `ior audit --piercing` (served only) "
                         "or `--piercing cal opt`, which attacks and re-scores every image")
    started = time.time()
    out = check_out_dir(args.out)
    attacks = list(dict.fromkeys(canonical_attack(a) for a in args.attack))
    suite = attack_suite(args)
    suite.check_resources(attacks)  # a resource that was never built fails now, not after other attacks ran
    data, n_empty = load_split(args, args.split)
    data = head(data, args.n_examples)
    classifier = load_classifier(args, data.num_labels)
    served = serve(classifier, args.serve_temperature)
    attacked_model = serve(served, args.attack_temperature)

    outputs, summaries = {}, {}
    for name in attacks:
        results = suite.run(name, attacked_model, data.texts, data.labels, desc=name)
        rescored = fresh_logits(served, suite.adversarial_inputs(results)).argmax(axis=1)
        rows = [dict(r.to_dict(), rescored_prediction=int(p)) for r, p in zip(results, rescored)]
        outputs[name] = "".join(json.dumps(row) + "\n" for row in rows)
        summary = summarize(results).to_dict()
        summary["adversarial_accuracy_rescored"] = float(
            sum(r.original_prediction == r.label and p == r.label for r, p in zip(results, rescored)) / len(results))
        summaries[name] = summary
    payload = {"attacks": summaries, "serve_temperature": args.serve_temperature,
               "attack_temperature": args.attack_temperature, "seed": args.seed, "score": args.score,
               "model": model_provenance(args, classifier), "dataset": dataset_provenance(data, n_empty),
               "recipes": {a: suite.hyperparameters(a) for a in attacks},
               "elapsed_seconds": time.time() - started}
    out.mkdir(parents=True, exist_ok=True)
    for name, text in outputs.items():
        atomic_write_text(out / f"{name}.jsonl", text)
    atomic_write_text(out / "summary.json", json.dumps(payload, indent=2, default=str))

    print(f"{'attack':<12} {'clean':>7} {'adv':>7} {'success':>8} {'queries':>8} {'conf clean':>11} {'conf adv':>9}")
    for name, s in summaries.items():
        print(f"{name:<12} {100 * s['clean_accuracy']:>6.1f}% {100 * s['adversarial_accuracy_rescored']:>6.1f}% "
              f"{100 * s['attack_success_rate']:>7.1f}% {s['mean_queries']:>8.1f} "
              f"{100 * s['mean_confidence_clean']:>10.2f}% {100 * s['mean_confidence_adversarial']:>8.2f}%")
    print(f"wrote {out}/summary.json ({payload['elapsed_seconds']:.0f} s)")
    return 0
