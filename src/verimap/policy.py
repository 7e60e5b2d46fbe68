"""What to do with verifier scores: rerank, filter or fuse, then threshold, then top_k.

Every adapter applies the same policy through :func:`apply_policy`, so a threshold means the same thing in
the core, Haystack, LangChain and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from verimap.inputs import check_scores, check_threshold, check_top_k

Mode = Literal["rerank", "filter", "fuse"]
MODES = ("rerank", "filter", "fuse")


@dataclass(frozen=True)
class RankResult:
    """One candidate after verification.

    :param index: position of the document in the input list.
    :param score: the score the policy ranked by (verifier probability, or the fused score in ``fuse`` mode).
    :param verifier_score: the calibrated verifier probability that the document matches.
    :param accepted: whether ``verifier_score`` reached the threshold.
    """

    index: int
    score: float
    verifier_score: float
    accepted: bool


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def normalise(scores: Sequence[float]) -> list[float]:
    """Min-max scale to [0, 1] within one candidate list (a constant list maps to 1s)."""
    lo, hi = min(scores), max(scores)
    if hi - lo < 1e-12:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def apply_policy(
    verifier_scores: Sequence[float],
    *,
    mode: str = "rerank",
    threshold: float | None = None,
    top_k: int | None = None,
    prior_scores: Sequence[float] | None = None,
    fuse_weight: float = 0.5,
    drop_rejected: bool = True,
) -> tuple[list[RankResult], list[RankResult]]:
    """Return ``(kept, rejected)``.

    - ``rerank``: kept sorted by verifier score.
    - ``filter``: kept in the incoming order.
    - ``fuse``: kept sorted by ``fuse_weight * verifier + (1 - fuse_weight) * prior`` where ``prior`` is the
      min-max-normalised ``prior_scores`` (the retriever's, or MaxSim's), so topical evidence still ranks.

    ``prior_scores`` must be finite numbers (``ValueError`` naming the index otherwise); outside ``fuse`` mode they
    are ignored. The threshold applies to the verifier score and is applied before ``top_k``; ``rejected`` holds the
    candidates under the threshold (sorted by verifier score), never those only cut by ``top_k``. With
    ``drop_rejected=False`` nothing is set aside: every candidate is ranked, and ``accepted`` only reports its verdict.
    """
    check_mode(mode)
    threshold = check_threshold(threshold)
    top_k = check_top_k(top_k)
    if not 0.0 <= fuse_weight <= 1.0:
        raise ValueError(f"fuse_weight must be in [0, 1], got {fuse_weight!r}")
    n = len(verifier_scores)
    if mode == "fuse":
        if prior_scores is None or (hasattr(prior_scores, "__len__") and len(prior_scores) != n):
            raise ValueError("fuse mode needs one prior score per document")
        # A NaN or infinite prior would turn every fused score into NaN and the order into noise: refuse it.
        prior_scores = check_scores(prior_scores, "prior_scores", n)
        prior = normalise(prior_scores) if n else []
        ranked = [fuse_weight * v + (1 - fuse_weight) * p for v, p in zip(verifier_scores, prior)]
    else:
        ranked = list(verifier_scores)
    results = [
        RankResult(i, float(ranked[i]), float(v), threshold is None or v >= threshold)
        for i, v in enumerate(verifier_scores)
    ]
    kept = [r for r in results if r.accepted or not drop_rejected]
    rejected = sorted((r for r in results if not r.accepted and drop_rejected), key=lambda r: -r.verifier_score)
    if mode != "filter":
        kept.sort(key=lambda r: -r.score)  # stable: ties keep the incoming order
    return kept[:top_k] if top_k is not None else kept, rejected
