"""``StructuralVerifierCompressor``: a LangChain document compressor backed by :class:`verimap.Verifier`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.load.serializable import Serializable
from pydantic import ConfigDict, field_validator

from verimap.inputs import check_query, check_top_k

from langchain_verimap._config import VerifierConfig
from langchain_verimap._shared import check_documents, rank_kwargs, to_documents


class StructuralVerifierCompressor(VerifierConfig, BaseDocumentCompressor, Serializable):
    """Verify retrieved documents against the query and drop structural near-misses.

    Use it wherever LangChain takes a document compressor, e.g.
    ``ContextualCompressionRetriever(base_compressor=StructuralVerifierCompressor(), base_retriever=...)``.

    Each returned document is a copy (same ``id``, ``page_content`` and metadata) whose metadata also holds

    - ``relevance_score``: the score the results are ordered by (the verifier probability; the fused score in
      ``fuse`` mode);
    - ``verimap_score``: the calibrated verifier probability (what ``score_threshold`` applies to);
    - ``retriever_score``: the score the document arrived with, when it had ``metadata["relevance_score"]``
      or ``metadata["score"]`` (first found);
    - ``verimap_rejected``: only when ``return_rejected=True`` — ``False`` on kept documents, ``True`` on
      rejected ones.

    The input documents are never modified. Documents with empty ``page_content`` are verified like any other:
    they score 0.0 and so are rejected by any positive threshold.

    :param top_n: keep at most this many accepted documents (``None``: all accepted), after the threshold.
    :param score_threshold: accept threshold; ``None`` uses the weights card's default.
    :param mode: ``rerank`` | ``filter`` | ``fuse`` (see :func:`verimap.apply_policy`).
    :param return_rejected: also return the documents under the threshold, after the kept ones, flagged
        ``metadata["verimap_rejected"] = True`` (documents cut only by ``top_n`` are not returned).
    :param weights: weights file; ``None`` for the shipped weights.
    :param device: torch device.
    :param batch_size: similarity maps per network forward.
    :param verifier: a ready :class:`verimap.Verifier` instead of the process-wide shared one.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    top_n: int | None = 3
    """Keep at most this many accepted documents (``None`` keeps every accepted one)."""
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

    def _rank_kwargs(self, docs: Sequence[Document]) -> dict[str, Any]:
        return rank_kwargs(docs, top_k=self.top_n, threshold=self.score_threshold, mode=self.mode)

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
        ranked = self.active_verifier.rank(query, [d.page_content for d in docs], **self._rank_kwargs(docs))
        return to_documents(docs, ranked, self.return_rejected)

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
        ranked = await self.active_verifier.rank_async(
            query, [d.page_content for d in docs], **self._rank_kwargs(docs)
        )
        return to_documents(docs, ranked, self.return_rejected)
