"""``verimap search "query"``: recall candidates from the store by pooled cosine, then let the verifier judge them.

The store returns ``--recall-k`` candidates; :meth:`verimap.Verifier.rank` applies the policy of the library and
the adapters (:mod:`verimap.policy`): ``--mode fuse`` (default) orders by the verifier fused with MaxSim and drops
nothing unless ``--threshold`` is given, ``rerank`` orders by the verifier alone and ``filter`` keeps the recall
order, both dropping what the verifier rejects. Every row shows its verdict (ACCEPT/REJECT at the threshold in
force) and the first ``--k`` kept results are shown. ``--show-rejected`` also lists the candidates set aside.
"""

from __future__ import annotations

import argparse
import json
import shutil

from verimap.cli.options import (
    add_config_argument,
    add_model_arguments,
    add_store_arguments,
    help_text,
    make_encoder,
    make_verifier,
    open_store,
    resolve,
    text_argument,
)
from verimap.errors import CLIError
from verimap.policy import MODES, Ranking

TRUNCATION_HINT = "those passages were indexed that long: re-index them with a smaller --max-words"


def snippet(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def table(rows: list[dict], width: int) -> str:
    head = f"{'rank':>4}  {'score':>6}  {'verifier':>8}  {'recall':>6}  {'verdict':<7}  "
    room = max(20, width - len(head))
    lines = [head + "passage", "-" * min(width, len(head) + room)]
    for r in rows:
        lines.append(
            f"{r['rank'] if r['rank'] is not None else '-':>4}  {r['score']:>6.3f}  {r['verifier_score']:>8.3f}  "
            f"{r['recall_score']:>6.3f}  {'ACCEPT' if r['accepted'] else 'REJECT':<7}  {snippet(r['text'], room)}"
        )
    return "\n".join(lines)


def header(recalled: int, ranking: Ranking, shown: int, mode: str, threshold: float, explicit: bool) -> str:
    """One line whose words mean what the rows say: "accepted" and "rejected" are verdicts (the rows' ACCEPT and
    REJECT), "set aside" is what the policy dropped."""
    rejected = recalled - ranking.n_accepted
    dropped = len(ranking.rejected)
    policy = f"mode {mode}, threshold {threshold:.4g}{' (given)' if explicit else ''}: " + (
        f"{dropped} set aside" if dropped else "none set aside"
    )
    return f"{recalled} recalled: {ranking.n_accepted} accepted, {rejected} rejected — {policy}; showing {shown}"


def cmd_search(args: argparse.Namespace) -> int:
    query = text_argument(args.query, "the query", query=True)
    cfg = resolve(args)
    encoder = make_encoder(cfg)
    store = open_store(cfg, encoder, create=False)
    try:
        hits = store.query(query, cfg.recall_k)
    except Exception as exc:
        raise CLIError(f"recall from {store.where} failed: {exc}") from exc
    verifier = make_verifier(cfg, encoder)
    # The library's call, the library's policy: fuse mode fuses with MaxSim, as Verifier.rank does by default, and a
    # threshold from the flag or verimap.toml is one given for the call (it drops in every mode).
    ranking = (
        verifier.rank(query, [h.text for h in hits], top_k=cfg.k, threshold=cfg.threshold, mode=cfg.mode)
        if hits
        else Ranking()
    )

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

    results = [row(r, i) for i, r in enumerate(ranking.kept, 1)]
    refused = [row(r, None) for r in ranking.rejected]
    if args.json:
        out = {
            "query": query,
            "mode": cfg.mode,
            "threshold": verifier.threshold,
            "recalled": len(hits),
            "accepted": ranking.n_accepted,
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
    print(header(len(hits), ranking, len(results), cfg.mode, verifier.threshold, cfg.threshold is not None))
    if results:
        print(table(results, width))
    else:
        print("no candidate passed the verifier" + ("" if args.show_rejected else " (see them with --show-rejected)"))
    if args.show_rejected and refused:
        print("\nset aside:")
        print(table(refused, width))
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search", help="recall from the store, verify, and show the ranked passages", description=help_text(__doc__)
    )
    p.add_argument("query")
    p.add_argument("--k", type=int, help="results to show (default 10)")
    p.add_argument("--recall-k", type=int, help="candidates to recall from the store (default 50)")
    p.add_argument("--mode", choices=MODES, help="fuse (default) | rerank | filter")
    p.add_argument("--show-rejected", action="store_true", help="also list the candidates the policy set aside")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--width", type=int, help="table width (default: the terminal's)")
    add_config_argument(p)
    add_store_arguments(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_search, truncation_hint=TRUNCATION_HINT)
