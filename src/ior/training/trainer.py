"""Fine-tune a Transformer sequence classifier, optionally at a training temperature.

The loop reads top to bottom: shuffle, tokenize, the training method's loss and backward pass
(cross-entropy of ``logits / T`` for ``standard``; an adversarial objective for ``pgd``, ``freelb``,
``ascc``, ``ddi``), optional gradient normalization or clipping, AdamW step. ``dg-aug`` changes the
data, not the loss: the training set is doubled with DeepWordBug examples before the loop. A
finished run is written to a temporary folder and renamed into place, so a crash never leaves a
half-written checkpoint behind.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

import ior
from ior.data.cache import atomic_write_text
from ior.models.victim import TextClassifier, load_sequence_classifier, weights_sha256
from ior.training.adversarial import PGD, FreeLB, PerturbationHook, TrainingMethod
from ior.training.config import TrainConfig
from ior.training.gradients import clip_gradients_, normalize_gradients_
from ior.training.resume import EpochCheckpoint

logger = logging.getLogger(__name__)

CONFIG_FILE = "ior_config.json"
METRICS_FILE = "metrics.json"


def accuracy(classifier: TextClassifier, texts, labels) -> float:
    """Accuracy of argmax logits (no cache: the weights are changing during training)."""
    if not len(texts):
        return float("nan")
    logits = classifier.logits_uncached(list(texts))
    return float((logits.argmax(axis=1) == np.asarray(labels)).mean())


def training_method(config: TrainConfig, tokenizer, *, synonyms=None,
                    hook: PerturbationHook | None = None) -> TrainingMethod:
    """The per-batch loss of ``config.method`` (``dg-aug`` trains with the standard loss).

    ``synonyms`` (ASCC only): a :class:`ior.training.ascc.SynonymSource`, WordNet reader or word
    embedding; default: ``config.ascc_synonyms``. ``hook(delta, mask)`` sees every embedding
    perturbation trained on (PGD, FreeLB, DDi).
    """
    t = config.temperature
    embedding = dict(step_size=config.adv_lr, init_mag=config.adv_init_mag, max_norm=config.adv_max_norm,
                     temperature=t, hook=hook)
    if config.method == "pgd":
        return PGD(steps=config.adv_steps, **embedding)
    if config.method == "freelb":
        return FreeLB(steps=config.adv_steps, **embedding)
    if config.method == "ddi":
        from ior.training.ddi import DDi

        return DDi(samples=config.ddi_samples, steps=config.ddi_steps, normalization=config.ddi_normalization,
                   clip_norm=config.ddi_clip_norm, **embedding)
    if config.method == "ascc":
        from ior.training.ascc import ASCC, SynonymTable, load_synonym_source

        source = synonyms if synonyms is not None else load_synonym_source(config.ascc_synonyms)
        table = SynonymTable(tokenizer, source, max_synonyms=config.ascc_max_synonyms)
        return ASCC(table, alpha=config.ascc_alpha, beta=config.ascc_beta, steps=config.adv_steps, temperature=t)
    return TrainingMethod(temperature=t)


def train(config: TrainConfig, train_data, out_dir, *, eval_data=None, test_data=None, progress=True,
          synonyms=None, hook: PerturbationHook | None = None, resume_dir=None) -> dict:
    """Fine-tune ``config.model`` on ``train_data`` and save it to ``out_dir``.

    Parameters
    ----------
    config : TrainConfig
    train_data, eval_data : ior.data.loaders.TextDataset
    test_data : ior.data.loaders.TextDataset, optional
        The finished model's accuracy on it is recorded as ``test_accuracy`` (with ``n_test``); it
        decides nothing (the stopping rules read training accuracy or loss).
    out_dir : path
        Receives ``model.safetensors``, ``config.json``, the tokenizer, ``ior_config.json``
        (training config, label names, dataset fingerprint) and ``metrics.json``.
    synonyms, hook
        Passed to :func:`training_method`.
    resume_dir : path, optional
        Where the state at each epoch's end is kept (:mod:`ior.training.resume`) and, if a stopped run
        of the same configuration and data left one, restored from; removed when the model is saved.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    out_dir = Path(out_dir)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    texts, labels = list(train_data.texts), np.asarray(train_data.labels)
    if config.max_train_examples is not None and config.max_train_examples < len(texts):
        keep = np.sort(rng.permutation(len(texts))[: config.max_train_examples])
        texts, labels = [texts[i] for i in keep], labels[keep]
    if not texts:
        raise ValueError("the training set is empty")
    if config.method == "ascc" and synonyms is None:  # fail before any training if it is missing
        from ior.training.ascc import load_synonym_source

        synonyms = load_synonym_source(config.ascc_synonyms)
    augmentation = None
    if config.method == "dg-aug":
        from ior.training.augmentation import deepwordbug_augment

        augmented = deepwordbug_augment(texts, labels, config.augment_from, seed=config.seed, progress=progress)
        texts, labels, augmentation = list(augmented.texts), np.asarray(augmented.labels), augmented.summary

    num_labels = len(train_data.label_names)
    model, tokenizer = load_sequence_classifier(config.model, num_labels=num_labels, allow_new_head=True)
    model.config.id2label = dict(enumerate(train_data.label_names))
    model.config.label2id = {name: i for i, name in enumerate(train_data.label_names)}
    classifier = TextClassifier(model, tokenizer, max_length=config.max_length, cache=False)
    method = training_method(config, tokenizer, synonyms=synonyms, hook=hook)

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate, betas=config.adam_betas, eps=config.adam_eps,
    )
    steps_per_epoch = int(np.ceil(len(texts) / config.batch_size))
    total_steps = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    )

    history, step, started, before, grad_norm = [], 0, time.time(), 0.0, None
    checkpoint = None
    if resume_dir is not None:
        checkpoint = EpochCheckpoint(resume_dir, {"config": config.fingerprint(), "data": train_data.fingerprint(),
                                                  "n_train": len(texts)})
        state = checkpoint.restore(model, optimizer, schedule, rng=rng)
        if state is not None:
            history, step, before, grad_norm = state["history"], state["step"], state["elapsed_seconds"], state["grad_norm"]
            logger.warning("resuming after epoch %d of %d from %s", state["epoch"], config.epochs, resume_dir)
    stopped = _stopped_by_rule(config, history)
    bar = tqdm(total=total_steps, initial=step, desc="train", disable=not progress, unit="step")
    for epoch in range(len(history) if stopped is None else config.epochs, config.epochs):
        model.train()
        order = rng.permutation(len(texts))
        seen = correct = 0
        loss_sum = 0.0
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=config.max_length, return_tensors="pt")
            target = torch.as_tensor(labels[idx], dtype=torch.long)
            optimizer.zero_grad(set_to_none=True)
            # The method leaves its loss's gradient in .grad. The training temperature lives only
            # inside its losses: inference stays at T = 1.
            result = method.backward(model, enc, target)
            if config.grad_norm:
                grad_norm = normalize_gradients_(params)
            elif config.grad_clip is not None:
                grad_norm = clip_gradients_(params, config.grad_clip)
            else:
                grad_norm = None
            optimizer.step()
            schedule.step()
            step += 1
            seen += len(idx)
            correct += int((result.logits.argmax(dim=1) == target).sum())
            loss_value = result.loss
            loss_sum += loss_value * len(idx)
            if not np.isfinite(loss_value):
                raise RuntimeError(f"training diverged: loss is {loss_value} at step {step}")
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
            bar.update(1)
        record = {"epoch": epoch + 1, "step": step, "train_loss": loss_sum / seen,
                  "train_accuracy": correct / seen, "last_grad_norm": grad_norm}
        if eval_data is not None and len(eval_data):
            record["eval_accuracy"] = accuracy(classifier, eval_data.texts, eval_data.labels)
        logger.info("epoch %d: %s", epoch + 1, record)
        history.append(record)
        stopped = _stopped_by_rule(config, history)
        if stopped is not None:
            logger.info("stopping after epoch %d: %s", epoch + 1, stopped["rule"])
            break
        if checkpoint is not None and epoch + 1 < config.epochs:
            checkpoint.save(epoch + 1, model, optimizer, schedule, rng=rng, step=step, history=history,
                            elapsed_seconds=before + time.time() - started, grad_norm=grad_norm)
    if stopped is None:
        stopped = {"rule": f"epochs = {config.epochs}", "epoch": config.epochs, "step": step}
    bar.close()

    metrics = {
        "history": history,
        "final": history[-1],
        "n_train": len(texts),
        "n_eval": len(eval_data) if eval_data is not None else 0,
        "elapsed_seconds": before + time.time() - started,
        "stopped": stopped,
    }
    if augmentation is not None:
        metrics["augmentation"] = augmentation
    if test_data is not None and len(test_data):
        metrics["test_accuracy"] = accuracy(classifier, test_data.texts, test_data.labels)
        metrics["n_test"] = len(test_data)
    _save(model, tokenizer, config, train_data, metrics, out_dir)
    if checkpoint is not None:
        checkpoint.remove()
    return metrics


