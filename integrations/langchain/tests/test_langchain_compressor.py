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
    """Verify and rank (default ``fuse`` mode), reject nothing: for the tests about plumbing rather than judgment."""
    return StructuralVerifierCompressor(verifier=verifier, score_threshold=0.0, top_n=None)


# -- judgment (these depend on trained weights) ----------------------------------------------------------------
def test_filter_mode_drops_the_near_miss(verifier, separating_threshold):
    compressor = StructuralVerifierCompressor(
        verifier=verifier, mode="filter", top_n=None, score_threshold=separating_threshold
    )
    out = compressor.compress_documents(dog_docs(), QUERY)
    assert [d.page_content for d in out] == [TRUE_MATCH]


def test_rerank_mode_puts_the_true_match_first(verifier):
    compressor = StructuralVerifierCompressor(verifier=verifier, mode="rerank", score_threshold=0.0, top_n=None)
    out = compressor.compress_documents(dog_docs(), QUERY)
    assert [d.page_content for d in out] == [TRUE_MATCH, NEAR_MISS]


def test_return_rejected_flags_the_near_miss(verifier, separating_threshold):
    compressor = StructuralVerifierCompressor(
        verifier=verifier, mode="filter", top_n=None, return_rejected=True, score_threshold=separating_threshold
    )
    out = compressor.compress_documents(dog_docs(), QUERY)
    assert [(d.page_content, d.metadata["verimap_rejected"]) for d in out] == [(TRUE_MATCH, False), (NEAR_MISS, True)]


# -- plumbing ---------------------------------------------------------------------------------------------------
def test_keeps_ids_and_metadata_and_writes_core_scores(keep_all, verifier, corpus):
    out = keep_all.compress_documents(corpus, QUERY)
    assert sorted(d.id for d in out) == sorted(d.id for d in corpus)
    texts = [d.page_content for d in corpus]
    probability = dict(zip((d.id for d in corpus), verifier.score(QUERY, texts)))
    fused = {corpus[r.index].id: r.score for r in verifier.rank(QUERY, texts, threshold=0.0, mode="fuse")}
    by_id = {d.id: d for d in corpus}
    added = {"relevance_score", "verifier_score", "verimap_score", "verifier_accepted"}
    for doc in out:
        original = by_id[doc.id]
        assert doc.page_content == original.page_content
        assert {k: v for k, v in doc.metadata.items() if k not in added} == original.metadata
        assert doc.metadata["relevance_score"] == pytest.approx(fused[doc.id], abs=1e-6)
        assert doc.metadata["verifier_score"] == pytest.approx(probability[doc.id], abs=1e-6)
        assert doc.metadata["verimap_score"] == doc.metadata["verifier_score"]  # the deprecated alias, until 0.3
        assert doc.metadata["verifier_accepted"] is True  # score_threshold=0.0 accepts everything
        assert "retriever_score" not in doc.metadata and "verimap_rejected" not in doc.metadata
    scores = [d.metadata["relevance_score"] for d in out]
    assert scores == sorted(scores, reverse=True)


def test_rerank_scores_are_the_verifier_probability(verifier, corpus):
    compressor = StructuralVerifierCompressor(verifier=verifier, mode="rerank", score_threshold=0.0, top_n=None)
    expected = dict(zip((d.id for d in corpus), verifier.score(QUERY, [d.page_content for d in corpus])))
    for doc in compressor.compress_documents(corpus, QUERY):
        assert doc.metadata["relevance_score"] == pytest.approx(expected[doc.id], abs=1e-6)
        assert doc.metadata["verifier_score"] == pytest.approx(expected[doc.id], abs=1e-6)


# -- the default policy: fuse with MaxSim, drop nothing ---------------------------------------------------------
def test_the_default_is_fuse_with_maxsim(verifier):
    compressor = StructuralVerifierCompressor(verifier=verifier)
    assert (compressor.mode, compressor.fuse_prior, compressor.score_threshold) == ("fuse", "maxsim", None)


