"""Plumbing shared by the LangChain adapters: one loaded model per process, and Document <-> core mapping.

Nothing here scores, thresholds or batches: every decision is :meth:`verimap.Verifier.rank`'s (which applies
:func:`verimap.apply_policy`). This module only

- keeps one :class:`~verimap.TokenEncoder` per device and one :class:`~verimap.Verifier` per
  ``(weights, device, batch_size)`` in a process, all verifiers on a device sharing that device's encoder
  (so :class:`~langchain_verimap.VerimapEmbeddings` and the verifiers run on the same loaded MiniLM);
- reads an incoming score from a document's metadata and writes the verifier's results back onto *copies*
  of the documents;
- attaches a ``token_file`` (an SQLite file of the core's :class:`~verimap.cache.TokenCache`) to an encoder's
  cache, so token vectors written while embedding are read, not recomputed, by a verifier in a later process.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
from collections.abc import Sequence
from numbers import Real
from typing import Any

from langchain_core.documents import Document

from verimap import RankResult, TokenEncoder, Verifier
from verimap.shared import shared_encoder, shared_verifier

# Metadata keys, documented in docs/langchain.md.
RELEVANCE_SCORE = "relevance_score"
"""The score the results are ordered by (the fused score in ``fuse`` mode; the verifier probability otherwise)."""
VERIFIER_SCORE = "verimap_score"
"""The calibrated verifier probability that the document matches the query (what the threshold applies to)."""
VERIFIER_ACCEPTED = "verifier_accepted"
"""The core's verdict (:attr:`verimap.RankResult.accepted`): ``verimap_score`` reached the threshold in force (the
explicit ``score_threshold``, else the weights card's default) — reported even where ``fuse`` mode dropped nothing."""
RETRIEVER_SCORE = "retriever_score"
"""The incoming score, preserved when the document arrived with one (see :data:`INCOMING_SCORE_KEYS`)."""
REJECTED = "verimap_rejected"
"""Only with ``return_rejected=True``: ``True`` on documents under the threshold, ``False`` on kept ones."""
INCOMING_SCORE_KEYS = (RELEVANCE_SCORE, "score")
"""Where an incoming (retriever / earlier reranker) score is looked for, first match wins."""

logger = logging.getLogger("langchain_verimap")

def get_encoder(device: Any = "cpu") -> TokenEncoder:
    """The process-wide bundled encoder for ``device`` (:func:`verimap.shared.shared_encoder`)."""
    return shared_encoder(None, device)


def get_verifier(weights: str | os.PathLike | None = None, device: Any = "cpu", batch_size: int = 64) -> Verifier:
    """The process-wide verifier for ``(weights, device, batch_size)`` (:func:`verimap.shared.shared_verifier`)."""
    return shared_verifier(weights, device, batch_size)


def incoming_score(doc: Document) -> float | None:
    """The score a document arrived with (``metadata["relevance_score"]``, else ``metadata["score"]``).

    NaN and infinite values count as no score (a broken retriever must not turn the fused order into noise).
    """
    for key in INCOMING_SCORE_KEYS:
        value = (doc.metadata or {}).get(key)
        if isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def prior_scores(docs: Sequence[Document], mode: str, fuse_prior: str = "maxsim") -> list[float] | None:
    """What to pass to :meth:`Verifier.rank` as ``prior_scores``; ``None`` lets the core fuse with MaxSim.

    Only ``mode="fuse"`` with ``fuse_prior="retriever"`` passes priors: the incoming scores, when *every* document
    has one (the core never fuses half a list with retriever scores). ``fuse_prior="maxsim"`` (the default) always
    passes ``None``, so the core fuses with MaxSim whatever scores the documents arrived with.
    """
    if mode != "fuse" or fuse_prior != "retriever":
        return None
    scores = [incoming_score(d) for d in docs]
    return None if any(s is None for s in scores) else scores  # type: ignore[return-value]


