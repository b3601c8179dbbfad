"""Our image attacks next to the Adversarial Robustness Toolbox's (ART 1.20.1), on the same victim and data.

Run from the repository root in our venv (ART installed into it, see ``bench/README.md``)::

    .venv/bin/python bench/art_crosscheck.py [--n 500] [--serve-temperature 1 0.01] \\
        [--attack pgd autoattack] [--json bench/results/art_crosscheck.json]

For every serving temperature T_d and attack, the first ``n`` test images are attacked twice:

* **ours**: ``ImageAttackSuite(ImageAttackConfig(epsilon=ε)).run(name, served, images, labels)``,
  where ``served`` is ``TemperatureScaled(classifier, T_d)`` (the classifier itself at T_d = 1);
* **ART**: ``PyTorchClassifier`` on the same differentiable module (the ``TemperatureScaledModule``
  dividing the float32 logits by T_d, or the plain network at T_d = 1), cross-entropy as its loss,
  clip values (0, 1); then ``ProjectedGradientDescent`` or ``AutoAttack``.

Both sides are scored alike: an image counts as robust when the served model classifies it correctly
and still does on the attack's output, re-scored with a fresh forward pass of the served model
(``served.logits``). ART's outputs are checked to lie in the L∞ ball of radius ε around their originals
and in [0, 1] (slack ``ior.attacks.image.RECHECK_TOLERANCE``); an output outside is counted and scored
as its original image, as our suite does with its own.

Settings
--------
PGD (both): L∞, ε, 20 steps of 2.5 ε / 20, one uniform random start, cross-entropy on ``logits / T_d``.
ART's ``ProjectedGradientDescent`` attacks every image it is given, ours only the correctly
classified ones, so ART is given only those (the same images on both sides).

AutoAttack: ours is standard AutoAttack assembled from torchattacks 3.5.1 (APGD-CE, APGD-T with the
targeted DLR loss over the 9 other classes, FAB-T, Square 5,000 queries; 100 iterations each). ART's
``AutoAttack`` is given ``attacks=[APGD-CE, APGD-DLR, Square]`` and ``targeted=True``:

* ``AutoProjectedGradientDescent`` with ``loss_type="cross_entropy"`` and with
  ``loss_type="difference_logits_ratio"``, ``max_iter=100``, ``nb_random_init=1``, ``eps_step=2ε``
  (APGD's initial step);
* ``SquareAttack`` with ``max_iter=5000``, ``p_init=0.8``, ``nb_restarts=1`` (its margin loss on
  logits is ART's default);
* ART's ``AutoAttack`` runs every attack of the list untargeted on the still-robust images, then,
  with ``targeted=True``, every attack again with each other class as target (in class order). So
  ART also runs untargeted APGD-DLR and targeted APGD-CE, which standard AutoAttack does not; its
  ``SquareAttack`` has no ``targeted`` parameter, so ART skips it in the targeted pass (logging a
  warning). ART has no FAB.

Every ART attack draws from the global ``numpy`` and ``torch`` generators, seeded with ``--seed``
before each run; ours seeds torchattacks with ``seed + batch``. One torch thread throughout.

Diagnostics (to explain differences, not to tune them away): PGD is repeated on both sides with
``--pgd-seeds`` seeds, giving each engine's spread over random starts and whether the images on which
the engines disagree are the ones a seed decides within one engine; and the correctly classified images
whose cross-entropy input gradient is zero are counted by our audit's diagnostic (a float32 L2 norm),
exactly (every entry 0), and by ART's ``loss_gradient``.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: one core only

import argparse
import importlib.util
import json
import logging
import platform
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DEFAULT_JSON = BENCH / "results" / "art_crosscheck.json"
ART_REQUIREMENT = "adversarial-robustness-toolbox==1.20.1"
ACCEPT_POINTS = 1.0  # |ours - ART| in adversarial accuracy, points
ACCEPT_N = 500

logger = logging.getLogger("art_crosscheck")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/cnn-fmnist")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--n", type=int, default=500, help="first n test images (default 500)")
    parser.add_argument("--serve-temperature", type=float, nargs="+", default=[1.0, 0.01])
    parser.add_argument("--attack", nargs="+", default=["pgd", "autoattack"], choices=["pgd", "autoattack"])
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pgd-seeds", type=int, default=10,
                        help="PGD is also repeated with seeds seed+1 .. seed+K-1 on both sides, to measure how much "
                             "the random start alone moves the numbers (default 10; 1 for none)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    if args.pgd_seeds < 1:
        parser.error(f"--pgd-seeds must be >= 1, got {args.pgd_seeds}")
    return args


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def robust_mask(served, adversarial, labels, clean_correct):
    """Robust per image: correct on the clean image and on ``adversarial`` (fresh forward pass)."""
    predictions = served.logits(adversarial).argmax(axis=1)
    return clean_correct & (predictions == labels)


def outside_ball(adversarial, original, epsilon, tolerance):
    """Per image: left the ε-ball (bool [N]), left [0, 1] or not finite (bool [N]), and ‖δ‖∞ (float [N])."""
    import numpy as np

    n = len(adversarial)
    flat, flat0 = adversarial.reshape(n, -1), original.reshape(n, -1)
    linf = np.abs(flat - flat0).max(axis=1)
    ball = linf > epsilon + tolerance
    box = (flat.min(axis=1) < -tolerance) | (flat.max(axis=1) > 1 + tolerance) | ~np.isfinite(flat).all(axis=1)
    return ball, box, linf


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# --------------------------------------------------------------------------------------------
# The two engines
# --------------------------------------------------------------------------------------------


def run_ours(name, served, images, labels, clean_correct, epsilon, seed):
    from ior.attacks.image import ImageAttackConfig, ImageAttackSuite

    suite = ImageAttackSuite(ImageAttackConfig(epsilon=epsilon, seed=seed), num_labels=10, progress=False)
    load = load_average()
    wall, cpu = time.perf_counter(), time.process_time()
    results = suite.run(name, served, images, labels)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    adversarial = suite.adversarial_inputs(results)
    robust = robust_mask(served, adversarial, labels, clean_correct)
    return robust, {"wall_s": wall, "cpu_s": cpu, "load_average_before": load, "load_average_after": load_average(),
                    "recheck_failures": suite.recheck_failures(results),
                    "mean_queries": float(sum(r.queries for r in results if r.queries) / max(clean_correct.sum(), 1)),
                    "hyperparameters": suite.hyperparameters(name)}


def art_classifier(module, input_shape, nb_classes):
    import torch
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=module, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(input_shape),
                             nb_classes=nb_classes, clip_values=(0.0, 1.0), device_type="cpu")


def build_art(name, classifier, epsilon, batch_size):
    """ART's attack ``name`` and the settings it was built with."""
    import numpy as np
    from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent, ProjectedGradientDescent, SquareAttack

    if name == "pgd":
        settings = {"attack": "ProjectedGradientDescent", "norm": "inf", "eps": epsilon, "eps_step": 2.5 * epsilon / 20,
                    "max_iter": 20, "num_random_init": 1, "batch_size": batch_size, "loss": "CrossEntropyLoss"}
        attack = ProjectedGradientDescent(classifier, norm=np.inf, eps=epsilon, eps_step=settings["eps_step"],
                                          max_iter=20, num_random_init=1, batch_size=batch_size, verbose=False)
        return attack, settings
    apgd = {"norm": np.inf, "eps": epsilon, "eps_step": 2 * epsilon, "max_iter": 100, "targeted": False,
            "nb_random_init": 1, "batch_size": batch_size, "verbose": False}
    parts = [AutoProjectedGradientDescent(classifier, loss_type="cross_entropy", **apgd),
             AutoProjectedGradientDescent(classifier, loss_type="difference_logits_ratio", **apgd),
             SquareAttack(classifier, norm=np.inf, max_iter=5000, eps=epsilon, p_init=0.8, nb_restarts=1,
                          batch_size=batch_size, verbose=False)]
    attack = AutoAttack(classifier, norm=np.inf, eps=epsilon, eps_step=2 * epsilon, attacks=parts,
                        batch_size=batch_size, targeted=True)
    settings = {"attack": "AutoAttack", "targeted": True, "norm": "inf", "eps": epsilon,
                "attacks": [{"attack": "AutoProjectedGradientDescent", "loss_type": "cross_entropy",
                             "max_iter": 100, "eps_step": 2 * epsilon, "nb_random_init": 1},
                            {"attack": "AutoProjectedGradientDescent", "loss_type": "difference_logits_ratio",
                             "max_iter": 100, "eps_step": 2 * epsilon, "nb_random_init": 1},
                            {"attack": "SquareAttack", "loss": "logit margin (ART default)", "max_iter": 5000,
                             "p_init": 0.8, "nb_restarts": 1}],
                "order": "each attack untargeted, then each attack targeted at every other class in class order "
                         "(SquareAttack skipped there: no targeted parameter)",
                "fab": "none in ART", "batch_size": batch_size}
    return attack, settings


