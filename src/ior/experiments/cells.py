"""What a worker does with one cell: train a model, or audit one at one serving temperature.

:func:`compute_cell` is a pure function of the cell's spec and the sweep's output folder; it writes
only the model folder of a training cell (through a private staging folder renamed into place) and
returns everything else as a payload that the driver commits to the store. It runs in any worker
(this process, a local process pool, a Ray task) and gives the same payload in each.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

import numpy as np

from ior.experiments.config import DatasetSpec
from ior.experiments.data import (absolute_spec, drop_empty, fingerprints, load_image_splits, load_splits,
                                  resolve_model)
from ior.experiments.grid import stage_of

logger = logging.getLogger(__name__)

MODELS_DIR = "models"
#: The work of cells still in progress (``<out>/partial/<key>``, removed when the cell is committed):
#: an audit's finished attack runs, a training run's state at its last epoch's end. A sweep stopped
#: mid-cell continues the cell instead of starting it again.
PARTIAL_DIR = "partial"
STAGING_PREFIX = ".staging-"
CELL_FILE = "sweep_cell.json"


def model_dir(out_dir, key: str) -> Path:
    return Path(out_dir) / MODELS_DIR / key


def partial_dir(out_dir, key: str) -> Path:
    return Path(out_dir) / PARTIAL_DIR / key


def compute_cell(spec: dict, out_dir: str, threads: int = 1, audit_workers: int = 1) -> dict:
    """Run one cell and return its payload (see :meth:`ior.experiments.store.ResultStore.commit_cell`).

    Parameters
    ----------
    spec : dict
        ``Cell.spec`` from :func:`ior.experiments.grid.plan_sweep`.
    out_dir : str
        The sweep's output folder (models are read from and written to ``out_dir/models``).
    threads : int
        Torch threads for this cell. Results are bit-identical only between runs with the same count.
    audit_workers : int
        An audit cell shards its attack runs over this many processes of one thread each
        (:mod:`ior.audit.sharding`; the outcomes do not depend on it).
    """
    import torch

    torch.set_num_threads(int(threads))
    started, cpu = time.time(), time.process_time()
    if spec["kind"] == "train":
        payload = _train(spec, Path(out_dir))
    elif spec["kind"] == "audit":
        payload = _audit(spec, Path(out_dir), audit_workers=audit_workers)
    else:
        raise ValueError(f"cell kind must be 'train' or 'audit', got {spec['kind']!r}")
    # The cell's cost: this call, plus what the attack runs a stopped attempt left took then; for an
    # audit also in core-seconds (CPU time here and in its shards), which wall time under-counts N-fold
    # when N shards share the work.
    payload["elapsed_seconds"] = time.time() - started + payload.pop("resumed_seconds", 0.0)
    if spec["kind"] == "audit":
        payload["core_seconds"] = (time.process_time() - cpu + payload.pop("worker_cpu_seconds")
                                   + payload.pop("resumed_core_seconds"))
    payload["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return payload


def _dataset(spec: dict, *, label_names=None) -> dict:
    fields = dict(spec["dataset"])
    fields["splits"] = tuple(fields["splits"].items())
    dataset = absolute_spec(DatasetSpec(**fields))
    if spec.get("modality") == "image":
        splits = load_image_splits(dataset)
    else:
        splits = load_splits(dataset, label_names=label_names)
    found = fingerprints(splits)
    if spec.get("fingerprints") is not None and found != spec["fingerprints"]:
        changed = sorted(k for k in found if found[k] != spec["fingerprints"].get(k))
        raise RuntimeError(f"dataset {dataset.spec!r} changed since the sweep was planned (splits {changed}); "
                           "restart the sweep")
    return splits


def _fsync_tree(folder: Path) -> None:
    """Flush a finished model folder to disk before the store says it exists."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for directory in (folder, folder.parent):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _finished(folder: Path, key: str) -> dict | None:
    """The metrics of a complete model folder made for cell ``key``, else None."""
    marker = folder / CELL_FILE
    metrics = folder / "metrics.json"
    if not marker.is_file() or not metrics.is_file():
        return None
    try:
        if json.loads(marker.read_text()).get("key") != key:
            return None
        return json.loads(metrics.read_text())
    except (ValueError, OSError):
        return None


