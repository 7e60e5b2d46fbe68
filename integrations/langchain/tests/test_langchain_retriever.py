"""VerifiedRetriever over a real persistent Chroma store, real encoder and shipped weights (no mocks)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ValidationError

from langchain_verimap import VerifiedRetriever

QUERY = "Did the dog bite the man?"
TRUE_MATCH = "The dog bit the man."
NEAR_MISS = "The man bit the dog."


class RunRecorder(BaseCallbackHandler):
    """Records retriever runs: (name, run_id, parent_run_id)."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, UUID, UUID | None]] = []

    def on_retriever_start(
        self, serialized: dict[str, Any], query: str, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name") or (serialized or {}).get("id", ["?"])[-1]
        self.runs.append((name, run_id, parent_run_id))


class ScoredRetriever(BaseRetriever):
    """Returns fixed documents carrying an incoming ``relevance_score``, as a scoring retriever would."""

    docs: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager, **kwargs: Any) -> list[Document]:
        return [d.model_copy(deep=True) for d in self.docs]


@pytest.fixture(scope="module")
def keep_all(chroma_retriever, verifier):
    return VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, score_threshold=0.0, k=None)


# -- judgment (depends on trained weights) -----------------------------------------------------------------------
async def test_threshold_rejects_the_near_miss(chroma_retriever, verifier, separating_threshold):
    retriever = VerifiedRetriever(
        base_retriever=chroma_retriever, verifier=verifier, k=3, score_threshold=separating_threshold
    )
    for out in (retriever.invoke(QUERY), await retriever.ainvoke(QUERY)):
        texts = [d.page_content for d in out]
        assert texts[:1] == [TRUE_MATCH]
        assert NEAR_MISS not in texts


# -- the default policy: fuse with MaxSim, drop nothing -------------------------------------------------------------
async def test_default_is_fuse_drops_nothing_and_orders_like_the_core(chroma_retriever, verifier, corpus):
    retriever = VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, k=None)
    assert (retriever.mode, retriever.fuse_prior, retriever.score_threshold) == ("fuse", "maxsim", None)
    expected = verifier.rank(QUERY, [d.page_content for d in corpus], mode="fuse")
    for out in (retriever.invoke(QUERY), await retriever.ainvoke(QUERY)):
        assert [d.id for d in out] == [corpus[r.index].id for r in expected]  # every candidate, the core's order
        assert NEAR_MISS in [d.page_content for d in out]
        assert [d.metadata["relevance_score"] for d in out] == pytest.approx([r.score for r in expected], abs=1e-6)
        for doc in out:
            assert doc.metadata["verifier_accepted"] == (doc.metadata["verifier_score"] >= verifier.threshold)
    default_k = VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier)
    assert [d.id for d in default_k.invoke(QUERY)] == [corpus[r.index].id for r in expected[:4]]  # k=4, no drop


def test_fuse_prior_retriever_uses_incoming_scores(verifier):
    docs = [
        Document(page_content=TRUE_MATCH, id="true-match", metadata={"relevance_score": 0.0}),
        Document(page_content=NEAR_MISS, id="near-miss", metadata={"relevance_score": 1.0}),
        Document(page_content="Dogs bark at strangers.", id="bark", metadata={"relevance_score": 0.5}),
    ]
    base = ScoredRetriever(docs=docs)
    texts = [d.page_content for d in docs]
    maxsim = VerifiedRetriever(base_retriever=base, verifier=verifier, k=None).invoke(QUERY)
    scored = VerifiedRetriever(base_retriever=base, verifier=verifier, k=None, fuse_prior="retriever").invoke(QUERY)
    assert [d.id for d in maxsim] == [docs[r.index].id for r in verifier.rank(QUERY, texts, mode="fuse")]
    assert [d.id for d in scored] == [
        docs[r.index].id for r in verifier.rank(QUERY, texts, mode="fuse", prior_scores=[0.0, 1.0, 0.5])
    ]
    assert [d.id for d in maxsim] != [d.id for d in scored] and scored[0].id == "near-miss"
    assert {d.id: d.metadata["retriever_score"] for d in scored} == {"true-match": 0.0, "near-miss": 1.0, "bark": 0.5}


