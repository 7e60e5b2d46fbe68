"""``StructuralVerifierRanker``: verimap's structural verifier as a Haystack ranker.

All scoring, thresholding, fusion, ordering and ``top_k`` come from the core (:meth:`verimap.Verifier.rank` and
:mod:`verimap.policy`); this module only turns Haystack documents into texts (and, for ``fuse_prior="retriever"``,
their incoming scores into the core's prior, :func:`verimap.policy.prior_from_incoming`) and results back into
documents, with the core's result keys (:mod:`verimap.results`).
"""

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from haystack import Document, component, default_from_dict, default_to_dict, logging
from haystack.utils import ComponentDevice

from haystack_integrations.common.verimap import (
    deserialize_device,
    document_text,
    resolve_device,
    serialize_device,
    shared_verifier,
)
from verimap.cache import attach_token_file, check_token_file
from verimap.inputs import check_query, check_threshold, check_top_k
from verimap.policy import (
    DEFAULT_MODE,
    FusePrior,
    Mode,
    Ranking,
    RankResult,
    ScoreType,
    check_fuse_prior,
    check_mode,
    check_score_type,
    finite_score,
    prior_from_incoming,
)
from verimap.results import result_fields

if TYPE_CHECKING:
    from verimap import Verifier

logger = logging.getLogger(__name__)

NO_TEXT = RankResult(index=-1, score=0.0, verifier_score=0.0, accepted=False)
"""What a document without text gets: it cannot be verified, so it scores 0 and is never accepted."""


class _Prepared:
    """One call's documents split into what the verifier reads and what it cannot (no text)."""

    def __init__(self, documents: list[Document], texts: list[str], no_text: list[Document], prior: list[float] | None):
        self.documents = documents  # deduplicated documents that have text, in incoming order
        self.texts = texts
        self.no_text = no_text
        self.prior = prior


