"""Session fixtures for the Haystack integration: real components, the real model, real Chroma in a tmp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

# Tiny batches on a shared 2-core machine: torch's intra-op thread pool spins against the other processes and runs
# ~50x slower than one thread (measured: 1.0 s vs 0.014 s per verifier forward). One thread keeps the suite fast.
torch = pytest.importorskip("torch")
torch.set_num_threads(1)

pytest.importorskip("haystack")
pytest.importorskip("haystack_integrations.document_stores.chroma")

from haystack import Document  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "haystack"

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
    from haystack_integrations.components.rankers.verimap import StructuralVerifierRanker

    component = StructuralVerifierRanker(top_k=None)
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
    """The example pipelines' YAML with the Chroma path filled in, as run_example.py does it."""

    def load(name: str, chroma_path: str) -> str:
        return (EXAMPLES / name).read_text().replace("@CHROMA_PATH@", chroma_path)

    return load


def pytest_generate_tests(metafunc):
    """Tests taking ``near_miss_case`` run once per hand-written (query, match, near-miss) case."""
    if "near_miss_case" in metafunc.fixturenames:
        metafunc.parametrize("near_miss_case", NEAR_MISS_CASES, ids=[q for q, _, _ in NEAR_MISS_CASES])


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return list(CORPUS)
