"""``verimap guard``: would a semantic cache serve the cached prompt's answer for the new prompt?

Two forms:

- ``verimap guard --cached "…" --new "…"`` prints the verdict (HIT or MISS), the score, the threshold and, on a
  miss, the reason when the verifier can tell (negation, direction, role, number, entity, antonym, …).
- ``verimap guard --input F.jsonl [--output OUT.jsonl]`` reads ``{"cached", "new"}`` lines and writes the same lines,
  in order and with every other field kept, with ``"score"`` (the calibrated probability that the two prompts mean
  the same, both directions combined) and ``"hit"`` (the verdict at the guard's threshold) added: a stable contract,
  like ``score-pairs``. An empty prompt scores 0.0 and is a miss.

The threshold is ``--threshold``, else the guard threshold of the weights card, else the card's passage threshold
(``threshold`` in verimap.toml is the passage threshold of ``search``: it is not read here). See docs/cache.md.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from verimap.cli.options import (
    add_config_argument,
    add_model_arguments,
    help_text,
    make_verifier,
    read_text_rows,
    resolve,
    text_argument,
    write_annotated,
)
from verimap.errors import CLIError
from verimap.inputs import check_threshold

TRUNCATION_HINT = "the guard reads the start of each prompt: a longer prompt is judged on its first 256 tokens"


def make_guard(args: argparse.Namespace):
    from verimap.guard import CacheGuard

    try:
        threshold = check_threshold(args.threshold)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    # The passage threshold of verimap.toml never becomes the guard's: only --threshold sets it here.
    verifier = make_verifier(replace(resolve(args), threshold=None))
    return CacheGuard(verifier, threshold=threshold)


def cmd_guard(args: argparse.Namespace) -> int:
    single = args.cached is not None or args.new is not None
    if single == (args.input is not None):
        raise CLIError("give either --cached and --new, or --input F.jsonl")
    if single:
        return _single(args)
    return _batch(args)


def _single(args: argparse.Namespace) -> int:
    if args.cached is None or args.new is None:
        raise CLIError("--cached and --new go together")
    if args.output:
        raise CLIError("--output goes with --input")
    cached = text_argument(args.cached, "the cached prompt")
    new = text_argument(args.new, "the new prompt")
    guard = make_guard(args)
    verdict = guard.check(new, cached)
    if args.json:
        row = {"cached": cached, "new": new, "score": round(verdict.score, 6), "hit": verdict.hit}
        print(json.dumps({**row, "reason": verdict.reason, "threshold": guard.threshold}, ensure_ascii=False))
    else:
        why = f"  why: {verdict.reason}" if verdict.reason else ""
        word = "HIT " if verdict.hit else "MISS"
        print(f"{word}  {verdict.score:.3f}  (threshold {guard.threshold:.4g}, {guard.threshold_source}){why}")
    return 0


def _batch(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    rows = read_text_rows(args.input, ("cached", "new"))
    guard = make_guard(args)

    def verdicts(chunk: list[dict]) -> list[dict]:
        judged = guard.check_pairs([(o["new"], o["cached"]) for o in chunk], reasons=False)
        return [{"score": round(v.score, 6), "hit": v.hit} for v in judged]

    write_annotated(args, rows, "guard", verdicts)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "guard",
        help="semantic-cache guard: may a cached prompt's answer be served for a new prompt?",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--cached", metavar="TEXT", help="the cached prompt")
    p.add_argument("--new", metavar="TEXT", help="the new prompt")
    p.add_argument("--input", metavar="F.jsonl", help='JSONL file with one {"cached": ..., "new": ...} object per line')
    p.add_argument("--output", metavar="OUT.jsonl", help="where --input's scored lines go (default: stdout)")
    p.add_argument("--json", action="store_true", help="--cached/--new: print the verdict as JSON")
    p.add_argument("--batch-size", type=int, default=256, help="--input: pairs judged per step")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no notes")
    add_config_argument(p)
    add_model_arguments(p, threshold=False)
    p.add_argument(
        "--threshold", type=float, help="hit threshold in [0, 1] (default: the weights card's guard threshold)"
    )
    p.set_defaults(func=cmd_guard, truncation_hint=TRUNCATION_HINT)
