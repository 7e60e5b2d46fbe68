"""VerifiedRetriever over InMemoryDocumentStore and real Chroma (tmp dir), real model."""

from __future__ import annotations

import pytest
from haystack import Pipeline
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever

from haystack_integrations.components.retrievers.chroma import ChromaEmbeddingRetriever
from haystack_integrations.components.retrievers.verimap import VerifiedRetriever


@pytest.fixture(scope="module")
def memory_retriever(memory_store):
    retriever = VerifiedRetriever(
        retriever=InMemoryEmbeddingRetriever(document_store=memory_store), recall_k=5, top_k=3
    )
    retriever.warm_up()
    return retriever


@pytest.fixture(scope="module")
def chroma_retriever(chroma_store):
    retriever = VerifiedRetriever(
        retriever=ChromaEmbeddingRetriever(document_store=chroma_store),
        recall_k=5,
        top_k=3,
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


@pytest.mark.parametrize("which", ["memory", "chroma"])
def test_default_is_fuse_with_maxsim_and_drops_nothing(which, memory_store, chroma_store, verifier):
    inner = (
        InMemoryEmbeddingRetriever(document_store=memory_store)
        if which == "memory"
        else ChromaEmbeddingRetriever(document_store=chroma_store)
    )
    retriever = VerifiedRetriever(retriever=inner, recall_k=6, top_k=None)
    assert (retriever.mode, retriever.fuse_prior, retriever.score_threshold) == ("fuse", "maxsim", None)
    query = "Did the dog bite the man?"
    out = retriever.run(query=query)
    assert len(out["documents"]) == 6 and out["rejected"] == []  # every candidate kept, whatever its verdict
    texts = [d.content for d in out["documents"]]
    expected = verifier.rank(query, texts, mode="fuse")  # the core's default policy on the same candidates
    assert [texts[r.index] for r in expected] == texts
    verdicts = {texts[r.index]: r.accepted for r in expected}
    assert [d.meta["verifier_accepted"] for d in out["documents"]] == [verdicts[t] for t in texts]
    assert not all(d.meta["verifier_accepted"] for d in out["documents"]), "need a candidate the verifier rejects"
    strict = retriever.run(query=query, score_threshold=0.5)  # an explicit threshold drops, in fuse mode too
    assert strict["rejected"] and all(d.meta["verifier_accepted"] is False for d in strict["rejected"])
    assert all(d.meta["verifier_score"] >= 0.5 for d in strict["documents"])


def test_fuse_with_chroma_distances(chroma_store, verifier):
    retriever = VerifiedRetriever(
        retriever=ChromaEmbeddingRetriever(document_store=chroma_store),
        recall_k=4,
        top_k=None,
        score_threshold=0.0,
        mode="fuse",
        fuse_prior="retriever",
        retriever_score_type="distance",
    )
    query = "Did the dog bite the man?"
    out = retriever.run(query=query)
    texts = [d.content for d in out["documents"]]
    distances = [d.meta["retriever_score"] for d in out["documents"]]
    expected = verifier.rank(query, texts, None, 0.0, mode="fuse", prior_scores=[-x for x in distances])
    assert [texts[r.index] for r in expected] == texts
    maxsim = VerifiedRetriever(
        retriever=ChromaEmbeddingRetriever(document_store=chroma_store),
        recall_k=4,
        top_k=None,
        score_threshold=0.0,
        retriever_score_type="distance",
    ).run(query=query)  # fuse_prior="maxsim": the distances are not read
    texts = [d.content for d in maxsim["documents"]]
    assert [texts[r.index] for r in verifier.rank(query, texts, None, 0.0, mode="fuse")] == texts


@pytest.mark.parametrize("which", ["memory", "chroma"])
def test_serialises_wrapped_retriever(which, memory_store, chroma_store):
    inner = (
        InMemoryEmbeddingRetriever(document_store=memory_store, top_k=7)
        if which == "memory"
        else ChromaEmbeddingRetriever(document_store=chroma_store, top_k=7)
    )
    component = VerifiedRetriever(
        retriever=inner, recall_k=9, top_k=2, score_threshold=0.4, mode="filter", fuse_prior="retriever"
    )
    data = component.to_dict()
    assert data["init_parameters"]["fuse_prior"] == "retriever"
    assert data["init_parameters"]["retriever"]["type"] == (f"{type(inner).__module__}.{type(inner).__name__}")
    restored = VerifiedRetriever.from_dict(data)
    assert type(restored.retriever) is type(inner)
    assert restored.to_dict() == data and restored.fuse_prior == "retriever"
    old = {**data, "init_parameters": {k: v for k, v in data["init_parameters"].items() if k != "fuse_prior"}}
    assert VerifiedRetriever.from_dict(old).fuse_prior == "maxsim"  # saved before fuse_prior existed
    pipe = Pipeline()
    pipe.add_component("retriever", component)
    text = pipe.dumps()
    loaded = Pipeline.loads(text)  # no allowlist argument
    assert loaded.dumps() == text
    assert loaded.get_component("retriever").fuse_prior == "retriever"
    old_yaml = Pipeline.loads(text.replace("      fuse_prior: retriever\n", ""))
    assert old_yaml.get_component("retriever").fuse_prior == "maxsim"
    out = loaded.get_component("retriever").run(query="Did the dog bite the man?", score_threshold=0.0)
    assert len(out["documents"]) == 2  # the reloaded wrapped retriever reaches the same data


def test_bad_arguments(memory_store):
    with pytest.raises(TypeError):
        VerifiedRetriever(retriever=object())
    with pytest.raises(ValueError):
        VerifiedRetriever(retriever=InMemoryEmbeddingRetriever(document_store=memory_store), recall_k=0)
    with pytest.raises(ValueError, match="fuse_prior must be one of 'maxsim', 'retriever', got 'dense'"):
        VerifiedRetriever(retriever=InMemoryEmbeddingRetriever(document_store=memory_store), fuse_prior="dense")
