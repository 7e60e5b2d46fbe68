"""``verimap bench speed|cache|index|serve|quality``: latency against a cross-encoder-shaped forward, what the token store
costs, indexing speed, and what HTTP adds.

``speed``: cross-encoder-shaped forward, pooled cosine, MaxSim and the verifier, cold and warm, for 10/50/100
candidates, plus the verifier network's share, indexing throughput, bytes per cached passage and peak memory
(on SciFact sentences from the data folder, or on demo passages without one).
``cache``: each storage option's bytes per passage and its effect on verifier and MaxSim scores (dev pairs and
SciFact query-passage pairs) and on dev ROC-AUCs.
``index``: ``verimap index`` end to end on a BEIR corpus (``--corpus``, default the SciFact folder of the data
folder): documents/s, passages/s, each part's share of the time (encoder, spaCy parse, upserts ...), token bytes.
``quality``: the verifier's dev figures against the ones its weights card records (the check every speed
change must pass: no figure may move by more than 0.01); ``--write-reference`` records them.
``serve``: a warm rerank of --candidates cached passages (one number, default 50) in process, through `verimap
serve` (a child process on a loopback port), and as a `verimap search` process per query; then --requests requests
from --concurrency clients at once (latency p50/p95, requests/s). Needs the serve extra.
The data folder is ``--data``, else ``data`` in verimap.toml, else ``$VERIMAP_DATA_DIR``.
With ``--write docs/benchmarks.md`` the table replaces its block there (``--png`` also saves the speed plot).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from verimap.cli.options import (
    add_config_argument,
    add_data_argument,
    data_folder,
    help_text,
    make_encoder,
    make_verifier,
    resolve,
    write_block,
)
from verimap.errors import CLIError


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from verimap.cache import TokenCache
    from verimap.evaluation import bench

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = resolve(args)
    if args.what == "serve":
        md = serve(args, cfg)
    elif args.what == "quality":
        from verimap.evaluation.quality import quality_drift, write_reference

        data = data_folder(args, cfg)
        verifier = make_verifier(cfg, make_encoder(cfg, cache=TokenCache(max_bytes=2**30)))
        if args.write_reference:
            ref = write_reference(cfg.weights or verifier_weights(), verifier, data)
            md = f"quality reference written: {len(ref['figures'])} dev figures at {ref['limit']} rows per set"
        else:
            drift = quality_drift(verifier, data)
            md = quality_markdown(drift)
    elif args.what == "speed":
        sizes = tuple(args.candidates or (10, 50, 100))
        if not sizes or min(sizes) < 1:
            raise CLIError("--candidates must be positive integers")
        if args.repeats < 1:
            raise CLIError("--repeats must be at least 1")
        data = data_folder(args, cfg, required=False)
        if data is None:
            print("(no data folder given: timing on demo passages instead)")
        # A fresh token cache: "cold" and "warm" must mean what the bench says, whatever ran before in the process.
        encoder = make_encoder(cfg, cache=TokenCache())
        verifier = make_verifier(cfg, encoder)
        report = bench.bench_speed(encoder, verifier, data, sizes, args.repeats, args.index_docs)
        md = bench.speed_markdown(report)
        if data is not None:  # the speed figures count only if judgment did not move (docs/benchmarks.md)
            from verimap.evaluation.quality import quality_drift

            md += "\n" + quality_markdown(quality_drift(verifier, data))
        if args.png:
            bench.speed_plot(report, Path(args.png))
            md += f"\n\n![rerank latency]({Path(args.png).name})"
    elif args.what == "cache":
        if args.pairs < 2:
            raise CLIError("--pairs must be at least 2")
        data = data_folder(args, cfg)
        verifier = make_verifier(cfg, make_encoder(cfg, cache=False))
        table = bench.bench_cache(verifier, data, args.pairs, auc_limit=args.auc_limit, scifact_docs=args.scifact_docs)
        md = bench.cache_markdown(table, args.pairs)
    else:
        if args.docs is not None and args.docs < 1:
            raise CLIError("--docs must be a positive integer")
        corpus = Path(args.corpus) if args.corpus else data_folder(args, cfg) / "scifact"
        if not corpus.is_dir():
            raise CLIError(f"no corpus folder {corpus}")
        # Its own encoder (the bench times its parser and model), seen through the verifier: a tower's token vectors
        # are what the token file keeps, as `verimap index` writes them.
        encoder = make_verifier(cfg, make_encoder(cfg, cache=TokenCache())).encoder
        try:
            report = bench.bench_index_corpus(
                encoder,
                corpus,
                args.docs,
                max_tokens=cfg.passage_tokens,
                overlap=cfg.passage_overlap,
                keep=Path(args.keep) if args.keep else None,
            )
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
        md = bench.index_markdown(report)
    print(md)
    if args.write:
        write_block(Path(args.write), f"bench-{args.what}", md)
    return 0


def verifier_weights() -> Path:
    from verimap.weights import SHIPPED

    return SHIPPED


def quality_markdown(drift: dict) -> str:
    if drift["ok"] is None:
        return f"- Quality check: {drift['measures']} dev figures computed; the weights card has no reference."
    verdict = "within" if drift["ok"] else "OUTSIDE"
    return (
        f"- Quality check: {drift['measures']} dev figures against the card's reference, largest change "
        f"{drift['max_abs_change']:.4f} ({drift['worst']}): {verdict} the 0.01 limit."
    )


def serve(args: argparse.Namespace, cfg) -> str:
    from verimap.cache import TokenCache
    from verimap.evaluation import bench

    candidates = args.candidates or [50]
    if len(candidates) != 1 or candidates[0] < 1:
        raise CLIError("`bench serve` takes one positive --candidates number")
    for name in ("repeats", "concurrency"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name} must be at least 1")
    if args.requests < 0 or args.search_repeats < 0:
        raise CLIError("--requests and --search-repeats must not be negative")
    try:
        import httpx  # noqa: F401

        import verimap.serve  # noqa: F401
    except ImportError as exc:
        raise CLIError(f"`bench serve` needs the serve extra: pip install 'verimap[serve]' ({exc})") from exc
    data = data_folder(args, cfg, required=False)
    if data is None:
        print("(no data folder given: timing on demo passages instead)")
    verifier = make_verifier(cfg, make_encoder(cfg, cache=TokenCache()))
    report = bench.bench_serve(
        verifier,
        data,
        candidates=candidates[0],
        repeats=args.repeats,
        requests=args.requests,
        concurrency=args.concurrency,
        search_repeats=args.search_repeats,
        encoder=cfg.encoder,
        weights=cfg.weights,
        device=cfg.device,
    )
    return bench.serve_markdown(report)


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="speed, token-store and indexing benchmarks",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("what", choices=("speed", "cache", "index", "serve", "quality"))
    p.add_argument(
        "--write-reference", action="store_true", help="`quality`: record the dev figures in the weights card"
    )
    p.add_argument("--weights", help="verifier weights (default: shipped)")
    add_data_argument(p)
    p.add_argument("--candidates", type=int, nargs="+", help="candidates per request (default: 10 50 100; `serve`: 50)")
    p.add_argument("--repeats", type=int, default=7, help="timed calls per measurement (median reported)")
    p.add_argument("--requests", type=int, default=2000, help="`serve`: requests of the load phase (0: none)")
    p.add_argument("--concurrency", type=int, default=8, help="`serve`: concurrent clients of the load phase")
    p.add_argument("--search-repeats", type=int, default=3, help="`serve`: timed `verimap search` processes (0: none)")
    p.add_argument("--index-docs", type=int, default=500, help="passages for the indexing measurement")
    p.add_argument("--pairs", type=int, default=1000, help="dev pairs for `cache`")
    p.add_argument("--auc-limit", type=int, default=300, help="`cache`: rows per dev AUC set")
    p.add_argument("--scifact-docs", type=int, default=300, help="`cache`: SciFact abstracts for query-passage pairs")
    p.add_argument("--corpus", metavar="DIR", help="`index`: a BEIR folder (default: <data>/scifact)")
    p.add_argument("--docs", type=int, help="`index`: only the first N documents")
    p.add_argument("--keep", metavar="DIR", help="`index`: index into this new directory and keep it")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--write", help="replace this benchmark's block in a markdown file (e.g. docs/benchmarks.md)")
    p.add_argument("--png", help="`speed`: also save the latency plot here (e.g. docs/bench-speed.png)")
    add_config_argument(p)
    p.set_defaults(func=cmd_bench)
