"""``VerifiedRetriever``: dense recall with a wrapped embedding retriever, then structural verification, in one node."""

import asyncio
from typing import Any

from haystack import Document, component, default_to_dict
from haystack.components.retrievers.types import EmbeddingRetriever
from haystack.core.serialization import component_to_dict
from haystack.utils import ComponentDevice

from haystack_integrations.common.verimap import deserialize_wrapper, serialize_device
from haystack_integrations.components.rankers.verimap import StructuralVerifierRanker
from verimap.cache import check_token_file
from verimap.inputs import check_query, check_top_k
from verimap.policy import DEFAULT_MODE, FusePrior, Mode, ScoreType, check_fuse_prior


@component
class VerifiedRetriever:
    """Retrieval as recall plus judgment: embeds the query with verimap's encoder, asks a wrapped embedding
    retriever for ``recall_k`` candidates, verifies them and returns the best ``top_k`` plus the ``rejected`` ones.

    By default (``mode="fuse"``, ``fuse_prior="maxsim"``, ``score_threshold=None``) the candidates are ordered by
    the verifier fused with MaxSim and none is dropped: ``rejected`` only holds candidates without text, and
    ``meta["verifier_accepted"]`` gives each one's verdict at the weights card's threshold. Pass ``score_threshold``
    (or use ``mode="rerank"``) to move near-misses to ``rejected``; see :class:`StructuralVerifierRanker` for why the
    default does not drop.

    The wrapped retriever can be any Haystack embedding retriever whose store was filled with
    ``VerimapDocumentEmbedder`` vectors (e.g. ``InMemoryEmbeddingRetriever`` or chroma-haystack's
    ``ChromaEmbeddingRetriever``); it is serialised with its own type and document store. Verification is exactly
    :class:`StructuralVerifierRanker`'s (same outputs, scores, meta keys and handling of documents without text).
    With ``token_file``, candidates whose token vectors ``VerimapDocumentEmbedder(token_file=...)`` wrote are read
    instead of being encoded again (docs/token-files.md).

    ### Usage example

    ```python
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.retrievers.verimap import VerifiedRetriever

    store = InMemoryDocumentStore()  # filled with VerimapDocumentEmbedder's output
    retriever = VerifiedRetriever(retriever=InMemoryEmbeddingRetriever(document_store=store), recall_k=20, top_k=3)
    result = retriever.run(query="Did the dog bite the man?")
    result["documents"]  # the 3 best candidates, fused with MaxSim; see meta["verifier_accepted"]
    strict = retriever.run(query="Did the dog bite the man?", score_threshold=0.5)
    strict["rejected"]   # candidates under 0.5, e.g. "The man bit the dog."
    ```
    """

    def __init__(
        self,
        *,
        retriever: EmbeddingRetriever,
        weights: str | None = None,
        device: ComponentDevice | None = None,
        recall_k: int = 50,
        top_k: int | None = 10,
        score_threshold: float | None = None,
        mode: Mode = DEFAULT_MODE,
        fuse_prior: FusePrior = "maxsim",
        batch_size: int = 64,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        retriever_score_type: ScoreType = "similarity",
        token_file: str | None = None,
    ) -> None:
        """
        :param retriever: the embedding retriever that finds candidates (``run(query_embedding, filters, top_k)``).
        :param weights: verifier weights (``.safetensors`` with its ``.json`` card); ``None`` for the shipped ones.
        :param device: the device for the encoder and verifier; ``None`` picks Haystack's default.
        :param recall_k: candidates asked from the wrapped retriever.
        :param top_k: the most documents to return (applied after any threshold); ``None`` for all.
        :param score_threshold: accept threshold on the verifier probability; a number drops candidates under it in
            every mode. ``None``: the weights card's threshold in ``rerank``/``filter`` mode, no dropping in ``fuse``.
        :param mode: ``"fuse"`` (default), ``"rerank"`` or ``"filter"`` (see :class:`StructuralVerifierRanker`).
        :param fuse_prior: ``"maxsim"`` (default: the core fuses the verifier with MaxSim) or ``"retriever"`` (fuse
            with the wrapped retriever's scores, read as ``retriever_score_type`` says, when every candidate has one;
            else MaxSim). Only read in ``fuse`` mode.
        :param batch_size: similarity maps per verifier forward pass.
        :param meta_fields_to_embed: meta fields the verifier reads together with the content.
        :param embedding_separator: separator between the meta values and the content.
        :param retriever_score_type: ``"similarity"`` (higher is better) or ``"distance"`` (lower is better, e.g.
            Chroma): how ``fuse_prior="retriever"`` reads the wrapped retriever's scores.
        :param token_file: path of a verimap token file, e.g. the one ``VerimapDocumentEmbedder(token_file=...)``
            filled when the store was indexed (same ``meta_fields_to_embed`` and ``embedding_separator``, no embedder
            ``prefix``/``suffix``: this component reads documents without a prefix). ``None`` (default): memory cache
            only. How token files behave: docs/token-files.md.
        """
        if not callable(getattr(retriever, "run", None)):
            raise TypeError("retriever must be a Haystack embedding retriever (a component with a `run` method)")
        self.retriever = retriever
        self.recall_k = check_top_k(recall_k)
        if self.recall_k is None:
            raise ValueError("recall_k must be a positive integer")
        self.weights = weights
        self.device = device
        self.top_k = top_k
        self.score_threshold = score_threshold
        self.mode = mode
        self.fuse_prior = check_fuse_prior(fuse_prior)
        self.batch_size = batch_size
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self.retriever_score_type = retriever_score_type
        self.token_file = check_token_file(token_file)
        self._ranker = StructuralVerifierRanker(
            weights=weights,
            device=device,
            top_k=top_k,
            score_threshold=score_threshold,
            mode=mode,
            fuse_prior=fuse_prior,
            batch_size=batch_size,
            meta_fields_to_embed=meta_fields_to_embed,
            embedding_separator=embedding_separator,
            retriever_score_type=retriever_score_type,
            token_file=self.token_file,
        )
        self._ranker._owner = type(self).__name__

    def warm_up(self) -> None:
        """Load the encoder and verifier (shared per process) and warm up the wrapped retriever if it needs it."""
        self._ranker.warm_up()
        if hasattr(self.retriever, "warm_up"):
            self.retriever.warm_up()

    def close(self) -> None:
        """Release the wrapped retriever's resources (if it has any to release)."""
        if hasattr(self.retriever, "close"):
            self.retriever.close()

    def _embed(self, query: str) -> list[float]:
        return self._ranker.verifier.encoder.pooled([query])[0].tolist()

    @component.output_types(documents=list[Document], rejected=list[Document])
    def run(
        self,
        *,
        query: str,
        filters: dict[str, Any] | None = None,
        top_k: int | None = None,
        recall_k: int | None = None,
        score_threshold: float | None = None,
    ) -> dict[str, list[Document]]:
        """
        Retrieve and verify.

        :param query: the query (a non-empty string).
        :param filters: filters passed to the wrapped retriever.
        :param top_k: overrides the init ``top_k`` for this call.
        :param recall_k: overrides the init ``recall_k`` for this call.
        :param score_threshold: overrides the init ``score_threshold`` for this call.
        :returns: ``documents`` (accepted, best first) and ``rejected``, as :class:`StructuralVerifierRanker`.
        """
        query = check_query(query)
        self.warm_up()
        candidates = self.retriever.run(
            query_embedding=self._embed(query), filters=filters, top_k=self._recall_k(recall_k)
        )["documents"]
        return self._ranker.run(query=query, documents=candidates, top_k=top_k, score_threshold=score_threshold)

    @component.output_types(documents=list[Document], rejected=list[Document])
    async def run_async(
        self,
        *,
        query: str,
        filters: dict[str, Any] | None = None,
        top_k: int | None = None,
        recall_k: int | None = None,
        score_threshold: float | None = None,
    ) -> dict[str, list[Document]]:
        """Same as :meth:`run`; the encoder and the wrapped retriever run in worker threads (many stores' async
        APIs are remote-only, e.g. Chroma's), the verifier through :meth:`verimap.Verifier.rank_async`."""
        query = check_query(query)
        self.warm_up()
        embedding = await asyncio.to_thread(self._embed, query)
        result = await asyncio.to_thread(
            self.retriever.run, query_embedding=embedding, filters=filters, top_k=self._recall_k(recall_k)
        )
        return await self._ranker.run_async(
            query=query, documents=result["documents"], top_k=top_k, score_threshold=score_threshold
        )

    def _recall_k(self, recall_k: int | None) -> int:
        return check_top_k(recall_k) or self.recall_k  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component, with the wrapped retriever (its type and document store) nested."""
        return default_to_dict(
            self,
            retriever=component_to_dict(obj=self.retriever, name="retriever"),
            weights=self.weights,
            device=serialize_device(self.device),
            recall_k=self.recall_k,
            top_k=self.top_k,
            score_threshold=self.score_threshold,
            mode=self.mode,
            fuse_prior=self.fuse_prior,
            batch_size=self.batch_size,
            meta_fields_to_embed=self.meta_fields_to_embed,
            embedding_separator=self.embedding_separator,
            retriever_score_type=self.retriever_score_type,
            token_file=self.token_file,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VerifiedRetriever":
        """Deserialise the component; the wrapped retriever is rebuilt from its own serialised type."""
        return deserialize_wrapper(cls, data)
