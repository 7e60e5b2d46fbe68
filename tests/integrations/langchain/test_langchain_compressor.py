"""StructuralVerifierCompressor on the real encoder and shipped weights (no mocks)."""

from __future__ import annotations

import copy

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from pydantic import ValidationError

from langchain_verimap import StructuralVerifierCompressor

QUERY = "Did the dog bite the man?"
TRUE_MATCH = "The dog bit the man."
NEAR_MISS = "The man bit the dog."


def dog_docs() -> list[Document]:
    # The near-miss comes first, so neither the incoming order nor a stable sort can put the true match first.
    return [
        Document(page_content=NEAR_MISS, id="near-miss", metadata={"source": "a", "n": 1}),
        Document(page_content=TRUE_MATCH, id="true-match", metadata={"source": "b", "n": 2}),
    ]


@pytest.fixture(scope="module")
def keep_all(verifier):
    """Verify and rank, reject nothing: for the tests about plumbing rather than judgment."""
    return StructuralVerifierCompressor(verifier=verifier, score_threshold=0.0, top_n=None)


# -- judgment (these depend on trained weights) ----------------------------------------------------------------
def test_filter_mode_drops_the_near_miss(verifier, separating_threshold):
    compressor = StructuralVerifierCompressor(verifier=verifier, mode="filter", top_n=None,
                                              score_threshold=separating_threshold)
    out = compressor.compress_documents(dog_docs(), QUERY)
    assert [d.page_content for d in out] == [TRUE_MATCH]


def test_rerank_mode_puts_the_true_match_first(verifier):
    compressor = StructuralVerifierCompressor(verifier=verifier, mode="rerank", score_threshold=0.0, top_n=None)
    out = compressor.compress_documents(dog_docs(), QUERY)
    assert [d.page_content for d in out] == [TRUE_MATCH, NEAR_MISS]


def test_return_rejected_flags_the_near_miss(verifier, separating_threshold):
    compressor = StructuralVerifierCompressor(verifier=verifier, mode="filter", top_n=None, return_rejected=True,
                                              score_threshold=separating_threshold)
    out = compressor.compress_documents(dog_docs(), QUERY)
    assert [(d.page_content, d.metadata["verimap_rejected"]) for d in out] == [(TRUE_MATCH, False), (NEAR_MISS, True)]


# -- plumbing ---------------------------------------------------------------------------------------------------
def test_keeps_ids_and_metadata_and_writes_core_scores(keep_all, verifier, corpus):
    out = keep_all.compress_documents(corpus, QUERY)
    assert sorted(d.id for d in out) == sorted(d.id for d in corpus)
    expected = dict(zip((d.id for d in corpus), verifier.score(QUERY, [d.page_content for d in corpus])))
    by_id = {d.id: d for d in corpus}
    for doc in out:
        original = by_id[doc.id]
        assert doc.page_content == original.page_content
        assert {k: v for k, v in doc.metadata.items() if k not in {"relevance_score", "verimap_score"}} == original.metadata
        assert doc.metadata["relevance_score"] == pytest.approx(expected[doc.id], abs=1e-6)
        assert doc.metadata["verimap_score"] == pytest.approx(expected[doc.id], abs=1e-6)
        assert "retriever_score" not in doc.metadata and "verimap_rejected" not in doc.metadata
    scores = [d.metadata["relevance_score"] for d in out]
    assert scores == sorted(scores, reverse=True)


def test_order_and_split_match_the_core(verifier, corpus):
    texts = [d.page_content for d in corpus]
    scores = sorted(verifier.score(QUERY, texts))
    threshold = (scores[2] + scores[3]) / 2  # a threshold between two real scores: a split whatever the weights
    for mode in ("rerank", "filter", "fuse"):
        compressor = StructuralVerifierCompressor(
            verifier=verifier, mode=mode, score_threshold=threshold, top_n=2, return_rejected=True
        )
        out = compressor.compress_documents(corpus, QUERY)
        kept, rejected = verifier.rank(QUERY, texts, 2, threshold, mode=mode, return_rejected=True)
        assert [d.id for d in out] == [corpus[r.index].id for r in kept + rejected]
        assert [d.metadata["relevance_score"] for d in out] == pytest.approx([r.score for r in kept + rejected])
        assert [d.metadata["verimap_rejected"] for d in out] == [False] * len(kept) + [True] * len(rejected)
        assert len(kept) == 2 and len(rejected) == 3  # top_n cuts the kept only; cut docs are not "rejected"


def test_fuse_uses_and_preserves_the_incoming_score(verifier):
    docs = [
        Document(page_content=NEAR_MISS, id="a", metadata={"relevance_score": 0.9}),
        Document(page_content=TRUE_MATCH, id="b", metadata={"relevance_score": 0.2}),
        Document(page_content="Cats purr.", id="c", metadata={"relevance_score": 0.5}),
    ]
    compressor = StructuralVerifierCompressor(verifier=verifier, mode="fuse", score_threshold=0.0, top_n=None)
    out = compressor.compress_documents(docs, QUERY)
    kept = verifier.rank(QUERY, [d.page_content for d in docs], threshold=0.0, mode="fuse", prior_scores=[0.9, 0.2, 0.5])
    assert [d.id for d in out] == [docs[r.index].id for r in kept]
    assert [d.metadata["relevance_score"] for d in out] == pytest.approx([r.score for r in kept])
    assert {d.id: d.metadata["retriever_score"] for d in out} == {"a": 0.9, "b": 0.2, "c": 0.5}
    # "score" is read when "relevance_score" is absent
    alt = [d.model_copy(update={"metadata": {"score": d.metadata["relevance_score"]}}) for d in docs]
    out_alt = compressor.compress_documents(alt, QUERY)
    assert [d.id for d in out_alt] == [d.id for d in out]
    assert {d.id: d.metadata["retriever_score"] for d in out_alt} == {"a": 0.9, "b": 0.2, "c": 0.5}


