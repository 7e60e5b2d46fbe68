"""``verimap eval``: baselines and the verifier side by side on dev data; optionally written to docs/benchmarks.md.

The data folder is ``--data``, else ``data`` in verimap.toml, else ``$VERIMAP_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from verimap.cli.options import (
    add_config_argument,
    add_data_argument,
    data_folder,
    make_encoder,
    make_verifier,
    resolve,
    write_block,
)

TRUNCATION_HINT = "evaluation texts (e.g. SciFact abstracts) are read up to the encoder's length, as in use"


def cmd_eval(args: argparse.Namespace) -> int:
    from verimap.cache import TokenCache
    from verimap.evaluation.retrieval import scifact_rows
    from verimap.evaluation.suite import build_sets, evaluate, to_markdown, word_overlap
    from verimap.guard import CacheGuard
    from verimap.scorers import MaxSim, PooledCosine

    cfg = resolve(args)
    data = data_folder(args, cfg)
    # Every distinct text is encoded once for all scorers, through the same int8 token cache users get.
    encoder = make_encoder(cfg, cache=TokenCache(max_bytes=4 * 2**30))
    verifier = make_verifier(cfg, encoder)
    scorers = {
        "word overlap": word_overlap,
        "pooled cosine": PooledCosine(encoder).score_pairs,
        "MaxSim": MaxSim(encoder).score_pairs,
    }
    if verifier.encoder is not encoder:  # an adapter: the baselines on the tuned encoder are the bar to beat
        scorers["pooled cosine (tuned)"] = PooledCosine(verifier.encoder).score_pairs
        scorers["MaxSim (tuned)"] = MaxSim(verifier.encoder).score_pairs
    scorers["verifier"] = verifier.score_pairs
    thresholds = {"verifier": verifier.threshold}
    for item in args.compare or []:  # other weights beside, e.g. the previous release: "v4=path/to/v4.safetensors"
        name, _, path = item.rpartition("=")
        other = make_verifier(replace(cfg, weights=path), encoder)
        scorers[name or Path(path).stem] = other.score_pairs
        thresholds[name or Path(path).stem] = other.threshold
    # The cache guard reads each pair both ways (its own rule): its column is what the cache-shaped rows are for.
    guard = CacheGuard(verifier, threshold=verifier.threshold)
    scorers["guard"] = lambda pairs: [v.score for v in guard.check_pairs(pairs, reasons=False, warn=False)]
    sets = build_sets(data, limit=args.limit)
    table = evaluate(scorers, sets, thresholds)
    if args.scifact:
        table.update(scifact_rows(verifier, MaxSim(encoder), encoder, data, args.scifact))
    md = to_markdown(table, list(scorers))
    print(md)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")
    if args.write:
        write_block(
            Path(args.write),
            "eval",
            f"Weights: `{cfg.weights or 'shipped'}` (threshold "
            f"{verifier.threshold:.4g}); sets capped at {args.limit or 'all'} rows.\n\n{md}",
        )
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="pooled cosine, MaxSim, word overlap and the verifier on dev data")
    p.add_argument("--weights", help="verifier weights to evaluate (default: shipped)")
    add_data_argument(p)
    p.add_argument("--limit", type=int, default=1000, help="rows per set (0 = all)")
    p.add_argument("--scifact", type=int, default=0, help="also rank SciFact with this many queries (0 = skip)")
    p.add_argument(
        "--compare", action="append", metavar="NAME=WEIGHTS", help="also score with these weights (repeatable)"
    )
    p.add_argument("--json", help="also write the table as JSON here")
    p.add_argument("--write", help="replace the eval table in this markdown file (e.g. docs/benchmarks.md)")
    add_config_argument(p)
    p.set_defaults(func=cmd_eval, truncation_hint=TRUNCATION_HINT)