def run_art(name, module, served, images, labels, clean_correct, epsilon, seed, tolerance):
    import numpy as np
    import torch

    classifier = art_classifier(module, images.shape[1:], 10)
    attack, settings = build_art(name, classifier, epsilon, batch_size=len(images))
    # PGD attacks whatever it is given; AutoAttack skips misclassified images itself.
    given = np.flatnonzero(clean_correct) if name == "pgd" else np.arange(len(images))
    x = np.array(images[given], dtype=np.float32)
    np.random.seed(seed)
    torch.manual_seed(seed)
    load = load_average()
    wall, cpu = time.perf_counter(), time.process_time()
    out = attack.generate(x=x, y=np.asarray(labels[given]))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    adversarial = np.array(images, dtype=np.float32)
    adversarial[given] = out.astype(np.float32)
    ball, box, linf = outside_ball(adversarial, images, epsilon, tolerance)
    adversarial[ball | box] = images[ball | box]
    robust = robust_mask(served, adversarial, labels, clean_correct)
    info = {"wall_s": wall, "cpu_s": cpu, "load_average_before": load, "load_average_after": load_average(),
            "images_given": int(len(given)), "outside_eps_ball": int(ball.sum()), "outside_0_1": int(box.sum()),
            "max_linf": float(linf.max()), "settings": settings}
    if name == "autoattack":
        # Index into the attacks list of the attack that broke each image (-1 robust, -2 misclassified);
        # ART records the list index, so untargeted and targeted runs of one attack share it.
        labels_of = {-2: "misclassified", -1: "robust", 0: "apgd-ce", 1: "apgd-dlr", 2: "square"}
        values, counts = np.unique(attack.best_attacks, return_counts=True)
        info["broken_by"] = {labels_of.get(int(v), str(v)): int(c) for v, c in zip(values, counts)}
    return robust, info


