"""``VerifiedCacheChecker``: a semantic cache check whose hits are verified, in the style of Haystack's
``CacheChecker``."""

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from haystack import Document, component, default_to_dict
from haystack.components.retrievers.types import EmbeddingRetriever
from haystack.core.serialization import component_to_dict
from haystack.utils import ComponentDevice

from haystack_integrations.common.verimap import deserialize_wrapper, resolve_device, serialize_device, shared_verifier
from verimap.inputs import check_threshold, check_top_k, has_visible_text
from verimap.policy import finite_score
from verimap.results import GUARD_HIT, guard_fields

if TYPE_CHECKING:
    from verimap.guard import CacheGuard


@component
class VerifiedCacheChecker:
    """Looks a question up in a cache of answered questions and returns the cached entries whose question means the
    same (``hits``) apart from those that only look alike (``misses``).

    Haystack's ``CacheChecker`` finds documents whose meta field equals a value. This one finds cached
    question/answer documents by meaning: it embeds the query with verimap's encoder, asks a wrapped embedding
    retriever for the ``top_k`` nearest cached questions, and has verimap's semantic-cache guard
    (:class:`verimap.guard.CacheGuard`) read each (query, cached question) pair in both directions. "How do I switch
    off dark mode?" recalls the entry for "How do I switch on dark mode?" and lands in ``misses``, with the reason;
    "How can I enable the dark theme?" lands in ``hits``.

    A cached entry is a ``Document`` whose ``content`` is the question (or whose ``meta[question_field]`` is) with its
    answer wherever you keep it (e.g. ``meta["answer"]``), embedded with ``VerimapDocumentEmbedder`` into any
    document store the wrapped retriever reads (``InMemoryEmbeddingRetriever``, chroma-haystack's
    ``ChromaEmbeddingRetriever``, ...). Returned documents are copies with ``score`` set to the guard's score and
    the core's guard keys in ``meta`` (:mod:`verimap.results`): ``guard_score``, ``guard_hit``, ``guard_reason``,
    and ``retriever_score`` (the score the entry was recalled with). Both lists are best first. An entry without a
    question (no text) is a miss with reason ``empty``; an empty query recalls nothing.

    ### Usage example

    ```python
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.caching.verimap import VerifiedCacheChecker

    store = InMemoryDocumentStore()  # Document(content=question, meta={"answer": ...}) from VerimapDocumentEmbedder
    checker = VerifiedCacheChecker(retriever=InMemoryEmbeddingRetriever(document_store=store))
    result = checker.run(query="How can I enable the mail app's dark theme?")
    result["hits"]    # verified entries, best first: serve result["hits"][0].meta["answer"]
    result["misses"]  # recalled entries that mean something else, with meta["guard_reason"]
    ```

    A pipeline that answers from the cache when verified and asks the generator otherwise (``ConditionalRouter``):
    ``examples/haystack_cache.yaml`` in the checkout.
    """

    def __init__(
        self,
        *,
        retriever: EmbeddingRetriever,
        question_field: str | None = None,
        top_k: int = 4,
        threshold: float | None = None,
        weights: str | None = None,
        device: ComponentDevice | None = None,
        batch_size: int = 64,
    ) -> None:
        """
        :param retriever: the embedding retriever over the cache's document store
            (``run(query_embedding, filters, top_k)``).
        :param question_field: the meta field holding an entry's question; ``None`` (default): its ``content``.
        :param top_k: cached entries recalled and verified per query.
        :param threshold: the guard's hit threshold in [0, 1]; ``None``: the weights card's guard threshold
            (:class:`verimap.guard.CacheGuard`).
        :param weights: verifier weights (``.safetensors`` with its ``.json`` card); ``None`` for the shipped ones.
        :param device: the device for the encoder and verifier; ``None`` picks Haystack's default.
        :param batch_size: similarity maps per verifier forward pass.
        """
        if not callable(getattr(retriever, "run", None)):
            raise TypeError("retriever must be a Haystack embedding retriever (a component with a `run` method)")
        self.retriever = retriever
        if question_field is not None and not isinstance(question_field, str):
            raise TypeError(f"question_field must be a meta field name or None, got {type(question_field).__name__}")
        self.question_field = question_field
        self.top_k = check_top_k(top_k)
        if self.top_k is None:
            raise ValueError("top_k must be a positive integer")
        self.threshold = check_threshold(threshold)
        self.weights = weights
        self.device = device
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self._guard: CacheGuard | None = None

    def warm_up(self) -> None:
        """Load the encoder and verifier (shared per process) and warm up the wrapped retriever if it needs it."""
        if self._guard is None:
            from verimap.guard import CacheGuard

            verifier = shared_verifier(self.weights, resolve_device(self.device), self.batch_size)
            self._guard = CacheGuard(verifier, threshold=self.threshold)
        if hasattr(self.retriever, "warm_up"):
            self.retriever.warm_up()

    @property
    def guard(self) -> "CacheGuard":
        """The :class:`verimap.guard.CacheGuard` this component asks (loaded on first use)."""
        self.warm_up()
        assert self._guard is not None
        return self._guard

    def close(self) -> None:
        """Release the wrapped retriever's resources (if it has any to release)."""
        if hasattr(self.retriever, "close"):
            self.retriever.close()

    @component.output_types(hits=list[Document], misses=list[Document])
    def run(
        self,
        *,
        query: str,
        filters: dict[str, Any] | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
    ) -> dict[str, list[Document]]:
        """
        Recall cached entries near ``query`` and verify them.

        :param query: the new question.
        :param filters: filters passed to the wrapped retriever (e.g. to one model's or one tenant's entries).
        :param top_k: overrides the init ``top_k`` for this call.
        :param threshold: overrides the init ``threshold`` for this call.
        :returns: ``hits``: the verified entries, best first; ``misses``: the other recalled entries, best first.
        """
        guard = self._guard_for(threshold)
        if not self._checked(query):
            return {"hits": [], "misses": []}
        embedding = guard.verifier.encoder.pooled([query])[0].tolist()
        recalled = self.retriever.run(query_embedding=embedding, filters=filters, top_k=self._top_k(top_k))
        return self._verify(guard, query, recalled["documents"])

    @component.output_types(hits=list[Document], misses=list[Document])
    async def run_async(
        self,
        *,
        query: str,
        filters: dict[str, Any] | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
    ) -> dict[str, list[Document]]:
        """Same as :meth:`run`; the encoder, the wrapped retriever and the guard run in worker threads."""
        guard = await asyncio.to_thread(self._guard_for, threshold)
        if not self._checked(query):
            return {"hits": [], "misses": []}
        embedding = await asyncio.to_thread(lambda: guard.verifier.encoder.pooled([query])[0].tolist())
        recalled = await asyncio.to_thread(
            self.retriever.run, query_embedding=embedding, filters=filters, top_k=self._top_k(top_k)
        )
        return await asyncio.to_thread(self._verify, guard, query, recalled["documents"])

    def _guard_for(self, threshold: float | None) -> "CacheGuard":
        """This component's guard, or one at a call's own ``threshold`` (a guard is only its settings: cheap)."""
        from verimap.guard import CacheGuard

        threshold = check_threshold(threshold)
        return self.guard if threshold is None else CacheGuard(self.guard.verifier, threshold=threshold)

    def _checked(self, query: Any) -> bool:
        """Whether ``query`` has anything to look up (``TypeError`` for a non-string, as the guard raises)."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        return has_visible_text(query)

    def _top_k(self, top_k: int | None) -> int:
        return check_top_k(top_k) or self.top_k  # type: ignore[return-value]

    def _question(self, document: Document) -> str:
        value = document.content if self.question_field is None else document.meta.get(self.question_field)
        return value if isinstance(value, str) else ""

    def _verify(self, guard: "CacheGuard", query: str, documents: list[Document]) -> dict[str, list[Document]]:
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise TypeError("the wrapped retriever must return a list of Haystack Documents")
        # The query was embedded (and any truncation warned about) above: the guard need not warn again.
        verdicts = guard.check_many(query, [self._question(d) for d in documents], warn=False)
        judged = sorted(
            (
                replace(d, score=v.score, meta={**d.meta, **guard_fields(v, finite_score(d.score))})
                for d, v in zip(documents, verdicts)
            ),
            key=lambda d: -d.score,
        )
        return {
            "hits": [d for d in judged if d.meta[GUARD_HIT]],
            "misses": [d for d in judged if not d.meta[GUARD_HIT]],
        }

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component, with the wrapped retriever (its type and document store) nested."""
        return default_to_dict(
            self,
            retriever=component_to_dict(obj=self.retriever, name="retriever"),
            question_field=self.question_field,
            top_k=self.top_k,
            threshold=self.threshold,
            weights=self.weights,
            device=serialize_device(self.device),
            batch_size=self.batch_size,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VerifiedCacheChecker":
        """Deserialise the component; the wrapped retriever is rebuilt from its own serialised type."""
        return deserialize_wrapper(cls, data)
