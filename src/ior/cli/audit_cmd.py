"""``ior audit``: served vs. ``cal`` vs. ``opt`` robustness, calibration and a verdict."""

from __future__ import annotations

import sys
import time

from ior.cli.common import (ATTACK_HELP, add_model_and_data, attack_suite, check_out_dir, dataset_provenance,
                            head, load_classifier, load_split, model_provenance, positive_float)

DESCRIPTION = """\
Audit a text classifier for an illusion of robustness (Raina et al., ACL 2024).

For each serving temperature T_d the model is served as logits/T_d and audited: clean accuracy,
mean confidence, confidence variance (Eq. 5), ECE/MCE; each attack runs on the served model (-),
after `cal` (temperature fitted by validation NLL) and after `opt` (temperature minimising
DeepWordBug adversarial accuracy on a validation subset, Brent over log T). Adversarial texts are
re-scored on the served model. IOR gap = served - min(cal, opt) in points with a paired-bootstrap
95% interval; "illusion of robustness" when gap > --gap-threshold and the interval excludes 0.

Writes OUT/report.json, OUT/report.md and OUT/examples.jsonl, and prints the table."""


def register(sub) -> None:
    import argparse

    p = sub.add_parser("audit", help="is the model's robustness genuine or an illusion?",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_and_data(p)
    p.add_argument("--serve-temperature", nargs="+", type=positive_float, default=[1.0], metavar="T",
                   help="one or more serving temperatures T_d (default 1)")
    p.add_argument("--names", nargs="+", default=None,
                   help="a name per serving temperature for the report (default T_d=...)")
    p.add_argument("--attack", nargs="+", default=["deepwordbug", "pwws"],
                   help=ATTACK_HELP + " (default: deepwordbug pwws)")
    p.add_argument("--val-split", default="validation", help="labelled split for cal and opt (default validation)")
    p.add_argument("--n-calibration", type=int, default=0,
                   help="validation examples used to fit cal (0 = all; default all)")
    p.add_argument("--n-opt", type=int, default=100,
                   help="validation examples attacked for every evaluation of Q(T) in opt (default 100)")
    p.add_argument("--opt-maxiter", type=int, default=10, help="Brent iterations for opt (default 10)")
    p.add_argument("--piercing", nargs="*", choices=["cal", "opt"], default=["cal", "opt"],
                   help="piercings to run (default: cal opt; none: served only)")
    p.add_argument("--gap-threshold", type=float, default=3.0, help="verdict threshold in points (default 3)")
    p.add_argument("--zeta-threshold", type=float, default=1e-4,
                   help="flag confidence variance below this (default 1e-4)")
    p.add_argument("--n-bootstrap", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--allow-probabilities", action="store_true",
                   help="audit a model whose outputs already sum to 1 (refused by default)")
    p.set_defaults(handler=run_audit)


def run_audit(args) -> int:
    from ior.attacks.suite import canonical_attack
    from ior.audit.config import AuditConfig
    from ior.audit.report import build_report, render_markdown, write_report
    from ior.audit.run import Auditor

    started = time.time()
    out = check_out_dir(args.out)
    names = args.names or [f"T_d={t:g}" for t in args.serve_temperature]
    if len(names) != len(args.serve_temperature):
        raise ValueError(f"--names gives {len(names)} names for {len(args.serve_temperature)} serving temperatures")
    attacks = tuple(dict.fromkeys(canonical_attack(a) for a in args.attack))
    configs = [AuditConfig(serve_temperature=t, attacks=attacks, n_examples=args.n_examples or None,
                           n_calibration=args.n_calibration or None, n_opt=args.n_opt,
                           opt_maxiter=args.opt_maxiter, piercings=tuple(args.piercing),
                           gap_threshold=args.gap_threshold, zeta_threshold=args.zeta_threshold,
                           n_bootstrap=args.n_bootstrap, seed=args.seed,
                           allow_probabilities=args.allow_probabilities)
               for t in args.serve_temperature]

    full_test, n_empty_test = load_split(args, args.split)
    test = head(full_test, args.n_examples)
    val, n_empty_val = load_split(args, args.val_split) if args.piercing else (test.head(0), 0)
    if args.piercing and val.fingerprint() == full_test.fingerprint():
        print("ior: warning: the validation split is the test split; cal/opt are fitted on test data",
              file=sys.stderr)
    classifier = load_classifier(args, test.num_labels)
    suite = attack_suite(args)

    audits = []
    for name, config in zip(names, configs):
        auditor = Auditor(classifier, suite, config, progress=not args.no_progress)
        audits.append(auditor.run(list(test.texts), list(test.labels), list(val.texts), list(val.labels),
                                  name=name))
    provenance = {
        "command": "ior audit",
        "audit_config": configs[0].to_dict() | {"serve_temperature": list(args.serve_temperature)},
        "seed": args.seed,
        "score": args.score,
        "model": model_provenance(args, classifier),
        "test": dataset_provenance(test, n_empty_test),
        "validation": dataset_provenance(val, n_empty_val) if args.piercing else None,
        "subset_sizes": {"test": len(test), "calibration": min(len(val), args.n_calibration or len(val)),
                         "opt": min(len(val), args.n_opt)},
        "recipes": {a: suite.hyperparameters(a) for a in attacks},
        "forward_passes": classifier.forward_count,
    }
    report = build_report(audits, provenance=provenance, elapsed_seconds=time.time() - started)
    examples = [e for a in audits for e in a.examples]
    json_path, md_path = write_report(report, out, examples=examples)
    markdown = render_markdown(report)
    print(markdown.split("\n## Provenance")[0].rstrip())
    print(f"\nwrote {json_path} and {md_path} ({report['elapsed_seconds']:.0f} s)")
    return 0
