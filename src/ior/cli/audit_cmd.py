"""``ior audit``: served vs. ``cal`` vs. ``opt`` robustness, calibration and a verdict."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from ior.cli.common import (ATTACK_HELP, IMAGE_ATTACK_HELP, add_image_attack_arguments, add_model_and_data,
                            attack_suite, check_out_dir, dataset_provenance, head, load_classifier, load_split,
                            model_provenance, positive_float)

DESCRIPTION = """\
Audit a text or image classifier for an illusion of robustness (Raina et al., ACL 2024).

For each serving temperature T_d the model is served as logits/T_d and audited: clean accuracy,
mean confidence, confidence variance (Eq. 5), ECE/MCE, and the input gradients the attacks see
(share exactly 0 in float32); each attack runs on the served model (-), after `cal` (temperature
fitted by validation NLL) and after `opt` (temperature minimising adversarial accuracy on a
validation subset, Brent over log T; Q(T) is DeepWordBug for text, PGD for images). Adversarial
inputs are re-scored on the served model. IOR gap = served - min(cal, opt) in points with a
paired-bootstrap 95% interval; "illusion of robustness" when gap > --gap-threshold and the
interval excludes 0. Beside it, AutoAttack's rule: robust only if an example survives every run.

Text: --dataset rt or a text file/folder, a Hugging Face sequence classifier.
Images: --dataset fashion-mnist, mnist, cifar10-samples, a CIFAR-10/100, TinyImageNet, image-folder
or .npz path, and a model trained by `ior train --dataset ... --arch ...` (chosen automatically;
--modality forces it).

Writes OUT/report.json, OUT/report.md, OUT/report.html (verdicts, reliability diagrams, Q(T) of opt,
the adversarial examples with changed words highlighted; one self-contained file) and
OUT/examples.jsonl, and prints the table. A stopped audit resumes: each attack run is kept in
OUT/.partial as it finishes (until the report is written), and the same command run again loads
those runs instead of attacking again (a changed model or setting starts afresh).