async def test_explicit_threshold_in_fuse_mode_drops(chroma_retriever, verifier, separating_threshold):
    retriever = VerifiedRetriever(
        base_retriever=chroma_retriever, verifier=verifier, k=None, score_threshold=separating_threshold
    )
    for out in (retriever.invoke(QUERY), await retriever.ainvoke(QUERY)):
        assert TRUE_MATCH in [d.page_content for d in out] and NEAR_MISS not in [d.page_content for d in out]
        assert all(d.metadata["verifier_score"] >= separating_threshold for d in out)
        assert all(d.metadata["verifier_accepted"] is True for d in out)


# -- plumbing ------------------------------------------------------------------------------------------------------
def test_k_per_invoke_limits_the_output_not_the_candidates(keep_all, verifier, corpus):
    everything = keep_all.invoke(QUERY)
    assert sorted(d.id for d in everything) == sorted(d.id for d in corpus)  # all candidates were verified
    expected = verifier.rank(QUERY, [d.page_content for d in corpus], threshold=0.0)
    assert [d.id for d in everything] == [corpus[r.index].id for r in expected]
    for k in (1, 3):
        assert [d.id for d in keep_all.invoke(QUERY, k=k)] == [d.id for d in everything[:k]]
    assert keep_all.k is None  # the override is per call only


def test_documents_keep_ids_metadata_and_get_scores(keep_all, corpus):
    by_id = {d.id: d for d in corpus}
    added = {"relevance_score", "verifier_score", "verimap_score", "verifier_accepted"}
    for doc in keep_all.invoke(QUERY, k=4):
        assert doc.page_content == by_id[doc.id].page_content
        assert {k: v for k, v in doc.metadata.items() if k not in added} == by_id[doc.id].metadata
        assert 0.0 <= doc.metadata["relevance_score"] <= 1.0
        assert doc.metadata["verifier_accepted"] is True  # score_threshold=0.0


async def test_async_equals_sync(chroma_retriever, verifier):
    for mode, threshold in (("rerank", 0.0), ("filter", 0.0), ("fuse", 0.0), ("fuse", None)):
        retriever = VerifiedRetriever(
            base_retriever=chroma_retriever, verifier=verifier, score_threshold=threshold, mode=mode
        )
        for k in (None, 2):
            sync = retriever.invoke(QUERY, k=k) if k else retriever.invoke(QUERY)
            asynchronous = await (retriever.ainvoke(QUERY, k=k) if k else retriever.ainvoke(QUERY))
            assert [(d.id, d.metadata) for d in asynchronous] == [(d.id, d.metadata) for d in sync]


async def test_other_kwargs_reach_the_wrapped_retriever(keep_all):
    for out in (
        keep_all.invoke(QUERY, filter={"topic": "cats"}),
        await keep_all.ainvoke(QUERY, filter={"topic": "cats"}),
    ):
        assert [d.id for d in out] == ["cat"]
    assert keep_all.invoke(QUERY, filter={"topic": "no such topic"}) == []
    assert await keep_all.ainvoke(QUERY, filter={"topic": "no such topic"}) == []


async def test_the_wrapped_retriever_runs_as_a_child(keep_all):
    for call in ("invoke", "ainvoke"):
        recorder = RunRecorder()
        result = getattr(keep_all, call)(QUERY, config={"callbacks": [recorder]}, k=2)
        if call == "ainvoke":
            result = await result
        assert len(result) == 2
        assert len(recorder.runs) == 2, recorder.runs
        (outer_name, outer_id, outer_parent), (_, _, inner_parent) = recorder.runs
        assert outer_name == "VerifiedRetriever" and outer_parent is None
        assert inner_parent == outer_id


def test_construction(chroma_retriever, verifier):
    alias = VerifiedRetriever(retriever=chroma_retriever, verifier=verifier, k=2)
    assert alias.base_retriever is chroma_retriever
    with pytest.raises(ValidationError, match="top_k"):
        VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, k=0)
    with pytest.raises(ValidationError):
        VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, top_k=2)
    with pytest.raises(ValidationError, match="fuse_prior"):
        VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, fuse_prior="bm25")
    with pytest.raises(ValueError, match="top_k"):
        alias.invoke(QUERY, k=-1)
