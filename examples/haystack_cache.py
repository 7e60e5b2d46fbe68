"""verimap + Haystack: a semantic answer cache in front of a chat generator (haystack_cache.yaml), offline.

Loads haystack_cache.yaml (beside this file), asks a question (a miss: the generator answers, and the answer is
written to the cache), then a paraphrase of it and a near miss that shares all its words but one. For each question
it prints where the answer came from and, for a recalled entry the guard rejected, the reason when the verifier can
tell.

Without ``$OPENAI_API_KEY`` the YAML's ``OpenAIChatGenerator`` is replaced, through Haystack's own
``Pipeline.from_dict(..., components=...)``, by Haystack's ``MockChatGenerator`` (it echoes the question), so this
runs offline. What the shipped weights get right and wrong on these questions: docs/cache.md.

    python examples/haystack_cache.py
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from haystack import Document, Pipeline  # noqa: E402
from haystack.components.generators.chat import MockChatGenerator  # noqa: E402
from haystack.components.writers import DocumentWriter  # noqa: E402
from haystack.document_stores.in_memory import InMemoryDocumentStore  # noqa: E402
from haystack.document_stores.types import DuplicatePolicy  # noqa: E402

from haystack_integrations.components.embedders.verimap import VerimapDocumentEmbedder  # noqa: E402

HERE = Path(__file__).resolve().parent
CACHE_INDEX = "verimap_answer_cache"  # the InMemoryDocumentStore index haystack_cache.yaml reads

QUESTIONS = [
    "How do I switch on dark mode in the mail app?",  # a miss: asks the generator, then cached
    "How can I enable the mail app's dark theme?",  # a paraphrase: should be served from the cache
    "How do I switch off dark mode in the mail app?",  # a near miss: should reach the generator
]


def load(generator=None) -> Pipeline:
    """haystack_cache.yaml as it is; ``generator`` (e.g. a stand-in) replaces its ``llm`` through ``components=``."""
    text = (HERE / "haystack_cache.yaml").read_text()
    if generator is None:
        return Pipeline.loads(text)
    return Pipeline.from_dict(yaml.safe_load(text), components={"llm": generator})


def writer() -> Pipeline:
    """What fills the cache: embed the question with verimap's encoder, write the entry to the cache's index."""
    pipeline = Pipeline()
    pipeline.add_component("embedder", VerimapDocumentEmbedder(progress_bar=False))
    store = InMemoryDocumentStore(index=CACHE_INDEX)
    pipeline.add_component("writer", DocumentWriter(document_store=store, policy=DuplicatePolicy.OVERWRITE))
    pipeline.connect("embedder.documents", "writer.documents")
    return pipeline


def ask(cache: Pipeline, remember: Pipeline, question: str) -> dict:
    """Answer ``question`` from the cache or the generator; a fresh answer is cached for the next question."""
    result = cache.run(
        {"cache_checker": {"query": question}, "router": {"query": question}}, include_outputs_from={"cache_checker"}
    )
    checked = result["cache_checker"]
    if "router" in result and "cached_answer" in result["router"]:
        return {"source": "cache", "answer": result["router"]["cached_answer"], **checked}
    answer = result["llm"]["replies"][0].text
    remember.run({"embedder": {"documents": [Document(content=question, meta={"answer": answer})]}})
    return {"source": "generator", "answer": answer, **checked}


def main() -> None:
    generator = None if os.environ.get("OPENAI_API_KEY") else MockChatGenerator()
    cache, remember = load(generator), writer()
    print(f"generator: {type(cache.get_component('llm')).__name__}\n")
    for question in QUESTIONS:
        out = ask(cache, remember, question)
        print(f"Q: {question}\n   from the {out['source']}: {out['answer']}")
        for doc in out["misses"]:
            why = doc.meta["guard_reason"] or "no reason named"
            print(f"   rejected {doc.meta['guard_score']:.3f} ({why}): {doc.content}")
        print()


if __name__ == "__main__":
    main()