def rank_kwargs(docs: Sequence[Document], *, top_k: int | None, threshold: float | None, mode: str,
                fuse_prior: str = "maxsim") -> dict[str, Any]:
    """Arguments for :meth:`Verifier.rank` / :meth:`Verifier.rank_async`.

    ``threshold`` is passed as given: ``None`` reaches the core as ``None`` (so the default ``fuse`` mode drops
    nothing, and ``rerank``/``filter`` use the verifier's threshold). The core is always asked for
    ``(kept, rejected)``; :func:`to_documents` decides what is returned.
    """
    return {
        "top_k": top_k,
        "threshold": threshold,
        "mode": mode,
        "prior_scores": prior_scores(docs, mode, fuse_prior),
        "return_rejected": True,
    }


def check_documents(documents: Any) -> list[Document]:
    if isinstance(documents, (str, bytes, Document)) or not isinstance(documents, Sequence):
        raise TypeError(f"documents must be a list of Documents, got {type(documents).__name__}")
    for i, d in enumerate(documents):
        if not isinstance(d, Document):
            raise TypeError(f"documents[{i}] must be a langchain_core Document, got {type(d).__name__}")
    return list(documents)


def _annotated(doc: Document, result: RankResult, rejected: bool | None) -> Document:
    metadata = dict(doc.metadata or {})  # a copy: the caller's Document and its metadata dict stay untouched
    prior = incoming_score(doc)
    if prior is not None:
        metadata[RETRIEVER_SCORE] = prior
    metadata[RELEVANCE_SCORE] = result.score
    metadata[VERIFIER_SCORE] = result.verifier_score
    metadata[VERIFIER_ACCEPTED] = bool(result.accepted)
    if rejected is not None:
        metadata[REJECTED] = rejected
    return doc.model_copy(update={"metadata": metadata})  # keeps id, type and any subclass fields


def to_documents(docs: Sequence[Document], ranked: tuple[list[RankResult], list[RankResult]],
                 return_rejected: bool) -> list[Document]:
    """Kept documents in the core's order; with ``return_rejected`` the rejected follow, flagged."""
    kept, rejected = ranked
    out = [_annotated(docs[r.index], r, False if return_rejected else None) for r in kept]
    if return_rejected:
        out += [_annotated(docs[r.index], r, True) for r in rejected]
    return out


def check_token_file(value: Any) -> Any:
    """``token_file`` as a plain string (paths are stored as strings so the object serialises to plain JSON)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if isinstance(value, str) and not value.strip():
        raise ValueError("token_file must be a file path or None, got an empty string")
    return value


def warn_if_uncached(encoder: TokenEncoder, token_file: str | None, owner: str) -> None:
    """One warning when ``token_file`` is set but ``encoder`` has no cache (``$VERIMAP_TOKEN_CACHE_MB=0``)."""
    if token_file is not None and encoder.cache is None:
        logger.warning(
            "%s: token_file=%r is ignored: the encoder has no token cache ($VERIMAP_TOKEN_CACHE_MB=0), so every "
            "text is encoded every time and nothing is read from or written to the file", owner, token_file,
        )


def attach_token_file(encoder: TokenEncoder, token_file: str | None) -> str | None:
    """Attach ``token_file`` to ``encoder``'s cache (a no-op once attached); returns it, or ``None`` when there is
    no file or no cache (then the file is ignored, see :func:`warn_if_uncached`).

    A file that is not a token cache (e.g. a text file) raises the core's ``ValueError``, which names the path;
    a path SQLite cannot open at all (a directory, an unwritable place) raises ``ValueError`` naming it too.
    """
    if token_file is None or encoder.cache is None:
        return None
    try:
        encoder.cache.attach(token_file)
    except (sqlite3.Error, OSError) as exc:
        raise ValueError(f"token_file {token_file!r} cannot be opened as a verimap token cache ({exc})") from exc
    return token_file
