"""``StructuralVerifierCompressor``: a LangChain document compressor backed by :class:`verimap.Verifier`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.load.serializable import Serializable
from pydantic import ConfigDict, field_validator

from langchain_verimap._config import VerifierConfig
from langchain_verimap._shared import check_documents, to_documents
from verimap.inputs import check_query, check_top_k


class StructuralVerifierCompressor(VerifierConfig, BaseDocumentCompressor, Serializable):
    """Verify retrieved documents against the query: fuse the verifier with topical evidence, or drop near-misses.

    Use it wherever LangChain takes a document compressor, e.g.
    ``ContextualCompressionRetriever(base_compressor=StructuralVerifierCompressor(), base_retriever=...)``.

    By default (``mode="fuse"``, ``fuse_prior="maxsim"``, ``score_threshold=None``) it orders the documents by
    the core's fused score — ``fuse_weight * P(match) + (1 - fuse_weight) * MaxSim`` (min-max normalised) — and
    drops nothing but what ``top_n`` cuts: on SciFact that ranks better than MaxSim or dense retrieval alone, while
    dropping on the shipped model's verdict ranks worse (docs/benchmarks.md). To drop documents the verifier
    rejects, set ``score_threshold`` (any mode) or use ``mode="rerank"`` / ``"filter"`` (which drop under the
    weights card's threshold when ``score_threshold`` is ``None``).

    Each returned document is a copy (same ``id``, ``page_content`` and metadata) whose metadata also holds the
    core's result keys (:mod:`verimap.results`, the same keys the Haystack components write):

    - ``relevance_score``: the score the results are ordered by (the fused score in ``fuse`` mode; the verifier
      probability otherwise);
    - ``verifier_score``: the calibrated verifier probability (what ``score_threshold`` applies to), also written as
      ``verimap_score``, its deprecated name before 0.2 (until 0.3);
    - ``verifier_accepted``: the core's verdict, ``verifier_score >=`` the threshold in force (``score_threshold``,
      else the weights card's default) — present also where ``fuse`` mode dropped nothing;
    - ``retriever_score``: the score the document arrived with, when it had a finite ``metadata["relevance_score"]``
      or ``metadata["score"]`` (first found);
    - ``verimap_rejected``: only when ``return_rejected=True`` — ``False`` on kept documents, ``True`` on
      rejected ones (never ``True`` in ``fuse`` mode without a ``score_threshold``, which rejects nothing).

    The input documents are never modified. Documents with empty ``page_content`` are verified like any other:
    they score 0.0, so any positive threshold rejects them (and ``verifier_accepted`` is ``False``).

    :param top_n: keep at most this many documents (``None``: all kept), after any threshold.
    :param score_threshold: accept threshold; ``None``: drop nothing in ``fuse`` mode, the weights card's default
        in ``rerank``/``filter`` mode.
    :param mode: ``fuse`` (default) | ``rerank`` | ``filter`` (see :meth:`verimap.Verifier.rank`).
    :param fuse_prior: ``maxsim`` (default) | ``retriever``: what ``fuse`` mode combines the verifier with
        (the core's MaxSim, or the incoming scores when every document has a finite one, else MaxSim).
    :param return_rejected: also return the documents under the threshold, after the kept ones, flagged
        ``metadata["verimap_rejected"] = True`` (documents cut only by ``top_n`` are not returned).
    :param weights: weights file; ``None`` for the shipped weights.
    :param device: torch device.
    :param batch_size: similarity maps per network forward.
    :param verifier: a ready :class:`verimap.Verifier` instead of the process-wide shared one.
    :param token_file: an SQLite token file to read documents' token vectors from, e.g. the ``token_file`` a
        :class:`~langchain_verimap.VerimapEmbeddings` indexed with (docs/token-files.md).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    top_n: int | None = 3
    """Keep at most this many documents, after any threshold (``None`` keeps every one not dropped)."""
    return_rejected: bool = False
    """Also return the rejected documents, after the kept ones, with ``metadata["verimap_rejected"] = True``."""

    @field_validator("top_n", mode="before")  # the raw value: no lax True -> 1 or "2" -> 2 first
    @classmethod
    def _check_top_n(cls, value: Any) -> int | None:
        return check_top_k(value)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_verimap"]

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Verify ``documents`` against ``query``; returns new Documents (see the class docstring)."""
        query = check_query(query)  # also when there is nothing to verify: a bad query is a bug upstream
        docs = check_documents(documents)
        if not docs:
            return []
        self._attach_token_file()
        ranking = self.active_verifier.rank(
            query, [d.page_content for d in docs], **self._core_kwargs(docs, self.top_n)
        )
        return to_documents(docs, ranking, self.return_rejected)

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Async :meth:`compress_documents`: the core verifies in a worker thread, the event loop keeps serving."""
        query = check_query(query)
        docs = check_documents(documents)
        if not docs:
            return []
        await self._aattach_token_file()
        ranking = await self.active_verifier.rank_async(
            query, [d.page_content for d in docs], **self._core_kwargs(docs, self.top_n)
        )
        return to_documents(docs, ranking, self.return_rejected)
