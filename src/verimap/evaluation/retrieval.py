"""Topical ranking: SciFact nDCG@10 for dense recall alone and after reranking its top candidates.

SciFact is never trained on (its licence is non-commercial), so every query is a dev query here.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Callable

import torch

from verimap.training.data import read_jsonl


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return dcg / ideal if ideal else 0.0


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


def scifact_ndcg(encoder, rerankers: dict[str, Callable[[str, list[str], list[float]], list[float]]],
                 data_dir: Path, n_queries: int = 200, recall_k: int = 100) -> dict[str, list[float]]:
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
