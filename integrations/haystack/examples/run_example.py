"""verimap + Haystack, end to end and offline.

Loads indexing.yaml and query.yaml with ``Pipeline.loads``, indexes a small hand-written corpus into a persistent
Chroma collection in a temporary directory, then asks questions whose dense neighbours include a structural
near-miss ("The man bit the dog." for "Did the dog bite the man?"). For each question it prints:

- the default ranking (verifier fused with MaxSim; nothing is dropped), with each document's verifier score and
  verdict at the weights card's threshold;
- a strict run with an explicit ``score_threshold`` (``STRICT``): documents under it move to ``rejected`` and stay
  out of the prompt.

    python integrations/haystack/examples/run_example.py
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

# An explicit threshold on the verifier's calibrated probability: keep only what it finds more likely than not to
# match. (The weights card's own threshold is tuned to keep recall; the default fuse policy drops nothing.)
STRICT = 0.5


def load(name: str, chroma_path: str) -> Pipeline:
    return Pipeline.loads((HERE / name).read_text().replace("@CHROMA_PATH@", chroma_path))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="verimap-chroma-") as chroma_path:
        indexing = load("indexing.yaml", chroma_path)
        written = indexing.run({"embedder": {"documents": [Document(content=t) for t in CORPUS]}})
        print(f"indexed {written['writer']['documents_written']} documents into Chroma at {chroma_path}\n")

        query = load("query.yaml", chroma_path)
        for question in QUESTIONS:
            print(f"Q: {question}")
            default = ask(query, question)
            print("  default (fuse with MaxSim; top_k=3, none dropped for its verdict):")
            for doc in default["ranker"]["documents"]:
                verdict = "accepted" if doc.meta["verifier_accepted"] else "not accepted"
                print(f"    {doc.score:.3f}  verifier {doc.meta['verifier_score']:.3f} {verdict:<12}  {doc.content}")
            strict = ask(query, question, score_threshold=STRICT)
            print(f"  score_threshold={STRICT}:")
            for doc in strict["ranker"]["documents"]:
                print(f"    kept      verifier {doc.meta['verifier_score']:.3f}  {doc.content}")
            for doc in strict["ranker"]["rejected"]:
                print(f"    rejected  verifier {doc.meta['verifier_score']:.3f}  {doc.content}")
            print("  prompt:", strict["prompt_builder"]["prompt"].strip().replace("\n", "\n          "))
            print()


def ask(query: Pipeline, question: str, **ranker_args) -> dict:
    return query.run(
        {
            "text_embedder": {"text": question},
            "ranker": {"query": question, **ranker_args},
            "prompt_builder": {"query": question},
        },
        include_outputs_from={"ranker"},
    )


if __name__ == "__main__":
    main()
