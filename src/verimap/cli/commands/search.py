"""``verimap search "query"``: recall candidates from the store by pooled cosine, then let the verifier judge them.

The store returns ``--recall-k`` passages; :meth:`verimap.Verifier.rank` applies the policy of the library and the
adapters (:mod:`verimap.policy`): ``--mode fuse`` (default) orders by the verifier fused with MaxSim and drops
nothing unless ``--threshold`` is given, ``rerank`` orders by the verifier alone and ``filter`` keeps the recall
order, both dropping what the verifier rejects. Results are documents (``--unit document``, default: each shown by
its best passage, the first of its passages in the policy's order) or the passages themselves (``--unit passage``).
Every row shows its verdict (ACCEPT/REJECT at the threshold in force) and the first ``--k`` kept results are
shown. ``--show-rejected`` also lists the candidates set aside. ``--where key=value`` (repeatable) searches only
passages whose metadata match.

``--queries FILE`` runs a file of queries in one process (JSONL with ``id``/``_id`` and ``text``, as BEIR's
``queries.jsonl``, or plain text, one query per line) and writes one JSON line per query (``--format trec``: a TREC
run, ``qid Q0 docid rank score run``) to ``--output`` or stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from verimap.cli.options import (
    add_config_argument,
    add_model_arguments,
    add_store_arguments,
    help_text,
    make_verifier,
    open_store,
    read_jsonl,
    resolve,
    text_argument,
)
from verimap.errors import CLIError, StoreError
from verimap.policy import MODES, Ranking
from verimap.store import best_per_document

TRUNCATION_HINT = (
    "queries are read up to that length; stored passages that long were indexed whole by an older verimap: "
    "re-index them to split them into passages"
)
UNITS = ("document", "passage")


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


def header(recalled: int, accepted: int, dropped: int, shown: int, mode: str, threshold: float, explicit: bool) -> str:
    """One line whose words mean what the rows say: "accepted" and "rejected" are verdicts (the rows' ACCEPT and
    REJECT), "set aside" is what the policy dropped."""
    policy = f"mode {mode}, threshold {threshold:.4g}{' (given)' if explicit else ''}: " + (
        f"{dropped} set aside" if dropped else "none set aside"
    )
    return f"{recalled} recalled: {accepted} accepted, {recalled - accepted} rejected — {policy}; showing {shown}"


def parse_where(items: list[str] | None) -> dict | None:
    """``--where key=value`` flags as a Chroma filter: all must hold. A value that reads as a JSON number or boolean
    also matches metadata stored as that number or boolean (``year=2020`` finds 2020 and "2020")."""
    if not items:
        return None
    clauses = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--where takes key=value, got {item!r}")
        key = key.strip()
        try:
            typed = json.loads(value)
        except ValueError:
            typed = None
        if isinstance(typed, (bool, int, float)) and not isinstance(typed, str):
            clauses.append({"$or": [{key: value}, {key: typed}]})
        else:
            clauses.append({key: value})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def search_one(query: str, store, verifier, cfg, unit: str, where: dict | None) -> dict:
    """Recall, verify, and the results in ``unit``: what one query prints (``--json``) or writes (``--queries``)."""
    try:
        hits = store.query(query, cfg.recall_k, where=where)
    except StoreError as exc:
        raise CLIError(str(exc)) from exc
    except Exception as exc:
        raise CLIError(f"recall from {store.where} failed: {exc}") from exc
    # The library's call, the library's policy: fuse mode fuses with MaxSim, as Verifier.rank does by default, and a
    # threshold from the flag or verimap.toml is one given for the call (it drops in every mode).
    ranking = (
        verifier.rank(query, [h.text for h in hits], threshold=cfg.threshold, mode=cfg.mode) if hits else Ranking()
    )
    kept, rejected = list(ranking.kept), list(ranking.rejected)
    if unit == "document":
        by_index = {r.index: r for r in kept + rejected}
        kept_docs = best_per_document(hits, [r.index for r in kept])
        seen = {hits[i].parent_id for i in kept_docs}
        set_aside = [i for i in best_per_document(hits, [r.index for r in rejected]) if hits[i].parent_id not in seen]
        kept, rejected = [by_index[i] for i in kept_docs], [by_index[i] for i in set_aside]
        recalled, accepted = len(kept) + len(rejected), sum(r.accepted for r in kept + rejected)
    else:
        recalled, accepted = len(hits), ranking.n_accepted

    def row(r, rank):
        h = hits[r.index]
        out = {
            "rank": rank,
            "id": h.parent_id if unit == "document" else h.id,
            "text": h.text,
            "meta": h.meta,
            "score": round(r.score, 6),
            "verifier_score": round(r.verifier_score, 6),
            "recall_score": round(h.score, 6),
            "recall_rank": r.index + 1,
            "accepted": r.accepted,
        }
        out.update(
            {"passage_id": h.id} if unit == "document" else {"parent_id": h.parent_id},
            passage=h.passage,
            passages=h.passages,
            start=h.start,
            end=h.end,
        )
        return out

    return {
        "query": query,
        "unit": unit,
        "mode": cfg.mode,
        "threshold": verifier.threshold,
        "recalled": recalled,
        "passages_recalled": len(hits),
        "accepted": accepted,
        "results": [row(r, i) for i, r in enumerate(kept[: cfg.k], 1)],
        "rejected": [row(r, None) for r in rejected],
    }


def read_queries(path: Path) -> list[tuple[str, str]]:
    """``(id, text)`` of each query: JSONL objects with ``id`` or ``_id`` and ``text`` (or ``query``), or plain text
    lines (id = line number)."""
    if not path.is_file():
        raise CLIError(f"no such queries file: {path}")
    out = []
    if path.suffix == ".jsonl":
        for n, obj in read_jsonl(path):
            text = obj.get("text", obj.get("query"))
            qid = obj.get("id", obj.get("_id", str(n)))
            if not isinstance(text, str) or not text.strip():
                raise CLIError(f"{path}:{n}: a query needs a non-empty 'text'")
            out.append((str(qid), text_argument(text, f"{path}:{n}: the query", query=True)))
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CLIError(f"cannot read {path}: {exc}") from exc
        out = [
            (str(n), text_argument(t, f"{path}:{n}: the query", query=True))
            for n, t in enumerate(lines, 1)
            if t.strip()
        ]
    if not out:
        raise CLIError(f"{path} holds no query")
    return out


def trec_lines(qid: str, result: dict, run: str) -> list[str]:
    return [f"{qid} Q0 {r['id']} {r['rank']} {r['score']:.6f} {run}" for r in result["results"]]


def cmd_search(args: argparse.Namespace) -> int:
    if (args.query is None) == (args.queries is None):
        raise CLIError("give a query, or --queries FILE (not both)")
    query = text_argument(args.query, "the query", query=True) if args.query is not None else None
    queries = read_queries(Path(args.queries)) if args.queries is not None else None
    where = parse_where(args.where)
    cfg = resolve(args)
    verifier = make_verifier(cfg)
    store = open_store(cfg, verifier.encoder, create=False)  # reads the token vectors the verifier indexed

    if queries is not None:
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
        try:
            for qid, text in queries:
                result = search_one(text, store, verifier, cfg, args.unit, where)
                if not args.show_rejected:
                    del result["rejected"]
                if args.format == "trec":
                    lines = trec_lines(qid, result, args.run_name)
                    out.write("".join(line + "\n" for line in lines))
                else:
                    out.write(json.dumps({"query_id": qid, **result}, ensure_ascii=False) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
        return 0

    result = search_one(query, store, verifier, cfg, args.unit, where)
    if args.json:
        if not args.show_rejected:
            del result["rejected"]
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0

    width = args.width or shutil.get_terminal_size((100, 24)).columns
    if not result["passages_recalled"]:
        print(f"the index at {store.where} is empty: nothing to search (run `verimap index` first)")
        return 0
    results, refused = result["results"], result["rejected"]
    print(
        header(
            result["recalled"],
            result["accepted"],
            len(refused),
            len(results),
            cfg.mode,
            verifier.threshold,
            cfg.threshold is not None,
        )
    )
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
        "search",
        help="recall from the store, verify, and show the ranked documents or passages",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("query", nargs="?")
    p.add_argument("--queries", metavar="FILE", help="run every query of this file (JSONL or one per line)")
    p.add_argument("--output", metavar="FILE", help="--queries: write the results here (default: stdout)")
    p.add_argument("--format", choices=("jsonl", "trec"), default="jsonl", help="--queries: output format")
    p.add_argument("--run-name", default="verimap", help="--format trec: the run's name (last column)")
    p.add_argument("--unit", choices=UNITS, default="document", help="rank documents (default) or passages")
    p.add_argument("--where", action="append", metavar="KEY=VALUE", help="only passages whose metadata match")
    p.add_argument("--k", type=int, help="results to show (default 10)")
    p.add_argument("--recall-k", type=int, help="passages to recall from the store (default 50)")
    p.add_argument("--mode", choices=MODES, help="fuse (default) | rerank | filter")
    p.add_argument("--show-rejected", action="store_true", help="also list the candidates the policy set aside")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--width", type=int, help="table width (default: the terminal's)")
    add_config_argument(p)
    add_store_arguments(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_search, truncation_hint=TRUNCATION_HINT)
