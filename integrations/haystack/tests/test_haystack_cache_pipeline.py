"""The cache pipeline of examples/haystack_cache.yaml: it loads with ``Pipeline.loads`` untouched, and, with a real
Haystack component standing in for its generator (through Haystack's own ``components=`` reuse), answers from the
cache when the guard verifies the cached question and calls the generator otherwise. The example script itself
(examples/haystack_cache.py) runs in tests/test_examples.py."""

from __future__ import annotations

import pytest
import yaml
from haystack import Document, Pipeline, component
from haystack.dataclasses import ChatMessage
from haystack.document_stores.in_memory import InMemoryDocumentStore

from haystack_integrations.components.caching.verimap import VerifiedCacheChecker
from haystack_integrations.components.embedders.verimap import VerimapDocumentEmbedder
from verimap.guard import CacheGuard
from verimap.testing import SHIPPED_NEAR_MISS_HIT, SHIPPED_PARAPHRASE_MISSED, cache_cases

EXAMPLES_DIR = __import__("pathlib").Path(__file__).resolve().parents[3] / "examples"  # the checkout's
CACHE_INDEX = "verimap_answer_cache"  # the InMemoryDocumentStore index haystack_cache.yaml reads

CACHED = "How do I switch on dark mode in the mail app?"
SAME_WORDS = "how do I Switch On dark mode in the Mail app?"
UNRELATED = "What is the capital of France?"


@component
class CountingChatGenerator:
    """A chat generator stand-in: answers "fresh answer N" and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    @component.output_types(replies=list[ChatMessage])
    def run(self, messages: list[ChatMessage]) -> dict[str, list[ChatMessage]]:
        self.calls += 1
        return {"replies": [ChatMessage.from_assistant(f"fresh answer {self.calls} to: {messages[-1].text}")]}


@pytest.fixture(scope="module")
def cache_yaml() -> str:
    return (EXAMPLES_DIR / "haystack_cache.yaml").read_text()


@pytest.fixture()
def cache_store():
    """The shared index haystack_cache.yaml reads, emptied before each test."""
    store = InMemoryDocumentStore(index=CACHE_INDEX)
    store.delete_documents([d.id for d in store.filter_documents()])
    return store


@pytest.fixture(scope="module")
def embedder():
    component = VerimapDocumentEmbedder(progress_bar=False)
    component.warm_up()
    return component


@pytest.fixture()
def remember(cache_store, embedder):
    def write(question: str, answer: str) -> None:
        doc = Document(content=question, meta={"answer": answer})
        cache_store.write_documents(embedder.run(documents=[doc])["documents"])

    return write


@pytest.fixture()
def generator():
    return CountingChatGenerator()


@pytest.fixture()
def pipeline(cache_yaml, generator, cache_store):
    return Pipeline.from_dict(yaml.safe_load(cache_yaml), components={"llm": generator})


def ask(pipeline: Pipeline, question: str, **checker_args) -> dict:
    return pipeline.run({"cache_checker": {"query": question, **checker_args}, "router": {"query": question}})


def test_cache_yaml_loads_untouched_and_round_trips(cache_yaml, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pipeline = Pipeline.loads(cache_yaml)  # no allowlist argument, no edits
    checker = pipeline.get_component("cache_checker")
    assert isinstance(checker, VerifiedCacheChecker) and checker.retriever.document_store.index == CACHE_INDEX
    written = yaml.safe_load(cache_yaml)["components"]["cache_checker"]["init_parameters"]
    serialised = pipeline.to_dict()["components"]["cache_checker"]["init_parameters"]
    assert {k: v for k, v in serialised.items() if k != "retriever"} == {
        k: v for k, v in written.items() if k != "retriever"
    }
    again = Pipeline.loads(pipeline.dumps())
    assert again.to_dict()["components"] == pipeline.to_dict()["components"]


def test_a_verified_question_is_answered_from_the_cache(pipeline, generator, remember, verifier):
    same, other = CacheGuard(verifier).check_many(CACHED, [SAME_WORDS, UNRELATED])
    threshold = (same.score + other.score) / 2  # plumbing: see test_haystack_cache_checker.py
    remember(CACHED, "Settings > Appearance > Dark.")
    served = ask(pipeline, SAME_WORDS, threshold=threshold)
    assert served["router"] == {"cached_answer": "Settings > Appearance > Dark."} and "llm" not in served
    assert served["cache_checker"] == {"misses": []} and generator.calls == 0
    result = ask(pipeline, UNRELATED, threshold=threshold)
    assert generator.calls == 1
    assert result["llm"]["replies"][0].text == f"fresh answer 1 to: {UNRELATED}"


def test_an_empty_cache_asks_the_generator(pipeline, generator):
    assert ask(pipeline, CACHED)["llm"]["replies"][0].text.startswith("fresh answer 1")
    assert generator.calls == 1


@pytest.mark.parametrize("cached, paraphrase, near_miss", cache_cases(SHIPPED_PARAPHRASE_MISSED))
def test_a_paraphrase_is_answered_from_the_cache(pipeline, generator, remember, cached, paraphrase, near_miss):
    remember(cached, "the cached answer")
    assert ask(pipeline, paraphrase)["router"] == {"cached_answer": "the cached answer"}
    assert generator.calls == 0


@pytest.mark.parametrize("cached, paraphrase, near_miss", cache_cases(SHIPPED_NEAR_MISS_HIT))
def test_a_near_miss_reaches_the_generator(pipeline, generator, remember, cached, paraphrase, near_miss):
    remember(cached, "the cached answer")
    assert "llm" in ask(pipeline, near_miss) and generator.calls == 1
