"""Topical ranking: SciFact nDCG@10 for dense recall alone and after reranking its top candidates.

SciFact is never trained on (its licence is non-commercial), so every query is a dev query here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from statistics import mean

import torch

from verimap.metrics import ndcg_at_10
from verimap.policy import apply_policy
from verimap.scorers import MaxSim
from verimap.training.data import read_jsonl

FUSE_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7)


def load_scifact(data_dir: Path, n_queries: int, seed: int = 0):
    root = data_dir / "scifact"
    corpus = {r["_id"]: (r.get("title", "") + " " + r["text"]).strip() for r in read_jsonl(root / "corpus.jsonl.gz")}
    qrels: dict[str, set[str]] = {}
    with open(root / "qrels.tsv") as f:
        next(f)
        for line in f:
            q, d, s = line.rstrip("\n").split("\t")
            if int(s) > 0:
                qrels.setdefault(q, set()).add(d)
    queries = [(r["_id"], r["text"]) for r in read_jsonl(root / "queries.jsonl") if r["_id"] in qrels]
    random.Random(seed).shuffle(queries)
    return corpus, queries[:n_queries], qrels


def scifact_ndcg(
    encoder,
    rerankers: dict[str, Callable[[str, list[str], list[float]], list[float]]],
    data_dir: Path,
    n_queries: int = 200,
    recall_k: int = 100,
) -> dict[str, list[float]]:
    """Per-query nDCG@10 (in a fixed shuffled query order) of dense recall and of each reranker over its top
    ``recall_k``. Each reranker gets ``(query, candidate texts, dense scores)`` and returns one score per
    candidate."""
    corpus, queries, qrels = load_scifact(data_dir, n_queries)
    ids = list(corpus)
    doc_vecs = encoder.pooled([corpus[i] for i in ids])
    q_vecs = encoder.pooled([q for _, q in queries])
    per_query: dict[str, list[float]] = {"dense": [], **{name: [] for name in rerankers}}
    for (qid, qtext), qv in zip(queries, q_vecs):
        sims = doc_vecs @ qv
        top = torch.topk(sims, min(recall_k, len(ids)))
        cand = [ids[i] for i in top.indices.tolist()]
        dense = top.values.tolist()
        per_query["dense"].append(ndcg_at_10(cand, qrels[qid]))
        texts = [corpus[c] for c in cand]
        for name, rerank in rerankers.items():
            scores = rerank(qtext, texts, dense)
            order = sorted(range(len(cand)), key=lambda i: -scores[i])
            per_query[name].append(ndcg_at_10([cand[i] for i in order], qrels[qid]))
    return per_query


def scifact_rows(verifier, maxsim, encoder, data: Path, n_queries: int) -> dict[str, dict[str, float]]:
    """SciFact nDCG@10: dense top-100, reranked by MaxSim, by the verifier, and by the fused policy
    ``w * verifier + (1 - w) * MaxSim`` (with and without sending rejected candidates last). The fuse weight is
    chosen on the first half of the queries and reported on the second half only.

    The fused prior is MaxSim over the verifier's own token vectors, as in :meth:`Verifier.rank`; with an
    adapter that is the tuned encoder, whose MaxSim is also reported alone as a baseline."""
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
            ranking = apply_policy(
                v,
                mode="fuse",
                prior_scores=m,
                fuse_weight=weight,
                threshold=verifier.threshold if rejected_last else None,
            )
            order = [r.index for r in ranking.kept + ranking.rejected]
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
    rows = {
        f"SciFact nDCG@10 ({n} report queries): dense top-100 → rerank": {
            "pooled cosine": report["dense"],
            "MaxSim": report["MaxSim"],
            "verifier": report["verifier"],
            **({"MaxSim (tuned)": report["MaxSim (tuned)"]} if tuned else {}),
        },
        f"SciFact nDCG@10 ({n} report queries): {best} (chosen on {half} other queries)": {"verifier": report[best]},
    }
    for k in per_query:
        if k.startswith("fuse"):
            rows[f"SciFact nDCG@10 ({n} report queries): {k}"] = {"verifier": report[k]}
    return rows
