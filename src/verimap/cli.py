"""The ``verimap`` command line: ``main`` dispatches to one module per command in :mod:`verimap.commands`.

Each command module exposes ``add(subparsers)``, which registers its parser and sets ``func``.
Commands raise :class:`CLIError` for user mistakes: printed as one line, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Command modules under verimap.commands, in --help order. Imported lazily so `verimap --help` stays fast.
COMMANDS = ["score_pairs", "train", "eval", "bench", "index", "search", "verify", "explain", "demo"]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verimap", description="Retrieval is recall plus judgment.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"verimap.commands.{name}").add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"verimap: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `verimap score-pairs ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
