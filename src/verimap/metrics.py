"""Ranking and classification metrics, in one place for training, evaluation and benchmarks.

>>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
>>> ndcg_at_10(["a", "b", "c"], {"b"})  # one relevant document, found second
0.6309297535714575
>>> ndcg(["a", "b"], {"a": 1, "b": 2}, k=10)  # graded: the more relevant one should come first
0.8597186998521972
>>> recall_at(["a", "b", "c"], {"c": 1, "d": 1}, k=2), recall_at(["a", "b", "c"], {"c": 1, "d": 1}, k=3)
(0.0, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Mann-Whitney ROC-AUC (ties count half); NaN when one class is missing."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[y == 1], s[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    # average ranks for ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return dcg / ideal if ideal else 0.0


def ndcg(ranked: Sequence[str], gains: dict[str, float], k: int = 10) -> float:
    """nDCG@k with graded relevance (BEIR / trec_eval's ``ndcg_cut``: gain = the qrels grade, log2 discount); 0 when
    nothing is relevant."""
    dcg = sum(gains.get(d, 0.0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sum(
        g / math.log2(i + 2) for i, g in enumerate(sorted((g for g in gains.values() if g > 0), reverse=True)[:k])
    )
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: Sequence[str], gains: dict[str, float], k: int) -> float:
    """Share of the relevant documents (grade > 0) found in the first ``k``."""
    relevant = {d for d, g in gains.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0