def _train(spec: dict, out: Path) -> dict:
    from ior.data.cache import atomic_write_text
    from ior.models.victim import weights_sha256
    from ior.training.config import TrainConfig
    from ior.training.trainer import train

    key = spec["key"]
    final = model_dir(out, key)
    # A folder renamed into place by an earlier attempt whose commit was lost: it is complete (the
    # rename is the last step), so adopt it instead of training the same model again.
    metrics = _finished(final, key)
    adopted = metrics is not None
    if not adopted:
        splits = _dataset(spec)
        staging = out / MODELS_DIR / f"{STAGING_PREFIX}{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        try:
            if spec.get("modality") == "image":
                from ior.training.images import ImageTrainConfig, train_image

                config = ImageTrainConfig(dataset=spec["dataset"]["spec"], **spec["train"])
                metrics = train_image(config, splits["train"], staging / "model", eval_data=splits["validation"],
                                      progress=False, resume_dir=partial_dir(out, key))
            else:
                augment_from = str(model_dir(out, spec["augment_from"])) if spec.get("augment_from") else None
                config = TrainConfig(model=resolve_model(spec["model"]), dataset=spec["dataset"]["spec"],
                                     augment_from=augment_from, **_train_fields(spec["train"]))
                metrics = train(config, splits["train"], staging / "model", eval_data=splits["validation"],
                                progress=False, resume_dir=partial_dir(out, key))
            atomic_write_text(staging / "model" / CELL_FILE, json.dumps({"key": key, "label": spec["label"]}))
            _fsync_tree(staging / "model")
            if _finished(final, key) is None:
                if final.exists():  # debris without the marker: never a finished model
                    shutil.rmtree(final)
                os.rename(staging / "model", final)
                _fsync_tree(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        metrics = _finished(final, key)
    seconds = metrics.get("elapsed_seconds")
    metrics = {k: v for k, v in metrics.items() if k != "elapsed_seconds"}
    if "augmentation" in metrics:  # paths in the store are relative to OUT, which may move
        metrics["augmentation"] = dict(metrics["augmentation"], source_model=f"{MODELS_DIR}/{spec['augment_from']}")
    result = {"model_dir": f"{MODELS_DIR}/{key}", "weights_sha256": weights_sha256(final), "metrics": metrics,
              "train_seconds": seconds, "adopted_existing_folder": adopted}
    return {"result": result, "rows": [], "examples": []}


def _train_fields(train: dict) -> dict:
    fields = dict(train)
    if isinstance(fields.get("adam_betas"), list):
        fields["adam_betas"] = tuple(fields["adam_betas"])
    return fields


def _audit(spec: dict, out: Path, *, audit_workers: int = 1) -> dict:
    from ior.attacks.suite import TextAttackSuite
    from ior.audit.checkpoint import AuditCheckpoint
    from ior.audit.config import AuditConfig
    from ior.audit.run import Auditor
    from ior.audit.sharding import Recipe, ShardedSuite
    from ior.models.probabilities import softmax_float32
    from ior.models.victim import TextClassifier
    from ior.training.trainer import trained_config

    folder = model_dir(out, spec["train_key"])
    trained = trained_config(folder)
    if trained is None or _finished(folder, spec["train_key"]) is None:
        raise RuntimeError(f"model {str(folder)!r} of training cell {spec['train_key']} is missing or incomplete")
    splits = _dataset(spec, label_names=trained["label_names"])
    settings = dict(spec["audit"])
    image = spec.get("modality") == "image"
    score, budgets = settings.pop("score", None), settings.pop("attack", None)
    settings.setdefault("opt_stop", "maxiter")  # a key without it was planned before the plateau rule
    if image:
        test, validation, n_empty_test, n_empty_val = splits["test"], splits["validation"], 0, 0
    else:
        test, n_empty_test = drop_empty(splits["test"])
        validation, n_empty_val = drop_empty(splits["validation"])
    if settings.get("n_examples"):
        test = test.head(min(settings["n_examples"], len(test)))
    config = AuditConfig(serve_temperature=spec["serve_temperature"], attacks=tuple(spec["attacks"]),
                         piercings=tuple(p for p in spec["piercings"] if p != "none"), **settings)
    if image:
        from ior.modality import image_attack_suite, load_image_classifier

        classifier = load_image_classifier(folder, num_labels=test.num_labels)
        suite_options = dict(dataset_name=test.name, input_shape=tuple(test.images.shape[1:]), num_labels=test.num_labels,
                             seed=config.seed, progress=False,
                             **{("batch_size" if k == "attack_batch_size" else k): v for k, v in budgets.items()})
        suite = image_attack_suite(**suite_options)
        recipes = (Recipe("ior.modality:load_image_classifier", {"model": str(folder), "num_labels": test.num_labels}),
                   Recipe("ior.modality:image_attack_suite", suite_options))
        inputs = (test.images, test.labels, validation.images, validation.labels)
    else:
        classifier = TextClassifier.from_pretrained(folder)
        suite = TextAttackSuite(seed=config.seed, score=score, progress=False)
        recipes = (Recipe("ior.models.onnx_runtime:load_text_classifier",
                          {"path": str(folder), "max_length": classifier.max_length, "batch_size": classifier.batch_size}),
                   Recipe("ior.cli.common:text_suite", {"seed": config.seed, "score": score, "progress": False}))
        inputs = (list(test.texts), list(test.labels), list(validation.texts), list(validation.labels))
    sharded = None
    if audit_workers > 1:
        sharded = ShardedSuite(suite, classifier, model_recipe=recipes[0], suite_recipe=recipes[1],
                               workers=audit_workers, progress=False)
    reference = None
    if spec.get("transfer_from"):
        reference_dir = model_dir(out, spec["transfer_from"])
        if _finished(reference_dir, spec["transfer_from"]) is None:
            raise RuntimeError(f"reference model {str(reference_dir)!r} of transfer is missing or incomplete")
        if image:
            reference = load_image_classifier(reference_dir, num_labels=test.num_labels)
        else:
            reference = TextClassifier.from_pretrained(reference_dir)
    checkpoint = AuditCheckpoint(partial_dir(out, spec["key"]), {
        "cell": spec["key"], "model_weights_sha256": classifier.weights_hash,
        "reference_weights_sha256": getattr(reference, "weights_hash", None)})
    try:
        audit = Auditor(classifier, sharded or suite, config, progress=False, reference=reference,
                        checkpoint=checkpoint).run(*inputs, name=spec["label"])
    finally:
        if sharded is not None:
            sharded.close()

    # Text: cached by the audit, no extra forward pass; images: one cheap pass.
    raw = classifier.logits(inputs[0])
    served = softmax_float32(raw / np.float32(spec["serve_temperature"]))
    examples = [("clean", "", "", i, None, {"label": int(y), "logits": raw[i].tolist(),
                                            "prediction": int(raw[i].argmax()),
                                            "confidence": float(served[i].max())})
                for i, y in enumerate(test.labels)]
    result_key = {(r["attack"], stage_of(r["piercing"])): r["key"] for r in spec["results"]}
    for record in audit.examples:
        stage, attack = record["stage"], record["attack"]
        examples.append(("attack", attack, stage, record["index"], result_key.get((attack, stage)),
                         {k: v for k, v in record.items() if k not in ("model", "index", "attack", "stage")}))
    word_importance = spec.get("word_importance")
    if word_importance:
        from ior.experiments.word_importance import first_iteration_ranking
        from ior.models.temperature import serve

        n = min(word_importance["n_examples"], len(test))
        for attack in word_importance["attacks"]:
            ranking = first_iteration_ranking(suite, attack, serve(classifier, spec["serve_temperature"]),
                                              list(test.texts[:n]), list(test.labels[:n]))
            examples.extend(("word_importance", attack, "served", r["index"], None, r) for r in ranking)

    rows = [_row(spec, audit, r) for r in spec["results"]]
    result = {"config": spec["config"], "name": audit.name, "serve_temperature": audit.serve_temperature, "clean": audit.clean,
              "calibration": audit.calibration, "flags": audit.flags, "opt": audit.opt, "attacks": audit.attacks,
              "gradients": audit.gradients, "worst_case": audit.worst_case,
              "n_test": len(test), "n_validation": len(validation),
              "n_empty_skipped": {"test": n_empty_test, "validation": n_empty_val},
              "recipes": {a: suite.hyperparameters(a) for a in spec["attacks"]},
              "model_weights_sha256": classifier.weights_hash}
    # Not in the result: a resumed cell stores what an uninterrupted one stores.
    return {"result": result, "rows": rows, "examples": examples, "resumed_runs": checkpoint.loaded,
            "resumed_seconds": checkpoint.loaded_seconds, "resumed_core_seconds": checkpoint.loaded_core_seconds,
            "worker_cpu_seconds": sharded.worker_cpu_seconds if sharded is not None else 0.0}


def _row(spec: dict, audit, point: dict) -> dict:
    attack, piercing = point["attack"], point["piercing"]
    summary = audit.attacks[attack]
    config = dict(spec["config"], attack=attack, piercing=piercing)
    temperature = {"cal": summary["cal_temperature"], "opt": summary["opt_temperature"]}.get(piercing)
    return {"key": point["key"], "dataset": config["dataset"], "method": config["method"],
            "train_temperature": config["train_temperature"], "grad_norm": int(config["grad_norm"]),
            "seed": config["seed"], "serve_temperature": spec["serve_temperature"], "attack": attack,
            "piercing": piercing, "clean_accuracy": audit.clean["accuracy"],
            "mean_confidence": audit.clean["mean_confidence"],
            "adversarial_accuracy": summary[stage_of(piercing)],
            "mean_confidence_adversarial": summary["mean_confidence_adversarial"] if piercing == "none" else None,
            "attack_temperature": temperature, "gap": summary["gap"], "verdict": summary["verdict"],
            "n_examples": audit.clean["n_examples"], "config": config}
