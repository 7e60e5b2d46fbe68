"""verimap's semantic-cache guard in front of a LangChain chat model: a cached answer is served only when the new
prompt means what the cached prompt meant. Offline, about 10 seconds.

A semantic cache recalls cached prompts by embedding similarity; cosine cannot tell "How do I switch ON dark mode?"
from "How do I switch OFF dark mode?" (every word but one is shared), so a plain similarity threshold serves the wrong
answer. ``VerifiedSemanticCache`` (langchain-verimap) recalls the nearest cached prompts from a vector store (an
in-memory Chroma with verimap's own embeddings) and has the guard (``verimap.guard.CacheGuard``) verify each before
serving it. It is installed for every model in the process with ``set_llm_cache``.

The chat model is a stand-in (``EchoChatModel`` below: it answers "fresh answer N to: ..." and counts its calls), so
this runs offline; put ``ChatOpenAI(...)`` or any other chat model in its place. The guard is real. It asks:

1. a question: nothing cached yet, so the model answers (and the answer is cached);
2. the same question again: served from the cache (identical prompts are always a hit, without running the model);
3. a paraphrase: should be served from the cache;
4. a near miss (the opposite question, one word changed): should reach the model.

For each it prints where the answer came from and the guard's verdict against the first question (score, hit or
miss, and the reason on a miss). The shipped weights do not get every such pair right: docs/cache.md has figures.

    python examples/semantic_cache.py
"""

from __future__ import annotations

import os

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # Chroma: no telemetry (and this runs offline)

from langchain_core.globals import set_llm_cache  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402

from langchain_verimap import VerifiedSemanticCache  # noqa: E402

FIRST = "How do I switch on dark mode in the mail app?"
QUESTIONS = [
    ("a question", FIRST),
    ("the same question", FIRST),
    ("a paraphrase", "How can I enable the mail app's dark theme?"),
    ("a near miss", "How do I switch off dark mode in the mail app?"),
]


class EchoChatModel(BaseChatModel):
    """An offline stand-in for a real chat model: answers "fresh answer N to: <question>"."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.calls += 1
        answer = AIMessage(content=f"fresh answer {self.calls} to: {messages[-1].text}")
        return ChatResult(generations=[ChatGeneration(message=answer)])


def main() -> None:
    cache = VerifiedSemanticCache()  # in memory; persist_directory="./llm-cache" keeps it across processes
    set_llm_cache(cache)  # every LangChain model in this process now goes through the verified cache
    model = EchoChatModel()
    print(f"guard: {cache.guard!r}\n")

    for kind, question in QUESTIONS:
        calls = model.calls
        answer = model.invoke(question).content
        source = "the model" if model.calls > calls else "the cache"
        verdict = cache.guard.check(question, FIRST)  # what the guard says of this question against the first one
        why = "" if verdict.hit else f", reason: {verdict.reason or 'none named'}"
        print(f"{kind}: {question}")
        print(f"   answered by {source}: {answer}")
        print(f"   guard vs the first question: score {verdict.score:.3f}, {'hit' if verdict.hit else 'miss'}{why}\n")

    print(f"the model was called {model.calls} time(s) for {len(QUESTIONS)} questions")
    set_llm_cache(None)


if __name__ == "__main__":
    main()