def seed_spread(served, module, images, labels, clean_correct, epsilon, seeds, tolerance, first):
    """PGD on both sides with several seeds: adversarial accuracy per seed, and per-example agreement
    of each engine with itself (seed 0 against the others) next to ours against ART."""
    import numpy as np

    robust = {"ours": [first[0]], "art": [first[1]]}
    for seed in seeds[1:]:
        robust["ours"].append(run_ours("pgd", served, images, labels, clean_correct, epsilon, seed)[0])
        robust["art"].append(run_art("pgd", module, served, images, labels, clean_correct, epsilon, seed,
                                     tolerance)[0])
    out = {"seeds": list(seeds)}
    for side in ("ours", "art"):
        out[f"adv_acc_{side}"] = [float(100 * r.mean()) for r in robust[side]]
        out[f"agreement_{side}_seed0_vs_other_seeds"] = [float((robust[side][0] == r).mean()) for r in robust[side][1:]]
        # images robust under some seeds and not others: decided by the random start alone
        stack = np.stack(robust[side])
        out[f"seed_dependent_images_{side}"] = int((stack.any(axis=0) & ~stack.all(axis=0)).sum())
    out["agreement_ours_vs_art_same_seed"] = [float((a == b).mean()) for a, b in zip(robust["ours"], robust["art"])]
    out["mean_adv_acc_ours"] = float(np.mean(out["adv_acc_ours"]))
    out["mean_adv_acc_art"] = float(np.mean(out["adv_acc_art"]))
    out["diff_points_of_means"] = out["mean_adv_acc_ours"] - out["mean_adv_acc_art"]
    # Are the images on which the engines disagree (first seed) the ones a seed decides within one engine?
    changes = {side: np.stack(r).any(axis=0) & ~np.stack(r).all(axis=0) for side, r in robust.items()}
    disagree = np.flatnonzero(first[0] != first[1])
    out["first_seed_disagreements"] = int(len(disagree))
    out["of_which_seed_dependent_in_ours_or_art"] = int((changes["ours"] | changes["art"])[disagree].sum())
    out["of_which_seed_dependent_in_ours"] = int(changes["ours"][disagree].sum())
    out["of_which_seed_dependent_in_art"] = int(changes["art"][disagree].sum())
    return out


