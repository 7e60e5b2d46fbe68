"""``verimap score-pairs``: add a ``"score"`` to each ``{"a", "b"}`` JSONL line, in order (a stable contract)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from verimap.cli.options import (
    SCORERS,
    add_config_argument,
    add_model_arguments,
    make_scorer,
    read_jsonl,
    resolve,
)
from verimap.errors import CLIError
from verimap.inputs import check_unicode

TRUNCATION_HINT = "the encoder reads the start of each text: split longer texts to score all of them"


def cmd_score_pairs(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.weights and args.scorer != "verifier":
        raise CLIError("--weights only applies to --scorer verifier")
    cfg = resolve(args)
    rows = list(read_jsonl(Path(args.input)))
    for n, obj in rows:
        for key in ("a", "b"):
            if not isinstance(obj.get(key), str):
                raise CLIError(f"{args.input}:{n}: field {key!r} must be a string")
            try:  # a "\ud800" escape decodes to a lone surrogate, which no tokenizer can read
                check_unicode(obj[key], f"field {key!r}")
            except ValueError as exc:
                raise CLIError(f"{args.input}:{n}: {exc}") from None
    scorer = make_scorer(args.scorer, cfg)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        with tqdm(
            total=len(rows), desc=f"score-pairs ({args.scorer})", unit="pair", file=sys.stderr, disable=args.quiet
        ) as bar:
            for start in range(0, len(rows), args.batch_size):
                chunk = [obj for _, obj in rows[start : start + args.batch_size]]
                scores = scorer.score_pairs([(o["a"], o["b"]) for o in chunk])
                for obj, score in zip(chunk, scores):
                    out.write(json.dumps({**obj, "score": round(score, 6)}, ensure_ascii=False) + "\n")
                bar.update(len(chunk))
    finally:
        if out is not sys.stdout:
            out.close()
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
