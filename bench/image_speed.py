"""What our image attack run costs over the torchattacks call it wraps.

For each attack, the same images, budgets and seed: (a) the torchattacks attack called directly on
the images the model classifies correctly (what a careful user writes: AutoAttack attacks only
those), and (b) one attack run of the audit, ``Auditor._attack``: our suite's batching, the ε-ball
and [0, 1] re-check of every output, the per-example results and the re-scoring of every
adversarial image on the served model with a fresh forward pass. Wall time, median of ``--repeats``
runs, one torch thread. A benchmark, not a test: run it alone on the machine.

    .venv/bin/python bench/image_speed.py --model runs/cnn-fmnist --n 1000 \
        --attack pgd apgd-dlr square autoattack --json bench/results/image_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def direct(suite, name, module, x, y) -> float:
    """Seconds of the bare torchattacks call on the correctly classified images."""
    attack = suite.build(name, module)
    with torch.no_grad():
        correct = module(x).argmax(1) == y
    xs, ys = x[correct], y[correct]
    started = time.perf_counter()
    for lo in range(0, len(xs), suite.config.batch_size):
        torch.manual_seed(suite.config.seed + lo // suite.config.batch_size)
        attack(xs[lo:lo + suite.config.batch_size], ys[lo:lo + suite.config.batch_size])
    return time.perf_counter() - started


def ours(auditor, name, images, labels, clean_correct) -> tuple[float, float]:
    started = time.perf_counter()
    run = auditor._attack(name, auditor.served, images, labels, clean_correct, "served")
    return time.perf_counter() - started, run.accuracy


def main(argv=None) -> int:
    from ior.attacks.image import ImageAttackConfig, ImageAttackSuite
    from ior.audit.config import AuditConfig
    from ior.audit.run import Auditor
    from ior.data.images import load_image_dataset
    from ior.models.image_classifier import ImageClassifier

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="runs/cnn-fmnist")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--epsilon", type=float, default=0.1)
    p.add_argument("--attack", nargs="+", default=["pgd", "apgd-dlr", "square", "autoattack"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    test = load_image_dataset(args.dataset, "test").head(args.n)
    classifier = ImageClassifier.from_pretrained(args.model)
    suite = ImageAttackSuite(ImageAttackConfig(epsilon=args.epsilon), num_labels=classifier.num_labels, progress=False)
    auditor = Auditor(classifier, suite, AuditConfig(attacks=tuple(args.attack)), progress=False)
    images, labels = test.images, np.asarray(test.labels)
    clean_correct = classifier.logits(images).argmax(1) == labels
    x, y = torch.from_numpy(np.array(images)), torch.from_numpy(np.array(labels))
    module = classifier.torch_module.eval()
    rows = []
    for name in args.attack:
        direct_s, ours_s, accuracy = [], [], None
        for _ in range(args.repeats):
            direct_s.append(direct(suite, name, module, x, y))
            seconds, accuracy = ours(auditor, name, images, labels, clean_correct)
            ours_s.append(seconds)
        row = {"attack": name, "direct_seconds": direct_s, "ours_seconds": ours_s,
               "direct_median": statistics.median(direct_s), "ours_median": statistics.median(ours_s),
               "ratio": statistics.median(ours_s) / statistics.median(direct_s), "adversarial_accuracy": accuracy}
        rows.append(row)
        print(f"{name:12s} direct {row['direct_median']:8.2f} s   ours {row['ours_median']:8.2f} s   "
              f"ratio {row['ratio']:.3f}   adversarial accuracy {100 * accuracy:.1f}%", flush=True)
    if args.json:
        import torchattacks

        payload = {"model": args.model, "dataset": args.dataset, "n": len(test), "n_attacked": int(clean_correct.sum()),
                   "epsilon": args.epsilon, "repeats": args.repeats, "threads": 1, "rows": rows,
                   "versions": {"torch": torch.__version__, "torchattacks": torchattacks.__version__,
                                "python": platform.python_version()},
                   "load_average_at_end": os.getloadavg()}
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=out.parent, delete=False, suffix=".tmp") as handle:
            json.dump(payload, handle, indent=2)
        os.replace(handle.name, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
