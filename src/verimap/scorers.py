"""Scorers with one interface: ``score(query, documents)`` and ``score_pairs(pairs)``.

The baselines return raw cosines in [-1, 1]: ``PooledCosine`` compares mean-pooled sentence vectors
(what a dense retriever ranks by), ``MaxSim`` averages, over query tokens, each token's best cosine
in the document (ColBERT late interaction). Texts with no tokens score 0.

>>> from verimap import MaxSim
>>> maxsim = MaxSim()
>>> round(maxsim.score("the man bit the dog", ["the man bit the dog"])[0], 3)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from verimap.encoder import Encoded, TokenEncoder
from verimap.inputs import check_pairs, check_query, check_texts


class Scorer:
    """Shared plumbing: one encoder, each distinct text encoded once per call."""

    name = "scorer"
    recall = True  # whether the scores read the recall (pooled) vector; False lets a tower skip the stock top layers

    def __init__(self, encoder: TokenEncoder | None = None) -> None:
        self.encoder = encoder if encoder is not None else TokenEncoder()

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        query = check_query(query)
        documents = check_texts(documents, "documents")
        if not documents:
            return []
        return self.score_pairs([(query, d) for d in documents])

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        encoded = self.encode_pairs(pairs)
        return self._score_encoded(encoded) if encoded else []

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[Encoded, Encoded]]:
        """``pairs`` checked (:func:`verimap.inputs.check_pairs`) and encoded, each distinct text once."""
        pairs = check_pairs(pairs)
        enc = self.encode_unique([t for p in pairs for t in p])
        return [(enc[a], enc[b]) for a, b in pairs]

    def encode_unique(self, texts: Sequence[str]) -> dict[str, Encoded]:
        unique = list(dict.fromkeys(texts))
        return dict(zip(unique, self.encoder.encode(unique, recall=self.recall)))

    def _score_encoded(self, pairs: list[tuple[Encoded, Encoded]]) -> list[float]:
        raise NotImplementedError


class PooledCosine(Scorer):
    """Cosine of the pooled (mean, normalised) sentence vectors."""

    name = "pooled"

    def _score_encoded(self, pairs: list[tuple[Encoded, Encoded]]) -> list[float]:
        return [float(a.pooled @ b.pooled) if len(a.vectors) and len(b.vectors) else 0.0 for a, b in pairs]


def maxsim(query: torch.Tensor, doc: torch.Tensor) -> float:
    """Mean over query tokens of the best cosine among document tokens (0 when either side is empty)."""
    if not len(query) or not len(doc):
        return 0.0
    return float((query @ doc.T).max(dim=1).values.mean())


class MaxSim(Scorer):
    """ColBERT-style late interaction over the same token vectors the verifier reads."""

    name = "maxsim"

    def _score_encoded(self, pairs: list[tuple[Encoded, Encoded]]) -> list[float]:
        return [maxsim(a.vectors, b.vectors) for a, b in pairs]