@pytest.mark.parametrize("with_incoming_scores", [False, True])
async def test_default_drops_nothing_and_orders_like_the_core_fuse(verifier, corpus, with_incoming_scores):
    corpus.append(Document(page_content="", id="empty", metadata={}))  # scores 0.0: rejected by any verdict
    if with_incoming_scores:  # the default prior is MaxSim: incoming scores must not change the order
        for i, doc in enumerate(corpus):
            doc.metadata["relevance_score"] = float(i)
    texts = [d.page_content for d in corpus]
    compressor = StructuralVerifierCompressor(verifier=verifier, top_n=None, return_rejected=True)
    expected = verifier.rank(QUERY, texts, mode="fuse")  # the core's own default: threshold=None, MaxSim prior
    assert len(expected) == len(corpus)
    for out in (compressor.compress_documents(corpus, QUERY), await compressor.acompress_documents(corpus, QUERY)):
        assert [d.id for d in out] == [corpus[r.index].id for r in expected]  # everything, in the core's order
        assert [d.metadata["relevance_score"] for d in out] == pytest.approx([r.score for r in expected], abs=1e-6)
        assert [d.metadata["verifier_accepted"] for d in out] == [r.accepted for r in expected]
        assert not any(d.metadata["verimap_rejected"] for d in out)
        empty = next(d for d in out if d.id == "empty")
        assert empty.metadata["verifier_score"] == 0.0 and empty.metadata["verifier_accepted"] is False
    assert [d.id for d in StructuralVerifierCompressor(verifier=verifier).compress_documents(corpus, QUERY)] == [
        corpus[r.index].id
        for r in expected[:3]  # the default top_n=3 cuts the fused order
    ]


def test_default_keeps_the_near_miss(verifier):
    out = StructuralVerifierCompressor(verifier=verifier).compress_documents(dog_docs(), QUERY)
    expected = verifier.rank(QUERY, [NEAR_MISS, TRUE_MATCH], mode="fuse")
    assert [d.page_content for d in out] == [[NEAR_MISS, TRUE_MATCH][r.index] for r in expected]
    assert sorted(d.page_content for d in out) == sorted([NEAR_MISS, TRUE_MATCH])


def test_explicit_threshold_in_fuse_mode_drops(verifier, separating_threshold):
    compressor = StructuralVerifierCompressor(
        verifier=verifier, top_n=None, return_rejected=True, score_threshold=separating_threshold
    )
    assert compressor.mode == "fuse"
    out = compressor.compress_documents(dog_docs(), QUERY)
    assert [(d.page_content, d.metadata["verimap_rejected"], d.metadata["verifier_accepted"]) for d in out] == [
        (TRUE_MATCH, False, True),
        (NEAR_MISS, True, False),
    ]
    dropped = StructuralVerifierCompressor(verifier=verifier, top_n=None, score_threshold=separating_threshold)
    assert [d.page_content for d in dropped.compress_documents(dog_docs(), QUERY)] == [TRUE_MATCH]


@pytest.mark.parametrize("mode", ["fuse", "rerank", "filter"])
@pytest.mark.parametrize("explicit", [False, True])
def test_verifier_accepted_is_the_score_against_the_threshold(verifier, corpus, separating_threshold, mode, explicit):
    threshold = separating_threshold if explicit else None
    compressor = StructuralVerifierCompressor(
        verifier=verifier, mode=mode, top_n=None, score_threshold=threshold, return_rejected=True
    )
    out = compressor.compress_documents(corpus, QUERY)
    assert len(out) == len(corpus)  # kept + rejected: every document once
    in_force = verifier.threshold if threshold is None else threshold
    ranking = verifier.rank(QUERY, [d.page_content for d in corpus], None, threshold, mode=mode)
    assert [d.metadata["verifier_accepted"] for d in out] == [r.accepted for r in ranking.kept + ranking.rejected]
    for doc in out:
        assert isinstance(doc.metadata["verifier_accepted"], bool)
        assert doc.metadata["verifier_accepted"] == (doc.metadata["verifier_score"] >= in_force)
        if doc.metadata["verimap_rejected"]:
            assert doc.metadata["verifier_accepted"] is False


def test_order_and_split_match_the_core(verifier, corpus):
    texts = [d.page_content for d in corpus]
    scores = sorted(verifier.score(QUERY, texts))
    threshold = (scores[2] + scores[3]) / 2  # a threshold between two real scores: a split whatever the weights
    for mode in ("rerank", "filter", "fuse"):
        compressor = StructuralVerifierCompressor(
            verifier=verifier, mode=mode, score_threshold=threshold, top_n=2, return_rejected=True
        )
        out = compressor.compress_documents(corpus, QUERY)
        ranking = verifier.rank(QUERY, texts, 2, threshold, mode=mode)
        kept, rejected = ranking.kept, ranking.rejected
        assert [d.id for d in out] == [corpus[r.index].id for r in kept + rejected]
        assert [d.metadata["relevance_score"] for d in out] == pytest.approx([r.score for r in kept + rejected])
        assert [d.metadata["verimap_rejected"] for d in out] == [False] * len(kept) + [True] * len(rejected)
        assert [d.metadata["verifier_accepted"] for d in out] == [True] * len(kept) + [False] * len(rejected)
        assert len(kept) == 2 and len(rejected) == 3  # top_n cuts the kept only; cut docs are not "rejected"


