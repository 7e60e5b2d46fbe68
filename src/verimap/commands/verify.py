"""``verimap verify "query" "candidate" […]``: the verifier's calibrated score and ACCEPT/REJECT for each candidate."""

from __future__ import annotations

import argparse
import json

from verimap.cli import CLIError
from verimap.config import add_config_argument, add_model_arguments, make_verifier, resolve
from verimap.inputs import check_query, check_unicode


def cmd_verify(args: argparse.Namespace) -> int:
    if not args.query.strip():
        raise CLIError("the query is empty")
    for i, c in enumerate(args.candidates, 1):
        if not c.strip():
            raise CLIError(f"candidate {i} is empty")
    try:
        check_query(args.query)  # invisible-only text, or undecodable bytes from argv (lone surrogates)
        for i, c in enumerate(args.candidates, 1):
            check_unicode(c, f"candidate {i}")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    cfg = resolve(args)
    verifier = make_verifier(cfg)
    scores = verifier.score(args.query, args.candidates)
    rows = [
        {"candidate": c, "score": round(s, 6), "accepted": s >= verifier.threshold}
        for c, s in zip(args.candidates, scores)
    ]
    if args.json:
        print(json.dumps({"query": args.query, "threshold": verifier.threshold, "results": rows},
                         ensure_ascii=False, indent=2))
    else:
        for r in rows:
            verdict = "ACCEPT" if r["accepted"] else "REJECT"
            tail = f"  {r['candidate']}" if len(rows) > 1 else ""
            print(f"{r['score']:.3f}  {verdict}  (threshold {verifier.threshold:.2f}){tail}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="score candidates against a query: probability and ACCEPT/REJECT",
                       description="Print the verifier's calibrated match probability and verdict per candidate.")
    p.add_argument("query")
    p.add_argument("candidates", nargs="+", metavar="candidate")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_config_argument(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_verify)
