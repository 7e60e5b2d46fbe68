"""verimap in a Haystack pipeline: a retriever recalls, verimap's ranker judges. Offline, about 10 seconds.

What it shows:

1. indexing from YAML: ``haystack_indexing.yaml`` (beside this file) embeds a small hand-written corpus with
   verimap's bundled encoder and writes it to a persistent Chroma collection in a temporary directory;
2. the query pipeline built in Python (:func:`build_query_pipeline`):
   text embedder → ``ChromaEmbeddingRetriever`` (recall) → ``StructuralVerifierRanker`` (judgment) → prompt builder;
3. the same pipeline loaded from YAML (``haystack_query.yaml``, beside this file) with ``Pipeline.loads``, which
   gives the same ranking.

For each question, whose dense neighbours include a structural near-miss ("The man bit the dog." for "Did the dog
bite the man?"), it prints:

- the default ranking (verifier fused with MaxSim; nothing is dropped), with each document's verifier score and
  verdict at the weights card's threshold;
- a strict run with an explicit ``score_threshold`` (``STRICT``): documents under it move to ``rejected`` and stay
  out of the prompt.

    python examples/haystack_pipeline.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # Chroma: no telemetry (and this runs offline)
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from haystack import Document, Pipeline  # noqa: E402
from haystack.components.builders import PromptBuilder  # noqa: E402

from haystack_integrations.components.embedders.verimap import VerimapTextEmbedder  # noqa: E402
from haystack_integrations.components.rankers.verimap import StructuralVerifierRanker  # noqa: E402
from haystack_integrations.components.retrievers.chroma import ChromaEmbeddingRetriever  # noqa: E402
from haystack_integrations.document_stores.chroma import ChromaDocumentStore  # noqa: E402

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

TEMPLATE = """Answer using only these documents.
{% for doc in documents %}- {{ doc.content }}
{% endfor %}Question: {{ query }}
Answer:
"""


def load(name: str, chroma_path: str) -> Pipeline:
    """A pipeline from a YAML file beside this script, its ``@CHROMA_PATH@`` filled in."""
    return Pipeline.loads((HERE / name).read_text().replace("@CHROMA_PATH@", chroma_path))


def build_query_pipeline(chroma_path: str) -> Pipeline:
    """haystack_query.yaml, written in Python: the same components, the same settings, the same connections."""
    store = ChromaDocumentStore(
        collection_name="verimap_example",
        persist_path=chroma_path,
        distance_function="cosine",
        client_settings={"anonymized_telemetry": False},
    )
    pipeline = Pipeline()
    pipeline.add_component("text_embedder", VerimapTextEmbedder(progress_bar=False))
    pipeline.add_component("retriever", ChromaEmbeddingRetriever(document_store=store, top_k=10))  # recall
    pipeline.add_component(
        "ranker",  # judgment: the default policy (fuse with MaxSim), the 3 best kept, nothing dropped for its verdict
        StructuralVerifierRanker(
            top_k=3,
            retriever_score_type="distance",  # Chroma returns distances
            token_file=f"{chroma_path}/verimap-tokens.sqlite",  # written while indexing: documents are not re-encoded
        ),
    )
    pipeline.add_component(
        "prompt_builder", PromptBuilder(template=TEMPLATE, required_variables=["query", "documents"])
    )
    pipeline.connect("text_embedder.embedding", "retriever.query_embedding")
    pipeline.connect("retriever.documents", "ranker.documents")
    pipeline.connect("ranker.documents", "prompt_builder.documents")
    return pipeline


def ask(query: Pipeline, question: str, **ranker_args) -> dict:
    return query.run(
        {
            "text_embedder": {"text": question},
            "ranker": {"query": question, **ranker_args},
            "prompt_builder": {"query": question},
        },
        include_outputs_from={"ranker"},
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="verimap-chroma-") as chroma_path:
        indexing = load("haystack_indexing.yaml", chroma_path)
        written = indexing.run({"embedder": {"documents": [Document(content=t) for t in CORPUS]}})
        print(f"indexed {written['writer']['documents_written']} documents into Chroma (haystack_indexing.yaml)\n")

        query = build_query_pipeline(chroma_path)
        from_yaml = load("haystack_query.yaml", chroma_path)
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
            same = [d.content for d in ask(from_yaml, question)["ranker"]["documents"]] == [
                d.content for d in default["ranker"]["documents"]
            ]
            print(f"  the pipeline loaded from haystack_query.yaml ranks the same: {'yes' if same else 'NO'}")
            print()


if __name__ == "__main__":
    main()
