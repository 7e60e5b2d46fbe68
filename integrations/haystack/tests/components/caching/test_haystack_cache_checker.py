"""VerifiedCacheChecker over InMemoryDocumentStore and real Chroma (tmp dir), real model.

Plumbing tests use entries whose verdict no model gets wrong (the cached question in other letter case, which the
uncased encoder reads as the same tokens, vs an unrelated question) at a threshold halfway between the two.
"""

from __future__ import annotations

import dataclasses

import pytest
from haystack import Document
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.document_stores.in_memory import InMemoryDocumentStore

from haystack_integrations.components.caching.verimap import VerifiedCacheChecker
from haystack_integrations.components.embedders.verimap import VerimapDocumentEmbedder
from haystack_integrations.components.retrievers.chroma import ChromaEmbeddingRetriever
from haystack_integrations.document_stores.chroma import ChromaDocumentStore
from verimap.guard import CacheGuard

CACHED = "How do I switch on dark mode in the mail app?"
SAME_WORDS = "how do I Switch On dark mode in the Mail app?"
UNRELATED = "What is the capital of France?"
ENTRIES = [
    Document(id="dark", content=CACHED, meta={"answer": "Settings > Appearance > Dark."}),
    Document(id="paris", content=UNRELATED, meta={"answer": "Paris."}),
]


@pytest.fixture(scope="module")
def plumbing_threshold(verifier) -> float:
    same, other = CacheGuard(verifier).check_many(CACHED, [SAME_WORDS, UNRELATED])
    assert same.score > other.score
    return (same.score + other.score) / 2


@pytest.fixture(scope="module")
def embedded_entries() -> list[Document]:
    embedder = VerimapDocumentEmbedder(progress_bar=False)
    embedder.warm_up()
    return embedder.run(documents=[dataclasses.replace(d) for d in ENTRIES])["documents"]


@pytest.fixture(scope="module")
def memory_retriever(embedded_entries):
    store = InMemoryDocumentStore()
    store.write_documents(embedded_entries)
    return InMemoryEmbeddingRetriever(document_store=store)


@pytest.fixture(scope="module")
def chroma_retriever(tmp_path_factory, embedded_entries):
    store = ChromaDocumentStore(
        collection_name="verimap_cache_tests",
        persist_path=str(tmp_path_factory.mktemp("chroma-cache")),
        distance_function="cosine",
        client_settings={"anonymized_telemetry": False},
    )
    store.write_documents(embedded_entries)
    return ChromaEmbeddingRetriever(document_store=store)


@pytest.fixture(params=["memory", "chroma"])
def checker(request, memory_retriever, chroma_retriever, plumbing_threshold):
    retriever = {"memory": memory_retriever, "chroma": chroma_retriever}[request.param]
    component = VerifiedCacheChecker(retriever=retriever, threshold=plumbing_threshold)
    component.warm_up()
    return component


def test_verified_entries_are_hits_and_the_rest_misses(checker, verifier, plumbing_threshold):
    result = checker.run(query=SAME_WORDS)
    assert [d.id for d in result["hits"]] == ["dark"]
    assert [d.id for d in result["misses"]] == ["paris"]
    guard = CacheGuard(verifier, threshold=plumbing_threshold)
    for doc in result["hits"] + result["misses"]:
        verdict = guard.check(SAME_WORDS, doc.content)
        assert doc.score == pytest.approx(verdict.score, abs=1e-6)
        assert doc.meta["guard_score"] == doc.score and doc.meta["guard_hit"] is verdict.hit
        assert doc.meta["guard_reason"] == verdict.reason and isinstance(doc.meta["retriever_score"], float)
        assert doc.meta["answer"] == next(e.meta["answer"] for e in ENTRIES if e.id == doc.id)
    assert result["hits"][0].meta["guard_reason"] is None