def test_fuse_prior_retriever_uses_and_preserves_the_incoming_score(verifier):
    docs = [
        Document(page_content=NEAR_MISS, id="a", metadata={"relevance_score": 0.9}),
        Document(page_content=TRUE_MATCH, id="b", metadata={"relevance_score": 0.2}),
        Document(page_content="Cats purr.", id="c", metadata={"relevance_score": 0.5}),
    ]
    compressor = StructuralVerifierCompressor(
        verifier=verifier, fuse_prior="retriever", score_threshold=0.0, top_n=None
    )
    out = compressor.compress_documents(docs, QUERY)
    kept = verifier.rank(
        QUERY, [d.page_content for d in docs], threshold=0.0, mode="fuse", prior_scores=[0.9, 0.2, 0.5]
    )
    assert [d.id for d in out] == [docs[r.index].id for r in kept]
    assert [d.metadata["relevance_score"] for d in out] == pytest.approx([r.score for r in kept])
    assert {d.id: d.metadata["retriever_score"] for d in out} == {"a": 0.9, "b": 0.2, "c": 0.5}
    # "score" is read when "relevance_score" is absent
    alt = [d.model_copy(update={"metadata": {"score": d.metadata["relevance_score"]}}) for d in docs]
    out_alt = compressor.compress_documents(alt, QUERY)
    assert [d.id for d in out_alt] == [d.id for d in out]
    assert {d.id: d.metadata["retriever_score"] for d in out_alt} == {"a": 0.9, "b": 0.2, "c": 0.5}


def test_fuse_prior_retriever_orders_differently_from_maxsim(verifier):
    # The near-miss arrives with a much higher score than the true match: the retriever prior follows it,
    # the MaxSim prior (the default) ignores it. Both orders are exactly the core's.
    docs = [
        Document(page_content=TRUE_MATCH, id="true-match", metadata={"relevance_score": 0.0}),
        Document(page_content=NEAR_MISS, id="near-miss", metadata={"relevance_score": 1.0}),
        Document(page_content="Dogs bark at strangers.", id="bark", metadata={"relevance_score": 0.5}),
    ]
    texts = [d.page_content for d in docs]
    by_prior = {}
    for fuse_prior in ("maxsim", "retriever"):
        compressor = StructuralVerifierCompressor(verifier=verifier, fuse_prior=fuse_prior, top_n=None)
        by_prior[fuse_prior] = [d.id for d in compressor.compress_documents(docs, QUERY)]
        assert all("verifier_accepted" in d.metadata for d in compressor.compress_documents(docs, QUERY))
    maxsim = verifier.rank(QUERY, texts, mode="fuse")
    retriever = verifier.rank(QUERY, texts, mode="fuse", prior_scores=[0.0, 1.0, 0.5])
    assert by_prior["maxsim"] == [docs[r.index].id for r in maxsim]
    assert by_prior["retriever"] == [docs[r.index].id for r in retriever]
    assert by_prior["maxsim"] != by_prior["retriever"]
    assert by_prior["maxsim"][0] == "true-match" and by_prior["retriever"][0] == "near-miss"


@pytest.mark.parametrize("fuse_prior", ["maxsim", "retriever"])
def test_fuse_without_incoming_scores_uses_the_core_default(verifier, corpus, fuse_prior):
    corpus[0].metadata["score"] = 0.7  # one document with a score is not enough: the core fuses with MaxSim
    compressor = StructuralVerifierCompressor(verifier=verifier, fuse_prior=fuse_prior, score_threshold=0.0, top_n=None)
    out = compressor.compress_documents(corpus, QUERY)
    kept = verifier.rank(QUERY, [d.page_content for d in corpus], threshold=0.0, mode="fuse")
    assert [d.id for d in out] == [corpus[r.index].id for r in kept]
    assert [d.metadata["relevance_score"] for d in out] == pytest.approx([r.score for r in kept])


