"""The ``ior`` command line: ``ior data prepare``, ``ior train``, ``ior attack``, ``ior audit``.

Library errors (ValueError, TypeError, RuntimeError, OSError) and bad arguments become one line on
stderr (``ior: error: ...``) and exit status 2; nothing is written when a command fails. Warnings are
one line too (``ior: warning: ...``).
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


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors (argparse prints the whole usage block first)."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"ior: error: {' '.join(message.split())} (see `{self.prog} --help`)\n")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = " ".join(str(message).split())
    print(f"ior: warning: {text}", file=sys.stderr if file is None else file)


def _quiet_progress() -> None:
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def build_parser() -> argparse.ArgumentParser:
    from ior.cli import attack_cmd, audit_cmd, data_cmd, report_cmd, resources_cmd, sweep_cmd, train_cmd

    parser = _Parser(
        prog="ior",
        description="Is a classifier's adversarial robustness genuine, or an illusion of extreme "
                    "miscalibration? Train, attack, calibrate and audit text classifiers "
                    "(Raina et al., ACL 2024).",
    )
    parser.add_argument("--version", action="version", version=f"ior {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (data_cmd, train_cmd, attack_cmd, audit_cmd, resources_cmd, sweep_cmd, report_cmd):
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # bad arguments (already reported), --help, --version
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else EXIT_ERROR
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    if getattr(args, "no_progress", False):
        _quiet_progress()
    threads = getattr(args, "torch_threads", None)
    if threads is not None:
        if threads < 1:
            print(f"ior: error: --threads must be >= 1, got {threads}", file=sys.stderr)
            return EXIT_ERROR
        import torch

        torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _one_line_warning
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
