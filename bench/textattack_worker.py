"""TextAttack 0.3.11's recipes on one job: runs inside the isolated TextAttack venv.

``bench/textattack_reference.py`` (the driver, in our venv) writes a job file and runs
``<textattack venv>/bin/python bench/textattack_worker.py JOB``. This file imports nothing from
``ior`` except, for TextFooler and BAE, our part-of-speech tagger module loaded by file path
(standard library only), because TextAttack's taggers are downloads.

What the worker patches, in its own process only: ``nltk.download`` becomes a logged no-op
(``WordSwapWordNet.__init__`` calls ``nltk.download("omw-1.4")``); every socket connection raises
and is counted; for TextFooler and BAE, the ``nltk.pos_tag`` that TextAttack's ``PartOfSpeech``
calls is answered by our offline tagger (universal tagset, as TextAttack asks for).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

TA_SEED = 765  # textattack.AttackArgs.random_seed default, set by the Attacker before attacking
def _guard_network(log):
    """Make every outgoing connection fail loudly and count it."""
    import socket

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2])[:200])
        log(f"network attempt refused: {attempts[-1]}")
        raise OSError("network disabled in the TextAttack bench worker")

    socket.socket.connect = lambda self, *a, **k: refuse(*a, **k)
    socket.socket.connect_ex = lambda self, *a, **k: refuse(*a, **k)
    socket.create_connection = refuse
    return attempts


def worker(job_path: Path) -> int:
    job = json.loads(job_path.read_text())
    log_lines = []

    def log(message):
        log_lines.append(message)
        print(f"[textattack worker] {message}", file=sys.stderr, flush=True)

    attempts = _guard_network(log)
    import nltk

    downloads = []

    def no_download(*args, **kwargs):
        downloads.append(str(args[0]) if args else str(kwargs))
        log(f"nltk.download({downloads[-1]!r}) skipped (offline; data prepared under NLTK_DATA)")
        return True

    nltk.download = no_download

    started = time.perf_counter()
    import random

    import numpy as np
    import torch
    import transformers

    import textattack
    from textattack.attack_recipes import DeepWordBugGao2018, PWWSRen2019
    from textattack.attack_results import FailedAttackResult, SkippedAttackResult, SuccessfulAttackResult
    from textattack.models.wrappers import HuggingFaceModelWrapper

    import_seconds = time.perf_counter() - started
    torch.set_num_threads(int(job["threads"]))

    class ServedWrapper(HuggingFaceModelWrapper):
        """HuggingFace wrapper whose logits are divided by the serving temperature (float32); a list of
        temperatures divides by each in turn, as ``TemperatureScaled`` nested in ``ior`` does."""

        def __init__(self, model, tokenizer, temperature):
            super().__init__(model, tokenizer)
            temperatures = temperature if isinstance(temperature, list) else [temperature]
            self.temperatures = [torch.tensor(float(t), dtype=torch.float32) for t in temperatures]
            self.sent: list[str] = []

        def __call__(self, text_input_list):
            self.sent.extend(text_input_list)
            logits = super().__call__(text_input_list).float()
            for temperature in self.temperatures:
                logits = logits / temperature
            return logits

    model = transformers.AutoModelForSequenceClassification.from_pretrained(job["model"])
    model.eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(job["model"])
    tokenizer.model_max_length = int(job["max_length"])
    wrapper = ServedWrapper(model, tokenizer, job["serve_temperature"])
    examples = json.loads(Path(job["examples"]).read_text())
    texts, labels = examples["texts"], examples["labels"]

    # Clean logits at T = 1, for the driver to check both venvs see the same victim.
    clean = []
    raw_wrapper = HuggingFaceModelWrapper(model, tokenizer)
    for start in range(0, len(texts), 32):
        clean.extend(raw_wrapper(texts[start : start + 32]).float().tolist())

    build_start = time.perf_counter()
    if job["recipe"] in ("deepwordbug", "pwws"):
        attack = {"deepwordbug": DeepWordBugGao2018, "pwws": PWWSRen2019}[job["recipe"]].build(wrapper)
    else:
        attack = build_with_substitutes(job["recipe"], wrapper, job["resources"], log)
    build_seconds = time.perf_counter() - build_start

    # What textattack.Attacker does before attacking (AttackArgs.random_seed = 765).
    random.seed(TA_SEED)
    np.random.seed(TA_SEED)
    torch.manual_seed(TA_SEED)

    records = []
    load_before = os.getloadavg()[0]
    attack_start, cpu_start = time.perf_counter(), time.process_time()
    for index, (text, label) in enumerate(zip(texts, labels)):
        wrapper.sent = []
        t0, c0 = time.perf_counter(), time.process_time()
        result = attack.attack(text, int(label))
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        if isinstance(result, SuccessfulAttackResult):
            outcome = "succeeded"
        elif isinstance(result, FailedAttackResult):
            outcome = "failed"
        elif isinstance(result, SkippedAttackResult):
            outcome = "skipped"
        else:
            outcome = type(result).__name__
        final = result.perturbed_result
        records.append(
            {
                "index": index,
                "label": int(label),
                "outcome": outcome,
                "original_text": result.original_result.attacked_text.text,
                "adversarial_text": final.attacked_text.text,
                "original_output": int(result.original_result.output),
                "adversarial_output": int(final.output),
                "original_probs": result.original_result.raw_output.tolist(),
                "adversarial_probs": final.raw_output.tolist(),
                "queries": int(final.num_queries),
                "distinct_texts": len(set(wrapper.sent)),
                "texts_sent": len(wrapper.sent),
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
            }
        )
        if (index + 1) % 25 == 0:
            done = sum(r["outcome"] == "succeeded" for r in records)
            log(
                f"{job['recipe']} T={job['serve_temperature']}: {index + 1}/{len(texts)} "
                f"({done} succeeded, {time.perf_counter() - attack_start:.0f} s)"
            )
    attack_seconds = time.perf_counter() - attack_start
    attack_cpu_seconds = time.process_time() - cpu_start
    out = {
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "engine": "textattack",
        "recipe": job["recipe"],
        "serve_temperature": job["serve_temperature"],
        "versions": {
            "textattack": getattr(textattack, "__version__", None) or _dist_version("textattack"),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "nltk": nltk.__version__,
            "numpy": np.__version__,
        },
        "stopwords": len(next(c.stopwords for c in attack.pre_transformation_constraints
                              if hasattr(c, "stopwords"))),
        "seconds": attack_seconds,
        "cpu_seconds": attack_cpu_seconds,
        "build_seconds": build_seconds,
        "import_seconds": import_seconds,
        "torch_threads": torch.get_num_threads(),
        "network_attempts": attempts,
        "nltk_downloads_skipped": downloads,
        "clean_logits": clean,
        "records": records,
    }
    Path(job["output"]).write_text(json.dumps(out) + "\n")
    return 0


def _load_module(name: str, path: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_with_substitutes(recipe: str, wrapper, resources: dict, log):
    """TextAttack's TextFooler or BAE recipe, assembled from TextAttack's own components as its
    ``build`` does, with our offline resources in place of the downloads: counter-fitted vectors
    (``WordEmbedding`` from arrays), MiniLM mean pooling (a ``SentenceEncoder`` subclass, our
    thresholds), our masked LM (``WordSwapMaskedLM`` accepts a model object) and our tagger."""
    import numpy as np
    import torch
    import transformers
    from textattack import Attack
    from textattack.constraints.grammaticality import PartOfSpeech
    from textattack.constraints.grammaticality import part_of_speech as pos_module
    from textattack.constraints.pre_transformation import (InputColumnModification, RepeatModification,
                                                           StopwordModification)
    from textattack.constraints.semantics import WordEmbeddingDistance
    from textattack.constraints.semantics.sentence_encoders import SentenceEncoder
    from textattack.goal_functions import UntargetedClassification
    from textattack.search_methods import GreedyWordSwapWIR
    from textattack.shared import WordEmbedding
    from textattack.transformations import WordSwapEmbedding, WordSwapMaskedLM

    tagger = _load_module("ior_pos_for_textattack", resources["pos_module"]).PerceptronTagger(resources["tagger"])

    def pos_tag(words, tagset=None, lang=None):  # what PartOfSpeech asks nltk for, answered offline
        words = list(words)
        return list(zip(words, tagger.tag(words)))

    pos_module.nltk.pos_tag = pos_tag
    log(f"nltk.pos_tag answered by our perceptron tagger ({resources['tagger']})")

    class MeanPoolingEncoder(SentenceEncoder):
        """all-MiniLM-L6-v2 mean pooling, L2-normalised, as ``ior.resources.sentence_encoder``."""

        def __init__(self, path, max_length, **kwargs):
            super().__init__(**kwargs)
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(path)
            self.model = transformers.AutoModel.from_pretrained(path).eval()
            self.max_length = max_length

        def encode(self, sentences):
            encoded = self.tokenizer(list(sentences), padding=True, truncation=True, max_length=self.max_length,
                                     return_tensors="pt")
            with torch.inference_mode():
                hidden = self.model(**encoded).last_hidden_state
                mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, p=2, dim=1)

    goal = UntargetedClassification(wrapper)
    search = GreedyWordSwapWIR(wir_method="delete")
    if recipe == "textfooler":
        words = Path(resources["vectors"], "words.txt").read_text(encoding="utf-8").splitlines()
        matrix = np.load(Path(resources["vectors"], "vectors.npy"))
        nn_matrix = np.load(Path(resources["vectors"], "nn.npy"))
        embedding = WordEmbedding(matrix, {w: i for i, w in enumerate(words)}, dict(enumerate(words)), nn_matrix)
        transformation = WordSwapEmbedding(max_candidates=50, embedding=embedding)
        constraints = [RepeatModification(), StopwordModification(stopwords=set(resources["textfooler_stopwords"]))]
        constraints.append(InputColumnModification(["premise", "hypothesis"], {"premise"}))
        constraints.append(WordEmbeddingDistance(embedding=embedding, min_cos_sim=0.5))
        constraints.append(PartOfSpeech(allow_verb_noun_swap=True))
        constraints.append(MeanPoolingEncoder(resources["encoder"], resources["encoder_max_length"],
                                              threshold=resources["textfooler_threshold"], metric="angular",
                                              compare_against_original=False, window_size=15,
                                              skip_text_shorter_than_window=True))
    elif recipe == "bae":
        mlm = transformers.AutoModelForMaskedLM.from_pretrained(resources["masked_lm"]).eval()
        mlm_tokenizer = transformers.AutoTokenizer.from_pretrained(resources["masked_lm"])
        transformation = WordSwapMaskedLM(method="bae", masked_language_model=mlm, tokenizer=mlm_tokenizer,
                                          max_candidates=50, min_confidence=0.0)
        constraints = [RepeatModification(), StopwordModification()]
        constraints.append(PartOfSpeech(allow_verb_noun_swap=True))
        constraints.append(MeanPoolingEncoder(resources["encoder"], resources["encoder_max_length"],
                                              threshold=resources["bae_threshold"], metric="cosine",
                                              compare_against_original=True, window_size=15,
                                              skip_text_shorter_than_window=True))
    else:
        raise ValueError(f"unknown recipe {recipe!r}")
    return Attack(goal, constraints, transformation, search)


def _dist_version(name):
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    sys.exit(worker(Path(sys.argv[1])))
