"""Text or images: the few steps of ``ior`` that depend on what a classifier reads.

Everything else (calibration, ``cal``/``opt``, the audit, its report, sweeps) is shared. A modality
knows how to load a split, load a trained model, build its attack suite and say what its inputs are.
:func:`modality_for` picks one from an explicit choice, the dataset or the model folder.
"""

from __future__ import annotations

import json
from pathlib import Path

MODALITIES = ("text", "image")


def modality_for(choice: str = "auto", *, dataset=None, model=None) -> str:
    """``"text"`` or ``"image"``: ``choice`` unless "auto"; then images when the dataset is an image
    dataset or the model folder holds an ior image model, else text."""
    if choice not in (*MODALITIES, "auto"):
        raise ValueError(f"modality must be one of {[*MODALITIES, 'auto']}, got {choice!r}")
    if choice != "auto":
        return choice
    from ior.data.images import is_image_dataset
    from ior.models.image_classifier import is_image_model

    if dataset is not None and is_image_dataset(dataset):
        return "image"
    if model is not None and Path(model).expanduser().is_dir() and is_image_model(Path(model).expanduser()):
        return "image"
    return "text"


def image_label_names(model) -> tuple[str, ...] | None:
    """The class names recorded with an ior image model (None when there are none)."""
    config = Path(model) / "ior_config.json"
    if not config.is_file():
        return None
    names = json.loads(config.read_text()).get("label_names")
    return tuple(str(n) for n in names) if names else None


def load_image_split(dataset, split: str, *, model=None):
    """An image split, checked against the model's classes when a model is given."""
    from ior.data.images import load_image_dataset

    data = load_image_dataset(dataset, split)
    names = image_label_names(model) if model is not None else None
    if names is not None and len(names) != data.num_labels:
        raise ValueError(f"model {str(model)!r} has {len(names)} classes but {str(dataset)!r} has {data.num_labels}")
    return data


def load_image_classifier(model, *, num_labels: int, batch_size: int = 256):
    """A trained image classifier folder as the audit's victim, checked against the dataset."""
    from ior.models.image_classifier import ImageClassifier, is_image_model

    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise ValueError(f"model path {str(model)!r} does not exist or is not a folder")
    if not is_image_model(folder):
        raise ValueError(f"model {str(model)!r} is not an ior image model (no ior_config.json with "
                         "modality 'image'); train one with `ior train --dataset fashion-mnist ...`")
    classifier = ImageClassifier.from_pretrained(folder, batch_size=batch_size)
    if classifier.num_labels != num_labels:
        raise ValueError(f"model {str(model)!r} has {classifier.num_labels} classes but the dataset has {num_labels}")
    return classifier


def image_attack_suite(*, dataset_name: str, input_shape, num_labels: int, epsilon=None, seed=0, progress=True,
                       **budgets):
    """The image attack suite with the dataset's default ε unless one is given.

    ``budgets``: :class:`ior.attacks.image.ImageAttackConfig` fields (``pgd_steps``, ``apgd_steps``, ...);
    None keeps a field's default.
    """
    from ior.attacks.image import ImageAttackConfig, ImageAttackSuite, default_epsilon

    eps = default_epsilon(dataset_name, input_shape) if epsilon is None else epsilon
    config = ImageAttackConfig(epsilon=eps, seed=seed, **{k: v for k, v in budgets.items() if v is not None})
    return ImageAttackSuite(config, num_labels=num_labels, progress=progress)
