"""Clients nobody here wrote, pointed at a real ``verimap serve`` on loopback: the ``cohere`` SDK (``ClientV2`` and
the v1 ``Client``), ``cohere-haystack``'s ``CohereRanker`` in a Haystack pipeline, ``langchain-cohere``'s
``CohereRerank`` in a ``ContextualCompressionRetriever``. Each gives exactly what the in-process
:meth:`verimap.Verifier.rank` gives on the same inputs: the same documents, in the same order, with the same scores."""

from __future__ import annotations

import pytest

cohere = pytest.importorskip("cohere")

QUERY = "Did the dog bite the man?"
DOCS = [
    "The man bit the dog.",
    "The dog bit the man.",
    "Dogs are loyal pets.",
    "A dog bit a man near the harbour.",
    "The mailman was bitten by a dog.",
    "Flights from Paris to Rome leave every two hours.",
]


def ranked(verifier, query, docs, top_k=None):
    return [(r.index, r.score) for r in verifier.rank(query, docs, top_k)]


def test_cohere_client_v2(base_url, verifier):
    client = cohere.ClientV2(api_key="unused", base_url=base_url)  # the SDK needs a key string even when we have none
    got = client.rerank(model="verimap", query=QUERY, documents=DOCS)
    assert [(r.index, r.relevance_score) for r in got.results] == ranked(verifier, QUERY, DOCS)
    want = verifier.rank(QUERY, DOCS)
    assert [r.verifier_score for r in got.results] == [r.verifier_score for r in want]  # verimap's fields ride along
    assert [r.verifier_accepted for r in got.results] == [r.accepted for r in want]
    top = client.rerank(model="verimap", query=QUERY, documents=DOCS, top_n=2)
    assert [(r.index, r.relevance_score) for r in top.results] == ranked(verifier, QUERY, DOCS, 2)


async def test_cohere_async_client_v2(base_url, verifier):
    client = cohere.AsyncClientV2(api_key="unused", base_url=base_url)
    got = await client.rerank(model="verimap", query=QUERY, documents=DOCS, top_n=3)
    assert [(r.index, r.relevance_score) for r in got.results] == ranked(verifier, QUERY, DOCS, 3)


def test_cohere_client_v1_with_objects_and_returned_documents(base_url, verifier):
    client = cohere.Client(api_key="unused", base_url=base_url)
    objects = [{"title": f"t{i}", "text": d} for i, d in enumerate(DOCS)]
    got = client.rerank(model="verimap", query=QUERY, documents=objects, return_documents=True)
    assert [(r.index, r.relevance_score) for r in got.results] == ranked(verifier, QUERY, DOCS)
    assert [r.document.text for r in got.results] == [DOCS[r.index] for r in got.results]
    # rank_fields: what is ranked is those fields, joined by newlines in that order.
    fields = client.rerank(model="verimap", query=QUERY, documents=objects, rank_fields=["title", "text"], top_n=2)
    texts = [f"t{i}\n{d}" for i, d in enumerate(DOCS)]
    assert [(r.index, r.relevance_score) for r in fields.results] == ranked(verifier, QUERY, texts, 2)


def test_cohere_ranker_in_a_haystack_pipeline(base_url, verifier):
    pytest.importorskip("haystack_integrations.components.rankers.cohere")
    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.utils import Secret

    from haystack_integrations.components.rankers.cohere import CohereRanker

    store = InMemoryDocumentStore()
    store.write_documents([Document(content=d, meta={"n": i}) for i, d in enumerate(DOCS)])
    pipeline = Pipeline()
    pipeline.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=5))
    pipeline.add_component(
        "ranker", CohereRanker(model="verimap", api_key=Secret.from_token("unused"), api_base_url=base_url, top_k=3)
    )
    pipeline.connect("retriever.documents", "ranker.documents")
    out = pipeline.run({"retriever": {"query": QUERY}, "ranker": {"query": QUERY}})["ranker"]["documents"]

    recalled = InMemoryBM25Retriever(document_store=store, top_k=5).run(query=QUERY)["documents"]
    want = ranked(verifier, QUERY, [d.content for d in recalled], 3)
    assert [(d.id, d.score) for d in out] == [(recalled[i].id, s) for i, s in want]
    assert all(d.meta == recalled[i].meta for d, (i, _) in zip(out, want))


def test_cohere_rerank_in_a_langchain_compression_retriever(base_url, verifier):
    pytest.importorskip("langchain_cohere")
    pytest.importorskip("langchain_classic")
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_cohere import CohereRerank
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    class Fixed(BaseRetriever):
        """Recall stand-in: the same documents for any query (what is under test is the compressor's service)."""

        docs: list[Document]

        def _get_relevant_documents(self, query, *, run_manager):
            return [d.model_copy(deep=True) for d in self.docs]

    docs = [Document(page_content=d, metadata={"n": i}) for i, d in enumerate(DOCS)]
    rerank = CohereRerank(model="verimap", cohere_api_key="unused", base_url=base_url, top_n=4)
    retriever = ContextualCompressionRetriever(base_compressor=rerank, base_retriever=Fixed(docs=docs))
    out = retriever.invoke(QUERY)
    want = ranked(verifier, QUERY, DOCS, 4)
    assert [(d.page_content, d.metadata["relevance_score"]) for d in out] == [(DOCS[i], s) for i, s in want]
    assert [d.metadata["n"] for d in out] == [i for i, _ in want]
    assert [d.metadata for d in docs] == [{"n": i} for i in range(len(DOCS))]  # inputs untouched


def test_the_sdk_with_the_key_and_without(keyed_url, api_key, verifier):
    good = cohere.ClientV2(api_key=api_key, base_url=keyed_url).rerank(model="verimap", query=QUERY, documents=DOCS)
    assert [(r.index, r.relevance_score) for r in good.results] == ranked(verifier, QUERY, DOCS)
    with pytest.raises(cohere.errors.UnauthorizedError):
        cohere.ClientV2(api_key="wrong", base_url=keyed_url).rerank(model="verimap", query=QUERY, documents=DOCS)
