"""Plumbing shared by the LangChain adapters: one loaded model per process, and Document <-> core mapping.

Nothing here scores, thresholds or batches: every decision is :meth:`verimap.Verifier.rank`'s (:mod:`verimap.policy`),
the metadata keys are the core's (:mod:`verimap.results`) and token files are opened by the core
(:func:`verimap.cache.attach_token_file`). This module only

- keeps one :class:`~verimap.TokenEncoder` per device and one :class:`~verimap.Verifier` per
  ``(weights, device, batch_size)`` in a process, all verifiers on a device sharing that device's encoder
  (so :class:`~langchain_verimap.VerimapEmbeddings` and the verifiers run on the same loaded MiniLM; with a
  ``token_file`` the embeddings encode through the verifier's view of it, whose token vectors the verifier reads);
- reads an incoming score from a document's metadata and writes the verifier's results back onto *copies*
  of the documents.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document

from verimap import Ranking, RankResult, TokenEncoder, Verifier
from verimap.policy import FusePrior, finite_score, prior_from_incoming
from verimap.results import RELEVANCE_SCORE, result_fields
from verimap.shared import shared_encoder, shared_token_encoder, shared_verifier

INCOMING_SCORE_KEYS = (RELEVANCE_SCORE, "score")
"""Where an incoming (retriever / earlier reranker) score is looked for, first match wins."""


def get_encoder(device: Any = "cpu") -> TokenEncoder:
    """The process-wide bundled encoder for ``device`` (:func:`verimap.shared.shared_encoder`)."""
    return shared_encoder(None, device)


def get_token_encoder(weights: str | os.PathLike | None = None, device: Any = "cpu") -> TokenEncoder:
    """The verifier's view of the encoder for ``(weights, device)``, what a token file is written with
    (:func:`verimap.shared.shared_token_encoder`)."""
    return shared_token_encoder(weights, device)


def get_verifier(weights: str | os.PathLike | None = None, device: Any = "cpu", batch_size: int = 64) -> Verifier:
    """The process-wide verifier for ``(weights, device, batch_size)`` (:func:`verimap.shared.shared_verifier`)."""
    return shared_verifier(weights, device, batch_size)


def incoming_score(doc: Document) -> float | None:
    """The finite score a document arrived with (``metadata["relevance_score"]``, else ``metadata["score"]``)."""
    for key in INCOMING_SCORE_KEYS:
        value = finite_score((doc.metadata or {}).get(key))
        if value is not None:
            return value
    return None


def prior_scores(docs: Sequence[Document], fuse_prior: FusePrior) -> list[float] | None:
    """What to pass to :meth:`Verifier.rank` as ``prior_scores``: ``None`` (the core fuses with MaxSim) unless
    ``fuse_prior="retriever"``, then the core's rule (:func:`verimap.policy.prior_from_incoming`)."""
    if fuse_prior != "retriever":
        return None
    return prior_from_incoming([incoming_score(d) for d in docs])


def check_documents(documents: Any) -> list[Document]:
    if isinstance(documents, (str, bytes, Document)) or not isinstance(documents, Sequence):
        raise TypeError(f"documents must be a list of Documents, got {type(documents).__name__}")
    for i, d in enumerate(documents):
        if not isinstance(d, Document):
            raise TypeError(f"documents[{i}] must be a langchain_core Document, got {type(d).__name__}")
    return list(documents)


def _annotated(doc: Document, result: RankResult, rejected: bool | None) -> Document:
    # A copy: the caller's Document and its metadata dict stay untouched. "verimap_score" is the deprecated alias of
    # "verifier_score" this adapter wrote before 0.2, still written until 0.3.
    metadata = {**(doc.metadata or {}), **result_fields(result, incoming_score(doc), rejected=rejected, aliases=True)}
    return doc.model_copy(update={"metadata": metadata})  # keeps id, type and any subclass fields


def to_documents(docs: Sequence[Document], ranking: Ranking, return_rejected: bool) -> list[Document]:
    """Kept documents in the core's order; with ``return_rejected`` the rejected follow, flagged."""
    out = [_annotated(docs[r.index], r, False if return_rejected else None) for r in ranking.kept]
    if return_rejected:
        out += [_annotated(docs[r.index], r, True) for r in ranking.rejected]
    return out