def zero_gradient_counts(served, module, images, labels, clean_correct, epsilon) -> dict:
    """Correctly classified images whose cross-entropy input gradient is zero, counted three ways.

    ``ior_grad_norm_zero``: the audit's diagnostic (``input_gradient_norms``, a float32 L2 norm) is 0.
    ``exact_zero``: every entry of the gradient (CE summed over the batch) is exactly 0. The two differ:
    ``torch.linalg.vector_norm`` sums squares, so a gradient whose entries are all below ~3e-23 has a
    float32 L2 norm of 0 (the squares underflow), yet is not zero, and PGD's sign step moves on it. ``art_exact_zero``: the same test on ART's
    ``loss_gradient`` (CrossEntropyLoss, mean over the correct images, on the module's output).
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    from ior.attacks.image import ImageAttackConfig, ImageAttackSuite

    x, y = images[clean_correct], labels[clean_correct]
    norms = ImageAttackSuite(ImageAttackConfig(epsilon=epsilon), num_labels=10,
                             progress=False).input_gradient_norms(served, x, y)
    module.eval()
    x_t = torch.from_numpy(np.array(x)).requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(module(x_t).float(), torch.from_numpy(y), reduction="sum"), x_t)
    exact = grad.reshape(len(x), -1).abs().amax(dim=1) == 0
    art_grad = art_classifier(module, images.shape[1:], 10).loss_gradient(x, np.eye(10, dtype=np.float32)[y])
    art_exact = np.abs(art_grad.reshape(len(x), -1)).max(axis=1) == 0
    return {"ior_grad_norm_zero": int((norms == 0).sum()), "exact_zero": int(exact.sum()),
            "art_exact_zero": int(art_exact.sum()), "correct": int(clean_correct.sum())}


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def compare(robust_ours, robust_art, n):
    import numpy as np

    ours, art = 100 * robust_ours.mean(), 100 * robust_art.mean()
    diff = ours - art
    return {"adv_acc_ours": float(ours), "adv_acc_art": float(art), "diff_points": float(diff),
            "agreement": float((robust_ours == robust_art).mean()),
            "both_robust": int((robust_ours & robust_art).sum()), "neither_robust": int((~robust_ours & ~robust_art).sum()),
            "only_ours_robust": np.flatnonzero(robust_ours & ~robust_art).tolist(),
            "only_art_robust": np.flatnonzero(~robust_ours & robust_art).tolist(),
            "accepted": bool(abs(diff) <= ACCEPT_POINTS and n >= ACCEPT_N)}


def table(runs, header) -> str:
    lines = [header,
             f"{'attack':<11}{'T_d':>6}{'n':>5} | {'adv_acc ours':>12}{'ART':>8}{'diff':>7} | {'agree':>7} | "
             f"{'wall s ours':>11}{'ART':>9} | ok",
             "-" * 86]
    for r in runs:
        lines.append(f"{r['attack']:<11}{r['serve_temperature']:>6g}{r['n']:>5} | {r['adv_acc_ours']:>11.1f}%"
                     f"{r['adv_acc_art']:>7.1f}%{r['diff_points']:>+7.1f} | {100 * r['agreement']:>6.1f}% | "
                     f"{r['ours']['wall_s']:>11.1f}{r['art']['wall_s']:>9.1f} | {'yes' if r['accepted'] else 'NO'}")
    for r in runs:
        spread = r.get("pgd_seed_spread")
        if spread:
            fmt = lambda values: " ".join(f"{v:.1f}" for v in values)  # noqa: E731
            lines.append(f"pgd T_d={r['serve_temperature']:g}, seeds {spread['seeds']}: adv_acc ours "
                         f"[{fmt(spread['adv_acc_ours'])}], ART [{fmt(spread['adv_acc_art'])}]; mean diff "
                         f"{spread['diff_points_of_means']:+.2f}; seed-dependent images ours "
                         f"{spread['seed_dependent_images_ours']}, ART {spread['seed_dependent_images_art']}; "
                         f"of the {spread['first_seed_disagreements']} first-seed disagreements "
                         f"{spread['of_which_seed_dependent_in_ours_or_art']} are seed-dependent in ours or ART")
    for r in runs:
        extra = r["art"].get("broken_by")
        lines.append(f"{r['attack']} T_d={r['serve_temperature']:g}: clean {r['clean_accuracy']:.1f}%, zero CE gradient "
                     f"{r['zero_ce_gradient_correct_images']}; only ours robust {r['only_ours_robust']}, only ART "
                     f"robust {r['only_art_robust']}; ART outside eps/[0,1] {r['art']['outside_eps_ball']}/"
                     f"{r['art']['outside_0_1']}, max linf {r['art']['max_linf']:.6f}"
                     + (f"; ART broken by {extra}" if extra else ""))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("art") is None:
        print(f"ART is not installed. Install it into this venv with:\n"
              f"  {sys.executable} -m pip install -q --disable-pip-version-check {ART_REQUIREMENT}\n"
              f"(check first with --dry-run that it would not replace torch or numpy)", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("art").setLevel(logging.WARNING)

    import art
    import numpy as np
    import torch
    import torchattacks

    from ior.attacks.image import RECHECK_TOLERANCE, torch_module_of
    from ior.data.cache import atomic_write_text
    from ior.data.images import load_image_dataset
    from ior.models.image_classifier import ImageClassifier
    from ior.models.temperature import TemperatureScaled

    torch.set_num_threads(1)
    classifier = ImageClassifier.from_pretrained(args.model)
    data = load_image_dataset(args.dataset, "test")
    n = min(args.n, len(data.labels))
    images = np.array(data.images[:n], dtype=np.float32)
    labels = np.array(data.labels[:n], dtype=np.int64)
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "torchattacks": torchattacks.__version__, "art": art.__version__, "numpy": np.__version__}
    logger.info("model %s, %s test first %d, eps %g; %s", args.model, args.dataset, n, args.epsilon, versions)

    runs = []
    for temperature in args.serve_temperature:
        served = classifier if temperature == 1.0 else TemperatureScaled(classifier, temperature)
        module = torch_module_of(served)
        clean_correct = served.logits(images).argmax(axis=1) == labels
        zero = zero_gradient_counts(served, module, images, labels, clean_correct, args.epsilon)
        logger.info("T_d=%g: clean accuracy %.1f%%; correct images with a zero CE gradient: %s",
                    temperature, 100 * clean_correct.mean(), zero)
        for name in args.attack:
            logger.info("T_d=%g %s: ours", temperature, name)
            robust_ours, ours = run_ours(name, served, images, labels, clean_correct, args.epsilon, args.seed)
            logger.info("  ours %.1f%% in %.1f s; ART", 100 * robust_ours.mean(), ours["wall_s"])
            robust_art, art_info = run_art(name, module, served, images, labels, clean_correct, args.epsilon,
                                           args.seed, RECHECK_TOLERANCE)
            logger.info("  ART %.1f%% in %.1f s", 100 * robust_art.mean(), art_info["wall_s"])
            run = {"attack": name, "serve_temperature": temperature, "n": n,
                   "clean_accuracy": float(100 * clean_correct.mean()), "zero_ce_gradient_correct_images": zero,
                   **compare(robust_ours, robust_art, n), "ours": ours, "art": art_info}
            if name == "pgd" and args.pgd_seeds > 1:
                seeds = [args.seed + k for k in range(args.pgd_seeds)]
                logger.info("  PGD again with seeds %s", seeds[1:])
                run["pgd_seed_spread"] = seed_spread(served, module, images, labels, clean_correct, args.epsilon,
                                                     seeds, RECHECK_TOLERANCE, (robust_ours, robust_art))
            runs.append(run)

    header = (f"model {args.model}; {args.dataset} test, first {n}; L-inf eps {args.epsilon:g}; torch "
              f"{versions['torch']}, torchattacks {versions['torchattacks']}, ART {versions['art']}; one thread")
    report = {"settings": {"model": args.model, "weights_sha256": classifier.weights_hash, "dataset": args.dataset,
                           "split": "test", "n": n, "epsilon": args.epsilon, "seed": args.seed,
                           "serve_temperatures": args.serve_temperature, "attacks": args.attack, "torch_threads": 1,
                           "acceptance": f"|ours - ART| <= {ACCEPT_POINTS:g} points on >= {ACCEPT_N} images"},
              "versions": versions, "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
              "runs": runs}
    atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    print(table(runs, header))
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
