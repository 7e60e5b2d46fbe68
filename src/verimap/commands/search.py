"""``verimap search "query"``: recall candidates from the store by pooled cosine, then let the verifier judge them.

The store returns ``--recall-k`` candidates; :meth:`verimap.Verifier.rank` applies ``--mode`` (rerank: order by
verifier score; filter: keep recall order; fuse: blend verifier and recall score) and ``--threshold``, and the
first ``--k`` accepted results are shown. ``--show-rejected`` also lists the candidates the verifier refused.
"""

from __future__ import annotations

import argparse
import json
import shutil

from verimap.cli import CLIError
from verimap.config import (
    add_config_argument,
    add_model_arguments,
    add_store_arguments,
    help_text,
    make_encoder,
    make_verifier,
    open_store,
    resolve,
)
from verimap.inputs import check_query
from verimap.policy import MODES


def snippet(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def table(rows: list[dict], width: int) -> str:
    head = f"{'rank':>4}  {'verifier':>8}  {'recall':>6}  {'verdict':<7}  "
    room = max(20, width - len(head))
    lines = [head + "passage", "-" * min(width, len(head) + room)]
    for r in rows:
        lines.append(
            f"{r['rank'] if r['rank'] is not None else '-':>4}  {r['verifier_score']:>8.3f}  {r['recall_score']:>6.3f}  "
            f"{'ACCEPT' if r['accepted'] else 'REJECT':<7}  {snippet(r['text'], room)}"
        )
    return "\n".join(lines)


def cmd_search(args: argparse.Namespace) -> int:
    if not args.query.strip():
        raise CLIError("the query is empty")
    try:
        check_query(args.query)  # invisible-only text, or undecodable bytes from argv (lone surrogates)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    cfg = resolve(args)
    encoder = make_encoder(cfg)
    store = open_store(cfg, encoder, create=False)
    try:
        hits = store.query(args.query, cfg.recall_k)
    except Exception as exc:
        raise CLIError(f"recall from {store.where} failed: {exc}") from exc
    verifier = make_verifier(cfg, encoder)
    if hits:
        kept, rejected = verifier.rank(
            args.query,
            [h.text for h in hits],
            top_k=cfg.k,
            mode=cfg.mode,
            prior_scores=[h.score for h in hits],
            return_rejected=True,
        )
    else:
        kept, rejected = [], []

    def row(r, rank):
        h = hits[r.index]
        return {
            "rank": rank,
            "id": h.id,
            "text": h.text,
            "meta": h.meta,
            "score": round(r.score, 6),
            "verifier_score": round(r.verifier_score, 6),
            "recall_score": round(h.score, 6),
            "recall_rank": r.index + 1,
            "accepted": r.accepted,
        }

    results = [row(r, i) for i, r in enumerate(kept, 1)]
    refused = [row(r, None) for r in rejected]
    if args.json:
        out = {
            "query": args.query,
            "mode": cfg.mode,
            "threshold": verifier.threshold,
            "recalled": len(hits),
            "accepted": len(hits) - len(rejected),
            "results": results,
        }
        if args.show_rejected:
            out["rejected"] = refused
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0

    width = args.width or shutil.get_terminal_size((100, 24)).columns
    if not hits:
        print(f"the index at {store.where} is empty: nothing to search (run `verimap index` first)")
        return 0
    accepted = len(hits) - len(rejected)  # kept is already cut to --k
    print(f"{len(hits)} recalled, {accepted} accepted"
          f"{f' (showing {len(results)})' if len(results) < accepted else ''}, {len(rejected)} rejected "
          f"— mode {cfg.mode}, threshold {verifier.threshold:.2f}")
    if results:
        print(table(results, width))
    else:
        print("no candidate passed the verifier" + ("" if args.show_rejected else " (see them with --show-rejected)"))
    if args.show_rejected and refused:
        print("\nrejected:")
        print(table(refused, width))
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="recall from the store, verify, and show accepted passages",
                       description=help_text(__doc__))
    p.add_argument("query")
    p.add_argument("--k", type=int, help="accepted results to show (default 10)")
    p.add_argument("--recall-k", type=int, help="candidates to recall from the store (default 50)")
    p.add_argument("--mode", choices=MODES, help="rerank (default) | filter | fuse")
    p.add_argument("--show-rejected", action="store_true", help="also list the candidates the verifier rejected")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--width", type=int, help="table width (default: the terminal's)")
    add_config_argument(p)
    add_store_arguments(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_search)
