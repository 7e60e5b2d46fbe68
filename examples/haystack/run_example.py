"""verimap + Haystack, end to end and offline.

Loads indexing.yaml and query.yaml with ``Pipeline.loads``, indexes a small hand-written corpus into a persistent
Chroma collection in a temporary directory, then asks questions whose dense neighbours include a structural
near-miss ("The man bit the dog." for "Did the dog bite the man?") and prints what the verifier kept and rejected.

    python examples/haystack/run_example.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # Chroma: no telemetry (and this runs offline)
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from haystack import Document, Pipeline  # noqa: E402

HERE = Path(__file__).resolve().parent

CORPUS = [
    "The dog bit the man.",
    "The man bit the dog.",
    "Bob sold the car to Alice.",
    "Alice sold the car to Bob.",
    "The cat chased the mouse across the kitchen.",
    "Paris is the capital of France.",
    "The committee approved the budget after a long debate.",
]

QUESTIONS = [
    "Did the dog bite the man?",
    "Who sold the car to Alice?",
]


def load(name: str, chroma_path: str) -> Pipeline:
    return Pipeline.loads((HERE / name).read_text().replace("@CHROMA_PATH@", chroma_path))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="verimap-chroma-") as chroma_path:
        indexing = load("indexing.yaml", chroma_path)
        written = indexing.run({"embedder": {"documents": [Document(content=t) for t in CORPUS]}})
        print(f"indexed {written['writer']['documents_written']} documents into Chroma at {chroma_path}\n")

        query = load("query.yaml", chroma_path)
        for question in QUESTIONS:
            result = query.run(
                {"text_embedder": {"text": question}, "ranker": {"query": question}, "prompt_builder": {"query": question}},
                include_outputs_from={"ranker"},
            )
            print(f"Q: {question}")
            for doc in result["ranker"]["documents"]:
                print(f"  kept      {doc.score:.3f}  {doc.content}")
            for doc in result["ranker"]["rejected"]:
                print(f"  rejected  {doc.score:.3f}  {doc.content}")
            print("  prompt:", result["prompt_builder"]["prompt"].strip().replace("\n", "\n          "))
            print()


if __name__ == "__main__":
    main()
