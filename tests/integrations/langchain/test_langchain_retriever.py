"""VerifiedRetriever over a real persistent Chroma store, real encoder and shipped weights (no mocks)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from pydantic import ValidationError

from langchain_verimap import VerifiedRetriever

QUERY = "Did the dog bite the man?"
TRUE_MATCH = "The dog bit the man."
NEAR_MISS = "The man bit the dog."


class RunRecorder(BaseCallbackHandler):
    """Records retriever runs: (name, run_id, parent_run_id)."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, UUID, UUID | None]] = []

    def on_retriever_start(self, serialized: dict[str, Any], query: str, *, run_id: UUID,
                           parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name") or (serialized or {}).get("id", ["?"])[-1]
        self.runs.append((name, run_id, parent_run_id))


@pytest.fixture(scope="module")
def keep_all(chroma_retriever, verifier):
    return VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, score_threshold=0.0, k=None)


# -- judgment (depends on trained weights) -----------------------------------------------------------------------
async def test_threshold_rejects_the_near_miss(chroma_retriever, verifier, separating_threshold):
    retriever = VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, k=3,
                                  score_threshold=separating_threshold)
    for out in (retriever.invoke(QUERY), await retriever.ainvoke(QUERY)):
        texts = [d.page_content for d in out]
        assert texts[:1] == [TRUE_MATCH]
        assert NEAR_MISS not in texts


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
    for doc in keep_all.invoke(QUERY, k=4):
        assert doc.page_content == by_id[doc.id].page_content
        assert {k: v for k, v in doc.metadata.items() if k not in {"relevance_score", "verimap_score"}} == by_id[doc.id].metadata
        assert 0.0 <= doc.metadata["relevance_score"] <= 1.0


async def test_async_equals_sync(chroma_retriever, verifier):
    for mode in ("rerank", "filter", "fuse"):
        retriever = VerifiedRetriever(base_retriever=chroma_retriever, verifier=verifier, score_threshold=0.0, mode=mode)
        for k in (None, 2):
            sync = retriever.invoke(QUERY, k=k) if k else retriever.invoke(QUERY)
            asynchronous = await (retriever.ainvoke(QUERY, k=k) if k else retriever.ainvoke(QUERY))
            assert [(d.id, d.metadata) for d in asynchronous] == [(d.id, d.metadata) for d in sync]


async def test_other_kwargs_reach_the_wrapped_retriever(keep_all):
    for out in (keep_all.invoke(QUERY, filter={"topic": "cats"}), await keep_all.ainvoke(QUERY, filter={"topic": "cats"})):
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
    with pytest.raises(ValueError, match="top_k"):
        alias.invoke(QUERY, k=-1)
