"""VerifiedRetriever over InMemoryDocumentStore and real Chroma (tmp dir), real model."""

from __future__ import annotations

import pytest
from haystack import Pipeline
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack_integrations.components.retrievers.chroma import ChromaEmbeddingRetriever

from haystack_integrations.components.retrievers.verimap import VerifiedRetriever


@pytest.fixture(scope="module")
def memory_retriever(memory_store):
    retriever = VerifiedRetriever(retriever=InMemoryEmbeddingRetriever(document_store=memory_store), recall_k=5, top_k=3)
    retriever.warm_up()
    return retriever


@pytest.fixture(scope="module")
def chroma_retriever(chroma_store):
    retriever = VerifiedRetriever(
        retriever=ChromaEmbeddingRetriever(document_store=chroma_store), recall_k=5, top_k=3,
        retriever_score_type="distance",
    )
    retriever.warm_up()
    return retriever


@pytest.fixture(params=["memory", "chroma"])
def verified(request, memory_retriever, chroma_retriever):
    return {"memory": memory_retriever, "chroma": chroma_retriever}[request.param]


def test_recall_then_verify(verified, ranker, corpus):
    query = "Did the dog bite the man?"
    out = verified.run(query=query, score_threshold=0.0, top_k=10)
    assert len(out["documents"]) == 5 and out["rejected"] == []  # recall_k candidates, all accepted at 0.0
    assert {d.content for d in out["documents"]} <= set(corpus)
    assert {"The dog bit the man.", "The man bit the dog."} <= {d.content for d in out["documents"]}
    scores = [d.score for d in out["documents"]]
    assert scores == sorted(scores, reverse=True)
    assert all("retriever_score" in d.meta for d in out["documents"])
    # same verdicts as the standalone ranker on the same candidates
    again = ranker.run(query=query, documents=out["documents"], score_threshold=0.0)
    assert [d.content for d in again["documents"]] == [d.content for d in out["documents"]]


def test_recall_k_and_top_k_per_call(verified):
    out = verified.run(query="Who sold the car to Alice?", recall_k=2, score_threshold=0.0)
    assert len(out["documents"]) == 2
    out = verified.run(query="Who sold the car to Alice?", top_k=1, score_threshold=0.0)
    assert len(out["documents"]) == 1


def test_match_first_near_miss_rejected(verified, near_miss_case, separating_threshold):
    query, match, miss = near_miss_case
    out = verified.run(query=query, score_threshold=separating_threshold)
    assert [d.content for d in out["documents"]][:1] == [match]
    assert miss in [d.content for d in out["rejected"]]


async def test_run_async_equals_run(verified):
    for kwargs in ({}, {"score_threshold": 0.0, "top_k": 2}):
        assert await verified.run_async(query="Did the cat chase the mouse?", **kwargs) == verified.run(
            query="Did the cat chase the mouse?", **kwargs
        )


def test_fuse_with_chroma_distances(chroma_store, verifier):
    retriever = VerifiedRetriever(
        retriever=ChromaEmbeddingRetriever(document_store=chroma_store), recall_k=4, top_k=None,
        score_threshold=0.0, mode="fuse", retriever_score_type="distance",
    )
    query = "Did the dog bite the man?"
    out = retriever.run(query=query)
    texts = [d.content for d in out["documents"]]
    distances = [d.meta["retriever_score"] for d in out["documents"]]
    expected = verifier.rank(query, texts, None, 0.0, mode="fuse", prior_scores=[-x for x in distances])
    assert [texts[r.index] for r in expected] == texts


@pytest.mark.parametrize("which", ["memory", "chroma"])
def test_serialises_wrapped_retriever(which, memory_store, chroma_store):
    inner = (
        InMemoryEmbeddingRetriever(document_store=memory_store, top_k=7)
        if which == "memory"
        else ChromaEmbeddingRetriever(document_store=chroma_store, top_k=7)
    )
    component = VerifiedRetriever(retriever=inner, recall_k=9, top_k=2, score_threshold=0.4, mode="filter")
    data = component.to_dict()
    assert data["init_parameters"]["retriever"]["type"] == (
        f"{type(inner).__module__}.{type(inner).__name__}"
    )
    restored = VerifiedRetriever.from_dict(data)
    assert type(restored.retriever) is type(inner)
    assert restored.to_dict() == data
    pipe = Pipeline()
    pipe.add_component("retriever", component)
    text = pipe.dumps()
    loaded = Pipeline.loads(text)  # no allowlist argument
    assert loaded.dumps() == text
    out = loaded.get_component("retriever").run(query="Did the dog bite the man?", score_threshold=0.0)
    assert len(out["documents"]) == 2  # the reloaded wrapped retriever reaches the same data


def test_bad_arguments(memory_store):
    with pytest.raises(TypeError):
        VerifiedRetriever(retriever=object())
    with pytest.raises(ValueError):
        VerifiedRetriever(retriever=InMemoryEmbeddingRetriever(document_store=memory_store), recall_k=0)