def test_fuse_prior_is_checked_and_ignored_outside_fuse(verifier, corpus):
    with pytest.raises(ValidationError, match="fuse_prior"):
        StructuralVerifierCompressor(verifier=verifier, fuse_prior="bm25")
    for doc in corpus:
        doc.metadata["score"] = 0.5
    for mode in ("rerank", "filter"):
        outs = [
            StructuralVerifierCompressor(
                verifier=verifier, mode=mode, fuse_prior=p, score_threshold=0.0, top_n=None
            ).compress_documents(corpus, QUERY)
            for p in ("maxsim", "retriever")
        ]
        assert outs[0] == outs[1]


@pytest.mark.parametrize("fuse_prior", ["maxsim", "retriever"])
def test_inputs_are_not_mutated(verifier, corpus, fuse_prior):
    for doc in corpus:
        doc.metadata["relevance_score"] = 0.5
    before = copy.deepcopy(corpus)
    metadata_dicts = [d.metadata for d in corpus]
    compressor = StructuralVerifierCompressor(verifier=verifier, fuse_prior=fuse_prior, return_rejected=True)
    out = compressor.compress_documents(corpus, QUERY)
    assert len(out) == 3 and {d.id for d in out} <= {d.id for d in before}  # ids kept; the default top_n=3
    assert corpus == before
    assert all(d.metadata is m for d, m in zip(corpus, metadata_dicts))
    assert not any(o.metadata is m for o in out for m in metadata_dicts)
    assert not any(o is d for o in out for d in corpus)


async def test_async_equals_sync(verifier, corpus):
    corpus[0].metadata["score"] = 0.7
    for mode, fuse_prior, threshold in [
        ("rerank", "maxsim", 0.0),
        ("filter", "maxsim", 0.0),
        ("fuse", "maxsim", None),
        ("fuse", "maxsim", 0.0),
        ("fuse", "retriever", None),
    ]:
        compressor = StructuralVerifierCompressor(
            verifier=verifier,
            mode=mode,
            fuse_prior=fuse_prior,
            score_threshold=threshold,
            top_n=4,
            return_rejected=True,
        )
        sync = compressor.compress_documents(corpus, QUERY)
        asynchronous = await compressor.acompress_documents(corpus, QUERY)
        assert [(d.id, d.metadata) for d in asynchronous] == [(d.id, d.metadata) for d in sync]


async def test_empty_input_returns_empty(keep_all):
    assert keep_all.compress_documents([], QUERY) == []
    assert await keep_all.acompress_documents([], QUERY) == []


def test_empty_page_content_scores_zero_and_is_rejected(verifier):
    docs = [Document(page_content="", id="empty"), Document(page_content=TRUE_MATCH, id="match")]
    compressor = StructuralVerifierCompressor(verifier=verifier, mode="rerank", top_n=None, return_rejected=True)
    out = {d.id: d for d in compressor.compress_documents(docs, QUERY)}
    assert out["empty"].metadata["verifier_score"] == 0.0
    assert out["empty"].metadata["verimap_rejected"] is True
    assert out["empty"].metadata["verifier_accepted"] is False
    assert verifier.threshold > 0.0
    # the default fuse mode keeps it (last), still reporting the verdict
    fused = StructuralVerifierCompressor(verifier=verifier, top_n=None, return_rejected=True)
    out = fused.compress_documents(docs, QUERY)
    assert [d.id for d in out] == ["match", "empty"]
    assert out[1].metadata["verimap_rejected"] is False and out[1].metadata["verifier_accepted"] is False


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
        base_compressor=StructuralVerifierCompressor(
            verifier=verifier, top_n=None, score_threshold=separating_threshold
        ),
        base_retriever=chroma_retriever,
    )
    for out in (retriever.invoke(QUERY), await retriever.ainvoke(QUERY)):
        texts = [d.page_content for d in out]
        assert TRUE_MATCH in texts
        assert NEAR_MISS not in texts


def test_the_compressor_goes_through_the_shared_token_cache(encoder):
    from verimap.cache import cache_key
    from verimap.shared import shared_token_encoder

    texts = [f"{t} (compressor cache check)" for t in (TRUE_MATCH, NEAR_MISS)]
    reader = shared_token_encoder()  # the shipped verifier's view of the shared encoder (its tower's vectors)
    assert reader.cache is encoder.cache
    keys = [cache_key(reader.encoder_id, reader.max_length, t) for t in texts]
    encoder.cache.clear()
    StructuralVerifierCompressor().compress_documents([Document(page_content=t) for t in texts], QUERY)
    assert all(e is not None for e in encoder.cache.get_many(keys))
