"""Session fixtures for the Haystack integration: real components, the real model, real Chroma in a tmp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from haystack import Document  # noqa: E402

from verimap.testing import encoder, verifier  # noqa: E402, F401  (session fixtures: the real encoder and verifier)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"  # the checkout's examples/ (haystack_*.yaml)

# (query, true match, structural near-miss): the near-miss shares every word with the match.
NEAR_MISS_CASES = [
    ("Did the dog bite the man?", "The dog bit the man.", "The man bit the dog."),
    ("Who sold the car to Alice?", "Bob sold the car to Alice.", "Alice sold the car to Bob."),
    ("Did the cat chase the mouse?", "The cat chased the mouse.", "The mouse chased the cat."),
]
DISTRACTORS = [
    "Paris is the capital of France.",
    "The committee approved the budget after a long debate.",
    "Water boils at one hundred degrees Celsius at sea level.",
]
CORPUS = [text for _, match, miss in NEAR_MISS_CASES for text in (match, miss)] + DISTRACTORS


@pytest.fixture(scope="session")
def ranker():
    """A ranker with the default policy (``fuse`` with MaxSim, nothing dropped without an explicit threshold)."""
    from haystack_integrations.components.rankers.verimap import StructuralVerifierRanker

    component = StructuralVerifierRanker(top_k=None)
    component.warm_up()
    return component


@pytest.fixture(scope="session")
def rerank_ranker():
    """A ranker in ``rerank`` mode: ordered by the verifier alone, dropping under the card's threshold by default."""
    from haystack_integrations.components.rankers.verimap import StructuralVerifierRanker

    component = StructuralVerifierRanker(top_k=None, mode="rerank")
    component.warm_up()
    return component


@pytest.fixture(scope="session")
def embedded_corpus() -> list[Document]:
    """The corpus embedded once by VerimapDocumentEmbedder (the vectors every store below holds)."""
    from haystack_integrations.components.embedders.verimap import VerimapDocumentEmbedder

    embedder = VerimapDocumentEmbedder(progress_bar=False)
    embedder.warm_up()
    return embedder.run(documents=[Document(content=t) for t in CORPUS])["documents"]


@pytest.fixture(scope="session")
def chroma_path(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("chroma"))


@pytest.fixture(scope="session")
def chroma_store(chroma_path, embedded_corpus):
    from haystack_integrations.document_stores.chroma import ChromaDocumentStore

    store = ChromaDocumentStore(
        collection_name="verimap_tests",
        persist_path=chroma_path,
        distance_function="cosine",
        client_settings={"anonymized_telemetry": False},
    )
    store.write_documents(embedded_corpus)
    return store


@pytest.fixture(scope="session")
def memory_store(embedded_corpus):
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    store = InMemoryDocumentStore()
    store.write_documents(embedded_corpus)
    return store


@pytest.fixture(scope="session")
def example_yaml():
    """The example pipelines' YAML (examples/haystack_*.yaml) with the Chroma path filled in, as
    examples/haystack_pipeline.py does it."""

    def load(name: str, chroma_path: str) -> str:
        return (EXAMPLES / name).read_text().replace("@CHROMA_PATH@", chroma_path)

    return load


@pytest.fixture()
def separating_threshold(verifier, near_miss_case):
    """A threshold halfway between the core verifier's scores for the case's match and near-miss.

    These tests check the adapter's plumbing (ordering, ``rejected``, the per-call threshold) on the real model.
    Whether the shipped weights' *default* threshold rejects textbook near-misses is the core's claim, tested in
    tests/test_verifier.py and measured in docs/benchmarks.md.
    """
    query, match, miss = near_miss_case
    good, bad = verifier.score(query, [match, miss])
    assert good > bad, f"the shipped verifier ranks the near-miss above the match for {query!r}"
    return (good + bad) / 2


def pytest_generate_tests(metafunc):
    """Tests taking ``near_miss_case`` run once per hand-written (query, match, near-miss) case."""
    if "near_miss_case" in metafunc.fixturenames:
        metafunc.parametrize("near_miss_case", NEAR_MISS_CASES, ids=[q for q, _, _ in NEAR_MISS_CASES])


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return list(CORPUS)
