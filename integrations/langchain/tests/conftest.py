"""Real components for the LangChain adapter tests: the session encoder/verifier and a persistent Chroma."""

from __future__ import annotations

import os

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # before chromadb is imported anywhere

import pytest  # noqa: E402
from langchain_core.documents import Document  # noqa: E402

from verimap.testing import encoder, verifier  # noqa: E402, F401  (session fixtures: the real encoder and verifier)

QUERY = "Did the dog bite the man?"
TRUE_MATCH = "The dog bit the man."
NEAR_MISS = "The man bit the dog."

# A small hand-written corpus: the true match, its structural near-miss, and topical / off-topic passages.
CORPUS = [
    Document(page_content=NEAR_MISS, id="near-miss", metadata={"topic": "dogs", "source": "news"}),
    Document(page_content=TRUE_MATCH, id="true-match", metadata={"topic": "dogs", "source": "news"}),
    Document(page_content="A dog chased the postman down the street.", id="postman", metadata={"topic": "dogs"}),
    Document(page_content="Dogs bark at strangers who come near the house.", id="bark", metadata={"topic": "dogs"}),
    Document(page_content="The cat slept on the warm windowsill all afternoon.", id="cat", metadata={"topic": "cats"}),
    Document(
        page_content="Interest rates rose by a quarter point in March.", id="rates", metadata={"topic": "finance"}
    ),
    Document(
        page_content="Photosynthesis turns light into chemical energy.", id="plants", metadata={"topic": "science"}
    ),
]


@pytest.fixture(scope="session")
def separating_threshold(verifier) -> float:
    """A threshold halfway between the core verifier's scores for the true match and the near-miss.

    The near-miss tests check the adapter's plumbing (ordering, dropping, flags, the threshold passed through) on
    the real model. Whether the shipped weights' *default* threshold rejects textbook near-misses is the core's
    claim, tested in tests/test_verifier.py and measured in docs/benchmarks.md.
    """
    good, bad = verifier.score(QUERY, [TRUE_MATCH, NEAR_MISS])
    assert good > bad, "the shipped verifier ranks the near-miss above the true match"
    return (good + bad) / 2


@pytest.fixture
def corpus() -> list[Document]:
    """Fresh copies of the corpus for each test."""
    return [d.model_copy(deep=True) for d in CORPUS]


@pytest.fixture(scope="session")
def lc_embeddings(encoder):
    from langchain_verimap import VerimapEmbeddings

    return VerimapEmbeddings(encoder=encoder)


@pytest.fixture(scope="session")
def chroma_store(tmp_path_factory, lc_embeddings):
    import chromadb
    from langchain_chroma import Chroma

    path = str(tmp_path_factory.mktemp("chroma"))
    store = Chroma(
        collection_name="verimap-langchain-tests",
        embedding_function=lc_embeddings,
        persist_directory=path,
        client_settings=chromadb.config.Settings(
            anonymized_telemetry=False, is_persistent=True, persist_directory=path
        ),
    )
    store.add_documents([d.model_copy(deep=True) for d in CORPUS])
    return store


@pytest.fixture(scope="session")
def chroma_retriever(chroma_store):
    return chroma_store.as_retriever(search_kwargs={"k": 50})