Exit status: 0 audited; 2 bad input (nothing written); 3 a --fail-on condition tripped (the
report is written first), for CI:  ior audit ... --fail-on illusion"""


def register(sub) -> None:
    import argparse

    p = sub.add_parser("audit", help="is the model's robustness genuine or an illusion?",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_and_data(p)
    p.add_argument("--serve-temperature", nargs="+", type=positive_float, default=[1.0], metavar="T",
                   help="one or more serving temperatures T_d (default 1)")
    p.add_argument("--names", nargs="+", default=None,
                   help="a name per serving temperature for the report (default T_d=...)")
    p.add_argument("--attack", nargs="+", default=None,
                   help=ATTACK_HELP + " (default: deepwordbug pwws); images: " + IMAGE_ATTACK_HELP +
                   " (default: pgd apgd-dlr)")
    p.add_argument("--val-split", default="validation", help="labelled split for cal and opt (default validation)")
    p.add_argument("--n-calibration", type=int, default=0,
                   help="validation examples used to fit cal (0 = all; default all)")
    p.add_argument("--n-opt", type=int, default=100,
                   help="validation examples attacked for every evaluation of Q(T) in opt (default 100)")
    p.add_argument("--opt-maxiter", type=int, default=10, help="Brent iterations for opt (default 10)")
    p.add_argument("--opt-stop", choices=["plateau", "maxiter"], default="plateau",
                   help="plateau (default): end opt once Q(T) reaches 0, or once three evaluations, neighbours no "
                        "more than a decade of T apart, share its lowest value across at least a decade (a flat "
                        "minimum; see README); maxiter: the paper's full search")
    p.add_argument("--piercing", nargs="*", choices=["cal", "opt", "platt", "transfer"], default=["cal", "opt"],
                   help="piercings to run (default: cal opt; none: served only). platt: matrix scaling fitted on "
                        "validation by NLL (paper Table 19); transfer: examples crafted on the --transfer-from "
                        "model, counted on this one (Table 15)")
    p.add_argument("--transfer-from", default=None, metavar="DIR",
                   help="the reference model transfer crafts its examples on, served at T = 1 (the paper's standard "
                        "baseline); same classes and modality as --model")
    p.add_argument("--platt-kind", choices=["matrix", "vector"], default="matrix",
                   help="platt's map: a full C×C matrix W and bias b (default), or a diagonal W")
    p.add_argument("--gap-threshold", type=float, default=3.0, help="verdict threshold in points (default 3)")
    p.add_argument("--zeta-threshold", type=float, default=1e-4,
                   help="flag confidence variance below this (default 1e-4)")
    p.add_argument("--n-bootstrap", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--allow-probabilities", action="store_true",
                   help="audit a model whose outputs already sum to 1 (refused by default)")
    p.add_argument("--fail-on", nargs="+", type=_fail_on, default=[], metavar="COND",
                   help="exit with status 3 after writing the report when a condition holds: 'illusion' "
                        "(any verdict is an illusion of robustness) or 'gap>X' (any IOR gap above X points "
                        "with a 95%% interval excluding 0, whatever --gap-threshold says)")
    scale = p.add_argument_group("scale (outcomes identical to one process, example by example)")
    scale.add_argument("--workers", type=int, default=1,
                       help="split every attack run's examples over N worker processes with one torch thread "
                            "each (default 1: this process); cal and opt are computed once, here")
    scale.add_argument("--executor", choices=["local", "ray"], default="local",
                       help="local (default): processes on this machine; ray: Ray actors")
    scale.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                       help="text: run the attacks' forward passes in ONNX Runtime (exported once, cached beside the "
                            "weights); every counted outcome is still decided by the torch model (default torch)")
    scale.add_argument("--address", default=None,
                       help="Ray cluster to join (auto, HOST:6379, ray://HOST:10001); default a local Ray. Every "
                            "node needs ior installed and the model, data and resources at the same paths")
    add_image_attack_arguments(p)
    p.set_defaults(handler=run_audit)


def _fail_on(text: str):
    import argparse

    from ior.audit.gate import parse_fail_on

    try:
        return parse_fail_on(text)
    except ValueError as exc:  # argparse shows only an ArgumentTypeError's message
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--fail-on ")) from None


def run_audit(args) -> int:
    from ior.audit.checkpoint import CHECKPOINT_DIR, AuditCheckpoint
    from ior.audit.config import AuditConfig
    from ior.audit.report import build_report, render_markdown, write_report
    from ior.audit.run import Auditor
    from ior.modality import modality_for

    started = time.time()
    out = check_out_dir(args.out)
    names = args.names or [f"T_d={t:g}" for t in args.serve_temperature]
    if len(names) != len(args.serve_temperature):
        raise ValueError(f"--names gives {len(names)} names for {len(args.serve_temperature)} serving temperatures")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.address is not None and args.executor != "ray":
        raise ValueError("--address needs --executor ray")
    if ("transfer" in args.piercing) != (args.transfer_from is not None):
        raise ValueError("--piercing transfer and --transfer-from go together: name the reference model to "
                         "craft examples on" if "transfer" in args.piercing else
                         "--transfer-from is used by --piercing transfer only; add it to --piercing")
    modality = modality_for(args.modality, dataset=args.dataset, model=args.model)
    setup = _image_setup(args) if modality == "image" else _text_setup(args)
    attacks = setup["attacks"]
    configs = [AuditConfig(serve_temperature=t, attacks=attacks, n_examples=args.n_examples or None,
                           n_calibration=args.n_calibration or None, n_opt=args.n_opt,
                           opt_maxiter=args.opt_maxiter, opt_stop=args.opt_stop, piercings=tuple(args.piercing),
                           platt_kind=args.platt_kind,
                           gap_threshold=args.gap_threshold, zeta_threshold=args.zeta_threshold,
                           n_bootstrap=args.n_bootstrap, seed=args.seed,
                           allow_probabilities=args.allow_probabilities)
               for t in args.serve_temperature]
    classifier, suite, test, val = setup["classifier"], setup["suite"], setup["test"], setup["val"]
    sharded = None
    if args.workers > 1 or args.executor == "ray":
        from ior.audit.sharding import ShardedSuite

        sharded = ShardedSuite(suite, classifier, model_recipe=setup["model_recipe"],
                               suite_recipe=setup["suite_recipe"], workers=args.workers, executor=args.executor,
                               address=args.address, progress=not args.no_progress)
    audits, checkpoints = [], []
    reference = setup.get("reference")
    try:
        for i, (name, config) in enumerate(zip(names, configs)):
            checkpoint = AuditCheckpoint(out / CHECKPOINT_DIR / f"{i}", {
                "name": name, "config": config.to_dict(), "model_weights_sha256": classifier.weights_hash,
                "reference_weights_sha256": getattr(reference, "weights_hash", None), "runtime": args.runtime})
            if any(checkpoint.folder.glob("*.npz")):
                print(f"ior: {name}: resuming from the attack runs a stopped audit finished ({checkpoint.folder})",
                      file=sys.stderr)
            checkpoints.append(checkpoint)
            auditor = Auditor(classifier, sharded or suite, config, progress=not args.no_progress,
                              reference=reference, checkpoint=checkpoint)
            audits.append(auditor.run(setup["test_inputs"], setup["test_labels"], setup["val_inputs"],
                                      setup["val_labels"], name=name))
    finally:
        if sharded is not None:
            sharded.close()
    provenance = {
        "command": "ior audit",
        "modality": modality,
        "audit_config": configs[0].to_dict() | {"serve_temperature": list(args.serve_temperature),
                                                "opt_attack": auditor.opt_attack},
        "seed": args.seed,
        **setup["provenance"],
        "subset_sizes": {"test": len(test), "calibration": min(len(val), args.n_calibration or len(val)),
                         "opt": min(len(val), args.n_opt)},
        "recipes": {a: suite.hyperparameters(a) for a in attacks},
        "forward_passes": classifier.forward_count + (sharded.worker_forward_passes if sharded else 0),
        "workers": {"n": args.workers, "executor": args.executor} if sharded else {"n": 1, "executor": "this process"},
        "runtime": {"search": args.runtime, "counted": "torch"},
    }
    report = build_report(audits, provenance=provenance, elapsed_seconds=time.time() - started)
    examples = [e for a in audits for e in a.examples]
    json_path, md_path = write_report(report, out, examples=examples)
    shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)  # the report holds everything they held
    markdown = render_markdown(report)
    print(markdown.split("\n## Provenance")[0].rstrip())
    print(f"\nwrote {json_path}, {md_path}, {md_path.with_suffix('.html')} and {json_path.parent / 'examples.jsonl'} "
          f"({report['elapsed_seconds']:.0f} s)")
    return _gate(report, args.fail_on)


def _gate(report: dict, conditions) -> int:
    from ior.audit.gate import EXIT_GATE, gate

    reasons = gate(report, conditions)
    if not reasons:
        return 0
    print(f"ior: audit failed --fail-on {' '.join(c.text for c in conditions)}: " + "; ".join(reasons),
          file=sys.stderr)
    return EXIT_GATE


def _text_setup(args) -> dict:
    from ior.attacks.suite import canonical_attack

    attacks = tuple(dict.fromkeys(canonical_attack(a) for a in args.attack or ("deepwordbug", "pwws")))
    suite = attack_suite(args)
    suite.check_resources(attacks)  # a resource that was never built fails now, not after other attacks ran
    full_test, n_empty_test = load_split(args, args.split)
    test = head(full_test, args.n_examples)
    val, n_empty_val = load_split(args, args.val_split) if args.piercing else (test.head(0), 0)
    if args.piercing and val.fingerprint() == full_test.fingerprint():
        print("ior: warning: the validation split is the test split; cal/opt are fitted on test data",
              file=sys.stderr)
    from ior.audit.sharding import Recipe
    from ior.cli.common import text_suite_options

    classifier = load_classifier(args, test.num_labels)
    if args.runtime != "torch":
        from ior.models.onnx_runtime import with_runtime

        classifier = with_runtime(classifier, args.model, args.runtime)
    reference = None
    if args.transfer_from is not None:
        reference = load_classifier(argparse.Namespace(**dict(vars(args), model=args.transfer_from)), test.num_labels)
    model_recipe = Recipe("ior.models.onnx_runtime:load_text_classifier",
                          {"path": str(args.model), "max_length": classifier.max_length, "batch_size": args.batch_size,
                           "runtime": args.runtime, "threads": 1})
    suite_recipe = Recipe("ior.cli.common:text_suite", dict(text_suite_options(args), progress=False))
    return {"attacks": attacks, "classifier": classifier, "suite": suite, "test": test, "val": val,
            "model_recipe": model_recipe, "suite_recipe": suite_recipe, "reference": reference,
            "test_inputs": list(test.texts), "test_labels": list(test.labels),
            "val_inputs": list(val.texts), "val_labels": list(val.labels),
            "provenance": {"score": args.score, "model": model_provenance(args, classifier),
                           "transfer_reference": None if reference is None else model_provenance(
                               argparse.Namespace(model=args.transfer_from), reference),
                           "test": dataset_provenance(test, n_empty_test),
                           "validation": dataset_provenance(val, n_empty_val) if args.piercing else None}}


def _image_setup(args) -> dict:
    from ior.modality import image_attack_suite, load_image_classifier, load_image_split

    if args.runtime != "torch":
        raise ValueError("--runtime onnx applies to text classifiers only")
    full_test = load_image_split(args.dataset, args.split, model=args.model)
    test = head(full_test, args.n_examples)
    val = load_image_split(args.dataset, args.val_split, model=args.model) if args.piercing else test.head(0)
    if args.piercing and val.fingerprint() == full_test.fingerprint():
        print("ior: warning: the validation split is the test split; cal/opt are fitted on test data",
              file=sys.stderr)
    classifier = load_image_classifier(args.model, num_labels=test.num_labels, batch_size=args.batch_size)
    reference = None if args.transfer_from is None else load_image_classifier(
        args.transfer_from, num_labels=test.num_labels, batch_size=args.batch_size)
    from ior.audit.sharding import Recipe

    suite_options = dict(dataset_name=test.name, input_shape=tuple(test.images.shape[1:]), num_labels=test.num_labels,
                         epsilon=args.epsilon, pgd_steps=args.pgd_steps, pgd_step_size=args.pgd_step_size,
                         apgd_steps=args.apgd_steps, square_queries=args.square_queries,
                         batch_size=args.attack_batch_size, seed=args.seed)
    suite = image_attack_suite(**suite_options, progress=not args.no_progress)
    attacks = tuple(dict.fromkeys(suite.canonical(a) for a in args.attack or ("pgd", "apgd-dlr")))
    model_info = {"path": str(args.model), "weights_sha256": classifier.weights_hash,
                  "num_labels": classifier.num_labels, "ior_config": json.loads(
                      (Path(args.model) / "ior_config.json").read_text())}
    return {"attacks": attacks, "classifier": classifier, "suite": suite, "test": test, "val": val,
            "model_recipe": Recipe("ior.modality:load_image_classifier", {"model": str(args.model),
                                   "num_labels": test.num_labels, "batch_size": args.batch_size}),
            "suite_recipe": Recipe("ior.modality:image_attack_suite", dict(suite_options, progress=False)),
            "reference": reference,
            "test_inputs": test.images, "test_labels": test.labels, "val_inputs": val.images,
            "val_labels": val.labels,
            "provenance": {"model": model_info, "attack_config": suite.config.to_dict(),
                           "transfer_reference": None if reference is None else {
                               "path": str(args.transfer_from), "weights_sha256": reference.weights_hash},
                           "test": dataset_provenance(test, 0),
                           "validation": dataset_provenance(val, 0) if args.piercing else None}}
