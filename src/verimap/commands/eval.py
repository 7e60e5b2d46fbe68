"""``verimap eval``: baselines and the verifier side by side on dev data; optionally written to docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from verimap.cli import CLIError

FUSE_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7)


def scifact_rows(verifier, maxsim, encoder, data: Path, n_queries: int) -> dict[str, dict[str, float]]:
    """SciFact nDCG@10: dense top-100, reranked by MaxSim, by the verifier, and by the fused policy
    ``w * verifier + (1 - w) * MaxSim`` (with and without sending rejected candidates last). The fuse weight is
    chosen on the first half of the queries and reported on the second half only.

    The fused prior is MaxSim over the verifier's own token vectors, as in :meth:`Verifier.rank`; with an
    adapter that is the tuned encoder, whose MaxSim is also reported alone as a baseline."""
    from statistics import mean

    from verimap import MaxSim
    from verimap.evaluation.retrieval import scifact_ndcg
    from verimap.policy import apply_policy

    tuned = verifier.encoder is not encoder
    prior = MaxSim(verifier.encoder) if tuned else maxsim
    memo: dict[str, tuple[list[float], list[float], list[float]]] = {}

    def scores(query: str, texts: list[str]) -> tuple[list[float], list[float], list[float]]:
        if query not in memo:
            m = maxsim.score(query, texts)
            memo[query] = (verifier.score(query, texts), prior.score(query, texts) if tuned else m, m)
        return memo[query]

    def fused(weight: float, rejected_last: bool):
        def rerank(query: str, texts: list[str], dense: list[float]) -> list[float]:
            v, m, _ = scores(query, texts)
            kept, rejected = apply_policy(v, mode="fuse", prior_scores=m, fuse_weight=weight,
                                          threshold=verifier.threshold if rejected_last else None)
            order = [r.index for r in kept + rejected]
            return [-order.index(i) for i in range(len(texts))]
        return rerank

    rerankers = {"MaxSim": lambda q, t, d: scores(q, t)[2], "verifier": lambda q, t, d: scores(q, t)[0]}
    if tuned:
        rerankers["MaxSim (tuned)"] = lambda q, t, d: scores(q, t)[1]
    for w in FUSE_WEIGHTS:
        rerankers[f"fuse {w}"] = fused(w, False)
        rerankers[f"fuse {w} rejected last"] = fused(w, True)
    per_query = scifact_ndcg(encoder, rerankers, data, n_queries=n_queries)
    half = len(per_query["dense"]) // 2
    tune = {k: mean(v[:half]) for k, v in per_query.items()}
    report = {k: mean(v[half:]) for k, v in per_query.items()}
    best = max((k for k in per_query if k.startswith("fuse")), key=lambda k: tune[k])
    n = len(per_query["dense"]) - half
    rows = {f"SciFact nDCG@10 ({n} report queries): dense top-100 → rerank":
            {"pooled cosine": report["dense"], "MaxSim": report["MaxSim"], "verifier": report["verifier"],
             **({"MaxSim (tuned)": report["MaxSim (tuned)"]} if tuned else {})},
            f"SciFact nDCG@10 ({n} report queries): {best} (chosen on {half} other queries)":
            {"verifier": report[best]}}
    for k in per_query:
        if k.startswith("fuse"):
            rows[f"SciFact nDCG@10 ({n} report queries): {k}"] = {"verifier": report[k]}
    return rows


def cmd_eval(args: argparse.Namespace) -> int:
    import warnings

    from verimap import MaxSim, PooledCosine, TokenEncoder, Verifier
    from verimap.cache import TokenCache
    from verimap.encoder import TruncationWarning
    from verimap.evaluation.suite import build_sets, evaluate, to_markdown, word_overlap
    from verimap.training.data import default_data_dir

    data = Path(args.data) if args.data else default_data_dir()
    if not data.is_dir():
        raise CLIError(f"data folder not found: {data}")
    # Every distinct text is encoded once for all scorers, through the same int8 token cache users get; SciFact
    # abstracts are cut at the encoder's length (the verifier windows what it reads), so no warning per call.
    warnings.simplefilter("ignore", TruncationWarning)
    encoder = TokenEncoder(cache=TokenCache(max_bytes=4 * 2**30))
    verifier = Verifier(args.weights, encoder=encoder)
    scorers = {
        "word overlap": word_overlap,
        "pooled cosine": PooledCosine(encoder).score_pairs,
        "MaxSim": MaxSim(encoder).score_pairs,
    }
    if verifier.encoder is not encoder:  # an adapter: the baselines on the tuned encoder are the bar to beat
        scorers["pooled cosine (tuned)"] = PooledCosine(verifier.encoder).score_pairs
        scorers["MaxSim (tuned)"] = MaxSim(verifier.encoder).score_pairs
    scorers["verifier"] = verifier.score_pairs
    sets = build_sets(data, limit=args.limit)
    table = evaluate(scorers, sets, {"verifier": verifier.threshold})
    if args.scifact:
        table.update(scifact_rows(verifier, MaxSim(encoder), encoder, data, args.scifact))
    md = to_markdown(table, list(scorers))
    print(md)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")
    if args.write:
        from verimap.commands.common import write_block

        write_block(Path(args.write), "eval", f"Weights: `{args.weights or 'shipped'}` (threshold "
                    f"{verifier.threshold:.3f}); sets capped at {args.limit or 'all'} rows.\n\n{md}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="pooled cosine, MaxSim, word overlap and the verifier on dev data")
    p.add_argument("--weights", help="verifier weights to evaluate (default: shipped)")
    p.add_argument("--data", help="shared data folder (default: ../shared/data beside the checkout)")
    p.add_argument("--limit", type=int, default=1000, help="rows per set (0 = all)")
    p.add_argument("--scifact", type=int, default=0, help="also rank SciFact with this many queries (0 = skip)")
    p.add_argument("--json", help="also write the table as JSON here")
    p.add_argument("--write", help="replace the eval table in this markdown file (e.g. docs/benchmarks.md)")
    p.set_defaults(func=cmd_eval)