@component
class StructuralVerifierRanker:
    """Orders retrieved documents with verimap's structural verifier and reports, or rejects, near-misses.

    A dense retriever finds "The man bit the dog." for "Did the dog bite the man?" as readily as the real answer;
    the verifier reads each (query, document) token-similarity map and gives a calibrated probability that the
    document actually matches.

    By default (``mode="fuse"``, ``fuse_prior="maxsim"``, ``score_threshold=None``) the documents are ordered by
    ``fuse_weight * verifier + (1 - fuse_weight) * MaxSim`` (MaxSim min-max normalised by the core, ``fuse_weight``
    from the weights card) and **nothing is dropped**: ``rejected`` only holds documents without text, and each
    document's ``meta["verifier_accepted"]`` gives its verdict at the card's threshold. This is the core's default
    policy (:mod:`verimap.policy`; why: docs/benchmarks.md). To set near-misses aside, pass an explicit
    ``score_threshold`` (any mode drops documents under it into ``rejected``) or use ``mode="rerank"`` /
    ``"filter"`` (which drop under the card's threshold when ``score_threshold`` is ``None``).

    Output documents are copies (``dataclasses.replace``); input documents are never modified. ``score`` is the score
    the documents are ordered by, and ``meta`` gets the core's result keys (:mod:`verimap.results`, the same keys the
    LangChain adapter writes): ``relevance_score`` (the same value as ``score``), ``verifier_score`` (the calibrated
    probability a threshold applies to), ``verifier_accepted`` (the verdict, in ``documents`` and ``rejected`` alike)
    and ``retriever_score`` (the finite ``score`` the document arrived with, if any).

    Documents whose ``content`` is ``None`` or blank cannot be verified: they are put in ``rejected`` (after the
    verified rejections) with ``score`` and ``meta["verifier_score"]`` 0.0 and ``meta["verifier_accepted"]``
    ``False``, whatever the mode and threshold. They are never dropped and never raise. Documents with the same
    ``id`` are deduplicated first, keeping the one with the best incoming score (first occurrence on ties). An
    incoming ``score`` that is NaN or infinite counts as no score.

    With ``token_file``, the token vectors ``VerimapDocumentEmbedder(token_file=...)`` wrote at indexing time are
    read instead of encoding each retrieved document again (docs/token-files.md).

    ### Usage example

    ```python
    from haystack import Document
    from haystack_integrations.components.rankers.verimap import StructuralVerifierRanker

    docs = [Document(content="The man bit the dog."), Document(content="The dog bit the man.")]
    query = "Did the dog bite the man?"

    ranker = StructuralVerifierRanker(top_k=3)  # default: fuse with MaxSim, drop nothing
    ranker.warm_up()
    result = ranker.run(query=query, documents=docs)
    result["documents"]  # both, the true match first; each with meta["verifier_score"] and ["verifier_accepted"]
    result["rejected"]   # [] (only documents without text would be here)

    strict = ranker.run(query=query, documents=docs, score_threshold=0.5)  # an explicit threshold drops
    strict["documents"]  # the true match
    strict["rejected"]   # the near-miss, with its verifier score
    ```
    """

    def __init__(
        self,
        *,
        weights: str | None = None,
        device: ComponentDevice | None = None,
        top_k: int | None = 10,
        score_threshold: float | None = None,
        mode: Mode = DEFAULT_MODE,
        fuse_prior: FusePrior = "maxsim",
        scale_score: bool = True,
        batch_size: int = 64,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        query_prefix: str = "",
        document_prefix: str = "",
        retriever_score_type: ScoreType = "similarity",
        token_file: str | None = None,
    ) -> None:
        """
        :param weights: path of a verifier ``.safetensors`` file (its ``.json`` card beside it); ``None`` for the
            weights shipped with verimap.
        :param device: the device to run on; ``None`` picks Haystack's default (the GPU if there is one, else CPU).
        :param top_k: the most documents to return (applied after any threshold); ``None`` for all kept ones.
        :param score_threshold: accept threshold on the verifier's calibrated probability. A number drops the
            documents under it into ``rejected`` in every mode (``0.0`` accepts every document that has text).
            ``None``: in ``rerank`` and ``filter`` modes the weights card's threshold drops them; in ``fuse`` mode
            nothing is dropped (``meta["verifier_accepted"]`` still gives the verdict at the card's threshold).
        :param mode: ``"fuse"`` (default) orders by the verifier combined with a prior (see ``fuse_prior``);
            ``"rerank"`` orders by the verifier alone; ``"filter"`` keeps the incoming order and only drops
            rejected documents.
        :param fuse_prior: what ``fuse`` mode combines the verifier with. ``"maxsim"`` (default): MaxSim over the
            same token vectors, computed by the core; it ignores the incoming scores. ``"retriever"``: the incoming
            ``Document.score`` values, read as ``retriever_score_type`` says, when every document has a finite one;
            if any lacks one, MaxSim (the core's rule, :func:`verimap.policy.prior_from_incoming`). Not read in other
            modes.
        :param scale_score: accepted for compatibility with Haystack's similarity rankers. verimap's scores are
            always calibrated probabilities in [0, 1], so there is nothing to scale; ``False`` changes nothing.
        :param batch_size: similarity maps per verifier forward pass.
        :param meta_fields_to_embed: meta fields whose values are read together with the content.
        :param embedding_separator: separator between the meta values and the content.
        :param query_prefix: text put before the query.
        :param document_prefix: text put before each document.
        :param retriever_score_type: how to read the incoming ``score`` (for ``fuse_prior="retriever"`` and to pick
            the best of duplicate documents): ``"similarity"`` (higher is better, most retrievers) or
            ``"distance"`` (lower is better, e.g. Chroma).
        :param token_file: path of a verimap token file (SQLite, created if missing), e.g. the one
            ``VerimapDocumentEmbedder(token_file=...)`` filled at indexing time, attached to the encoder's cache at
            ``warm_up``. Only documents read as the very text the embedder embedded hit: use its
            ``meta_fields_to_embed`` and ``embedding_separator``, its ``prefix`` as ``document_prefix`` and no
            embedder ``suffix``. ``None`` (default): memory cache only. How token files behave: docs/token-files.md.
        """
        self.weights = weights
        self.device = device
        self.top_k = check_top_k(top_k)
        self.score_threshold = check_threshold(score_threshold, "score_threshold")
        self.mode = check_mode(mode)
        self.fuse_prior = check_fuse_prior(fuse_prior)
        self.scale_score = scale_score
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.retriever_score_type = check_score_type(retriever_score_type, "retriever_score_type")
        self.token_file = check_token_file(token_file)
        if not scale_score:
            logger.info("StructuralVerifierRanker: scale_score=False has no effect, scores are always probabilities")
        self._verifier: Verifier | None = None
        self._owner = type(self).__name__  # named in token_file errors and warnings (VerifiedRetriever sets its own)

    # -- lifecycle --------------------------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load the encoder and verifier (once per process, shared with the other verimap components) and attach
        ``token_file`` to the encoder's cache."""
        if self._verifier is None:
            verifier = shared_verifier(self.weights, resolve_device(self.device), self.batch_size)
            # A bad file fails here, and the ranker stays cold (failing again) until it is fixed.
            attach_token_file(verifier.encoder.cache, self.token_file, self._owner)
            self._verifier = verifier

    @property
    def verifier(self) -> "Verifier":
        """The loaded :class:`verimap.Verifier` (loads it on first use)."""
        self.warm_up()
        assert self._verifier is not None
        return self._verifier

    # -- running ----------------------------------------------------------------------------------------------------
    @component.output_types(documents=list[Document], rejected=list[Document])
    def run(
        self,
        *,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
    ) -> dict[str, list[Document]]:
        """
        Verify ``documents`` against ``query``.

        :param query: the query (a non-empty string).
        :param documents: the candidates, usually from a retriever.
        :param top_k: overrides the init ``top_k`` for this call.
        :param score_threshold: overrides the init ``score_threshold`` for this call.
        :returns: ``documents``: the kept documents, best first (incoming order in ``filter`` mode), at most
            ``top_k`` (in ``fuse`` mode without a threshold: every document with text, whatever its verdict);
            ``rejected``: the documents under the threshold, by verifier score, then those without text.
        """
        query, prepared, top_k, threshold = self._prepare(query, documents, top_k, score_threshold)
        if not prepared.texts:
            return self._finish(prepared, Ranking())
        ranking = self.verifier.rank(
            self.query_prefix + query,
            prepared.texts,
            top_k,
            threshold,
            mode=self.mode,
            prior_scores=prepared.prior,
        )
        return self._finish(prepared, ranking)

    @component.output_types(documents=list[Document], rejected=list[Document])
    async def run_async(
        self,
        *,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
    ) -> dict[str, list[Document]]:
        """Same as :meth:`run`; the model runs in a worker thread so the event loop keeps serving."""
        query, prepared, top_k, threshold = self._prepare(query, documents, top_k, score_threshold)
        if not prepared.texts:
            return self._finish(prepared, Ranking())
        ranking = await self.verifier.rank_async(
            self.query_prefix + query,
            prepared.texts,
            top_k,
            threshold,
            mode=self.mode,
            prior_scores=prepared.prior,
        )
        return self._finish(prepared, ranking)

    def _prepare(
        self, query: str, documents: list[Document], top_k: int | None, score_threshold: float | None
    ) -> tuple[str, _Prepared, int | None, float | None]:
        query = check_query(query)
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise TypeError("StructuralVerifierRanker expects `documents` to be a list of Documents")
        top_k = check_top_k(top_k) if top_k is not None else self.top_k
        threshold = check_threshold(score_threshold, "score_threshold")
        if threshold is None:
            # Still None: passed to the core as threshold=None, which means the card's threshold in rerank/filter
            # mode and "drop nothing" in fuse mode. Never resolved here, so the core's policy decides.
            threshold = self.score_threshold
        with_text: list[Document] = []
        texts: list[str] = []
        no_text: list[Document] = []
        for doc in self._deduplicate(documents):
            text = document_text(
                doc,
                meta_fields_to_embed=self.meta_fields_to_embed,
                embedding_separator=self.embedding_separator,
                prefix=self.document_prefix,
            )
            if text is None:
                no_text.append(doc)
            else:
                with_text.append(doc)
                texts.append(text)
        # The adapter only picks what the core fuses with: None lets Verifier.rank use MaxSim.
        prior = None
        if self.fuse_prior == "retriever":
            prior = prior_from_incoming([d.score for d in with_text], score_type=self.retriever_score_type)
        return query, _Prepared(with_text, texts, no_text, prior), top_k, threshold

    def _deduplicate(self, documents: list[Document]) -> list[Document]:
        """One document per id: the best incoming score wins (the first occurrence on ties / no scores)."""
        sign = -1.0 if self.retriever_score_type == "distance" else 1.0
        best: dict[str, Document] = {}
        for doc in documents:
            current = best.get(doc.id)
            if current is None:
                best[doc.id] = doc
                continue
            new, old = finite_score(doc.score), finite_score(current.score)
            if new is not None and (old is None or sign * new > sign * old):
                best[doc.id] = doc
        return list(best.values())  # dict order: first occurrence of each id

    @staticmethod
    def _annotated(doc: Document, result: RankResult) -> Document:
        meta = {**doc.meta, **result_fields(result, finite_score(doc.score))}
        return replace(doc, score=result.score, meta=meta)

    def _finish(self, prepared: _Prepared, ranking: Ranking) -> dict[str, list[Document]]:
        docs = prepared.documents
        return {
            "documents": [self._annotated(docs[r.index], r) for r in ranking.kept],
            "rejected": [self._annotated(docs[r.index], r) for r in ranking.rejected]
            + [self._annotated(d, NO_TEXT) for d in prepared.no_text],
        }

    # -- serialisation ----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Serialise the component to a dictionary."""
        return default_to_dict(
            self,
            weights=self.weights,
            device=serialize_device(self.device),
            top_k=self.top_k,
            score_threshold=self.score_threshold,
            mode=self.mode,
            fuse_prior=self.fuse_prior,
            scale_score=self.scale_score,
            batch_size=self.batch_size,
            meta_fields_to_embed=self.meta_fields_to_embed,
            embedding_separator=self.embedding_separator,
            query_prefix=self.query_prefix,
            document_prefix=self.document_prefix,
            retriever_score_type=self.retriever_score_type,
            token_file=self.token_file,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StructuralVerifierRanker":
        """Deserialise the component from a dictionary."""
        data = {**data, "init_parameters": dict(data.get("init_parameters", {}))}
        params = data["init_parameters"]
        if "device" in params:
            params["device"] = deserialize_device(params["device"])
        return default_from_dict(cls, data)
