"""Arguments and loading steps shared by ``ior attack`` and ``ior audit``."""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)


def positive_float(text: str) -> float:
    from ior.models.temperature import check_temperature

    try:
        return check_temperature(float(text))
    except (ValueError, TypeError):
        # ArgumentTypeError, not ValueError: argparse only shows the message of the former.
        raise argparse.ArgumentTypeError(f"temperature must be a finite number > 0, got {text!r}") from None


def add_model_and_data(p) -> None:
    p.add_argument("--model", required=True, help="trained classifier folder (safetensors) or hub name")
    p.add_argument("--dataset", default="rt", help="'rt', 'trec', 'r8', a local csv/tsv/jsonl/parquet file or folder, "
                   "a save_to_disk folder, or hf:NAME[:CONFIG] (default: rt); images: fashion-mnist, mnist, "
                   "cifar10-samples, cifar100-samples, or a CIFAR-10/100, TinyImageNet, image-folder or .npz path")
    p.add_argument("--split", default="test", help="split to attack (default: test)")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    add_encoding_argument(p)
    p.add_argument("--n-examples", type=int, default=200,
                   help="attack the first N examples of the split (0 = all; default 200)")
    p.add_argument("--max-length", type=int, default=None,
                   help="tokenizer truncation (default: the length the model was trained with, else 128)")
    p.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of attack randomness and bootstrap (default 0)")
    p.add_argument("--score", choices=["probability", "margin"], default="probability",
                   help="rank candidates by 1 - p(true class) as TextAttack does (default), or by the logit "
                        "margin, which no temperature can flatten")
    resources = p.add_argument_group("attack resources (default: what `ior data prepare` and "
                                     "`ior resources build-mlm` put in the cache)")
    resources.add_argument("--word-embeddings", metavar="PATH",
                           help="TextFooler's word vectors: the original counter-fitted-vectors.txt (or any "
                                "'word v1 v2 ...' file) or a prepared vectors folder")
    resources.add_argument("--sentence-encoder", metavar="PATH",
                           help="TextFooler's and BAE's sentence encoder: a local Hugging Face or "
                                "sentence-transformers folder, mean-pooled (thresholds stay the ones derived "
                                "for all-MiniLM-L6-v2)")
    resources.add_argument("--masked-lm", metavar="PATH",
                           help="BAE's masked language model: any local Hugging Face masked-LM folder "
                                "(safetensors), e.g. bert-base-uncased as in the paper")
    p.add_argument("--out", required=True, help="output folder")
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_threads_argument(p) -> None:
    p.add_argument("--threads", dest="torch_threads", type=int, default=None, metavar="N",
                   help="torch threads of this process (default: torch's, one per core); e.g. 1 to leave "
                        "the other cores to another job. The last float bits of a result may depend on it")


def add_encoding_argument(p) -> None:
    p.add_argument("--encoding", default=None, metavar="CODEC",
                   help="character encoding of a local CSV/TSV/JSON data file: latin-1, cp1252, utf-16, ... "
                        "(default: UTF-8, a byte-order mark dropped)")


ATTACK_HELP = ("attacks, several at once: bae, textfooler (tf), pwws, deepwordbug (dg); the paper's four "
               "recipes as in TextAttack 0.3.11")
IMAGE_ATTACK_HELP = ("pgd (cross-entropy, L-inf), apgd-ce, apgd-dlr (>= 3 classes), square, fab, autoattack "
                     "(standard: APGD-CE, APGD-T, FAB-T, Square; >= 4 classes), through torchattacks 3.5.1")


def add_image_attack_arguments(p) -> None:
    """Budgets of the image attacks (ignored for text)."""
    group = p.add_argument_group("image attacks (L-inf; ignored for text)")
    group.add_argument("--modality", choices=["auto", "text", "image"], default="auto",
                       help="auto (default): images when --dataset is an image dataset or --model an ior image model")
    group.add_argument("--epsilon", type=float, default=None,
                       help="radius of the L-inf ball in [0, 1] pixels (default 0.1 for MNIST-like data, 8/255 "
                            "for CIFAR/TinyImageNet and others)")
    group.add_argument("--pgd-steps", type=int, default=None, help="PGD iterations (default 20)")
    group.add_argument("--pgd-step-size", type=float, default=None, help="PGD step (default 2.5 * epsilon / steps)")
    group.add_argument("--apgd-steps", type=int, default=None,
                       help="APGD-CE/APGD-DLR and AutoAttack iterations (default 100, as AutoAttack)")
    group.add_argument("--square-queries", type=int, default=None,
                       help="Square's query budget per image (default 5000, as AutoAttack)")
    group.add_argument("--attack-batch-size", type=int, default=None, help="images attacked together (default 500)")


