"""``VerifiedRetriever``: any LangChain retriever for recall, :class:`verimap.Verifier` for judgment."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import AliasChoices, ConfigDict, Field, field_validator

from langchain_verimap._config import VerifierConfig
from langchain_verimap._shared import check_documents, to_documents
from verimap.inputs import check_query, check_top_k


class VerifiedRetriever(VerifierConfig, BaseRetriever):
    """Wrap a retriever, verify its candidates and return the best ``k``.

    >>> base = Chroma(..., embedding_function=VerimapEmbeddings()).as_retriever(search_kwargs={"k": 50})
    >>> retriever = VerifiedRetriever(base_retriever=base, k=4)
    >>> retriever.invoke("Did the dog bite the man?", k=2)     # k can be overridden per call

    The wrapped retriever supplies the candidates (set its own candidate count, e.g. ``search_kwargs={"k": 50}``);
    the core orders them per ``mode`` and the first ``k`` are returned. By default (``mode="fuse"``,
    ``fuse_prior="maxsim"``, ``score_threshold=None``) the order is the verifier fused with MaxSim and nothing is
    dropped, so ``k`` come back whenever there are ``k`` candidates (the policy that ranked best on SciFact,
    docs/benchmarks.md). With a ``score_threshold`` (any mode), or in ``rerank``/``filter`` mode (the weights card's
    threshold when ``score_threshold`` is ``None``), candidates under the threshold are dropped first, so fewer
    than ``k`` may come back. Returned documents are annotated copies exactly as with
    :class:`~langchain_verimap.StructuralVerifierCompressor` (the core's keys ``relevance_score``,
    ``verifier_score``, ``verifier_accepted``, ``retriever_score``, and the deprecated alias ``verimap_score``).

    ``invoke``/``ainvoke`` keyword arguments: ``k`` overrides this retriever's ``k`` for the call; every other
    keyword goes to the wrapped retriever (e.g. ``filter=...`` for a vector store retriever). The wrapped
    retriever runs as a child of this retriever's run, so callbacks and tracing see both.

    :param base_retriever: the retriever to verify (``retriever=`` is accepted too).
    :param k: number of documents to return (``None``: every candidate not dropped).
    :param score_threshold: accept threshold; ``None``: drop nothing in ``fuse`` mode, the weights card's default
        in ``rerank``/``filter`` mode.
    :param mode: ``fuse`` (default) | ``rerank`` | ``filter`` (see :meth:`verimap.Verifier.rank`).
    :param fuse_prior: ``maxsim`` (default) | ``retriever``: what ``fuse`` mode combines the verifier with.
    :param token_file: an SQLite token file to read candidates' token vectors from, e.g. the ``token_file`` the
        store was indexed with by :class:`~langchain_verimap.VerimapEmbeddings` (docs/token-files.md).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", populate_by_name=True)

    base_retriever: BaseRetriever = Field(validation_alias=AliasChoices("base_retriever", "retriever"))
    """The retriever whose candidates are verified."""
    k: int | None = 4
    """Number of documents to return (after any threshold)."""

    @field_validator("k", mode="before")  # the raw value: no lax True -> 1 or "2" -> 2 first
    @classmethod
    def _check_k(cls, value: Any) -> int | None:
        return check_top_k(value)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_verimap"]

    def _split(self, kwargs: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
        kwargs = dict(kwargs)
        k = check_top_k(kwargs.pop("k")) if "k" in kwargs else self.k
        return k, kwargs

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        query = check_query(query)  # before the wrapped retriever sees it
        k, passthrough = self._split(kwargs)
        self._attach_token_file()  # a bad token file fails before the wrapped retriever runs
        candidates = check_documents(
            self.base_retriever.invoke(query, config={"callbacks": run_manager.get_child()}, **passthrough)
        )
        if not candidates:
            return []
        ranking = self.active_verifier.rank(
            query,
            [d.page_content for d in candidates],
            **self._core_kwargs(candidates, k),
        )
        return to_documents(candidates, ranking, return_rejected=False)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        query = check_query(query)  # before the wrapped retriever sees it
        k, passthrough = self._split(kwargs)
        await self._aattach_token_file()
        candidates = check_documents(
            await self.base_retriever.ainvoke(query, config={"callbacks": run_manager.get_child()}, **passthrough)
        )
        if not candidates:
            return []
        ranking = await self.active_verifier.rank_async(
            query,
            [d.page_content for d in candidates],
            **self._core_kwargs(candidates, k),
        )
        return to_documents(candidates, ranking, return_rejected=False)
