"""What to do with verifier scores: every policy rule verimap has, in one place.

A policy turns the verifier's calibrated probabilities into a :class:`Ranking`: the documents kept, in order, and
the ones set aside. The core (:meth:`verimap.Verifier.rank`), the Haystack and LangChain adapters and the CLI all go
through :func:`apply_policy`, so a mode, a threshold and "accepted" mean the same thing everywhere:

- **accepted** (:func:`verdict`): the verifier probability reached the threshold in force, i.e. the threshold
  passed for the call, else the verifier's own (its weights card's) threshold. Every result carries its verdict.
- **modes**: ``fuse`` (the default) orders by ``fuse_weight * verifier + (1 - fuse_weight) * prior``, the prior
  min-max normalised over the candidates (MaxSim, or the incoming scores, see :func:`prior_from_incoming`);
  ``rerank`` orders by the verifier probability; ``filter`` keeps the incoming order.
- **dropping**: a threshold passed for the call drops the documents under it in every mode. Without one,
  ``rerank`` and ``filter`` drop under the verifier's own threshold, and ``fuse`` drops nothing.
- **top_k** is applied after the threshold; documents it cuts are not "rejected".

>>> ranking = apply_policy([0.9, 0.2, 0.6], mode="rerank", threshold=0.5)
>>> [r.index for r in ranking], [r.index for r in ranking.rejected]
([0, 2], [1])
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Literal, get_args

from verimap.inputs import check_scores, check_threshold, check_top_k

Mode = Literal["fuse", "rerank", "filter"]
MODES: tuple[str, ...] = get_args(Mode)
DEFAULT_MODE: Mode = "fuse"

FusePrior = Literal["maxsim", "retriever"]
"""What ``fuse`` mode combines the verifier with: MaxSim over the same token vectors, or the incoming scores."""
FUSE_PRIORS: tuple[str, ...] = get_args(FusePrior)

ScoreType = Literal["similarity", "distance"]
"""How to read incoming scores: higher is better (most retrievers), or lower is better (e.g. Chroma's distances)."""
SCORE_TYPES: tuple[str, ...] = get_args(ScoreType)


@dataclass(frozen=True)
class RankResult:
    """One candidate after verification.

    :param index: position of the document in the input list.
    :param score: the score the policy ranked by (verifier probability, or the fused score in ``fuse`` mode).
    :param verifier_score: the calibrated verifier probability that the document matches.
    :param accepted: the verdict: ``verifier_score`` reached the threshold in force (see :func:`verdict`).
    """

    index: int
    score: float
    verifier_score: float
    accepted: bool


@dataclass(frozen=True)
class Ranking:
    """What a policy returns: the documents kept, best first, and the ones set aside under the threshold.

    It reads as the list of kept results: iterating yields ``kept``, ``len()`` and indexing are those of
    ``kept``, so ``for r in verifier.rank(query, docs)`` sees the kept documents.

    :param kept: the kept results, in policy order, at most ``top_k``.
    :param rejected: the results set aside under the threshold, by verifier score (never those only cut by
        ``top_k``; empty in ``fuse`` mode without a threshold, which drops nothing).
    :param n_accepted: how many candidates were accepted (:attr:`RankResult.accepted`), counted before ``top_k``.
    """

    kept: list[RankResult] = field(default_factory=list)
    rejected: list[RankResult] = field(default_factory=list)
    n_accepted: int = 0

    def __iter__(self) -> Iterator[RankResult]:
        return iter(self.kept)

    def __len__(self) -> int:
        return len(self.kept)

    def __getitem__(self, i):
        return self.kept[i]


def check_choice(value: Any, name: str, choices: Sequence[str]) -> Any:
    """``value`` if it is one of ``choices``, else a ``ValueError`` naming ``name`` and the choices."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def check_mode(mode: Any) -> Mode:
    return check_choice(mode, "mode", MODES)


def check_fuse_prior(value: Any) -> FusePrior:
    return check_choice(value, "fuse_prior", FUSE_PRIORS)


def check_score_type(value: Any, name: str = "score_type") -> ScoreType:
    return check_choice(value, name, SCORE_TYPES)


def verdict(verifier_score: float, threshold: float | None) -> bool:
    """The one meaning of "accepted": the verifier probability reached ``threshold`` (``None``: no threshold,
    everything is accepted)."""
    return threshold is None or verifier_score >= threshold


def normalise(scores: Sequence[float]) -> list[float]:
    """Min-max scale to [0, 1] within one candidate list (a constant list maps to 1s)."""
    lo, hi = min(scores), max(scores)
    if hi - lo < 1e-12:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def finite_score(value: Any) -> float | None:
    """``value`` as a float if it is a finite real number (not a bool), else ``None``: how an incoming score is
    read. ``None``, NaN and infinities (a broken retriever) all count as "no score"."""
    if isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def prior_from_incoming(scores: Sequence[Any], *, score_type: ScoreType = "similarity") -> list[float] | None:
    """The prior ``fuse`` mode gets from the scores documents arrived with, or ``None`` to fuse with MaxSim.

    The rule: the incoming scores are the prior only when **every** document carries a finite one (a number, not
    NaN or infinite, see :func:`finite_score`); if any document lacks one, the whole list is fused with MaxSim
    instead, never half a list with a made-up score. Distances (``score_type="distance"``, lower is better) are
    negated, so the prior is always "higher is better".

    >>> prior_from_incoming([0.8, 0.5]), prior_from_incoming([0.8, None]), prior_from_incoming([0.8, float("nan")])
    ([0.8, 0.5], None, None)
    >>> prior_from_incoming([0.2, 0.4], score_type="distance")
    [-0.2, -0.4]
    """
    check_score_type(score_type)
    values = [finite_score(s) for s in scores]
    if not values or any(v is None for v in values):
        return None
    sign = -1.0 if score_type == "distance" else 1.0
    return [sign * v for v in values]  # type: ignore[operator]


def apply_policy(
    verifier_scores: Sequence[float],
    *,
    mode: str = DEFAULT_MODE,
    threshold: float | None = None,
    default_threshold: float | None = None,
    top_k: int | None = None,
    prior_scores: Sequence[float] | None = None,
    fuse_weight: float = 0.5,
) -> Ranking:
    """Apply a policy to one candidate list's verifier probabilities.

    :param mode: ``fuse`` (default) | ``rerank`` | ``filter`` (see the module docstring).
    :param threshold: the threshold passed for this call: drops the documents under it, in every mode.
    :param default_threshold: the verifier's own threshold: gives the verdicts when ``threshold`` is ``None``, and
        drops in ``rerank`` / ``filter`` mode (never in ``fuse`` mode).
    :param top_k: keep at most this many, after the threshold.
    :param prior_scores: ``fuse`` mode only, one finite number per document (``ValueError`` naming the index
        otherwise), min-max normalised before fusing; ignored in the other modes.
    :param fuse_weight: the verifier's weight in ``fuse`` mode, in [0, 1].
    """
    check_mode(mode)
    threshold = check_threshold(threshold)
    default_threshold = check_threshold(default_threshold, "default_threshold")
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
    in_force = threshold if threshold is not None else default_threshold
    results = [RankResult(i, float(ranked[i]), float(v), verdict(v, in_force)) for i, v in enumerate(verifier_scores)]
    # fuse without a threshold only orders: its verdicts are reported, not acted on.
    drops = threshold is not None or mode != "fuse"
    kept = [r for r in results if r.accepted or not drops]
    rejected = sorted((r for r in results if not r.accepted and drops), key=lambda r: -r.verifier_score)
    if mode != "filter":
        kept.sort(key=lambda r: -r.score)  # stable: ties keep the incoming order
    return Ranking(kept[:top_k] if top_k is not None else kept, rejected, sum(r.accepted for r in results))
