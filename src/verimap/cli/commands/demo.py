"""``verimap demo``: index a small bundled knowledge base and show where pooled cosine and verimap disagree.

The corpus (``verimap/demo/corpus.jsonl``, about 50 FAQ-style passages) is full of near-misses: reversed
directions, swapped roles, negations, other numbers, before vs after. For each demo query the store recalls
candidates by pooled cosine (what a dense retriever ranks by); next to that ranking stands the verifier's score
and verdict. ``answer`` marks the passage that does answer, ``near-miss`` the ones that only look like it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile

from verimap.cli.commands.search import snippet
from verimap.cli.options import (
    add_config_argument,
    add_model_arguments,
    help_text,
    make_verifier,
    open_store,
    resolve,
)
from verimap.demo import demo_data
from verimap.errors import CLIError


def cmd_demo(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    if args.show < 1:
        raise CLIError("--show must be at least 1")
    cfg = resolve(args)
    corpus, queries = demo_data()
    tmp = None
    if args.store:
        cfg = replace(cfg, store=args.store, host=None, port=None, collection="verimap-demo")
    else:
        tmp = tempfile.mkdtemp(prefix="verimap-demo-")
        cfg = replace(cfg, store=tmp, host=None, port=None, collection="verimap-demo")
    try:
        verifier = make_verifier(cfg)
        store = open_store(cfg, verifier.encoder, create=True)
        with tqdm(total=len(corpus), desc="demo: indexing", unit="passage", file=sys.stderr, disable=args.quiet) as bar:
            store.add(
                [p["text"] for p in corpus],
                ids=[p["id"] for p in corpus],
                metas=[p.get("meta") for p in corpus],
                on_batch=bar.update,
            )
        print(
            f"Indexed {store.count()} demo passages. For each query: the top {args.show} by pooled cosine "
            f"(a dense retriever's ranking), with verimap's score and verdict (threshold {verifier.threshold:.4g}).\n"
            "The verdicts are the shipped model's as they are, not tuned to this demo: it still misjudges some kinds "
            "of near-miss (docs/model-card.md says which)."
        )
        width = args.width or shutil.get_terminal_size((110, 24)).columns
        room = max(30, width - 44)
        pooled_wrong = near_total = near_rejected = answers_accepted = 0
        for n, q in enumerate(queries, 1):
            hits = store.query(q["query"], args.show)
            # The core's verdicts (fuse mode without a threshold drops nothing), back in pooled-cosine order.
            by_index = {r.index: r for r in verifier.rank(q["query"], [h.text for h in hits])}
            print(f"\n[{n}] {q['query']}   ({q['kind']})")
            print(f"  {'cos':>5}  {'verimap':>7}  {'verdict':<6}  {'':<9}  passage")
            answer_rank = next((i for i, h in enumerate(hits) if h.id == q["answer"]), None)
            for i, h in enumerate(hits):
                tag = "answer" if h.id == q["answer"] else "near-miss" if h.id in q["near_misses"] else ""
                s, ok = by_index[i].verifier_score, by_index[i].accepted
                print(
                    f"  {h.score:5.3f}  {s:7.3f}  {'ACCEPT' if ok else 'REJECT':<6}  {tag:<9}  {snippet(h.text, room)}"
                )
                if tag == "near-miss":
                    near_total += 1
                    near_rejected += not ok
                    if answer_rank is None or i < answer_rank:
                        pooled_wrong += 1
                if tag == "answer":
                    answers_accepted += ok
            if answer_rank is None:
                print(f"  (the answer, {q['answer']}, was not in the top {args.show} by pooled cosine)")
        print(
            f"\nSummary: pooled cosine ranked a near-miss above the answer {pooled_wrong} time(s); "
            f"verimap rejected {near_rejected} of {near_total} near-misses shown and accepted "
            f"{answers_accepted} of {len(queries)} answers."
        )
        if args.store:
            print(f"The demo index is kept in {args.store} (collection 'verimap-demo').")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="index a bundled near-miss knowledge base and compare pooled cosine with verimap",
        description=help_text(__doc__),
    )
    p.add_argument("--show", type=int, default=5, help="candidates shown per query (default 5)")
    p.add_argument("--store", metavar="DIR", help="keep the demo index in DIR (default: a temporary directory)")
    p.add_argument("--width", type=int, help="output width (default: the terminal's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no notes")
    add_config_argument(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_demo)
