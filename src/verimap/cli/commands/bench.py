"""``verimap bench speed|cache``: latency against a cross-encoder-shaped forward, and what the token cache costs.

``speed``: cross-encoder-shaped forward, pooled cosine, MaxSim and the verifier, cold and warm, for 10/50/100
candidates, plus the verifier network's share, indexing throughput, bytes per cached passage and peak memory
(on SciFact sentences from the data folder, or on demo passages without one).
``cache``: each storage format's effect on verifier, MaxSim and pooled-cosine scores of dev pairs.
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
    if args.what == "speed":
        sizes = tuple(args.candidates)
        if not sizes or min(sizes) < 1:
            raise CLIError("--candidates must be positive integers")
        if args.repeats < 1:
            raise CLIError("--repeats must be at least 1")
        data = data_folder(args, cfg, required=False)
        if data is None:
            print("(no data folder given: timing on demo passages instead)")
        # A fresh token cache: "cold" and "warm" must mean what the bench says, whatever ran before in the process.
        encoder = make_encoder(cfg, cache=TokenCache())
        report = bench.bench_speed(encoder, make_verifier(cfg, encoder), data, sizes, args.repeats, args.index_docs)
        md = bench.speed_markdown(report)
        if args.png:
            bench.speed_plot(report, Path(args.png))
            md += f"\n\n![rerank latency]({Path(args.png).name})"
    else:
        if args.pairs < 2:
            raise CLIError("--pairs must be at least 2")
        data = data_folder(args, cfg)
        verifier = make_verifier(cfg, make_encoder(cfg, cache=False))
        md = bench.cache_markdown(bench.bench_cache(verifier, data, args.pairs), args.pairs)
    print(md)
    if args.write:
        write_block(Path(args.write), f"bench-{args.what}", md)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="speed and token-cache benchmarks",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("what", choices=("speed", "cache"))
    p.add_argument("--weights", help="verifier weights (default: shipped)")
    add_data_argument(p)
    p.add_argument("--candidates", type=int, nargs="+", default=[10, 50, 100], help="candidates per request")
    p.add_argument("--repeats", type=int, default=7, help="timed calls per measurement (median reported)")
    p.add_argument("--index-docs", type=int, default=500, help="passages for the indexing measurement")
    p.add_argument("--pairs", type=int, default=1000, help="dev pairs for `cache`")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--write", help="replace this benchmark's block in a markdown file (e.g. docs/benchmarks.md)")
    p.add_argument("--png", help="`speed`: also save the latency plot here (e.g. docs/bench-speed.png)")
    add_config_argument(p)
    p.set_defaults(func=cmd_bench)
