"""verimap: retrieval is recall plus judgment.

A dense retriever finds candidates; the :class:`Verifier` reads each (query, candidate) token-similarity map
with a small Transformer and rejects structural near-misses ("the man bit the dog" for "did the dog bite
the man?").
"""

from __future__ import annotations

from verimap.encoder import Encoded, TokenEncoder, TruncationWarning
from verimap.policy import RankResult, apply_policy
from verimap.scorers import MaxSim, PooledCosine, Scorer
from verimap.verifier import Explanation, Verifier
from verimap.weights import WeightsError

__version__ = "0.1.0"

__all__ = [
    "Encoded",
    "Explanation",
    "MaxSim",
    "PooledCosine",
    "RankResult",
    "Scorer",
    "TokenEncoder",
    "TruncationWarning",
    "Verifier",
    "WeightsError",
    "apply_policy",
]
