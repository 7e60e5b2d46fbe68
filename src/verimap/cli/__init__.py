"""The ``verimap`` command line: ``main`` dispatches to one module per command in :mod:`verimap.cli.commands`.

Each command module exposes ``add(subparsers)``, which registers its parser and sets ``func`` (and, where the
command reads long texts, ``truncation_hint``: what to do about texts the encoder cut). Shared flags, the one way
to build encoders, verifiers and stores from ``verimap.toml`` plus flags, and the argument checks are in
:mod:`verimap.cli.options`. Commands raise :class:`~verimap.errors.CLIError` for user mistakes: printed as one line,
exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from verimap.errors import CLIError, VerimapError

__all__ = ["COMMANDS", "CLIError", "build_parser", "main"]

# Command modules under verimap.cli.commands, in --help order. Imported lazily so `verimap --help` stays fast.
COMMANDS = [
    "score_pairs",
    "guard",
    "train",
    "eval",
    "eval_ir",
    "bench",
    "index",
    "search",
    "verify",
    "explain",
    "serve",
    "demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verimap", description="Retrieval is recall plus judgment.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"verimap.cli.commands.{name}").add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from verimap.encoder import TruncationWarning  # after parsing: `--help` does not load torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        try:
            status = int(args.func(args) or 0)
        except VerimapError as exc:  # a CLIError, or a config / store / weights problem met on the way
            print(f"verimap: error: {exc}", file=sys.stderr)
            status = 2
        except BrokenPipeError:  # `verimap score-pairs ... | head`
            return 0
    truncated = [w.message for w in caught if isinstance(w.message, TruncationWarning)]
    for w in caught:  # every other warning is shown as it would have been
        if not isinstance(w.message, TruncationWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if truncated and not getattr(args, "quiet", False):
        # One note per command, not one warning per batch: how many texts were cut, and what changes it.
        count, limit = sum(t.count for t in truncated), max(t.max_length for t in truncated)
        hint = getattr(args, "truncation_hint", "split texts longer than that")
        print(
            f"verimap: note: {count} text(s) were longer than the encoder's {limit} tokens and were cut; {hint}",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
