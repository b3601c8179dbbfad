"""What a sweep's cells read: the dataset splits, and the identity of the data and base model.

A cell's key hashes the *content* of its data (the split fingerprints) and the base model's weights
(for a local folder), not just their names: a changed file gives new keys and so new cells, never a
stale result.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

from ior.experiments.config import DEFAULT_MODEL, SPLITS, DatasetSpec, SweepConfig, SweepConfigError


def resolve_model(model: str) -> str:
    """The path or hub name behind a sweep's ``model`` (``minilm`` is the offline MiniLM encoder)."""
    if model == DEFAULT_MODEL:
        from ior.models.victim import default_encoder_path

        return default_encoder_path()
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


def model_identity(model: str) -> dict:
    """``{"spec", "weights_sha256"}``: the name as written and, for a local folder, its weights hash."""
    from ior.models.victim import weights_sha256

    path = resolve_model(model)
    if not Path(path).is_dir():
        return {"spec": model, "weights_sha256": None}  # a hub name
    digest = weights_sha256(path)
    if digest is None or not (Path(path) / "config.json").is_file():
        raise ValueError(f"model folder {model!r} is not a Hugging Face model with safetensors weights")
    return {"spec": model, "weights_sha256": digest}


def absolute_spec(dataset: DatasetSpec) -> DatasetSpec:
    """``dataset`` with a local path made absolute (workers may run in another folder)."""
    if not dataset.is_local():
        return dataset
    return replace(dataset, spec=str(Path(dataset.spec).expanduser().resolve()))


def _join_pairs(data, separator: str):
    from ior.data.loaders import TextDataset

    if data.text_pairs is None:
        return data
    texts = tuple(a + separator + b for a, b in zip(data.texts, data.text_pairs))
    return TextDataset(name=data.name, split=data.split, texts=texts, labels=data.labels,
                       label_names=data.label_names, manifest_sha256=data.manifest_sha256)


def load_split(dataset: DatasetSpec, split: str, *, label_names=None):
    """One split (``train``, ``validation`` or ``test``) as a ``TextDataset``, pairs joined."""
    from ior.data.loaders import load_text_dataset

    data = load_text_dataset(dataset.spec, dataset.split_names[split], text_column=dataset.text_column,
                             text_pair_column=dataset.text_pair_column, label_column=dataset.label_column,
                             label_names=label_names, encoding=dataset.encoding)
    return _join_pairs(data, dataset.pair_separator)


def load_splits(dataset: DatasetSpec, *, label_names=None) -> dict:
    """All three splits; validation and test are labelled with the training split's label names."""
    train = load_split(dataset, "train", label_names=label_names)
    names = train.label_names
    return {"train": train, "validation": load_split(dataset, "validation", label_names=names),
            "test": load_split(dataset, "test", label_names=names)}


def drop_empty(data):
    """``data`` without empty or whitespace-only texts (warned), as ``ior audit`` does."""
    keep = [i for i, t in enumerate(data.texts) if t.strip()]
    if len(keep) == len(data):
        return data, 0
    warnings.warn(f"{data.split}: skipped {len(data) - len(keep)} empty or whitespace-only text(s)", stacklevel=2)
    return data.subset(keep), len(data) - len(keep)


def fingerprints(splits: dict) -> dict:
    return {name: splits[name].fingerprint() for name in SPLITS}


def load_image_splits(dataset: DatasetSpec) -> dict:
    """The three splits of an image dataset (validation held out from train where the layout has none)."""
    from ior.data.images import load_image_dataset

    return {name: load_image_dataset(dataset.spec, name) for name in SPLITS}


def resolve_identities(config: SweepConfig) -> dict:
    """Load every dataset once and hash the base model: ``{"model": ..., "datasets": {name: ...}}``.

    This runs before any cell, so a dataset that is missing, unprepared or malformed stops the sweep
    with an error naming its field.
    """
    image = config.modality == "image"
    datasets = {}
    for i, dataset in enumerate(config.datasets):
        try:
            splits = (load_image_splits if image else load_splits)(absolute_spec(dataset))
        except (ValueError, RuntimeError, OSError, TypeError) as exc:
            raise SweepConfigError(f"datasets[{i}]", f"{dataset.spec!r}: {' '.join(str(exc).split())}") from None
        if not image and not any(t.strip() for t in splits["test"].texts):
            raise SweepConfigError(f"datasets[{i}]", f"{dataset.spec!r}: the test split has no non-empty texts")
        datasets[dataset.name] = {"fingerprints": fingerprints(splits),
                                  "label_names": list(splits["train"].label_names),
                                  "sizes": {name: len(splits[name]) for name in SPLITS}}
    if image:  # trained from scratch: no base model
        return {"model": None, "datasets": datasets}
    try:
        model = model_identity(config.model)
    except (ValueError, RuntimeError, OSError) as exc:
        raise SweepConfigError("model", " ".join(str(exc).split())) from None
    return {"model": model, "datasets": datasets}