def test_fuse_without_incoming_scores_uses_the_core_default(verifier, corpus):
    corpus[0].metadata["score"] = 0.7  # one document with a score is not enough: the core fuses with MaxSim
    compressor = StructuralVerifierCompressor(verifier=verifier, mode="fuse", score_threshold=0.0, top_n=None)
    out = compressor.compress_documents(corpus, QUERY)
    kept = verifier.rank(QUERY, [d.page_content for d in corpus], threshold=0.0, mode="fuse")
    assert [d.id for d in out] == [corpus[r.index].id for r in kept]
    assert [d.metadata["relevance_score"] for d in out] == pytest.approx([r.score for r in kept])


def test_inputs_are_not_mutated(verifier, corpus):
    for doc in corpus:
        doc.metadata["relevance_score"] = 0.5
    before = copy.deepcopy(corpus)
    metadata_dicts = [d.metadata for d in corpus]
    compressor = StructuralVerifierCompressor(verifier=verifier, mode="fuse", score_threshold=0.0, return_rejected=True)
    out = compressor.compress_documents(corpus, QUERY)
    assert corpus == before
    assert all(d.metadata is m for d, m in zip(corpus, metadata_dicts))
    assert not any(o.metadata is m for o in out for m in metadata_dicts)
    assert not any(o is d for o in out for d in corpus)


async def test_async_equals_sync(verifier, corpus):
    for mode in ("rerank", "filter", "fuse"):
        compressor = StructuralVerifierCompressor(
            verifier=verifier, mode=mode, score_threshold=0.0, top_n=4, return_rejected=True
        )
        sync = compressor.compress_documents(corpus, QUERY)
        asynchronous = await compressor.acompress_documents(corpus, QUERY)
        assert [(d.id, d.metadata) for d in asynchronous] == [(d.id, d.metadata) for d in sync]


async def test_empty_input_returns_empty(keep_all):
    assert keep_all.compress_documents([], QUERY) == []
    assert await keep_all.acompress_documents([], QUERY) == []


def test_empty_page_content_scores_zero_and_is_rejected(verifier):
    docs = [Document(page_content="", id="empty"), Document(page_content=TRUE_MATCH, id="match")]
    compressor = StructuralVerifierCompressor(verifier=verifier, top_n=None, return_rejected=True)
    out = {d.id: d for d in compressor.compress_documents(docs, QUERY)}
    assert out["empty"].metadata["verimap_score"] == 0.0
    assert out["empty"].metadata["verimap_rejected"] is True
    assert verifier.threshold > 0.0


def test_top_n_limits_the_kept(keep_all, verifier, corpus):
    compressor = StructuralVerifierCompressor(verifier=verifier, score_threshold=0.0, top_n=2)
    assert [d.id for d in compressor.compress_documents(corpus, QUERY)] == [
        d.id for d in keep_all.compress_documents(corpus, QUERY)[:2]
    ]


def test_bad_input_and_config_fail_early(keep_all, verifier):
    with pytest.raises(ValueError, match="query"):
        keep_all.compress_documents(dog_docs(), "   ")
    with pytest.raises(TypeError):
        keep_all.compress_documents(["not a document"], QUERY)  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="mode"):
        StructuralVerifierCompressor(verifier=verifier, mode="sort")
    with pytest.raises(ValidationError, match="top_k"):
        StructuralVerifierCompressor(verifier=verifier, top_n=0)
    with pytest.raises(ValidationError, match="score_threshold"):
        StructuralVerifierCompressor(verifier=verifier, score_threshold=1.5)
    with pytest.raises(ValidationError):
        StructuralVerifierCompressor(verifier=verifier, top_k=3)  # a typo is an error, not silently ignored
    with pytest.raises(ValidationError, match="verifier"):
        StructuralVerifierCompressor(verifier=verifier, weights="elsewhere.safetensors")


def test_in_a_contextual_compression_retriever(verifier, chroma_retriever, corpus):
    retriever = ContextualCompressionRetriever(
        base_compressor=StructuralVerifierCompressor(verifier=verifier, score_threshold=0.0, top_n=3),
        base_retriever=chroma_retriever,
    )
    out = retriever.invoke(QUERY)
    assert len(out) == 3
    by_id = {d.id: d for d in corpus}
    assert all(d.id in by_id and d.page_content == by_id[d.id].page_content for d in out)
    expected = verifier.rank(QUERY, [d.page_content for d in corpus], 3, 0.0)
    assert [d.id for d in out] == [corpus[r.index].id for r in expected]


async def test_contextual_compression_drops_the_near_miss(verifier, chroma_retriever, separating_threshold):
    retriever = ContextualCompressionRetriever(
        base_compressor=StructuralVerifierCompressor(verifier=verifier, top_n=None, score_threshold=separating_threshold),
        base_retriever=chroma_retriever,
    )
    for out in (retriever.invoke(QUERY), await retriever.ainvoke(QUERY)):
        texts = [d.page_content for d in out]
        assert TRUE_MATCH in texts
        assert NEAR_MISS not in texts