def _stopped_by_rule(config, history: list) -> dict | None:
    """How the run stopped if its last epoch met the stopping rule (a restored run may already have)."""
    rule = stop_rule(config, history[-1]) if history else None
    return None if rule is None else {"rule": rule, "epoch": history[-1]["epoch"], "step": history[-1]["step"]}


def stop_rule(config, record: dict) -> str | None:
    """The stopping rule an epoch's record meets (``train_loss <= L`` or ``train_accuracy >= A``), if any."""
    if config.stop_train_loss is not None and record["train_loss"] <= config.stop_train_loss:
        return f"train_loss <= {config.stop_train_loss:g}"
    if config.stop_train_accuracy is not None and record["train_accuracy"] >= config.stop_train_accuracy:
        return f"train_accuracy >= {config.stop_train_accuracy:g}"
    return None


def _save(model, tokenizer, config, train_data, metrics, out_dir: Path) -> None:
    staging = staging_folder(out_dir)
    staging.mkdir(parents=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    payload = dict(run_provenance(config, train_data), label_names=list(train_data.label_names))
    atomic_write_text(staging / CONFIG_FILE, json.dumps(payload, indent=2))
    finish_run(staging, out_dir, metrics)


def staging_folder(out_dir: Path) -> Path:
    """An empty ``<out_dir>.partial`` path to write a run into before it is renamed into place."""
    staging = out_dir.with_name(out_dir.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    return staging


def run_provenance(config, train_data) -> dict:
    """What every saved run records about the code, the configuration and the training data."""
    return {"ior_version": ior.__version__, "torch_version": torch.__version__, "train": config.to_dict(),
            "config_fingerprint": config.fingerprint(),
            "dataset": {"name": train_data.name, "split": train_data.split,
                        "fingerprint": train_data.fingerprint(), "manifest_sha256": train_data.manifest_sha256}}


def machine() -> dict:
    """What decides a run's floating-point rounding besides its configuration: the torch and
    transformers builds, the kernels torch dispatched to on this CPU (``AVX512``, ``AVX2``, ...) and the
    thread count. A run repeats to the bit only where all of them match; otherwise the same training
    differs in the last bits from its first step, and the saved weights differ."""
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}


def finish_run(staging: Path, out_dir: Path, metrics: dict) -> None:
    """Write ``metrics.json`` (with the weights' sha256 and the :func:`machine`) into ``staging`` and
    rename it to ``out_dir``."""
    metrics = dict(metrics, weights_sha256=weights_sha256(staging), machine=machine())
    atomic_write_text(staging / METRICS_FILE, json.dumps(metrics, indent=2))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)


def trained_config(out_dir) -> dict | None:
    """The ``ior_config.json`` of a finished run, or None when there is none."""
    path = Path(out_dir) / CONFIG_FILE
    if not path.is_file() or not (Path(out_dir) / METRICS_FILE).is_file():
        return None
    return json.loads(path.read_text())
