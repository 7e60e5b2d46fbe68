"""verimap: retrieval is recall plus judgment.

A dense retriever finds candidates; the :class:`Verifier` reads each (query, candidate) token-similarity map
with a small Transformer and rejects structural near-misses ("the man bit the dog" for "did the dog bite
the man?").
"""

from __future__ import annotations

from verimap.encoder import Encoded, TokenEncoder, TruncationWarning
from verimap.errors import VerimapError, WeightsError
from verimap.policy import Mode, Ranking, RankResult, apply_policy, prior_from_incoming
from verimap.scorers import MaxSim, PooledCosine, Scorer
from verimap.verifier import Explanation, Verifier

__version__ = "0.2.0"

__all__ = [
    "Encoded",
    "Explanation",
    "MaxSim",
    "Mode",
    "PooledCosine",
    "RankResult",
    "Ranking",
    "Scorer",
    "TokenEncoder",
    "TruncationWarning",
    "Verifier",
    "VerimapError",
    "WeightsError",
    "apply_policy",
    "prior_from_incoming",
]
