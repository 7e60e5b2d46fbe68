"""``verimap score-pairs``: add a ``"score"`` to each ``{"a", "b"}`` JSONL line, in order (a stable contract)."""

from __future__ import annotations

import argparse

from verimap.cli.options import (
    SCORERS,
    add_config_argument,
    add_model_arguments,
    make_scorer,
    read_text_rows,
    resolve,
    write_annotated,
)
from verimap.errors import CLIError

TRUNCATION_HINT = "the encoder reads the start of each text: split longer texts to score all of them"


def cmd_score_pairs(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.weights and args.scorer != "verifier":
        raise CLIError("--weights only applies to --scorer verifier")
    cfg = resolve(args)
    rows = read_text_rows(args.input, ("a", "b"))
    scorer = make_scorer(args.scorer, cfg)

    def scores(chunk: list[dict]) -> list[dict]:
        return [{"score": round(s, 6)} for s in scorer.score_pairs([(o["a"], o["b"]) for o in chunk])]

    write_annotated(args, rows, f"score-pairs ({args.scorer})", scores)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score-pairs", help='add a \'score\' to each {"a", "b"} line of a JSONL file, order kept')
    p.add_argument("--input", required=True, help='JSONL file with one {"a": ..., "b": ...} object per line')
    p.add_argument("--scorer", choices=SCORERS, default="verifier")
    p.add_argument("--output", help="where to write the scored JSONL (default: stdout)")
    p.add_argument("--batch-size", type=int, default=256, help="pairs scored per step")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no notes")
    add_config_argument(p)
    add_model_arguments(p, threshold=False)
    p.set_defaults(func=cmd_score_pairs, truncation_hint=TRUNCATION_HINT)
