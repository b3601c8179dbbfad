"""The ``ior`` command line: ``ior data prepare``, ``ior train``, ``ior attack``, ``ior audit``.

Library errors (ValueError, TypeError, RuntimeError, OSError) become one line on stderr and exit
status 2; nothing is written when a command fails.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from ior import __version__

EXIT_ERROR = 2


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


def build_parser() -> argparse.ArgumentParser:
    from ior.cli import attack_cmd, audit_cmd, data_cmd, train_cmd

    parser = argparse.ArgumentParser(
        prog="ior",
        description="Is a classifier's adversarial robustness genuine, or an illusion of extreme "
                    "miscalibration? Train, attack, calibrate and audit text classifiers "
                    "(Raina et al., ACL 2024).",
    )
    parser.add_argument("--version", action="version", version=f"ior {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (data_cmd, train_cmd, attack_cmd, audit_cmd):
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    warnings.simplefilter("default")
    try:
        return int(args.handler(args) or 0)
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"ior: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ior: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
