"""The keys verimap writes on a framework's documents (Haystack ``Document.meta``, LangChain ``Document.metadata``).

Defined once here, so both adapters write the same keys with the same meaning:

=====================  ===================================================================================
key                    value
=====================  ===================================================================================
``relevance_score``    the score the results are ordered by (the fused score in ``fuse`` mode, the verifier
                       probability in ``rerank`` / ``filter`` mode)
``verifier_score``     the calibrated verifier probability that the document matches (what a threshold
                       applies to)
``verifier_accepted``  the verdict (:func:`verimap.policy.verdict`): ``verifier_score`` reached the threshold
                       in force, reported on every document, also where ``fuse`` mode dropped nothing
``retriever_score``    the finite score the document arrived with, when it had one
``verimap_rejected``   only where an adapter returns set-aside documents in the same list as the kept ones
                       (LangChain's ``return_rejected=True``): ``True`` on those, ``False`` on kept ones
``guard_score``        cached entries judged by the semantic-cache guard (:mod:`verimap.guard`): the
                       probability that the new prompt means what the entry's prompt meant
``guard_hit``          the guard's verdict: serve this entry's answer
``guard_reason``       on a miss, the kind of mismatch when the verifier can tell (:data:`verimap.guard.REASONS`),
                       else ``None``
=====================  ===================================================================================

Deprecated alias, written too until verimap 0.3: ``verimap_score`` (LangChain's name for ``verifier_score``
before 0.2).

>>> from verimap.policy import RankResult
>>> result_fields(RankResult(index=0, score=0.7, verifier_score=0.4, accepted=True), incoming=0.81)
{'relevance_score': 0.7, 'verifier_score': 0.4, 'verifier_accepted': True, 'retriever_score': 0.81}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from verimap.policy import RankResult

if TYPE_CHECKING:
    from verimap.guard import Verdict

RELEVANCE_SCORE = "relevance_score"
VERIFIER_SCORE = "verifier_score"
VERIFIER_ACCEPTED = "verifier_accepted"
RETRIEVER_SCORE = "retriever_score"
REJECTED = "verimap_rejected"
GUARD_SCORE = "guard_score"
GUARD_HIT = "guard_hit"
GUARD_REASON = "guard_reason"

ALIASES = {"verimap_score": VERIFIER_SCORE}
"""Deprecated key → the key whose value it repeats (written by adapters that used the old name, until 0.3)."""


def result_fields(
    result: RankResult, incoming: float | None = None, *, rejected: bool | None = None, aliases: bool = False
) -> dict[str, Any]:
    """The keys to add to one document's metadata for ``result``.

    :param incoming: the document's incoming score, already read with :func:`verimap.policy.finite_score`
        (``None``: no ``retriever_score``).
    :param rejected: set ``verimap_rejected`` to this (``None``: leave it out).
    :param aliases: also write the deprecated :data:`ALIASES`.
    """
    fields: dict[str, Any] = {
        RELEVANCE_SCORE: result.score,
        VERIFIER_SCORE: result.verifier_score,
        VERIFIER_ACCEPTED: bool(result.accepted),
    }
    if incoming is not None:
        fields[RETRIEVER_SCORE] = incoming
    if rejected is not None:
        fields[REJECTED] = rejected
    if aliases:
        fields.update({old: fields[new] for old, new in ALIASES.items()})
    return fields


def guard_fields(verdict: Verdict, incoming: float | None = None) -> dict[str, Any]:
    """The keys to add to a cached entry's metadata for the guard's ``verdict`` (``incoming``: its retriever score,
    read with :func:`verimap.policy.finite_score`; ``None``: no ``retriever_score``).

    >>> from verimap.guard import Verdict
    >>> guard_fields(Verdict(hit=False, score=0.12, reason="negation"))
    {'guard_score': 0.12, 'guard_hit': False, 'guard_reason': 'negation'}
    """
    fields: dict[str, Any] = {GUARD_SCORE: verdict.score, GUARD_HIT: bool(verdict.hit), GUARD_REASON: verdict.reason}
    if incoming is not None:
        fields[RETRIEVER_SCORE] = incoming
    return fields
