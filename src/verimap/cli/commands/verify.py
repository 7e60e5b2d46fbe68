"""``verimap verify "query" "candidate" […]``: the verifier's calibrated score and ACCEPT/REJECT for each candidate."""

from __future__ import annotations

import argparse
import json

from verimap.cli.options import add_config_argument, add_model_arguments, make_verifier, resolve, text_argument

TRUNCATION_HINT = "the encoder reads the start of each text: split a longer candidate to judge all of it"


def cmd_verify(args: argparse.Namespace) -> int:
    query = text_argument(args.query, "the query", query=True)
    candidates = [text_argument(c, f"candidate {i}") for i, c in enumerate(args.candidates, 1)]
    cfg = resolve(args)
    verifier = make_verifier(cfg)
    # The core's verdicts (fuse mode without a threshold drops nothing), back in the candidates' order.
    by_index = {r.index: r for r in verifier.rank(query, candidates)}
    rows = [
        {"candidate": c, "score": round(by_index[i].verifier_score, 6), "accepted": by_index[i].accepted}
        for i, c in enumerate(candidates)
    ]
    if args.json:
        print(
            json.dumps({"query": query, "threshold": verifier.threshold, "results": rows}, ensure_ascii=False, indent=2)
        )
    else:
        for r in rows:
            verdict = "ACCEPT" if r["accepted"] else "REJECT"
            tail = f"  {r['candidate']}" if len(rows) > 1 else ""
            print(f"{r['score']:.3f}  {verdict}  (threshold {verifier.threshold:.4g}){tail}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="score candidates against a query: probability and ACCEPT/REJECT",
        description="Print the verifier's calibrated match probability and verdict per candidate.",
    )
    p.add_argument("query")
    p.add_argument("candidates", nargs="+", metavar="candidate")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_config_argument(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_verify, truncation_hint=TRUNCATION_HINT)
