"""dg-aug: training data augmented with DeepWordBug adversarial examples of a standard model.

The paper's dg-aug baseline attacks a standard (non-adversarially trained) model with DeepWordBug
(Gao et al. 2018) on the training set, adds the adversarial examples with their original labels,
and trains a fresh model for twice the training steps.

What we do: every training example is attacked (``ior.attacks.recipes.DeepWordBugGao2018``,
default settings, seeded per example) and contributes a second example with its label: the
adversarial text when the attack succeeds, the original text when it fails or is skipped (the
model already misclassifies it). The training set therefore doubles, and the same number of epochs
gives exactly twice the optimiser steps. Keeping only successful attacks would give fewer than twice
the steps, and training longer on a smaller set would re-weight the originals; the duplicate of a
robust example is what TextAttack's attack output (the original text for a failed attack) gives.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

from ior.attacks.recipes import DeepWordBugGao2018
from ior.attacks.results import Outcome
from ior.models.victim import TextClassifier
from ior.training.trainer import trained_config

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Augmentation:
    """The augmented training set and where it came from.

    Attributes
    ----------
    texts, labels : tuple
        Originals first, then one DeepWordBug output per original, in the same order.
    summary : dict
        Counts of succeeded/failed/skipped attacks, the source model and its weights hash.
    """

    texts: tuple[str, ...]
    labels: tuple[int, ...]
    summary: dict


def deepwordbug_augment(texts, labels, source, *, seed: int = 0, progress: bool = False) -> Augmentation:
    """Double a training set with DeepWordBug outputs of the standard model ``source``.

    Parameters
    ----------
    texts, labels : sequences
        The training examples.
    source : str, Path or victim
        A trained standard model folder (written by ``ior train``), or a loaded victim (anything
        with ``num_labels`` and ``logits(texts)``, e.g. a :class:`ior.models.victim.TextClassifier`).
    seed : int
        Seed of the attack's random character edits.
    """
    texts, labels = list(texts), [int(y) for y in labels]
    if callable(getattr(source, "logits", None)):
        classifier = source
    else:
        try:
            classifier = TextClassifier.from_pretrained(source, cache=False)
        except ValueError as exc:
            raise ValueError(f"augment_from: {exc}") from None
        method = ((trained_config(source) or {}).get("train") or {}).get("method", "standard")
        if method != "standard":
            warnings.warn(f"augment_from {str(source)!r} was trained with method {method!r}; dg-aug attacks a "
                          "standard model", stacklevel=2)
    attack = DeepWordBugGao2018.build(classifier, seed=seed)
    results = attack.attack_dataset(texts, labels, progress=progress, desc="dg-aug")
    extra = [r.adversarial_text if r.outcome is Outcome.SUCCEEDED else r.original_text for r in results]
    counts = {outcome.value: sum(r.outcome is outcome for r in results) for outcome in Outcome}
    summary = {
        "source_model": str(getattr(classifier, "name", type(classifier).__name__)),
        "source_weights_sha256": getattr(classifier, "weights_hash", None),
        "attack": "deepwordbug",
        "seed": seed,
        "n_original": len(texts),
        "n_adversarial": counts["succeeded"],
        "n_failed": counts["failed"],
        "n_skipped": counts["skipped"],
    }
    logger.info("dg-aug: %d of %d training examples have a DeepWordBug adversarial twin",
                counts["succeeded"], len(texts))
    return Augmentation(tuple(texts + extra), tuple(labels + labels), summary)