def test_top_k_and_threshold_per_call(checker):
    one = checker.run(query=SAME_WORDS, top_k=1)
    assert len(one["hits"]) + len(one["misses"]) == 1
    strict = checker.run(query=CACHED.rstrip("?"), threshold=1.0)  # not the same text: under 1.0
    assert strict["hits"] == [] and [d.id for d in strict["misses"]] == ["dark", "paris"]
    assert checker.run(query=CACHED, threshold=1.0)["hits"][0].score == 1.0  # the same question


async def test_run_async_equals_run(checker):
    sync, concurrent = checker.run(query=SAME_WORDS), await checker.run_async(query=SAME_WORDS)
    assert [(d.id, d.score) for d in concurrent["hits"]] == [(d.id, d.score) for d in sync["hits"]]
    assert [(d.id, d.score) for d in concurrent["misses"]] == [(d.id, d.score) for d in sync["misses"]]


def test_the_inputs_are_not_modified(memory_retriever, plumbing_threshold):
    before = [dataclasses.replace(d) for d in memory_retriever.document_store.filter_documents()]
    VerifiedCacheChecker(retriever=memory_retriever, threshold=plumbing_threshold).run(query=SAME_WORDS)
    after = memory_retriever.document_store.filter_documents()
    assert sorted((d.id, d.meta, d.score) for d in after) == sorted((d.id, d.meta, d.score) for d in before)


def test_the_question_may_live_in_a_meta_field(embedded_entries, plumbing_threshold):
    store = InMemoryDocumentStore()
    store.write_documents(
        [dataclasses.replace(d, content=d.meta["answer"], meta={**d.meta, "q": d.content}) for d in embedded_entries]
    )
    checker = VerifiedCacheChecker(
        retriever=InMemoryEmbeddingRetriever(document_store=store), question_field="q", threshold=plumbing_threshold
    )
    assert [d.id for d in checker.run(query=SAME_WORDS)["hits"]] == ["dark"]
    missing = VerifiedCacheChecker(retriever=InMemoryEmbeddingRetriever(document_store=store), question_field="none")
    result = missing.run(query=SAME_WORDS)
    assert result["hits"] == [] and {d.meta["guard_reason"] for d in result["misses"]} == {"empty"}


def test_bad_input(memory_retriever):
    checker = VerifiedCacheChecker(retriever=memory_retriever)
    for empty in ["", "  \n", "\u200b"]:
        assert checker.run(query=empty) == {"hits": [], "misses": []}
    with pytest.raises(TypeError, match="query must be a string, got NoneType"):
        checker.run(query=None)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        checker.run(query=CACHED, threshold=2.0)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        VerifiedCacheChecker(retriever=memory_retriever, threshold=-1)
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        VerifiedCacheChecker(retriever=memory_retriever, top_k=0)
    with pytest.raises(TypeError, match="must be a Haystack embedding retriever"):
        VerifiedCacheChecker(retriever="memory")


def test_default_threshold_is_the_guards(memory_retriever, verifier):
    assert VerifiedCacheChecker(retriever=memory_retriever).guard.threshold == CacheGuard(verifier).threshold


@pytest.mark.parametrize("which", ["memory", "chroma"])
def test_to_dict_round_trip(which, memory_retriever, chroma_retriever):
    retriever = {"memory": memory_retriever, "chroma": chroma_retriever}[which]
    checker = VerifiedCacheChecker(retriever=retriever, question_field="q", top_k=3, threshold=0.4, batch_size=8)
    data = checker.to_dict()
    assert data["type"] == "haystack_integrations.components.caching.verimap.cache_checker.VerifiedCacheChecker"
    assert {k: v for k, v in data["init_parameters"].items() if k != "retriever"} == {
        "question_field": "q",
        "top_k": 3,
        "threshold": 0.4,
        "weights": None,
        "device": None,
        "batch_size": 8,
    }
    again = VerifiedCacheChecker.from_dict(data)
    assert again.to_dict() == data and type(again.retriever) is type(retriever)
