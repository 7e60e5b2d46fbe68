"""``verimap eval-ir --corpus DIR``: nDCG@10 and recall@k of dense recall, MaxSim and the verifier on a BEIR folder.

The corpus (``corpus.jsonl(.gz)``, ``queries.jsonl``, ``qrels/<split>.tsv`` or a top-level ``qrels.tsv``) is indexed
into ``--store`` (reused and completed if it exists: indexing is idempotent) or a temporary store, exactly as
``verimap index`` does it; then every query of the split with a relevant document recalls ``--recall-k`` passages,
reranked by MaxSim and by the default policy, each ranking read as documents (best passage each). ``--json OUT``
writes ``{"ndcg@10": {"dense", "maxsim", "verifier", "default"}, "recall@k": {...}, "queries": N, "per_query": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from verimap.cli.options import (
    add_config_argument,
    add_model_arguments,
    add_store_arguments,
    help_text,
    make_verifier,
    open_store,
    resolve,
    write_block,
)
from verimap.errors import CLIError, ConfigError

TRUNCATION_HINT = "queries longer than that are read up to the encoder's length"


def cmd_eval_ir(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from verimap.evaluation import ir

    cfg = resolve(args)
    if args.k < 1:
        raise CLIError("--k must be a positive integer")
    if args.limit is not None and args.limit < 1:
        raise CLIError("--limit must be a positive integer")
    try:
        beir = ir.load_beir(Path(args.corpus), args.split)
    except (ConfigError, OSError) as exc:
        raise CLIError(str(exc)) from exc
    with tempfile.TemporaryDirectory() as tmp:
        if args.store is None and cfg.host is None:
            cfg = replace(cfg, store=str(Path(tmp) / "index"))
        verifier = make_verifier(cfg)
        encoder = verifier.encoder  # stock recall vectors into Chroma, the verifier's token vectors into the file
        store = open_store(cfg, encoder, create=True)
        documents = list(beir.documents())
        passages = store.passages(documents, max_tokens=cfg.passage_tokens, overlap=cfg.passage_overlap)
        with tqdm(
            total=len(passages), desc="eval-ir: index", unit="passage", file=sys.stderr, disable=args.quiet
        ) as bar:
            store.add_documents(documents, passages=passages, on_batch=bar.update)
        n = min(len(beir.queries), args.limit or len(beir.queries))
        with tqdm(total=n, desc="eval-ir: queries", unit="query", file=sys.stderr, disable=args.quiet) as bar:
            report, means = ir.evaluate(
                beir, store, verifier, recall_k=cfg.recall_k, k=args.k, limit=args.limit, progress=bar.update
            )
        if encoder.cache is not None and store.token_file is not None:
            encoder.cache.detach(store.token_file)  # before the temporary store goes
    md = ir.to_markdown(means, args.k)
    title = (
        f"`verimap eval-ir --corpus {args.corpus}`: {report['queries']} queries ({beir.qrels_path.name}), "
        f"{len(documents)} documents in {len(passages)} passages, {cfg.recall_k} passages recalled per query, "
        f"default policy = mode {cfg.mode} (weights {cfg.weights or 'shipped'})."
    )
    print(title + "\n\n" + md)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.write:
        write_block(Path(args.write), "eval-ir", title + "\n\n" + md)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval-ir",
        help="nDCG@10 / recall@k of dense, MaxSim and the verifier on a BEIR-layout corpus",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--corpus", required=True, metavar="DIR", help="BEIR folder: corpus.jsonl(.gz), queries.jsonl, qrels"
    )
    p.add_argument("--split", default="test", help="qrels/<split>.tsv to read (default test; else qrels.tsv)")
    p.add_argument("--recall-k", type=int, default=30, help="passages recalled per query (default 30)")
    p.add_argument("--k", type=int, default=10, help="recall@k is measured at this k (default 10)")
    p.add_argument("--limit", type=int, help="evaluate only the first N queries")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON here")
    p.add_argument("--write", help="replace the eval-ir block of this markdown file (e.g. docs/benchmarks.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_argument(p)
    add_store_arguments(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_eval_ir, truncation_hint=TRUNCATION_HINT)
