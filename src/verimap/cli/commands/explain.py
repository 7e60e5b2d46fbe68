"""``verimap explain "query" "candidate" [--png out.png]``: why the verifier decided as it did.

The terminal view lists each query token's best-matching candidate token with its cosine, the tokens with no
good match, and the verdict. ``--png`` also draws the token similarity map (query tokens × candidate tokens)
as a heatmap, best match per query token boxed, with the score and verdict in the title.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from verimap.cli.options import (
    add_config_argument,
    add_model_arguments,
    help_text,
    make_verifier,
    resolve,
    text_argument,
)
from verimap.errors import CLIError

TRUNCATION_HINT = "the encoder reads the start of each text: split a longer candidate to explain all of it"


def heatmap(explanation, query: str, candidate: str, path: str | Path) -> Path:
    """:func:`verimap.heatmap.heatmap` to ``path``, its errors as one-line CLI errors."""
    from verimap.heatmap import heatmap as draw

    path = Path(path)
    try:
        draw(explanation, query, candidate, path)
    except ImportError as exc:
        raise CLIError("--png needs matplotlib: pip install 'verimap[cli]' (or pip install matplotlib)") from exc
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def cmd_explain(args: argparse.Namespace) -> int:
    text_argument(args.query, "the query", query=True)
    text_argument(args.candidate, "the candidate")
    if args.png and not Path(args.png).resolve().parent.is_dir():
        raise CLIError(f"cannot write {args.png}: directory does not exist")
    cfg = resolve(args)
    verifier = make_verifier(cfg)
    ex = verifier.explain(args.query, args.candidate)
    if args.json:
        print(
            json.dumps({"query": args.query, "candidate": args.candidate, **ex.to_dict()}, ensure_ascii=False, indent=2)
        )
    else:
        print(ex.to_text())
        missing = ex.unmatched()
        print(f"unmatched query tokens (best cosine < 0.50): {', '.join(missing) if missing else 'none'}")
    if args.png:
        path = heatmap(ex, args.query, args.candidate, args.png)
        if not args.json:
            print(f"wrote {path}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="show token matches and the verdict; --png draws the similarity map",
        description=help_text(__doc__),
    )
    p.add_argument("query")
    p.add_argument("candidate")
    p.add_argument("--png", metavar="FILE", help="also write the query × candidate token heatmap to FILE")
    p.add_argument("--json", action="store_true", help="print JSON (tokens, best matches, full map)")
    add_config_argument(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_explain, truncation_hint=TRUNCATION_HINT)