def attack_suite(args):
    """The :class:`~ior.attacks.suite.TextAttackSuite` the command line asks for.

    Resource paths are checked here, so a typo fails before any model is loaded.
    """
    return text_suite(**text_suite_options(args), progress=not args.no_progress)


def text_suite_options(args) -> dict:
    """The picklable options :func:`text_suite` builds the command line's suite from (paths checked)."""
    options = {"seed": args.seed, "score": args.score}
    for option in ("word_embeddings", "sentence_encoder", "masked_lm"):
        path = getattr(args, option, None)
        if path is None:
            continue
        if not Path(path).expanduser().exists():
            raise ValueError(f"--{option.replace('_', '-')}: no such file or folder {path!r}")
        options[option] = str(Path(path).expanduser())
    return options


def text_suite(*, seed=0, score="probability", word_embeddings=None, sentence_encoder=None, masked_lm=None,
               progress=True):
    """A :class:`~ior.attacks.suite.TextAttackSuite` with resources loaded from paths (sharded audits
    build each worker's suite with this)."""
    from ior.attacks.suite import TextAttackSuite

    resources = {}
    if word_embeddings is not None:
        from ior.resources.counterfitted import load_word_embedding

        resources["embedding"] = load_word_embedding(Path(word_embeddings))
    if sentence_encoder is not None:
        from ior.resources.sentence_encoder import MeanPoolingEncoder

        resources["encoder"] = MeanPoolingEncoder(Path(sentence_encoder))
    if masked_lm is not None:
        resources["masked_lm"] = Path(masked_lm)
    return TextAttackSuite(seed=seed, score=score, progress=progress, **resources)


def trained_label_names(model) -> tuple[str, ...] | None:
    """The class names ``ior train`` recorded for ``model`` (None for any other model).

    Loading a split with them maps string labels exactly as in training and sizes the label space
    by the model, so a split lacking a class (or holding an unknown label) is not silently re-indexed.
    """
    config = Path(model) / "ior_config.json"
    if not config.is_file():
        return None
    try:
        names = json.loads(config.read_text())["label_names"]
    except (ValueError, KeyError, TypeError):
        logger.warning("could not read label_names from %s", config)
        return None
    return tuple(str(name) for name in names) if names else None


def load_split(args, split: str, *, dataset=None):
    """Load ``split`` and drop empty texts (warned and counted). Returns (dataset, n_empty)."""
    from ior.data.loaders import load_text_dataset

    data = load_text_dataset(dataset or args.dataset, split, text_column=args.text_column,
                             label_column=args.label_column, label_names=trained_label_names(args.model),
                             encoding=getattr(args, "encoding", None))
    keep = [i for i, t in enumerate(data.texts) if t.strip()]
    n_empty = len(data) - len(keep)
    if not keep:  # an error, not a warning followed by an error
        raise ValueError(f"split {split!r} of {str(dataset or args.dataset)!r} has no non-empty texts")
    if n_empty:
        warnings.warn(f"{split}: skipped {n_empty} empty or whitespace-only text(s); counted in the report",
                      stacklevel=2)
        data = data.subset(keep)
    return data, n_empty


def head(data, n: int | None):
    if n is not None and n < 0:
        raise ValueError(f"--n-examples must be >= 0, got {n}")
    return data if not n or n >= len(data) else data.head(n)


def check_out_dir(out) -> Path:
    """``--out`` as a Path; checked before any work, so a bad folder does not waste an audit."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a folder")
    return out


def load_classifier(args, num_labels: int):
    from ior.models.victim import TextClassifier

    try:
        classifier = TextClassifier.from_pretrained(args.model, max_length=args.max_length,
                                                    batch_size=args.batch_size)
    except OSError as exc:
        if Path(args.model).expanduser().exists():
            raise
        # Not a local path, so transformers tried the hub; its message does not name the model.
        raise ValueError(f"model {args.model!r} is not a local folder and could not be loaded from the "
                         f"Hugging Face hub: {' '.join(str(exc).split())}") from exc
    if classifier.num_labels != num_labels:
        raise ValueError(f"model {args.model!r} has {classifier.num_labels} classes but the dataset has "
                         f"{num_labels}")
    return classifier


def model_provenance(args, classifier) -> dict:
    info = {"path": str(args.model), "weights_sha256": classifier.weights_hash,
            "max_length": classifier.max_length, "num_labels": classifier.num_labels}
    config = Path(args.model) / "ior_config.json"
    if config.is_file():
        info["ior_config"] = json.loads(config.read_text())
    return info


def dataset_provenance(data, n_empty: int) -> dict:
    return {"name": data.name, "split": data.split, "n": len(data), "n_empty_skipped": n_empty,
            "fingerprint": data.fingerprint(), "manifest_sha256": data.manifest_sha256}
